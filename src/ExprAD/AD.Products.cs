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
        return JacobianBlock(f, options, 1).Invoke;
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
        return JacobianBlock(f, options, 1).Invoke;
    }

    /// <summary>
    /// The values and the vector-Jacobian product uᵀ J(x) of f : R^n -> R^m (an array-initializer body, or an array of
    /// run-time length such as a <c>Select(...).ToArray()</c>), by one reverse sweep.
    /// </summary>
    /// <param name="f">The function.</param>
    /// <param name="options">How to compile; <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate writing f(x) and uᵀ J into caller-owned spans.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static VectorJacobianFunc Vjp(Expression<Func<double[], double[]>> f, ADOptions? options = null)
    {
        return VectorJacobianBlock(f, options, 1).Invoke;
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
        return VectorJacobianBlock(f, options, 1).Invoke;
    }

    /// <summary>Forward mode in <paramref name="directions"/> directions, direction d read from the d-th slice of a direction span.</summary>
    private static (Trace, LoweringPlan) JacobianBlockOf(Trace source, int directions)
    {
        int direction = source.Environment.Roles.Length;
        var trace = DeadCodeElimination.Apply(ForwardMode.Apply(source, directions, (b, input, d) => SeedFromSpan(b, input, d, direction)));
        return (trace, LoweringPlans.JacobianVector(trace, InputsOf(source), direction, directions));
    }

    /// <summary>The forward kernel of f in <paramref name="directions"/> directions: J·v_d for each slice v_d of v, into the slices of jv.</summary>
    internal static BoundProduct JacobianBlock(Expression<Func<double[], double[]>> f, ADOptions? options, int directions)
    {
        var (kernel, constants, info) = CompileWithOptions<ProductKernel>(f, "jvp-block:" + directions, OneArray, options, (s, _) => JacobianBlockOf(s, directions));
        return new BoundProduct(kernel, constants, info);
    }

    /// <summary>The forward kernel of f(x, data) in <paramref name="directions"/> directions.</summary>
    internal static BoundProduct<TData> JacobianBlock<TData>(Expression<Func<double[], TData, double[]>> f, ADOptions? options, int directions)
    {
        var (kernel, constants, info) = CompileWithOptions<ProductKernel<TData>>(f, "jvp-block-data:" + directions, ArrayAndData, options, (s, _) => JacobianBlockOf(s, directions));
        return new BoundProduct<TData>(kernel, constants, info);
    }

    /// <summary>
    /// Reverse mode in <paramref name="sweeps"/> sweeps sharing one primal: sweep s seeds output k with element s m + k of a
    /// seed span (m outputs; for an array of run-time length, the s-th slice of its length).
    /// </summary>
    private static (Trace, LoweringPlan) VectorJacobianBlockOf(Trace source, ADOptions options, int sweeps)
    {
        int seed = source.Environment.Roles.Length;
        bool array = source[source.Outputs[0]].Kind == ValueKind.Array;
        int m = source.Outputs.Length;
        // An array of run-time length is seeded with an adjoint array holding u's slice (read at computed indices, so u
        // must be long enough; the plan checks it is exactly as long as the sweeps' slices once the result is known).
        var reverse = ReverseMode.ApplySweepsSeededByValue(source, sweeps,
            (b, s, k, value) => array ? AdjointArrayFrom(b, value, seed, s) : b.Input(seed, s * m + k), options.CheckpointInterval);
        var trace = AfterReverse(reverse, options);
        return (trace, LoweringPlans.VectorJacobian(trace, InputsOf(source), array ? -1 : m, seed, sweeps));
    }

    /// <summary>The reverse kernel of f in <paramref name="sweeps"/> sweeps: u_sᵀ J for each slice u_s of u, into the slices of uj.</summary>
    internal static BoundProduct VectorJacobianBlock(Expression<Func<double[], double[]>> f, ADOptions? options, int sweeps)
    {
        var (kernel, constants, info) = CompileWithOptions<ProductKernel>(f, "vjp-block:" + sweeps, OneArray, options, (s, o) => VectorJacobianBlockOf(s, o, sweeps));
        return new BoundProduct(kernel, constants, info);
    }

    /// <summary>The reverse kernel of f(x, data) in <paramref name="sweeps"/> sweeps.</summary>
    internal static BoundProduct<TData> VectorJacobianBlock<TData>(Expression<Func<double[], TData, double[]>> f, ADOptions? options, int sweeps)
    {
        var (kernel, constants, info) = CompileWithOptions<ProductKernel<TData>>(f, "vjp-block-data:" + sweeps, ArrayAndData, options, (s, o) => VectorJacobianBlockOf(s, o, sweeps));
        return new BoundProduct<TData>(kernel, constants, info);
    }

    /// <summary>A new array as long as <paramref name="array"/> holding slice <paramref name="slice"/> (of that length) of parameter <paramref name="parameter"/>.</summary>
    private static Value AdjointArrayFrom(TraceBuilder b, Value array, int parameter, int slice)
    {
        var length = b.Emit(Rules.Op.ArrayLength, array);
        var offset = b.Mul(b.Integer(slice), length);
        var adjoint = b.ZeroArray(length);
        var fill = b.CreateBody();
        var at = fill.LoopIndex();
        fill.ArrayAdd(fill.Capture(adjoint), at, fill.InputAt(parameter, slice == 0 ? at : fill.Add(at, fill.Capture(offset))));
        b.EmitSum(b.Integer(0), length, fill, []);
        return adjoint;
    }
}
