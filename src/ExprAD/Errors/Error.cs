using System.Linq.Expressions;

namespace ExprAD.Errors;

/// <summary>Typed exception factories: every message ExprAD throws at users is written here.</summary>
internal static class Error
{
    /// <summary>A construct the frontend cannot differentiate; the message quotes it and says why.</summary>
    public static NotSupportedException CannotDifferentiate(Expression node, string why) =>
        new($"Cannot differentiate `{Quote(node)}`: {why}.");

    public static NotSupportedException NoDerivativeRule(Expression node, System.Reflection.MethodInfo method) =>
        CannotDifferentiate(node, $"no derivative rule for `{method.DeclaringType?.Name}.{method.Name}({string.Join(", ", method.GetParameters().Select(p => p.ParameterType.Name))})`");

    public static NotSupportedException UnsupportedType(Expression node, Type type) =>
        CannotDifferentiate(node, $"values of type `{type.Name}` are not supported (use double, int or bool)");

    public static ArgumentException WrongLength(string argument, int actual, int expected, bool atLeast = false) =>
        new($"`{argument}` has length {actual}; expected {(atLeast ? "at least " : "")}{expected}.", argument);

    public static ArgumentException BadLambda(string argument, string why) => new(why, argument);

    public static ArgumentOutOfRangeException BadOrder(int order) =>
        new("order", order, "The derivative order must be at least 1.");

    private static string Quote(Expression node)
    {
        // Expression.ToString recurses once per level; a deep tree is printed on a thread with a large stack.
        var text = Frontend.StackGuard.IsShallow(node) ? node.ToString() : Frontend.StackGuard.RunOnLargeStack(node.ToString);
        return text.Length <= 200 ? text : text[..200] + "…";
    }
}
