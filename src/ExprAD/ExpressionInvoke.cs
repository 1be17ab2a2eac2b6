using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using FastExpressionCompiler;

namespace ExprAD;

/// <summary>
/// Calls of expression-valued helpers, in LINQKit's style:
/// <c>static readonly Expression&lt;Func&lt;double, double&gt;&gt; Softplus = z =&gt; Math.Log(1 + Math.Exp(z));</c>
/// used as <c>AD.Gradient(x =&gt; Softplus.Invoke(x[0]) + ...)</c>.
/// </summary>
/// <remarks>
/// Inside a lambda given to <see cref="AD"/>, ExprAD reads the expression (a field, a property or a captured variable holding it)
/// when it compiles the lambda, and inlines it as it inlines <see cref="Expression.Invoke(Expression, Expression[])"/> of a
/// lambda: the arguments are evaluated first, and an argument used several times is computed once. The expression read is part
/// of the lambda's cache key, so assigning another expression to the field later gives another kernel.
/// Called anywhere else, <c>Invoke</c> runs the expression, compiled once per expression instance (thread-safe).
/// </remarks>
public static class ExpressionInvoke
{
    // Delegates by expression instance: an instance is compiled once, and the table does not keep it alive.
    private static readonly ConditionalWeakTable<LambdaExpression, Delegate> Compiled = new();

    /// <summary>The value of <paramref name="f"/> at <paramref name="a1"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    public static TResult Invoke<T1, TResult>(this Expression<Func<T1, TResult>> f, T1 a1) =>
        CompiledOf<Func<T1, TResult>>(f)(a1);

    /// <summary>The value of <paramref name="f"/> at (<paramref name="a1"/>, <paramref name="a2"/>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    public static TResult Invoke<T1, T2, TResult>(this Expression<Func<T1, T2, TResult>> f, T1 a1, T2 a2) =>
        CompiledOf<Func<T1, T2, TResult>>(f)(a1, a2);

    /// <summary>The value of <paramref name="f"/> at (<paramref name="a1"/>, <paramref name="a2"/>, <paramref name="a3"/>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    public static TResult Invoke<T1, T2, T3, TResult>(this Expression<Func<T1, T2, T3, TResult>> f, T1 a1, T2 a2, T3 a3) =>
        CompiledOf<Func<T1, T2, T3, TResult>>(f)(a1, a2, a3);

    /// <summary>The value of <paramref name="f"/> at (<paramref name="a1"/>, ..., <paramref name="a4"/>).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> is null.</exception>
    public static TResult Invoke<T1, T2, T3, T4, TResult>(this Expression<Func<T1, T2, T3, T4, TResult>> f, T1 a1, T2 a2, T3 a3, T4 a4) =>
        CompiledOf<Func<T1, T2, T3, T4, TResult>>(f)(a1, a2, a3, a4);

    /// <summary>True for one of the <c>Invoke</c> methods above (constructed with any type arguments).</summary>
    internal static bool IsInvoke(System.Reflection.MethodInfo method) =>
        method.DeclaringType == typeof(ExpressionInvoke) && method.Name == nameof(Invoke);

    private static TDelegate CompiledOf<TDelegate>(Expression<TDelegate> f) where TDelegate : Delegate
    {
        ArgumentNullException.ThrowIfNull(f);
        // Two threads compiling the same instance at once both compile; the table keeps one result, and both are equal.
        return (TDelegate)Compiled.GetValue(f, static e => ((Expression<TDelegate>)e).CompileFast(ifFastFailedReturnNull: true) ?? ((Expression<TDelegate>)e).Compile());
    }
}
