namespace ExprAD.Optimization;

// What the trust-region Newton methods report beyond the shared counts.
public sealed partial record MinimizeResult
{
    /// <summary>
    /// Newton-CG, sparse Newton: conjugate-gradient iterations over the whole run, each one product with the Hessian
    /// (for Newton-CG the same as <see cref="HessianEvaluations"/>; for sparse Newton a product with the CSR matrix). 0 for
    /// the other minimisers.
    /// </summary>
    public int CGIterations { get; init; }
}
