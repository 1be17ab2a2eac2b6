using System.Collections.Immutable;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Transforms;

/// <summary>
/// Forward (tangent) mode: Trace -> Trace. The new trace computes the primal outputs and, for
/// each of several directions, the tangent of every output, in one sweep. Tangents are
/// structural: a value that does not depend on a seeded input has no tangent at all (not a
/// zero that would be multiplied in), so inactive code costs nothing. A loop carries its
/// tangents through its body: the tangent of a sum is the sum of the body's tangents, computed
/// in the same loop.
/// </summary>
internal static class ForwardMode
{
    /// <summary>
    /// Seeds the tangent of input <paramref name="input"/> (an <see cref="Op.Input"/>, or an <see cref="Op.InputAt"/>
    /// whose index operand is already a value of <paramref name="b"/>) in direction <paramref name="direction"/>;
    /// null means "not seeded" (zero).
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
        var (primal, tangents) = Transform(source, b, directions, seed, capturePrimal: null, captureTangent: null);
        var outputs = ImmutableArray.CreateBuilder<Value>(source.Outputs.Length * (directions + 1));
        foreach (var o in source.Outputs) outputs.Add(primal[o.Index]);
        for (int d = 0; d < directions; d++)
            foreach (var o in source.Outputs)
                outputs.Add(tangents[d][o.Index] ?? b.Constant(0.0));
        return b.Build(outputs);
    }

    /// <summary>
    /// Emits <paramref name="source"/> and its tangents into <paramref name="b"/>. For a loop body,
    /// <paramref name="capturePrimal"/> and <paramref name="captureTangent"/> give the value and the
    /// tangents of each captured value.
    /// </summary>
    private static (Value[] Primal, Value?[][] Tangents) Transform(Trace source, TraceBuilder b, int directions, Seed seed,
        Func<int, Value>? capturePrimal, Func<int, int, Value?>? captureTangent)
    {
        var primal = new Value[source.Count];
        var tangents = new Value?[directions][];
        for (int d = 0; d < directions; d++) tangents[d] = new Value?[source.Count];
        var loopResults = new Dictionary<int, (Value[] Primal, Value?[][] Tangents)>();

        for (int i = 0; i < source.Count; i++)
        {
            var ins = source.Instructions[i];
            switch (ins.Op)
            {
                case Op.Capture:
                    primal[i] = capturePrimal!(ins.A);
                    for (int d = 0; d < directions; d++) tangents[d][i] = captureTangent!(ins.A, d);
                    continue;
                case Op.Sum:
                    loopResults[i] = TransformSum(source, ins, b, directions, seed, primal, tangents);
                    continue;
                case Op.ArgMax or Op.ArgMin:
                    // An index: no tangent. The extremum's derivative comes from re-reading the element at it.
                    primal[i] = TraceCopy.ReplayRegion(source, ins, b, primal)[0];
                    continue;
                case Op.Project:
                    primal[i] = loopResults[ins.A].Primal[ins.B];
                    for (int d = 0; d < directions; d++) tangents[d][i] = loopResults[ins.A].Tangents[d][ins.B];
                    continue;
            }
            var mapped = ins.WithOperands(v => primal[v.Index]);
            var y = primal[i] = b.Emit(mapped);
            if (ins.Op is Op.Input or Op.InputAt)
            {
                // The seed sees the instruction with its index already in this builder.
                for (int d = 0; d < directions; d++) tangents[d][i] = seed(b, mapped, d);
                continue;
            }
            if (ins.Kind != ValueKind.Scalar || ins.IsLeaf) continue;
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
        return (primal, tangents);
    }

    /// <summary>One loop computing the sums of the body's outputs and of their tangents.</summary>
    private static (Value[] Primal, Value?[][] Tangents) TransformSum(Trace source, Instruction ins, TraceBuilder b, int directions, Seed seed,
        Value[] primal, Value?[][] tangents)
    {
        var region = source.Regions[ins.C];
        var body = region.Body;
        var child = b.CreateBody();
        var (innerPrimal, innerTangents) = Transform(body, child, directions, seed,
            c => child.Capture(primal[region.Captures[c].Index]),
            (c, d) => tangents[d][region.Captures[c].Index] is { } t ? child.Capture(t) : null);

        // Results: the primal outputs, then every tangent output that exists.
        var summands = body.Outputs.Select(o => innerPrimal[o.Index]).ToList();
        var tangentSlots = new int?[directions, body.Outputs.Length];
        for (int d = 0; d < directions; d++)
            for (int k = 0; k < body.Outputs.Length; k++)
                if (innerTangents[d][body.Outputs[k].Index] is { } t)
                {
                    tangentSlots[d, k] = summands.Count;
                    summands.Add(t);
                }
        var results = b.EmitSum(primal[ins.A], primal[ins.B], child, summands);
        var resultTangents = new Value?[directions][];
        for (int d = 0; d < directions; d++)
        {
            resultTangents[d] = new Value?[body.Outputs.Length];
            for (int k = 0; k < body.Outputs.Length; k++)
                if (tangentSlots[d, k] is { } slot) resultTangents[d][k] = results[slot];
        }
        return (results[..body.Outputs.Length], resultTangents);
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
