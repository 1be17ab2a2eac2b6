using System.Linq.Expressions;

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
}

/// <summary>
/// One walk over the user's lambda that records, for every node, whether it depends on
/// variables and on call-time inputs. A numeric node that reads call-time inputs but no
/// variable is inactive data: the frontend reads it once per call instead of tracing it.
/// </summary>
internal sealed class ActivityAnalysis : ExpressionVisitor
{
    private readonly Dictionary<Expression, Activity> _activity = new(ReferenceEqualityComparer.Instance);
    private readonly ParameterExpression? _dataParameter;
    private Activity _current;

    private ActivityAnalysis(ParameterExpression? dataParameter) => _dataParameter = dataParameter;

    public static IReadOnlyDictionary<Expression, Activity> Of(Expression body, ParameterExpression? dataParameter)
    {
        var analysis = new ActivityAnalysis(dataParameter);
        analysis.Visit(body);
        return analysis._activity;
    }

    public override Expression? Visit(Expression? node)
    {
        if (node is null) return null;
        if (_activity.TryGetValue(node, out var known))
        {
            _current |= known;
            return node;
        }
        if (!StackGuard.HasRoom()) return StackGuard.RunOnLargeStack(() => Visit(node));
        var outer = _current;
        _current = Activity.None;
        base.Visit(node);
        var mine = _current | Leaf(node);
        _activity[node] = mine;
        _current = outer | mine;
        return node;
    }

    private Activity Leaf(Expression node) => node switch
    {
        ParameterExpression p when p == _dataParameter => Activity.RuntimeInput,
        ParameterExpression => Activity.Variable,
        ConstantExpression { Value: not null } c when !Caching.RuntimeConstants.IsBaked(c.Type) => Activity.RuntimeInput,
        MemberExpression { Expression: null } m when !(m.Member is System.Reflection.FieldInfo { IsLiteral: true }) => Activity.RuntimeInput,
        _ => Activity.None,
    };
}
