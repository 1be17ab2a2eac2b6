namespace ExprAD.Optimization;

// The settings of the trust-region Newton methods (Minimize.NewtonCG, Minimize.SparseNewton).
public sealed partial record MinimizeOptions
{
    /// <summary>Newton-CG, sparse Newton: the trust region's radius at the start, in the Euclidean norm (default 1).</summary>
    public double InitialTrustRadius { get; init; } = 1;

    /// <summary>Newton-CG, sparse Newton: the largest trust-region radius (default 1e10).</summary>
    public double MaxTrustRadius { get; init; } = 1e10;

    /// <summary>
    /// Newton-CG, sparse Newton: the most conjugate-gradient iterations per step (default 0: 20 n). CG on an n × n positive
    /// definite system is exact after n iterations in exact arithmetic, but in floating point an ill-conditioned system
    /// loses conjugacy and needs more (the discrete boundary value problem at n = 50, condition number about 10⁶, does not
    /// reach the forcing tolerance in n).
    /// </summary>
    public int MaxCGIterations { get; init; }

    /// <summary>
    /// Newton-CG, sparse Newton: a fixed forcing term η in [0, 1): CG stops when its residual is at most η |g|. Null (the
    /// default) chooses η per iteration: min(0.5, sqrt|g|) for Newton-CG (superlinear convergence for Hessian-vector products
    /// that each cost a gradient), min(0.5, |g|) for sparse Newton (quadratic convergence; its products are cheap). 0 solves
    /// each Newton system to rounding (at most <see cref="MaxCGIterations"/> iterations).
    /// </summary>
    public double? ForcingTerm { get; init; }

    /// <summary>
    /// Sparse and dense Newton: precondition CG with the Hessian's diagonal (|H_ii|, floored), so that the trust region is measured in
    /// the scaled norm |D p| with D = diag(|H_ii|)^1/2 (default false).
    /// </summary>
    public bool JacobiPreconditioner { get; init; }

    /// <summary>Throws when a trust-region setting is out of range.</summary>
    internal void CheckTrustRegion()
    {
        if (!(InitialTrustRadius > 0) || double.IsPositiveInfinity(InitialTrustRadius))
            throw new ArgumentOutOfRangeException("options", $"InitialTrustRadius is {InitialTrustRadius}; it must be positive and finite.");
        if (!(MaxTrustRadius >= InitialTrustRadius))
            throw new ArgumentOutOfRangeException("options", $"MaxTrustRadius is {MaxTrustRadius}; it must be at least InitialTrustRadius ({InitialTrustRadius}).");
        if (MaxCGIterations < 0)
            throw new ArgumentOutOfRangeException("options", $"MaxCGIterations is {MaxCGIterations}; it must be 0 (n) or positive.");
        if (ForcingTerm is { } eta && !(eta >= 0 && eta < 1))
            throw new ArgumentOutOfRangeException("options", $"ForcingTerm is {eta}; it must be in [0, 1).");
    }
}
