namespace ExprAD.Optimization.Tests;

/// <summary>
/// <see cref="Minimize.GradientDescent(GradientFunc, double[], MinimizeOptions?)"/> and
/// <see cref="Minimize.Lbfgs(GradientFunc, double[], MinimizeOptions?)"/>: quadratics with known minimisers, the data
/// overloads, progress, cancellation, limits and bad input.
/// </summary>
public class FirstOrderTests
{
    /// <summary>f(x) = ½ (x - c)' A (x - c) with A symmetric positive definite: minimiser c, minimum 0.</summary>
    public sealed class Quadratic
    {
        public required double[][] A;
        public required double[] C;
    }

    private static readonly Expression<Func<double[], Quadratic, double>> QuadraticForm = (x, q) =>
        0.5 * Enumerable.Range(0, x.Length).Sum(i => (x[i] - q.C[i]) * Enumerable.Range(0, x.Length).Sum(j => q.A[i][j] * (x[j] - q.C[j])));

    /// <summary>A = M'M + I (eigenvalues at least 1) with M of standard normal-ish entries, and c of entries in [-2, 2].</summary>
    private static Quadratic RandomQuadratic(int n, int seed)
    {
        var random = new Random(seed);
        var m = Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, n).Select(_ => random.NextDouble() * 2 - 1).ToArray()).ToArray();
        var a = Enumerable.Range(0, n).Select(i => Enumerable.Range(0, n).Select(j => Enumerable.Range(0, n).Sum(k => m[k][i] * m[k][j]) + (i == j ? 1 : 0)).ToArray()).ToArray();
        return new Quadratic { A = a, C = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 4 - 2).ToArray() };
    }

    public delegate MinimizeResult Minimiser(GradientFunc f, double[] x0, MinimizeOptions? options);

    private static readonly Minimiser GradientDescent = Minimize.GradientDescent, Lbfgs = Minimize.Lbfgs;

    private static IEnumerable<TestCaseData> Minimisers()
    {
        yield return new TestCaseData(GradientDescent).SetArgDisplayNames("GradientDescent");
        yield return new TestCaseData(Lbfgs).SetArgDisplayNames("Lbfgs");
    }

    [Test]
    public void LbfgsWithFullHistoryAndExactLineSearchesMinimisesAQuadraticInNIterations()
    {
        const int n = 20;
        var q = RandomQuadratic(n, seed: 3);
        // c2 = 1e-6: the accepted step has |g(x + αd)'d| <= 1e-6 |g'd|, an exact line search up to rounding (on a
        // quadratic the search's cubic interpolation is exact, so this costs about two evaluations an iteration).
        var result = Minimize.LbfgsCore(new GradientObjective<Quadratic>(AD.Gradient(QuadraticForm), q), new double[n],
            new MinimizeOptions { History = n, GradientTolerance = 1e-9 }, curvature: 1e-6);
        Assert.That(result.Converged, Is.True, result.Reason);
        // |x - c|∞ <= |x - c|₂ <= |A(x - c)|₂ / λmin(A) = |g|₂ / λmin <= √n |g|∞ (λmin >= 1).
        for (int i = 0; i < n; i++) Assert.That(result.X[i], Is.EqualTo(q.C[i]).Within(Math.Sqrt(n) * 1e-9));
        // BFGS (L-BFGS with History >= n) with exact line searches ends on a quadratic in at most n iterations, its
        // directions being conjugate (Nocedal and Wright, Theorem 6.4); with rounding the n-th gradient is small but
        // not zero, and one more iteration may be needed to bring it below 1e-9.
        Assert.That(result.Iterations, Is.LessThanOrEqualTo(n + 1));
    }

    [Test]
    public void LbfgsScalesItsFirstStepToTheCurvatureAlongTheGradient()
    {
        // f = ½ a |x - c|² with a = 50: the curvature along every direction is a, so the first pair (a short step along
        // -g) gives γ = 1/a and the first direction -γg = c - x0 reaches the minimiser with its unit trial step. A first
        // trial fixed in x (moving the largest coordinate by 1, as without that pair) would overshoot c, whose largest
        // entry is 0.4. Evaluations: x0, the short step, the trial.
        const double a = 50;
        var c = new[] { 0.1, -0.2, 0.3, 0.4, -0.05 };
        var q = new Quadratic { A = Enumerable.Range(0, c.Length).Select(i => Enumerable.Range(0, c.Length).Select(j => i == j ? a : 0).ToArray()).ToArray(), C = c };
        var result = Minimize.Lbfgs(AD.Gradient(QuadraticForm), new double[c.Length], q);
        Assert.That(result.Converged, Is.True, result.Reason);
        Assert.That(result.Iterations, Is.EqualTo(1));
        Assert.That(result.Evaluations, Is.EqualTo(3));
        // γ comes from a difference of gradients over a step of 1e-7: relative error about ε |g| / (a 1e-7) ≈ 1e-9.
        for (int i = 0; i < c.Length; i++) Assert.That(result.X[i], Is.EqualTo(c[i]).Within(1e-8));
    }

    [Test]
    public void LbfgsMinimisesAQuadratic()
    {
        const int n = 20;
        var q = RandomQuadratic(n, seed: 3);
        var result = Minimize.Lbfgs(AD.Gradient(QuadraticForm), new double[n], q, new MinimizeOptions { GradientTolerance = 1e-9 });
        Assert.That(result.Converged, Is.True, result.Reason);
        for (int i = 0; i < n; i++) Assert.That(result.X[i], Is.EqualTo(q.C[i]).Within(Math.Sqrt(n) * 1e-9));
    }

    [TestCaseSource(nameof(Minimisers))]
    public void MinimisesADiagonalQuadratic(Minimiser minimise)
    {
        // f = Σ a_i (x_i - c_i)², condition number 10: g_i = 2 a_i (x_i - c_i), so |x_i - c_i| = |g_i| / (2 a_i) <= |g|∞ / 2.
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length).Sum(i => (1 + i) * (x[i] - 0.5 * i) * (x[i] - 0.5 * i));
        var x0 = new double[10];
        var result = minimise(AD.Gradient(f), x0, new MinimizeOptions { MaxIterations = 2_000 });
        Assert.That(result.StopReason, Is.EqualTo(StopReason.GradientTolerance), result.Reason);
        for (int i = 0; i < 10; i++) Assert.That(result.X[i], Is.EqualTo(0.5 * i).Within(result.GradientNorm / 2));
        Assert.That(x0, Is.All.Zero, "the starting point is not changed");
    }

    [Test]
    public void TheDataOverloadsPassTheData()
    {
        var q = RandomQuadratic(6, seed: 5);
        var gradient = AD.Gradient(QuadraticForm);
        var x0 = new double[6];
        foreach (var result in new[] { Minimize.Lbfgs(gradient, x0, q), Minimize.GradientDescent(gradient, x0, q, new MinimizeOptions { MaxIterations = 5_000 }) })
        {
            Assert.That(result.Converged, Is.True, result.Reason);
            for (int i = 0; i < 6; i++) Assert.That(result.X[i], Is.EqualTo(q.C[i]).Within(Math.Sqrt(6) * 1e-6));
        }
    }

    [TestCaseSource(nameof(Minimisers))]
    public void EvaluationsCountEveryCallOfF(Minimiser minimise)
    {
        var inner = AD.Gradient(MoreGarbowHillstrom.Rosenbrock().F);
        int calls = 0;
        GradientFunc counted = (x, g) => { calls++; return inner(x, g); };
        var result = minimise(counted, [-1.2, 1], new MinimizeOptions { MaxIterations = 300 });
        Assert.That(result.Evaluations, Is.EqualTo(calls));
        Assert.That(calls, Is.GreaterThan(result.Iterations), "a line search sometimes needs more than one trial on Rosenbrock");
    }

    private sealed class Recorder(Action<IterationReport>? then = null) : IProgress<IterationReport>
    {
        public readonly List<IterationReport> Reports = [];
        public void Report(IterationReport value)
        {
            Reports.Add(value);
            then?.Invoke(value);
        }
    }

    [TestCaseSource(nameof(Minimisers))]
    public void ProgressReportsEveryIterationInOrder(Minimiser minimise)
    {
        var recorder = new Recorder();
        var result = minimise(AD.Gradient(MoreGarbowHillstrom.Beale().F), [1, 1], new MinimizeOptions { Progress = recorder, MaxIterations = 5_000 });
        var reports = recorder.Reports;
        Assert.That(reports.Select(r => r.Iteration), Is.EqualTo(Enumerable.Range(0, result.Iterations + 1)));
        Assert.That(reports[0].StepLength, Is.Zero);
        Assert.That(reports.Skip(1).Select(r => r.StepLength), Is.All.GreaterThan(0));
        // Both methods accept only steps that lower f (sufficient decrease), so the reported values never increase.
        for (int k = 1; k < reports.Count; k++) Assert.That(reports[k].Value, Is.LessThanOrEqualTo(reports[k - 1].Value));
        for (int k = 1; k < reports.Count; k++) Assert.That(reports[k].Evaluations, Is.GreaterThan(reports[k - 1].Evaluations));
        Assert.That(reports[^1].Value, Is.EqualTo(result.Value));
        Assert.That(reports[^1].GradientNorm, Is.EqualTo(result.GradientNorm));
        Assert.That(reports[^1].Evaluations, Is.EqualTo(result.Evaluations));
    }

    [TestCaseSource(nameof(Minimisers))]
    public void ATokenCancelledFromTheProgressHandlerStopsAtThatIteration(Minimiser minimise)
    {
        using var source = new CancellationTokenSource();
        var recorder = new Recorder(r => { if (r.Iteration == 4) source.Cancel(); });
        var result = minimise(AD.Gradient(MoreGarbowHillstrom.Rosenbrock().F), [-1.2, 1],
            new MinimizeOptions { Cancellation = source.Token, Progress = recorder });
        Assert.That(result.StopReason, Is.EqualTo(StopReason.Cancelled));
        Assert.That(result.Iterations, Is.EqualTo(4));
        Assert.That(recorder.Reports[^1].Iteration, Is.EqualTo(4));
        Assert.That(result.Converged, Is.False);
    }

    [TestCaseSource(nameof(Minimisers))]
    public void LimitsStopTheRun(Minimiser minimise)
    {
        var gradient = AD.Gradient(MoreGarbowHillstrom.Rosenbrock().F);
        double[] x0 = [-1.2, 1];

        var iterations = minimise(gradient, x0, new MinimizeOptions { MaxIterations = 5 });
        Assert.That((iterations.StopReason, iterations.Iterations), Is.EqualTo((StopReason.MaxIterations, 5)));
        Assert.That(iterations.Reason, Does.Contain("5 iterations"));

        var evaluations = minimise(gradient, x0, new MinimizeOptions { MaxEvaluations = 7 });
        Assert.That(evaluations.StopReason, Is.EqualTo(StopReason.MaxEvaluations));
        Assert.That(evaluations.Evaluations, Is.EqualTo(7), "the line search stops short of the budget, not beyond it");

        var time = minimise(gradient, x0, new MinimizeOptions { TimeLimit = TimeSpan.Zero });
        Assert.That((time.StopReason, time.Iterations), Is.EqualTo((StopReason.TimeLimit, 0)));

        var function = minimise(gradient, x0, new MinimizeOptions { FunctionTolerance = 1e-3 });
        Assert.That(function.StopReason, Is.EqualTo(StopReason.FunctionTolerance));
        Assert.That(function.Converged, Is.True);
    }

    [TestCaseSource(nameof(Minimisers))]
    public void AStartWhereFIsNotFiniteIsAnArgumentException(Minimiser minimise)
    {
        var log = AD.Gradient(x => Math.Log(x[0]) + x[1] * x[1]);
        var e = Assert.Throws<ArgumentException>(() => minimise(log, [-1, 0], null));
        Assert.That(e!.ParamName, Is.EqualTo("x0"));
        Assert.That(e.Message, Does.Contain("f(x0) is NaN"));

        var root = AD.Gradient(x => Math.Sqrt(x[0]) + x[1] * x[1]);
        e = Assert.Throws<ArgumentException>(() => minimise(root, [0, 1], null));
        Assert.That(e!.Message, Does.Contain("gradient at x0 has element 0 = ∞").Or.Contain("gradient at x0 has element 0 = Infinity"));

        e = Assert.Throws<ArgumentException>(() => minimise(root, [double.NaN, 1], null));
        Assert.That(e!.Message, Does.Contain("x0[0]"));
    }

    [TestCaseSource(nameof(Minimisers))]
    public void ATrialWhereFIsNaNMakesTheLineSearchBackOff(Minimiser minimise)
    {
        // f = (x - 0.9)² for x < 1, NaN beyond: the first trial (a move of length 1 from 0) lands on 1.
        var walled = AD.Gradient(x => x[0] < 1 ? (x[0] - 0.9) * (x[0] - 0.9) : double.NaN);
        var result = minimise(walled, [0], null);
        Assert.That(result.Converged, Is.True, result.Reason);
        Assert.That(result.X[0], Is.EqualTo(0.9).Within(1e-6));
    }

    [TestCaseSource(nameof(Minimisers))]
    public void AFunctionThatDecreasesUpToANaNWallEndsWithTheLineSearch(Minimiser minimise)
    {
        // f = -x for x < 1, NaN beyond: no minimiser; every step toward 1 lowers f until the trials meet the wall.
        var walled = AD.Gradient(x => x[0] < 1 ? -x[0] : double.NaN);
        var result = minimise(walled, [0], new MinimizeOptions { MaxIterations = 1_000 });
        Assert.That(result.StopReason, Is.EqualTo(StopReason.LineSearchFailed), result.Reason);
        Assert.That(result.Reason, Does.Contain("non-finite"));
        Assert.That(result.X[0], Is.LessThan(1));
        Assert.That(result.X[0], Is.GreaterThan(0.99), "it went as far as it could");
        Assert.That(result.Value, Is.EqualTo(-result.X[0]));
    }

    [Test]
    public void BadArgumentsAreNamed()
    {
        var f = AD.Gradient(x => x[0] * x[0]);
        Assert.That(Assert.Throws<ArgumentNullException>(() => Minimize.Lbfgs(null!, [1.0]))!.ParamName, Is.EqualTo("f"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => Minimize.GradientDescent(f, null!))!.ParamName, Is.EqualTo("x0"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => Minimize.Lbfgs(f, [1.0], new MinimizeOptions { History = 0 }))!.ParamName, Is.EqualTo("options"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => Minimize.Lbfgs<Quadratic>(null!, [1.0], null!))!.ParamName, Is.EqualTo("f"));
    }
}
