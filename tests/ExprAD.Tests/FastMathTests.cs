using System.Linq.Expressions;
using System.Runtime.Intrinsics;
using ExprAD.Codegen;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// <see cref="ADOptions.FastMath"/>: ExprAD's own sin, cos, exp, log and tanh against <see cref="Math"/>'s (the oracle: glibc's
/// functions through the runtime) in units in the last place, their scalar and vector forms against each other bit for bit,
/// and kernels compiled with the option against the default kernels and finite differences.
/// </summary>
[TestFixture]
public class FastMathTests
{
    private static readonly ADOptions Fast = new() { FastMath = true };

    /// <summary>The distance in units in the last place between two doubles of the same sign (0 for two NaNs).</summary>
    private static long Ulps(double a, double b)
    {
        if (a.Equals(b)) return 0;
        long p = BitConverter.DoubleToInt64Bits(a), q = BitConverter.DoubleToInt64Bits(b);
        return (p < 0) != (q < 0) ? long.MaxValue : Math.Abs(p - q);
    }

    // Bound: the most ulps from System.Math's result. tanh's is 3 because glibc's tanh is itself off by up to about 2 ulp
    // below 1 (checked in 60-digit arithmetic at the worst samples: ExprAD's was within 1 ulp of the true value there,
    // Math.Tanh 1.5-2 ulp on the other side).
    private static readonly (string Name, Func<double, double> Fast, Func<Vector256<double>, Vector256<double>> Lanes, Func<double, double> Exact, int Bound)[] Functions =
    [
        ("sin", FastMathRuntime.Sin, FastMathRuntime.Sin, Math.Sin, 1),
        ("cos", FastMathRuntime.Cos, FastMathRuntime.Cos, Math.Cos, 1),
        ("exp", FastMathRuntime.Exp, FastMathRuntime.Exp, Math.Exp, 1),
        ("log", FastMathRuntime.Log, FastMathRuntime.Log, Math.Log, 1),
        ("tanh", FastMathRuntime.Tanh, FastMathRuntime.Tanh, Math.Tanh, 3),
    ];

    // Samples: uniform over [lo, hi], or 10^u with u uniform over [lo, hi] (log-uniform), with random signs when asked.
    [TestCase("sin", -1.0, 1.0, false)]
    [TestCase("sin", -10.0, 10.0, false)]
    [TestCase("sin", -3e7, 3e7, false)]
    [TestCase("sin", -300.0, 1.0, true)]
    [TestCase("cos", -1.0, 1.0, false)]
    [TestCase("cos", -10.0, 10.0, false)]
    [TestCase("cos", -3e7, 3e7, false)]
    [TestCase("cos", -300.0, 1.0, true)]
    [TestCase("exp", -1.0, 1.0, false)]
    [TestCase("exp", -745.0, 710.0, false)]
    [TestCase("exp", -300.0, 0.0, true)]
    [TestCase("log", 0.0, 2.0, false)]
    [TestCase("log", 0.999, 1.001, false)]
    [TestCase("log", -320.0, 308.0, true)]
    [TestCase("tanh", -1.0, 1.0, false)]
    [TestCase("tanh", -25.0, 25.0, false)]
    [TestCase("tanh", -300.0, 1.5, true)]
    public void WithinTheBoundOfSystemMathAndTheSameInEveryLane(string name, double lo, double hi, bool logUniform)
    {
        var (_, fast, lanes, exact, bound) = Functions.Single(f => f.Name == name);
        var random = new Random(20261206);
        double Sample()
        {
            if (!logUniform) return lo + (hi - lo) * random.NextDouble();
            double x = Math.Pow(10, lo + (hi - lo) * random.NextDouble());
            return name == "log" || random.Next(2) == 0 ? x : -x;
        }
        long worst = 0;
        double worstAt = 0;
        for (int i = 0; i < 200_000; i++)
        {
            double x = Sample(), y = Sample();
            double fx = fast(x);
            long ulps = Ulps(fx, exact(x));
            if (ulps > worst) (worst, worstAt) = (ulps, x);
            // A vector whose other lanes are arbitrary (and may take the slow path) gives each lane the scalar form's bits.
            var v = lanes(Vector256.Create(x, y, -x, 2 * y));
            Assert.That(BitConverter.DoubleToInt64Bits(v[0]), Is.EqualTo(BitConverter.DoubleToInt64Bits(fx)), $"{name}({x:R}) lane 0");
            Assert.That(BitConverter.DoubleToInt64Bits(v[1]), Is.EqualTo(BitConverter.DoubleToInt64Bits(fast(y))), $"{name}({y:R}) lane 1");
            Assert.That(BitConverter.DoubleToInt64Bits(v[2]), Is.EqualTo(BitConverter.DoubleToInt64Bits(fast(-x))), $"{name}({-x:R}) lane 2");
            Assert.That(BitConverter.DoubleToInt64Bits(v[3]), Is.EqualTo(BitConverter.DoubleToInt64Bits(fast(2 * y))), $"{name}({2 * y:R}) lane 3");
        }
        Assert.That(worst, Is.LessThanOrEqualTo(bound), $"{name}: {worst} ulps from Math at {worstAt:R}");
    }

    /// <summary>Near multiples of π/2, where the reduced argument of sin and cos is tiny and its relative error matters.</summary>
    [Test]
    public void SinAndCosNearMultiplesOfHalfPi()
    {
        var random = new Random(7);
        for (int i = 0; i < 100_000; i++)
        {
            double x = random.Next(-200_000, 200_000) * (Math.PI / 2);
            foreach (var y in new[] { Math.BitDecrement(x), x, Math.BitIncrement(x) })
            {
                Assert.That(Ulps(FastMathRuntime.Sin(y), Math.Sin(y)), Is.LessThanOrEqualTo(1), $"sin({y:R})");
                Assert.That(Ulps(FastMathRuntime.Cos(y), Math.Cos(y)), Is.LessThanOrEqualTo(1), $"cos({y:R})");
            }
        }
    }

    /// <summary>Zeros, infinities, NaN, huge and subnormal arguments, and the ends of exp's and log's ranges: C#'s bits.</summary>
    [Test]
    public void SpecialValuesAreSystemMathsBitForBit()
    {
        double[] specials = [0.0, -0.0, double.NaN, double.PositiveInfinity, double.NegativeInfinity, double.Epsilon, -double.Epsilon,
            1e-310, 2.2250738585072014E-308, 1e300, -1e300, 3.4e7, -5e10, 709.0, 709.79, 710.0, -708.5, -745.2, -746.0, double.MaxValue, -1.0,
            19.1, 22.0, -22.0, 22.5, -23.0];
        foreach (var (name, fast, lanes, exact, bound) in Functions)
            foreach (var x in specials)
            {
                long expected = BitConverter.DoubleToInt64Bits(exact(x));
                // Special values are exact in System.Math; the ordinary ones among them may differ by an ulp.
                bool special = double.IsNaN(exact(x)) || double.IsInfinity(exact(x)) || exact(x) == 0 || double.IsInfinity(x) || double.IsNaN(x);
                if (special)
                {
                    Assert.That(BitConverter.DoubleToInt64Bits(fast(x)), Is.EqualTo(expected), $"{name}({x:R})");
                    Assert.That(BitConverter.DoubleToInt64Bits(lanes(Vector256.Create(x))[0]), Is.EqualTo(expected), $"{name}({x:R}) in a vector");
                }
                else Assert.That(Ulps(fast(x), exact(x)), Is.LessThanOrEqualTo(bound), $"{name}({x:R})");
            }
        Assert.That(BitConverter.DoubleToInt64Bits(FastMathRuntime.Sin(-0.0)), Is.EqualTo(BitConverter.DoubleToInt64Bits(-0.0)), "sin(-0) is -0");
        Assert.That(FastMathRuntime.Exp(0), Is.EqualTo(1.0));
        Assert.That(FastMathRuntime.Log(1), Is.EqualTo(0.0));
    }

    [Test]
    public void IntegerPowersAreRepeatedProducts()
    {
        foreach (var u in new[] { -1.7, 0.3, 3.0, 1e-40, -1e40, 0.0, -0.0 })
            for (int k = -8; k <= 8; k++)
            {
                if (k == 0) continue;
                double expected = u;
                for (int j = 1; j < Math.Abs(k); j++) expected *= u;
                if (k < 0) expected = 1 / expected;
                Assert.That(FastMathRuntime.Power(u, k), Is.EqualTo(expected).Within(4).Ulps, $"{u}^{k}");
                if (double.IsInfinity(Math.Pow(u, k)) || Math.Pow(u, k) == 0)
                    Assert.That(BitConverter.DoubleToInt64Bits(FastMathRuntime.Power(u, k)), Is.EqualTo(BitConverter.DoubleToInt64Bits(Math.Pow(u, k))), $"{u}^{k}: C#'s infinity or signed zero");
                Assert.That(BitConverter.DoubleToInt64Bits(FastMathRuntime.Power(Vector256.Create(u), k)[2]),
                    Is.EqualTo(BitConverter.DoubleToInt64Bits(FastMathRuntime.Power(u, k))), $"{u}^{k} in a vector");
            }
    }

    /// <summary>
    /// The option changes the kernel: in a vectorised loop (blocks and remainder) the default computes Math's bits, fast math
    /// ExprAD's; scalar code elsewhere keeps Math's functions (as fast one at a time). Each kernel is cached on its own.
    /// </summary>
    [Test]
    public void TheOptionIsPartOfTheKernel()
    {
        Expression<Func<double[], double>> f = x => x.Sum(v => Math.Sin(v));
        var exact = AD.Gradient(f);
        var fast = AD.Gradient(f, Fast);
        var straightLine = AD.Value(x => Math.Sin(x[0]) + Math.Exp(x[1]), Fast);
        var random = new Random(3);
        int differ = 0;
        for (int k = 0; k < 200; k++)
        {
            var x = Enumerable.Range(0, 11).Select(_ => 10 * random.NextDouble()).ToArray();
            var g = new double[11];
            var h = new double[11];
            exact(x, g);
            fast(x, h);
            for (int i = 0; i < x.Length; i++)
            {
                Assert.That(g[i], Is.EqualTo(Math.Cos(x[i])), "default: Math's cosine");
                Assert.That(h[i], Is.EqualTo(FastMathRuntime.Cos(x[i])), $"fast math: ExprAD's cosine, element {i}");
                if (g[i] != h[i]) differ++;
            }
            Assert.That(straightLine(x), Is.EqualTo(Math.Sin(x[0]) + Math.Exp(x[1])), "fast math, straight-line code: Math's functions");
        }
        Assert.That(differ, Is.GreaterThan(0), "the two kernels differ somewhere, so neither was served for the other");
    }

    private static readonly Expression<Func<double[], double>>[] Objectives =
    [
        x => Enumerable.Range(0, x.Length).Sum(i => Math.Sin(x[i]) * Math.Cos(0.5 * x[i]) + Math.Exp(-x[i] * x[i]) + Math.Log(1 + x[i] * x[i])),
        x => Enumerable.Range(0, x.Length).Sum(i => Math.Pow(x[i] - Math.Cos(x[i]), 2) + Math.Pow(x[i], 3) / 7 + Math.Pow(x[i] + 1, 8) / 100 + Math.Pow(x[i] + 2, -2)),
        // The MGH trigonometric function: a sum's value captured by an inner sum, whose fused forward and adjoint loop sums and scatters.
        x => new[] { Enumerable.Range(0, x.Length).Sum(j => Math.Cos(x[j])) }.Sum(c =>
            Enumerable.Range(0, x.Length).Sum(i => Math.Pow(x.Length - c + (i + 1) * (1 - Math.Cos(x[i])) - Math.Sin(x[i]), 2))),
        x => Math.Log(Enumerable.Range(0, x.Length).Sum(i => Math.Exp(x[i]))) + Math.Sin(x[0]) * Math.Cos(x[x.Length - 1]),
        x => Enumerable.Range(0, x.Length).Sum(i => Math.Tanh(3 * x[i] - 0.5) * Math.Tanh(x[i] * x[i])),
    ];

    /// <summary>
    /// Gradients compiled with fast math agree with the default kernels to about 1e-13 relative and with central differences,
    /// for every trip count from 0 to 13 (vector blocks and every remainder length).
    /// </summary>
    [Test]
    public void GradientsAgreeWithTheDefaultKernelsAndDifferences([Range(0, 4)] int which)
    {
        var f = Objectives[which];
        var exact = AD.Gradient(f);
        var fast = AD.Gradient(f, Fast);
        var random = new Random(which);
        for (int n = which == 3 ? 1 : 0; n <= 13; n++)
        {
            var x = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 1.6 - 0.8).ToArray();
            var g = new double[n];
            var h = new double[n];
            double a = exact(x, g), b = fast(x, h);
            Assert.That(b, Is.EqualTo(a).Within(1e-13 * (1 + Math.Abs(a))), $"n = {n}: value");
            for (int i = 0; i < n; i++)
            {
                Assert.That(h[i], Is.EqualTo(g[i]).Within(1e-12 * (1 + Math.Abs(g[i]))), $"n = {n}: ∂/∂x[{i}]");
                var (p, q) = ((double[])x.Clone(), (double[])x.Clone());
                p[i] += 1e-6;
                q[i] -= 1e-6;
                double difference = (fast(p, new double[n]) - fast(q, new double[n])) / 2e-6;
                Assert.That(h[i], Is.EqualTo(difference).Within(1e-6 * (1 + Math.Abs(difference))), $"n = {n}: ∂/∂x[{i}] against differences");
            }
        }
    }

    /// <summary>
    /// Second order under fast math: Hessian-vector products (forward over reverse, whose tangent loops carry sin and cos
    /// too) and dense Hessians agree with the default kernels.
    /// </summary>
    [Test]
    public void SecondOrderKernelsAgreeWithTheDefaultKernels([Range(0, 4)] int which)
    {
        var f = Objectives[which];
        var random = new Random(40 + which);
        int n = 9;
        var x = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 1.6 - 0.8).ToArray();
        var v = Enumerable.Range(0, n).Select(_ => random.NextDouble() - 0.5).ToArray();
        double[] g1 = new double[n], g2 = new double[n], hv1 = new double[n], hv2 = new double[n], h1 = new double[n * n], h2 = new double[n * n];
        AD.HessianVector(f)(x, v, g1, hv1);
        AD.HessianVector(f, Fast)(x, v, g2, hv2);
        AD.Hessian(f)(x, g1, h1);
        AD.Hessian(f, Fast)(x, g2, h2);
        for (int i = 0; i < n; i++)
            Assert.That(hv2[i], Is.EqualTo(hv1[i]).Within(1e-12 * (1 + Math.Abs(hv1[i]))), $"(Hv)[{i}]");
        for (int i = 0; i < n * n; i++)
            Assert.That(h2[i], Is.EqualTo(h1[i]).Within(1e-12 * (1 + Math.Abs(h1[i]))), $"H[{i / n}, {i % n}]");
    }

    /// <summary>
    /// An element's derivative is the same bits whether it falls in a vector block or in the loop's scalar remainder: the
    /// gradient of a separable function at x rotated by three equals x's gradient rotated by three (n = 11: elements 8-10
    /// move from the remainder into a block, 0-2 the other way).
    /// </summary>
    [Test]
    public void AnElementGetsTheSameBitsInAVectorBlockAndInTheRemainder()
    {
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length).Sum(i => Math.Sin(x[i]) * Math.Exp(0.1 * x[i]) + Math.Pow(Math.Log(2 + x[i]), 2));
        var gradient = AD.Gradient(f, Fast);
        Assert.That(FastCalls(f, Fast), Is.GreaterThan(0), "the loop runs ExprAD's functions four at a time");
        Assert.That(FastCalls(f, Fast with { VectorLoops = false }), Is.Zero);
        var random = new Random(5);
        for (int k = 0; k < 100; k++)
        {
            const int n = 11;
            var x = Enumerable.Range(0, n).Select(_ => 4 * random.NextDouble() - 1.5).ToArray();
            var rotated = Enumerable.Range(0, n).Select(j => x[(j + 3) % n]).ToArray();
            var g = new double[n];
            var h = new double[n];
            gradient(x, g);
            gradient(rotated, h);
            for (int j = 0; j < n; j++)
                Assert.That(BitConverter.DoubleToInt64Bits(h[j]), Is.EqualTo(BitConverter.DoubleToInt64Bits(g[(j + 3) % n])), $"∂/∂x[{(j + 3) % n}]");
        }
    }

    /// <summary>A sum of fewer than eight terms keeps one accumulator (lane partials would cost more than they save).</summary>
    [Test]
    public void ShortSumsAddInOrder()
    {
        var value = AD.Value(x => x.Sum(v => v * v), Fast);
        var random = new Random(9);
        for (int n = 0; n < 8; n++)
            for (int k = 0; k < 50; k++)
            {
                var x = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 1e3 - 5e2).ToArray();
                double expected = 0;
                foreach (var v in x) expected += v * v;
                Assert.That(value(x), Is.EqualTo(expected), $"n = {n}");
            }
    }

    /// <summary>
    /// With parallel loops too: each block keeps its lane partials, the blocks are added in block order, so the result is
    /// the same bits on every call and within rounding of the sequential fast-math kernel.
    /// </summary>
    [Test]
    public void ParallelFastMathSumsAreReproducible()
    {
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length).Sum(i => Math.Exp(Math.Sin(x[i])) * Math.Log(2 + x[i] * x[i]));
        var parallel = AD.Gradient(f, Fast with { ParallelLoops = true, ParallelThreshold = 64 });
        var sequential = AD.Gradient(f, Fast);
        var x = Enumerable.Range(0, 5003).Select(i => Math.Sin(0.37 * i)).ToArray();
        double[] g = new double[x.Length], h = new double[x.Length], k = new double[x.Length];
        double a = parallel(x, g), b = parallel(x, h), c = sequential(x, k);
        Assert.That(BitConverter.DoubleToInt64Bits(a), Is.EqualTo(BitConverter.DoubleToInt64Bits(b)), "the same bits on every call");
        Assert.That(a, Is.EqualTo(c).Within(1e-12 * Math.Abs(c)));
        for (int i = 0; i < x.Length; i++)
        {
            Assert.That(BitConverter.DoubleToInt64Bits(g[i]), Is.EqualTo(BitConverter.DoubleToInt64Bits(h[i])), $"∂/∂x[{i}] from call to call");
            Assert.That(BitConverter.DoubleToInt64Bits(g[i]), Is.EqualTo(BitConverter.DoubleToInt64Bits(k[i])), $"∂/∂x[{i}]: elementwise, so no reordering");
        }
    }

    /// <summary>Without fast math, a loop that sums or calls sin stays scalar (its results are C#'s bits).</summary>
    [Test]
    public void WithoutTheOptionSumsAndFunctionsStayScalar()
    {
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length).Sum(i => Math.Sin(x[i]) * x[i]);
        Assert.That(FastCalls(f, ADOptions.Default), Is.Zero);
        Assert.That(FastCalls(f, Fast), Is.GreaterThan(0));
    }

    /// <summary>A huge or NaN element in a vector block takes System.Math's value for that element alone.</summary>
    [Test]
    public void SlowLanesInAKernelGiveSystemMathsSpecialValues()
    {
        var value = AD.Value(x => Enumerable.Range(0, x.Length).Select(i => Math.Sin(x[i])).ToArray().Sum(s => s * 0 + s), Fast);
        var gradient = AD.Gradient(x => Enumerable.Range(0, x.Length).Sum(i => Math.Sin(x[i])), Fast);
        var x = new[] { 0.5, 1e300, 0.25, -2.0, 0.75 };
        var g = new double[x.Length];
        gradient(x, g);
        Assert.That(g[1], Is.EqualTo(Math.Cos(1e300)), "cos(1e300) from the slow path");
        for (int i = 0; i < x.Length; i++)
            Assert.That(Ulps(g[i], Math.Cos(x[i])), Is.LessThanOrEqualTo(1), $"∂/∂x[{i}]");
        Assert.That(value([0.5, double.NaN, 0.25, 1.0]), Is.NaN);
        Assert.That(gradient([0.5, double.PositiveInfinity, 0.25, 1.0], new double[4]), Is.NaN);
    }

    [Test]
    public void FastKernelsAllocateNothingPerCall()
    {
        var gradient = AD.Gradient(Objectives[2], Fast);
        var x = Enumerable.Range(0, 1001).Select(i => 1e-3 + 1e-5 * i).ToArray();
        var g = new double[x.Length];
        for (int k = 0; k < 5; k++) gradient(x, g);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int k = 0; k < 100; k++) gradient(x, g);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    /// <summary>
    /// A vector with a lane on the slow path (System.Math lane by lane) allocates nothing either. The fewest bytes of five
    /// rounds: the first round after start-up may see the JIT's own one-off allocations (1,992 bytes once, measured).
    /// </summary>
    [Test]
    public void SlowLanesAllocateNothing()
    {
        var v = Vector256.Create(1e300, 0.5, double.NaN, -3.0);
        double sink = 0;
        long fewest = long.MaxValue;
        for (int round = 0; round < 5; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++)
                foreach (var (_, _, lanes, _, _) in Functions) sink += lanes(v)[1];
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.That(fewest, Is.Zero, $"(sum {sink})");
    }

    /// <summary>Calls of FastMathRuntime's vector forms and VectorRuntime.Sum in the lowered gradient kernel of <paramref name="f"/>.</summary>
    private static int FastCalls(Expression<Func<double[], double>> f, ADOptions options) =>
        LoweredKernels.Calls(LoweredKernels.Gradient(f, options), m => m.DeclaringType == typeof(FastMathRuntime) && m.ReturnType == typeof(Vector256<double>)
            || m.DeclaringType == typeof(VectorRuntime) && m.Name == nameof(VectorRuntime.Sum));
}
