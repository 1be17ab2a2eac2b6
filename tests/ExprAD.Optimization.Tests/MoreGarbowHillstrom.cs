using System.Linq.Expressions;

namespace ExprAD.Optimization.Tests;

/// <summary>
/// Unconstrained test problems of Moré, Garbow and Hillstrom (1981), "Testing unconstrained optimization software", ACM
/// TOMS 7(1), 17-41, with their standard starting points and the minimum values the paper gives. Each is written as the
/// sum of squares f = Σ f_i² of the paper's residuals; problems of variable size use LINQ over the point, so they compile
/// to loops whatever n is. Also compiled by the benchmark project (bench/ExprAD.Benchmarks), which is why it is public.
/// </summary>
public static class MoreGarbowHillstrom
{
    /// <summary>A test problem.</summary>
    /// <param name="Name">Name and size, e.g. "extended Rosenbrock n=100".</param>
    /// <param name="Number">The problem's number in the paper.</param>
    /// <param name="N">The number of variables.</param>
    /// <param name="F">The objective.</param>
    /// <param name="Start">The paper's standard starting point (x0; do not change it).</param>
    /// <param name="Minimum">The global minimum value f* the paper gives.</param>
    /// <param name="LocalMinima">Values of other minimisers the paper names (a minimiser may stop at these).</param>
    /// <param name="ValueTolerance">
    /// How far from f* (relative to max(1, |f*|)) a point with gradient norm 1e-6 may be: 1e-10 unless the Hessian is
    /// singular or badly conditioned at the minimiser (each such problem says why its value is larger).
    /// </param>
    /// <param name="Homogeneous">
    /// f is a sum of non-negative terms homogeneous of degree 2 or more in x, minimal (0) at x = 0, so by Euler's identity
    /// x·∇f = Σ degree · term &gt;= 2 f, and f(x) &lt;= ½ |x|₁ |∇f(x)|∞ bounds f - f* at any point (extended Powell, whose
    /// Hessian is singular at 0: a fixed tolerance would have to grow with n).
    /// </param>
    /// <param name="MayStopElsewhere">
    /// The standard start can lead L-BFGS (ExprAD's or MathNet's) to a minimiser whose value the paper does not give
    /// (trigonometric n &gt; 10, Broyden tridiagonal n &gt;= 1,000, found here); tests then check that a point away from
    /// the known minima is a local minimiser instead.
    /// </param>
    public sealed record Problem(string Name, int Number, int N, Expression<Func<double[], double>> F, double[] Start,
        double Minimum, double[] LocalMinima, double ValueTolerance = 1e-10, bool Homogeneous = false, bool MayStopElsewhere = false)
    {
        /// <summary>
        /// True when f = <paramref name="value"/> at <paramref name="x"/>, where the gradient's infinity norm is
        /// <paramref name="gradientNorm"/>, is within <see cref="ValueTolerance"/> of f* or of a named local minimum
        /// (for a <see cref="Homogeneous"/> problem: at most ½ |x|₁ |g|∞).
        /// </summary>
        public bool IsKnownMinimum(double value, double[] x, double gradientNorm) =>
            Homogeneous ? value >= 0 && value <= 0.5 * x.Sum(Math.Abs) * gradientNorm
            : Math.Abs(value - Minimum) <= ValueTolerance * Math.Max(1, Math.Abs(Minimum))
              || LocalMinima.Any(m => Math.Abs(value - m) <= ValueTolerance * Math.Max(1, Math.Abs(m)));

        /// <inheritdoc/>
        public override string ToString() => Name;
    }

    private static readonly double[] None = [];

    /// <summary>(1) Rosenbrock, n = 2, x0 = (-1.2, 1), f* = 0.</summary>
    public static Problem Rosenbrock() => new("Rosenbrock", 1, 2,
        x => 100 * (x[1] - x[0] * x[0]) * (x[1] - x[0] * x[0]) + (1 - x[0]) * (1 - x[0]), [-1.2, 1], 0, None);

    /// <summary>(2) Freudenstein and Roth, n = 2, x0 = (0.5, -2), f* = 0 at (5, 4); a local minimum 48.9842... at (11.41..., -0.8968...).</summary>
    public static Problem FreudensteinRoth() => new("Freudenstein-Roth", 2, 2,
        x => Math.Pow(-13 + x[0] + ((5 - x[1]) * x[1] - 2) * x[1], 2) + Math.Pow(-29 + x[0] + ((x[1] + 1) * x[1] - 14) * x[1], 2),
        [0.5, -2], 0, [48.98425367924], ValueTolerance: 1e-10);

    /// <summary>(4) Brown badly scaled, n = 2, x0 = (1, 1), f* = 0 at (1e6, 2e-6).</summary>
    public static Problem BrownBadlyScaled() => new("Brown badly scaled", 4, 2,
        x => Math.Pow(x[0] - 1e6, 2) + Math.Pow(x[1] - 2e-6, 2) + Math.Pow(x[0] * x[1] - 2, 2), [1, 1], 0, None);

    /// <summary>(5) Beale, n = 2, x0 = (1, 1), f* = 0 at (3, 0.5).</summary>
    public static Problem Beale() => new("Beale", 5, 2,
        x => Math.Pow(1.5 - x[0] * (1 - x[1]), 2) + Math.Pow(2.25 - x[0] * (1 - x[1] * x[1]), 2) + Math.Pow(2.625 - x[0] * (1 - x[1] * x[1] * x[1]), 2),
        [1, 1], 0, None);

    /// <summary>(7) Helical valley, n = 3, x0 = (-1, 0, 0), f* = 0 at (1, 0, 0).</summary>
    public static Problem HelicalValley() => new("helical valley", 7, 3,
        x => Math.Pow(10 * (x[2] - 10 * (x[0] > 0 ? Math.Atan(x[1] / x[0]) / (2 * Math.PI) : Math.Atan(x[1] / x[0]) / (2 * Math.PI) + 0.5)), 2)
             + Math.Pow(10 * (Math.Sqrt(x[0] * x[0] + x[1] * x[1]) - 1), 2) + x[2] * x[2],
        [-1, 0, 0], 0, None);

    /// <summary>(12) Box three-dimensional, n = 3, m = 10, x0 = (0, 10, 20), f* = 0 (at (1, 10, 1) among others).</summary>
    public static Problem Box3D() => new("Box 3-D", 12, 3,
        x => Enumerable.Range(1, 10).Sum(i => Math.Pow(Math.Exp(-0.1 * i * x[0]) - Math.Exp(-0.1 * i * x[1]) - x[2] * (Math.Exp(-0.1 * i) - Math.Exp(-i)), 2)),
        [0, 10, 20], 0, None);

    /// <summary>(13) Powell singular, n = 4, x0 = (3, -1, 0, 1), f* = 0 at 0, where the Hessian is singular (see <see cref="Problem.Homogeneous"/>).</summary>
    public static Problem PowellSingular() => ExtendedPowell(4) with { Name = "Powell singular", Number = 13 };

    /// <summary>(14) Wood, n = 4, x0 = (-3, -1, -3, -1), f* = 0 at (1, 1, 1, 1).</summary>
    public static Problem Wood() => new("Wood", 14, 4,
        x => 100 * Math.Pow(x[1] - x[0] * x[0], 2) + Math.Pow(1 - x[0], 2) + 90 * Math.Pow(x[3] - x[2] * x[2], 2) + Math.Pow(1 - x[2], 2)
             + 10.1 * (Math.Pow(x[1] - 1, 2) + Math.Pow(x[3] - 1, 2)) + 19.8 * (x[1] - 1) * (x[3] - 1),
        [-3, -1, -3, -1], 0, None);

    /// <summary>(20) Watson, n = 6, m = 31, x0 = 0, f* = 2.28767...e-3.</summary>
    public static Problem Watson() => new("Watson", 20, 6,
        x => Enumerable.Range(1, 29).Sum(i => Math.Pow(
                 Enumerable.Range(1, x.Length - 1).Sum(j => j * x[j] * Math.Pow(i / 29.0, j - 1))
                 - Math.Pow(Enumerable.Range(0, x.Length).Sum(j => x[j] * Math.Pow(i / 29.0, j)), 2) - 1, 2))
             + x[0] * x[0] + Math.Pow(x[1] - x[0] * x[0] - 1, 2),
        new double[6], 2.28767005355e-3, None);

    /// <summary>(21) Extended Rosenbrock, n even, x0 = (-1.2, 1, -1.2, 1, ...), f* = 0 at (1, ..., 1).</summary>
    public static Problem ExtendedRosenbrock(int n) => new($"extended Rosenbrock n={n}", 21, n,
        x => Enumerable.Range(0, x.Length / 2).Sum(i => 100 * Math.Pow(x[2 * i + 1] - x[2 * i] * x[2 * i], 2) + Math.Pow(1 - x[2 * i], 2)),
        Enumerable.Range(0, n).Select(i => i % 2 == 0 ? -1.2 : 1.0).ToArray(), 0, None);

    /// <summary>(22) Extended Powell singular, n a multiple of 4, x0 = (3, -1, 0, 1, ...), f* = 0 at 0 (singular Hessian, see <see cref="PowellSingular"/>).</summary>
    public static Problem ExtendedPowell(int n) => new($"extended Powell n={n}", 22, n,
        x => Enumerable.Range(0, x.Length / 4).Sum(i => Math.Pow(x[4 * i] + 10 * x[4 * i + 1], 2) + 5 * Math.Pow(x[4 * i + 2] - x[4 * i + 3], 2)
             + Math.Pow(x[4 * i + 1] - 2 * x[4 * i + 2], 4) + 10 * Math.Pow(x[4 * i] - x[4 * i + 3], 4)),
        Enumerable.Range(0, n).Select(i => (i % 4) switch { 0 => 3.0, 1 => -1.0, 2 => 0.0, _ => 1.0 }).ToArray(), 0, None, Homogeneous: true);

    /// <summary>(25) Variably dimensioned, x0_j = 1 - j/n, f* = 0 at (1, ..., 1).</summary>
    public static Problem VariablyDimensioned(int n) => new($"variably dimensioned n={n}", 25, n,
        x => Enumerable.Range(0, x.Length).Sum(j => Math.Pow(x[j] - 1, 2))
             + Math.Pow(Enumerable.Range(0, x.Length).Sum(j => (j + 1) * (x[j] - 1)), 2)
             + Math.Pow(Enumerable.Range(0, x.Length).Sum(j => (j + 1) * (x[j] - 1)), 4),
        Enumerable.Range(1, n).Select(j => 1 - (double)j / n).ToArray(), 0, None);

    /// <summary>
    /// (26) Trigonometric, x0 = (1/n, ..., 1/n), f* = 0. The sum Σ cos x_j common to every residual is computed once per
    /// evaluation (a one-element array as the loop source binds it to c). For n = 10 the paper's starting point leads
    /// most minimisers to a local minimum 2.79506...e-5.
    /// </summary>
    public static Problem Trigonometric(int n) => new($"trigonometric n={n}", 26, n,
        x => new[] { Enumerable.Range(0, x.Length).Sum(j => Math.Cos(x[j])) }.Sum(c =>
            Enumerable.Range(0, x.Length).Sum(i => Math.Pow(x.Length - c + (i + 1) * (1 - Math.Cos(x[i])) - Math.Sin(x[i]), 2))),
        Enumerable.Repeat(1.0 / n, n).ToArray(), 0, n == 10 ? [2.79506e-5] : None, ValueTolerance: n == 10 ? 1e-9 : 1e-10, MayStopElsewhere: n > 10);

    /// <summary>
    /// (28) Discrete boundary value, h = 1/(n+1), t_i = i h, x0_i = t_i (t_i - 1), f* = 0. Badly conditioned for large n:
    /// the residuals r have Jacobian J = A + D with A = tridiag(-1, 2, -1) and D &gt;= 0 diagonal near the solution, so
    /// σ_min(J) &gt;= λ_min(A) = 4 sin²(π h / 2), and g = 2 J'r gives f = |r|² &lt;= (|g|₂ / (2 λ_min(A)))² with
    /// |g|₂ &lt;= √n |g|∞ = √n 1e-6: the value tolerance (3.8e-10 at n = 10, 2.7e-5 at n = 100). At n &gt;= 2,000 the
    /// starting point itself has |g|∞ &lt;= 1e-6.
    /// </summary>
    public static Problem DiscreteBoundaryValue(int n) => new($"discrete boundary value n={n}", 28, n,
        x => Enumerable.Range(0, x.Length).Sum(i => Math.Pow(2 * x[i] - (i > 0 ? x[i - 1] : 0) - (i < x.Length - 1 ? x[i + 1] : 0)
             + Math.Pow(x[i] + (i + 1.0) / (x.Length + 1) + 1, 3) / (2.0 * (x.Length + 1) * (x.Length + 1)), 2)),
        Enumerable.Range(1, n).Select(i => (double)i / (n + 1) * ((double)i / (n + 1) - 1)).ToArray(), 0, None,
        ValueTolerance: Math.Pow(Math.Sqrt(n) * 1e-6 / (2 * 4 * Math.Pow(Math.Sin(Math.PI / (2 * (n + 1))), 2)), 2));

    /// <summary>
    /// (30) Broyden tridiagonal, x0 = (-1, ..., -1), f* = 0. For n &gt;= 1,000, L-BFGS may stop at a local minimiser with
    /// f = 0.712528... (MathNet's does at n = 10,000, and ExprAD's did with other first steps), see <see cref="Problem.MayStopElsewhere"/>.
    /// </summary>
    public static Problem BroydenTridiagonal(int n) => new($"Broyden tridiagonal n={n}", 30, n,
        x => Enumerable.Range(0, x.Length).Sum(i => Math.Pow((3 - 2 * x[i]) * x[i] - (i > 0 ? x[i - 1] : 0) - 2 * (i < x.Length - 1 ? x[i + 1] : 0) + 1, 2)),
        Enumerable.Repeat(-1.0, n).ToArray(), 0, None, MayStopElsewhere: n >= 1_000);

    /// <summary>The problems of the tests and the benchmark: every one above, the variable-size ones at small and large n.</summary>
    public static IReadOnlyList<Problem> All() =>
    [
        Rosenbrock(), FreudensteinRoth(), BrownBadlyScaled(), Beale(), HelicalValley(), Box3D(), PowellSingular(), Wood(), Watson(),
        ExtendedRosenbrock(100), ExtendedRosenbrock(10_000), ExtendedPowell(100), ExtendedPowell(10_000),
        VariablyDimensioned(10), VariablyDimensioned(100), Trigonometric(10), Trigonometric(1_000),
        DiscreteBoundaryValue(10), DiscreteBoundaryValue(100), BroydenTridiagonal(100), BroydenTridiagonal(10_000),
    ];
}
