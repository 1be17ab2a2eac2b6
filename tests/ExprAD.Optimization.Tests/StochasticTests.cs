using static ExprAD.Optimization.Tests.NewtonTestSupport;

namespace ExprAD.Optimization.Tests;

public class StochasticTests
{
    public sealed record Point(int Id, double[] A, double Y);

    /// <summary>½ mean over the batch of (a·w − y)², for three features.</summary>
    private static readonly Expression<Func<double[], Point[], double>> MeanSquares = (w, batch) =>
        batch.Sum(s => 0.5 * (s.A[0] * w[0] + s.A[1] * w[1] + s.A[2] * w[2] - s.Y) * (s.A[0] * w[0] + s.A[1] * w[1] + s.A[2] * w[2] - s.Y)) / batch.Length;

    /// <summary>
    /// m points with features uniform in ±scale_j and y = a·(1, −2, 3) + noise of ±0.05; the features' scales set the
    /// Hessian's conditioning (its diagonal is scale_j² / 3).
    /// </summary>
    private static Point[] Regression(int m, double[] scales, int seed = 7, double[]? truth = null)
    {
        var rng = new Random(seed);
        truth ??= [1, -2, 3];
        return Enumerable.Range(0, m).Select(id =>
        {
            var a = scales.Select(s => s * (2 * rng.NextDouble() - 1)).ToArray();
            return new Point(id, a, a[0] * truth[0] + a[1] * truth[1] + a[2] * truth[2] + 0.1 * (rng.NextDouble() - 0.5));
        }).ToArray();
    }

    /// <summary>The least-squares weights by the normal equations AᵀA w = Aᵀy, and the loss there, computed directly.</summary>
    private static (double[] W, double Loss) Optimum(Point[] points)
    {
        var ata = new double[9];
        var aty = new double[3];
        foreach (var p in points)
            for (int j = 0; j < 3; j++)
            {
                aty[j] += p.A[j] * p.Y;
                for (int k = 0; k < 3; k++) ata[j * 3 + k] += p.A[j] * p.A[k];
            }
        var w = Solve(ata, aty);
        return (w, Loss(points, w));
    }

    private static double Loss(Point[] points, double[] w) =>
        points.Average(p => 0.5 * Math.Pow(p.A[0] * w[0] + p.A[1] * w[1] + p.A[2] * w[2] - p.Y, 2));

    private static readonly double[] Unit = [1, 1, 1];

    [Test]
    public void SgdReachesTheLeastSquaresOptimum([Values(0, 0.9)] double momentum)
    {
        var points = Regression(200, Unit);
        var (w, best) = Optimum(points);
        var result = Stochastic.Sgd(AD.Gradient(MeanSquares), new double[3], points,
            new StochasticOptions { LearningRate = 0.1 * (1 - momentum), Momentum = momentum, Epochs = 40, BatchSize = 16 });
        TestContext.Out.WriteLine($"SGD momentum {momentum}: loss {result.Value:G6} against {best:G6}, x {string.Join(", ", result.X)}");
        Assert.That(result.StopReason, Is.EqualTo(StopReason.EpochsCompleted));
        Assert.That(result.Value, Is.EqualTo(Loss(points, result.X)).Within(1e-12), "Value is f on all samples at X");
        Assert.That(result.Value - best, Is.LessThan(1e-4));
        Assert.That(result.X, Is.EqualTo(w).Within(0.02));
    }

    [Test]
    public void AdamReachesTheLeastSquaresOptimum()
    {
        var points = Regression(200, Unit);
        var (w, best) = Optimum(points);
        var result = Stochastic.Adam(AD.Gradient(MeanSquares), new double[3], points, new StochasticOptions { LearningRate = 0.05, Epochs = 40, BatchSize = 16 });
        TestContext.Out.WriteLine($"Adam: loss {result.Value:G6} against {best:G6}, x {string.Join(", ", result.X)}");
        Assert.That(result.Value - best, Is.LessThan(1e-4));
        Assert.That(result.X, Is.EqualTo(w).Within(0.02));
        Assert.That(result.HessianEvaluations, Is.Zero);
    }

    [Test]
    public void SmdReachesTheLeastSquaresOptimum()
    {
        var points = Regression(200, Unit);
        var (w, best) = Optimum(points);
        var result = Stochastic.Smd(AD.HessianVector(MeanSquares), new double[3], points, new StochasticOptions { LearningRate = 0.05, MetaRate = 0.05, Epochs = 40, BatchSize = 16 });
        TestContext.Out.WriteLine($"SMD: loss {result.Value:G6} against {best:G6}, x {string.Join(", ", result.X)}");
        Assert.That(result.Value - best, Is.LessThan(1e-4));
        Assert.That(result.X, Is.EqualTo(w).Within(0.02));
        Assert.That(result.HessianEvaluations, Is.EqualTo(result.Iterations));
        Assert.That(result.Evaluations, Is.EqualTo(result.Iterations + 1));
    }

    [Test]
    public void SmdBeatsSgdWithTheSameBaseRateOnAnIllConditionedProblem()
    {
        // Feature scales 3, 1 and 0.1: Hessian diagonal 3, 1/3 and 1/300 (condition number 900), and the flat direction's
        // weight (30) far from the start. The base rate 0.3 is near SGD's stability limit 2/3 for the stiff direction, so
        // SGD barely moves along the flat one in 400 steps; SMD raises that parameter's gain. (Measured for this seed:
        // excess loss SGD 0.75, SMD 7e-7.)
        var points = Regression(400, [3, 1, 0.1], truth: [1, -2, 30]);
        var (_, best) = Optimum(points);
        var options = new StochasticOptions { LearningRate = 0.3, Epochs = 20, BatchSize = 20, Seed = 1 };
        var sgd = Stochastic.Sgd(AD.Gradient(MeanSquares), new double[3], points, options);
        var smd = Stochastic.Smd(AD.HessianVector(MeanSquares), new double[3], points, options with { MetaRate = 0.2 });
        double sgdGap = sgd.Value - best, smdGap = smd.Value - best;
        TestContext.Out.WriteLine($"excess loss after {sgd.Iterations} steps: SGD {sgdGap:G4}, SMD {smdGap:G4}");
        Assert.That(sgdGap, Is.GreaterThan(0.1), "SGD is slow here, or the comparison shows nothing");
        Assert.That(smdGap, Is.LessThan(1e-3 * sgdGap));
        Assert.That(smdGap, Is.LessThan(1e-4));
    }

    /// <summary>The compiled gradient, wrapped to record each batch's sample ids and array (the wrapper allocates; it is for tests of the batches only).</summary>
    private static GradientFunc<Point[]> Recording(List<int[]> ids, List<Point[]> arrays)
    {
        var inner = AD.Gradient(MeanSquares);
        return (x, batch, g) =>
        {
            ids.Add(batch.Select(p => p.Id).ToArray());
            arrays.Add(batch);
            return inner(x, batch, g);
        };
    }

    [Test]
    public void EachEpochVisitsEverySampleOnceInBatchesOfTheSizeAskedWithAShortLastBatch()
    {
        var points = Regression(70, Unit);
        var ids = new List<int[]>();
        var arrays = new List<Point[]>();
        var result = Stochastic.Sgd(Recording(ids, arrays), new double[3], points, new StochasticOptions { BatchSize = 32, Epochs = 3 });
        // Three steps per epoch (32, 32, 6), then the final evaluation on all 70 samples.
        Assert.That(ids.Select(b => b.Length), Is.EqualTo(new[] { 32, 32, 6, 32, 32, 6, 32, 32, 6, 70 }));
        Assert.That(result.Iterations, Is.EqualTo(9));
        Assert.That(result.Evaluations, Is.EqualTo(10));
        for (int epoch = 0; epoch < 3; epoch++)
            Assert.That(ids.Skip(3 * epoch).Take(3).SelectMany(b => b).Order(), Is.EqualTo(Enumerable.Range(0, 70)), $"epoch {epoch + 1}");
        Assert.That(ids[0], Is.Not.EqualTo(ids[3]), "each epoch has a fresh order");
        // The batches reuse two arrays (full and short); the final evaluation gets the samples array itself.
        Assert.That(arrays.Take(9).Distinct(ReferenceEqualityComparer.Instance).Count(), Is.EqualTo(2));
        Assert.That(arrays[9], Is.SameAs(points));
    }

    [Test]
    public void ASeedGivesTheSameRunAndAnotherSeedAnotherOrder()
    {
        var points = Regression(100, Unit);
        List<int[]> Order(int seed, out MinimizeResult result)
        {
            var ids = new List<int[]>();
            result = Stochastic.Sgd(Recording(ids, []), new double[3], points, new StochasticOptions { Seed = seed, BatchSize = 10, Epochs = 2 });
            return ids;
        }
        var first = Order(5, out var a);
        var again = Order(5, out var b);
        var other = Order(6, out var c);
        Assert.That(again, Is.EqualTo(first));
        Assert.That(b.X, Is.EqualTo(a.X), "bitwise the same run");
        Assert.That(b.Value, Is.EqualTo(a.Value));
        Assert.That(other.Take(20).SelectMany(i => i), Is.Not.EqualTo(first.Take(20).SelectMany(i => i)));
        Assert.That(c.X, Is.Not.EqualTo(a.X));
    }

    [Test]
    public void ProgressPerStepAndPerEpoch()
    {
        var points = Regression(50, Unit);
        var steps = new ReportLog<IterationReport>();
        var epochs = new ReportLog<EpochReport>();
        var result = Stochastic.Adam(AD.Gradient(MeanSquares), new double[3], points,
            new StochasticOptions { BatchSize = 20, Epochs = 4, Progress = steps, EpochProgress = epochs });
        Assert.That(steps.Reports.Select(r => r.Iteration), Is.EqualTo(Enumerable.Range(1, 12)));
        Assert.That(steps.Reports.Select(r => r.Evaluations), Is.EqualTo(Enumerable.Range(1, 12)));
        Assert.That(steps.Reports.All(r => r.StepLength > 0 && r.GradientNorm > 0), Is.True);
        Assert.That(epochs.Reports.Select(r => r.Epoch), Is.EqualTo(new[] { 1, 2, 3, 4 }));
        Assert.That(epochs.Reports.Select(r => r.Steps), Is.EqualTo(new[] { 3, 6, 9, 12 }));
        for (int e = 0; e < 4; e++)
            Assert.That(epochs.Reports[e].MeanLoss, Is.EqualTo(steps.Reports.Skip(3 * e).Take(3).Average(r => r.Value)).Within(1e-15));
        Assert.That(result.Iterations, Is.EqualTo(12));
        // The final report is the full-data evaluation, not the last batch.
        Assert.That(result.Value, Is.EqualTo(Loss(points, result.X)).Within(1e-12));
    }

    [Test]
    public void CancellationStopsBeforeTheNextStep()
    {
        using var cts = new CancellationTokenSource();
        var log = new ReportLog<IterationReport> { OnReport = r => { if (r.Iteration == 5) cts.Cancel(); } };
        var points = Regression(100, Unit);
        var result = Stochastic.Smd(AD.HessianVector(MeanSquares), new double[3], points,
            new StochasticOptions { BatchSize = 10, Progress = log, Cancellation = cts.Token });
        Assert.That(result.StopReason, Is.EqualTo(StopReason.Cancelled));
        Assert.That(result.Iterations, Is.EqualTo(5));
        Assert.That(result.Evaluations, Is.EqualTo(6));
        Assert.That(result.Value, Is.EqualTo(Loss(points, result.X)).Within(1e-12));
        Assert.That(result.Converged, Is.False);
    }

    [Test]
    public void BadInputIsNamed()
    {
        var f = AD.Gradient(MeanSquares);
        var points = Regression(10, Unit);
        Assert.That(Assert.Throws<ArgumentException>(() => Stochastic.Sgd(f, [0, double.NaN, 0], points))!.ParamName, Is.EqualTo("x0"));
        Assert.That(Assert.Throws<ArgumentException>(() => Stochastic.Adam(f, new double[3], []))!.ParamName, Is.EqualTo("samples"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => Stochastic.Sgd(f, new double[3], null!))!.ParamName, Is.EqualTo("samples"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => Stochastic.Smd<Point>(null!, new double[3], points))!.ParamName, Is.EqualTo("f"));
        Assert.Throws<ArgumentOutOfRangeException>(() => Stochastic.Sgd(f, new double[3], points, new StochasticOptions { BatchSize = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Stochastic.Sgd(f, new double[3], points, new StochasticOptions { Momentum = 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Stochastic.Smd(AD.HessianVector(MeanSquares), new double[3], points, new StochasticOptions { Decay = 2 }));
        // f not finite on the first batch: the caller's input, named as the starting point.
        var sqrt = AD.Gradient<Point[]>((w, batch) => Math.Sqrt(w[0]) + batch.Length);
        var e = Assert.Throws<ArgumentException>(() => Stochastic.Sgd(sqrt, [-1.0, 0, 0], points))!;
        Assert.That(e.ParamName, Is.EqualTo("x0"));
        Assert.That(e.Message, Does.Contain("f(x0)"));
    }

    [Test]
    public void ARateTooLargeDivergesAndTheResultSaysSo()
    {
        // Rate 10 on curvature 3 multiplies the error by about −29 per step: the iterates overflow within a few hundred steps.
        var points = Regression(100, [3, 1, 0.1]);
        var result = Stochastic.Sgd(AD.Gradient(MeanSquares), new double[3], points, new StochasticOptions { LearningRate = 10, Epochs = 1000 });
        Assert.That(result.StopReason, Is.EqualTo(StopReason.Diverged));
        Assert.That(result.X.All(double.IsFinite), Is.True);
        Assert.That(result.Iterations, Is.LessThan(1000 * 4));
        Assert.That(result.Reason, Does.Contain("diverged"));
    }

    /// <summary>Allocates nothing when told.</summary>
    private sealed class QuietEpochs : IProgress<EpochReport>
    {
        public double Sum;
        public void Report(EpochReport value) => Sum += value.MeanLoss;
    }

    [Test, NonParallelizable]
    public void NoAllocationPerStepAfterWarmUp([Values("Sgd", "Momentum", "Adam", "Smd")] string driver)
    {
        var points = Regression(100, Unit);
        var gradient = AD.Gradient(MeanSquares);
        var product = AD.HessianVector(MeanSquares);
        var probe = new AllocationProbe<IterationReport>(100);
        // 30 samples in batches of 8 (8, 8, 8, 6): a short batch, and five epochs with their shuffles and epoch reports, between the reports measured.
        var options = new StochasticOptions { BatchSize = 8, Epochs = 5, Progress = probe, EpochProgress = new QuietEpochs(), Momentum = driver == "Momentum" ? 0.9 : 0 };
        var data = points.Take(30).ToArray();
        var x0 = new double[3];
        Action run = driver switch
        {
            "Adam" => () => Stochastic.Adam(gradient, x0, data, options),
            "Smd" => () => Stochastic.Smd(product, x0, data, options),
            _ => () => Stochastic.Sgd(gradient, x0, data, options),
        };
        var (bytes, reports) = probe.Measure(run, from: 1);
        Assert.That(reports, Is.EqualTo(20));
        Assert.That(bytes, Is.Zero);
    }

    [Test, NonParallelizable]
    public void TheProbeSeesAnAllocationPerStep()
    {
        // The control for the zero-allocation tests: a gradient that allocates on every call is seen.
        var probe = new AllocationProbe<IterationReport>(100);
        var options = new StochasticOptions { BatchSize = 8, Epochs = 5, Progress = probe };
        var data = Regression(30, Unit);
        var f = Recording([], []);
        var (bytes, _) = probe.Measure(() => Stochastic.Sgd(f, new double[3], data, options), from: 1);
        Assert.That(bytes, Is.GreaterThanOrEqualTo(18 * 24));
    }
}
