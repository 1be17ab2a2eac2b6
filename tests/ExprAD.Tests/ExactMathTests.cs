using System.Linq.Expressions;
using System.Numerics;
using ExprAD.Codegen;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// <see cref="ExactMath"/>: <c>Math.Pow(u, k)</c> with a constant integer exponent, computed without calling Math.Pow
/// for most arguments, against Math.Pow itself (the oracle: the C library's pow through the runtime) bit for bit, on
/// random samples that include the arguments where Math.Pow is not the double nearest to u^k.
/// </summary>
[TestFixture]
public class ExactMathTests
{
    private static readonly int[] Exponents = [-8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8];

    private static readonly double[] SpecialArguments =
    [
        0.0, -0.0, double.PositiveInfinity, double.NegativeInfinity, double.NaN, double.Epsilon, -double.Epsilon,
        double.MaxValue, -double.MaxValue, 2.2250738585072014e-308, 1.0, -1.0, 2.0, 0.5, -0.25, 1024.0, Math.Pow(2, 500),
        Math.Pow(2, -500), 1e-150, 1e150, 1e-40, 1e40, 3.0, 0.1, -0.1, 1 + 1e-15, 1 - 1e-16, Math.BitDecrement(2.0), 7.999999999999999,
    ];

    [OneTimeSetUp]
    public void OnlyWhereThePlatformsBoundIsKnown() =>
        Assume.That(ExactMath.Available, "the exact form is used only where the C library's pow is known to be within 0.55 ulp");

    [Test]
    public void PowerIsMathPowBitForBit([ValueSource(nameof(Exponents))] int k)
    {
        var random = new Random(17 + k);
        int checkedArguments = 0, notNearest = 0;
        void Check(double u)
        {
            double expected = Math.Pow(u, k), actual = ExactMath.Power(u, k);
            Assert.That(BitConverter.DoubleToInt64Bits(actual), Is.EqualTo(BitConverter.DoubleToInt64Bits(expected)),
                $"Math.Pow({u:R}, {k}) = {expected:R}, ExactMath gave {actual:R}");
            checkedArguments++;
            if (CorrectlyRounded(u, k) is { } nearest && nearest != expected) notNearest++;
        }

        foreach (var u in SpecialArguments) Check(u);
        // Random mantissas over the whole exponent range the fast path covers and beyond it (to the subnormals and overflow).
        int span = 1100 / Math.Abs(k);
        for (int s = 0; s < 200_000; s++)
            Check((random.NextDouble() + 0.5) * Math.Pow(2, random.Next(-span, span)) * (random.Next(2) == 0 ? -1 : 1));
        // Arguments near 1 and near the integers, where u^k is close to short numbers.
        for (int s = 0; s < 20_000; s++) Check(1 + (random.NextDouble() - 0.5) * 1e-6);
        for (int s = 0; s < 20_000; s++) Check(random.Next(1, 100) + (random.NextDouble() - 0.5) * 1e-9);

        // The sample reaches the arguments that make the check matter: Math.Pow returns a neighbour of the nearest double
        // there (about 0.08% of random arguments with the C library measured), and the exact form must fall back for them.
        Assert.That(checkedArguments, Is.GreaterThan(240_000));
        if (k != 1) Assert.That(notNearest, Is.GreaterThan(10), "arguments where Math.Pow is not the nearest double");
    }

    [Test]
    public void MostArgumentsNeedNoCallOfMathPow([Values(2, 3, -2)] int k)
    {
        var random = new Random(5);
        int fast = 0;
        for (int s = 0; s < 100_000; s++)
            if (ExactMath.TryNearest((random.NextDouble() * 2 - 1) * 1e3, k, out _)) fast++;
        // Results within 2^±64 fall back in the band 0.48-0.5 ulp: about 4% of the values of u^k (and zeros, powers of two).
        Assert.That(fast, Is.InRange(94_000, 97_500));
    }

    [Test]
    public void TheNearestDoubleIsTheCorrectlyRoundedPower([ValueSource(nameof(Exponents))] int k)
    {
        // Independent of the C library: what TryNearest returns is u^k rounded once, by exact integer arithmetic.
        var random = new Random(9 + k);
        int compared = 0;
        for (int s = 0; s < 20_000; s++)
        {
            double u = (random.NextDouble() + 0.5) * Math.Pow(2, random.Next(-100 / Math.Abs(k), 100 / Math.Abs(k)));
            if (!ExactMath.TryNearest(u, k, out double nearest)) continue;
            Assert.That(nearest, Is.EqualTo(CorrectlyRounded(u, k)), $"u = {u:R}");
            compared++;
        }
        Assert.That(compared, Is.GreaterThan(15_000));
    }

    [Test]
    public void KernelsComputeCSharpsValueWithoutCallingMathPow()
    {
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length).Sum(i =>
            Math.Pow(x[i], 2) + Math.Pow(x[i] - 1, 3) / 7 - Math.Pow(x[i], -2) + 0.5 * Math.Pow(x[i] + 0.25, 5));
        var tree = LoweredKernels.Gradient(f);
        Assert.That(LoweredKernels.Calls(tree, m => m.DeclaringType == typeof(Math) && m.Name == nameof(Math.Pow)), Is.Zero);
        // The four powers, and x^-3 in the derivative of x^-2 (the rule table multiplies out only exponents 2 to 8).
        Assert.That(LoweredKernels.Calls(tree, m => m.DeclaringType == typeof(ExactMath)), Is.EqualTo(5));

        // Points where Math.Pow(u, 2) is not u * u: the kernel's value must still be C#'s.
        var random = new Random(3);
        var misrounded = new List<double>();
        while (misrounded.Count < 64)
        {
            double u = random.NextDouble() * 4 - 2;
            if (Math.Pow(u, 2) != u * u) misrounded.Add(u);
        }
        var x = misrounded.ToArray();
        var gradient = new double[x.Length];
        double value = AD.Gradient(f)(x, gradient);
        Assert.That(value, Is.EqualTo(f.Compile()(x)).Within(0).Ulps);
        for (int i = 0; i < x.Length; i++)
        {
            double u = x[i], expected = 2 * u + 3 * (u - 1) * (u - 1) / 7 + 2 / (u * u * u) + 2.5 * Math.Pow(u + 0.25, 4);
            Assert.That(gradient[i], Is.EqualTo(expected).Within(1e-12).Percent, $"x[{i}] = {u:R}");
        }
    }

    [Test]
    public void SineAndCosineFromOneCallAreMathSinAndMathCosBitForBit()
    {
        var random = new Random(23);
        var arguments = SpecialArguments.Concat(Enumerable.Range(0, 300_000).Select(s => s % 3 switch
        {
            0 => random.NextDouble() * 8 - 4,
            1 => (random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-300, 300)),
            _ => (random.NextDouble() - 0.5) * 2e6,
        }));
        foreach (double u in arguments)
        {
            double sin = ExactMath.SinAndCos(u, out double cos), cosFirst = ExactMath.CosAndSin(u, out double sinSecond);
            Assert.That(BitConverter.DoubleToInt64Bits(sin), Is.EqualTo(BitConverter.DoubleToInt64Bits(Math.Sin(u))), $"sin({u:R})");
            Assert.That(BitConverter.DoubleToInt64Bits(cos), Is.EqualTo(BitConverter.DoubleToInt64Bits(Math.Cos(u))), $"cos({u:R})");
            Assert.That(BitConverter.DoubleToInt64Bits(cosFirst), Is.EqualTo(BitConverter.DoubleToInt64Bits(Math.Cos(u))), $"cos({u:R})");
            Assert.That(BitConverter.DoubleToInt64Bits(sinSecond), Is.EqualTo(BitConverter.DoubleToInt64Bits(Math.Sin(u))), $"sin({u:R})");
        }
    }

    [Test]
    public void KernelsTakeSineAndCosineOfOneOperandFromOneCall()
    {
        // A rotation by each angle x[i] of the point (1, 2): sine and cosine of one angle, in one loop.
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length).Sum(i =>
            Math.Pow(Math.Cos(x[i]) - 2 * Math.Sin(x[i]) - 0.5, 2) + Math.Pow(Math.Sin(x[i]) + 2 * Math.Cos(x[i]), 2) * Math.Sin(x[i] / 3));
        var tree = LoweredKernels.Gradient(f);
        // Two pairs: sin and cos of x[i], and sin(x[i] / 3) with the cosine its derivative needs.
        Assert.That(LoweredKernels.Calls(tree, m => m.DeclaringType == typeof(Math) && m.Name is nameof(Math.Sin) or nameof(Math.Cos)), Is.Zero);
        Assert.That(LoweredKernels.Calls(tree, m => m.DeclaringType == typeof(ExactMath) && m.Name.Contains("And")), Is.EqualTo(2));

        var random = new Random(4);
        var x = Enumerable.Range(0, 37).Select(_ => random.NextDouble() * 20 - 10).ToArray();
        var gradient = new double[x.Length];
        Assert.That(AD.Gradient(f)(x, gradient), Is.EqualTo(f.Compile()(x)).Within(0).Ulps);
        for (int i = 0; i < x.Length; i++)
        {
            double t = x[i], c = Math.Cos(t), s = Math.Sin(t), a = c - 2 * s - 0.5, b = s + 2 * c, w = Math.Sin(t / 3);
            double expected = 2 * a * (-s - 2 * c) + 2 * b * (c - 2 * s) * w + b * b * Math.Cos(t / 3) / 3;
            Assert.That(gradient[i], Is.EqualTo(expected).Within(1e-12 * (1 + Math.Abs(expected))), $"x[{i}] = {t:R}");
        }
    }

    /// <summary>
    /// u^k rounded once to the nearest double (ties to even) by exact integer arithmetic on u's mantissa, independent of
    /// floating point; null when u is not normal or the result would leave [1e-290, 1e290].
    /// </summary>
    private static double? CorrectlyRounded(double u, int k)
    {
        if (!double.IsNormal(u)) return null;
        long bits = BitConverter.DoubleToInt64Bits(u);
        var mantissa = new BigInteger((bits & 0xFFFFFFFFFFFFFL) | (1L << 52));
        int exponent = (int)((bits >> 52) & 0x7FF) - 1075; // |u| = mantissa × 2^exponent
        int j = Math.Abs(k);
        var power = BigInteger.Pow(mantissa, j);
        BigInteger quotient;
        bool inexactTail;
        int scale; // u^k = ±(quotient + tail) × 2^scale
        if (k > 0)
        {
            quotient = power; inexactTail = false; scale = j * exponent;
        }
        else
        {
            int s = (int)power.GetBitLength() + 60;
            quotient = BigInteger.DivRem(BigInteger.One << s, power, out var remainder);
            inexactTail = !remainder.IsZero; scale = -s - j * exponent;
        }
        int shift = (int)quotient.GetBitLength() - 53;
        if (shift > 0)
        {
            var kept = quotient >> shift;
            var dropped = quotient - (kept << shift);
            var half = BigInteger.One << (shift - 1);
            int side = dropped.CompareTo(half);
            if (side > 0 || side == 0 && (inexactTail || !kept.IsEven)) kept += 1;
            quotient = kept; scale += shift;
        }
        double magnitude = Math.ScaleB((double)quotient, scale);
        if (magnitude is < 1e-290 or > 1e290) return null;
        return u < 0 && j % 2 == 1 ? -magnitude : magnitude;
    }
}
