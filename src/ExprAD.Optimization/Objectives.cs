namespace ExprAD.Optimization;

// The minimisers are generic over these structs so that a call of f is a direct call the JIT can inline around (no
// per-iteration delegate allocation, no boxing), whatever form the user's delegate has.

/// <summary>f and its gradient at x, as one call.</summary>
internal interface IGradientObjective
{
    /// <summary>Writes the gradient at <paramref name="x"/> into <paramref name="gradient"/> and returns f(x).</summary>
    double Evaluate(ReadOnlySpan<double> x, Span<double> gradient);
}

/// <summary>f, its gradient and a Hessian-vector product at x, as one call.</summary>
internal interface IHessianVectorObjective : IGradientObjective
{
    /// <summary>Writes the gradient and H(x)·<paramref name="v"/>, returns f(x).</summary>
    double Evaluate(ReadOnlySpan<double> x, ReadOnlySpan<double> v, Span<double> gradient, Span<double> hv);
}

/// <summary>A <see cref="GradientFunc"/>.</summary>
internal readonly struct GradientObjective(GradientFunc f) : IGradientObjective
{
    public double Evaluate(ReadOnlySpan<double> x, Span<double> gradient) => f(x, gradient);
}

/// <summary>A <see cref="GradientFunc{TData}"/> with its data bound.</summary>
internal readonly struct GradientObjective<TData>(GradientFunc<TData> f, TData data) : IGradientObjective
{
    public double Evaluate(ReadOnlySpan<double> x, Span<double> gradient) => f(x, data, gradient);
}

/// <summary>
/// A <see cref="HessianVectorFunc"/>. The gradient alone is the product with a zero direction, written to a scratch
/// array: it costs a Hessian-vector product, which a caller that has a cheaper <see cref="GradientFunc"/> avoids by
/// passing it too. <paramref name="zero"/> stays zero; <paramref name="scratch"/> is overwritten (both of length n).
/// </summary>
internal readonly struct HessianVectorObjective(HessianVectorFunc f, GradientFunc? gradient, double[] zero, double[] scratch) : IHessianVectorObjective
{
    public double Evaluate(ReadOnlySpan<double> x, Span<double> g) => gradient is { } cheap ? cheap(x, g) : f(x, zero, g, scratch);
    public double Evaluate(ReadOnlySpan<double> x, ReadOnlySpan<double> v, Span<double> g, Span<double> hv) => f(x, v, g, hv);
}

/// <summary>A <see cref="HessianVectorFunc{TData}"/> with its data bound; see <see cref="HessianVectorObjective"/>.</summary>
internal readonly struct HessianVectorObjective<TData>(HessianVectorFunc<TData> f, TData data, GradientFunc<TData>? gradient, double[] zero, double[] scratch) : IHessianVectorObjective
{
    public double Evaluate(ReadOnlySpan<double> x, Span<double> g) => gradient is { } cheap ? cheap(x, data, g) : f(x, data, zero, g, scratch);
    public double Evaluate(ReadOnlySpan<double> x, ReadOnlySpan<double> v, Span<double> g, Span<double> hv) => f(x, data, v, g, hv);
}
