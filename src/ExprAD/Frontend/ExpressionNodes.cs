using System.Linq.Expressions;

namespace ExprAD.Frontend;

/// <summary>
/// Iterative walks over user expression trees. Nothing here recurses per node: a left-deep sum of
/// 100,000 terms is the ordinary shape of a long C# expression, and deep recursion would overflow
/// the stack or, short of that, make every garbage collection scan a huge stack.
/// </summary>
internal static class ExpressionNodes
{
    /// <summary>
    /// Appends the operands of <paramref name="node"/>, in evaluation order, to <paramref name="operands"/>
    /// (null for an absent instance or member target); false for node kinds whose operands are not known here.
    /// </summary>
    public static bool TryGetOperands(Expression node, List<Expression?> operands)
    {
        switch (node)
        {
            case BinaryExpression b:
                operands.Add(b.Left);
                operands.Add(b.Right);
                return b.Conversion is null;
            case UnaryExpression u:
                operands.Add(u.Operand);
                return true;
            case ConditionalExpression c:
                operands.Add(c.Test);
                operands.Add(c.IfTrue);
                operands.Add(c.IfFalse);
                return true;
            case MethodCallExpression m:
                operands.Add(m.Object);
                operands.AddRange(m.Arguments);
                return true;
            case InvocationExpression i:
                operands.Add(i.Expression);
                operands.AddRange(i.Arguments);
                return true;
            case MemberExpression m:
                operands.Add(m.Expression);
                return true;
            case IndexExpression i:
                operands.Add(i.Object);
                operands.AddRange(i.Arguments);
                return true;
            case NewArrayExpression a:
                operands.AddRange(a.Expressions);
                return true;
            case LambdaExpression l:
                operands.AddRange(l.Parameters);
                operands.Add(l.Body);
                return true;
            case TypeBinaryExpression t:
                operands.Add(t.Expression);
                return true;
            case ConstantExpression or ParameterExpression or DefaultExpression:
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// <paramref name="root"/> rebuilt with each node that is a key of <paramref name="replacements"/> (by reference) replaced
    /// by its value; shared nodes are rebuilt once, and a tree without such a node is returned as it is.
    /// </summary>
    public static Expression Replace(Expression root, IReadOnlyDictionary<Expression, Expression> replacements) => new Replacer(replacements).Visit(root)!;

    private sealed class Replacer(IReadOnlyDictionary<Expression, Expression> replacements) : ExpressionVisitor
    {
        private readonly Dictionary<Expression, Expression> _done = new(ReferenceEqualityComparer.Instance);

        public override Expression? Visit(Expression? node)
        {
            if (node is null) return null;
            if (replacements.TryGetValue(node, out var replacement)) return replacement;
            if (_done.TryGetValue(node, out var rebuilt)) return rebuilt;
            if (!StackGuard.HasRoom()) return StackGuard.RunOnLargeStack(() => Visit(node));
            return _done[node] = base.Visit(node)!;
        }
    }

    /// <summary>
    /// The nodes under <paramref name="root"/> in post-order (operands before their users), each
    /// distinct node once, entering only the operands <paramref name="operandsOf"/> names and
    /// skipping nodes for which <paramref name="done"/> holds.
    /// </summary>
    public static List<Expression> PostOrder(Expression root, Action<Expression, List<Expression?>> operandsOf, Func<Expression, bool> done)
    {
        var order = new List<Expression>();
        // A node is marked when it is expanded: the walk is depth-first, so its operands are all emitted before anything
        // that could reach it again by another path is popped, and a tree has no cycles. One set operation per node.
        var expanded = new HashSet<Expression>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Expression Node, bool Expanded)>();
        var operands = new List<Expression?>();
        stack.Push((root, false));
        while (stack.Count > 0)
        {
            var (node, isExpanded) = stack.Pop();
            if (isExpanded)
            {
                order.Add(node);
                continue;
            }
            if (done(node) || !expanded.Add(node)) continue;
            stack.Push((node, true));
            operands.Clear();
            operandsOf(node, operands);
            for (int k = operands.Count - 1; k >= 0; k--)
                if (operands[k] is { } operand) stack.Push((operand, false));
        }
        return order;
    }
}
