namespace ExprAD.Tests.Oracles;

/// <summary>
/// The independent derivative oracle of the test suite: Richardson-extrapolated central differences.
/// It only ever calls plain .NET delegates (never ExprAD), so a wrong derivative rule in ExprAD
/// cannot make the oracle agree with it.
/// </summary>
/// <remarks>
/// The central difference D(h) = (f(x+h) - f(x-h)) / 2h = f'(x) + c2 h² + c4 h⁴ + c6 h⁶ + ...
/// has only even powers of h in its error, so two Richardson steps over h, h/2 and h/4 remove the
/// h² and h⁴ terms:
///   D1(h) = (4 D(h/2) - D(h)) / 3            error O(h⁴)
///   D2(h) = (16 D1(h/2) - D1(h)) / 15        error O(h⁶)
/// With h ≈ 1e-3 the truncation error is ~1e-18 · f⁽⁷⁾ and the rounding error ~1e-13 · |f|, so the
/// estimate is good to roughly 1e-12 relative for well-behaved functions. The reported error is
/// |D2 - D1(h/2)| (an overestimate of the truncation error of D2) plus the rounding bound; when a
/// kink or jump falls inside the stencil the two disagree wildly and the error is large, which
/// <see cref="IsReliable"/> detects.
/// </remarks>
internal static class FiniteDifferences
{
    /// <summary>
    /// A finite-difference estimate of a derivative together with a bound on its own error, so that a
    /// comparison can be as tight as the estimate allows: a few ulps of f divided by h for rounding,
    /// plus the size of the last Richardson correction for truncation.
    /// </summary>
    public readonly record struct Estimate(double Value, double Error)
    {
        public override string ToString() => $"{Value:R} (± {Error:G3})";
    }

    /// <summary>Default step relative to max(1, |x|).</summary>
    public const double DefaultRelativeStep = 1e-3;

    /// <summary>f'(x) for a scalar function.</summary>
    /// <param name="f">The function, evaluated at x ± h, x ± h/2, x ± h/4 only.</param>
    /// <param name="x">The point.</param>
    /// <param name="h">The largest step; by default 1e-3 · max(1, |x|). The caller must keep [x - h, x + h] inside the domain of f.</param>
    public static Estimate Derivative(Func<double, double> f, double x, double? h = null)
    {
        double step = h ?? DefaultRelativeStep * Math.Max(1.0, Math.Abs(x));
        // The central differences at h, h/2, h/4 and the largest |f| seen (for the rounding bound).
        double scale = Math.Abs(f(x));
        double Central(double s)
        {
            double plus = f(x + s), minus = f(x - s);
            scale = Math.Max(scale, Math.Max(Math.Abs(plus), Math.Abs(minus)));
            // (x + s) - (x - s) is the step actually taken after rounding x ± s.
            return (plus - minus) / ((x + s) - (x - s));
        }
        double d0 = Central(step), d1 = Central(step / 2), d2 = Central(step / 4);
        double r0 = (4 * d1 - d0) / 3, r1 = (4 * d2 - d1) / 3;
        double value = (16 * r1 - r0) / 15;
        // D2 = (64 D(h/4) - 20 D(h/2) + D(h)) / 45: each D(s) carries ~ eps |f| / s of rounding, so the
        // combination carries ~ (64·4 + 20·2 + 1)/45 ≈ 6.6 eps |f| / h; 64 eps |f| / h leaves room for
        // a few ulps of error in f itself.
        double rounding = 64 * MachineEpsilon * scale / step;
        double truncation = Math.Abs(value - r1);
        return new Estimate(value, truncation + rounding);
    }

    /// <summary>∂f/∂x[i] at <paramref name="x"/> for a function of an array. <paramref name="x"/> is not modified.</summary>
    public static Estimate Partial(Func<double[], double> f, double[] x, int i, double? h = null)
    {
        var point = (double[])x.Clone();
        double xi = x[i];
        return Derivative(t =>
        {
            point[i] = t;
            return f(point);
        }, xi, h);
    }

    /// <summary>The full gradient, one <see cref="Partial"/> per coordinate.</summary>
    public static Estimate[] Gradient(Func<double[], double> f, double[] x, double? h = null) =>
        Enumerable.Range(0, x.Length).Select(i => Partial(f, x, i, h)).ToArray();

    /// <summary>
    /// True when the estimate is trustworthy: its error bound is small compared with the derivative
    /// and with the function's scale. A kink or jump of f inside [x - h, x + h] makes it false.
    /// </summary>
    public static bool IsReliable(Estimate e, double relative = 1e-7) =>
        double.IsFinite(e.Value) && e.Error <= relative * Math.Max(1.0, Math.Abs(e.Value));

    /// <summary>
    /// The tolerance for comparing an exact derivative with <paramref name="e"/>: a relative part
    /// (<paramref name="relative"/> · |value|), an absolute floor for derivatives near zero, and a
    /// multiple of the estimate's own error bound.
    /// </summary>
    public static double Tolerance(Estimate e, double relative = 1e-8, double absolute = 1e-10) =>
        relative * Math.Abs(e.Value) + absolute + 4 * e.Error;

    /// <summary>True when <paramref name="actual"/> agrees with the estimate within <see cref="Tolerance"/>.</summary>
    public static bool Agrees(double actual, Estimate e, double relative = 1e-8, double absolute = 1e-10) =>
        Math.Abs(actual - e.Value) <= Tolerance(e, relative, absolute);

    /// <summary>
    /// Compares two numbers with a tolerance relative to their magnitude: |a - b| ≤ relative · max(floor, |a|, |b|).
    /// The floor keeps values near zero from demanding an impossible relative accuracy.
    /// </summary>
    public static bool Close(double a, double b, double relative, double floor = 1.0)
    {
        if (a.Equals(b)) return true; // also NaN == NaN and equal infinities
        return Math.Abs(a - b) <= relative * Math.Max(floor, Math.Max(Math.Abs(a), Math.Abs(b)));
    }

    /// <summary>The tolerance <see cref="Close"/> uses, for Assert.That(..).Within(..).</summary>
    public static double RelativeTolerance(double expected, double relative, double floor = 1.0) =>
        relative * Math.Max(floor, Math.Abs(expected));

    /// <summary>Machine epsilon (2⁻⁵²), the spacing of doubles at 1.</summary>
    public const double MachineEpsilon = 2.220446049250313e-16;
}
