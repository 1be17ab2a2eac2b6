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

    public bool Equals(StructuralKey? other) =>
        other is not null && _hash == other._hash &&
        _numbers.AsSpan().SequenceEqual(other._numbers) &&
        _references.AsSpan().SequenceEqual(other._references);

    public override bool Equals(object? obj) => Equals(obj as StructuralKey);

    public override int GetHashCode() => _hash;

    private sealed class Walker : ExpressionVisitor
    {
        public readonly List<long> Numbers = new();
        public readonly List<object?> References = new();
        public readonly RuntimeConstants Constants = new();
        private readonly Dictionary<ParameterExpression, int> _parameters = new();
        public bool Cacheable = true;

        public override Expression? Visit(Expression? node)
        {
            if (node is null) { Numbers.Add(-1); return null; }
            if (!StackGuard.HasRoom()) return StackGuard.RunOnLargeStack(() => Visit(node));
            if (!IsEncoded(node.NodeType)) Cacheable = false;
            Numbers.Add((long)node.NodeType);
            References.Add(node.Type);
            return base.Visit(node);
        }

        private static bool IsEncoded(ExpressionType t) => t switch
        {
            ExpressionType.Block or ExpressionType.Loop or ExpressionType.Goto or ExpressionType.Label or
            ExpressionType.Switch or ExpressionType.Try or ExpressionType.MemberInit or ExpressionType.ListInit or
            ExpressionType.Dynamic or ExpressionType.Extension or ExpressionType.RuntimeVariables or
            ExpressionType.DebugInfo or ExpressionType.TypeIs or ExpressionType.TypeEqual or ExpressionType.Default or
            ExpressionType.New or ExpressionType.Assign or ExpressionType.Coalesce => false,
            _ => true,
        };

        protected override Expression VisitConstant(ConstantExpression node)
        {
            if (node.Value is null) Numbers.Add(0);
            else if (RuntimeConstants.IsBaked(node.Type)) References.Add(node.Value);
            else Numbers.Add(1_000_000 + Constants.IndexOf(node.Value));
            return node;
        }

        protected override Expression VisitParameter(ParameterExpression node)
        {
            if (!_parameters.TryGetValue(node, out int k)) _parameters.Add(node, k = _parameters.Count);
            Numbers.Add(k);
            Numbers.Add(node.IsByRef ? 1 : 0);
            return node;
        }

        protected override Expression VisitMember(MemberExpression node)
        {
            References.Add(node.Member);
            return base.VisitMember(node);
        }

        protected override Expression VisitMethodCall(MethodCallExpression node)
        {
            References.Add(node.Method);
            Numbers.Add(node.Arguments.Count);
            return base.VisitMethodCall(node);
        }

        protected override Expression VisitBinary(BinaryExpression node)
        {
            References.Add(node.Method);
            Numbers.Add(node.IsLiftedToNull ? 1 : 0);
            return base.VisitBinary(node);
        }

        protected override Expression VisitUnary(UnaryExpression node)
        {
            References.Add(node.Method);
            return base.VisitUnary(node);
        }

        protected override Expression VisitLambda<T>(Expression<T> node)
        {
            Numbers.Add(node.Parameters.Count);
            foreach (var p in node.Parameters) VisitParameter(p);
            Visit(node.Body);
            return node;
        }

        protected override Expression VisitInvocation(InvocationExpression node)
        {
            Numbers.Add(node.Arguments.Count);
            return base.VisitInvocation(node);
        }

        protected override Expression VisitNewArray(NewArrayExpression node)
        {
            Numbers.Add(node.Expressions.Count);
            return base.VisitNewArray(node);
        }

        protected override Expression VisitIndex(IndexExpression node)
        {
            References.Add(node.Indexer);
            Numbers.Add(node.Arguments.Count);
            return base.VisitIndex(node);
        }
    }
}
