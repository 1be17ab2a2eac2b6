using System.Linq.Expressions;
using System.Reflection;

namespace ExprAD.Frontend;

/// <summary>Recognises the LINQ calls that become loop regions.</summary>
internal static class LinqLoops
{
    /// <summary>
    /// A sum loop: over <c>Enumerable.Range(Start, Count)</c> (then <see cref="Array"/> is null), or over the
    /// elements of <see cref="Array"/> (then Start and Count are null); <see cref="Selector"/> maps an element or
    /// index to its term (null: the element itself).
    /// </summary>
    public readonly record struct RangeSum(Expression? Start, Expression? Count, Expression? Array, LambdaExpression? Selector);

    private static readonly MethodInfo SumOfElements = typeof(Enumerable).GetMethod(nameof(Enumerable.Sum), [typeof(IEnumerable<double>)])!;

    private static readonly MethodInfo Range = typeof(Enumerable).GetMethod(nameof(Enumerable.Range))!;

    private static readonly MethodInfo SumOfDoubles = typeof(Enumerable).GetMethods()
        .Single(m => m.Name == nameof(Enumerable.Sum) && m.IsGenericMethodDefinition && m.GetParameters() is [_, { ParameterType: var f }]
            && f.IsGenericType && f.GetGenericArguments()[1] == typeof(double));

    /// <summary>Matches <c>Range(a, n).Sum(f)</c>, <c>array.Sum(f)</c> and <c>array.Sum()</c> (any array expression: the caller checks it).</summary>
    public static bool TryMatchRangeSum(MethodCallExpression node, out RangeSum loop)
    {
        loop = default;
        if (node.Method == SumOfElements)
        {
            if (node.Arguments[0].Type != typeof(double[])) return false;
            loop = new RangeSum(null, null, node.Arguments[0], null);
            return true;
        }
        if (!node.Method.IsGenericMethod || node.Method.GetGenericMethodDefinition() != SumOfDoubles) return false;
        var selector = node.Arguments[1];
        while (selector is UnaryExpression { NodeType: ExpressionType.Quote } quote) selector = quote.Operand;
        if (selector is not LambdaExpression lambda) return false;
        if (node.Arguments[0] is MethodCallExpression { Method: var range } source && range == Range)
            loop = new RangeSum(source.Arguments[0], source.Arguments[1], null, lambda);
        else if (node.Arguments[0].Type == typeof(double[]))
            loop = new RangeSum(null, null, node.Arguments[0], lambda);
        else return false;
        return true;
    }

    /// <summary>The nodes of <paramref name="body"/> that depend on <paramref name="variable"/> (iteratively, bottom-up).</summary>
    public static HashSet<Expression> DependentOn(Expression body, ParameterExpression variable)
    {
        var dependent = new HashSet<Expression>(ReferenceEqualityComparer.Instance);
        var operands = new List<Expression?>();
        foreach (var node in ExpressionNodes.PostOrder(body, (n, list) => ExpressionNodes.TryGetOperands(n, list), _ => false))
        {
            operands.Clear();
            bool depends = node == variable;
            // Unknown node kinds are taken to depend on the loop: they stay inside it (and are reported there).
            if (!ExpressionNodes.TryGetOperands(node, operands)) depends = true;
            foreach (var operand in operands) depends |= operand is not null && dependent.Contains(operand);
            if (depends) dependent.Add(node);
        }
        return dependent;
    }
}
