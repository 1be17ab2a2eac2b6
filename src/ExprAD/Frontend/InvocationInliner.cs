using System.Linq.Expressions;
using ExprAD.Caching;
using ExprAD.Errors;

namespace ExprAD.Frontend;

/// <summary>
/// Inlines <c>Expression.Invoke(lambda, arguments)</c> by substituting the arguments for the
/// lambda's parameters, before translation. Every operation is pure, so substitution means the
/// same as binding; an argument used twice is the same node twice, which translation shares.
/// This lets a composed lambda pass any argument, including the data object, to a part.
/// Calls that stand for a lambda (<see cref="InlineTargets"/>: a <see cref="DifferentiableAttribute"/> method's registered body,
/// <c>f.Invoke(args)</c> of an expression) are inlined the same way, recursively: a registered body may call others.
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

    // The lambdas being inlined, innermost last: one met again inside itself is a recursion, which inlining cannot end.
    private readonly List<LambdaExpression> _active = new();
    private readonly RuntimeConstants? _constants;

    private InvocationInliner(RuntimeConstants? constants) => _constants = constants;

    /// <summary>
    /// The body with every invoked lambda inlined (the same object when there is none), and for each node that replaced an
    /// invocation, the arguments of that invocation (which C# evaluates before the body, whatever the body does with them).
    /// </summary>
    /// <param name="body">The body of the lambda being translated.</param>
    /// <param name="constants">The lambda's runtime constants, with the expressions its <c>Invoke</c> calls read while its key was made.</param>
    public static (Expression Body, IReadOnlyDictionary<Expression, List<Expression>> Arguments) Inline(Expression body, RuntimeConstants? constants = null)
    {
        bool any = ExpressionNodes.PostOrder(body, (n, list) => ExpressionNodes.TryGetOperands(n, list), _ => false)
            .Any(n => n is InvocationExpression { Expression: LambdaExpression or UnaryExpression { NodeType: ExpressionType.Quote } }
                || n is MethodCallExpression call && InlineTargets.TryResolve(call, constants, out _, out _));
        if (!any) return (body, new Dictionary<Expression, List<Expression>>());
        var inliner = new InvocationInliner(constants);
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
        return InlineCall(node, lambda, node.Arguments.Select(a => Visit(a)!).ToArray());
    }

    protected override Expression VisitMethodCall(MethodCallExpression node)
    {
        if (!InlineTargets.TryResolve(node, _constants, out var lambda, out int skip)) return base.VisitMethodCall(node);
        if (lambda is null) throw InlineTargets.Unreadable(node);
        return InlineCall(node, lambda, node.Arguments.Skip(skip).Select(a => Visit(a)!).ToArray());
    }

    /// <summary>The body of <paramref name="lambda"/> with <paramref name="arguments"/> (inlined already) for its parameters.</summary>
    private Expression InlineCall(Expression call, LambdaExpression lambda, Expression[] arguments)
    {
        if (_active.Contains(lambda))
            throw Error.CannotDifferentiate(call, "the function calls itself (directly or through others), and a recursive function cannot be inlined");
        for (int i = 0; i < arguments.Length; i++) _substitutions[lambda.Parameters[i]] = arguments[i];
        _memo.Push(new Dictionary<Expression, Expression>(ReferenceEqualityComparer.Instance));
        _active.Add(lambda);
        try
        {
            var inlined = Visit(lambda.Body)!;
            if (!_arguments.TryGetValue(inlined, out var list)) _arguments.Add(inlined, list = new List<Expression>());
            list.AddRange(arguments);
            return inlined;
        }
        finally
        {
            _active.RemoveAt(_active.Count - 1);
            _memo.Pop();
            foreach (var p in lambda.Parameters) _substitutions.Remove(p);
        }
    }
}
