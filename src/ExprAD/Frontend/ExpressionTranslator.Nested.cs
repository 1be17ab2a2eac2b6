using System.Linq.Expressions;
using System.Reflection;
using ExprAD.Errors;
using ExprAD.IR;
using ExprAD.Rules;
using ExprAD.Transforms;

namespace ExprAD.Frontend;

// Derivatives taken inside the lambda: AD.Diff and AD.Grad.
internal sealed partial class ExpressionTranslator
{
    private static readonly MethodInfo DiffMethod = typeof(AD).GetMethod(nameof(AD.Diff))!;
    private static readonly MethodInfo GradMethod = typeof(AD).GetMethods().Single(m => m.Name == nameof(AD.Grad) && !m.IsGenericMethodDefinition);
    private static readonly MethodInfo GradWithDataMethod = typeof(AD).GetMethods().Single(m => m.Name == nameof(AD.Grad) && m.IsGenericMethodDefinition);

    private static readonly MethodInfo DirectionalMethod = typeof(AD).GetMethod(nameof(AD.DirectionalDiff))!;

    private static bool IsDiff(MethodCallExpression call) => call.Method == DiffMethod || call.Method == DirectionalMethod;

    private static bool IsGrad(MethodCallExpression call) =>
        call.Method == GradMethod || call.Method.IsGenericMethod && call.Method.GetGenericMethodDefinition() == GradWithDataMethod;

    /// <summary>
    /// AD.Diff(y => body, x0): the body translated in a scope of its own (what does not depend on y is hoisted out and
    /// captured as usual), y a capture of x0 in a slot of its own, then forward mode over that body emitted right here,
    /// with y's slot the only one seeded. Variables of enclosing lambdas come in through other slots, so their tangent
    /// here is zero: an outer derivative sees the inner one as ordinary code (no perturbation confusion).
    /// </summary>
    private Value VisitDiff(MethodCallExpression node)
    {
        if (node.Method == DirectionalMethod) return VisitDirectional(node);
        var f = InnerLambda(node, node.Arguments[0], 1);
        var point = Operand(node.Arguments[1], node);
        var (body, captures, slot) = InnerBody(f, f.Parameters[0], point, [f.Body]);
        var (_, tangents) = ForwardMode.ApplyInto(body, _b, 1, k => captures[k], (k, _) => k == slot ? _b.Constant(1.0) : null);
        return tangents[0][0] ?? _b.Constant(0.0);
    }

    /// <summary>
    /// AD.Grad(v => body, x) (and with a data argument): the gradient as an array built by a map over the elements of x,
    /// element j the forward derivative of the body in direction e_j (a one-hot array, v's tangent). The body is translated
    /// once, in a scope of its own, with v a capture of x's array in a slot of its own; the map replays its forward transform.
    /// </summary>
    private Value VisitGrad(MethodCallExpression node)
    {
        var f = InnerLambda(node, node.Arguments[0], node.Arguments.Count == 3 ? 2 : 1);
        var array = ArrayValueOf(node.Arguments[1], node);
        // The data argument stands for itself inside the body: substituted, as an inlined lambda's argument is.
        var innerBody = node.Arguments.Count == 3 ? new Substitution(f.Parameters[1], node.Arguments[2]).Visit(f.Body)! : f.Body;
        var (body, captures, slot) = InnerBody(f, f.Parameters[0], array, [innerBody]);
        var length = _b.Emit(Op.ArrayLength, array);
        var map = _b.CreateBody();
        var j = map.LoopIndex();
        // e_j, the tangent of v in direction j: built in the map's body (O(n) per element of the gradient, as the body is).
        var hot = map.CreateBody();
        var i = hot.LoopIndex();
        var unit = hot.Select(hot.Emit(Op.Equal, i, hot.Capture(j)), hot.Constant(1.0), hot.Constant(0.0));
        var direction = map.EmitMap(map.Integer(0), map.Capture(length), hot, [unit])[0];
        var (_, tangents) = ForwardMode.ApplyInto(body, map, 1, k => map.Capture(captures[k]), (k, _) => k == slot ? direction : null);
        return _b.EmitMap(_b.Integer(0), length, map, [tangents[0][0] ?? map.Constant(0.0)])[0];
    }

    /// <summary>
    /// AD.DirectionalDiff(v => body, x, u): the body translated once with v a capture of x's array in a slot of its own, and
    /// forward mode over it seeding that slot with the array u: one sweep, whatever the length.
    /// </summary>
    private Value VisitDirectional(MethodCallExpression node)
    {
        var f = InnerLambda(node, node.Arguments[0], 1);
        var array = ArrayValueOf(node.Arguments[1], node);
        var direction = ArrayValueOf(node.Arguments[2], node);
        var (body, captures, slot) = InnerBody(f, f.Parameters[0], array, [f.Body]);
        var (_, tangents) = ForwardMode.ApplyInto(body, _b, 1, k => captures[k], (k, _) => k == slot ? direction : null);
        return tangents[0][0] ?? _b.Constant(0.0);
    }

    /// <summary>The inner function, which must be a lambda written in place (a delegate cannot be looked into).</summary>
    private static LambdaExpression InnerLambda(MethodCallExpression node, Expression argument, int parameters) =>
        argument is LambdaExpression { } lambda && lambda.Parameters.Count == parameters ? lambda
            : throw Error.CannotDifferentiate(node, $"`{node.Method.Name}` needs its function written in place as a lambda, as in `AD.{node.Method.Name}(y => ..., x)`");

    /// <summary>
    /// Translates <paramref name="bodies"/>[0], the body of <paramref name="f"/>, in a new scope on a child builder, with
    /// <paramref name="variable"/> bound to a capture of <paramref name="point"/> in a slot of its own. Returns the body's
    /// trace, the values of the current builder its capture slots stand for, and the variable's slot.
    /// </summary>
    private (Trace Body, IReadOnlyList<Value> Captures, int Slot) InnerBody(LambdaExpression f, ParameterExpression variable, Value point, Expression[] bodies)
    {
        var dependent = LinqLoops.DependentOn(bodies, new HashSet<ParameterExpression> { variable });
        var child = _b.CreateBody();
        var outer = _scope;
        var leaf = child.CaptureDistinct(point);
        _scope = new Scope(child, outer, dependent.Contains);
        _bindings[variable] = new Binding(BindingKind.Value, -1, leaf);
        try
        {
            var result = Translate(bodies[0]);
            if (child.KindOf(result) == ValueKind.Integer) result = child.Emit(Op.IntToDouble, result);
            if (child.KindOf(result) != ValueKind.Scalar) throw Error.UnsupportedType(f.Body, f.Body.Type);
            return (child.Build([result]), child.CapturedValues.ToArray(), (int)child[leaf].A);
        }
        finally
        {
            _scope = outer;
            _bindings.Remove(variable);
        }
    }

    /// <summary>An array argument as a value: the lambda's array parameter copied by a map, an array built here, or data.</summary>
    private Value ArrayValueOf(Expression array, Expression node)
    {
        if (ArrayParameterOf(array) is { } parameter)
        {
            var copy = _b.CreateBody();
            var k = copy.LoopIndex();
            return _b.EmitMap(_b.Integer(0), _b.InputLength(parameter), copy, [copy.InputAt(parameter, k)])[0];
        }
        if (IsArrayValue(array) || DataTypes.DataArrayKind(array.Type) == ValueKind.Array && IsDataValue(array)) return Translate(array);
        throw Error.CannotDifferentiate(node, "the point of AD.Grad must be the lambda's array, an array built in it, or a data array");
    }

    /// <summary>Replaces a parameter by an expression (pure code: substitution means the same as binding).</summary>
    private sealed class Substitution(ParameterExpression from, Expression to) : ExpressionVisitor
    {
        protected override Expression VisitParameter(ParameterExpression p) => p == from ? to : p;
    }
}
