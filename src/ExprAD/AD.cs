using System.Collections.Immutable;
using Stopwatch = System.Diagnostics.Stopwatch;
using System.Linq.Expressions;
using Trace = ExprAD.IR.Trace;
using ExprAD.Caching;
using ExprAD.Codegen;
using ExprAD.Errors;
using ExprAD.Frontend;
using ExprAD.IR;
using ExprAD.Passes;
using ExprAD.Rules;
using ExprAD.Transforms;

namespace ExprAD;

/// <summary>
/// The entry points of ExprAD: turn a lambda into a compiled, cached derivative delegate.
/// </summary>
/// <remarks>
/// Every method translates the lambda into an evaluation trace, applies forward or reverse mode,
/// removes dead and duplicate code, and compiles the result. Compiled kernels are cached by the
/// lambda's structure, so asking again for a lambda of the same shape (the C# compiler builds a
/// new tree each time a lambda expression is evaluated) costs a walk over the tree, not a
/// compilation. Captured variables and members of the data argument are read when the delegate
/// is called, never baked in. The returned delegates allocate nothing per call and are safe to
/// call from many threads at once.
/// </remarks>
public static partial class AD
{
    private static readonly ImmutableArray<ParameterRole> OneScalar = [ParameterRole.Scalar];
    private static readonly ImmutableArray<ParameterRole> OneArray = [ParameterRole.Array];
    private static readonly ImmutableArray<ParameterRole> ArrayAndData = [ParameterRole.Array, ParameterRole.Data];
    private static readonly string[] DerivativeRequests = ["derivative:0", "derivative:1", "derivative:2", "derivative:3", "derivative:4"];

    /// <summary>
    /// The derivative of order <paramref name="order"/> of f : R -> R: by univariate Taylor mode (Taylor coefficients
    /// propagated through every operation, cost quadratic in the order) for straight-line code of the arithmetic operators
    /// and exp, log, sin, cos, tan, tanh, atan, sqrt and constant integer powers; otherwise by forward mode applied
    /// <paramref name="order"/> times to the trace. Either way exact, not finite differences.
    /// </summary>
    /// <param name="f">The function, for example <c>x => Math.Sin(x) * x</c>.</param>
    /// <param name="order">1 for f', 2 for f'', and so on.</param>
    /// <returns>A delegate computing f^(order)(x).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="order"/> is less than 1.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static Func<double, double> Derivative(Expression<Func<double, double>> f, int order = 1)
    {
        ArgumentNullException.ThrowIfNull(f);
        if (order < 1) throw Error.BadOrder(order);
        var (kernel, constants, info) = Compile<ScalarKernel>(f, order < DerivativeRequests.Length ? DerivativeRequests[order] : "derivative:" + order, OneScalar, (source, compileChunk) =>
        {
            // Order 2 and up by Taylor mode (O(order²) per operation) when the trace is straight-line code it covers.
            var taylor = order >= 2 ? TaylorMode.Apply(source, order) : null;
            var trace = taylor is null ? source : DeadCodeElimination.Apply(taylor);
            for (int k = 0; k < order && taylor is null; k++)
            {
                var forward = ForwardMode.Apply(trace, 1, (b, _, _) => b.Constant(1.0));
                trace = DeadCodeElimination.Apply(forward.WithOutputs([forward.Outputs[1]]));
            }
            return (trace, TraceLowering.Lower<ScalarKernel>(trace, LoweringPlans.Scalar(trace), compileChunk));
        });
        return new BoundScalar(kernel, constants, info).Invoke;
    }

    /// <summary>
    /// The value and full gradient of f : R^n -> R in one reverse sweep.
    /// </summary>
    /// <param name="f">The function of an array, indexed with constant indices, for example <c>x => x[0] * x[1]</c>.</param>
    /// <param name="options">How to compile (fold checkpointing, parallel loops); <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate returning f(x) and writing ∂f/∂x into a caller-owned span.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static GradientFunc Gradient(Expression<Func<double[], double>> f, ADOptions? options = null)
    {
        var (kernel, constants, info) = CompileWithOptions<GradientKernel>(f, "gradient", OneArray, options, GradientOf);
        return new BoundGradient(kernel, constants, info).Invoke;
    }

    /// <summary>
    /// The value and gradient with respect to x of f(x, data), where <c>data</c> is read at call time and never differentiated.
    /// </summary>
    /// <typeparam name="TData">The data argument's type; its members may be numbers or arrays of numbers.</typeparam>
    /// <param name="f">The function, for example <c>(w, d) => d.Scale * w[0] * w[0]</c>.</param>
    /// <param name="options">How to compile (fold checkpointing, parallel loops); <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate returning f(x, data) and writing ∂f/∂x into a caller-owned span.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static GradientFunc<TData> Gradient<TData>(Expression<Func<double[], TData, double>> f, ADOptions? options = null)
    {
        var (kernel, constants, info) = CompileWithOptions<GradientKernel<TData>>(f, "gradient-data", ArrayAndData, options, GradientOf);
        return new BoundGradient<TData>(kernel, constants, info).Invoke;
    }

    /// <summary>
    /// The function alone, compiled by the same pipeline (trace, simplification, loops, code generation)
    /// without any derivative: the primal that a gradient's cost is compared with.
    /// </summary>
    /// <param name="f">The function of an array.</param>
    /// <param name="options">How to compile (parallel loops); <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate computing f(x).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot translate; the message quotes it.</exception>
    public static ValueFunc Value(Expression<Func<double[], double>> f, ADOptions? options = null)
    {
        var (kernel, constants, info) = CompileWithOptions<ValueKernel>(f, "value", OneArray, options, ValueOf);
        return new BoundValue(kernel, constants, info).Invoke;
    }

    /// <summary>The function of an array and data alone, compiled without any derivative.</summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    /// <param name="f">The function.</param>
    /// <param name="options">How to compile (parallel loops); <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate computing f(x, data).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot translate; the message quotes it.</exception>
    public static ValueFunc<TData> Value<TData>(Expression<Func<double[], TData, double>> f, ADOptions? options = null)
    {
        var (kernel, constants, info) = CompileWithOptions<ValueKernel<TData>>(f, "value-data", ArrayAndData, options, ValueOf);
        return new BoundValue<TData>(kernel, constants, info).Invoke;
    }

    /// <summary>
    /// A vector-valued function f : R^n -> R^m alone (no derivative), written <c>x => new[] { e1, ..., em }</c>;
    /// work the outputs share is computed once.
    /// </summary>
    /// <param name="f">The function; its body must be an array initializer, one element per output.</param>
    /// <param name="options">How to compile (parallel loops); <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate writing f(x) into a caller-owned span of length m.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The body is not <c>new[] { ... }</c>, or the lambda contains a construct ExprAD cannot translate; the message quotes it.</exception>
    public static VectorValueFunc Value(Expression<Func<double[], double[]>> f, ADOptions? options = null)
    {
        var (kernel, constants, info) = CompileWithOptions<VectorValueKernel>(f, "vector-value", OneArray, options, ValuesOf);
        return new BoundVectorValue(kernel, constants, info).Invoke;
    }

    /// <summary>A vector-valued function of an array and data alone (no derivative), written <c>(x, data) => new[] { e1, ..., em }</c>.</summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    /// <param name="f">The function; its body must be an array initializer, one element per output.</param>
    /// <param name="options">How to compile (parallel loops); <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate writing f(x, data) into a caller-owned span of length m.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The body is not <c>new[] { ... }</c>, or the lambda contains a construct ExprAD cannot translate; the message quotes it.</exception>
    public static VectorValueFunc<TData> Value<TData>(Expression<Func<double[], TData, double[]>> f, ADOptions? options = null)
    {
        var (kernel, constants, info) = CompileWithOptions<VectorValueKernel<TData>>(f, "vector-value-data", ArrayAndData, options, ValuesOf);
        return new BoundVectorValue<TData>(kernel, constants, info).Invoke;
    }

    /// <summary>
    /// The values and the dense Jacobian of a vector-valued function f : R^n -> R^m, written <c>x => new[] { e1, ..., em }</c>.
    /// The mode follows the shape: forward mode with one direction per element of x that is read, when there are no more
    /// of them than outputs; otherwise reverse mode, one backward sweep per output (a row), all sharing one primal
    /// sweep. Functions that read x at computed indices (inside loops) always take reverse mode.
    /// </summary>
    /// <param name="f">The function; its body must be an array initializer, one element per output.</param>
    /// <param name="options">How to compile (fold checkpointing, parallel loops); <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate writing f(x) and the row-major m x n Jacobian (n = <c>x.Length</c>) into caller-owned spans.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The body is not <c>new[] { ... }</c>, or the lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static JacobianFunc Jacobian(Expression<Func<double[], double[]>> f, ADOptions? options = null)
    {
        var (kernel, constants, info) = CompileWithOptions<JacobianKernel>(f, "jacobian", OneArray, options, (source, o) => JacobianOf(source, f.Body, o));
        return new BoundJacobian(kernel, constants, info).Invoke;
    }

    /// <summary>
    /// The values and the Jacobian with respect to x of f(x, data) : R^n -> R^m, written <c>(x, data) => new[] { e1, ..., em }</c>,
    /// where <c>data</c> is read at call time and never differentiated. The mode follows the shape, as for <see cref="Jacobian(Expression{Func{double[], double[]}}, ADOptions?)"/>.
    /// </summary>
    /// <typeparam name="TData">The data argument's type; its members may be numbers or arrays of numbers.</typeparam>
    /// <param name="f">The function; its body must be an array initializer, one element per output.</param>
    /// <param name="options">How to compile (fold checkpointing, parallel loops); <see cref="ADOptions.Default"/> when null.</param>
    /// <returns>A delegate writing f(x, data) and the row-major m x n Jacobian into caller-owned spans.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The body is not <c>new[] { ... }</c>, or the lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static JacobianFunc<TData> Jacobian<TData>(Expression<Func<double[], TData, double[]>> f, ADOptions? options = null)
    {
        var (kernel, constants, info) = CompileWithOptions<JacobianKernel<TData>>(f, "jacobian-data", ArrayAndData, options, (source, o) => JacobianOf(source, f.Body, o));
        return new BoundJacobian<TData>(kernel, constants, info).Invoke;
    }

    /// <summary>
    /// Forward mode: the value of f : R^n -> R and its directional derivative ∇f(x) · v (a Jacobian-vector product) in one sweep.
    /// </summary>
    /// <param name="f">The function of an array, indexed with constant indices.</param>
    /// <returns>A delegate returning f(x) and writing ∇f(x) · v to its out parameter.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static DirectionalDerivativeFunc Jvp(Expression<Func<double[], double>> f)
    {
        ArgumentNullException.ThrowIfNull(f);
        var (kernel, constants, info) = Compile<DirectionalKernel>(f, "jvp", OneArray, (source, compileChunk) =>
        {
            var inputs = InputsOf(source);
            var trace = DeadCodeElimination.Apply(ForwardMode.Apply(source, 1, (b, input, _) =>
                input.Op == Op.Input ? b.Input(1, input.B) : b.InputAt(1, new Value(input.A))));
            return (trace, TraceLowering.Lower<DirectionalKernel>(trace, LoweringPlans.Directional(trace, inputs), compileChunk));
        });
        return new BoundDirectional(kernel, constants, info).Invoke;
    }

    /// <summary>The value and derivative of f : R -> R, by reverse mode.</summary>
    /// <param name="f">The function.</param>
    /// <returns>A delegate returning (f(x), f'(x)).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static Func<double, (double Value, double D1)> Gradient(Expression<Func<double, double>> f)
    {
        var (kernel, constants, info) = CompileScalarGradient<ScalarGradientKernel1>(f, 1);
        return new BoundScalarGradient1(kernel, constants, info).Invoke;
    }

    /// <summary>The value and both partial derivatives of f(x1, x2), by reverse mode, as in the paper's f(x1, x2) = ln x1 + x1 x2 - sin x2.</summary>
    /// <param name="f">The function.</param>
    /// <returns>A delegate returning (f, ∂f/∂x1, ∂f/∂x2).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static Func<double, double, (double Value, double D1, double D2)> Gradient(Expression<Func<double, double, double>> f)
    {
        var (kernel, constants, info) = CompileScalarGradient<ScalarGradientKernel2>(f, 2);
        return new BoundScalarGradient2(kernel, constants, info).Invoke;
    }

    /// <summary>The value and the three partial derivatives of f(x1, x2, x3), by reverse mode.</summary>
    /// <param name="f">The function.</param>
    /// <returns>A delegate returning (f, ∂f/∂x1, ∂f/∂x2, ∂f/∂x3).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static Func<double, double, double, (double Value, double D1, double D2, double D3)> Gradient(Expression<Func<double, double, double, double>> f)
    {
        var (kernel, constants, info) = CompileScalarGradient<ScalarGradientKernel3>(f, 3);
        return new BoundScalarGradient3(kernel, constants, info).Invoke;
    }

    /// <summary>The value and the four partial derivatives of f(x1, x2, x3, x4), by reverse mode.</summary>
    /// <param name="f">The function.</param>
    /// <returns>A delegate returning (f, ∂f/∂x1, ∂f/∂x2, ∂f/∂x3, ∂f/∂x4).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static Func<double, double, double, double, (double Value, double D1, double D2, double D3, double D4)> Gradient(Expression<Func<double, double, double, double, double>> f)
    {
        var (kernel, constants, info) = CompileScalarGradient<ScalarGradientKernel4>(f, 4);
        return new BoundScalarGradient4(kernel, constants, info).Invoke;
    }

    /// <summary>
    /// The evaluation trace of <paramref name="f"/> in three-part notation (inputs v[1-n..0], working
    /// variables v[1..l], outputs), printable as in Tables 1 and 2 of Baydin and Pearlmutter.
    /// </summary>
    /// <param name="f">A lambda whose parameters are <c>double</c> or <c>double[]</c> (active) and at most one other (data), returning double.</param>
    /// <returns>The trace, which can also evaluate itself and print forward and reverse derivative tables.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    /// <exception cref="ArgumentException">The lambda does not return double, or has more than one data parameter.</exception>
    /// <exception cref="NotSupportedException">The lambda contains a construct ExprAD cannot differentiate; the message quotes it.</exception>
    public static EvaluationTrace Trace(LambdaExpression f)
    {
        ArgumentNullException.ThrowIfNull(f);
        if (f.ReturnType != typeof(double)) throw Error.BadLambda(nameof(f), $"The lambda must return double, not {f.ReturnType.Name}.");
        var roles = f.Parameters.Select(p =>
            p.Type == typeof(double) ? ParameterRole.Scalar :
            p.Type == typeof(double[]) ? ParameterRole.Array : ParameterRole.Data).ToImmutableArray();
        if (roles.Count(r => r == ParameterRole.Data) > 1)
            throw Error.BadLambda(nameof(f), "At most one parameter may be data (neither double nor double[]).");
        var (_, constants) = StructuralKey.Of(f, "trace");
        return new EvaluationTrace(ExpressionTranslator.Translate(f, roles, constants, rollSums: false), constants.ToArray());
    }

    /// <summary>
    /// The most compiled kernels the process-wide cache keeps (default 4096); beyond it the least recently used are
    /// forgotten. A forgotten kernel keeps working in the delegates already handed out; asking again for its shape compiles
    /// it again. Lowering the capacity evicts at once.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to less than 1.</exception>
    public static int CacheCapacity
    {
        get => KernelCache.Capacity;
        set => KernelCache.Capacity = value;
    }

    /// <summary>The kernel cache's size and counters (entries, capacity, hits, misses, evictions).</summary>
    public static CacheStatistics CacheStatistics =>
        new(KernelCache.Count, KernelCache.Capacity, KernelCache.Hits, KernelCache.Misses, KernelCache.Evictions);

    /// <summary>
    /// Forgets every compiled kernel, so that the memory they hold can be collected once the delegates handed out are gone;
    /// the next request of any shape compiles again. The counters of <see cref="CacheStatistics"/> go on.
    /// </summary>
    public static void ClearCache()
    {
        KernelCache.Clear();
        KnownTrees.Clear();
    }

    /// <summary>How a delegate returned by this class was compiled, or null for any other delegate.</summary>
    /// <param name="derivative">A delegate returned by one of the methods of <see cref="AD"/>.</param>
    /// <returns>The compiler used, the trace sizes and the compile time.</returns>
    public static CompilationInfo? GetCompilationInfo(Delegate derivative) => (derivative?.Target as BoundKernel)?.Info;

    private static (TKernel, object[], CompilationInfo) CompileScalarGradient<TKernel>(LambdaExpression f, int arity) where TKernel : Delegate
    {
        ArgumentNullException.ThrowIfNull(f);
        var roles = Enumerable.Repeat(ParameterRole.Scalar, arity).ToImmutableArray();
        return Compile<TKernel>(f, "scalar-gradient", roles, (source, compileChunk) =>
        {
            var inputs = InputsOf(source);
            var trace = Reverse(source, ADOptions.Default);
            return (trace, TraceLowering.Lower<TKernel>(trace, LoweringPlans.ScalarGradient(trace, inputs, arity), compileChunk));
        });
    }

    private static Trace Reverse(Trace source, ADOptions options) =>
        AfterReverse(ReverseMode.Apply(source, (b, _) => b.Constant(1.0), options.CheckpointInterval), options);

    /// <summary>
    /// The passes after reverse mode: fuse each sum with its adjoint loop, then share costly values between the loops left.
    /// Not under <see cref="ADOptions.FastMath"/>, whose elementary functions cost less in a vectorised loop than a map's
    /// store and the loads from it, nor under <see cref="ADOptions.ParallelLoops"/>: a sum reading a map's array stays on
    /// the calling thread (the array lives in its workspace), which would cost more than the sharing saves.
    /// </summary>
    internal static Trace AfterReverse(Trace reverse, ADOptions options)
    {
        var fused = DeadCodeElimination.Apply(LoopFusion.Apply(DeadCodeElimination.Apply(reverse)));
        if (options.FastMath || options.ParallelLoops) return fused;
        var shared = CrossLoopSharing.Apply(fused);
        return ReferenceEquals(shared, fused) ? fused : DeadCodeElimination.Apply(shared);
    }

    /// <summary>
    /// The shared compile step of the entry points that take <see cref="ADOptions"/>: checks <paramref name="f"/>, keys the
    /// cache by the request and the options, derives the trace to lower and its plan with <paramref name="derive"/>, and
    /// lowers it with the options.
    /// </summary>
    private static (TKernel Kernel, object[] Constants, CompilationInfo Info) CompileWithOptions<TKernel>(LambdaExpression f, string request,
        ImmutableArray<ParameterRole> roles, ADOptions? options, Func<Trace, ADOptions, (Trace Derived, LoweringPlan Plan)> derive) where TKernel : Delegate
    {
        ArgumentNullException.ThrowIfNull(f);
        var chosen = options ?? ADOptions.Default;
        return Compile<TKernel>(f, RequestKey(request, chosen), roles, (source, compileChunk) =>
        {
            var (derived, plan) = derive(source, chosen);
            return (derived, TraceLowering.Lower<TKernel>(derived, plan with { Options = chosen }, compileChunk));
        });
    }

    /// <summary>The cache request of an entry point with options; made once for the default options (a hit allocates no string).</summary>
    private static string RequestKey(string request, ADOptions options)
    {
        if (!ReferenceEquals(options, ADOptions.Default)) return request + options.Key;
        if (!DefaultRequests.TryGetValue(request, out var key)) DefaultRequests.TryAdd(request, key = request + options.Key);
        return key;
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> DefaultRequests = new();

    /// <summary>The gradient's trace (reverse mode) and plan.</summary>
    private static (Trace, LoweringPlan) GradientOf(Trace source, ADOptions options)
    {
        var trace = Reverse(source, options);
        return (trace, LoweringPlans.Gradient(trace, InputsOf(source)));
    }

    /// <summary>The function's own trace and the plan returning its value.</summary>
    private static (Trace, LoweringPlan) ValueOf(Trace source, ADOptions _)
    {
        var trace = DeadCodeElimination.Apply(source);
        return (trace, LoweringPlans.Value(trace, InputsOf(source)));
    }

    /// <summary>The function's own trace and the plan writing its values (a vector-valued function).</summary>
    private static (Trace, LoweringPlan) ValuesOf(Trace source, ADOptions _)
    {
        var trace = DeadCodeElimination.Apply(source);
        return (trace, LoweringPlans.Values(trace, InputsOf(source)));
    }

    /// <summary>
    /// The derived trace of a Jacobian and its plan (where its outputs go). Forward mode costs one tangent per element read, reverse
    /// mode one adjoint sweep per output; each carries about the same work, so the smaller count wins (forward on ties).
    /// </summary>
    private static (Trace Trace, LoweringPlan Plan) JacobianOf(Trace source, System.Linq.Expressions.Expression body, ADOptions options)
    {
        if (source.Outputs.Any(o => source[o].Kind == ValueKind.Array))
            throw Error.CannotDifferentiate(body, "the Jacobian of an array of run-time length is not supported; return new[] { e1, ..., em }, or take the gradient of one element");
        int m = source.Outputs.Length;
        var entries = new List<(int Row, int Column, int Output)>();
        if (JacobianForwardColumns(source) is { } columns)
        {
            var forward = ForwardMode.Apply(source, columns.Length, (b, input, d) => input.Op == Op.Input && input.B == columns[d] ? b.Constant(1.0) : null);
            // Outputs: the m values, then direction-major tangents: direction d's tangent of output k is m + d m + k.
            for (int d = 0; d < columns.Length; d++)
                for (int k = 0; k < m; k++) entries.Add((k, columns[d], m + d * m + k));
            var derived = DeadCodeElimination.Apply(forward);
            return (derived, LoweringPlans.Jacobian(derived, InputsOf(source), new JacobianLayout(m, columns.Length == 0 ? 0 : columns[^1] + 1, entries)));
        }
        // Sweep s seeds output s: its adjoints are row s. Outputs: the m values, then each sweep's adjoints of the inputs.
        var inputs = InputsOf(source);
        var reverse = ReverseMode.ApplySweeps(source, m, (b, s, k) => s == k ? b.Constant(1.0) : null, options.CheckpointInterval);
        for (int s = 0; s < m; s++)
            for (int j = 0; j < inputs.Length; j++) entries.Add((s, inputs[j].B, m + s * inputs.Length + j));
        var trace = AfterReverse(reverse, options);
        return (trace, LoweringPlans.Jacobian(trace, InputsOf(source), new JacobianLayout(m, 0, entries)));
    }

    /// <summary>
    /// The elements of x that forward mode would seed, one direction each, when it is the mode of choice for a Jacobian
    /// of <paramref name="source"/>: no read at a computed index, and no more elements read than outputs. Null: reverse mode.
    /// </summary>
    internal static int[]? JacobianForwardColumns(Trace source)
    {
        var read = new SortedSet<int>();
        bool computedIndex = ElementsRead(source, read);
        return !computedIndex && read.Count <= source.Outputs.Length ? read.ToArray() : null;
    }

    /// <summary>Adds the constant indices of the elements of x read anywhere (loop bodies included) to <paramref name="read"/>; true when some index is computed.</summary>
    private static bool ElementsRead(Trace trace, SortedSet<int> read)
    {
        bool computed = false;
        foreach (var ins in trace.Instructions)
        {
            if (ins.Op == Op.Input) read.Add(ins.B);
            computed |= ins.Op == Op.InputAt;
        }
        foreach (var region in trace.Regions) computed |= ElementsRead(region.Body, read);
        return computed;
    }

    private static Instruction[] InputsOf(Trace trace) => trace.Inputs().Select(v => trace[v]).ToArray();

    /// <summary>
    /// The shared pipeline: structural key and runtime constants, then (on a cache miss) translate,
    /// transform and lower with <paramref name="lower"/> (which gets a compiler for the chunks of long traces and
    /// returns the derived trace and its lowering), then compile.
    /// </summary>
    private static (TKernel Kernel, object[] Constants, CompilationInfo Info) Compile<TKernel>(
        LambdaExpression f, string request, ImmutableArray<ParameterRole> roles, Func<Trace, Func<LambdaExpression, Delegate>, (Trace Derived, Expression<TKernel> Lowered)> lower)
        where TKernel : Delegate
    {
        // The same tree instance always has the same key and the same runtime constants: asking again
        // with it skips even the walk over the tree (which matters for trees of many thousand nodes).
        if (KnownTrees.TryGetValue(f, out var byRequest) && byRequest.TryGetValue(request, out var known))
        {
            KernelCache.RecordHit();
            return ((TKernel)known.Kernel.Kernel, known.Constants, known.Kernel.Info);
        }
        // The probe reads this thread's walk buffers: a hit allocates nothing per node. The cache keeps the key only when
        // it compiles for it, and then the compile step below detaches it first.
        var (key, runtimeConstants) = StructuralKey.Probe(f, request);
        var constants = runtimeConstants;
        var compiled = KernelCache.GetOrCompile(key, () =>
        {
            key?.Detach();
            var clock = Stopwatch.StartNew();
            var source = SingleIterationLoops.Apply(ExpressionTranslator.Translate(f, roles, constants));
            var compilers = new HashSet<CompilerKind>();
            // Called from the threads that compile the chunks of a long trace (ChunkCompiler) too.
            Delegate CompileChunk(LambdaExpression chunk)
            {
                var (code, used) = KernelCompiler.Compile(chunk);
                lock (compilers) compilers.Add(used);
                return code;
            }
            var (derived, lowered) = lower(source, CompileChunk);
            var (kernel, compiler) = KernelCompiler.Compile(lowered);
            compilers.Add(compiler);
            // Recorded as the fast path only when every method of the kernel took it.
            var recorded = compilers.Contains(CompilerKind.SystemLinqExpressions) ? CompilerKind.SystemLinqExpressions : CompilerKind.FastExpressionCompiler;
            return new CompiledKernel(kernel, new CompilationInfo(recorded, derived.Count, source.Count, clock.Elapsed));
        });
        var constantValues = constants.ToArray();
        // Remembering a tree instance costs a weak-table entry (a GC handle), worth it only for a tree whose walk costs
        // more: a lambda literal is a new instance on every evaluation, and is never asked for again. A tree that reads an
        // expression through Invoke is not remembered: the field it reads may be assigned another expression.
        if ((key is null || key.Size >= RememberedTreeSize) && !constants.ReadsExpressions)
            (byRequest ?? KnownTrees.GetOrCreateValue(f)).TryAdd(request, (compiled, constantValues));
        return ((TKernel)compiled.Kernel, constantValues, compiled.Info);
    }

    /// <summary>The fewest key tokens (about three per node) of a tree instance that is remembered by reference.</summary>
    private const int RememberedTreeSize = 2048;

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<LambdaExpression,
        System.Collections.Concurrent.ConcurrentDictionary<string, (CompiledKernel Kernel, object[] Constants)>> KnownTrees = new();
}
