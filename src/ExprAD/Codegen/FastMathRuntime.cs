using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ExprAD.Codegen;

/// <summary>
/// ExprAD's own sine, cosine, exponential, logarithm and hyperbolic tangent (<see cref="ADOptions.FastMath"/>), each in a scalar form and a
/// four-lane <see cref="Vector256{T}"/> form that perform the same IEEE operations in the same order, so a value does not
/// depend on whether a loop ran it in a vector lane or in its scalar remainder. Public only for generated code.
/// </summary>
/// <remarks>
/// Method: reduce the argument by a multiple of π/2 (sin, cos) or ln 2 (exp) in three (two) parts with fused multiply-adds,
/// which is exact for the leading part; evaluate a polynomial on the reduced interval (fdlibm's published minimax
/// coefficients for sin, cos and log; the Taylor series to degree 13 for exp); put the quadrant's sign or the power of two back.
/// tanh |x| is e / (e + 2) with e = e^(2|x|) - 1 computed without cancellation, and x's sign.
/// Arguments outside the fast range (|x| &gt; 2^25 for sin and cos, |x| &gt; 708 for exp, |x| &gt; 22 for tanh,
/// non-positive, subnormal or infinite x for log, and NaN) go to <see cref="Math"/>'s function lane by lane, so special values come out as C#'s. The
/// tests bound the distance from <see cref="Math"/>'s results in units in the last place over wide random samples.
/// </remarks>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
public static class FastMathRuntime
{
    // Adding 1.5 × 2^52 rounds a double of magnitude below 2^51 to an integer (to even) held in the low mantissa bits.
    private const double RoundingShift = 6755399441055744.0;
    private const double TwoOverPi = 0.6366197723675814;
    // π/2 = PiOver2A + PiOver2B + PiOver2C to about 1e-49 (each the double nearest the remainder).
    private const double PiOver2A = 1.5707963267948966, PiOver2B = 6.123233995736766e-17, PiOver2C = -1.4973849048591698e-33;
    private const double TrigLimit = 33554432.0; // 2^25: k = round(2x/π) stays far inside the exact range of the shift.
    private const double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03, S3 = -1.98412698298579493134e-04,
        S4 = 2.75573137070700676789e-06, S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
    private const double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03, C3 = 2.48015872894767294178e-05,
        C4 = -2.75573143513906633035e-07, C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;

    private const double Log2E = 1.4426950408889634;
    // ln 2 = Ln2A + Ln2B to about 1e-33; k × Ln2A is exact in a fused multiply-add for |k| < 2^11.
    private const double Ln2A = 0.6931471805599453, Ln2B = 2.3190468138462996e-17;
    private const double ExpLimit = 708.0; // exp(±708) and 2^k for |k| <= 1022 are normal doubles.
    private const double TanhLimit = 22.0; // tanh(22) = 1 - 1.6e-19 rounds to 1; beyond, System.Math's (±1, NaN).

    // log: x = 2^e m with m in [√½, √2); ln m from s = (m-1)/(m+1) (fdlibm's coefficients); ln 2 split so e × Ln2High is exact.
    private const double Ln2High = 6.93147180369123816490e-01, Ln2Low = 1.90821492927058770002e-10;
    private const double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01, Lg3 = 2.857142874366239149e-01,
        Lg4 = 2.222219843214978396e-01, Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01, Lg7 = 1.479819860511658591e-01;
    private const double SqrtTwo = 1.4142135623730951, SmallestNormal = 2.2250738585072014E-308;
    private const long MantissaMask = 0x000F_FFFF_FFFF_FFFF, ExponentOne = 0x3FF0_0000_0000_0000, TwoTo52Bits = 0x4330_0000_0000_0000;

    // ---- sine and cosine ----

    /// <summary>sin x, within one unit in the last place of <see cref="Math.Sin"/> (tested).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Sin(double x) => Math.Abs(x) <= TrigLimit ? (x == 0 ? x : Quadrant(x, 0)) : Math.Sin(x);

    /// <summary>cos x, within one unit in the last place of <see cref="Math.Cos"/> (tested).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Cos(double x) => Math.Abs(x) <= TrigLimit ? Quadrant(x, 1) : Math.Cos(x);

    /// <summary>sin x in each lane, as <see cref="Sin(double)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Sin(Vector256<double> x) =>
        Vector256.LessThanOrEqualAll(Vector256.Abs(x), Vector256.Create(TrigLimit))
            ? Vector256.ConditionalSelect(Vector256.Equals(x, Vector256<double>.Zero), x, Quadrant(x, 0)) : EachLane(x, Sin);

    /// <summary>cos x in each lane, as <see cref="Cos(double)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Cos(Vector256<double> x) =>
        Vector256.LessThanOrEqualAll(Vector256.Abs(x), Vector256.Create(TrigLimit)) ? Quadrant(x, 1) : EachLane(x, Cos);

    /// <summary>
    /// sin(x + shift π/2) for |x| &lt;= 2^25: x = k π/2 + r with |r| &lt;= π/4, then ±sin r or ±cos r by the quadrant k + shift.
    /// For x = -0 the reduction gives r = +0 (x - 0 × c is -0 + +0 when c &lt; 0), so Sin passes zeros through itself.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Quadrant(double x, long shift)
    {
        double shifted = x * TwoOverPi + RoundingShift;
        double k = shifted - RoundingShift;
        long quadrant = BitConverter.DoubleToInt64Bits(shifted) + shift;
        double r = Math.FusedMultiplyAdd(k, -PiOver2A, x);
        r = Math.FusedMultiplyAdd(k, -PiOver2B, r);
        r = Math.FusedMultiplyAdd(k, -PiOver2C, r);
        double z = r * r;
        double value = (quadrant & 1) == 0 ? SinKernel(r, z) : CosKernel(z);
        return BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(value) ^ ((quadrant & 2) << 62));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Quadrant(Vector256<double> x, long shift)
    {
        var shifted = x * Vector256.Create(TwoOverPi) + Vector256.Create(RoundingShift);
        var k = shifted - Vector256.Create(RoundingShift);
        var quadrant = shifted.AsInt64() + Vector256.Create(shift);
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-PiOver2A), x);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-PiOver2B), r);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-PiOver2C), r);
        var z = r * r;
        var odd = Vector256.Equals(quadrant & Vector256<long>.One, Vector256<long>.One).AsDouble();
        var value = Vector256.ConditionalSelect(odd, CosKernel(z), SinKernel(r, z));
        return (value.AsInt64() ^ Vector256.ShiftLeft(quadrant & Vector256.Create(2L), 62)).AsDouble();
    }

    // sin r = r + r z (S1 + z S2 + ... + z^5 S6), z = r².
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double SinKernel(double r, double z)
    {
        double p = Math.FusedMultiplyAdd(z, S6, S5);
        p = Math.FusedMultiplyAdd(z, p, S4);
        p = Math.FusedMultiplyAdd(z, p, S3);
        p = Math.FusedMultiplyAdd(z, p, S2);
        p = Math.FusedMultiplyAdd(z, p, S1);
        return Math.FusedMultiplyAdd(r * z, p, r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> SinKernel(Vector256<double> r, Vector256<double> z)
    {
        var p = Vector256.FusedMultiplyAdd(z, Vector256.Create(S6), Vector256.Create(S5));
        p = Vector256.FusedMultiplyAdd(z, p, Vector256.Create(S4));
        p = Vector256.FusedMultiplyAdd(z, p, Vector256.Create(S3));
        p = Vector256.FusedMultiplyAdd(z, p, Vector256.Create(S2));
        p = Vector256.FusedMultiplyAdd(z, p, Vector256.Create(S1));
        return Vector256.FusedMultiplyAdd(r * z, p, r);
    }

    // cos r = w + ((1 - w) - z/2 + z² (C1 + z C2 + ... + z^5 C6)) with w = 1 - z/2: the rounding of w is added back.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double CosKernel(double z)
    {
        double p = Math.FusedMultiplyAdd(z, C6, C5);
        p = Math.FusedMultiplyAdd(z, p, C4);
        p = Math.FusedMultiplyAdd(z, p, C3);
        p = Math.FusedMultiplyAdd(z, p, C2);
        p = Math.FusedMultiplyAdd(z, p, C1);
        double half = 0.5 * z;
        double w = 1.0 - half;
        return w + Math.FusedMultiplyAdd(z * z, p, (1.0 - w) - half);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> CosKernel(Vector256<double> z)
    {
        var p = Vector256.FusedMultiplyAdd(z, Vector256.Create(C6), Vector256.Create(C5));
        p = Vector256.FusedMultiplyAdd(z, p, Vector256.Create(C4));
        p = Vector256.FusedMultiplyAdd(z, p, Vector256.Create(C3));
        p = Vector256.FusedMultiplyAdd(z, p, Vector256.Create(C2));
        p = Vector256.FusedMultiplyAdd(z, p, Vector256.Create(C1));
        var half = Vector256.Create(0.5) * z;
        var w = Vector256<double>.One - half;
        return w + Vector256.FusedMultiplyAdd(z * z, p, (Vector256<double>.One - w) - half);
    }

    // ---- exponential ----

    /// <summary>e^x, within one unit in the last place of <see cref="Math.Exp"/> (tested).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Exp(double x)
    {
        if (!(Math.Abs(x) <= ExpLimit)) return Math.Exp(x);
        double r = ReduceByLn2(x, out double scale);
        return ExpKernel(r) * scale;
    }

    /// <summary>e^x in each lane, as <see cref="Exp(double)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Exp(Vector256<double> x)
    {
        if (!Vector256.LessThanOrEqualAll(Vector256.Abs(x), Vector256.Create(ExpLimit))) return EachLane(x, Exp);
        var r = ReduceByLn2(x, out var scale);
        return ExpKernel(r) * scale;
    }

    // x = k ln 2 + r with |r| <= ln2/2 (k = round(x / ln 2), r in two fused steps); returns r, and 2^k as scale (|k| <= 1022).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double ReduceByLn2(double x, out double scale)
    {
        double shifted = x * Log2E + RoundingShift;
        double k = shifted - RoundingShift;
        double r = Math.FusedMultiplyAdd(k, -Ln2A, x);
        scale = BitConverter.Int64BitsToDouble((BitConverter.DoubleToInt64Bits(shifted) - BitConverter.DoubleToInt64Bits(RoundingShift) + 1023) << 52);
        return Math.FusedMultiplyAdd(k, -Ln2B, r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> ReduceByLn2(Vector256<double> x, out Vector256<double> scale)
    {
        var shifted = x * Vector256.Create(Log2E) + Vector256.Create(RoundingShift);
        var k = shifted - Vector256.Create(RoundingShift);
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2A), x);
        scale = Vector256.ShiftLeft(shifted.AsInt64() - Vector256.Create(BitConverter.DoubleToInt64Bits(RoundingShift) - 1023), 52).AsDouble();
        return Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2B), r);
    }

    // e^r - 1 for |r| <= ln2/2: r + r²/2! + ... + r^13/13! (the first omitted term is below 2^-60 relative); e^r is 1 + that.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double ExpKernel(double r) => 1.0 + ExpMinusOneKernel(r);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> ExpKernel(Vector256<double> r) => Vector256<double>.One + ExpMinusOneKernel(r);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double ExpMinusOneKernel(double r)
    {
        double p = Math.FusedMultiplyAdd(r, 1.0 / 6227020800.0, 1.0 / 479001600.0);
        p = Math.FusedMultiplyAdd(r, p, 1.0 / 39916800.0);
        p = Math.FusedMultiplyAdd(r, p, 1.0 / 3628800.0);
        p = Math.FusedMultiplyAdd(r, p, 1.0 / 362880.0);
        p = Math.FusedMultiplyAdd(r, p, 1.0 / 40320.0);
        p = Math.FusedMultiplyAdd(r, p, 1.0 / 5040.0);
        p = Math.FusedMultiplyAdd(r, p, 1.0 / 720.0);
        p = Math.FusedMultiplyAdd(r, p, 1.0 / 120.0);
        p = Math.FusedMultiplyAdd(r, p, 1.0 / 24.0);
        p = Math.FusedMultiplyAdd(r, p, 1.0 / 6.0);
        p = Math.FusedMultiplyAdd(r, p, 0.5);
        return Math.FusedMultiplyAdd(r * r, p, r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> ExpMinusOneKernel(Vector256<double> r)
    {
        var p = Vector256.FusedMultiplyAdd(r, Vector256.Create(1.0 / 6227020800.0), Vector256.Create(1.0 / 479001600.0));
        p = Vector256.FusedMultiplyAdd(r, p, Vector256.Create(1.0 / 39916800.0));
        p = Vector256.FusedMultiplyAdd(r, p, Vector256.Create(1.0 / 3628800.0));
        p = Vector256.FusedMultiplyAdd(r, p, Vector256.Create(1.0 / 362880.0));
        p = Vector256.FusedMultiplyAdd(r, p, Vector256.Create(1.0 / 40320.0));
        p = Vector256.FusedMultiplyAdd(r, p, Vector256.Create(1.0 / 5040.0));
        p = Vector256.FusedMultiplyAdd(r, p, Vector256.Create(1.0 / 720.0));
        p = Vector256.FusedMultiplyAdd(r, p, Vector256.Create(1.0 / 120.0));
        p = Vector256.FusedMultiplyAdd(r, p, Vector256.Create(1.0 / 24.0));
        p = Vector256.FusedMultiplyAdd(r, p, Vector256.Create(1.0 / 6.0));
        p = Vector256.FusedMultiplyAdd(r, p, Vector256.Create(0.5));
        return Vector256.FusedMultiplyAdd(r * r, p, r);
    }

    // ---- hyperbolic tangent ----

    /// <summary>tanh x, within two units in the last place of <see cref="Math.Tanh"/> (tested).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Tanh(double x)
    {
        double a = Math.Abs(x);
        if (!(a <= TanhLimit)) return Math.Tanh(x);
        double e = ExpMinusOne(2 * a);
        return BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(Quotient(e)) | (BitConverter.DoubleToInt64Bits(x) & long.MinValue));
    }

    // e / (e + 2) with the rounding of e + 2 and of the division corrected once (e >= 0, so e + 2 = high + low exactly).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Quotient(double e)
    {
        double high = e + 2.0;
        double low = (2.0 - high) + e;
        double t = e / high;
        return t + (Math.FusedMultiplyAdd(-t, high, e) - t * low) / high;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Quotient(Vector256<double> e)
    {
        var high = e + Vector256.Create(2.0);
        var low = (Vector256.Create(2.0) - high) + e;
        var t = e / high;
        return t + (Vector256.FusedMultiplyAdd(-t, high, e) - t * low) / high;
    }

    /// <summary>tanh x in each lane, as <see cref="Tanh(double)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Tanh(Vector256<double> x)
    {
        var a = Vector256.Abs(x);
        if (!Vector256.LessThanOrEqualAll(a, Vector256.Create(TanhLimit))) return EachLane(x, Tanh);
        var e = ExpMinusOne(a + a);
        return (Quotient(e).AsInt64() | (x.AsInt64() & Vector256.Create(long.MinValue))).AsDouble();
    }

    // e^x - 1 for 0 <= x <= 2 TanhLimit: 2^k (e^r - 1) + (2^k - 1), with no cancellation for small x (k = 0: e^r - 1 itself).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double ExpMinusOne(double x)
    {
        double r = ReduceByLn2(x, out double scale);
        return Math.FusedMultiplyAdd(scale, ExpMinusOneKernel(r), scale - 1.0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> ExpMinusOne(Vector256<double> x)
    {
        var r = ReduceByLn2(x, out var scale);
        return Vector256.FusedMultiplyAdd(scale, ExpMinusOneKernel(r), scale - Vector256<double>.One);
    }

    // ---- logarithm ----

    /// <summary>ln x, within one unit in the last place of <see cref="Math.Log(double)"/> (tested).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Log(double x)
    {
        if (!(x >= SmallestNormal && x <= double.MaxValue)) return Math.Log(x);
        long bits = BitConverter.DoubleToInt64Bits(x);
        double m = BitConverter.Int64BitsToDouble(bits & MantissaMask | ExponentOne);
        double e = BitConverter.Int64BitsToDouble((bits >>> 52) | TwoTo52Bits) - (4503599627370496.0 + 1023.0);
        if (m > SqrtTwo) { m *= 0.5; e += 1.0; }
        return LogKernel(m - 1.0, e);
    }

    /// <summary>ln x in each lane, as <see cref="Log(double)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Log(Vector256<double> x)
    {
        if (!(Vector256.GreaterThanOrEqualAll(x, Vector256.Create(SmallestNormal)) && Vector256.LessThanOrEqualAll(x, Vector256.Create(double.MaxValue))))
            return EachLane(x, Log);
        var bits = x.AsInt64();
        var m = ((bits & Vector256.Create(MantissaMask)) | Vector256.Create(ExponentOne)).AsDouble();
        var e = (Vector256.ShiftRightLogical(bits, 52) | Vector256.Create(TwoTo52Bits)).AsDouble() - Vector256.Create(4503599627370496.0 + 1023.0);
        var high = Vector256.GreaterThan(m, Vector256.Create(SqrtTwo));
        m = Vector256.ConditionalSelect(high, m * Vector256.Create(0.5), m);
        e += high & Vector256<double>.One;
        return LogKernel(m - Vector256<double>.One, e);
    }

    // ln(2^e (1 + f)) with s = f / (2 + f): ln(1 + f) = f - f²/2 + s (f²/2 + R(s²)).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double LogKernel(double f, double e)
    {
        double s = f / (2.0 + f);
        double z = s * s;
        double w = z * z;
        double t1 = w * Math.FusedMultiplyAdd(w, Math.FusedMultiplyAdd(w, Lg6, Lg4), Lg2);
        double t2 = z * Math.FusedMultiplyAdd(w, Math.FusedMultiplyAdd(w, Math.FusedMultiplyAdd(w, Lg7, Lg5), Lg3), Lg1);
        double halfSquare = 0.5 * f * f;
        return e * Ln2High - ((halfSquare - Math.FusedMultiplyAdd(s, halfSquare + (t2 + t1), e * Ln2Low)) - f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> LogKernel(Vector256<double> f, Vector256<double> e)
    {
        var s = f / (Vector256.Create(2.0) + f);
        var z = s * s;
        var w = z * z;
        var t1 = w * Vector256.FusedMultiplyAdd(w, Vector256.FusedMultiplyAdd(w, Vector256.Create(Lg6), Vector256.Create(Lg4)), Vector256.Create(Lg2));
        var t2 = z * Vector256.FusedMultiplyAdd(w, Vector256.FusedMultiplyAdd(w, Vector256.FusedMultiplyAdd(w, Vector256.Create(Lg7),
            Vector256.Create(Lg5)), Vector256.Create(Lg3)), Vector256.Create(Lg1));
        var halfSquare = Vector256.Create(0.5) * f * f;
        return e * Vector256.Create(Ln2High) - ((halfSquare - Vector256.FusedMultiplyAdd(s, halfSquare + (t2 + t1), e * Vector256.Create(Ln2Low))) - f);
    }

    // ---- integer powers ----

    /// <summary>
    /// u^k for a constant k in -8..8 other than 0 by multiplications (squaring first), and 1 / u^-k for negative k, in
    /// place of <see cref="Math.Pow"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Power(double u, int k) => k < 0 ? 1.0 / PositivePower(u, -k) : PositivePower(u, k);

    /// <summary>u^k in each lane, as <see cref="Power(double, int)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Power(Vector256<double> u, int k) => k < 0 ? Vector256<double>.One / PositivePower(u, -k) : PositivePower(u, k);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double PositivePower(double u, int k)
    {
        double s = u * u;
        return k switch { 1 => u, 2 => s, 3 => s * u, 4 => s * s, 5 => s * s * u, 6 => s * s * s, 7 => s * s * s * u, _ => s * s * (s * s) };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> PositivePower(Vector256<double> u, int k)
    {
        var s = u * u;
        return k switch { 1 => u, 2 => s, 3 => s * u, 4 => s * s, 5 => s * s * u, 6 => s * s * s, 7 => s * s * s * u, _ => s * s * (s * s) };
    }

    // A vector with a lane outside the fast range: the scalar form on each lane, which goes to System.Math's function for
    // that lane alone, so every lane's bits are those of the scalar form.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Vector256<double> EachLane(Vector256<double> x, Func<double, double> f) =>
        Vector256.Create(f(x.GetElement(0)), f(x.GetElement(1)), f(x.GetElement(2)), f(x.GetElement(3)));
}
