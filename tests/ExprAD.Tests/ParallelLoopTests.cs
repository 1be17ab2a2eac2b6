using System.Collections.Concurrent;
using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using ExprAD.Caching;
using ExprAD.Codegen;
using ExprAD.Frontend;
using ExprAD.IR;
using ExprAD.Passes;
using ExprAD.Transforms;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// <see cref="ADOptions.ParallelLoops"/>: a large top-level sum (and its adjoint loop) runs in fixed blocks on all
/// cores. Checked against the sequential kernel and central finite differences, for bit-identical results from run
/// to run and whatever the number of helper threads, with many callers at once, for allocation, and for the
/// sequential path below the threshold.
/// </summary>
[TestFixture, NonParallelizable]
public class ParallelLoopTests
{
    public sealed class Dataset
    {
        public double[] Y = [];
        public double[][] X = [];
    }

    private static readonly ADOptions Parallel = new() { ParallelLoops = true };

    private static Dataset Make(int rows, int features, int seed)
    {
        var random = new Random(seed);
        return new Dataset
        {
            X = Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, features).Select(_ => random.NextDouble() - 0.5).ToArray()).ToArray(),
            Y = Enumerable.Range(0, rows).Select(_ => random.Next(2) * 2.0 - 1).ToArray(),
        };
    }

    private static double[] Weights(int features, double shift = 0) =>
        Enumerable.Range(0, features).Select(j => 0.3 * Math.Sin(j + 1 + shift)).ToArray();

    private static readonly Expression<Func<double[], Dataset, double>> Logistic = (w, d) =>
        Enumerable.Range(0, d.Y.Length).Sum(i => Math.Log(1 + Math.Exp(-d.Y[i] * Enumerable.Range(0, w.Length).Sum(j => w[j] * d.X[i][j]))))
        + 0.01 * w.Sum(v => v * v);

    // Computed indices of w that are not the inner loop's counter: each row reads two weights chosen by its index.
    private static readonly Expression<Func<double[], Dataset, double>> Indexed = (w, d) =>
        Enumerable.Range(0, d.Y.Length).Sum(i =>
            (d.Y[i] - w[i % w.Length] * d.X[i][0] - Math.Tanh(w[(3 * i + 1) % w.Length])) *
            (d.Y[i] - w[i % w.Length] * d.X[i][0] - Math.Tanh(w[(3 * i + 1) % w.Length])));

    // The adjoint loop needs the sum's value (through the log), so it cannot be fused with the primal loop: two
    // top-level sums, the second one scattering into the gradient.
    private static readonly Expression<Func<double[], Dataset, double>> LogOfSum = (w, d) =>
        Math.Log(Enumerable.Range(0, d.Y.Length).Sum(i => Math.Exp(w[0] * d.Y[i] + w[1] * d.X[i][1] + w[i % 3])));

    private static IEnumerable<TestCaseData> Models()
    {
        yield return new TestCaseData(Logistic, 20_000, 10).SetName("Logistic");
        yield return new TestCaseData(Indexed, 30_000, 7).SetName("ComputedIndices");
        yield return new TestCaseData(LogOfSum, 10_000, 3).SetName("LogOfSum");
    }

    private static bool Close(double actual, double expected, double relative) =>
        Math.Abs(actual - expected) <= relative * Math.Max(1, Math.Abs(expected));

    [TestCaseSource(nameof(Models))]
    public void ValueAndGradientMatchTheSequentialKernelAndFiniteDifferences(Expression<Func<double[], Dataset, double>> f, int rows, int features)
    {
        var sequential = AD.Gradient(f);
        var parallel = AD.Gradient(f, Parallel);
        Assert.That(AD.GetCompilationInfo(parallel)!.Compiler, Is.EqualTo(CompilerKind.FastExpressionCompiler), "kernel and worker took the fast path");
        var data = Make(rows, features, seed: rows);
        var w = Weights(features);
        var expected = new double[features];
        var g = new double[features];
        double value = sequential(w, data, expected);
        long runs = ParallelSums.ParallelRuns;
        double parallelValue = parallel(w, data, g);
        Assert.That(ParallelSums.ParallelRuns, Is.GreaterThan(runs), "the parallel path was taken");
        Assert.That(parallelValue, Is.EqualTo(value).Within(1e-12 * Math.Abs(value)));
        for (int j = 0; j < features; j++)
            Assert.That(g[j], Is.EqualTo(expected[j]).Within(1e-11 * Math.Max(1, Math.Abs(expected[j]))), $"∂f/∂w[{j}]");

        // Central differences of the lambda compiled by .NET (no ExprAD code involved).
        var plain = f.Compile();
        double scale = 0;
        for (int j = 0; j < features; j++)
        {
            double Central(double h)
            {
                var plus = (double[])w.Clone();
                var minus = (double[])w.Clone();
                plus[j] += h;
                minus[j] -= h;
                return (plain(plus, data) - plain(minus, data)) / (2 * h);
            }
            // Richardson-extrapolated (error O(h⁴)): the sums are large, so h cannot be small.
            double h = 1e-3 * Math.Max(1, Math.Abs(w[j]));
            double fd = (4 * Central(h / 2) - Central(h)) / 3;
            scale = Math.Max(scale, Math.Abs(fd));
            Assert.That(g[j], Is.EqualTo(fd).Within(1e-6 * Math.Max(1, Math.Abs(fd))), $"∂f/∂w[{j}] against central differences");
        }
        Assert.That(scale, Is.GreaterThan(1e-3), "the gradient is not trivially zero");

        var value1 = AD.Value(f, Parallel);
        Assert.That(AD.GetCompilationInfo(value1)!.Compiler, Is.EqualTo(CompilerKind.FastExpressionCompiler));
        runs = ParallelSums.ParallelRuns;
        Assert.That(value1(w, data), Is.EqualTo(value).Within(1e-12 * Math.Abs(value)), "the value alone");
        Assert.That(ParallelSums.ParallelRuns, Is.GreaterThan(runs), "the value's sum ran in parallel too");
    }

    [Test]
    public void SumsThatShareCostlyValuesStillRunInParallel()
    {
        // Sequentially, the cosines and sines that the three loops of this gradient recompute are shared through a map
        // (CrossLoopSharing); a sum reading such a map could not be split over cores, so with ParallelLoops they are not.
        Expression<Func<double[], double>> f = x => new[] { Enumerable.Range(0, x.Length).Sum(j => Math.Cos(x[j])) }.Sum(c =>
            Enumerable.Range(0, x.Length).Sum(i => Math.Pow(x.Length - c + (i + 1) * (1 - Math.Cos(x[i])) - Math.Sin(x[i]), 2)));
        var random = new Random(8);
        var x = Enumerable.Range(0, 40_000).Select(_ => random.NextDouble() * 4 - 2).ToArray();
        var expected = new double[x.Length];
        var g = new double[x.Length];
        double value = AD.Gradient(f)(x, expected);
        long runs = ParallelSums.ParallelRuns;
        Assert.That(AD.Gradient(f, Parallel)(x, g), Is.EqualTo(value).Within(1e-12 * Math.Max(1, Math.Abs(value))));
        Assert.That(ParallelSums.ParallelRuns, Is.GreaterThan(runs), "the sums ran in parallel");
        for (int i = 0; i < x.Length; i++) Assert.That(g[i], Is.EqualTo(expected[i]).Within(1e-9 * (1 + Math.Abs(expected[i]))));
    }

    [Test]
    public void AnArrayFunctionWithoutDataRunsInParallel()
    {
        // A sum over a range whose body reads x at computed indices: the kernel has no data argument.
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, 50_000).Sum(i => Math.Sin(x[i % 5] * i * 1e-4) * x[(i + 2) % 5]);
        var sequential = AD.Gradient(f);
        var parallel = AD.Gradient(f, Parallel);
        double[] x = [0.3, -0.7, 1.1, 0.2, -0.4];
        var expected = new double[5];
        var g = new double[5];
        double value = sequential(x, expected);
        long runs = ParallelSums.ParallelRuns;
        Assert.That(parallel(x, g), Is.EqualTo(value).Within(1e-12 * Math.Max(1, Math.Abs(value))));
        Assert.That(ParallelSums.ParallelRuns, Is.GreaterThan(runs));
        Assert.That(g, Is.EqualTo(expected).Within(1e-10));
        Assert.That(AD.Value(f, Parallel)(x), Is.EqualTo(value).Within(1e-12 * Math.Max(1, Math.Abs(value))));
    }

    /// <summary>The logistic loss with the fixed block decomposition written out: each block summed in iteration order, blocks added in order.</summary>
    private static double BlockwiseLogistic(double[] w, Dataset d, int blocks)
    {
        int count = d.Y.Length, size = ParallelSums.BlockSize(count, blocks);
        double total = 0;
        for (int b = 0; b < blocks; b++)
        {
            double block = 0;
            for (int i = b * size; i < Math.Min(count, (b + 1) * size); i++)
            {
                double z = 0;
                for (int j = 0; j < w.Length; j++) z += w[j] * d.X[i][j];
                block += Math.Log(1 + Math.Exp(-d.Y[i] * z));
            }
            total = b == 0 ? block : total + block;
        }
        double squares = 0;
        foreach (var v in w) squares += v * v;
        return total + 0.01 * squares;
    }

    [Test]
    public void ResultsAreBitIdenticalRunToRunAndWhateverTheNumberOfThreads()
    {
        var gradient = AD.Gradient(Logistic, Parallel);
        var value = AD.Value(Logistic, Parallel);
        var data = Make(12_345, 9, seed: 7);
        var w = Weights(9);
        var reference = new double[9];
        double referenceValue = gradient(w, data, reference);
        double referenceValueAlone = value(w, data);
        int saved = ParallelSums.MaxHelpers;
        try
        {
            foreach (var helpers in new[] { 0, 1, 3, saved })
            {
                ParallelSums.MaxHelpers = helpers;
                for (int run = 0; run < 5; run++)
                {
                    var g = new double[9];
                    Assert.That(gradient(w, data, g), Is.EqualTo(referenceValue), $"{helpers} helpers, run {run}: bit-identical value");
                    Assert.That(g, Is.EqualTo(reference), $"{helpers} helpers, run {run}: bit-identical gradient");
                    Assert.That(value(w, data), Is.EqualTo(referenceValueAlone), $"{helpers} helpers, run {run}: bit-identical value alone");
                }
            }
        }
        finally
        {
            ParallelSums.MaxHelpers = saved;
        }
        // The decomposition depends only on the trip count (and the gradient's length), not on the machine: the value
        // alone is exactly the block-wise sum written out here with min(64, count) blocks.
        Assert.That(ParallelSums.BlockCount(12_345, 0), Is.EqualTo(ParallelSums.MaxBlocks));
        Assert.That(ParallelSums.BlockCount(12_345, 9), Is.EqualTo(ParallelSums.MaxBlocks));
        Assert.That(referenceValueAlone, Is.EqualTo(BlockwiseLogistic(w, data, ParallelSums.MaxBlocks)));
        Assert.That(referenceValue, Is.EqualTo(BlockwiseLogistic(w, data, ParallelSums.BlockCount(12_345, 9))));
        var sequential = AD.Value(Logistic)(w, data);
        Assert.That(referenceValueAlone, Is.EqualTo(sequential).Within(1e-12 * sequential));
    }

    [Test]
    public void BlockCountsLeaveLargeGradientsToTheCallingThread()
    {
        Assert.That(ParallelSums.BlockCount(100, 0), Is.EqualTo(64));
        Assert.That(ParallelSums.BlockCount(10, 0), Is.EqualTo(10), "at least one iteration a block");
        Assert.That(ParallelSums.BlockCount(0, 0), Is.EqualTo(1));
        Assert.That(ParallelSums.BlockCount(100_000, 5_000), Is.EqualTo(20), "a block runs at least as many iterations as the gradient has entries");
        Assert.That(ParallelSums.BlockCount(10_000_000, 100_000), Is.EqualTo(10), "private gradients stay within the budget");
        Assert.That(ParallelSums.BlockCount(1_000, 1_000), Is.EqualTo(1));

        // Rosenbrock as a loop scatters into a gradient as long as the loop: it stays on the calling thread, and is right.
        var parallel = AD.Gradient(x => Enumerable.Range(0, x.Length - 1).Sum(i => 100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (1 - x[i]) * (1 - x[i])),
            new ADOptions { ParallelLoops = true, ParallelThreshold = 10 });
        var sequential = AD.Gradient(x => Enumerable.Range(0, x.Length - 1).Sum(i => 100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (1 - x[i]) * (1 - x[i])));
        var x = Enumerable.Range(0, 5000).Select(i => Math.Cos(i)).ToArray();
        var expected = new double[x.Length];
        var g = new double[x.Length];
        long runs = ParallelSums.ParallelRuns;
        Assert.That(parallel(x, g), Is.EqualTo(sequential(x, expected)));
        Assert.That(g, Is.EqualTo(expected));
        Assert.That(ParallelSums.ParallelRuns, Is.EqualTo(runs));
    }

    [Test]
    public void BelowTheThresholdTheSumRunsOnTheCallingThreadInSequentialOrder()
    {
        var options = new ADOptions { ParallelLoops = true, ParallelThreshold = 5_000 };
        var parallel = AD.Gradient(Logistic, options);
        var sequential = AD.Gradient(Logistic);
        foreach (var rows in new[] { 0, 1, 64, 4_999 })
        {
            var data = Make(rows, 6, seed: rows + 1);
            var w = Weights(6, rows);
            var expected = new double[6];
            var g = new double[6];
            double value = sequential(w, data, expected);
            long runs = ParallelSums.ParallelRuns;
            Assert.That(parallel(w, data, g), Is.EqualTo(value), $"{rows} rows: the sequential order, bit for bit");
            Assert.That(g, Is.EqualTo(expected), $"{rows} rows");
            Assert.That(ParallelSums.ParallelRuns, Is.EqualTo(runs), $"{rows} rows: not run in parallel");
        }
        var large = Make(5_000, 6, seed: 3);
        long before = ParallelSums.ParallelRuns;
        parallel(Weights(6), large, new double[6]);
        Assert.That(ParallelSums.ParallelRuns, Is.EqualTo(before + 1), "at the threshold the loop runs in parallel");
    }

    [Test]
    public void ManyCallersOfOneParallelDelegateGetTheirOwnResults()
    {
        var gradient = AD.Gradient(Logistic, Parallel);
        var data = Make(8_192, 5, seed: 11);
        const int variants = 6;
        var expectedValues = new double[variants];
        var expectedGradients = new double[variants][];
        for (int k = 0; k < variants; k++)
        {
            expectedGradients[k] = new double[5];
            expectedValues[k] = gradient(Weights(5, k), data, expectedGradients[k]);
        }
        var failures = new ConcurrentQueue<string>();
        System.Threading.Tasks.Parallel.For(0, 96, new ParallelOptions { MaxDegreeOfParallelism = 8 }, call =>
        {
            int k = call % variants;
            var g = new double[5];
            double value = gradient(Weights(5, k), data, g);
            // Deterministic blocks: a concurrent call gives exactly the result of a lone one.
            if (value != expectedValues[k] || !g.AsSpan().SequenceEqual(expectedGradients[k])) failures.Enqueue($"call {call} (variant {k})");
        });
        Assert.That(failures, Is.Empty);
    }

    [Test]
    public void AnExceptionInABlockIsTheOneTheSequentialLoopThrows()
    {
        var parallel = AD.Gradient(Logistic, Parallel);
        var sequential = AD.Gradient(Logistic);
        var data = Make(10_000, 4, seed: 5);
        data.X[7_000] = [1.0, 2.0]; // too short: reading column 2 fails
        data.X[9_000] = [1.0];      // fails later in sequential order
        var w = Weights(4);
        var expected = Assert.Throws<IndexOutOfRangeException>(() => sequential(w, data, new double[4]))!;
        var g = new double[4];
        var actual = Assert.Throws<IndexOutOfRangeException>(() => parallel(w, data, g))!;
        Assert.That(actual.Message, Is.EqualTo(expected.Message));
        Assert.That(g, Is.All.EqualTo(0.0), "the gradient is cleared but nothing of the failed loop is added");
        data.X[7_000] = data.X[6_999];
        data.X[9_000] = data.X[6_999];
        Assert.That(parallel(w, data, g), Is.EqualTo(sequential(w, data, new double[4])).Within(1e-10), "the delegate works after a failure");
    }

    [TestCase(nameof(Logistic))]
    [TestCase(nameof(LogOfSum))]
    public void ChunkedKernelsOutlineTheirSumsWithTheSameResults(string model)
    {
        var f = model == nameof(Logistic) ? Logistic : LogOfSum;
        var (_, constants) = StructuralKey.Of(f, "test");
        var source = ExpressionTranslator.Translate(f, [ParameterRole.Array, ParameterRole.Data], constants);
        var inputs = source.Inputs().Select(v => source[v]).ToArray();
        var trace = DeadCodeElimination.Apply(LoopFusion.Apply(DeadCodeElimination.Apply(ReverseMode.Apply(source, (b, _) => b.Constant(1.0)))));
        var plan = LoweringPlans.Gradient(trace, inputs) with { Options = Parallel };
        GradientKernel<Dataset> Build(int chunkSize) => KernelCompiler.Compile(TraceLowering.Lower<GradientKernel<Dataset>>(
            trace, plan, chunk => KernelCompiler.Compile(chunk).Kernel, chunkSize)).Kernel;
        var data = Make(9_000, 3, seed: 17);
        var w = Weights(3);
        var expected = new double[3];
        double value = Build(1_000_000)(constants.ToArray(), w, data, expected);
        Assert.That(value, Is.EqualTo(AD.Gradient(f)(w, data, new double[3])).Within(1e-12 * Math.Abs(value)));
        foreach (var size in new[] { 1, 2, 5 })
        {
            var g = new double[3];
            long runs = ParallelSums.ParallelRuns;
            Assert.That(Build(size)(constants.ToArray(), w, data, g), Is.EqualTo(value), $"chunks of {size}");
            Assert.That(g, Is.EqualTo(expected), $"chunks of {size}");
            Assert.That(ParallelSums.ParallelRuns, Is.GreaterThan(runs), $"chunks of {size}");
        }
    }

    [Test]
    public void ASumCapturingARowReadOutsideTheLoopStaysInline()
    {
        // d.X[w.Length] is read once before the loop (hoisted) at an index computed from the point, and captured: a row
        // that is not a data read, which the worker could not re-read by itself. (d.X[3] would be one data read.)
        Expression<Func<double[], Dataset, double>> f = (w, d) => Enumerable.Range(0, d.Y.Length).Sum(i => w[0] * d.X[w.Length][i % 4] * d.Y[i] + w[1] * d.Y[i]);
        var data = Make(10_000, 4, seed: 19);
        double[] w = [0.5, -1.5];
        double value = 0, g0 = 0, g1 = 0;
        for (int i = 0; i < data.Y.Length; i++)
        {
            value += w[0] * data.X[2][i % 4] * data.Y[i] + w[1] * data.Y[i];
            g0 += data.X[2][i % 4] * data.Y[i];
            g1 += data.Y[i];
        }
        var g = new double[2];
        long runs = ParallelSums.ParallelRuns;
        Assert.That(AD.Gradient(f, Parallel)(w, data, g), Is.EqualTo(value).Within(1e-12 * Math.Max(1, Math.Abs(value))));
        Assert.That(g[0], Is.EqualTo(g0).Within(1e-12 * Math.Max(1, Math.Abs(g0))));
        Assert.That(g[1], Is.EqualTo(g1).Within(1e-12 * Math.Max(1, Math.Abs(g1))));
        Assert.That(ParallelSums.ParallelRuns, Is.EqualTo(runs), "the inline loop ran");
    }

    private const int Calls = 1000;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static double CallGradient(GradientFunc<Dataset> g, double[] w, Dataset data, double[] gradient)
    {
        double sum = 0;
        for (int i = 0; i < Calls; i++) sum += g(w, data, gradient) + gradient[0];
        return sum;
    }

    [Test]
    public void SteadyStateCallsAllocateNothing()
    {
        var gradient = AD.Gradient(Logistic, Parallel);
        var data = Make(8_192, 4, seed: 13);
        var w = Weights(4);
        var g = new double[4];
        // Warm-up (in the measurement): JIT and tiering, the thread's job and its buffer, the thread pool's helper threads.
        // The calling thread must have a run of Calls calls that allocates exactly nothing, in the quietest of up to 20
        // runs: when the pool is short of threads, the thread queueing a helper creates one, once (see
        // AllocationTests.Measure), whereas an allocation per call would be in every run. Helpers run on pool threads,
        // and other threads of the process allocate in the background (the test host, about 1.7 KB/s when idle; the JIT's
        // tiering of earlier tests' code), so the process-wide count is never exactly zero, and now and then a burst lands
        // in one run: any object allocated per call by a helper (24 bytes or more) would exceed 16 bytes a call in every run.
        long runs = ParallelSums.ParallelRuns;
        var allocations = AllocationTests.MeasureAllThreads(() => CallGradient(gradient, w, data, g), allThreadsBound: 16 * Calls);
        TestContext.Out.WriteLine($"quietest of {allocations.Runs} runs of {Calls} calls: calling thread {allocations.CallingThread} bytes, all threads {allocations.AllThreads} bytes");
        Assert.That(ParallelSums.ParallelRuns - runs, Is.EqualTo((2 + allocations.Runs) * (long)Calls), "every call ran in parallel");
        Assert.That(allocations.CallingThread, Is.Zero, "bytes allocated on the calling thread, in the quietest run");
        Assert.That(allocations.AllThreads, Is.LessThan(16 * Calls), "bytes allocated by all threads, in the quietest run");
    }

    [Test]
    public void SumsWhoseBodiesBuildArraysOrFoldStayCorrectNextToParallelOnes()
    {
        // The first sum's body builds a map and runs a fold (they need the calling thread's workspace, so it stays
        // inline); the second is an ordinary parallel sum. Both against the sequential kernel.
        Expression<Func<double[], Dataset, double>> f = (w, d) =>
            Enumerable.Range(0, d.Y.Length).Sum(i =>
                Enumerable.Range(0, w.Length).Select(j => w[j] * d.X[i][j]).ToArray()[i % w.Length]
                + Enumerable.Range(0, 3).Aggregate(d.Y[i], (s, t) => Math.Tanh(s * w[t % w.Length])))
            + Enumerable.Range(1, d.Y.Length - 1).Sum(i => Math.Log(1 + Math.Exp(-d.Y[i] * w[i % w.Length])));
        var data = Make(5_000, 4, seed: 21);
        var w = Weights(4);
        var sequential = new double[4];
        var parallel = new double[4];
        double expected = AD.Gradient(f)(w, data, sequential);
        long runs = ParallelSums.ParallelRuns;
        double actual = AD.Gradient(f, new ADOptions { ParallelLoops = true, ParallelThreshold = 64 })(w, data, parallel);
        Assert.That(ParallelSums.ParallelRuns - runs, Is.GreaterThan(0), "the second sum (and its adjoint) ran in parallel");
        Assert.That(actual, Is.EqualTo(expected).Within(1e-12 * Math.Abs(expected)));
        for (int k = 0; k < 4; k++) Assert.That(parallel[k], Is.EqualTo(sequential[k]).Within(1e-11 * (1 + Math.Abs(sequential[k]))), $"∂/∂w{k}");
    }
}
