namespace ExprAD.Optimization;

public static partial class Minimize
{
    /// <summary>
    /// Truncated Newton with a Steihaug–Toint trust region (Newton-CG): each iteration minimises the quadratic model
    /// gᵀp + ½ pᵀHp inside the region |p| ≤ Δ by conjugate gradients on H p = −g, with H applied through exact
    /// Hessian-vector products, stopped when the residual is at most η|g| with η = min(½, sqrt|g|) (superlinear convergence;
    /// <see cref="MinimizeOptions.ForcingTerm"/> fixes η), at the boundary, or on a direction of negative curvature, which
    /// is followed to the boundary (so nonconvex functions are handled). The ratio of actual to predicted reduction decides
    /// acceptance and the radius (<see cref="MinimizeOptions.InitialTrustRadius"/>, <see cref="MinimizeOptions.MaxTrustRadius"/>,
    /// <see cref="MinimizeOptions.MaxCGIterations"/>).
    /// </summary>
    /// <remarks>
    /// An iteration is an accepted step. <see cref="MinimizeResult.Evaluations"/> counts evaluations of f and its gradient
    /// (at the start and at each trial point; here each is a call of <paramref name="f"/> with a zero direction),
    /// <see cref="MinimizeResult.HessianEvaluations"/> the Hessian-vector products of the CG iterations. Allocates its
    /// workspace (about a dozen vectors of length n) once per run and nothing per iteration.
    /// </remarks>
    /// <param name="f">f's value, gradient and Hessian-vector product, e.g. from <see cref="AD.HessianVector(System.Linq.Expressions.Expression{Func{double[], double}}, ADOptions?)"/>.</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="options">Stopping criteria and trust-region settings; <see cref="MinimizeOptions.Default"/> when null.</param>
    /// <returns>The final point and why the run stopped.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> or <paramref name="x0"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x0"/>, or f or its gradient at <paramref name="x0"/>, is not finite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static MinimizeResult NewtonCG(HessianVectorFunc f, double[] x0, MinimizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        return NewtonCGRun(f, null, x0, options);
    }

    /// <summary>
    /// Newton-CG (see <see cref="NewtonCG(HessianVectorFunc, double[], MinimizeOptions?)"/>) with a separate gradient for
    /// the evaluations at trial points, cheaper than a Hessian-vector product.
    /// </summary>
    /// <param name="f">f's value, gradient and Hessian-vector product.</param>
    /// <param name="gradient">f's value and gradient (the same function), e.g. from <see cref="AD.Gradient(System.Linq.Expressions.Expression{Func{double[], double}}, ADOptions?)"/>.</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="options">Stopping criteria and trust-region settings; <see cref="MinimizeOptions.Default"/> when null.</param>
    /// <returns>The final point and why the run stopped.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/>, <paramref name="gradient"/> or <paramref name="x0"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x0"/>, or f or its gradient at <paramref name="x0"/>, is not finite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static MinimizeResult NewtonCG(HessianVectorFunc f, GradientFunc gradient, double[] x0, MinimizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(gradient);
        return NewtonCGRun(f, gradient, x0, options);
    }

    /// <summary>Newton-CG (see <see cref="NewtonCG(HessianVectorFunc, double[], MinimizeOptions?)"/>) on f(x, data), minimised over x.</summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    /// <param name="f">f's value, gradient and Hessian-vector product with respect to x.</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="data">The data argument passed to every call.</param>
    /// <param name="options">Stopping criteria and trust-region settings; <see cref="MinimizeOptions.Default"/> when null.</param>
    /// <returns>The final point and why the run stopped.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> or <paramref name="x0"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x0"/>, or f or its gradient at <paramref name="x0"/>, is not finite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static MinimizeResult NewtonCG<TData>(HessianVectorFunc<TData> f, double[] x0, TData data, MinimizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        return NewtonCGRun(f, null, x0, data, options);
    }

    /// <summary>Newton-CG on f(x, data) with a separate, cheaper gradient for the evaluations at trial points.</summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    /// <param name="f">f's value, gradient and Hessian-vector product with respect to x.</param>
    /// <param name="gradient">f's value and gradient with respect to x (the same function).</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="data">The data argument passed to every call.</param>
    /// <param name="options">Stopping criteria and trust-region settings; <see cref="MinimizeOptions.Default"/> when null.</param>
    /// <returns>The final point and why the run stopped.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/>, <paramref name="gradient"/> or <paramref name="x0"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x0"/>, or f or its gradient at <paramref name="x0"/>, is not finite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static MinimizeResult NewtonCG<TData>(HessianVectorFunc<TData> f, GradientFunc<TData> gradient, double[] x0, TData data, MinimizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(gradient);
        return NewtonCGRun(f, gradient, x0, data, options);
    }

    private static MinimizeResult NewtonCGRun(HessianVectorFunc f, GradientFunc? gradient, double[] x0, MinimizeOptions? options)
    {
        ArgumentNullException.ThrowIfNull(x0);
        int n = x0.Length;
        var monitor = new RunMonitor(options, n, x0);
        var work = new TrustRegion.Workspace(n);
        var objective = new HessianVectorObjective(f, gradient, new double[n], new double[n]);
        var model = new ProductModel<HessianVectorObjective>(objective, work.X, new double[n]);
        return TrustRegion.Run(ref model, work, monitor, x0, quadraticForcing: false);
    }

    private static MinimizeResult NewtonCGRun<TData>(HessianVectorFunc<TData> f, GradientFunc<TData>? gradient, double[] x0, TData data, MinimizeOptions? options)
    {
        ArgumentNullException.ThrowIfNull(x0);
        int n = x0.Length;
        var monitor = new RunMonitor(options, n, x0);
        var work = new TrustRegion.Workspace(n);
        var objective = new HessianVectorObjective<TData>(f, data, gradient, new double[n], new double[n]);
        var model = new ProductModel<HessianVectorObjective<TData>>(objective, work.X, new double[n]);
        return TrustRegion.Run(ref model, work, monitor, x0, quadraticForcing: false);
    }
}

/// <summary>
/// The Hessian at <paramref name="x"/> (the trust region's current point, updated in place by the loop) as exact
/// Hessian-vector products of the user's function; the gradient each product also computes goes to <paramref name="scratch"/>.
/// </summary>
internal struct ProductModel<TObjective>(TObjective f, double[] x, double[] scratch) : INewtonModel
    where TObjective : struct, IHessianVectorObjective
{
    private int _products;

    public void Multiply(ReadOnlySpan<double> v, Span<double> hv)
    {
        _products++;
        f.Evaluate(x, v, scratch, hv);
    }

    public double Evaluate(ReadOnlySpan<double> point, Span<double> gradient) => f.Evaluate(point, gradient);

    public void Accept() { }

    public int HessianEvaluations => _products;

    public bool Diagonal(Span<double> diagonal) => false;
}
