using System.Linq.Expressions;

namespace ExprAD.Errors;

/// <summary>Typed exception factories: every message ExprAD throws at users is written here.</summary>
internal static class Error
{
    /// <summary>A construct the frontend cannot differentiate; the message quotes it and says why.</summary>
    public static NotSupportedException CannotDifferentiate(Expression node, string why) =>
        new($"Cannot differentiate `{Quote(node)}`: {why}.");

    /// <summary>A call of a method ExprAD has no rule for, with how to supply one.</summary>
    public static NotSupportedException NoDerivativeRule(Expression node, System.Reflection.MethodInfo method)
    {
        var name = $"`{method.DeclaringType?.Name}.{method.Name}({string.Join(", ", method.GetParameters().Select(p => p.ParameterType.Name))})`";
        // The library's own methods cannot be marked; a method that is marked lacks only the generator that registers it.
        string how = DifferentiableRegistry.IsMarked(method)
            ? "it is marked [Differentiable], but no body was registered for it: reference the ExprAD.Generators analyzer from its project " +
              "(the ExprAD package does; with a project reference, add one to ExprAD.Generators.csproj with OutputItemType=\"Analyzer\" " +
              "ReferenceOutputAssembly=\"false\"), or teach ExprAD its derivative with AD.Define(...)"
            : method.DeclaringType?.Namespace is { } ns && (ns == "System" || ns.StartsWith("System.", StringComparison.Ordinal))
                ? "teach ExprAD its derivative with AD.Define(...)"
                : "mark it [Differentiable] (with the ExprAD.Generators analyzer referenced) or teach ExprAD its derivative with AD.Define(...)";
        return CannotDifferentiate(node, $"no derivative rule for {name}; {how}");
    }

    public static NotSupportedException UnsupportedType(Expression node, Type type) =>
        CannotDifferentiate(node, $"values of type `{type.Name}` are not supported (use double, int or bool)");

    public static ArgumentException WrongLength(string argument, int actual, int expected, bool atLeast = false) =>
        new($"`{argument}` has length {actual}; expected {(atLeast ? "at least " : "")}{expected}.", argument);

    public static ArgumentException BadLambda(string argument, string why) => new(why, argument);

    public static ArgumentOutOfRangeException BadOrder(int order) =>
        new("order", order, "The derivative order must be at least 1.");

    internal static string Quote(Expression node)
    {
        // Expression.ToString recurses once per level; a deep tree is printed on a thread with a large stack.
        string Print() => UserCodeFree.Instance.Visit(node)!.ToString();
        var text = Frontend.StackGuard.IsShallow(node) ? Print() : Frontend.StackGuard.RunOnLargeStack(Print);
        return text.Length <= 200 ? text : text[..200] + "…";
    }

    /// <summary>
    /// A copy of a tree that prints without running user code: <see cref="Expression.ToString"/> calls <c>ToString</c> on
    /// constants (closure objects, the user's own types) and on extension nodes that override it, and an error message must
    /// never run code of the user's (it could throw, block or have effects). Such nodes print as their type's name instead
    /// (for a constant, exactly what <c>object.ToString</c> would print).
    /// </summary>
    private sealed class UserCodeFree : ExpressionVisitor
    {
        public static readonly UserCodeFree Instance = new();

        protected override Expression VisitConstant(ConstantExpression node) =>
            node.Value is null || Caching.RuntimeConstants.IsBaked(node.Type) && node.Value.GetType() == node.Type ? node
                : Expression.Parameter(node.Type, $"value({node.Value.GetType()})");

        protected override Expression VisitExtension(Expression node) => Expression.Parameter(node.Type, $"[{node.GetType().Name}]");
    }
}
