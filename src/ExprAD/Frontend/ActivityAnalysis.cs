using System.Linq.Expressions;
using System.Reflection;
using ExprAD.Caching;

namespace ExprAD.Frontend;

/// <summary>What a sub-expression depends on.</summary>
[Flags]
internal enum Activity : byte
{
    None = 0,
    /// <summary>It reads an active parameter or a parameter of an inlined lambda: it is translated into the trace.</summary>
    Variable = 1,
    /// <summary>It reads the data argument, a captured object or a static field: its value is only known at call time.</summary>
    RuntimeInput = 2,
    /// <summary>
    /// It reads a parameter of an inlined lambda that stands for one of the user's objects (an element of a loop over a
    /// sequence of objects): data, but a different object in every iteration, so it is read inside the loop (see
    /// <see cref="DataTypes.IsObjectType"/>: an object is never active).
    /// </summary>
    Element = 4,
}

/// <summary>
/// Records, for every node of a lambda body, whether it depends on variables and on call-time
/// inputs, in one iterative bottom-up pass. Nodes whose operands are not known are taken to
/// depend on variables (the safe answer: the translator then rejects them with a message).
/// </summary>
internal static class ActivityAnalysis
{
    public static IReadOnlyDictionary<Expression, Activity> Of(Expression body, ParameterExpression? dataParameter)
    {
        // One table serves as the set of nodes met and as the result: a node is entered with Pending when its operands
        // are pushed and gets its flags when they are all done (depth-first, so nothing else reaches it in between).
        var activity = new Dictionary<Expression, Activity>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Expression Node, bool Expanded)>();
        var operands = new List<Expression?>();
        stack.Push((body, false));
        while (stack.Count > 0)
        {
            var (node, expanded) = stack.Pop();
            operands.Clear();
            bool known = ExpressionNodes.TryGetOperands(node, operands);
            if (!expanded)
            {
                if (!activity.TryAdd(node, Pending)) continue;
                stack.Push((node, true));
                for (int k = operands.Count - 1; k >= 0; k--)
                    if (operands[k] is { } operand) stack.Push((operand, false));
                continue;
            }
            var flags = Leaf(node, dataParameter);
            if (known)
            {
                foreach (var operand in operands)
                    if (operand is not null) flags |= activity[operand];
            }
            else flags |= Activity.Variable;
            activity[node] = flags;
        }
        return activity;
    }

    /// <summary>Marks a node whose operands are being analysed; never a result.</summary>
    private const Activity Pending = (Activity)0x80;

    private static Activity Leaf(Expression node, ParameterExpression? dataParameter) => node switch
    {
        ParameterExpression p when p == dataParameter => Activity.RuntimeInput,
        ParameterExpression p when DataTypes.IsObjectType(p.Type) => Activity.Element,
        ParameterExpression => Activity.Variable,
        ConstantExpression { Value: not null } c when !RuntimeConstants.IsBaked(c.Type) => Activity.RuntimeInput,
        MemberExpression { Expression: null } m when m.Member is not FieldInfo { IsLiteral: true } => Activity.RuntimeInput,
        _ => Activity.None,
    };
}
