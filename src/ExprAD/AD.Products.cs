using System.Linq.Expressions;
using ExprAD.Codegen;
using ExprAD.Errors;
using ExprAD.IR;
using ExprAD.Passes;
using ExprAD.Transforms;
using Trace = ExprAD.IR.Trace;

namespace ExprAD;

public static partial class AD
{
    /// <summary>
    /// The values and the Jacobian-vector product J(x)·v of f : R^n -> R^m (an array-initializer body, or an array of
    /// run-time length such as a <c>Select(...).ToArray()</c>), by one forward sweep.
    /// </summary>
    /// <param name="f">The function.</param>
    /// <param name="options">How to compile; <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate writing f(x) and J·v into caller-owned spans.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static JacobianVectorFunc Jvp(Expression<Func<double[], double[]>> f, ADOptions? options = null)
    {
        var (kernel, constants, info) = CompileWithOptions<ProductKernel>(f, "jvp-vector", OneArray, options, JacobianVectorOf);
        return new BoundProduct(kernel, constants, info).Invoke;
    }

    /// <summary>The values and J(x)·v of f(x, data) : R^n -> R^m with respect to x; data is read at call time.</summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    /// <param name="f">The function.</param>
    /// <param name="options">How to compile; <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate writing f(x, data) and J·v.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static JacobianVectorFunc<TData> Jvp<TData>(Expression<Func<double[], TData, double[]>> f, ADOptions? options = null)
    {
        var (kernel, constants, info) = CompileWithOptions<ProductKernel<TData>>(f, "jvp-vector-data", ArrayAndData, options, JacobianVectorOf);
        return new BoundProduct<TData>(kernel, constants, info).Invoke;
    }

    /// <summary>
    /// The values and the vector-Jacobian product uᵀ J(x) of f : R^n -> R^m (an array-initializer body), by one reverse sweep.
    /// </summary>
    /// <param name="f">The function; its body must be <c>new[] { e1, ..., em }</c>.</param>
    /// <param name="options">How to compile; <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate writing f(x) and uᵀ J into caller-owned spans.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static VectorJacobianFunc Vjp(Expression<Func<double[], double[]>> f, ADOptions? options = null)
    {
        var (kernel, constants, info) = CompileWithOptions<ProductKernel>(f, "vjp", OneArray, options, (s, o) => VectorJacobianOf(s, f.Body, o));
        return new BoundProduct(kernel, constants, info).Invoke;
    }

    /// <summary>The values and uᵀ J(x) of f(x, data) : R^n -> R^m with respect to x; data is read at call time.</summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    /// <param name="f">The function; its body must be <c>new[] { e1, ..., em }</c>.</param>
    /// <param name="options">How to compile; <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate writing f(x, data) and uᵀ J.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static VectorJacobianFunc<TData> Vjp<TData>(Expression<Func<double[], TData, double[]>> f, ADOptions? options = null)
    {
        var (kernel, constants, info) = CompileWithOptions<ProductKernel<TData>>(f, "vjp-data", ArrayAndData, options, (s, o) => VectorJacobianOf(s, f.Body, o));
        return new BoundProduct<TData>(kernel, constants, info).Invoke;
    }

    private static (Trace, LoweringPlan) JacobianVectorOf(Trace source, ADOptions _)
    {
        int direction = source.Environment.Roles.Length;
        var trace = DeadCodeElimination.Apply(ForwardMode.Apply(source, 1, (b, input, d) => SeedFromSpan(b, input, d, direction)));
        return (trace, LoweringPlans.JacobianVector(trace, InputsOf(source), direction));
    }

    private static (Trace, LoweringPlan) VectorJacobianOf(Trace source, Expression body, ADOptions options)
    {
        if (source.Outputs.Any(o => source[o].Kind == ValueKind.Array))
            throw Error.CannotDifferentiate(body, "the vector-Jacobian product of an array of run-time length is not supported; return new[] { e1, ..., em }");
        int seed = source.Environment.Roles.Length;
        var reverse = ReverseMode.Apply(source, (b, k) => b.Input(seed, k), options.CheckpointInterval);
        var trace = DeadCodeElimination.Apply(LoopFusion.Apply(DeadCodeElimination.Apply(reverse)));
        return (trace, LoweringPlans.VectorJacobian(trace, InputsOf(source), source.Outputs.Length, seed));
    }
}
