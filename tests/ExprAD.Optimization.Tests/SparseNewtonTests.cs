using static ExprAD.Optimization.Tests.NewtonTestSupport;

namespace ExprAD.Optimization.Tests;

public class SparseNewtonTests
{
    /// <summary>f = ½ xᵀAx − bᵀx with A the tridiagonal matrix (−1, 4 + i/n, −1); its minimiser solves A x = b.</summary>
    private static Expression<Func<double[], double>> Tridiagonal(int n) =>
        x => Enumerable.Range(0, n).Sum(i => 0.5 * (4.0 + (double)i / n) * x[i] * x[i] - Math.Cos(i) * x[i])
           - Enumerable.Range(0, n - 1).Sum(i => x[i] * x[i + 1]);

    private static double[] TridiagonalSolution(int n)
    {
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            a[i * n + i] = 4.0 + (double)i / n;
            if (i > 0) a[i * n + i - 1] = -1;
            if (i < n - 1) a[i * n + i + 1] = -1;
        }
        return Solve(a, Enumerable.Range(0, n).Select(i => Math.Cos(i)).ToArray());
    }

    [Test]
    public void AConvexQuadraticIsSolvedInOneIteration()
    {
        const int n = 50;
        var result = Minimize.SparseNewton(AD.SparseHessian(Tridiagonal(n)), new double[n],
            new MinimizeOptions { InitialTrustRadius = 1e6, ForcingTerm = 0 });
        Assert.That(result.Converged, Is.True, result.Reason);
        Assert.That(result.Iterations, Is.EqualTo(1));
        Assert.That(result.HessianEvaluations, Is.EqualTo(2), "at the start and at the one trial point");
        Assert.That(result.X, Is.EqualTo(TridiagonalSolution(n)).Within(1e-10));
    }

    [Test]
    public void JacobiPreconditioningFindsTheSameMinimiser()
    {
        const int n = 50;
        var result = Minimize.SparseNewton(AD.SparseHessian(Tridiagonal(n)), Enumerable.Repeat(3.0, n).ToArray(),
            new MinimizeOptions { JacobiPreconditioner = true });
        Assert.That(result.Converged, Is.True, result.Reason);
        Assert.That(result.X, Is.EqualTo(TridiagonalSolution(n)).Within(1e-7));
    }

    [Test]
    public void JacobiPreconditioningCutsTheCGIterationsOnABadlyScaledProblem()
    {
        // Curvatures from 10⁻⁴ to 10⁴ on the diagonal, weakly coupled; minimum 0 at all ones.
        const int n = 200;
        var scale = Enumerable.Range(0, n).Select(i => Math.Pow(10, -2 + 4.0 * i / (n - 1))).ToArray();
        var f = AD.SparseHessian(x => Enumerable.Range(0, n).Sum(i => scale[i] * scale[i] * (x[i] - 1) * (x[i] - 1) + 0.01 * (x[i] - 1) * (x[i] - 1) * (x[i] - 1) * (x[i] - 1))
                                      + Enumerable.Range(0, n - 1).Sum(i => 0.01 * (x[i + 1] - x[i]) * (x[i + 1] - x[i])));
        var plain = Minimize.SparseNewton(f, new double[n]);
        var jacobi = Minimize.SparseNewton(f, new double[n], new MinimizeOptions { JacobiPreconditioner = true });
        TestContext.Out.WriteLine($"CG iterations: plain {plain.CGIterations} ({plain.Iterations} iterations), Jacobi {jacobi.CGIterations} ({jacobi.Iterations} iterations)");
        Assert.That(plain.Converged && jacobi.Converged, Is.True);
        Assert.That(jacobi.Value, Is.LessThan(1e-10));
        Assert.That(jacobi.X.Max(e => Math.Abs(e - 1)), Is.LessThan(1e-3));
        Assert.That(jacobi.CGIterations, Is.LessThan(plain.CGIterations / 10));
    }

    [Test]
    public void ChainedRosenbrockConvergesQuadratically()
    {
        // From 1.2 everywhere. (From −1.2, or −1.2, 1 alternating, the chain's coordinates settle near −1 and flip to +1
        // one after another along a narrow valley: hundreds of iterations for any local method at n = 1,000.)
        const int n = 1000;
        var log = new ReportLog<IterationReport>();
        var result = Minimize.SparseNewton(AD.SparseHessian(ChainedRosenbrock(n)), Enumerable.Repeat(1.2, n).ToArray(), new MinimizeOptions { Progress = log });
        Assert.That(result.StopReason, Is.EqualTo(StopReason.GradientTolerance), result.Reason);
        Assert.That(result.X.Max(e => Math.Abs(e - 1)), Is.LessThan(1e-6));
        Assert.That(result.Value, Is.LessThan(1e-14));
        Assert.That(result.Iterations, Is.LessThan(60));
        var norms = log.Reports.Select(r => r.GradientNorm).ToArray();
        TestContext.Out.WriteLine($"{result.Iterations} iterations, {result.Evaluations} evaluations; gradient norms: {string.Join(", ", norms.Select(g => g.ToString("G3")))}");
        AssertQuadraticTail(norms);
    }

    /// <summary>
    /// Near the solution (gradient norm below 1e-2) each gradient norm is at most a constant times the square of the one
    /// before, or at most <paramref name="floor"/>, the level at which rounding in the gradient of this problem dominates.
    /// </summary>
    private static void AssertQuadraticTail(double[] norms, double floor = 0)
    {
        int steps = 0;
        for (int k = 1; k < norms.Length; k++)
        {
            if (norms[k - 1] > 1e-2) continue;
            Assert.That(norms[k], Is.LessThanOrEqualTo(Math.Max(floor, 100 * norms[k - 1] * norms[k - 1])), $"iteration {k}");
            steps++;
        }
        Assert.That(steps, Is.GreaterThanOrEqualTo(1), "the tail was observed");
    }

    [Test]
    public void ExtendedRosenbrockTenThousand()
    {
        const int n = 10_000;
        var result = Minimize.SparseNewton(AD.SparseHessian(ExtendedRosenbrock(n)), RosenbrockStart(n));
        Assert.That(result.StopReason, Is.EqualTo(StopReason.GradientTolerance), result.Reason);
        Assert.That(result.Iterations, Is.LessThan(100));
        Assert.That(result.X.Max(e => Math.Abs(e - 1)), Is.LessThan(1e-6));
        TestContext.Out.WriteLine($"n = {n}: {result.Iterations} iterations, {result.Evaluations} evaluations, {result.Elapsed.TotalMilliseconds:F0} ms");
    }

    [Test]
    public void TheDiscreteBoundaryValueProblemIsSolvedInAFewIterations()
    {
        // A sum of squares whose Hessian has condition number about 10⁷ at n = 100: CG needs more than n iterations here.
        const int n = 100;
        var log = new ReportLog<IterationReport>();
        var result = Minimize.SparseNewton(AD.SparseHessian(BoundaryValue(n)), BoundaryValueStart(n), new MinimizeOptions { Progress = log, GradientTolerance = 1e-10 });
        Assert.That(result.Converged, Is.True, result.Reason);
        Assert.That(result.Iterations, Is.LessThanOrEqualTo(5));
        // The minimum is 0: every residual, computed independently, vanishes at the result.
        Assert.That(BoundaryValueResiduals(result.X).Max(Math.Abs), Is.LessThan(1e-7));
        Assert.That(result.Value, Is.LessThan(1e-14));
        // The Hessian's condition number (about 10⁷) times rounding bounds how small the gradient can get: about 1e-10.
        AssertQuadraticTail(log.Reports.Select(r => r.GradientNorm).ToArray(), floor: 1e-10);
    }

    [Test]
    public void AnIndefiniteHessianIsHandledByTheTrustRegion()
    {
        // Coupled double wells started next to the saddle at 0, where the Hessian is indefinite: a minimum is reached
        // (every |x_i| near 1, f near 0), not the saddle, where the gradient also vanishes.
        const int n = 20;
        Expression<Func<double[], double>> wells = x => Enumerable.Range(0, n).Sum(i => (x[i] * x[i] - 1) * (x[i] * x[i] - 1))
                                                        + 0.01 * Enumerable.Range(0, n - 1).Sum(i => (x[i + 1] - x[i]) * (x[i + 1] - x[i]));
        var x0 = Enumerable.Range(0, n).Select(i => 0.01 * Math.Sin(i + 1)).ToArray();
        var result = Minimize.SparseNewton(AD.SparseHessian(wells), x0);
        Assert.That(result.Converged, Is.True, result.Reason);
        Assert.That(result.X.Min(Math.Abs), Is.GreaterThan(0.9));
        // At the minimum the Hessian diagonal 12 x_i² − 4 + coupling is positive.
        Assert.That(result.X.All(e => 12 * e * e - 4 > 0), Is.True);
        Assert.That(result.Value, Is.LessThan(0.5), "a well bottom, not the saddle's value n = 20");
    }

    public sealed record Chain(double[] Targets);

    [Test]
    public void WithDataTheMinimiserFollowsTheData()
    {
        // Σ (x_i − t_i)² + Σ (x_{i+1} − x_i)²: its minimiser solves (I + L) x = t with L the path graph's Laplacian, solved densely.
        const int n = 30;
        var chain = new Chain(Enumerable.Range(0, n).Select(i => Math.Sin(0.3 * i)).ToArray());
        var f = AD.SparseHessian<Chain>((x, c) => Enumerable.Range(0, c.Targets.Length).Sum(i => (x[i] - c.Targets[i]) * (x[i] - c.Targets[i]))
                                                 + Enumerable.Range(0, c.Targets.Length - 1).Sum(i => (x[i + 1] - x[i]) * (x[i + 1] - x[i])));
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            a[i * n + i] = 1;
            if (i > 0) { a[i * n + i] += 1; a[i * n + i - 1] = -1; }
            if (i < n - 1) { a[i * n + i] += 1; a[i * n + i + 1] = -1; }
        }
        var expected = Solve(a, chain.Targets);
        var result = Minimize.SparseNewton(f, new double[n], chain);
        Assert.That(result.Converged, Is.True, result.Reason);
        Assert.That(result.X, Is.EqualTo(expected).Within(1e-8));
    }

    [Test]
    public void CancellationAndProgress()
    {
        using var cts = new CancellationTokenSource();
        var log = new ReportLog<IterationReport> { OnReport = r => { if (r.Iteration == 2) cts.Cancel(); } };
        var result = Minimize.SparseNewton(AD.SparseHessian(ChainedRosenbrock(100)), RosenbrockStart(100),
            new MinimizeOptions { Progress = log, Cancellation = cts.Token });
        Assert.That(result.StopReason, Is.EqualTo(StopReason.Cancelled));
        Assert.That(result.Iterations, Is.EqualTo(2));
        Assert.That(log.Reports.Select(r => r.Iteration), Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(log.Reports[^1].Value, Is.EqualTo(result.Value));
        Assert.That(result.HessianEvaluations, Is.EqualTo(result.Evaluations));
    }

    [Test]
    public void BadInputIsNamed()
    {
        var f = AD.SparseHessian(x => Math.Log(x[0]) + x[1] * x[1]);
        Assert.That(Assert.Throws<ArgumentException>(() => Minimize.SparseNewton(f, [1, double.PositiveInfinity]))!.ParamName, Is.EqualTo("x0"));
        Assert.That(Assert.Throws<ArgumentException>(() => Minimize.SparseNewton(f, [-1.0, 1]))!.Message, Does.Contain("f(x0)"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => Minimize.SparseNewton((SparseHessianFunc)null!, [1.0, 1]))!.ParamName, Is.EqualTo("f"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => Minimize.SparseNewton(f, null!))!.ParamName, Is.EqualTo("x0"));
        Assert.Throws<ArgumentOutOfRangeException>(() => Minimize.SparseNewton(f, [1.0, 1], new MinimizeOptions { MaxTrustRadius = 0.5 }));
    }

    [Test, NonParallelizable]
    public void NoAllocationPerIterationAfterWarmUp([Values] bool jacobi)
    {
        const int n = 100;
        var f = AD.SparseHessian(ChainedRosenbrock(n));
        var x0 = RosenbrockStart(n);
        var probe = new AllocationProbe<IterationReport>(100);
        var options = new MinimizeOptions
        {
            Progress = probe, MaxIterations = 60, InitialTrustRadius = 0.01, MaxTrustRadius = 0.01, JacobiPreconditioner = jacobi,
        };
        var (bytes, reports) = probe.Measure(() => Minimize.SparseNewton(f, x0, options), from: 1);
        Assert.That(reports, Is.EqualTo(61));
        Assert.That(bytes, Is.Zero);
    }
}
