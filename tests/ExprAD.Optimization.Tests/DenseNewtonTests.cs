using static ExprAD.Optimization.Tests.NewtonTestSupport;

namespace ExprAD.Optimization.Tests;

public class DenseNewtonTests
{
    [Test]
    public void AConvexQuadraticIsSolvedInOneIteration()
    {
        // f = ½ xᵀAx − bᵀx with A symmetric positive definite: the minimiser solves A x = b (Gaussian elimination here).
        const int n = 12;
        var a = SpdMatrix(n, seed: 3);
        var b = Enumerable.Range(0, n).Select(i => Math.Sin(i + 1.0)).ToArray();
        var f = AD.Hessian(x => Enumerable.Range(0, n).Sum(i => Enumerable.Range(0, n).Sum(j => 0.5 * a[i * n + j] * x[i] * x[j]) - b[i] * x[i]));
        var result = Minimize.Newton(f, new double[n], new MinimizeOptions { InitialTrustRadius = 1e6, ForcingTerm = 0 });
        Assert.That(result.Converged, Is.True, result.Reason);
        Assert.That(result.Iterations, Is.EqualTo(1));
        Assert.That(result.HessianEvaluations, Is.EqualTo(2), "at the start and at the one trial point");
        Assert.That(result.X, Is.EqualTo(Solve(a, b)).Within(1e-9));
    }

    [Test]
    public void RosenbrockConvergesQuadratically()
    {
        var f = AD.Hessian(x => 100 * (x[1] - x[0] * x[0]) * (x[1] - x[0] * x[0]) + (1 - x[0]) * (1 - x[0]));
        var norms = new List<double>();
        var result = Minimize.Newton(f, [-1.2, 1.0], new MinimizeOptions
        {
            GradientTolerance = 1e-12, Progress = new Recorder(r => norms.Add(r.GradientNorm)),
        });
        Assert.That(result.Converged, Is.True, result.Reason);
        Assert.That(result.Iterations, Is.LessThan(40));
        Assert.That(result.X, Is.EqualTo(new[] { 1.0, 1.0 }).Within(1e-10));
        // Near the minimiser the gradient norm falls quadratically: the last step from above 1e-6 lands far below it.
        int k = norms.FindLastIndex(g => g > 1e-6);
        Assert.That(norms[k + 1], Is.LessThan(100 * norms[k] * norms[k]), string.Join(", ", norms));
    }

    [Test]
    public void TakesTheSameStepsAsSparseNewtonOnTheSameFunction()
    {
        // The dense and the CSR model multiply the same Hessian inside the same trust region: the iterates agree up to the
        // order of summation in the products.
        const int n = 20;
        var dense = Minimize.Newton(AD.Hessian(ChainedRosenbrock(n)), RosenbrockStart(n));
        var sparse = Minimize.SparseNewton(AD.SparseHessian(ChainedRosenbrock(n)), RosenbrockStart(n));
        Assert.That(dense.Converged && sparse.Converged, Is.True, $"{dense.Reason} / {sparse.Reason}");
        Assert.That(dense.Iterations, Is.EqualTo(sparse.Iterations));
        Assert.That(dense.X, Is.EqualTo(sparse.X).Within(1e-8));
    }

    [Test]
    public void TheDataFormPassesTheData()
    {
        // Least squares ½|Mx − y|² with M and y as data: the minimiser solves MᵀM x = Mᵀy.
        const int rows = 30, n = 4;
        var random = new Random(5);
        var m = Enumerable.Range(0, rows * n).Select(_ => random.NextDouble() - 0.5).ToArray();
        var y = Enumerable.Range(0, rows).Select(i => Math.Sin(0.3 * i)).ToArray();
        var f = AD.Hessian<double[][]>((x, d) => Enumerable.Range(0, rows).Sum(i =>
            0.5 * (Enumerable.Range(0, n).Sum(j => d[0][i * n + j] * x[j]) - d[1][i]) * (Enumerable.Range(0, n).Sum(j => d[0][i * n + j] * x[j]) - d[1][i])));
        var result = Minimize.Newton(f, new double[n], new[] { m, y }, new MinimizeOptions { GradientTolerance = 1e-10 });
        var normal = new double[n * n];
        var right = new double[n];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < n; j++)
            {
                right[j] += m[i * n + j] * y[i];
                for (int k = 0; k < n; k++) normal[j * n + k] += m[i * n + j] * m[i * n + k];
            }
        Assert.That(result.Converged, Is.True, result.Reason);
        Assert.That(result.X, Is.EqualTo(Solve(normal, right)).Within(1e-8));
    }

    [Test]
    public void BadInputIsNamed()
    {
        var f = AD.Hessian(x => x[0] * x[0] + Math.Log(x[1]));
        Assert.That(Assert.Throws<ArgumentException>(() => Minimize.Newton(f, [1.0, double.NaN]))!.Message, Does.Contain("x0[1]"));
        Assert.That(Assert.Throws<ArgumentException>(() => Minimize.Newton(f, [1.0, -1.0]))!.Message, Does.Contain("f(x0)"));
        Assert.Throws<ArgumentNullException>(() => Minimize.Newton(null!, [1.0, 1.0]));
    }

    [Test, NonParallelizable]
    public void NoAllocationPerIterationAfterWarmUp()
    {
        const int n = 20;
        var f = AD.Hessian(ChainedRosenbrock(n));
        var x0 = RosenbrockStart(n);
        var probe = new AllocationProbe<IterationReport>(100);
        var options = new MinimizeOptions { Progress = probe, MaxIterations = 30, InitialTrustRadius = 0.01, MaxTrustRadius = 0.01 };
        var (bytes, reports) = probe.Measure(() => Minimize.Newton(f, x0, options), from: 1);
        Assert.That(reports, Is.EqualTo(31));
        Assert.That(bytes, Is.Zero);
    }

    private sealed class Recorder(Action<IterationReport> record) : IProgress<IterationReport>
    {
        public void Report(IterationReport value) => record(value);
    }
}
