using System.Diagnostics;
using System.Linq.Expressions;
using ExprAD.Caching;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// The kernel cache (keyed by the lambda's structure) and closures: captured variables and
/// arrays are read when the delegate is called, never baked into a cached kernel, while
/// literal constants are part of the shape and so never shared between different values.
/// </summary>
/// <remarks>
/// The cache counters are process-wide, so these tests must not overlap with other tests that compile.
/// The constants in the shapes (1234.5678, 8765.4321, ...) are chosen so that no other test uses the same shape.
/// </remarks>
[TestFixture, NonParallelizable]
public class CacheAndClosureTests
{
    [Test]
    public void SameLambdaWrittenTwiceHitsTheCache()
    {
        long misses0 = KernelCache.Misses, hits0 = KernelCache.Hits;
        int count0 = KernelCache.Count;

        var first = AD.Gradient(x => Math.Cosh(x[0]) * 1234.5678 + x[1] * x[0]);
        long misses1 = KernelCache.Misses, hits1 = KernelCache.Hits;

        var second = AD.Gradient(x => Math.Cosh(x[0]) * 1234.5678 + x[1] * x[0]);
        long misses2 = KernelCache.Misses, hits2 = KernelCache.Hits;

        Assert.Multiple(() =>
        {
            Assert.That(misses1 - misses0, Is.EqualTo(1), "the first request of a new shape compiles");
            Assert.That(hits1 - hits0, Is.EqualTo(0));
            Assert.That(KernelCache.Count - count0, Is.EqualTo(1), "one new entry");
            Assert.That(misses2 - misses1, Is.EqualTo(0), "the second request must not compile");
            Assert.That(hits2 - hits1, Is.EqualTo(1), "the second request is a hit");
            Assert.That(AD.GetCompilationInfo(second), Is.Not.Null);
            Assert.That(AD.GetCompilationInfo(second), Is.SameAs(AD.GetCompilationInfo(first)));
        });

        var g1 = new double[2];
        var g2 = new double[2];
        double v1 = first(new double[] { 0.5, 2 }, g1);
        double v2 = second(new double[] { 0.5, 2 }, g2);
        Assert.Multiple(() =>
        {
            Assert.That(v1, Is.EqualTo(Math.Cosh(0.5) * 1234.5678 + 1.0).Within(1e-9));
            Assert.That(v2, Is.EqualTo(v1));
            Assert.That(g1[0], Is.EqualTo(Math.Sinh(0.5) * 1234.5678 + 2).Within(1e-9));
            Assert.That(g1[1], Is.EqualTo(0.5).Within(1e-15));
            Assert.That(g2, Is.EqualTo(g1));
        });
    }

    [Test]
    public void EveryEntryPointCachesItsOwnKernel()
    {
        // The same lambda asked for a gradient and for a JVP needs two kernels; asking again hits each.
        Expression<Func<double[], double>> f = x => Math.Sinh(x[0]) * 8765.4321;
        long misses0 = KernelCache.Misses;
        var gradient = AD.Gradient(f);
        var jvp = AD.Jvp(f);
        long misses1 = KernelCache.Misses, hits1 = KernelCache.Hits;
        var gradientAgain = AD.Gradient(f);
        var jvpAgain = AD.Jvp(f);
        Assert.Multiple(() =>
        {
            Assert.That(misses1 - misses0, Is.EqualTo(2));
            Assert.That(KernelCache.Misses - misses1, Is.EqualTo(0));
            Assert.That(KernelCache.Hits - hits1, Is.EqualTo(2));
            Assert.That(AD.GetCompilationInfo(gradientAgain), Is.SameAs(AD.GetCompilationInfo(gradient)));
            Assert.That(AD.GetCompilationInfo(jvpAgain), Is.SameAs(AD.GetCompilationInfo(jvp)));
            Assert.That(AD.GetCompilationInfo(jvp), Is.Not.SameAs(AD.GetCompilationInfo(gradient)));
        });
        var g = new double[1];
        gradient(new double[] { 0.25 }, g);
        jvp(new double[] { 0.25 }, new double[] { 1 }, out double d);
        Assert.That(g[0], Is.EqualTo(Math.Cosh(0.25) * 8765.4321).Within(1e-9));
        Assert.That(d, Is.EqualTo(g[0]).Within(1e-9));
    }

    [Test]
    public void DerivativeOrdersAreCachedSeparately()
    {
        var first = AD.Derivative(x => Math.Sin(x) * 4242.25, 1);
        var second = AD.Derivative(x => Math.Sin(x) * 4242.25, 2);
        Assert.That(AD.GetCompilationInfo(second), Is.Not.SameAs(AD.GetCompilationInfo(first)));
        Assert.That(first(0.3), Is.EqualTo(Math.Cos(0.3) * 4242.25).Within(1e-9));
        Assert.That(second(0.3), Is.EqualTo(-Math.Sin(0.3) * 4242.25).Within(1e-9));
    }

    [Test]
    public void CacheHitCostsMicroseconds()
    {
        Expression<Func<double[], double>> f = x => Math.Exp(x[0] * 3141.5) / (1 + x[1] * x[1]) + Math.Log(x[2]);
        for (int i = 0; i < 200; i++) AD.Gradient(f); // compile once, then warm up the hit path
        long hits0 = KernelCache.Hits, misses0 = KernelCache.Misses;
        const int calls = 2001;
        var samples = new double[calls];
        for (int i = 0; i < calls; i++)
        {
            long start = Stopwatch.GetTimestamp();
            AD.Gradient(f);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }
        Array.Sort(samples);
        double median = samples[calls / 2];
        Assert.Multiple(() =>
        {
            Assert.That(KernelCache.Misses - misses0, Is.EqualTo(0));
            Assert.That(KernelCache.Hits - hits0, Is.EqualTo(calls));
            Assert.That(median, Is.LessThan(200), $"median cache-hit cost {median:F1} µs");
        });
    }

    [Test]
    public void CacheHitWithAFreshLambdaTreeEachTimeCostsMicroseconds()
    {
        // The realistic use: the C# compiler builds a new expression tree every time the lambda is evaluated.
        for (int i = 0; i < 200; i++) AD.Gradient(x => Math.Tanh(x[0] * 2718.25) + x[1]);
        const int calls = 2001;
        var samples = new double[calls];
        for (int i = 0; i < calls; i++)
        {
            long start = Stopwatch.GetTimestamp();
            AD.Gradient(x => Math.Tanh(x[0] * 2718.25) + x[1]);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }
        Array.Sort(samples);
        double median = samples[calls / 2];
        Assert.That(median, Is.LessThan(200), $"median cache-hit cost {median:F1} µs");
    }

    [Test]
    public void CapturedVariableIsReadAtCallTime()
    {
        double k = 2;
        var g = AD.Gradient(x => k * x[0] * x[0]);
        var gradient = new double[1];
        double before = g(new double[] { 3 }, gradient);
        double gradBefore = gradient[0];
        k = 5; // changed after AD.Gradient was called
        double after = g(new double[] { 3 }, gradient);
        Assert.Multiple(() =>
        {
            Assert.That(before, Is.EqualTo(18));
            Assert.That(gradBefore, Is.EqualTo(12));
            Assert.That(after, Is.EqualTo(45), "the new captured value must be used, not a stale one");
            Assert.That(gradient[0], Is.EqualTo(30));
        });
    }

    [Test]
    public void CapturedVariableIsReadAtCallTimeByEveryEntryPoint()
    {
        double k = 2;
        var derivative = AD.Derivative(x => k * x * x);
        var jvp = AD.Jvp(x => k * x[0] * x[1]);
        var scalar = AD.Gradient((double a, double b) => k * a * b);
        k = 3;
        Assert.Multiple(() =>
        {
            Assert.That(derivative(5), Is.EqualTo(30));
            Assert.That(jvp(new double[] { 2, 7 }, new double[] { 1, 1 }, out double d), Is.EqualTo(42));
            Assert.That(d, Is.EqualTo(3 * 7 + 3 * 2));
            Assert.That(scalar(2, 7), Is.EqualTo((42.0, 21.0, 6.0)));
        });
    }

    [Test]
    public void CapturedIntAndBoolAreReadAtCallTime()
    {
        int power = 2;
        bool flip = false;
        var g = AD.Gradient(x => (flip ? -1.0 : 1.0) * power * x[0]);
        var gradient = new double[1];
        g(new double[] { 1 }, gradient);
        Assert.That(gradient[0], Is.EqualTo(2));
        power = 7;
        flip = true;
        g(new double[] { 1 }, gradient);
        Assert.That(gradient[0], Is.EqualTo(-7));
    }

    private static GradientFunc ScaledSquare(double k) => AD.Gradient(x => k * x[0] * x[0]);

    [Test]
    public void TwoClosuresOfTheSameShapeShareAKernelButNotTheirValues()
    {
        var two = ScaledSquare(2);
        long hits0 = KernelCache.Hits, misses0 = KernelCache.Misses;
        var three = ScaledSquare(3);
        Assert.Multiple(() =>
        {
            Assert.That(KernelCache.Hits - hits0, Is.EqualTo(1), "same shape, same closure class: a hit");
            Assert.That(KernelCache.Misses - misses0, Is.EqualTo(0));
            Assert.That(AD.GetCompilationInfo(three), Is.SameAs(AD.GetCompilationInfo(two)));
        });
        var g2 = new double[1];
        var g3 = new double[1];
        double v2 = two(new double[] { 4 }, g2);
        double v3 = three(new double[] { 4 }, g3);
        Assert.Multiple(() =>
        {
            Assert.That(v2, Is.EqualTo(32));
            Assert.That(g2[0], Is.EqualTo(16));
            Assert.That(v3, Is.EqualTo(48));
            Assert.That(g3[0], Is.EqualTo(24));
        });
    }

    [Test]
    public void ClosuresCreatedInALoopEachKeepTheirOwnCapturedValue()
    {
        var gradients = new List<GradientFunc>();
        for (int i = 0; i < 10; i++)
        {
            double k = i * 1.5;
            gradients.Add(AD.Gradient(x => k * Math.Sin(x[0])));
        }
        var gradient = new double[1];
        for (int i = 0; i < 10; i++)
        {
            double value = gradients[i](new double[] { 0.4 }, gradient);
            Assert.That(value, Is.EqualTo(i * 1.5 * Math.Sin(0.4)).Within(1e-15), $"closure {i}");
            Assert.That(gradient[0], Is.EqualTo(i * 1.5 * Math.Cos(0.4)).Within(1e-15), $"closure {i}");
        }
    }

    [Test]
    public void CapturedArrayIsReadAtCallTime()
    {
        var weights = new[] { 1.0, 2.0, 3.0 };
        var g = AD.Gradient(x => weights[0] * x[0] + weights[2] * x[1] * x[1]);
        var gradient = new double[2];
        g(new double[] { 1, 1 }, gradient);
        Assert.That(gradient, Is.EqualTo(new[] { 1.0, 6.0 }));

        weights[0] = 10; // mutate an element
        weights[2] = -1;
        g(new double[] { 1, 1 }, gradient);
        Assert.That(gradient, Is.EqualTo(new[] { 10.0, -2.0 }));

        weights = new[] { 100.0, 0.0, 0.5 }; // replace the captured array itself
        double value = g(new double[] { 1, 2 }, gradient);
        Assert.That(value, Is.EqualTo(100 + 0.5 * 4));
        Assert.That(gradient, Is.EqualTo(new[] { 100.0, 2.0 }));
    }

    private static double _staticScale = 2;

    [Test]
    public void StaticFieldIsReadAtCallTime()
    {
        _staticScale = 2;
        var g = AD.Gradient(x => _staticScale * x[0]);
        var gradient = new double[1];
        g(new double[] { 1 }, gradient);
        Assert.That(gradient[0], Is.EqualTo(2));
        _staticScale = 9;
        g(new double[] { 1 }, gradient);
        Assert.That(gradient[0], Is.EqualTo(9));
    }

    private struct Settings
    {
        public double Scale;
    }

    [Test]
    public void CapturedStructFieldIsReadAtCallTime()
    {
        var settings = new Settings { Scale = 2 };
        var g = AD.Gradient(x => settings.Scale * x[0]);
        var gradient = new double[1];
        g(new double[] { 1 }, gradient);
        Assert.That(gradient[0], Is.EqualTo(2));
        settings.Scale = 4;
        g(new double[] { 1 }, gradient);
        Assert.That(gradient[0], Is.EqualTo(4));
    }

    [Test]
    public void DifferentConstantsDoNotShareAKernel()
    {
        var two = AD.Gradient(x => 2 * x[0]);
        var three = AD.Gradient(x => 3 * x[0]);
        Assert.That(AD.GetCompilationInfo(three), Is.Not.SameAs(AD.GetCompilationInfo(two)));
        var gradient = new double[1];
        Assert.Multiple(() =>
        {
            Assert.That(two(new double[] { 5 }, gradient), Is.EqualTo(10));
            Assert.That(gradient[0], Is.EqualTo(2));
            Assert.That(three(new double[] { 5 }, gradient), Is.EqualTo(15));
            Assert.That(gradient[0], Is.EqualTo(3));
        });
    }

    [Test]
    public void DifferentConstantsDoNotShareAKernelInAnyOrder()
    {
        // Asked alternately, so that whichever is compiled first the other would reuse it if the key ignored the value.
        var gradient = new double[1];
        for (int round = 0; round < 3; round++)
        {
            for (int c = 1; c <= 4; c++)
            {
                var g = c switch
                {
                    1 => AD.Gradient(x => Math.Pow(x[0], 1.5)),
                    2 => AD.Gradient(x => Math.Pow(x[0], 2.5)),
                    3 => AD.Gradient(x => Math.Pow(x[0], 3.5)),
                    _ => AD.Gradient(x => Math.Pow(x[0], 4.5)),
                };
                double p = c + 0.5;
                double value = g(new double[] { 2 }, gradient);
                Assert.That(value, Is.EqualTo(Math.Pow(2, p)).Within(1e-12), $"p = {p}");
                Assert.That(gradient[0], Is.EqualTo(p * Math.Pow(2, p - 1)).Within(1e-12), $"p = {p}");
            }
        }
    }

    [Test]
    public void IntAndDoubleConstantsOfEqualValueDoNotShareAKernel()
    {
        // 7 / 2 is integer division (3); 7.0 / 2 is 3.5.
        var integer = AD.Gradient(x => (7 / 2) * x[0]);
        var real = AD.Gradient(x => (7.0 / 2) * x[0]);
        var gradient = new double[1];
        integer(new double[] { 1 }, gradient);
        Assert.That(gradient[0], Is.EqualTo(3));
        real(new double[] { 1 }, gradient);
        Assert.That(gradient[0], Is.EqualTo(3.5));
    }

    [Test]
    public void PositiveAndNegativeZeroConstantsDoNotShareAKernel()
    {
        // 0.0 and -0.0 compare equal as doubles but are different constants: x / 0.0 is +∞ and x / -0.0 is -∞.
        var positive = AD.Gradient(x => x[0] / 0.0);
        var negative = AD.Gradient(x => x[0] / -0.0);
        var gradient = new double[1];
        Assert.Multiple(() =>
        {
            Assert.That(positive(new double[] { 1 }, gradient), Is.EqualTo(double.PositiveInfinity));
            Assert.That(gradient[0], Is.EqualTo(double.PositiveInfinity));
            Assert.That(negative(new double[] { 1 }, gradient), Is.EqualTo(double.NegativeInfinity), "x / -0.0");
            Assert.That(gradient[0], Is.EqualTo(double.NegativeInfinity), "d/dx x / -0.0");
        });
    }

    [Test]
    public void SignedZeroInAtan2DoesNotShareAKernel()
    {
        // atan2(+0, -1) = π but atan2(-0, -1) = -π.
        var upper = AD.Gradient(x => Math.Atan2(0.0, x[0]));
        var lower = AD.Gradient(x => Math.Atan2(-0.0, x[0]));
        var gradient = new double[1];
        Assert.Multiple(() =>
        {
            Assert.That(upper(new double[] { -1 }, gradient), Is.EqualTo(Math.PI));
            Assert.That(lower(new double[] { -1 }, gradient), Is.EqualTo(-Math.PI));
        });
    }

    [Test]
    public void ClosureShapesWithDifferentCapturedArrayCountsDoNotShareAKernel()
    {
        // Built with the Expression API: one lambda reads the same captured array twice, the other two different arrays.
        var a = new[] { 2.0 };
        var b = new[] { 5.0 };
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression Element(double[] array) => Expression.ArrayIndex(Expression.Constant(array), Expression.Constant(0));
        Expression Input() => Expression.ArrayIndex(x, Expression.Constant(0));
        var same = Expression.Lambda<Func<double[], double>>(
            Expression.Add(Expression.Multiply(Element(a), Input()), Expression.Multiply(Element(a), Input())), x);
        var different = Expression.Lambda<Func<double[], double>>(
            Expression.Add(Expression.Multiply(Element(a), Input()), Expression.Multiply(Element(b), Input())), x);
        var gradient = new double[1];
        AD.Gradient(same)(new double[] { 1 }, gradient);
        Assert.That(gradient[0], Is.EqualTo(4));
        AD.Gradient(different)(new double[] { 1 }, gradient);
        Assert.That(gradient[0], Is.EqualTo(7));
        AD.Gradient(same)(new double[] { 1 }, gradient);
        Assert.That(gradient[0], Is.EqualTo(4));
    }

    [Test]
    public void NonCacheableLambdaFailsTheSameWayEveryTimeAndLeavesNoEntry()
    {
        // A Block node is not encoded by the structural key, so such lambdas bypass the cache.
        // (Blocks are not differentiable either, so the request fails; it must fail the same way every time.)
        var x = Expression.Parameter(typeof(double[]), "x");
        var block = Expression.Lambda<Func<double[], double>>(Expression.Block(Expression.ArrayIndex(x, Expression.Constant(0))), x);
        int count0 = KernelCache.Count;
        var first = Assert.Throws<NotSupportedException>(() => AD.Gradient(block));
        var second = Assert.Throws<NotSupportedException>(() => AD.Gradient(block));
        Assert.That(second!.Message, Is.EqualTo(first!.Message));
        Assert.That(KernelCache.Count, Is.EqualTo(count0), "a failed compilation leaves no entry behind");
    }

    [Test]
    public void FailedCompilationIsNotCachedAndFailsAgainWithTheSameMessage()
    {
        int count0 = KernelCache.Count;
        var first = Assert.Throws<NotSupportedException>(() => AD.Gradient(x => Math.Round(x[0], 3) * 1357.9));
        var second = Assert.Throws<NotSupportedException>(() => AD.Gradient(x => Math.Round(x[0], 3) * 1357.9));
        Assert.That(second!.Message, Is.EqualTo(first!.Message));
        Assert.That(KernelCache.Count, Is.EqualTo(count0));
    }
}
