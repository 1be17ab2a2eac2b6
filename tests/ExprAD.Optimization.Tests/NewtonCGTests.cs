using static ExprAD.Optimization.Tests.NewtonTestSupport;

namespace ExprAD.Optimization.Tests;

public class NewtonCGTests
{
    /// <summary>f = ½ xᵀAx − bᵀx over a row-major A; its minimiser solves A x = b.</summary>
    private static Expression<Func<double[], double>> Quadratic(double[] a, double[] b, int n) =>
        x => Enumerable.Range(0, n).Sum(i => 0.5 * x[i] * Enumerable.Range(0, n).Sum(j => a[i * n + j] * x[j]) - b[i] * x[i]);

    [Test]
    public void AConvexQuadraticIsSolvedInOneIterationOfAtMostNProducts()
    {
        const int n = 8;
        var a = SpdMatrix(n, seed: 3);
        var b = Enumerable.Range(0, n).Select(i => Math.Sin(i + 1.0)).ToArray();
        var expected = Solve(a, b);
        var result = Minimize.NewtonCG(AD.HessianVector(Quadratic(a, b, n)), new double[n],
            new MinimizeOptions { InitialTrustRadius = 1e6, ForcingTerm = 0, MaxCGIterations = n });
        Assert.That(result.Converged, Is.True, result.Reason);
        Assert.That(result.Iterations, Is.EqualTo(1));
        Assert.That(result.HessianEvaluations, Is.EqualTo(n));
        Assert.That(result.CGIterations, Is.EqualTo(n));
        Assert.That(result.X, Is.EqualTo(expected).Within(1e-9));
        Assert.That(result.GradientNorm, Is.LessThanOrEqualTo(1e-6));
    }

    [Test]
    public void AConvexQuadraticFromDefaultsConvergesToTheNormalEquationsSolution()
    {
        const int n = 12;
        var a = SpdMatrix(n, seed: 5);
        var b = Enumerable.Range(0, n).Select(i => i - 5.5).ToArray();
        var result = Minimize.NewtonCG(AD.HessianVector(Quadratic(a, b, n)), Enumerable.Repeat(1.0, n).ToArray());
        Assert.That(result.StopReason, Is.EqualTo(StopReason.GradientTolerance), result.Reason);
        Assert.That(result.X, Is.EqualTo(Solve(a, b)).Within(1e-6));
        // The value at the minimiser is −½ bᵀx*.
        Assert.That(result.Value, Is.EqualTo(-0.5 * Solve(a, b).Zip(b, (x, y) => x * y).Sum()).Within(1e-9));
    }

    [Test]
    public void Rosenbrock2()
    {
        var f = AD.HessianVector(x => 100 * (x[1] - x[0] * x[0]) * (x[1] - x[0] * x[0]) + (1 - x[0]) * (1 - x[0]));
        var result = Minimize.NewtonCG(f, [-1.2, 1]);
        Assert.That(result.StopReason, Is.EqualTo(StopReason.GradientTolerance), result.Reason);
        Assert.That(result.X, Is.EqualTo(new[] { 1.0, 1.0 }).Within(1e-6));
        Assert.That(result.Iterations, Is.LessThan(50));
        Assert.That(result.Value, Is.LessThan(1e-12));
    }

    [Test]
    public void ExtendedRosenbrockTenThousandInFewerThanAHundredIterations()
    {
        const int n = 10_000;
        var f = AD.HessianVector(ExtendedRosenbrock(n));
        var result = Minimize.NewtonCG(f, RosenbrockStart(n));
        Assert.That(result.StopReason, Is.EqualTo(StopReason.GradientTolerance), result.Reason);
        Assert.That(result.Iterations, Is.LessThan(100));
        Assert.That(result.GradientNorm, Is.LessThanOrEqualTo(1e-6));
        Assert.That(result.X.Max(e => Math.Abs(e - 1)), Is.LessThan(1e-6));
        TestContext.Out.WriteLine($"n = {n}: {result.Iterations} iterations, {result.Evaluations} evaluations, {result.HessianEvaluations} Hv, {result.Elapsed.TotalMilliseconds:F0} ms");
    }

    [Test]
    public void ACheaperGradientForTrialPointsGivesTheSameIterates()
    {
        const int n = 1000;
        var expression = ExtendedRosenbrock(n);
        var f = AD.HessianVector(expression);
        var withProducts = Minimize.NewtonCG(f, RosenbrockStart(n));
        var withGradient = Minimize.NewtonCG(f, AD.Gradient(expression), RosenbrockStart(n));
        Assert.That(withGradient.Converged, Is.True, withGradient.Reason);
        Assert.That(withGradient.Iterations, Is.EqualTo(withProducts.Iterations));
        Assert.That(withGradient.HessianEvaluations, Is.EqualTo(withProducts.HessianEvaluations));
        Assert.That(withGradient.X, Is.EqualTo(withProducts.X).Within(1e-12));
    }

    [Test]
    public void NegativeCurvatureLeadsAwayFromTheSaddle()
    {
        // Double wells (x_i² − 1)² with a weak coupling: the start is near the saddle at 0, where H has negative
        // eigenvalues. Newton's equation H p = −g steps towards the saddle (a stationary point with gradient 0); the trust
        // region follows the negative curvature instead and ends in a minimum, |x_i| = 1 up to the coupling.
        var f = AD.HessianVector(x => (x[0] * x[0] - 1) * (x[0] * x[0] - 1) + (x[1] * x[1] - 1) * (x[1] * x[1] - 1) + x[2] * x[2]);
        var log = new ReportLog<IterationReport>();
        var result = Minimize.NewtonCG(f, [0.01, -0.02, 1], new MinimizeOptions { Progress = log });
        Assert.That(result.Converged, Is.True, result.Reason);
        Assert.That(Math.Abs(result.X[0]), Is.EqualTo(1).Within(1e-6));
        Assert.That(Math.Abs(result.X[1]), Is.EqualTo(1).Within(1e-6));
        Assert.That(result.X[2], Is.EqualTo(0).Within(1e-6));
        Assert.That(result.Value, Is.LessThan(1e-10));
        // Only decreases are accepted.
        for (int k = 1; k < log.Reports.Count; k++) Assert.That(log.Reports[k].Value, Is.LessThanOrEqualTo(log.Reports[k - 1].Value));
    }

    [Test]
    public void WithDataTheLeastSquaresSolutionIsFound()
    {
        // Linear least squares ½ Σ (aᵢ·w − yᵢ)² over rows given as data; the oracle solves the normal equations AᵀA w = Aᵀy.
        var rng = new Random(11);
        const int m = 40, d = 4;
        var rows = Enumerable.Range(0, m).Select(_ => Enumerable.Range(0, d).Select(_ => rng.NextDouble() * 2 - 1).ToArray()).ToArray();
        var y = rows.Select(r => 3 * r[0] - r[1] + 0.5 * r[3] + 0.1 * (rng.NextDouble() - 0.5)).ToArray();
        var data = new LeastSquaresData(rows, y);
        Expression<Func<double[], LeastSquaresData, double>> loss = (w, s) =>
            Enumerable.Range(0, s.Y.Length).Sum(i => 0.5 * (s.Rows[i][0] * w[0] + s.Rows[i][1] * w[1] + s.Rows[i][2] * w[2] + s.Rows[i][3] * w[3] - s.Y[i])
                                                         * (s.Rows[i][0] * w[0] + s.Rows[i][1] * w[1] + s.Rows[i][2] * w[2] + s.Rows[i][3] * w[3] - s.Y[i]));
        var ata = new double[d * d];
        var aty = new double[d];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < d; j++)
            {
                aty[j] += rows[i][j] * y[i];
                for (int k = 0; k < d; k++) ata[j * d + k] += rows[i][j] * rows[i][k];
            }
        var expected = Solve(ata, aty);
        var plain = Minimize.NewtonCG(AD.HessianVector(loss), new double[d], data);
        var cheap = Minimize.NewtonCG(AD.HessianVector(loss), AD.Gradient(loss), new double[d], data);
        Assert.That(plain.X, Is.EqualTo(expected).Within(1e-7));
        Assert.That(cheap.X, Is.EqualTo(expected).Within(1e-7));
        Assert.That(plain.Converged && cheap.Converged, Is.True);
    }

    public sealed record LeastSquaresData(double[][] Rows, double[] Y);

    [Test]
    public void ProgressReportsEveryIterationAndTheLastMatchesTheResult()
    {
        var log = new ReportLog<IterationReport>();
        var f = AD.HessianVector(x => 100 * (x[1] - x[0] * x[0]) * (x[1] - x[0] * x[0]) + (1 - x[0]) * (1 - x[0]));
        var result = Minimize.NewtonCG(f, [-1.2, 1], new MinimizeOptions { Progress = log });
        Assert.That(log.Reports.Select(r => r.Iteration), Is.EqualTo(Enumerable.Range(0, result.Iterations + 1)));
        Assert.That(log.Reports[0].StepLength, Is.Zero);
        Assert.That(log.Reports[^1].Value, Is.EqualTo(result.Value));
        Assert.That(log.Reports[^1].GradientNorm, Is.EqualTo(result.GradientNorm));
        Assert.That(log.Reports[^1].Evaluations, Is.EqualTo(result.Evaluations));
        Assert.That(log.Reports.Skip(1).All(r => r.StepLength > 0), Is.True);
    }

    [Test]
    public void CancellationStopsAtTheNextIteration()
    {
        using var cts = new CancellationTokenSource();
        var log = new ReportLog<IterationReport> { OnReport = r => { if (r.Iteration == 3) cts.Cancel(); } };
        var f = AD.HessianVector(ExtendedRosenbrock(100));
        var result = Minimize.NewtonCG(f, RosenbrockStart(100), new MinimizeOptions { Progress = log, Cancellation = cts.Token });
        Assert.That(result.StopReason, Is.EqualTo(StopReason.Cancelled));
        Assert.That(result.Iterations, Is.EqualTo(3));
        Assert.That(log.Reports, Has.Count.EqualTo(4));
        Assert.That(result.Value, Is.EqualTo(log.Reports[3].Value));
    }

    [Test]
    public void LimitsStopTheRun()
    {
        var f = AD.HessianVector(ExtendedRosenbrock(100));
        var byIterations = Minimize.NewtonCG(f, RosenbrockStart(100), new MinimizeOptions { MaxIterations = 4 });
        Assert.That(byIterations.StopReason, Is.EqualTo(StopReason.MaxIterations));
        Assert.That(byIterations.Iterations, Is.EqualTo(4));
        var byEvaluations = Minimize.NewtonCG(f, RosenbrockStart(100), new MinimizeOptions { MaxEvaluations = 5 });
        Assert.That(byEvaluations.StopReason, Is.EqualTo(StopReason.MaxEvaluations));
        Assert.That(byEvaluations.Evaluations, Is.EqualTo(5));
    }

    [Test]
    public void BadInputIsNamed()
    {
        var f = AD.HessianVector(x => Math.Sqrt(x[0]) + x[1] * x[1]);
        Assert.That(Assert.Throws<ArgumentException>(() => Minimize.NewtonCG(f, [double.NaN, 1]))!.ParamName, Is.EqualTo("x0"));
        var atStart = Assert.Throws<ArgumentException>(() => Minimize.NewtonCG(f, [-1, 1]))!;
        Assert.That(atStart.ParamName, Is.EqualTo("x0"));
        Assert.That(atStart.Message, Does.Contain("f(x0)"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => Minimize.NewtonCG((HessianVectorFunc)null!, [1.0, 1]))!.ParamName, Is.EqualTo("f"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => Minimize.NewtonCG(f, null!))!.ParamName, Is.EqualTo("x0"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => Minimize.NewtonCG(f, (GradientFunc)null!, [1.0, 1]))!.ParamName, Is.EqualTo("gradient"));
        Assert.Throws<ArgumentOutOfRangeException>(() => Minimize.NewtonCG(f, [1.0, 1], new MinimizeOptions { InitialTrustRadius = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Minimize.NewtonCG(f, [1.0, 1], new MinimizeOptions { ForcingTerm = 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Minimize.NewtonCG(f, [1.0, 1], new MinimizeOptions { MaxCGIterations = -1 }));
    }

    [Test]
    public void ANonFiniteTrialPointIsRejectedAndTheRunGoesOn()
    {
        // log(x) is NaN left of 0: a trust region that reaches past it must shrink and still find x = 1 (f = x − log x).
        var f = AD.HessianVector(x => x[0] - Math.Log(x[0]));
        // From 3 the Newton step (−g/H = −6) lands at −3.
        var result = Minimize.NewtonCG(f, [3.0], new MinimizeOptions { InitialTrustRadius = 100 });
        Assert.That(result.Converged, Is.True, result.Reason);
        Assert.That(result.X[0], Is.EqualTo(1).Within(1e-6));
        Assert.That(result.Evaluations, Is.GreaterThan(result.Iterations + 1), "at least one trial was rejected");
    }

    [Test, NonParallelizable]
    public void NoAllocationPerIterationAfterWarmUp()
    {
        const int n = 100;
        var f = AD.HessianVector(ExtendedRosenbrock(n));
        var x0 = RosenbrockStart(n);
        var probe = new AllocationProbe<IterationReport>(100);
        // A radius capped at 0.01 keeps every step on the boundary, so the run lasts all 60 iterations.
        var options = new MinimizeOptions { Progress = probe, MaxIterations = 60, InitialTrustRadius = 0.01, MaxTrustRadius = 0.01 };
        var (bytes, reports) = probe.Measure(() => Minimize.NewtonCG(f, x0, options), from: 1);
        Assert.That(reports, Is.EqualTo(61));
        Assert.That(bytes, Is.Zero);
    }
}
