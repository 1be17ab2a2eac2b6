using System.Collections.Immutable;
using System.Linq.Expressions;
using System.Reflection;
using ExprAD.Frontend;
using ExprAD.IR;
using ExprAD.Rules;
using Trace = ExprAD.IR.Trace;

namespace ExprAD;

public static partial class AD
{
    /// <summary>
    /// Teaches ExprAD the derivative of a static method it cannot look into, of one <c>double</c>:
    /// <c>AD.Define((double a) => SpecialFunctions.Erf(a), (a, y) => 2 / Math.Sqrt(Math.PI) * Math.Exp(-a * a))</c>. The method
    /// itself is called for the value; the derivative, an expression of the argument and the result, is differentiated
    /// again for higher orders. Takes effect for lambdas compiled afterwards (a later definition of the same method
    /// replaces this one for them). Thread-safe.
    /// </summary>
    /// <param name="call">A lambda whose body calls the method with its parameters, in order.</param>
    /// <param name="derivative">f'(a) from (a, y), where y = f(a).</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="call"/> is not a call of a static method of its parameters, or a
    /// derivative reads something other than its parameters and constants; the message names it.</exception>
    public static void Define(Expression<Func<double, double>> call, Expression<Func<double, double, double>> derivative) =>
        DefineRule(call, [derivative]);

    /// <summary>The partial derivatives of a static method of two <c>double</c>s, each from (a, b, y); see <see cref="Define(Expression{Func{double, double}}, Expression{Func{double, double, double}})"/>.</summary>
    /// <param name="call">A lambda whose body calls the method with its parameters, in order.</param>
    /// <param name="dA">∂f/∂a from (a, b, y).</param>
    /// <param name="dB">∂f/∂b from (a, b, y).</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">As for the one-argument form.</exception>
    public static void Define(Expression<Func<double, double, double>> call,
        Expression<Func<double, double, double, double>> dA, Expression<Func<double, double, double, double>> dB) =>
        DefineRule(call, [dA, dB]);

    /// <summary>The partial derivatives of a static method of three <c>double</c>s, each from (a, b, c, y).</summary>
    /// <param name="call">A lambda whose body calls the method with its parameters, in order.</param>
    /// <param name="dA">∂f/∂a.</param>
    /// <param name="dB">∂f/∂b.</param>
    /// <param name="dC">∂f/∂c.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">As for the one-argument form.</exception>
    public static void Define(Expression<Func<double, double, double, double>> call,
        Expression<Func<double, double, double, double, double>> dA, Expression<Func<double, double, double, double, double>> dB,
        Expression<Func<double, double, double, double, double>> dC) =>
        DefineRule(call, [dA, dB, dC]);

    /// <summary>The partial derivatives of a static method of four <c>double</c>s, each from (a, b, c, d, y).</summary>
    /// <param name="call">A lambda whose body calls the method with its parameters, in order.</param>
    /// <param name="dA">∂f/∂a.</param>
    /// <param name="dB">∂f/∂b.</param>
    /// <param name="dC">∂f/∂c.</param>
    /// <param name="dD">∂f/∂d.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">As for the one-argument form.</exception>
    public static void Define(Expression<Func<double, double, double, double, double>> call,
        Expression<Func<double, double, double, double, double, double>> dA, Expression<Func<double, double, double, double, double, double>> dB,
        Expression<Func<double, double, double, double, double, double>> dC, Expression<Func<double, double, double, double, double, double>> dD) =>
        DefineRule(call, [dA, dB, dC, dD]);

    private static void DefineRule(LambdaExpression call, LambdaExpression[] partials)
    {
        ArgumentNullException.ThrowIfNull(call);
        for (int k = 0; k < partials.Length; k++) ArgumentNullException.ThrowIfNull(partials[k], PartialName(k, partials.Length));
        if (call.Body is not MethodCallExpression { Object: null, Method: var method } body
            || method.ReturnType != typeof(double)
            || body.Arguments.Count != call.Parameters.Count
            || body.Arguments.Where((a, k) => a != call.Parameters[k]).Any())
            throw new ArgumentException($"`{call}` must call a static method returning double with its parameters, in order, as `(double a) => Lib.F(a)`.", nameof(call));
        if (method.DeclaringType == typeof(Math) || method.DeclaringType == typeof(AD))
            throw new ArgumentException($"`{method.DeclaringType!.Name}.{method.Name}` has a derivative rule of its own.", nameof(call));
        var roles = Enumerable.Repeat(ParameterRole.Scalar, partials[0].Parameters.Count).ToImmutableArray();
        var traces = new Trace[partials.Length];
        for (int k = 0; k < partials.Length; k++)
        {
            // Captured variables are read once, now: the rule is part of the definition, like its expression.
            var partial = (LambdaExpression)new CapturedValues().Visit(partials[k])!;
            var (_, constants) = Caching.StructuralKey.Of(partial, "define");
            var trace = ExpressionTranslator.Translate(partial, roles, constants);
            // The derivative is replayed into other lambdas' code: it may read its parameters and constants only.
            if (trace.Regions.Length > 0 || trace.Instructions.Any(i => i.Op == Op.Data))
                throw new ArgumentException($"The derivative `{partials[k]}` may use its parameters, constants, captured numbers, Math functions and methods with derivatives, not loops or arrays.", PartialName(k, partials.Length));
            traces[k] = trace;
        }
        CustomRules.Define(method, traces);
        // Trees compiled before are remembered by instance (KnownTrees); forget them, so a lambda compiled again takes the
        // definition. Kernels cached by structure are keyed by the definition's number and need nothing.
        KnownTrees.Clear();
    }

    /// <summary>Replaces a captured number (a closure's field, a static field) by its value at the time of the call.</summary>
    private sealed class CapturedValues : ExpressionVisitor
    {
        protected override Expression VisitMember(MemberExpression node)
        {
            if (node.Type is { IsPrimitive: true } type && IsClosed(node))
                return Expression.Constant(Expression.Lambda(node).Compile().DynamicInvoke(), type);
            return base.VisitMember(node);
        }

        private static bool IsClosed(Expression? e) => e switch
        {
            null or ConstantExpression => true,
            MemberExpression member => IsClosed(member.Expression),
            _ => false,
        };
    }

    private static string PartialName(int k, int count = 2) => count == 1 ? "derivative" : k switch { 0 => "dA", 1 => "dB", 2 => "dC", _ => "dD" };
}
