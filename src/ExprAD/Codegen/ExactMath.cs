using System.ComponentModel;
using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Codegen;

/// <summary>
/// Faster forms of System.Math calls that keep C#'s bits, used in every mode where the platform's C library makes them
/// exact (Linux; see <see cref="Available"/>): <c>Math.Pow(u, k)</c> for a constant integer k from -8 to 8 (not 0), and
/// <c>Math.Sin(u)</c> with <c>Math.Cos(u)</c> of the same u as one <see cref="Math.SinCos"/> call. Public only for generated code.
/// </summary>
/// <remarks>
/// Powers: u^k is computed with a rounding error of about 2^-100 (exact products by fused multiply-adds, a double-double),
/// and when the double nearest to it lies closer than 0.45 units in the last place (0.48 for results within 2^±64),
/// that double is returned, otherwise
/// <see cref="Math.Pow"/> itself. On Linux, .NET's Math.Pow is the C library's pow, which in glibc (since 2.28) and musl
/// (which adopted it) is the same implementation with a documented worst-case error of 0.54 units in the last place (0.537 with
/// fused multiply-adds, 0.5435 without), and in older glibc correctly rounded. Its result r' is a double within 0.5435 ulp
/// of u^k; every double other than the nearest one, r, lies at least 1 - 0.45 = 0.55 ulp from u^k when |u^k - r| &lt; 0.45 ulp
/// (r not a power of two, whose lower neighbour is closer; that case goes to Math.Pow), so r' = r (the narrower bound of
/// results near 1 is in <see cref="Decides"/>). About 4% of arguments fall in the band 0.48-0.5 ulp and call Math.Pow;
/// about 0.08% are ones where Math.Pow differs from the nearest double (measured), all inside that band. Measured:
/// Math.Pow(u, 2) 17 ns, u * u 0.6 ns (which differs from Math.Pow on 0.08% of arguments), this about 3 ns.
/// Sine and cosine: the C library's sincos shares the argument reduction and polynomials of its sin and cos (glibc, musl),
/// so the pair is bit-identical to the two calls (tested on random arguments), for 10.1 instead of 12.2 ns.
/// Elsewhere (Windows, macOS: C libraries with other error bounds) and without hardware fused multiply-add,
/// <see cref="Available"/> is false and the calls stay as written.
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class ExactMath
{
    /// <summary>
    /// True when the platform's Math.Pow is known to be within 0.55 ulp, its Math.SinCos to be Math.Sin's and Math.Cos's bits,
    /// and fused multiply-add is in hardware.
    /// </summary>
    internal static readonly bool Available = OperatingSystem.IsLinux() && (Fma.IsSupported || AdvSimd.Arm64.IsSupported);

    private const long ExponentMask = 0x7FF0000000000000L, MantissaMask = 0x000FFFFFFFFFFFFFL;
    // Results of magnitude 2^-959 .. 2^940 (biased exponents 0x040 .. 0x7AF): every partial product and error term
    // of a power up to 8 stays far from overflow, and the error terms' absolute error is below 2^-1070, far under the margin.
    private const ulong FirstExponent = 0x0400000000000000UL, ExponentSpan = 0x7700000000000000UL;
    private const double UlpOfUnit = 1.0 / 4503599627370496.0; // 2^-52
    private const double Window = 0.45;
    // Results of magnitude 2^-64 .. 2^65 (biased exponents 959 .. 1087), where pow's error is at most 0.5131 ulp.
    private const ulong NearOneExponent = 0x3BF0000000000000UL, NearOneSpan = 0x0810000000000000UL;
    private const double NearOneWindow = 0.48;

    private static readonly System.Reflection.MethodInfo PowerMethod = typeof(ExactMath).GetMethod(nameof(Power))!;

    /// <summary>The instruction <c>Math.Pow(u, k)</c> with its constant integer exponent as a call of <see cref="Power"/>, or null.</summary>
    internal static Expression? Emit(Instruction ins, Trace trace, Expression[] operands) =>
        Available && FastMathLowering.IntegerExponent(ins, trace) is int k
            ? Expression.Call(PowerMethod, operands[0], Expression.Constant(k))
            : null;

    /// <summary>Math.Pow(<paramref name="u"/>, <paramref name="k"/>) for k from -8 to 8, not 0 (see the class remarks).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Power(double u, int k) => TryNearest(u, k, out double r) ? r : CallPow(u, k);

    /// <summary>
    /// True, with <paramref name="nearest"/> the double nearest to u^k, when u^k lies close enough to it that Math.Pow must
    /// return it too (see <see cref="Decides"/>); false otherwise (zeros, infinities, NaN included).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool TryNearest(double u, int k, out double nearest)
    {
        if (k == 2)
        {
            // u * u is the nearest double, and a fused multiply-add gives what it left out exactly.
            nearest = u * u;
            return Decides(nearest, Math.FusedMultiplyAdd(u, u, -nearest));
        }
        // |u|^|k| = high + low exactly up to ~2^-104 relative per factor: each product's rounding error comes back from a
        // fused multiply-add, and the low part's own product is small enough that its rounding does not matter.
        double high = u, low = 0;
        for (int j = k < 0 ? -k : k; j > 1; j--)
        {
            double product = high * u;
            low = Math.FusedMultiplyAdd(high, u, -product) + low * u;
            high = product;
        }
        if (k < 0)
        {
            // 1 / (h + l) = q (1 + e - q l + O(2^-104)) with q = fl(1 / h) and e = 1 - q h, exact by a fused multiply-add.
            double q = 1.0 / high;
            low = q * (Math.FusedMultiplyAdd(-q, high, 1.0) - q * low);
            high = q;
        }
        nearest = high + low;
        return Decides(nearest, low - (nearest - high)); // u^k - nearest (fast two-sum: |low| is far below |high|)
    }

    /// <summary>
    /// True when a result within the C library's error of the value <paramref name="nearest"/> + <paramref name="residual"/>
    /// can only be <paramref name="nearest"/>: a normal number away from the ends of the range, not a power of two, and
    /// |residual| below the window. The window follows pow's error, ulperr_exp + |y ln x| relerr_log 2^53 ulp (glibc's
    /// analysis: 0.511 ulp and 1.5 × 2^-68 without fused multiply-add), where y ln x = ln of the result: at most 0.5414 ulp
    /// over the fast range (window 0.45, 0.55 to a neighbour), at most 0.5131 ulp for results within 2^±64 (window 0.48).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Decides(double nearest, double residual)
    {
        long bits = BitConverter.DoubleToInt64Bits(nearest) & long.MaxValue;
        double ulp = BitConverter.Int64BitsToDouble(bits & ExponentMask) * UlpOfUnit;
        double window = (ulong)bits - NearOneExponent < NearOneSpan ? NearOneWindow : Window;
        return (ulong)bits - FirstExponent < ExponentSpan && (bits & MantissaMask) != 0 && Math.Abs(residual) < window * ulp;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static double CallPow(double u, int k) => Math.Pow(u, k);

    /// <summary>Math.Sin(<paramref name="u"/>), and Math.Cos(u) in <paramref name="cos"/>, from one call (see the class remarks).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double SinAndCos(double u, out double cos)
    {
        (double sin, cos) = Math.SinCos(u);
        return sin;
    }

    /// <summary>Math.Cos(<paramref name="u"/>), and Math.Sin(u) in <paramref name="sin"/>, from one call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double CosAndSin(double u, out double sin)
    {
        (sin, double cos) = Math.SinCos(u);
        return cos;
    }

    /// <summary>
    /// The sine-cosine pairs of instructions [<paramref name="start"/>, <paramref name="end"/>) of <paramref name="trace"/>
    /// that <paramref name="emitted"/> accepts: by the earlier of the two, the later. Empty where not <see cref="Available"/>.
    /// </summary>
    internal static Dictionary<int, int> SinCosPairs(Trace trace, int start, int end, Func<int, bool> emitted)
    {
        var pairs = new Dictionary<int, int>();
        if (!Available) return pairs;
        var first = new Dictionary<(Rules.Op, int), int>();
        for (int i = start; i < end; i++)
        {
            var ins = trace.Instructions[i];
            if (ins.Op is not (Op.Sin or Op.Cos) || !emitted(i)) continue;
            var partner = (ins.Op == Op.Sin ? Op.Cos : Op.Sin, ins.A);
            if (first.Remove(partner, out int earlier)) pairs[earlier] = i;
            else first.TryAdd((ins.Op, ins.A), i);
        }
        return pairs;
    }
}
