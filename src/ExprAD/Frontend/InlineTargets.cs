using System.Linq.Expressions;
using System.Reflection;
using ExprAD.Caching;
using ExprAD.Errors;

namespace ExprAD.Frontend;

/// <summary>
/// Calls that stand for a lambda expression, which the frontend inlines (<see cref="InvocationInliner"/>) and the cache key
/// encodes (the lambda is part of the function): a call of a <see cref="DifferentiableAttribute"/> method (its registered
/// body, the call's arguments) and <c>f.Invoke(args)</c> of <see cref="ExpressionInvoke"/> (the expression <c>f</c> holds,
/// read when the lambda is compiled, and the remaining arguments).
/// </summary>
internal static class InlineTargets
{
    /// <summary>
    /// True when a call of <paramref name="method"/> stands for a lambda. Then <paramref name="lambda"/> is that lambda (null for
    /// an <c>Invoke</c> whose expression cannot be read: see <see cref="Unreadable"/>), and the call's arguments from
    /// <paramref name="skip"/> on are the lambda's. <paramref name="receiver"/> is the call's first argument, which for
    /// <c>Invoke</c> is the expression invoked.
    /// </summary>
    public static bool TryResolve(MethodInfo method, Expression? receiver, out LambdaExpression? lambda, out int skip)
    {
        lambda = null;
        skip = 0;
        // The math library and LINQ make up most calls, and hold no [Differentiable] method: no lookup for them.
        var type = method.DeclaringType;
        if (type == typeof(Math) || type == typeof(Enumerable)) return false;
        if (type == typeof(ExpressionInvoke) && ExpressionInvoke.IsInvoke(method))
        {
            skip = 1;
            lambda = receiver is not null && TryRead(receiver, out var value) ? value as LambdaExpression : null;
            return true;
        }
        if (!DifferentiableRegistry.TryGetBody(method, out var body)) return false;
        lambda = body;
        return true;
    }

    /// <summary>As <see cref="TryResolve(MethodInfo, Expression?, out LambdaExpression?, out int)"/>, for a call node; the
    /// expression an <c>Invoke</c> reads is taken from <paramref name="constants"/> when the key's walk read it (the kernel then
    /// matches its key even if the field was assigned since).</summary>
    public static bool TryResolve(MethodCallExpression call, RuntimeConstants? constants, out LambdaExpression? lambda, out int skip)
    {
        if (!TryResolve(call.Method, call.Arguments.Count > 0 ? call.Arguments[0] : null, out lambda, out skip)) return false;
        if (skip == 1 && constants?.TryGetInvoked(call, out var read) == true) lambda = read;
        return true;
    }

    /// <summary>Why the expression an <c>Invoke</c> calls could not be read.</summary>
    public static NotSupportedException Unreadable(MethodCallExpression call) =>
        Error.CannotDifferentiate(call, call.Arguments[0] is var receiver && TryRead(receiver, out var value) && value is null
            ? "the expression invoked is null"
            : "the expression invoked must be a field, a property or a captured variable that holds an Expression<Func<...>> (it is read when the lambda is compiled), or a lambda written in place");

    /// <summary>
    /// The value of an expression built only of constants, static or instance fields and properties read from such, and quoted
    /// lambdas: what <c>Softplus</c> in <c>Softplus.Invoke(x)</c> is, whether a static field or a captured local.
    /// </summary>
    private static bool TryRead(Expression node, out object? value)
    {
        value = null;
        switch (node)
        {
            case UnaryExpression { NodeType: ExpressionType.Quote } quote:
                value = quote.Operand;
                return true;
            case LambdaExpression lambda:
                value = lambda;
                return true;
            case ConstantExpression constant:
                value = constant.Value;
                return true;
            case UnaryExpression { NodeType: ExpressionType.Convert or ExpressionType.TypeAs } conversion when !conversion.Type.IsValueType:
                return TryRead(conversion.Operand, out value) && (value is null || conversion.Type.IsInstanceOfType(value));
            case MemberExpression member:
            {
                object? target = null;
                if (member.Expression is { } inner && (!TryRead(inner, out target) || target is null)) return false;
                switch (member.Member)
                {
                    case FieldInfo field: value = field.GetValue(target); return true;
                    case PropertyInfo { CanRead: true } property when property.GetIndexParameters().Length == 0: value = property.GetValue(target); return true;
                    default: return false;
                }
            }
            default:
                return false;
        }
    }
}
