using System.Linq.Expressions;
using System.Reflection;
using System.Runtime.Intrinsics;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Codegen;

/// <summary>
/// The operations that <see cref="ADOptions.FastMath"/> computes with <see cref="FastMathRuntime"/> rather than as the rule
/// table emits them: the one place that says which they are. Integer powers are multiplications everywhere; the elementary
/// functions take ExprAD's forms in vectorised loops, blocks and remainder alike (so an element computes the same bits in
/// either), and stay System.Math's in scalar code elsewhere.
/// </summary>
internal static class FastMathLowering
{
    private static readonly Dictionary<Op, string> Functions = new()
    {
        [Op.Sin] = nameof(FastMathRuntime.Sin),
        [Op.Cos] = nameof(FastMathRuntime.Cos),
        [Op.Exp] = nameof(FastMathRuntime.Exp),
        [Op.Log] = nameof(FastMathRuntime.Log),
        [Op.Tanh] = nameof(FastMathRuntime.Tanh),
    };

    private static MethodInfo Method(string name, Type operand) => typeof(FastMathRuntime).GetMethod(name, [operand])!;
    private static MethodInfo PowerOf(Type operand) => typeof(FastMathRuntime).GetMethod(nameof(FastMathRuntime.Power), [operand, typeof(int)])!;

    /// <summary>True when instruction <paramref name="ins"/> of <paramref name="trace"/> has a fast form.</summary>
    public static bool Covers(Instruction ins, Trace trace) =>
        ins.Kind == ValueKind.Scalar && (Functions.ContainsKey(ins.Op) || IntegerExponent(ins, trace) is not null);

    /// <summary>
    /// The fast form of <paramref name="ins"/> over scalar operands, or null when it has none: integer powers always, the
    /// elementary functions only when <paramref name="functions"/> (in the remainder of a vectorised loop, see
    /// <c>BlockEmitter.FastFunctions</c>).
    /// </summary>
    public static Expression? Scalar(Instruction ins, Trace trace, Expression[] operands, bool functions) =>
        functions || !Functions.ContainsKey(ins.Op) ? Emit(ins, trace, operands, typeof(double)) : null;

    /// <summary>The fast form of <paramref name="ins"/> over four-lane operands, or null when it has none.</summary>
    public static Expression? Vector(Instruction ins, Trace trace, Expression[] operands) => Emit(ins, trace, operands, typeof(Vector256<double>));

    private static Expression? Emit(Instruction ins, Trace trace, Expression[] operands, Type lane)
    {
        if (ins.Kind != ValueKind.Scalar) return null;
        if (Functions.TryGetValue(ins.Op, out var name)) return Expression.Call(Method(name, lane), operands[0]);
        return IntegerExponent(ins, trace) is int k ? Expression.Call(PowerOf(lane), operands[0], Expression.Constant(k)) : null;
    }

    /// <summary>
    /// k when <paramref name="ins"/> is Math.Pow(u, k) with k a constant integer from -8 to 8 other than 0: multiplications
    /// (and a division for negative k) under fast math, <see cref="ExactMath"/> otherwise.
    /// </summary>
    internal static int? IntegerExponent(Instruction ins, Trace trace) =>
        ins.Op == Op.Pow && trace[ins.Operand(1)] is { Op: Op.Const } exponent
            && exponent.Number == Math.Floor(exponent.Number) && exponent.Number is >= -8 and <= 8 and not 0 ? (int)exponent.Number : null;
}
