using System.Linq.Expressions;
using System.Reflection;
using ExprAD.Errors;
using ExprAD.IR;
using ExprAD.Rules;
using static ExprAD.Frontend.DataTypes;

namespace ExprAD.Frontend;

// C#'s evaluation order for ?:, && and ||. A branch that is not taken, or a right side that is not reached, is never
// evaluated when it could throw or reads call-time data beyond a plain field: such a branch becomes a branch region (a sum
// of at most one iteration, see Region.Branch), evaluated only when taken. Pure arithmetic is computed on both sides and
// selected, which costs nothing to get wrong and keeps straight-line code straight.
internal sealed partial class ExpressionTranslator
{
    private Value VisitConditional(ConditionalExpression node)
    {
        if (KindOf(node.Type) is null) throw Error.UnsupportedType(node, node.Type);
        var condition = Operand(node.Test, node);
        // The select takes the value and the derivative of the branch the condition picks.
        var whenTrue = Branch(node.IfTrue, condition);
        var whenFalse = Branch(node.IfFalse, _b.Emit(Op.Not, condition));
        return _b.Select(condition, whenTrue, whenFalse);
    }

    /// <summary><c>a &amp;&amp; b</c> and <c>a || b</c>: the right side is evaluated only when reached.</summary>
    private Value VisitShortCircuit(BinaryExpression node)
    {
        var left = Operand(node.Left, node);
        bool and = node.NodeType == ExpressionType.AndAlso;
        // Not reached, a lazily evaluated right side is false, which leaves a && b false and a || b true.
        var right = Branch(node.Right, and ? left : _b.Emit(Op.Not, left));
        if (_b.KindOf(right) != ValueKind.Boolean) throw Error.UnsupportedType(node.Right, node.Right.Type);
        return _b.Emit(and ? Op.And : Op.Or, left, right);
    }

    /// <summary>The value of <paramref name="branch"/>, which C# evaluates only when <paramref name="taken"/> holds.</summary>
    private Value Branch(Expression branch, Value taken) => MayFailHere(branch) ? LazyBranch(branch, taken) : Translate(branch);

    /// <summary>
    /// True when translating <paramref name="root"/> here would evaluate a node that could fail: one that
    /// <see cref="MayFail"/> and that no enclosing scope has evaluated already (what was evaluated outside the branch is
    /// only read inside it).
    /// </summary>
    private bool MayFailHere(Expression root)
    {
        if (!MayFailWithin(root)) return false;
        var scope = _scope;
        foreach (var node in ExpressionNodes.PostOrder(root, (n, list) => ExpressionNodes.TryGetOperands(n, list), n => !MayFailWithin(n) || IsKnown(scope, n)))
            if (MayFail(node) || !ExpressionNodes.TryGetOperands(node, [])) return true;
        return false;
    }

    /// <summary>
    /// True when <paramref name="scope"/> or an enclosing scope has translated <paramref name="node"/> (see <see cref="TryKnown"/>),
    /// or, for an element read, a read of the same array at the same index written elsewhere in the tree (C# builds a node
    /// per occurrence): <c>Math.Abs(x[i] - t[i]) &lt;= δ ? (x[i] - t[i]) * (x[i] - t[i]) : ...</c> evaluated the branch's reads
    /// in its condition, so the branch cannot fail and is computed eagerly (and its loop can stay elementwise).
    /// </summary>
    private bool IsKnown(Scope scope, Expression node)
    {
        var read = ReadKey(node);
        for (var s = scope; s is not null; s = s.IsBranch || s.IsInvariant(node) ? s.Parent : null)
            if (s.Translated.ContainsKey(node) || read is not null && s.Reads.Contains(read)) return true;
        return false;
    }

    /// <summary>
    /// The structure of an element read <c>a[k]</c> whose array and index are parameters, constants, fields and integer
    /// arithmetic on them, with each parameter and constant object named by its identity; null for anything else. Two reads
    /// with the same key read the same element (the tree has no assignments, and data is taken to be pure).
    /// </summary>
    private string? ReadKey(Expression node)
    {
        if (node is not BinaryExpression { NodeType: ExpressionType.ArrayIndex } element) return null;
        if (_readKeys.TryGetValue(node, out var known)) return known;
        string? Part(Expression e) => e switch
        {
            ParameterExpression or ConstantExpression { Value: not null } when e is ParameterExpression || !e.Type.IsValueType =>
                "#" + Identity(e is ConstantExpression c ? c.Value! : e),
            ConstantExpression { Value: int k } => k.ToString(System.Globalization.CultureInfo.InvariantCulture),
            MemberExpression { Member: FieldInfo field, Expression: var target } when (target is null ? "static" : Part(target)) is { } owner =>
                owner + "." + field.MetadataToken + "@" + field.Module.ModuleVersionId,
            BinaryExpression { NodeType: ExpressionType.Add or ExpressionType.Subtract or ExpressionType.Multiply, Method: null } b
                when b.Type == typeof(int) && Part(b.Left) is { } l && Part(b.Right) is { } r => $"({l}{b.NodeType}{r})",
            BinaryExpression { NodeType: ExpressionType.ArrayIndex } inner when Part(inner.Left) is { } a && Part(inner.Right) is { } k => $"{a}[{k}]",
            _ => null,
        };
        var key = Part(element.Left) is { } array && Part(element.Right) is { } index ? $"{array}[{index}]" : null;
        _readKeys[node] = key;
        return key;
    }

    private readonly Dictionary<Expression, string?> _readKeys = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<object, int> _identities = new(ReferenceEqualityComparer.Instance);

    private int Identity(object o)
    {
        if (!_identities.TryGetValue(o, out int id)) _identities[o] = id = _identities.Count;
        return id;
    }

    /// <summary>
    /// The elements of a small array value that C# evaluates only when <paramref name="taken"/> holds: each element of a
    /// literal is a branch of its own; any other array whose evaluation could fail is not supported.
    /// </summary>
    private Value[] BranchVector(Expression branch, Value taken)
    {
        if (!MayFailHere(branch)) return TranslateVector(branch);
        if (branch is not NewArrayExpression { NodeType: ExpressionType.NewArrayInit } literal)
            throw Error.CannotDifferentiate(branch, "a choice between arrays whose branch could throw or reads data is not supported; choose between elements instead (new[] { c ? a0 : b0, ... })");
        return literal.Expressions.Select(e => Scalar(Branch(e, taken))).ToArray();
    }

    /// <summary>
    /// A branch region computing <paramref name="branch"/> when <paramref name="taken"/> holds (see <see cref="Region.Branch"/>).
    /// Its body holds the nodes whose evaluation could fail and the nodes above them; the rest is computed outside,
    /// as a loop body hoists what does not depend on its index. Not taken, the value is discarded: a select or a logical
    /// operation reads it only when the branch was taken.
    /// </summary>
    private Value LazyBranch(Expression branch, Value taken)
    {
        var kind = KindOf(branch.Type) ?? throw Error.UnsupportedType(branch, branch.Type);
        var outer = _scope;
        var body = outer.Builder.CreateBody();
        _scope = new Scope(body, outer, MayFailWithin, isBranch: true);
        Value encoded;
        try
        {
            var value = Translate(branch);
            // A branch region sums one scalar: an integer travels as its double (exact), a boolean as 1 or 0.
            encoded = body.KindOf(value) switch
            {
                ValueKind.Scalar => value,
                ValueKind.Integer => body.Emit(Op.IntToDouble, value),
                ValueKind.Boolean => body.Select(value, body.Constant(1.0), body.Constant(0.0)),
                _ => throw Error.UnsupportedType(branch, branch.Type),
            };
        }
        finally { _scope = outer; }
        var b = outer.Builder;
        // Starting at -0.0 makes the one iteration's sum exactly its term (-0.0 + v is v for every v).
        var result = b.EmitSum(b.Integer(0), b.Select(taken, b.Integer(1), b.Integer(0)), body, [encoded], new SumStyle(NegativeZeroStart: true, Branch: true))[0];
        return kind switch
        {
            ValueKind.Scalar => result,
            ValueKind.Integer => b.Emit(Op.DoubleToInt, result),
            _ => b.Emit(Op.NotEqual, result, b.Constant(0.0)),
        };
    }

    /// <summary>
    /// True when evaluating <paramref name="root"/> could throw or runs code of the user's: when some node under it
    /// <see cref="MayFail"/>. Memoised per node (one walk over each node for the whole lambda).
    /// </summary>
    private bool MayFailWithin(Expression root)
    {
        if (_failsWithin.TryGetValue(root, out bool known)) return known;
        var operands = new List<Expression?>();
        foreach (var node in ExpressionNodes.PostOrder(root, (n, list) => ExpressionNodes.TryGetOperands(n, list), _failsWithin.ContainsKey))
        {
            operands.Clear();
            // Node kinds whose operands are not known here could do anything.
            bool fails = !ExpressionNodes.TryGetOperands(node, operands) || MayFail(node);
            foreach (var operand in operands) fails |= operand is not null && _failsWithin[operand];
            _failsWithin[node] = fails;
        }
        return _failsWithin[root];
    }

    private readonly Dictionary<Expression, bool> _failsWithin = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// True when evaluating <paramref name="node"/> itself (its operands aside) could throw or run the user's code: an array
    /// read at an index not known to be valid, integer division, a loop (Enumerable.Range checks its count, Max and Average
    /// of nothing throw), a method without a rule or whose rule may throw, a property, a field read through a reference that
    /// could be null, an array created with a computed length, a checked operation. Decided from the tree alone.
    /// </summary>
    private bool MayFail(Expression node) => node switch
    {
        // A constant index of the active array is covered by the up-front length check, and one of a small array (a literal,
        // an Aggregate's state) is checked when translated: it is the element itself.
        BinaryExpression { NodeType: ExpressionType.ArrayIndex } element =>
            !(element.Right is ConstantExpression && (ArrayParameterOf(element.Left) is not null || IsVector(element.Left))),
        BinaryExpression { Method: not null } or UnaryExpression { Method: not null } => true,
        BinaryExpression { NodeType: ExpressionType.Divide or ExpressionType.Modulo } division when division.Type != typeof(double) && division.Type != typeof(float) =>
            division.Right is not ConstantExpression { Value: int divisor } || divisor is 0 or -1,
        BinaryExpression { NodeType: ExpressionType.AddChecked or ExpressionType.SubtractChecked or ExpressionType.MultiplyChecked } => true,
        UnaryExpression { NodeType: ExpressionType.ConvertChecked or ExpressionType.NegateChecked } => true,
        // The length of an array that could be null (of data, a row): only the active array and a literal are never null.
        UnaryExpression { NodeType: ExpressionType.ArrayLength } length =>
            ArrayParameterOf(length.Operand) is null && length.Operand is not NewArrayExpression { NodeType: ExpressionType.NewArrayInit },
        MethodCallExpression call => !RuleTable.TryGetByMethod(call.Method, out var primitive) || primitive.MayThrow,
        MemberExpression member => !IsSafeRead(member),
        NewArrayExpression { NodeType: ExpressionType.NewArrayBounds } => true,
        InvocationExpression or IndexExpression or NewExpression or TypeBinaryExpression => true,
        _ => false,
    };

    /// <summary>
    /// True for a read that cannot throw and runs no code of the user's: a literal or static field, a field of the data
    /// argument (checked not null before anything runs) or of a captured object (a closure is never null), and fields of
    /// such reads, or of any parameter, when they are structs (never null).
    /// </summary>
    private bool IsSafeRead(Expression node) => node switch
    {
        ConstantExpression or ParameterExpression => node.Type.IsValueType,
        MemberExpression { Member: FieldInfo, Expression: null } => true,
        MemberExpression { Member: FieldInfo, Expression: var target } =>
            target == _dataParameter || target is ConstantExpression { Value: not null } || target.Type.IsValueType && IsSafeRead(target),
        _ => false,
    };
}
