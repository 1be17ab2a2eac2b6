using System.Linq.Expressions;
using ExprAD.Drivers;
using ExprAD.Frontend;
using Trace = ExprAD.IR.Trace;

namespace ExprAD;

public static partial class AD
{
    /// <summary>
    /// The sparse Hessian of f : R^n -> R: its pattern found from the trace (loops followed, both branches of conditionals),
    /// star-coloured, and evaluated by forward-over-reverse sweeps over the colour classes, each entry read back directly.
    /// </summary>
    /// <param name="f">The function of an array.</param>
    /// <param name="options">How to compile; <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>The pattern and evaluation of the sparse Hessian.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static SparseHessianFunc SparseHessian(Expression<Func<double[], double>> f, ADOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        // Compiled now (the sweeps' kernels follow on first use): a lambda that cannot be differentiated fails here, not at a call.
        HessianBlock(f, options, 1);
        var (trace, constants) = SourceOf(f, OneArray);
        return new SparseHessianFunc(new SparseHessianDriver<NoData>(trace, constants, new PlainHessianBlocks(f, options)));
    }

    /// <summary>The sparse Hessian of f(x, data) with respect to x; the pattern is found per length of x and data argument.</summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    /// <param name="f">The function.</param>
    /// <param name="options">How to compile; <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>The pattern and evaluation of the sparse Hessian.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static SparseHessianFunc<TData> SparseHessian<TData>(Expression<Func<double[], TData, double>> f, ADOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        HessianBlock(f, options, 1);
        var (trace, constants) = SourceOf(f, ArrayAndData);
        return new SparseHessianFunc<TData>(new SparseHessianDriver<TData>(trace, constants, new DataHessianBlocks<TData>(f, options)));
    }

    /// <summary>
    /// The sparse Jacobian of f : R^n -> R^m (an array-initializer body, or an array of run-time length such as a
    /// <c>Select(...).ToArray()</c>): its pattern found from the trace, then its columns coloured (forward sweeps) or its rows
    /// (reverse sweeps), whichever needs fewer colours, several colour classes per sweep.
    /// </summary>
    /// <param name="f">The function.</param>
    /// <param name="options">How to compile; <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>The pattern and evaluation of the sparse Jacobian.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static SparseJacobianFunc SparseJacobian(Expression<Func<double[], double[]>> f, ADOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        JacobianBlock(f, options, 1);
        var (trace, constants) = SourceOf(f, OneArray);
        return new SparseJacobianFunc(new SparseJacobianDriver<NoData>(trace, constants, new PlainJacobianBlocks(f, options)));
    }

    /// <summary>The sparse Jacobian of f(x, data) with respect to x; the pattern is found per length of x and data argument.</summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    /// <param name="f">The function.</param>
    /// <param name="options">How to compile; <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>The pattern and evaluation of the sparse Jacobian.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static SparseJacobianFunc<TData> SparseJacobian<TData>(Expression<Func<double[], TData, double[]>> f, ADOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        JacobianBlock(f, options, 1);
        var (trace, constants) = SourceOf(f, ArrayAndData);
        return new SparseJacobianFunc<TData>(new SparseJacobianDriver<TData>(trace, constants, new DataJacobianBlocks<TData>(f, options)));
    }

    /// <summary>The source trace of f (sums left as written, not rerolled) and its lambda instance's runtime constants, for pattern analysis.</summary>
    private static (Trace Trace, object[] Constants) SourceOf(LambdaExpression f, System.Collections.Immutable.ImmutableArray<IR.ParameterRole> roles)
    {
        var (_, constants) = Caching.StructuralKey.Of(f, "sparsity");
        var trace = ExpressionTranslator.Translate(f, roles, constants, rollSums: false);
        return (trace, constants.ToArray());
    }
}
