using System.Collections.Immutable;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Transforms;

/// <summary>
/// Forward (tangent) mode: Trace -> Trace. The new trace computes the primal outputs and, for
/// each of several directions, the tangent of every output, in one sweep. Tangents are
/// structural: a value that does not depend on a seeded input has no tangent at all (not a
/// zero that would be multiplied in), so inactive code costs nothing.
/// </summary>
internal static class ForwardMode
{
    /// <summary>
    /// Seeds the tangent of input <paramref name="input"/> (an <see cref="Op.Input"/> instruction of the
    /// source trace) in direction <paramref name="direction"/>; null means "not seeded" (zero).
    /// </summary>
    public delegate Value? Seed(TraceBuilder b, Instruction input, int direction);

    /// <summary>
    /// Differentiates <paramref name="source"/> in <paramref name="directions"/> directions.
    /// Outputs of the result: the primal outputs, then for each direction the tangents of all
    /// outputs (direction-major).
    /// </summary>
    public static Trace Apply(Trace source, int directions, Seed seed)
    {
        var b = new TraceBuilder(source.Environment);
        b.AdoptDataReads(source);
        var primal = new Value[source.Count];
        var tangents = new Value?[directions][];
        for (int d = 0; d < directions; d++) tangents[d] = new Value?[source.Count];

        for (int i = 0; i < source.Count; i++)
        {
            var ins = source.Instructions[i];
            var y = primal[i] = b.Emit(ins.WithOperands(v => primal[v.Index]));
            if (ins.Kind != ValueKind.Scalar || ins.Op is Op.Const or Op.Data) continue;
            if (ins.Op == Op.Input)
            {
                for (int d = 0; d < directions; d++) tangents[d][i] = seed(b, ins, d);
                continue;
            }
            var primitive = RuleTable.Get(ins.Op);
            if (!primitive.IsDifferentiable) continue;
            int arity = primitive.Arity;
            var operands = new Value[arity];
            for (int k = 0; k < arity; k++) operands[k] = primal[ins.Operand(k).Index];
            Value?[]? partials = null;
            Value?[]? conditions = null;
            for (int d = 0; d < directions; d++)
            {
                var t = new Value?[arity];
                bool any = false;
                for (int k = 0; k < arity; k++) any |= (t[k] = tangents[d][ins.Operand(k).Index]) is not null;
                if (!any) continue;
                if (primitive.Tangent is { } rule)
                {
                    tangents[d][i] = rule(b, operands, y, t);
                    continue;
                }
                if (primitive.PassThrough is not null)
                {
                    conditions ??= primitive.PassThrough(b, operands);
                    tangents[d][i] = PassThroughTangent(b, conditions, t);
                    continue;
                }
                partials ??= primitive.Partials!(b, operands, y);
                Value? sum = null;
                for (int k = 0; k < arity; k++)
                {
                    if (t[k] is not { } tk || partials[k] is not { } pk) continue;
                    var term = b.Mul(pk, tk);
                    sum = sum is { } s ? b.Add(s, term) : term;
                }
                tangents[d][i] = sum;
            }
        }

        var outputs = ImmutableArray.CreateBuilder<Value>(source.Outputs.Length * (directions + 1));
        foreach (var o in source.Outputs) outputs.Add(primal[o.Index]);
        for (int d = 0; d < directions; d++)
            foreach (var o in source.Outputs)
                outputs.Add(tangents[d][o.Index] ?? b.Constant(0.0));
        return b.Build(outputs);
    }

    /// <summary>The tangent of the operand passed through, as nested selects (zero where that operand has none).</summary>
    private static Value? PassThroughTangent(TraceBuilder b, Value?[] conditions, Value?[] operandTangents)
    {
        Value? result = null;
        for (int k = conditions.Length - 1; k >= 0; k--)
        {
            if (conditions[k] is not { } condition || operandTangents[k] is not { } tk) continue;
            result = b.Select(condition, tk, result ?? b.Constant(0.0));
        }
        return result;
    }
}
