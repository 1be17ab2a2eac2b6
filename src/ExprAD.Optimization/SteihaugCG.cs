namespace ExprAD.Optimization;

/// <summary>
/// A symmetric operator v ↦ H·v: the Hessian at the current point, given as products (Newton-CG: one Hessian-vector
/// product of the user's function per call) or as a matrix (sparse Newton: the CSR values). Implemented by structs, so
/// that <see cref="SteihaugCG"/> calls it directly.
/// </summary>
internal interface IHessianOperator
{
    /// <summary>Writes H·<paramref name="v"/> into <paramref name="hv"/> (same length; they do not overlap).</summary>
    void Multiply(ReadOnlySpan<double> v, Span<double> hv);
}

/// <summary>
/// A symmetric positive definite preconditioner M: <see cref="Solve"/> applies M⁻¹, <see cref="Dot"/> is the M inner
/// product, which also measures the trust region (|p|_M ≤ Δ).
/// </summary>
internal interface IPreconditioner
{
    /// <summary>y = M⁻¹ r.</summary>
    void Solve(ReadOnlySpan<double> r, Span<double> y);

    /// <summary>aᵀ M b.</summary>
    double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b);
}

/// <summary>M = I: plain CG, the trust region in the Euclidean norm.</summary>
internal readonly struct IdentityPreconditioner : IPreconditioner
{
    public void Solve(ReadOnlySpan<double> r, Span<double> y) => r.CopyTo(y);
    public double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b) => Vectors.Dot(a, b);
}

/// <summary>M = diag(<paramref name="diagonal"/>), every element positive.</summary>
internal readonly struct DiagonalPreconditioner(double[] diagonal) : IPreconditioner
{
    public void Solve(ReadOnlySpan<double> r, Span<double> y)
    {
        for (int i = 0; i < r.Length; i++) y[i] = r[i] / diagonal[i];
    }

    public double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * diagonal[i] * b[i];
        return sum;
    }
}

/// <summary>How a <see cref="SteihaugCG"/> solve ended.</summary>
internal enum SteihaugExit
{
    /// <summary>The residual fell to the tolerance inside the trust region.</summary>
    Converged,
    /// <summary>A CG iterate left the trust region; the step is cut at the boundary.</summary>
    Boundary,
    /// <summary>A direction of nonpositive curvature was met; the step follows it to the boundary.</summary>
    NegativeCurvature,
    /// <summary>The iteration limit was reached inside the trust region.</summary>
    MaxIterations,
}

/// <summary>
/// The Steihaug–Toint truncated conjugate-gradient method (Nocedal &amp; Wright, Numerical Optimization, 2nd ed.,
/// Algorithm 7.2, with a preconditioner as in Conn, Gould &amp; Toint, Trust-Region Methods, §7.5): an approximate
/// minimiser of the model m(p) = gᵀp + ½ pᵀHp subject to |p|_M ≤ Δ, by CG on H p = −g from p = 0, stopped when the residual
/// is small, when an iterate leaves the region, or on a direction of nonpositive curvature (followed to the boundary, so an
/// indefinite H still gives a descent step). The model decreases monotonically along the CG iterates and |p|_M grows
/// monotonically, which is why stopping at the boundary is sound.
/// </summary>
internal static class SteihaugCG
{
    /// <summary>The vectors one solve needs, allocated once per run.</summary>
    internal sealed class Workspace(int n)
    {
        public readonly double[] Residual = new double[n];
        public readonly double[] Preconditioned = new double[n];
        public readonly double[] Direction = new double[n];
        public readonly double[] Product = new double[n];
    }

    /// <summary>
    /// Writes the step into <paramref name="p"/> and returns how the solve ended. Invariant of the loop: r = g + H p (the
    /// model's gradient at p), so the model value needs no further product: m(p) = ½ (gᵀp + pᵀr).
    /// </summary>
    /// <param name="h">The Hessian operator.</param>
    /// <param name="m">The preconditioner; it also defines the trust region's norm.</param>
    /// <param name="g">The gradient (nonzero).</param>
    /// <param name="radius">Δ &gt; 0.</param>
    /// <param name="tolerance">Stop when |r|₂ ≤ this.</param>
    /// <param name="maxIterations">The most CG iterations (products with H), at least 1.</param>
    /// <param name="p">Receives the step.</param>
    /// <param name="work">Scratch vectors.</param>
    /// <param name="products">Receives the number of products with H.</param>
    /// <param name="predicted">Receives the model's predicted reduction −m(p) (positive unless rounding intervened).</param>
    /// <param name="stepNorm">Receives |p|_M.</param>
    public static SteihaugExit Solve<THessian, TPreconditioner>(ref THessian h, in TPreconditioner m, ReadOnlySpan<double> g, double radius,
        double tolerance, int maxIterations, Span<double> p, Workspace work, out int products, out double predicted, out double stepNorm)
        where THessian : struct, IHessianOperator
        where TPreconditioner : struct, IPreconditioner
    {
        Span<double> r = work.Residual, y = work.Preconditioned, d = work.Direction, hd = work.Product;
        p.Clear();
        g.CopyTo(r);
        m.Solve(r, y);
        for (int i = 0; i < d.Length; i++) d[i] = -y[i];
        double ry = Vectors.Dot(r, y);
        // |p|²_M, kept up to date as p changes.
        double pp = 0;
        products = 0;
        var exit = SteihaugExit.MaxIterations;
        while (products < maxIterations)
        {
            h.Multiply(d, hd);
            products++;
            double curvature = Vectors.Dot(d, hd);
            if (!(curvature > 0))
            {
                // A NaN curvature (H not finite there) also ends here: the predicted reduction is then NaN, and the
                // trust-region loop rejects the step and shrinks the region.
                ToBoundary(m, p, d, hd, r, pp, radius);
                exit = SteihaugExit.NegativeCurvature;
                break;
            }
            double alpha = ry / curvature;
            // |p + αd|²_M from the M inner products, without forming the trial iterate.
            double pd = m.Dot(p, d), dd = m.Dot(d, d);
            double next = pp + 2 * alpha * pd + alpha * alpha * dd;
            if (next >= radius * radius)
            {
                ToBoundary(m, p, d, hd, r, pp, radius);
                exit = SteihaugExit.Boundary;
                break;
            }
            Vectors.AddScaled(p, alpha, d);
            Vectors.AddScaled(r, alpha, hd);
            pp = next;
            if (Vectors.Norm2(r) <= tolerance)
            {
                exit = SteihaugExit.Converged;
                break;
            }
            m.Solve(r, y);
            double ryNext = Vectors.Dot(r, y);
            double beta = ryNext / ry;
            ry = ryNext;
            for (int i = 0; i < d.Length; i++) d[i] = beta * d[i] - y[i];
        }
        predicted = -0.5 * (Vectors.Dot(g, p) + Vectors.Dot(p, r));
        stepNorm = exit is SteihaugExit.Boundary or SteihaugExit.NegativeCurvature ? radius : Math.Sqrt(m.Dot(p, p));
        return exit;
    }

    /// <summary>
    /// p += τ d with τ ≥ 0 the root of |p + τ d|_M = Δ (|p|_M &lt; Δ, so exactly one root is positive), and r += τ H d to keep
    /// r = g + H p.
    /// </summary>
    private static void ToBoundary<TPreconditioner>(in TPreconditioner m, Span<double> p, ReadOnlySpan<double> d, ReadOnlySpan<double> hd,
        Span<double> r, double pp, double radius) where TPreconditioner : struct, IPreconditioner
    {
        double pd = m.Dot(p, d), dd = m.Dot(d, d);
        double room = Math.Max(0, radius * radius - pp);
        double root = Math.Sqrt(pd * pd + dd * room);
        // The two algebraically equal forms of the positive root; each avoids cancellation for one sign of pᵀMd.
        double tau = pd >= 0 ? room / (pd + root) : (root - pd) / dd;
        if (!double.IsFinite(tau)) tau = 0;
        Vectors.AddScaled(p, tau, d);
        Vectors.AddScaled(r, tau, hd);
    }
}
