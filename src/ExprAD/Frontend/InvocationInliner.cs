using System.Linq.Expressions;

namespace ExprAD.Frontend;

/// <summary>
/// Inlines <c>Expression.Invoke(lambda, arguments)</c> by substituting the arguments for the
/// lambda's parameters, before translation. Every operation is pure, so substitution means the
/// same as binding; an argument used twice is the same node twice, which translation shares.
/// This lets a composed lambda pass any argument, including the data object, to a part.
/// A node met twice under the same substitutions (a shared sub-tree) is inlined once and the result
/// shared, so that translation, which shares work by node, computes a shared invocation once.
/// The lambdas inside an inlined body (loop selectors) get fresh parameters in every copy: a lambda invoked twice
/// would otherwise give two loops one parameter object, and a loop would seem to depend on another's variable.
/// </summary>
internal sealed class InvocationInliner : ExpressionVisitor
{
    private readonly Dictionary<ParameterExpression, Expression> _substitutions = new();
    // Results by node, for the substitutions in force (one frame per inlined invocation being visited).
    private readonly Stack<Dictionary<Expression, Expression>> _memo = new([new Dictionary<Expression, Expression>(ReferenceEqualityComparer.Instance)]);

    // The arguments of the invocations each inlined body stands for, by the body's (inlined) root.
    private readonly Dictionary<Expression, List<Expression>> _arguments = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// The body with every invoked lambda inlined (the same object when there is none), and for each node that replaced an
    /// invocation, the arguments of that invocation (which C# evaluates before the body, whatever the body does with them).
    /// </summary>
    public static (Expression Body, IReadOnlyDictionary<Expression, List<Expression>> Arguments) Inline(Expression body)
    {
        bool any = ExpressionNodes.PostOrder(body, (n, list) => ExpressionNodes.TryGetOperands(n, list), _ => false)
            .Any(n => n is InvocationExpression { Expression: LambdaExpression or UnaryExpression { NodeType: ExpressionType.Quote } });
        if (!any) return (body, new Dictionary<Expression, List<Expression>>());
        var inliner = new InvocationInliner();
        return (inliner.Visit(body)!, inliner._arguments);
    }

    public override Expression? Visit(Expression? node)
    {
        if (node is null) return null;
        if (!StackGuard.HasRoom()) return StackGuard.RunOnLargeStack(() => Visit(node));
        var memo = _memo.Peek();
        if (memo.TryGetValue(node, out var known)) return known;
        return memo[node] = base.Visit(node)!;
    }

    protected override Expression VisitParameter(ParameterExpression node) =>
        _substitutions.TryGetValue(node, out var argument) ? argument : node;

    protected override Expression VisitLambda<T>(Expression<T> node)
    {
        if (_memo.Count == 1) return base.VisitLambda(node); // the lambdas of the user's own body are distinct already
        var fresh = node.Parameters.Select(p => Expression.Parameter(p.Type, p.Name)).ToArray();
        for (int i = 0; i < fresh.Length; i++) _substitutions[node.Parameters[i]] = fresh[i];
        try
        {
            return Expression.Lambda<T>(Visit(node.Body)!, fresh);
        }
        finally
        {
            foreach (var p in node.Parameters) _substitutions.Remove(p);
        }
    }

    protected override Expression VisitInvocation(InvocationExpression node)
    {
        var target = node.Expression;
        while (target is UnaryExpression { NodeType: ExpressionType.Quote } quote) target = quote.Operand;
        if (target is not LambdaExpression lambda) return base.VisitInvocation(node);
        var arguments = node.Arguments.Select(a => Visit(a)!).ToArray();
        for (int i = 0; i < arguments.Length; i++) _substitutions[lambda.Parameters[i]] = arguments[i];
        _memo.Push(new Dictionary<Expression, Expression>(ReferenceEqualityComparer.Instance));
        try
        {
            var inlined = Visit(lambda.Body)!;
            if (!_arguments.TryGetValue(inlined, out var list)) _arguments.Add(inlined, list = new List<Expression>());
            list.AddRange(arguments);
            return inlined;
        }
        finally
        {
            _memo.Pop();
            foreach (var p in lambda.Parameters) _substitutions.Remove(p);
        }
    }
}
