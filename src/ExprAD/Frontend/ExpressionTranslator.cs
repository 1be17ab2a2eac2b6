using System.Collections.Immutable;
using System.Linq.Expressions;
using System.Reflection;
using ExprAD.Caching;
using ExprAD.Errors;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Frontend;

/// <summary>
/// The frontend: translates a lambda into an evaluation trace. Active parameters become inputs,
/// inactive sub-expressions that read call-time data become data reads, supported operators and
/// <see cref="Math"/> functions become primitives of the rule table, <c>?:</c> becomes a select,
/// and invoked lambdas are inlined. Anything else raises <see cref="NotSupportedException"/>
/// quoting the sub-expression.
/// </summary>
internal sealed class ExpressionTranslator
{
    private enum BindingKind { ScalarInput, ArrayInput, Value, Vector }

    /// <summary>What a parameter stands for; a <see cref="BindingKind.Vector"/> (an aggregate's array state) holds one value per element.</summary>
    private readonly record struct Binding(BindingKind Kind, int Parameter, Value Value, Value[]? Elements = null);

    /// <summary>
    /// Where translation currently emits: the top-level trace, or a loop body. A loop body's scope
    /// knows which nodes depend on its loop variable; every other node is translated in the
    /// enclosing scope and captured, which hoists loop-invariant code out of loops by construction.
    /// </summary>
    /// <remarks>
    /// A branch of <c>?:</c> gets a scope of its own on the same builder, with the condition under which the branch is
    /// taken (<see cref="Guard"/>): both branches are computed (they are pure), but an array read in a branch not taken
    /// must not throw, so its index is replaced by 0 there (its value is then discarded by the select). The branch
    /// reuses what was translated before it (<see cref="CacheParent"/>); what it translates itself stays its own, so a
    /// node met later outside the branch is translated again, without the guard.
    /// </remarks>
    private sealed class Scope(TraceBuilder builder, Scope? parent, HashSet<Expression>? loopDependent, Scope? cacheParent = null, Value? guard = null)
    {
        public readonly TraceBuilder Builder = builder;
        public readonly Scope? Parent = parent;
        public readonly HashSet<Expression>? LoopDependent = loopDependent;
        public readonly Scope? CacheParent = cacheParent;
        public readonly Value? Guard = guard;
        public Dictionary<Expression, Value> Translated = new(ReferenceEqualityComparer.Instance);
        public Dictionary<Expression, Value[]> Vectors = new(ReferenceEqualityComparer.Instance);

        public bool IsInvariant(Expression node) => LoopDependent is not null && !LoopDependent.Contains(node);

        public bool TryGetTranslated(Expression node, out Value value)
        {
            for (var scope = this; scope is not null; scope = scope.CacheParent)
                if (scope.Translated.TryGetValue(node, out value)) return true;
            value = default;
            return false;
        }
    }

    private Scope _scope;
    private TraceBuilder _b => _scope.Builder;
    private readonly RuntimeConstants _constants;
    private readonly IReadOnlyDictionary<Expression, Activity> _activity;
    private readonly ParameterExpression? _dataParameter;
    private readonly Dictionary<ParameterExpression, Binding> _bindings = new();
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
    public static Trace Translate(LambdaExpression lambda, ImmutableArray<ParameterRole> roles, RuntimeConstants constants)
    {
        int dataIndex = roles.IndexOf(ParameterRole.Data);
        var dataParameter = dataIndex >= 0 ? lambda.Parameters[dataIndex] : null;
        var names = lambda.Parameters.Select((p, i) => p.Name ?? "p" + i).ToImmutableArray();
        var environment = new TraceEnvironment(names, roles, dataParameter?.Type);
        var b = new TraceBuilder(environment);
        // The walk that made the cache key saw every node: without an invocation there is nothing to inline.
        var body = constants.MayHaveInvocations ? InvocationInliner.Inline(lambda.Body) : lambda.Body;
        var translator = new ExpressionTranslator(b, constants, ActivityAnalysis.Of(body, dataParameter), dataParameter);
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
        foreach (var node in ExpressionNodes.PostOrder(root, OperandsToTranslate, n => scope.TryGetTranslated(n, out _) || scope.IsInvariant(n)))
            scope.Translated[node] = TranslateNode(node);
        return scope.Translated[root];
    }

    /// <summary>
    /// The value of <paramref name="node"/> when this scope knows it already, or when it is loop-invariant here: then it is
    /// computed by <paramref name="translate"/> in the enclosing scope (once, before the loop) and captured by the body.
    /// </summary>
    private bool TryKnownOrHoisted(Expression node, Func<Expression, Value> translate, out Value value)
    {
        var scope = _scope;
        if (scope.TryGetTranslated(node, out value)) return true;
        if (!scope.IsInvariant(node)) return false;
        _scope = scope.Parent!;
        try { value = scope.Translated[node] = scope.Builder.Capture(translate(node)); }
        finally { _scope = scope; }
        return true;
    }

    /// <summary>The operands a node's translation reads (data reads and array indexing read fewer than all).</summary>
    private void OperandsToTranslate(Expression node, List<Expression?> operands)
    {
        if (IsDataRead(node)) return;
        switch (node)
        {
            // Operands that are not numbers are never entered: the node itself is then reported, with
            // its whole text, rather than a fragment of it.
            case BinaryExpression { NodeType: ExpressionType.ArrayIndex } b:
                if (ArrayParameterOf(b.Left) is null && (DataArrayKind(b.Left.Type) is not null && IsDataValue(b.Left) || IsArrayValue(b.Left))) operands.Add(b.Left);
                operands.Add(b.Right);
                break;
            case NewArrayExpression { NodeType: ExpressionType.NewArrayBounds } zeros when zeros.Type == typeof(double[]): operands.Add(zeros.Expressions[0]); break;
            case UnaryExpression { NodeType: ExpressionType.ArrayLength } u when ArrayParameterOf(u.Operand) is null && DataArrayKind(u.Operand.Type) is not null && !IsVector(u.Operand):
                operands.Add(u.Operand);
                break;
            case BinaryExpression b when HasKind(b.Left) && HasKind(b.Right): operands.Add(b.Left); operands.Add(b.Right); break;
            case UnaryExpression u when u.NodeType is ExpressionType.Negate or ExpressionType.UnaryPlus or ExpressionType.Not
                or ExpressionType.Convert or ExpressionType.ConvertChecked && HasKind(u.Operand): operands.Add(u.Operand); break;
            // The branches are translated by VisitConditional, each in its own guarded scope (see Scope).
            case ConditionalExpression c when HasKind(c.Test) && HasKind(c.IfTrue): operands.Add(c.Test); break;
            case MethodCallExpression m when LinqLoops.TryMatch(m, out var loop) && IsLoopSource(loop):
                if (loop.Start is not null) { operands.Add(loop.Start); operands.Add(loop.Count); }
                break;
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
        if (!_activity.TryGetValue(node, out var activity) || (activity & Activity.Variable) != 0) return false;
        // An element of a data array in a branch of ?: is read in the trace, with its index guarded (see Scope): as a
        // call-time read it would be evaluated, and could throw, whichever branch is taken.
        if (_scope.Guard is not null && node is BinaryExpression { NodeType: ExpressionType.ArrayIndex } element && DataArrayKind(element.Left.Type) is not null)
            return false;
        if (node is ConstantExpression || (node is ParameterExpression p && p != _dataParameter)
            || node is MemberExpression { Expression: null, Member: FieldInfo { IsLiteral: true } }) return false;
        bool structural = node switch
        {
            BinaryExpression b => b.NodeType != ExpressionType.ArrayIndex && b.Method is null && HasKind(b.Left) && HasKind(b.Right),
            UnaryExpression u => u.NodeType is ExpressionType.Negate or ExpressionType.UnaryPlus or ExpressionType.Not or ExpressionType.Convert
                && u.Method is null && HasKind(u.Operand),
            ConditionalExpression c => HasKind(c.Test) && HasKind(c.IfTrue),
            MethodCallExpression m => RuleTable.TryGetByMethod(m.Method, out _),
            _ => false,
        };
        return !structural || !HasKind(node);
    }

    private static bool HasKind(Expression e) => KindOf(e.Type) is not null;

    /// <summary>The kind of a data array type (<c>double[]</c>, <c>double[][]</c>), or null.</summary>
    private static ValueKind? DataArrayKind(Type type) =>
        type == typeof(double[]) ? ValueKind.Array : type == typeof(double[][]) ? ValueKind.Jagged : null;

    private Value TranslateNode(Expression node)
    {
        if (IsDataRead(node)) return VisitDataRead(node);
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
            InvocationExpression i => VisitInvocation(i),
            _ => throw Error.CannotDifferentiate(node, $"expressions of kind {node.NodeType} are not supported"),
        };
    }

    private static ValueKind? KindOf(Type type) =>
        type == typeof(double) ? ValueKind.Scalar :
        type == typeof(int) ? ValueKind.Integer :
        type == typeof(bool) ? ValueKind.Boolean : null;

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
            _ => throw Error.CannotDifferentiate(node, $"the array `{node.Name}` must be indexed with a constant index, as in `{node.Name}[0]`"),
        };
    }

    /// <summary>An inactive sub-expression: compiled as-is and evaluated at call time, never differentiated.</summary>
    private Value VisitDataRead(Expression node)
    {
        var (accessor, kind) = node.Type switch
        {
            var t when t == typeof(double) || t == typeof(bool) || t == typeof(int) => (node, KindOf(t)!.Value),
            var t when t == typeof(float) || t == typeof(long) || t == typeof(decimal) => (Expression.Convert(node, typeof(double)), ValueKind.Scalar),
            var t when t == typeof(short) || t == typeof(byte) || t == typeof(sbyte) || t == typeof(ushort) || t == typeof(char) =>
                (Expression.Convert(node, typeof(int)), ValueKind.Integer),
            var t when DataArrayKind(t) is { } arrayKind => (node, arrayKind),
            _ => throw Error.CannotDifferentiate(node, $"a value of type `{node.Type.Name}` cannot be used as a number"),
        };
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
        // && and || evaluate both sides: every operation here is pure, so only the cost differs.
        return _b.Emit(op.Value, left, right);
    }

    private Value VisitArrayIndex(BinaryExpression node)
    {
        if (IsVector(node.Left))
        {
            // An element of a small array value (a literal, an aggregate's state): the element itself at a constant index;
            // at a computed one, read (bounds-checked, guarded in a branch of ?:) from the array it is built into.
            var elements = TranslateVector(node.Left);
            var at = Operand(node.Right, node);
            if (!_b.TryGetConstant(at, out var k)) return _b.Emit(Op.Element, SmallArray(node.Left), Guarded(at));
            if (k < 0 || k >= elements.Length)
                throw Error.CannotDifferentiate(node, $"the index {k} is outside the array of {elements.Length} elements");
            return elements[(int)k];
        }
        if (node.Left is not ParameterExpression array || !_bindings.TryGetValue(array, out var binding) || binding.Kind != BindingKind.ArrayInput)
        {
            // An element of a data array (or a row of a jagged one) at an index that depends on a loop.
            if (DataArrayKind(node.Left.Type) is null || !IsDataValue(node.Left) && !IsArrayValue(node.Left))
                throw Error.CannotDifferentiate(node, "only the active array parameter, data arrays and arrays built with ToArray() can be indexed here");
            return _b.Emit(Op.Element, Translate(node.Left), Guarded(Operand(node.Right, node)));
        }
        var index = Operand(node.Right, node);
        if (_b.TryGetConstant(index, out var i) && i < 0) throw Error.CannotDifferentiate(node, $"the index {i} is negative");
        // A computed index in a branch of ?: is guarded; a constant one is covered by the up-front length check of x.
        if (!_b.TryGetConstant(index, out _)) index = Guarded(index);
        // A computed index is bounds-checked when read; a constant one by the up-front length check.
        return _b.InputAt(binding.Parameter, index);
    }

    private Value VisitConditional(ConditionalExpression node)
    {
        if (KindOf(node.Type) is null) throw Error.UnsupportedType(node, node.Type);
        var condition = Operand(node.Test, node);
        // Both branches are evaluated (they are pure); the select takes the value and the derivative of the branch the
        // condition picks. Array reads in a branch are guarded by its condition (see Scope).
        var whenTrue = TranslateBranch(node.IfTrue, condition);
        var whenFalse = TranslateBranch(node.IfFalse, _b.Emit(Op.Not, condition));
        return _b.Select(condition, whenTrue, whenFalse);
    }

    /// <summary>Translates a branch of <c>?:</c> in a scope whose guard says when the branch is taken.</summary>
    private Value TranslateBranch(Expression branch, Value taken)
    {
        var outer = _scope;
        var guard = outer.Guard is { } enclosing ? outer.Builder.Emit(Op.And, enclosing, taken) : taken;
        _scope = new Scope(outer.Builder, outer.Parent, outer.LoopDependent, outer, guard);
        try { return Translate(branch); }
        finally { _scope = outer; }
    }

    /// <summary>An index read in a branch of <c>?:</c>: itself where the branch is taken, 0 (a harmless read, discarded) elsewhere.</summary>
    private Value Guarded(Value index) =>
        _scope.Guard is { } taken ? _b.Select(taken, index, _b.Integer(0)) : index;

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
                var whenTrue = TranslateVector(choice.IfTrue);
                var whenFalse = TranslateVector(choice.IfFalse);
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
        if (LinqLoops.TryMatchMap(node, out var map) && IsLoopSource(map)) return VisitMap(node, map);
        if (LinqLoops.TryMatch(node, out var pipeline) && IsLoopSource(pipeline))
            return pipeline.End == LinqLoops.Terminal.Aggregate ? VisitAggregate(node, pipeline)[0] : VisitPipeline(node, pipeline);
        if (!RuleTable.TryGetByMethod(node.Method, out var primitive))
            throw Error.NoDerivativeRule(node, node.Method);
        var args = node.Arguments.Select(a => Operand(a, node)).ToArray();
        return args.Length switch
        {
            1 => _b.Emit(primitive.Op, args[0]),
            2 => _b.Emit(primitive.Op, args[0], args[1]),
            _ => _b.Emit(primitive.Op, args[0], args[1], args[2]),
        };
    }

    /// <summary>A pipeline runs over a range, the active array, or a data array.</summary>
    private bool IsLoopSource(LinqLoops.Pipeline loop) =>
        loop.Array is null || ArrayParameterOf(loop.Array) is not null || IsDataValue(loop.Array) || IsArrayValue(loop.Array) || IsVector(loop.Array);

    private int? ArrayParameterOf(Expression e) =>
        e is ParameterExpression p && _bindings.TryGetValue(p, out var b) && b.Kind == BindingKind.ArrayInput ? b.Parameter : null;

    /// <summary>
    /// Element <paramref name="index"/> of an array source: the active array, a data array or an array value (translated, so
    /// hoisted), or a small array (see <see cref="IsVector"/>: its element itself at a constant index, else read from the
    /// array it is built into).
    /// </summary>
    private Value ElementOf(Expression array, Value index)
    {
        if (ArrayParameterOf(array) is { } parameter) return _b.InputAt(parameter, index);
        if (IsVector(array))
            return _b.TryGetConstant(index, out double k) ? TranslateVector(array)[(int)k] : _b.Emit(Op.Element, SmallArray(array), index);
        return _b.Emit(Op.Element, Translate(array), index);
    }

    private Value LengthOf(Expression array) =>
        ArrayParameterOf(array) is { } parameter ? _b.InputLength(parameter)
        : IsVector(array) ? _b.Integer(TranslateVector(array).Length)
        : _b.Emit(Op.ArrayLength, Translate(array));

    /// <summary>
    /// A small array (see <see cref="IsVector"/>) that a LINQ operator runs over, built into an array at run time: a map
    /// over its positions whose element k is its element k (a chain of selects on the position). Hoisted and cached
    /// like any translated node.
    /// </summary>
    private Value SmallArray(Expression node)
    {
        if (TryKnownOrHoisted(node, SmallArray, out var known)) return known;
        var elements = TranslateVector(node);
        var body = _b.CreateBody();
        var position = body.LoopIndex();
        var element = body.Capture(elements[^1]);
        for (int k = elements.Length - 2; k >= 0; k--)
            element = body.Select(body.Emit(Op.Equal, position, body.Integer(k)), body.Capture(elements[k]), element);
        return _scope.Translated[node] = _b.EmitMap(_b.Integer(0), _b.Integer(elements.Length), body, [element])[0];
    }

    /// <summary>
    /// A LINQ pipeline ending in Sum or Average: one sum region whose body computes each element
    /// through the fused stages. The body is translated in a scope of its own, where only the nodes
    /// that depend on the stages' parameters are emitted; the rest are hoisted and captured.
    /// </summary>
    private Value VisitPipeline(MethodCallExpression node, LinqLoops.Pipeline loop)
    {
        var (start, count) = LoopRange(loop);
        return InLoopBody(loop, start, (body, index, position, outer, dependent) =>
        {
            var (element, mask) = PipelineElement(node, loop, index, position);
            if (loop.End is LinqLoops.Terminal.Max or LinqLoops.Terminal.Min)
            {
                // The extremum is the element at its arg-extremum: found by a loop (an index, not differentiated),
                // then read again outside the loop, so its derivative is that of the element chosen.
                var excluded = body.Constant(loop.End == LinqLoops.Terminal.Max ? double.NegativeInfinity : double.PositiveInfinity);
                var candidate = mask is { } kept ? body.Select(kept, element, excluded) : element;
                var at = outer.Builder.EmitArgExtremum(loop.End == LinqLoops.Terminal.Max ? Op.ArgMax : Op.ArgMin, start, count, body, candidate);
                // Re-read in the enclosing scope; nodes that depend on the stage parameters must stay there too.
                var union = outer.LoopDependent is null ? null : new HashSet<Expression>(outer.LoopDependent.Concat(dependent), ReferenceEqualityComparer.Instance);
                _scope = new Scope(outer.Builder, outer.Parent, union);
                return PipelineElement(node, loop, at, loop.Array is null ? _b.Sub(at, start) : at).Element;
            }
            // LINQ's Average over a sequence (anything but an array itself) starts its sum at the first element, so the
            // average of -0.0s is -0.0: that sum starts at -0.0, and an element a mask drops adds -0.0 (no change).
            bool negativeZeroStart = loop.End == LinqLoops.Terminal.Average && !(loop.Array is not null && loop.Stages.Count == 0);
            var zero = body.Constant(negativeZeroStart ? -0.0 : 0.0);
            var summands = new List<Value> { mask is { } keep ? body.Select(keep, element, zero) : element };
            if (mask is { } counted && loop.End == LinqLoops.Terminal.Average) summands.Add(body.Select(counted, body.Constant(1.0), zero));
            var sums = outer.Builder.EmitSum(start, count, body, summands, negativeZeroStart);
            if (loop.End == LinqLoops.Terminal.Sum) return sums[0];
            // Average: the sum over the number of elements kept (NaN for none, where LINQ would throw).
            return outer.Builder.Div(sums[0], summands.Count > 1 ? sums[1] : outer.Builder.Emit(Op.IntToDouble, count));
        });
    }

    /// <summary>Where a pipeline's loop starts, and how many iterations it runs (Zip stops at the shorter sequence).</summary>
    private (Value Start, Value Count) LoopRange(LinqLoops.Pipeline loop)
    {
        var start = loop.Array is null ? Translate(loop.Start!) : _b.Integer(0);
        var count = loop.Array is null ? Translate(loop.Count!) : LengthOf(loop.Array);
        foreach (var stage in loop.Stages.Where(s => s.Kind == LinqLoops.StageKind.Zip))
        {
            var other = LengthOf(stage.Other!);
            count = _b.Select(_b.Emit(Op.LessThan, other, count), other, count);
        }
        return (start, count);
    }

    private delegate T LoopBodyTranslation<T>(TraceBuilder body, Value index, Value position, Scope outer, HashSet<Expression> dependent);

    /// <summary>
    /// Translates the body of a pipeline's loop with <paramref name="translate"/>, in a scope of its own on a new child
    /// builder, where only the nodes that depend on the lambdas' parameters (<c>dependent</c>) are emitted and the rest
    /// are hoisted and captured. It gets the loop index and the position in the sequence (index - start over a range);
    /// the scope and the bindings of the lambdas' parameters are undone afterwards.
    /// </summary>
    private T InLoopBody<T>(LinqLoops.Pipeline loop, Value start, LoopBodyTranslation<T> translate)
    {
        var variables = loop.Lambdas.SelectMany(l => l.Parameters).ToHashSet();
        var dependent = LinqLoops.DependentOn(loop.Lambdas.Select(l => l.Body), variables);
        var body = _scope.Builder.CreateBody();
        var outer = _scope;
        _scope = new Scope(body, outer, dependent);
        try
        {
            var index = body.LoopIndex();
            return translate(body, index, loop.Array is null ? body.Sub(index, body.Capture(start)) : index, outer, dependent);
        }
        finally
        {
            _scope = outer;
            foreach (var v in variables) _bindings.Remove(v);
        }
    }

    /// <summary>
    /// <c>....Select(...).ToArray()</c>: a map region building the array, element r computed by the fused stages at
    /// position r. As for sums, the body holds only what depends on the stages' parameters; the rest is hoisted.
    /// </summary>
    private Value VisitMap(MethodCallExpression node, LinqLoops.Pipeline loop)
    {
        if (loop.Stages.Any(s => s.Kind == LinqLoops.StageKind.Where))
            throw Error.CannotDifferentiate(node, "Where before ToArray() makes the length depend on the data; use a mask (a ? b : 0) in Select instead");
        var (start, count) = LoopRange(loop);
        return InLoopBody(loop, start, (body, index, position, outer, _) =>
            outer.Builder.EmitMap(start, count, body, [PipelineElement(node, loop, index, position).Element])[0]);
    }

    /// <summary>
    /// Translates, in the current scope, the element of a pipeline at loop index <paramref name="index"/> (its
    /// <paramref name="position"/> in the sequence) through every stage; also returns the Where mask, if any.
    /// </summary>
    private (Value Element, Value? Mask) PipelineElement(MethodCallExpression node, LinqLoops.Pipeline loop, Value index, Value position, bool asScalar = true)
    {
        var element = loop.Array is null ? index : ElementOf(loop.Array, index);
        Value? mask = null;
        foreach (var stage in loop.Stages)
        {
            var parameters = stage.Lambda.Parameters;
            _bindings[parameters[0]] = new Binding(BindingKind.Value, -1, element);
            if (stage.Kind == LinqLoops.StageKind.SelectWithIndex)
            {
                if (mask is not null) throw Error.CannotDifferentiate(node, "an indexed Select after Where is not supported");
                _bindings[parameters[1]] = new Binding(BindingKind.Value, -1, position);
            }
            if (stage.Kind == LinqLoops.StageKind.Zip)
                _bindings[parameters[1]] = new Binding(BindingKind.Value, -1, ElementOf(stage.Other!, position));
            var result = Translate(stage.Lambda.Body);
            if (stage.Kind == LinqLoops.StageKind.Where) mask = mask is { } m ? _b.Emit(Op.And, m, result) : result;
            else element = result;
        }
        if (!asScalar) return (element, mask);
        if (_b.KindOf(element) == ValueKind.Integer) element = _b.Emit(Op.IntToDouble, element);
        if (_b.KindOf(element) != ValueKind.Scalar) throw Error.UnsupportedType(node, node.Type);
        return (element, mask);
    }

    /// <summary>
    /// <c>Aggregate(seed, (state, element) =&gt; next)</c>: one fold region carrying the state (a number, or each element of
    /// a small array) through the pipeline's elements; a Where stage keeps the state where its mask is false. Returns
    /// the final state, or the result selector applied to it. As for sums, the body holds only what depends on the
    /// state or the element; the rest is hoisted and captured.
    /// </summary>
    private Value[] VisitAggregate(MethodCallExpression node, LinqLoops.Pipeline loop)
    {
        var seedExpression = loop.Seed!;
        // A double[] seed is either a small array (new[] { ... }: carried element by element) or an array of run-time length.
        bool vector = IsSmallArraySeed(seedExpression);
        bool array = !vector && seedExpression.Type == typeof(double[]);
        var seed = vector ? TranslateVector(seedExpression) : [array ? Translate(seedExpression) : Scalar(Operand(seedExpression, node))];
        if (array && _b.KindOf(seed[0]) != ValueKind.Array) throw Error.UnsupportedType(seedExpression, seedExpression.Type);
        if (seed.Length == 0) throw Error.CannotDifferentiate(seedExpression, "an Aggregate state needs at least one element");
        var (start, count) = LoopRange(loop);
        var accumulator = loop.Accumulator!;
        var (body, next) = InLoopBody(loop, start, (body, index, position, _, _) =>
        {
            var state = seed.Select((_, k) => body.State(k, array ? ValueKind.Array : ValueKind.Scalar)).ToArray();
            var (element, mask) = PipelineElement(node, loop, index, position, asScalar: false);
            _bindings[accumulator.Parameters[0]] = vector
                ? new Binding(BindingKind.Vector, -1, default, state)
                : new Binding(BindingKind.Value, -1, state[0]);
            _bindings[accumulator.Parameters[1]] = new Binding(BindingKind.Value, -1, element);
            var next = vector ? TranslateVector(accumulator.Body) : [array ? Translate(accumulator.Body) : Scalar(Operand(accumulator.Body, accumulator))];
            if (next.Length != state.Length)
                throw Error.CannotDifferentiate(accumulator.Body, $"the next state has {next.Length} elements where the seed has {state.Length}");
            foreach (var v in next)
                if (body.KindOf(v) != (array ? ValueKind.Array : ValueKind.Scalar)) throw Error.UnsupportedType(accumulator.Body, accumulator.Body.Type);
            if (mask is { } keep)
            {
                if (array) throw Error.CannotDifferentiate(node, "Where before an Aggregate with an array state is not supported; choose inside the step instead");
                next = next.Select((v, k) => body.Select(keep, v, state[k])).ToArray();
            }
            return (body, next);
        });
        var (_, results) = _b.EmitFold(start, count, seed, body, next);
        if (loop.ResultSelector is not { } selector) return results;
        var parameter = selector.Parameters[0];
        _bindings[parameter] = vector ? new Binding(BindingKind.Vector, -1, default, results) : new Binding(BindingKind.Value, -1, results[0]);
        // The selector runs here, after the loop; inside an enclosing loop, what depends on its parameter must stay here too.
        var scope = _scope;
        if (scope.LoopDependent is not null)
        {
            var reads = LinqLoops.DependentOn([selector.Body], new HashSet<ParameterExpression> { parameter });
            _scope = new Scope(scope.Builder, scope.Parent, new HashSet<Expression>(scope.LoopDependent.Concat(reads), ReferenceEqualityComparer.Instance));
        }
        try
        {
            return selector.Body.Type == typeof(double[]) ? TranslateVector(selector.Body) : [Scalar(Operand(selector.Body, selector))];
        }
        finally
        {
            _scope = scope;
            _bindings.Remove(parameter);
        }
    }

    /// <summary>True for an array that comes from data (or a row of one): never from the active parameter.</summary>
    private bool IsDataValue(Expression e) =>
        _activity.TryGetValue(e, out var a) && (a & Activity.Variable) == 0 ||
        e is BinaryExpression { NodeType: ExpressionType.ArrayIndex } inner && ArrayParameterOf(inner.Left) is null && IsDataValue(inner.Left);

    private Value VisitMember(MemberExpression node)
    {
        if (node.Expression is null && node.Member is FieldInfo { IsLiteral: true } literal)
            return VisitConstant(Expression.Constant(literal.GetRawConstantValue(), literal.FieldType));
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
            if (node.Value is null || RuntimeConstants.IsBaked(node.Type)) return node;
            var slot = Expression.ArrayIndex(owner._b.Environment.Constants, Expression.Constant(owner._constants.IndexOf(node.Value)));
            return Expression.Convert(slot, node.Type);
        }

        protected override Expression VisitParameter(ParameterExpression node) =>
            node == owner._dataParameter ? owner._b.Environment.Data! : node;
    }
}
