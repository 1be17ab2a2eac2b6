using System.Linq.Expressions;
using ExprAD.Frontend;

namespace ExprAD.Caching;

/// <summary>
/// The structure of a lambda plus the request made of it, as a value: node types, result types,
/// methods and members, baked constants by value, runtime constants by type and first-occurrence
/// number, parameters by first-occurrence number. Two lambdas with equal keys compile to the same
/// kernel. Built by one walk that also collects the lambda's <see cref="RuntimeConstants"/>.
/// </summary>
internal sealed class StructuralKey : IEquatable<StructuralKey>
{
    private readonly long[] _numbers;
    private readonly object?[] _references;
    private readonly int _hash;

    private StructuralKey(long[] numbers, object?[] references)
    {
        _numbers = numbers;
        _references = references;
        var hash = new HashCode();
        foreach (var n in numbers) hash.Add(n);
        foreach (var r in references) hash.Add(r);
        _hash = hash.ToHashCode();
    }

    /// <summary>
    /// The key of (<paramref name="lambda"/>, <paramref name="request"/>) and the lambda's runtime constants;
    /// the key is null when the lambda contains a node kind the key does not encode (such lambdas are not cached).
    /// </summary>
    public static (StructuralKey? Key, RuntimeConstants Constants) Of(LambdaExpression lambda, string request)
    {
        var walker = new Walker();
        walker.References.Add(request);
        walker.Visit(lambda);
        var key = walker.Cacheable ? new StructuralKey(walker.Numbers.ToArray(), walker.References.ToArray()) : null;
        return (key, walker.Constants);
    }

    /// <summary>The key of an expression on its own: used to tell data reads apart exactly.</summary>
    public static StructuralKey? Of(Expression expression)
    {
        var walker = new Walker();
        walker.Visit(expression);
        return walker.Cacheable ? new StructuralKey(walker.Numbers.ToArray(), walker.References.ToArray()) : null;
    }

    public bool Equals(StructuralKey? other) =>
        other is not null && _hash == other._hash &&
        _numbers.AsSpan().SequenceEqual(other._numbers) &&
        _references.AsSpan().SequenceEqual(other._references);

    public override bool Equals(object? obj) => Equals(obj as StructuralKey);

    public override int GetHashCode() => _hash;

    /// <summary>Writes the tokens of a tree in pre-order with an explicit stack (no recursion per node).</summary>
    private sealed class Walker
    {
        public readonly List<long> Numbers = new();
        public readonly List<object?> References = new();
        public readonly RuntimeConstants Constants = new();
        private readonly Dictionary<ParameterExpression, int> _parameters = new();
        // Trees built with the Expression API may share nodes; a shared node is walked once and
        // referred to by number afterwards, so the walk is linear in the number of distinct nodes.
        private readonly Dictionary<Expression, int> _seen = new(ReferenceEqualityComparer.Instance);
        public bool Cacheable = true;

        public void Visit(Expression root)
        {
            var stack = new Stack<Expression?>();
            var operands = new List<Expression?>();
            stack.Push(root);
            while (stack.Count > 0 && Cacheable)
            {
                var node = stack.Pop();
                if (node is null) { Numbers.Add(-1); continue; }
                if (node is ParameterExpression parameter)
                {
                    if (!_parameters.TryGetValue(parameter, out int k)) _parameters.Add(parameter, k = _parameters.Count);
                    Numbers.Add((long)ExpressionType.Parameter);
                    References.Add(parameter.Type);
                    Numbers.Add(k);
                    Numbers.Add(parameter.IsByRef ? 1 : 0);
                    continue;
                }
                if (_seen.TryGetValue(node, out int earlier))
                {
                    Numbers.Add(-2 - earlier);
                    continue;
                }
                _seen.Add(node, _seen.Count);
                Numbers.Add((long)node.NodeType);
                References.Add(node.Type);
                WritePayload(node);
                operands.Clear();
                // Node kinds whose every field is not encoded would make distinct lambdas share a key: not cached.
                if (!IsEncoded(node.NodeType) || !ExpressionNodes.TryGetOperands(node, operands)) { Cacheable = false; break; }
                for (int k = operands.Count - 1; k >= 0; k--) stack.Push(operands[k]);
            }
        }

        private void WritePayload(Expression node)
        {
            switch (node)
            {
                case ConstantExpression c:
                    if (c.Value is null) Numbers.Add(0);
                    // Whether a constant is baked into the kernel or read at call time follows its static type, exactly as
                    // the translator decides (a boxed 2.5 typed object or double? is a runtime constant, not a baked double).
                    else if (!RuntimeConstants.IsBaked(c.Type)) Numbers.Add(1_000_000 + Constants.IndexOf(c.Value));
                    // Doubles by bit pattern: boxed 0.0 and -0.0 are Equal, but x / 0.0 and x / -0.0 differ.
                    else if (c.Value is double d) Numbers.Add(BitConverter.DoubleToInt64Bits(d));
                    else if (c.Value is float f) Numbers.Add(BitConverter.SingleToInt32Bits(f));
                    else References.Add(c.Value);
                    break;
                case MemberExpression m: References.Add(m.Member); break;
                case MethodCallExpression m: References.Add(m.Method); Numbers.Add(m.Arguments.Count); break;
                case BinaryExpression b: References.Add(b.Method); Numbers.Add(b.IsLiftedToNull ? 1 : 0); break;
                case UnaryExpression u: References.Add(u.Method); break;
                case LambdaExpression l: Numbers.Add(l.Parameters.Count); break;
                case InvocationExpression i: Numbers.Add(i.Arguments.Count); break;
                case NewArrayExpression a: Numbers.Add(a.Expressions.Count); break;
                case IndexExpression i: References.Add(i.Indexer); Numbers.Add(i.Arguments.Count); break;
                case TypeBinaryExpression t: References.Add(t.TypeOperand); break;
            }
        }

        private static bool IsEncoded(ExpressionType t) => t switch
        {
            ExpressionType.Block or ExpressionType.Loop or ExpressionType.Goto or ExpressionType.Label or
            ExpressionType.Switch or ExpressionType.Try or ExpressionType.MemberInit or ExpressionType.ListInit or
            ExpressionType.Dynamic or ExpressionType.Extension or ExpressionType.RuntimeVariables or
            ExpressionType.DebugInfo or ExpressionType.New or ExpressionType.Assign or ExpressionType.Coalesce => false,
            _ => true,
        };
    }
}
