using System.Runtime.CompilerServices;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// After warm-up, the compiled delegates allocate nothing per call: 10,000 calls leave
/// <see cref="GC.GetAllocatedBytesForCurrentThread"/> unchanged. Each measuring loop is a separate
/// non-inlined method that is run once to warm up (JIT, tiering) and then measured.
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

    /// <summary>Bytes the calling thread allocates in one run of <paramref name="loop"/>, after two warm-up runs.</summary>
    internal static long Measure(Func<double> loop)
    {
        loop(); // warm-up
        loop();
        long before = GC.GetAllocatedBytesForCurrentThread();
        double sink = loop();
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.That(double.IsFinite(sink), Is.True, "the loop computed something");
        return after - before;
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
