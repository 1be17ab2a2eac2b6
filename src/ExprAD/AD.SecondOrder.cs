using System.Collections.Immutable;
using System.Linq.Expressions;
using ExprAD.Codegen;
using ExprAD.Drivers;
using ExprAD.IR;
using ExprAD.Passes;
using ExprAD.Rules;
using ExprAD.Transforms;
using Trace = ExprAD.IR.Trace;

namespace ExprAD;

public static partial class AD
{
    /// <summary>
    /// The value, gradient and Hessian-vector product H(x)·v of f : R^n -> R, by forward mode over reverse mode
    /// (Pearlmutter): about the cost of a few gradients, whatever n.
    /// </summary>
    /// <param name="f">The function of an array.</param>
    /// <param name="options">How to compile (fold checkpointing); <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate returning f(x) and writing ∇f(x) and H(x)·v into caller-owned spans.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static HessianVectorFunc HessianVector(Expression<Func<double[], double>> f, ADOptions? options = null) =>
        HessianBlock(f, options, 1).Invoke;

    /// <summary>The value, gradient and Hessian-vector product with respect to x of f(x, data); data is read at call time.</summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    /// <param name="f">The function.</param>
    /// <param name="options">How to compile; <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate returning f(x, data) and writing the gradient and H·v.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static HessianVectorFunc<TData> HessianVector<TData>(Expression<Func<double[], TData, double>> f, ADOptions? options = null) =>
        HessianBlock(f, options, 1).Invoke;

    /// <summary>
    /// The value, gradient and dense Hessian of f : R^n -> R: forward-over-reverse sweeps carrying several unit directions
    /// each (rows of H), sharing one primal and adjoint computation per sweep. When the sparsity analysis follows f and its
    /// pattern (found once per length) needs fewer colours than n, the sweeps carry the colour classes instead, as
    /// <see cref="SparseHessian(Expression{Func{double[], double}}, ADOptions?)"/> does, and the entries are spread into the
    /// dense matrix (zeros elsewhere).
    /// </summary>
    /// <param name="f">The function of an array.</param>
    /// <param name="options">How to compile; <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate returning f(x) and writing the gradient and the row-major n x n Hessian.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static HessianFunc Hessian(Expression<Func<double[], double>> f, ADOptions? options = null)
    {
        // Compiled now (the sweeps' kernels follow on first use): a lambda that cannot be differentiated fails here, not at a call.
        HessianBlock(f, options, 1);
        var blocks = new PlainHessianBlocks(f, options);
        var (trace, constants) = SourceOf(f, OneArray);
        var dense = new DenseHessian<NoData>(blocks, new SparseHessianDriver<NoData>(trace, constants, blocks, forDense: true));
        return (x, gradient, hessian) => dense.Evaluate(x, default, gradient, hessian);
    }

    /// <summary>The value, gradient and dense Hessian with respect to x of f(x, data).</summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    /// <param name="f">The function.</param>
    /// <param name="options">How to compile; <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate returning f(x, data) and writing the gradient and the row-major Hessian.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static HessianFunc<TData> Hessian<TData>(Expression<Func<double[], TData, double>> f, ADOptions? options = null)
    {
        var dense = new DenseHessian<TData>(new DataHessianBlocks<TData>(f, options));
        // Compiled now (the sweeps' kernels follow on first use): a lambda that cannot be differentiated fails here, not at a call.
        HessianBlock(f, options, 1);
        return dense.Evaluate;
    }

    /// <summary>The Laplacian of f : R^n -> R, Σ_i ∂²f/∂x_i², from the diagonal of forward-over-reverse sweeps.</summary>
    /// <param name="f">The function of an array.</param>
    /// <returns>A delegate returning f(x) and the Laplacian.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static LaplacianFunc Laplacian(Expression<Func<double[], double>> f)
    {
        var dense = new DenseHessian<NoData>(new PlainHessianBlocks(f, null));
        // Compiled now (the sweeps' kernels follow on first use): a lambda that cannot be differentiated fails here, not at a call.
        HessianBlock(f, null, 1);
        return (ReadOnlySpan<double> x, out double laplacian) => dense.Laplacian(x, default, out laplacian);
    }

    /// <summary>The forward-over-reverse kernel of f in <paramref name="directions"/> directions (see <see cref="LoweringPlans.HessianBlock"/>).</summary>
    internal static BoundHessianVector HessianBlock(Expression<Func<double[], double>> f, ADOptions? options, int directions)
    {
        var (kernel, constants, info) = CompileWithOptions<HessianBlockKernel>(f, "hessian-block:" + directions, OneArray, options,
            (source, o) => HessianBlockOf(source, o, directions));
        return new BoundHessianVector(kernel, constants, info);
    }

    /// <summary>The forward-over-reverse kernel of f(x, data) in <paramref name="directions"/> directions.</summary>
    internal static BoundHessianVector<TData> HessianBlock<TData>(Expression<Func<double[], TData, double>> f, ADOptions? options, int directions)
    {
        var (kernel, constants, info) = CompileWithOptions<HessianBlockKernel<TData>>(f, "hessian-block-data:" + directions, ArrayAndData, options,
            (source, o) => HessianBlockOf(source, o, directions));
        return new BoundHessianVector<TData>(kernel, constants, info);
    }

    /// <summary>
    /// Forward mode over the gradient's trace, direction d seeding element j of x with element d * n + j of a direction
    /// span (a parameter after the lambda's own).
    /// </summary>
    private static (Trace, LoweringPlan) HessianBlockOf(Trace source, ADOptions options, int directions)
    {
        int direction = source.Environment.Roles.Length;
        var forward = ForwardMode.Apply(Reverse(source, options), directions, (b, input, d) => SeedFromSpan(b, input, d, direction));
        var trace = DeadCodeElimination.Apply(forward);
        return (trace, LoweringPlans.HessianBlock(trace, InputsOf(source), directions, direction));
    }

    /// <summary>
    /// The tangent of an element of x in direction d: the same element of parameter <paramref name="direction"/> + d, which
    /// the plans read from the d-th slice (of x's length) of one direction span.
    /// </summary>
    private static Value SeedFromSpan(TraceBuilder b, Instruction input, int d, int direction) =>
        input.Op == Op.Input ? b.Input(direction + d, input.B) : b.InputAt(direction + d, new Value(input.A));
}
