using System.Runtime.CompilerServices;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// After warm-up, the compiled delegates allocate nothing per call: 10,000 calls leave
/// <see cref="GC.GetAllocatedBytesForCurrentThread"/> unchanged. Each measuring loop is a separate
/// non-inlined method that is run twice to warm up (JIT, tiering) and then measured (<see cref="Measure"/>).
/// </summary>
[TestFixture, NonParallelizable]
public class AllocationTests
{
    private const int Calls = 10_000;

    public sealed class Model
    {
        public double Scale = 2;
        public int Count { get; set; } = 3;
        public bool Flip;
        public double[] Weights = { 0.5, -1.5, 2 };
        public double[][] Table = { new[] { 1.0 }, new[] { 2.0, 3.0 } };
    }

    public struct Settings
    {
        public double Scale;
        public int Count;
    }

    /// <summary>The most measured runs of a loop; a measurement stops at the first quiet one.</summary>
    internal const int MaxRuns = 20;

    /// <summary>What <see cref="MeasureAllThreads"/> found.</summary>
    /// <param name="CallingThread">Bytes the calling thread allocated in its quietest run.</param>
    /// <param name="AllThreads">Bytes all threads of the process allocated in their quietest run.</param>
    /// <param name="Runs">How many runs were measured (1 to <see cref="MaxRuns"/>).</param>
    internal readonly record struct Allocations(long CallingThread, long AllThreads, int Runs);

    /// <summary>
    /// Bytes the calling thread allocates in one run of <paramref name="loop"/>, after two warm-up runs: the fewest of
    /// up to <see cref="MaxRuns"/> runs, stopping at the first run that allocates nothing.
    /// </summary>
    /// <remarks>
    /// Why the fewest and not the first: the runtime now and then allocates on whatever thread happens to need
    /// something, once, not per call. Measured here: when the thread pool has fewer threads than it wants (its idle
    /// threads retire after 20 s, for example during a long single-threaded test), the thread that queues a work item
    /// creates the new pool thread itself, 136 bytes on its own count. A parallel kernel's caller queues its helpers,
    /// so such a run is not zero although no call allocated anything: after 25 s idle, runs of 1,000 parallel calls
    /// measured 136, 24, 0, 0 bytes. (ParallelLoopTests.SteadyStateCallsAllocateNothing asserted zero on every run it
    /// made and failed 2 of 7 full runs on a 2-core machine.) A delegate that allocates per call, or every few calls,
    /// allocates in every run (at least 24 bytes an object), so the fewest is not zero and the test fails as before
    /// (<see cref="MeasureSeesAnAllocationInEveryRun"/>): only an allocation that happens in one run and not in a later
    /// one is forgiven, which is what steady state means. Nothing is asserted during the runs (an NUnit assertion
    /// allocates).
    /// </remarks>
    internal static long Measure(Func<double> loop) => MeasureRuns(loop, allThreadsBound: null).CallingThread;

    /// <summary>
    /// <see cref="Measure"/>, also counting the bytes all threads allocate in a run (<see cref="GC.GetTotalAllocatedBytes"/>,
    /// precise), for kernels whose work runs on other threads too; the runs go on until the calling thread has had a run
    /// of 0 bytes and the process a run of fewer than <paramref name="allThreadsBound"/> bytes (or
    /// <see cref="MaxRuns"/> runs). The process-wide count is never exactly zero: the test host and the JIT's background
    /// tiering allocate on their own threads, at any time.
    /// </summary>
    internal static Allocations MeasureAllThreads(Func<double> loop, long allThreadsBound) => MeasureRuns(loop, allThreadsBound);

    private static Allocations MeasureRuns(Func<double> loop, long? allThreadsBound)
    {
        double sink = loop() + loop(); // warm-up: JIT, tiering, static and per-thread state, buffers
        long callingThread = long.MaxValue, allThreads = long.MaxValue;
        int runs = 0;
        while (runs < MaxRuns && (callingThread != 0 || allThreadsBound is { } bound && allThreads >= bound))
        {
            long beforeAll = allThreadsBound is null ? 0 : GC.GetTotalAllocatedBytes(precise: true);
            long before = GC.GetAllocatedBytesForCurrentThread();
            sink += loop();
            long after = GC.GetAllocatedBytesForCurrentThread();
            long afterAll = allThreadsBound is null ? 0 : GC.GetTotalAllocatedBytes(precise: true);
            callingThread = Math.Min(callingThread, after - before);
            allThreads = Math.Min(allThreads, afterAll - beforeAll);
            runs++;
        }
        Assert.That(double.IsFinite(sink), Is.True, "the loop computed something");
        return new Allocations(callingThread, allThreads, runs);
    }

    private static object? _escape;

    [Test]
    public void MeasureSeesAnAllocationInEveryRun()
    {
        // The control: what the retries forgive is one-off. An object per call, or one per run of a loop, is seen.
        Assert.That(Measure(() =>
        {
            double sum = 0;
            for (int i = 0; i < 20; i++) _escape = new double[1];
            return sum;
        }), Is.GreaterThanOrEqualTo(20 * 24));
        Assert.That(Measure(() =>
        {
            _escape = new object();
            return 0;
        }), Is.GreaterThanOrEqualTo(24));
        Assert.That(Measure(() => 0), Is.Zero);
        var both = MeasureAllThreads(() =>
        {
            _escape = new object();
            return 0;
        }, allThreadsBound: 1 << 20);
        Assert.That(both.CallingThread, Is.GreaterThanOrEqualTo(24));
        Assert.That(both.Runs, Is.EqualTo(MaxRuns), "no run was quiet");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static double CallGradient(GradientFunc g, double[] x, double[] gradient)
    {
        double sum = 0;
        for (int i = 0; i < Calls; i++) sum += g(x, gradient) + gradient[0];
        return sum;
    }

    [Test]
    public void GradientFuncAllocatesNothing()
    {
        var g = AD.Gradient(x => Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]));
        var x = new double[] { 2, 5 };
        var gradient = new double[2];
        Assert.That(Measure(() => CallGradient(g, x, gradient)), Is.Zero);
    }

    [Test]
    public void GradientFuncWithSparseInputsAndConditionalsAllocatesNothing()
    {
        // Entries 0, 2 and 4 are not read (so the gradient is cleared), and a select and max are in the trace.
        var g = AD.Gradient(x => x[5] > 0 ? Math.Max(x[1], x[3]) * x[5] : Math.Exp(x[3]));
        var x = new double[] { 9, 1, 9, 2, 9, 3 };
        var gradient = new double[6];
        Assert.That(Measure(() => CallGradient(g, x, gradient)), Is.Zero);
    }

    [Test]
    public void GradientFuncReadingCapturedValuesAllocatesNothing()
    {
        double scale = 3;
        int count = 2;
        var weights = new[] { 1.0, 2.0 };
        var g = AD.Gradient(x => scale * x[0] + count * weights[1] * x[1] * x[1]);
        var x = new double[] { 1, 2 };
        var gradient = new double[2];
        Assert.That(Measure(() => CallGradient(g, x, gradient)), Is.Zero);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static double CallDataGradient<T>(GradientFunc<T> g, double[] x, T data, double[] gradient)
    {
        double sum = 0;
        for (int i = 0; i < Calls; i++) sum += g(x, data, gradient) + gradient[0];
        return sum;
    }

    [Test]
    public void DataGradientFuncWithClassDataAllocatesNothing()
    {
        var g = AD.Gradient<Model>((w, d) =>
            d.Scale * w[0] * w[0] + d.Count * w[1] + (d.Flip ? -1 : 1) * d.Weights[2] * w[2] + d.Table[1][0] * w[0] * w[2]);
        var model = new Model();
        var x = new double[] { 1, 2, 3 };
        var gradient = new double[3];
        Assert.That(Measure(() => CallDataGradient(g, x, model, gradient)), Is.Zero);
    }

    [Test]
    public void DataGradientFuncWithStructDataAllocatesNothing()
    {
        var g = AD.Gradient<Settings>((w, d) => d.Scale * Math.Sin(w[0]) + d.Count * w[1]);
        var settings = new Settings { Scale = 2, Count = 3 };
        var x = new double[] { 1, 2 };
        var gradient = new double[2];
        Assert.That(Measure(() => CallDataGradient(g, x, settings, gradient)), Is.Zero);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static double CallJvp(DirectionalDerivativeFunc f, double[] x, double[] direction)
    {
        double sum = 0;
        for (int i = 0; i < Calls; i++) sum += f(x, direction, out double d) + d;
        return sum;
    }

    [Test]
    public void DirectionalDerivativeFuncAllocatesNothing()
    {
        var jvp = AD.Jvp(x => Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]));
        var x = new double[] { 2, 5 };
        var direction = new double[] { 1, 0 };
        Assert.That(Measure(() => CallJvp(jvp, x, direction)), Is.Zero);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static double CallHessianVector(HessianVectorFunc f, double[] x, double[] v, double[] gradient, double[] hv)
    {
        double sum = 0;
        for (int i = 0; i < Calls; i++) sum += f(x, v, gradient, hv);
        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static double CallHessian(HessianFunc f, double[] x, double[] gradient, double[] hessian)
    {
        double sum = 0;
        for (int i = 0; i < Calls; i++) sum += f(x, gradient, hessian);
        return sum;
    }

    [Test]
    public void SecondOrderDelegatesAllocateNothing()
    {
        // A loop (adjoint loop, scatter-adds into the gradient and its tangent) and a fold (tape) in one function.
        System.Linq.Expressions.Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length - 1).Sum(i => Math.Exp(x[i] * x[i + 1]))
            + Enumerable.Range(0, x.Length).Aggregate(0.5, (s, i) => Math.Sin(s * x[i]));
        var x = new double[] { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1 };
        var v = x.Select(e => 1 - e).ToArray();
        var gradient = new double[x.Length];
        var hv = new double[x.Length];
        var hessian = new double[x.Length * x.Length];
        var hvp = AD.HessianVector(f);
        var dense = AD.Hessian(f);
        Assert.That(Measure(() => CallHessianVector(hvp, x, v, gradient, hv)), Is.Zero, "HessianVectorFunc");
        Assert.That(Measure(() => CallHessian(dense, x, gradient, hessian)), Is.Zero, "HessianFunc");
    }

    /// <summary>Sparse Hessians and Jacobians (and a dense Hessian found by compression) allocate nothing once their pattern is known.</summary>
    [Test]
    public void SparseDerivativesAllocateNothing()
    {
        System.Linq.Expressions.Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length - 1)
            .Sum(i => 100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (1 - x[i]) * (1 - x[i]));
        System.Linq.Expressions.Expression<Func<double[], double[]>> residual = x => Enumerable.Range(0, x.Length)
            .Select(i => x[i] * x[i] - x[(i + 1) % x.Length] + Math.Sin(x[(i + x.Length - 1) % x.Length])).ToArray();
        var x = new double[] { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1 };
        var gradient = new double[x.Length];
        var sparse = AD.SparseHessian(f);
        var values = new double[sparse.Pattern(x.Length).NonZeros];
        var dense = AD.Hessian(f);
        var hessian = new double[x.Length * x.Length];
        var jacobian = AD.SparseJacobian(residual);
        var entries = new double[jacobian.Pattern(x.Length).NonZeros];
        var r = new double[x.Length];
        Assert.That(Measure(() => { double s = 0; for (int i = 0; i < Calls; i++) s += sparse.Evaluate(x, gradient, values); return s; }), Is.Zero, "SparseHessianFunc");
        Assert.That(Measure(() => CallHessian(dense, x, gradient, hessian)), Is.Zero, "HessianFunc by compression");
        Assert.That(Measure(() => { for (int i = 0; i < Calls; i++) jacobian.Evaluate(x, r, entries); return r[0]; }), Is.Zero, "SparseJacobianFunc");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static double CallScalar(Func<double, double> f)
    {
        double sum = 0;
        for (int i = 0; i < Calls; i++) sum += f(0.5 + i * 1e-5);
        return sum;
    }

    [Test]
    public void DerivativeDelegateAllocatesNothing()
    {
        var d1 = AD.Derivative(x => Math.Sin(x) * Math.Exp(-x * x));
        Assert.That(Measure(() => CallScalar(d1)), Is.Zero);
    }

    [Test]
    public void SecondDerivativeDelegateAllocatesNothing()
    {
        var d2 = AD.Derivative(x => Math.Atan(x) / (1 + x * x), 2);
        Assert.That(Measure(() => CallScalar(d2)), Is.Zero);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static double CallScalarGradients(
        Func<double, (double Value, double D1)> g1,
        Func<double, double, (double Value, double D1, double D2)> g2,
        Func<double, double, double, (double Value, double D1, double D2, double D3)> g3,
        Func<double, double, double, double, (double Value, double D1, double D2, double D3, double D4)> g4)
    {
        double sum = 0;
        for (int i = 0; i < Calls; i++)
        {
            var a = g1(1.5);
            var b = g2(2, 5);
            var c = g3(1, 2, 3);
            var d = g4(1, 2, 3, 4);
            sum += a.D1 + b.D2 + c.D3 + d.D4;
        }
        return sum;
    }

    [Test]
    public void ScalarGradientDelegatesAllocateNothing()
    {
        var g1 = AD.Gradient((double a) => Math.Sqrt(a) * a);
        var g2 = AD.Gradient((double a, double b) => Math.Log(a) + a * b - Math.Sin(b));
        var g3 = AD.Gradient((double a, double b, double c) => a * b * c);
        var g4 = AD.Gradient((double a, double b, double c, double d) => Math.Pow(a, b) + c / d);
        Assert.That(Measure(() => CallScalarGradients(g1, g2, g3, g4)), Is.Zero);
    }
}
