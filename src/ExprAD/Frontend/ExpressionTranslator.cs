using System.Collections.Immutable;
using System.Linq.Expressions;
using System.Reflection;
using ExprAD.Caching;
using ExprAD.Errors;
using ExprAD.IR;
using ExprAD.Rules;
using static ExprAD.Frontend.DataTypes;

namespace ExprAD.Frontend;

/// <summary>
/// The frontend: translates a lambda into an evaluation trace. Active parameters become inputs,
/// inactive sub-expressions that read call-time data become data reads, supported operators and
/// <see cref="Math"/> functions become primitives of the rule table, <c>?:</c> becomes a select,
/// and invoked lambdas are inlined. Anything else raises <see cref="NotSupportedException"/>
/// quoting the sub-expression.
/// </summary>
internal sealed partial class ExpressionTranslator
{
    private enum BindingKind { ScalarInput, ArrayInput, Value, Vector, Object }

    /// <summary>
    /// What a parameter stands for; a <see cref="BindingKind.Vector"/> (an aggregate's array state) holds one value per element,
    /// a <see cref="BindingKind.Object"/> (an element of a loop over objects) the way to read it.
    /// </summary>
    private readonly record struct Binding(BindingKind Kind, int Parameter, Value Value, Value[]? Elements = null, ObjectRef? Object = null);

    /// <summary>
    /// Where translation currently emits: the top-level trace, or the body of a region (a loop, or a branch evaluated only
    /// when taken). A body's scope knows which nodes belong in it (<see cref="Dependent"/>: those that depend on the loop's
    /// variables, or for a branch those whose evaluation could fail); every other node is translated in the enclosing scope
    /// and captured, which hoists loop-invariant code out of loops by construction.
    /// </summary>
    private sealed class Scope(TraceBuilder builder, Scope? parent, Func<Expression, bool>? dependent, bool isBranch = false)
    {
        public readonly TraceBuilder Builder = builder;
        public readonly Scope? Parent = parent;
        public readonly Func<Expression, bool>? Dependent = dependent;
        /// <summary>True for the body of a branch evaluated only when taken: it binds no variable of its own.</summary>
        public readonly bool IsBranch = isBranch;
        public Dictionary<Expression, Value> Translated = new(ReferenceEqualityComparer.Instance);
        public Dictionary<Expression, Value[]> Vectors = new(ReferenceEqualityComparer.Instance);
        /// <summary>The element reads translated here, by structure (see <c>ReadKey</c>): an equal read later cannot fail.</summary>
        public HashSet<string> Reads = new();

        public bool IsInvariant(Expression node) => Dependent is not null && !Dependent(node);

        /// <summary>This scope, where also the nodes <paramref name="more"/> accepts stay (inside a loop body: results read after an inner loop).</summary>
        public Scope Keeping(Func<Expression, bool> more) =>
            Dependent is { } own ? new Scope(Builder, Parent, n => own(n) || more(n), IsBranch) : this;
    }

    private Scope _scope;
    private TraceBuilder _b => _scope.Builder;
    private readonly RuntimeConstants _constants;
    private readonly IReadOnlyDictionary<Expression, Activity> _activity;
    private readonly ParameterExpression? _dataParameter;
    private readonly Dictionary<ParameterExpression, Binding> _bindings = new();
    private IReadOnlyDictionary<Expression, List<Expression>> _invocationArguments = new Dictionary<Expression, List<Expression>>();
    private HashSet<object> _argumentNodes = new();
    /// <summary>What <see cref="Rerolling"/> made of the body: its loop sums start at -0.0, its tables are baked into the kernel.</summary>
    private Rerolling.Result? _rolled;
    // Each node is translated once per inlining scope: trees built with the Expression API may share
    // nodes (a DAG), and translating a shared node twice would cost exponential time.

    private ExpressionTranslator(TraceBuilder b, RuntimeConstants constants,
        IReadOnlyDictionary<Expression, Activity> activity, ParameterExpression? dataParameter)
    {
        _scope = new Scope(b, null, null);
        _constants = constants;
        _activity = activity;
        _dataParameter = dataParameter;
    }

    /// <summary>
    /// Translates <paramref name="lambda"/>, whose parameters play <paramref name="roles"/>, into a trace with one output,
    /// or, for a body of type <c>double[]</c> (<c>new[] { e1, ..., em }</c>, or an array computed from such: an Aggregate's
    /// array state, a choice between arrays), with one output per element.
    /// </summary>
    /// <param name="lambda">The user's lambda.</param>
    /// <param name="roles">What each of its parameters is (the active array, scalars, data).</param>
    /// <param name="constants">The run-time constants that the cache key collected from the tree (read at call time).</param>
    /// <param name="rollSums">Whether long written-out sums become loops (<see cref="Rerolling"/>): yes for kernels; not for
    /// <see cref="AD.Trace"/>, which shows the evaluation trace as written.</param>
    public static Trace Translate(LambdaExpression lambda, ImmutableArray<ParameterRole> roles, RuntimeConstants constants, bool rollSums = true)
    {
        int dataIndex = roles.IndexOf(ParameterRole.Data);
        var dataParameter = dataIndex >= 0 ? lambda.Parameters[dataIndex] : null;
        var names = lambda.Parameters.Select((p, i) => p.Name ?? "p" + i).ToImmutableArray();
        var environment = new TraceEnvironment(names, roles, dataParameter?.Type);
        // The walk that made the cache key saw every node: without an invocation there is nothing to inline.
        var (body, arguments) = constants.MayHaveInvocations ? InvocationInliner.Inline(lambda.Body, constants)
            : (lambda.Body, new Dictionary<Expression, List<Expression>>(ReferenceEqualityComparer.Instance));
        // Long written-out sums become loops. Not after inlining: the inliner's argument table names nodes of the body as it is.
        var rolled = rollSums && arguments.Count == 0 ? Rerolling.Apply(body) : null;
        if (rolled is not null) body = rolled.Body;
        var activity = ActivityAnalysis.Of(body, dataParameter);
        // About one instruction per node of the tree: the builder's tables are sized once.
        var b = new TraceBuilder(environment, capacity: activity.Count);
        var translator = new ExpressionTranslator(b, constants, activity, dataParameter)
        {
            _invocationArguments = arguments,
            _argumentNodes = new HashSet<object>(arguments.Values.SelectMany(a => a), ReferenceEqualityComparer.Instance),
            _rolled = rolled,
        };
        for (int i = 0; i < roles.Length; i++)
        {
            if (roles[i] == ParameterRole.Scalar)
                translator._bindings.Add(lambda.Parameters[i], new Binding(BindingKind.ScalarInput, i, default));
            else if (roles[i] == ParameterRole.Array)
                translator._bindings.Add(lambda.Parameters[i], new Binding(BindingKind.ArrayInput, i, default));
        }
        // A body of type double[] is a vector-valued function: its elements are the outputs, all translated by one
        // translator so that work they share is traced (and computed) once.
        if (body.Type == typeof(double[]))
        {
            // An array of run-time length (a map, an Aggregate's array state) is one output of kind Array.
            if (translator.IsArrayValue(body)) return b.Build([translator.Translate(body)]);
            // An initializer of constants reads no variable (so it is not a vector value) but is a valid, constant, function.
            if (body is not NewArrayExpression { NodeType: ExpressionType.NewArrayInit } && !translator.IsVector(body))
                throw Error.CannotDifferentiate(body, "a function returning double[] must build its result, as in `new[] { e1, ..., em }`, whose elements are its outputs");
            return b.Build(translator.TranslateVector(body));
        }
        var result = translator.Translate(body);
        if (b.KindOf(result) == ValueKind.Integer) result = b.Emit(Op.IntToDouble, result);
        if (b.KindOf(result) != ValueKind.Scalar) throw Error.UnsupportedType(body, body.Type);
        return b.Build([result]);
    }

    /// <summary>
    /// Translates <paramref name="root"/> bottom-up without recursion: the nodes it needs come in
    /// post-order, so each node's operands are translated before the node itself.
    /// </summary>
    private Value Translate(Expression root)
    {
        if (TryKnownOrHoisted(root, Translate, out var known)) return known;
        var scope = _scope;
        // An inlined call's argument is translated where the call is even when it could be hoisted further (it is then
        // hoisted here), so that it is never left for a branch of the body to evaluate.
        foreach (var node in ExpressionNodes.PostOrder(root, OperandsToTranslate, n => TryKnown(scope, n, out _) || scope.IsInvariant(n) && !_argumentNodes.Contains(n)))
        {
            scope.Translated[node] = scope.IsInvariant(node) && TryKnownOrHoisted(node, Translate, out var hoisted) ? hoisted : TranslateNode(node);
            if (ReadKey(node) is { } read) scope.Reads.Add(read);
        }
        return scope.Translated[root];
    }

    /// <summary>
    /// The value of <paramref name="node"/> when this scope knows it already, or when it is loop-invariant here: then it is
    /// computed by <paramref name="translate"/> in the enclosing scope (once, before the loop) and captured by the body.
    /// </summary>
    private bool TryKnownOrHoisted(Expression node, Func<Expression, Value> translate, out Value value)
    {
        var scope = _scope;
        if (TryKnown(scope, node, out value)) return true;
        if (!scope.IsInvariant(node)) return false;
        _scope = scope.Parent!;
        try { value = scope.Translated[node] = scope.Builder.Capture(translate(node)); }
        finally { _scope = scope; }
        return true;
    }

    /// <summary>
    /// The value of <paramref name="node"/> if <paramref name="scope"/> or an enclosing scope has translated it already
    /// (captured into this scope), looking outwards past branches (which bind nothing) and past loops where the node is
    /// invariant (where it means the same): a node translated earlier in an enclosing scope is evaluated before this body
    /// runs, so reusing it is exact, and a branch does not evaluate again what was evaluated outside it.
    /// </summary>
    private static bool TryKnown(Scope scope, Expression node, out Value value)
    {
        if (scope.Translated.TryGetValue(node, out value)) return true;
        if (scope.Parent is not { } parent || !(scope.IsBranch || scope.IsInvariant(node)) || !TryKnown(parent, node, out var outer)) return false;
        value = scope.Translated[node] = scope.Builder == parent.Builder ? outer : scope.Builder.Capture(outer);
        return true;
    }

    /// <summary>The operands a node's translation reads (data reads and array indexing read fewer than all).</summary>
    private void OperandsToTranslate(Expression node, List<Expression?> operands)
    {
        // As C# evaluates a call's arguments before its body, the numbers and arrays passed to an inlined lambda are
        // translated before the body that replaced the call: a branch in the body then reads them, never evaluates them.
        if (_invocationArguments.TryGetValue(node, out var arguments))
            foreach (var argument in arguments)
                if (argument != node && (HasKind(argument) || IsArrayValue(argument))) operands.Add(argument);
        if (IsDataRead(node) || ElementParameterOf(node) is not null) return;
        switch (node)
        {
            // Operands that are not numbers are never entered: the node itself is then reported, with
            // its whole text, rather than a fragment of it.
            case BinaryExpression { NodeType: ExpressionType.ArrayIndex } b:
                if (ArrayParameterOf(b.Left) is null && (ElementType(b.Left.Type) is not null && IsDataValue(b.Left) || IsArrayValue(b.Left))) operands.Add(b.Left);
                operands.Add(b.Right);
                break;
            case NewArrayExpression { NodeType: ExpressionType.NewArrayBounds } zeros when zeros.Type == typeof(double[]): operands.Add(zeros.Expressions[0]); break;
            case UnaryExpression { NodeType: ExpressionType.ArrayLength } u when ArrayParameterOf(u.Operand) is null && DataArrayKind(u.Operand.Type) is not null && !IsVector(u.Operand):
                operands.Add(u.Operand);
                break;
            // The right of && and || is translated by VisitShortCircuit: C# may not evaluate it (nor the branches of ?: below).
            case BinaryExpression { NodeType: ExpressionType.AndAlso or ExpressionType.OrElse, Method: null } b when b.Type == typeof(bool): operands.Add(b.Left); break;
            case BinaryExpression b when HasKind(b.Left) && HasKind(b.Right): operands.Add(b.Left); operands.Add(b.Right); break;
            case UnaryExpression u when u.NodeType is ExpressionType.Negate or ExpressionType.UnaryPlus or ExpressionType.Not
                or ExpressionType.Convert or ExpressionType.ConvertChecked && HasKind(u.Operand): operands.Add(u.Operand); break;
            case ConditionalExpression c when HasKind(c.Test) && HasKind(c.IfTrue): operands.Add(c.Test); break;
            case MethodCallExpression m when LinqLoops.TryMatch(m, out var loop) && IsLoopSource(loop):
                if (loop.Range is { } range) operands.AddRange(range.Arguments);
                break;
            // A derivative inside the lambda: its point (and data) first; its function is translated by the visit.
            case MethodCallExpression m when IsDiff(m) || IsGrad(m): operands.AddRange(m.Arguments.Skip(1).Where(a => HasKind(a) || IsArrayValue(a))); break;
            // A method without a rule is reported as such before its arguments are looked at.
            case MethodCallExpression m when RuleTable.TryGetByMethod(m.Method, out _): operands.AddRange(m.Arguments); break;
        }
    }

    /// <summary>
    /// True for an inactive node (one that reads no variable) that is not plain arithmetic on numbers:
    /// a member, an element of a data array, a method without a rule, a call on literals. It is
    /// compiled as written and evaluated once per call. Inactive arithmetic is traced like any
    /// other (it carries no derivative, and constants fold), which keeps data reads small.
    /// </summary>
    private bool IsDataRead(Expression node)
    {
        // The type tests first: they answer for most nodes (constants, variables) without a lookup in the activity table.
        if (node is ConstantExpression constant) return _rolled is { } rolled && rolled.BakedTables.Contains(constant);
        if ((node is ParameterExpression p && p != _dataParameter)
            || node is MemberExpression { Expression: null, Member: FieldInfo { IsLiteral: true } }) return false;
        if (!_activity.TryGetValue(node, out var activity) || (activity & (Activity.Variable | Activity.Element)) != 0) return false;
        return !IsComputed(node);
    }

    /// <summary>
    /// True for a node the trace computes when its operands are data: arithmetic, comparisons, logic, conversions, <c>?:</c> and
    /// functions of the rule table on numbers. Data reads (<see cref="IsDataRead"/>) and reads of objects
    /// (<see cref="ElementParameterOf"/>) stop at such nodes; anything else that reads only data is read whole.
    /// </summary>
    private bool IsComputed(Expression node)
    {
        bool structural = node switch
        {
            BinaryExpression b => b.NodeType != ExpressionType.ArrayIndex && b.Method is null && HasKind(b.Left) && HasKind(b.Right),
            UnaryExpression u => u.NodeType is ExpressionType.Negate or ExpressionType.UnaryPlus or ExpressionType.Not or ExpressionType.Convert
                && u.Method is null && HasKind(u.Operand),
            ConditionalExpression c => HasKind(c.Test) && HasKind(c.IfTrue),
            MethodCallExpression m => RuleTable.TryGetByMethod(m.Method, out _),
            _ => false,
        };
        return structural && HasKind(node);
    }

    private static bool HasKind(Expression e) => KindOf(e.Type) is not null;

    private Value TranslateNode(Expression node)
    {
        if (IsDataRead(node)) return VisitDataRead(node);
        if (ElementParameterOf(node) is { } element) return ReadThrough(element, node);
        if (ReadsSeveralElements(node))
            throw Error.CannotDifferentiate(node, "it reads two loop elements at once; read what it needs of each one on its own (their members) and compute with the numbers");
        return node switch
        {
            ConstantExpression c => VisitConstant(c),
            ParameterExpression p => VisitParameter(p),
            UnaryExpression u => VisitUnary(u),
            BinaryExpression bin => VisitBinary(bin),
            ConditionalExpression c => VisitConditional(c),
            MethodCallExpression call => VisitMethodCall(call),
            NewArrayExpression { NodeType: ExpressionType.NewArrayBounds } zeros when zeros.Type == typeof(double[]) =>
                _b.ZeroArray(Operand(zeros.Expressions[0], zeros)),
            MemberExpression m => VisitMember(m),
            IndexExpression i when IsElementAccess(i, out var list, out var at) && IsDataValue(list) => VisitElementAccess(i, list, at),
            InvocationExpression i => VisitInvocation(i),
            _ => throw Error.CannotDifferentiate(node, $"expressions of kind {node.NodeType} are not supported"),
        };
    }

    private Value VisitConstant(ConstantExpression node)
    {
        return node.Value switch
        {
            double d => _b.Constant(d),
            int i => _b.Integer(i),
            bool z => _b.Boolean(z),
            float f => _b.Constant(f),
            _ => throw Error.UnsupportedType(node, node.Type),
        };
    }

    private Value VisitParameter(ParameterExpression node)
    {
        if (!_bindings.TryGetValue(node, out var binding))
            throw Error.CannotDifferentiate(node, $"parameter `{node.Name}` is not in scope");
        return binding.Kind switch
        {
            BindingKind.ScalarInput => _b.Input(binding.Parameter),
            BindingKind.Value => binding.Value,
            BindingKind.Object => throw Error.CannotDifferentiate(node, $"`{node.Name}` is one of your objects, not a number; read its members"),
            _ => throw Error.CannotDifferentiate(node, $"the array `{node.Name}` must be indexed with a constant index, as in `{node.Name}[0]`"),
        };
    }

    /// <summary>An inactive sub-expression: compiled as-is and evaluated at call time, never differentiated.</summary>
    private Value VisitDataRead(Expression node)
    {
        var (accessor, kind) = CallTimeValue(node) ?? throw Error.CannotDifferentiate(node, $"a value of type `{node.Type.Name}` cannot be used as a number");
        return _b.Data(new DataRead(new CallTimeRewriter(this).Visit(accessor)!, kind));
    }

    private Value VisitUnary(UnaryExpression node)
    {
        if (node.Method is not null)
            throw Error.CannotDifferentiate(node, $"no derivative rule for the operator method `{node.Method.DeclaringType?.Name}.{node.Method.Name}`");
        switch (node.NodeType)
        {
            case ExpressionType.UnaryPlus:
                return Translate(node.Operand);
            case ExpressionType.Negate:
                return _b.Neg(Operand(node.Operand, node));
            case ExpressionType.Not when node.Type == typeof(bool):
                return _b.Emit(Op.Not, Operand(node.Operand, node));
            case ExpressionType.Quote:
                throw Error.CannotDifferentiate(node, "a quoted lambda is not a number; invoke it instead");
            case ExpressionType.ArrayLength when ArrayParameterOf(node.Operand) is { } parameter:
                return _b.InputLength(parameter);
            case ExpressionType.ArrayLength when IsVector(node.Operand):
                return _b.Integer(TranslateVector(node.Operand).Length);
            case ExpressionType.ArrayLength when DataArrayKind(node.Operand.Type) is not null:
                return _b.Emit(Op.ArrayLength, Translate(node.Operand));
            case ExpressionType.Convert:
            case ExpressionType.ConvertChecked:
            {
                var from = KindOf(node.Operand.Type);
                var to = KindOf(node.Type);
                if (from is null) throw Error.UnsupportedType(node.Operand, node.Operand.Type);
                if (to is null) throw Error.UnsupportedType(node, node.Type);
                var value = Translate(node.Operand);
                if (from == to) return value;
                return (from, to) switch
                {
                    (ValueKind.Integer, ValueKind.Scalar) => _b.Emit(Op.IntToDouble, value),
                    (ValueKind.Scalar, ValueKind.Integer) when node.NodeType == ExpressionType.Convert => _b.Emit(Op.DoubleToInt, value),
                    _ => throw Error.CannotDifferentiate(node, $"conversion from {node.Operand.Type.Name} to {node.Type.Name} is not supported"),
                };
            }
            default:
                throw Error.CannotDifferentiate(node, $"the operator {node.NodeType} is not supported");
        }
    }

    /// <summary>Translates an operand and checks that it is a number.</summary>
    private Value Operand(Expression operand, Expression parent)
    {
        if (KindOf(operand.Type) is null) throw Error.UnsupportedType(operand, operand.Type);
        return Translate(operand);
    }

    private Value VisitBinary(BinaryExpression node)
    {
        if (node.NodeType == ExpressionType.ArrayIndex) return VisitArrayIndex(node);
        if (node.NodeType is ExpressionType.AndAlso or ExpressionType.OrElse && node.Method is null && node.Type == typeof(bool)) return VisitShortCircuit(node);
        if (node.Method is not null && node.NodeType != ExpressionType.Power)
            throw Error.CannotDifferentiate(node, $"no derivative rule for the operator method `{node.Method.DeclaringType?.Name}.{node.Method.Name}`");
        Op? op = node.NodeType switch
        {
            ExpressionType.Add => Op.Add,
            ExpressionType.Subtract => Op.Sub,
            ExpressionType.Multiply => Op.Mul,
            ExpressionType.Divide => Op.Div,
            ExpressionType.Modulo => Op.Rem,
            ExpressionType.Power => Op.Pow,
            ExpressionType.LessThan => Op.LessThan,
            ExpressionType.LessThanOrEqual => Op.LessOrEqual,
            ExpressionType.GreaterThan => Op.GreaterThan,
            ExpressionType.GreaterThanOrEqual => Op.GreaterOrEqual,
            ExpressionType.Equal when node.Left.Type != typeof(bool) => Op.Equal,
            ExpressionType.NotEqual when node.Left.Type != typeof(bool) => Op.NotEqual,
            ExpressionType.AndAlso or ExpressionType.And when node.Type == typeof(bool) => Op.And,
            ExpressionType.OrElse or ExpressionType.Or when node.Type == typeof(bool) => Op.Or,
            _ => null,
        };
        if (op is null) throw Error.CannotDifferentiate(node, $"the operator {node.NodeType} is not supported");
        var left = Operand(node.Left, node);
        var right = Operand(node.Right, node);
        if (_b.KindOf(left) != _b.KindOf(right))
            throw Error.CannotDifferentiate(node, "operands of different types");
        if (op == Op.Pow && _b.KindOf(left) != ValueKind.Scalar)
            throw Error.CannotDifferentiate(node, "integer powers are not supported");
        return _b.Emit(op.Value, left, right);
    }

    private Value VisitArrayIndex(BinaryExpression node)
    {
        if (IsVector(node.Left))
        {
            // An element of a small array value (a literal, an aggregate's state): the element itself at a constant index;
            // at a computed one, read (bounds-checked) from the array it is built into.
            var elements = TranslateVector(node.Left);
            var at = Operand(node.Right, node);
            if (!_b.TryGetConstant(at, out var k)) return _b.Emit(Op.Element, SmallArray(node.Left), at);
            if (k < 0 || k >= elements.Length)
                throw Error.CannotDifferentiate(node, $"the index {k} is outside the array of {elements.Length} elements");
            return elements[(int)k];
        }
        if (DataArrayKind(node.Left.Type) is null && ElementType(node.Left.Type) is not null && IsDataValue(node.Left))
            return VisitElementAccess(node, node.Left, node.Right);
        if (node.Left is not ParameterExpression array || !_bindings.TryGetValue(array, out var binding) || binding.Kind != BindingKind.ArrayInput)
        {
            // An element of a data array (or a row of a jagged one) at an index that depends on a loop.
            if (DataArrayKind(node.Left.Type) is null || !IsDataValue(node.Left) && !IsArrayValue(node.Left))
                throw Error.CannotDifferentiate(node, "only the active array parameter, data arrays and arrays built with ToArray() can be indexed here");
            return _b.Emit(Op.Element, Translate(node.Left), Operand(node.Right, node));
        }
        var index = Operand(node.Right, node);
        if (_b.TryGetConstant(index, out var i) && i < 0) throw Error.CannotDifferentiate(node, $"the index {i} is negative");
        // A computed index is bounds-checked when read; a constant one by the up-front length check.
        return _b.InputAt(binding.Parameter, index);
    }

    /// <summary>
    /// True for a <c>double[]</c> computed inside the lambda from variables: an array literal, an aggregate's array state,
    /// or a choice between such arrays. It has a length known at compile time and is translated element by element.
    /// </summary>
    private bool IsVector(Expression e) =>
        e.Type == typeof(double[]) && ArrayParameterOf(e) is null && !IsDataValue(e) && !IsArrayValue(e);

    /// <summary>
    /// True for an array computed at run time with a length known only then: <c>....Select(...).ToArray()</c> (a map),
    /// <c>new double[n]</c>, an Aggregate whose state is such an array, or a parameter standing for one.
    /// </summary>
    private bool IsArrayValue(Expression e) => e.Type == typeof(double[]) && e switch
    {
        NewArrayExpression { NodeType: ExpressionType.NewArrayBounds } => true,
        ParameterExpression p => _bindings.TryGetValue(p, out var binding) && binding.Kind == BindingKind.Value,
        MethodCallExpression call when IsGrad(call) => true,
        MethodCallExpression call when LinqLoops.TryMatchMap(call, out var map) => IsLoopSource(map),
        MethodCallExpression call when LinqLoops.TryMatch(call, out var fold) && fold.End == LinqLoops.Terminal.Aggregate =>
            !IsSmallArraySeed(fold.Seed!) && IsLoopSource(fold),
        _ => false,
    };

    /// <summary>An Aggregate seed written <c>new[] { ... }</c>: a small array of known length, carried element by element.</summary>
    private static bool IsSmallArraySeed(Expression seed) => seed is NewArrayExpression { NodeType: ExpressionType.NewArrayInit };

    /// <summary>The elements of a small array value (see <see cref="IsVector"/>), each translated in the current scope.</summary>
    private Value[] TranslateVector(Expression node)
    {
        if (_scope.Vectors.TryGetValue(node, out var known)) return known;
        Value[] elements;
        switch (node)
        {
            case NewArrayExpression { NodeType: ExpressionType.NewArrayInit } literal:
                elements = literal.Expressions.Select(e => Scalar(Operand(e, node))).ToArray();
                break;
            case ParameterExpression p when _bindings.TryGetValue(p, out var binding) && binding.Kind == BindingKind.Vector:
                elements = binding.Elements!;
                break;
            case MethodCallExpression call when LinqLoops.TryMatch(call, out var pipeline) && pipeline.End == LinqLoops.Terminal.Aggregate && IsLoopSource(pipeline):
                elements = VisitAggregate(call, pipeline);
                break;
            case ConditionalExpression choice:
            {
                var condition = Operand(choice.Test, choice);
                var whenTrue = BranchVector(choice.IfTrue, condition);
                var whenFalse = BranchVector(choice.IfFalse, _b.Emit(Op.Not, condition));
                if (whenTrue.Length != whenFalse.Length)
                    throw Error.CannotDifferentiate(choice, $"the branches are arrays of different lengths ({whenTrue.Length} and {whenFalse.Length})");
                elements = whenTrue.Select((t, k) => _b.Select(condition, t, whenFalse[k])).ToArray();
                break;
            }
            default:
                throw Error.CannotDifferentiate(node, "an array value here must be written `new[] { ... }` (or be an Aggregate's state), so that its length is known");
        }
        return _scope.Vectors[node] = elements;
    }

    /// <summary>An integer as a double; other values unchanged.</summary>
    private Value Scalar(Value v) => _b.KindOf(v) == ValueKind.Integer ? _b.Emit(Op.IntToDouble, v) : v;

    private Value VisitMethodCall(MethodCallExpression node)
    {
        if (IsDiff(node)) return VisitDiff(node);
        if (IsGrad(node)) return VisitGrad(node);
        if (LinqLoops.TryMatchMap(node, out var map)) return IsLoopSource(map) ? VisitMap(node, map) : throw UnsupportedSource(node, map);
        if (LinqLoops.TryMatch(node, out var pipeline))
        {
            if (!IsLoopSource(pipeline)) throw UnsupportedSource(node, pipeline);
            return pipeline.End == LinqLoops.Terminal.Aggregate ? VisitAggregate(node, pipeline)[0] : VisitPipeline(node, pipeline);
        }
        if (IsElementAccess(node, out var list, out var at) && IsDataValue(list)) return VisitElementAccess(node, list, at);
        if (!RuleTable.TryGetByMethod(node.Method, out var primitive))
            throw Error.NoDerivativeRule(node, node.Method);
        var args = node.Arguments.Select(a => Operand(a, node)).ToArray();
        if (primitive.Op == Op.Call) return _b.Call(primitive, args);
        return args.Length switch
        {
            1 => _b.Emit(primitive.Op, args[0]),
            2 => _b.Emit(primitive.Op, args[0], args[1]),
            _ => _b.Emit(primitive.Op, args[0], args[1], args[2]),
        };
    }

    /// <summary>
    /// True for an array, list or object that comes from data (or a row, an element or a member of one, at any index): never
    /// from the active parameter.
    /// </summary>
    private bool IsDataValue(Expression e) =>
        _activity.TryGetValue(e, out var a) && (a & Activity.Variable) == 0
        || e is BinaryExpression { NodeType: ExpressionType.ArrayIndex } inner && ArrayParameterOf(inner.Left) is null && IsDataValue(inner.Left)
        || e is MemberExpression { Expression: { } target } && IsObjectType(target.Type) && IsDataValue(target)
        || IsElementAccess(e, out var sequence, out _) && IsDataValue(sequence);

    private Value VisitMember(MemberExpression node)
    {
        if (node.Expression is null && node.Member is FieldInfo { IsLiteral: true } literal)
            return VisitConstant(Expression.Constant(literal.GetRawConstantValue(), literal.FieldType));
        // A member of a data object reached through a computed index (d.Rows[i].Y).
        if (node.Expression is { } target && IsObjectType(target.Type) && TryObjectOf(target) is { } o) return Read(o.Through(target, node), node);
        throw Error.CannotDifferentiate(node, $"the member `{node.Member.Name}` is read from an active value");
    }

    // Invoked lambda expressions were inlined before translation (InvocationInliner); what is left invokes a delegate.
    private static Value VisitInvocation(InvocationExpression node) =>
        throw Error.CannotDifferentiate(node, "only lambda expressions can be invoked (a compiled delegate cannot be looked into); pass an Expression<...> and invoke it");

    /// <summary>Rewrites an inactive sub-expression to read its call-time inputs from the trace environment.</summary>
    private sealed class CallTimeRewriter(ExpressionTranslator owner) : ExpressionVisitor
    {
        public override Expression? Visit(Expression? node)
        {
            if (node is not null && !StackGuard.HasRoom()) return StackGuard.RunOnLargeStack(() => Visit(node));
            return base.Visit(node);
        }

        protected override Expression VisitConstant(ConstantExpression node)
        {
            if (node.Value is null || RuntimeConstants.IsBaked(node.Type) || owner._rolled?.BakedTables.Contains(node) == true) return node;
            var slot = Expression.ArrayIndex(owner._b.Environment.Constants, Expression.Constant(owner._constants.IndexOf(node.Value)));
            return Expression.Convert(slot, node.Type);
        }

        protected override Expression VisitParameter(ParameterExpression node) =>
            node == owner._dataParameter ? owner._b.Environment.Data! : node;
    }
}
