namespace ExprAD.Optimization.Tests;

/// <summary>
/// L-BFGS on every problem of <see cref="MoreGarbowHillstrom.All"/> and gradient descent on the easy ones, from the
/// paper's starting points, against the minimum values the paper gives.
/// </summary>
public class MoreGarbowHillstromTests
{
    private static IEnumerable<TestCaseData> AllProblems() =>
        MoreGarbowHillstrom.All().Select(p => new TestCaseData(p).SetArgDisplayNames(p.Name));

    // Gradient descent reaches |g| <= 1e-6 on these within GradientDescentCap iterations (the others need far more:
    // Brown badly scaled, Powell, Watson and the discrete boundary value problem at n = 100 are badly conditioned).
    private static readonly string[] EasyForGradientDescent =
    [
        "Rosenbrock", "Freudenstein-Roth", "Beale", "helical valley", "Wood", "extended Rosenbrock n=100", "variably dimensioned n=10",
        "variably dimensioned n=100", "trigonometric n=10", "discrete boundary value n=10", "Broyden tridiagonal n=100",
    ];

    private const int GradientDescentCap = 5_000;

    private static IEnumerable<TestCaseData> EasyProblems() =>
        AllProblems().Where(c => EasyForGradientDescent.Contains(((MoreGarbowHillstrom.Problem)c.Arguments[0]!).Name));

    [Test]
    public void EveryEasyProblemNameIsAProblem() =>
        Assert.That(EasyForGradientDescent, Is.SubsetOf(MoreGarbowHillstrom.All().Select(p => p.Name)));

    [TestCaseSource(nameof(AllProblems))]
    public void LbfgsReachesTheKnownMinimum(MoreGarbowHillstrom.Problem problem)
    {
        var result = Minimize.Lbfgs(AD.Gradient(problem.F), problem.Start);
        CheckSolved(problem, result);
    }

    /// <summary>
    /// The same with the gradient compiled under <see cref="ADOptions.FastMath"/> (ExprAD's own sin, cos and powers, sums
    /// in vector lanes): the rounding differs, the minimiser must still get there. The value is checked against the plain
    /// lambda to within the cancellation of the sums (1e-9 absolute: the trigonometric residuals cancel terms of size n).
    /// </summary>
    [TestCaseSource(nameof(AllProblems))]
    public void LbfgsWithFastMathGradientsReachesTheKnownMinimum(MoreGarbowHillstrom.Problem problem)
    {
        var result = Minimize.Lbfgs(AD.Gradient(problem.F, new ADOptions { FastMath = true }), problem.Start);
        CheckSolved(problem, result, valueTolerance: 1e-9);
    }

    [TestCaseSource(nameof(EasyProblems))]
    public void GradientDescentReachesTheKnownMinimum(MoreGarbowHillstrom.Problem problem)
    {
        var result = Minimize.GradientDescent(AD.Gradient(problem.F), problem.Start, new MinimizeOptions { MaxIterations = GradientDescentCap });
        CheckSolved(problem, result);
    }

    private static void CheckSolved(MoreGarbowHillstrom.Problem problem, MinimizeResult result, double valueTolerance = 0)
    {
        Assert.That(result.Converged, Is.True, result.Reason);
        Assert.That(result.GradientNorm, Is.LessThanOrEqualTo(1e-6));
        // The reported value is f at the reported point, by the plain compiled lambda (no ExprAD involved).
        var f = problem.F.Compile();
        if (valueTolerance == 0) Assert.That(result.Value, Is.EqualTo(f(result.X)).Within(1e-12).Percent);
        else Assert.That(result.Value, Is.EqualTo(f(result.X)).Within(valueTolerance * Math.Max(1, Math.Abs(result.Value))));
        if (problem.MayStopElsewhere && !problem.IsKnownMinimum(result.Value, result.X, result.GradientNorm))
            CheckLocalMinimum(problem, result);
        else
            Assert.That(problem.IsKnownMinimum(result.Value, result.X, result.GradientNorm), Is.True,
                $"f = {result.Value:G10} at |g| = {result.GradientNorm:G3}; known minimum {problem.Minimum}, local {string.Join(", ", problem.LocalMinima)}");
    }

    /// <summary>
    /// Where the paper gives no value: the point is a local minimiser in the sense that the curvature along random
    /// directions, by central differences of the gradient, is positive (v'Hv ≈ (g(x + εv) - g(x - εv))·v / 2ε), and no
    /// point at distance 1e-3 along ±v is lower by more than the first-order term allows.
    /// </summary>
    private static void CheckLocalMinimum(MoreGarbowHillstrom.Problem problem, MinimizeResult result)
    {
        var gradient = AD.Gradient(problem.F);
        var f = problem.F.Compile();
        int n = problem.N;
        var random = new Random(11);
        double[] v = new double[n], plus = new double[n], minus = new double[n], gp = new double[n], gm = new double[n];
        for (int k = 0; k < 8; k++)
        {
            for (int i = 0; i < n; i++) v[i] = random.NextDouble() - 0.5;
            double norm = Math.Sqrt(v.Sum(e => e * e));
            for (int i = 0; i < n; i++) v[i] /= norm;
            const double eps = 1e-4;
            for (int i = 0; i < n; i++) { plus[i] = result.X[i] + eps * v[i]; minus[i] = result.X[i] - eps * v[i]; }
            gradient(plus, gp);
            gradient(minus, gm);
            double curvature = Enumerable.Range(0, n).Sum(i => (gp[i] - gm[i]) * v[i]) / (2 * eps);
            Assert.That(curvature, Is.GreaterThan(0), $"direction {k}");
            const double t = 1e-3;
            // |g'v| <= |g|₂ <= √n |g|∞ bounds how much lower a neighbour of a minimiser can be.
            double slack = t * Math.Sqrt(n) * result.GradientNorm;
            for (int i = 0; i < n; i++) { plus[i] = result.X[i] + t * v[i]; minus[i] = result.X[i] - t * v[i]; }
            Assert.That(f(plus), Is.GreaterThanOrEqualTo(result.Value - slack));
            Assert.That(f(minus), Is.GreaterThanOrEqualTo(result.Value - slack));
        }
    }
}
