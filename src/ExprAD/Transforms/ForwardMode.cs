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
/// Forward mode accepts everything reverse mode emits, so that a Hessian-vector product is Forward(Reverse(f)): the tangent
/// of an adjoint added into an array is added into the array's tangent (a zero array of its own), the tangent of an
/// adjoint added into the gradient goes to the gradient's tangent in its direction (sink 1 + d of <see cref="Op.ScatterAdd"/>,
/// at the same index), and a fold that records a tape, or reads one backwards, carries the tangent of every state in every
/// direction, so that the tape it records (or reads) holds the tangents beside the values, in the same layout for both.
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
        var b = new TraceBuilder(source.Environment, capacity: (directions + 1) * source.Count);
        var (primal, tangents) = Transform(source, b, directions, seed, new Leaves(null, null, null, null, null));
        var outputs = ImmutableArray.CreateBuilder<Value>(source.Outputs.Length * (directions + 1));
        foreach (var o in source.Outputs) outputs.Add(primal[o.Index]);
        for (int d = 0; d < directions; d++)
            foreach (var o in source.Outputs)
                outputs.Add(tangents[d][o.Index] ?? b.Constant(0.0));
        return b.Build(outputs);
    }

    /// <summary>
    /// Emits <paramref name="body"/> (a body built by a child of <paramref name="target"/>'s parent chain, whose capture slot k
    /// stands for <paramref name="capture"/>(k), a value of <paramref name="target"/>) and its tangents into
    /// <paramref name="target"/> itself, in <paramref name="directions"/> directions: slot k's tangent in direction d is
    /// <paramref name="seed"/>(k, d) (null: zero), and no input of the body is seeded. Returns the values and tangents of
    /// the body's outputs (a null tangent is zero). This is a derivative taken inside a lambda: its code joins the
    /// enclosing trace, where an outer transform differentiates it again like any other code.
    /// </summary>
    public static (Value[] Values, Value?[][] Tangents) ApplyInto(Trace body, TraceBuilder target, int directions,
        Func<int, Value> capture, Func<int, int, Value?> seed)
    {
        var (primal, tangents) = Transform(body, target, directions, (_, _, _) => null, new Leaves(capture, seed, null, null, null));
        return (body.Outputs.Select(o => primal[o.Index]).ToArray(),
            Enumerable.Range(0, directions).Select(d => body.Outputs.Select(o => tangents[d][o.Index]).ToArray()).ToArray());
    }

    /// <summary>
    /// How the leaves of a loop body map into the transformed body: the value and the tangent (by direction) of each
    /// captured value and, in a fold's body, of each carried state; in a backward fold's body, where the taped states are.
    /// </summary>
    private sealed record Leaves(Func<int, Value>? CapturePrimal, Func<int, int, Value?>? CaptureTangent,
        Func<int, Value>? StatePrimal, Func<int, int, Value?>? StateTangent, TapeSlots? Tape);

    /// <summary>
    /// Where the transform of a taped fold records each slot of the original's tape record (a state, or recorded value m at
    /// StateCount + m): its value at <c>Primal[slot]</c>, its tangent in direction d at <c>Tangent[slot, d]</c> (null: none, a zero).
    /// </summary>
    private sealed record TapeSlots(int[] Primal, int?[,] Tangent);

    /// <summary>Emits <paramref name="source"/> and its tangents into <paramref name="b"/>; <paramref name="leaves"/> maps a loop body's leaves.</summary>
    private static (Value[] Primal, Value?[][] Tangents) Transform(Trace source, TraceBuilder b, int directions, Seed seed, Leaves leaves)
    {
        var primal = new Value[source.Count];
        var tangents = new Value?[directions][];
        for (int d = 0; d < directions; d++) tangents[d] = new Value?[source.Count];
        var loopResults = new Dictionary<int, (Value[] Primal, Value?[][] Tangents)>();
        // The transformed taped folds of this trace, by original position, for the backward folds that read their tapes.
        var tapes = new Dictionary<int, TapeSlots>();

        for (int i = 0; i < source.Count; i++)
        {
            var ins = source.Instructions[i];
            switch (ins.Op)
            {
                case Op.Capture:
                    primal[i] = leaves.CapturePrimal!(ins.A);
                    for (int d = 0; d < directions; d++) tangents[d][i] = leaves.CaptureTangent!(ins.A, d);
                    continue;
                case Op.State:
                    primal[i] = leaves.StatePrimal!(ins.A);
                    for (int d = 0; d < directions; d++) tangents[d][i] = leaves.StateTangent!(ins.A, d);
                    continue;
                case Op.TapedState:
                {
                    var tape = leaves.Tape ?? throw new InvalidOperationException("A taped state outside a backward fold.");
                    primal[i] = b.TapedState(tape.Primal[ins.A], ins.Kind);
                    for (int d = 0; d < directions; d++) tangents[d][i] = tape.Tangent[ins.A, d] is { } slot ? b.TapedState(slot, ins.Kind) : null;
                    continue;
                }
                case Op.ZeroArray:
                    // An adjoint array: its tangent is an array of its own that the tangents of the adjoints are added into.
                    primal[i] = b.ZeroArray(primal[ins.A]);
                    for (int d = 0; d < directions; d++) tangents[d][i] = b.ZeroArray(primal[ins.A]);
                    continue;
                case Op.ArrayAdd:
                    b.ArrayAdd(primal[ins.A], primal[ins.B], primal[ins.C]);
                    for (int d = 0; d < directions; d++)
                        if (tangents[d][ins.C] is { } added)
                            b.ArrayAdd(tangents[d][ins.A] ?? throw new InvalidOperationException("An adjoint array without a tangent."), primal[ins.B], added);
                    continue;
                case Op.ScatterAdd:
                    b.ScatterAdd(ins.C, primal[ins.A], primal[ins.B], (int)ins.Number);
                    for (int d = 0; d < directions; d++)
                    {
                        if (tangents[d][ins.B] is not { } added) continue;
                        if (ins.Number != 0)
                            throw new NotSupportedException("Forward mode over a Hessian-vector product (a third derivative) is not supported.");
                        b.ScatterAdd(ins.C, primal[ins.A], added, sink: 1 + d);
                    }
                    continue;
                case Op.Sum:
                    loopResults[i] = TransformLoop(source, ins, b, directions, seed, primal, tangents,
                        (start, count, body, outputs) => b.EmitSum(start, count, body, outputs, source.Regions[ins.C].Style));
                    continue;
                case Op.Map:
                    loopResults[i] = TransformLoop(source, ins, b, directions, seed, primal, tangents, b.EmitMap);
                    continue;
                case Op.Fold:
                    loopResults[i] = TransformFold(source, ins, b, directions, seed, primal, tangents, tapes, i);
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
            if (ins.Op == Op.Element)
            {
                // An element of an array built by a map: the same element of its tangent array.
                for (int d = 0; d < directions; d++)
                    if (tangents[d][ins.A] is { } array) tangents[d][i] = b.Emit(Op.Element, array, primal[ins.B]);
                continue;
            }
            if (ins.Kind != ValueKind.Scalar || ins.IsLeaf) continue;
            var primitive = RuleTable.Of(ins);
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

    /// <summary>
    /// One loop (a sum or a map, which <paramref name="emit"/> builds) computing the body's outputs and their tangents:
    /// the tangent of a sum is the sum of the tangents, the tangent of a map the array of the tangents.
    /// </summary>
    private static (Value[] Primal, Value?[][] Tangents) TransformLoop(Trace source, Instruction ins, TraceBuilder b, int directions, Seed seed,
        Value[] primal, Value?[][] tangents, Func<Value, Value, TraceBuilder, IReadOnlyList<Value>, Value[]> emit)
    {
        var region = source.Regions[ins.C];
        var body = region.Body;
        var child = b.CreateBody();
        var (innerPrimal, innerTangents) = Transform(body, child, directions, seed, CapturesOf(region, child, primal, tangents, null, null, null));

        // Results: the primal outputs, then every tangent output that exists.
        var summands = body.Outputs.Select(o => innerPrimal[o.Index]).ToList();
        var tangentSlots = AppendTangents(summands, body, 0, body.Outputs.Length, innerTangents, directions);
        var results = emit(primal[ins.A], primal[ins.B], child, summands);
        var resultTangents = new Value?[directions][];
        for (int d = 0; d < directions; d++) resultTangents[d] = new Value?[body.Outputs.Length];
        ReadTangents(resultTangents, 0, tangentSlots, results);
        return (results[..body.Outputs.Length], resultTangents);
    }

    /// <summary>
    /// Appends to a loop's <paramref name="outputs"/> the tangent, in each direction, of every body output from
    /// <paramref name="first"/> up to <paramref name="end"/> that has one; returns where each went (null: no tangent).
    /// </summary>
    private static int?[,] AppendTangents(List<Value> outputs, Trace body, int first, int end, Value?[][] innerTangents, int directions)
    {
        var slots = new int?[directions, end - first];
        for (int d = 0; d < directions; d++)
            for (int k = 0; k < slots.GetLength(1); k++)
                if (innerTangents[d][body.Outputs[first + k].Index] is { } t)
                {
                    slots[d, k] = outputs.Count;
                    outputs.Add(t);
                }
        return slots;
    }

    /// <summary>The loop's results at <paramref name="slots"/> (from <see cref="AppendTangents"/>): the tangents of results <paramref name="first"/> on.</summary>
    private static void ReadTangents(Value?[][] resultTangents, int first, int?[,] slots, Value[] results)
    {
        for (int d = 0; d < slots.GetLength(0); d++)
            for (int k = 0; k < slots.GetLength(1); k++)
                if (slots[d, k] is { } slot) resultTangents[d][first + k] = results[slot];
    }

    private static Leaves CapturesOf(Region region, TraceBuilder child, Value[] primal, Value?[][] tangents,
        Func<int, Value>? statePrimal, Func<int, int, Value?>? stateTangent, TapeSlots? tape) => new(
        c => child.Capture(primal[region.Captures[c].Index]),
        (c, d) => tangents[d][region.Captures[c].Index] is { } t ? child.Capture(t) : null,
        statePrimal, stateTangent, tape);

    /// <summary>
    /// One fold carrying the primal state and the tangent of every state that has one: a state has a tangent in a
    /// direction when its initial value does, or when the body gives its next value one (found by iterating to a
    /// fixed point over scratch copies of the body, at most once per state). Sums carry their tangents as sums.
    /// A fold that records a tape or reads one (reverse mode's) carries every state's tangent in every direction: its tape
    /// record then has the same layout as its reader's states (which code generation relies on), and it records the
    /// tangents of its recorded values after the values, where <paramref name="tapes"/> tells the reader to look.
    /// </summary>
    private static (Value[] Primal, Value?[][] Tangents) TransformFold(Trace source, Instruction ins, TraceBuilder b, int directions, Seed seed,
        Value[] primal, Value?[][] tangents, Dictionary<int, TapeSlots> tapes, int position)
    {
        var region = source.Regions[ins.C];
        var body = region.Body;
        int states = region.StateCount, resultCount = region.ResultCount, recorded = region.RecordedCount;
        bool everyState = region.Backward || region.TapeInterval > 0;
        var slot = new int?[directions, states];
        int slots = states;
        for (int d = 0; d < directions; d++)
            for (int k = 0; k < states; k++)
                if (everyState || tangents[d][region.Initial[k].Index] is not null) slot[d, k] = slots++;

        var kinds = region.Initial.Select(v => source.Instructions[v.Index].Kind).ToArray();
        var reads = region.TapeOf is { } tapeOf ? tapes[tapeOf.Index] : null;
        (Value[] Primal, Value?[][] Tangents) TransformBody(TraceBuilder child) =>
            Transform(body, child, directions, seed, CapturesOf(region, child, primal, tangents,
                k => child.State(k, kinds[k]), (k, d) => slot[d, k] is { } s ? child.State(s, kinds[k]) : null, reads));
        while (!everyState)
        {
            var (_, trial) = TransformBody(b.CreateBody());
            bool changed = false;
            for (int d = 0; d < directions; d++)
                for (int k = 0; k < states; k++)
                    if (slot[d, k] is null && trial[d][body.Outputs[k].Index] is not null)
                    {
                        slot[d, k] = slots++;
                        changed = true;
                    }
            if (!changed) break;
        }

        var child = b.CreateBody();
        var (innerPrimal, innerTangents) = TransformBody(child);
        // A state without a tangent yet starts from a zero tangent: 0.0, or zeros as long as the array.
        Value Zero(TraceBuilder builder, int k, Value like) =>
            kinds[k] == ValueKind.Array ? builder.ZeroArray(builder.Emit(Op.ArrayLength, like)) : builder.Constant(0.0);
        var initial = new Value[slots];
        var outputs = new List<Value>(new Value[slots]);
        for (int k = 0; k < states; k++)
        {
            initial[k] = primal[region.Initial[k].Index];
            outputs[k] = innerPrimal[body.Outputs[k].Index];
            for (int d = 0; d < directions; d++)
                if (slot[d, k] is { } s)
                {
                    initial[s] = tangents[d][region.Initial[k].Index] ?? Zero(b, k, primal[region.Initial[k].Index]);
                    outputs[s] = innerTangents[d][body.Outputs[k].Index] ?? Zero(child, k, innerPrimal[body.Outputs[k].Index]);
                }
        }
        // Sums after the states: the primal ones, then every tangent that exists; then the recorded values and their tangents.
        int sums = resultCount - states;
        for (int k = states; k < resultCount; k++) outputs.Add(innerPrimal[body.Outputs[k].Index]);
        var sumSlots = AppendTangents(outputs, body, states, resultCount, innerTangents, directions);
        var (recordedCount, recordedLengths) = region.TapeInterval > 0
            ? AppendRecorded(region, primal, innerPrimal, innerTangents, slot, slots, outputs, tapes, position)
            : (0, []);
        var (fold, results) = b.EmitFold(primal[ins.A], primal[ins.B], initial, child, outputs, region.Backward, region.TapeInterval,
            region.TapeOf is { } tape ? primal[tape.Index] : null, recordedCount, recordedLengths);
        primal[position] = fold;

        var resultPrimal = new Value[resultCount];
        var resultTangents = new Value?[directions][];
        for (int k = 0; k < states; k++) resultPrimal[k] = results[k];
        for (int k = 0; k < sums; k++) resultPrimal[states + k] = results[slots + k];
        for (int d = 0; d < directions; d++) resultTangents[d] = new Value?[resultCount];
        ReadTangents(resultTangents, 0, slot, results);
        ReadTangents(resultTangents, states, sumSlots, results);
        return (resultPrimal, resultTangents);
    }

    /// <summary>
    /// For a taped fold: appends the values it records, then their tangents that exist, to the body's
    /// <paramref name="outputs"/>, and notes in <paramref name="tapes"/> where every slot of the original tape record went
    /// (states keep their slots, recorded values follow the <paramref name="slots"/> states). Returns the number of recorded
    /// outputs and the lengths of the recorded arrays, in order.
    /// </summary>
    private static (int Count, ImmutableArray<Value> Lengths) AppendRecorded(Region region, Value[] primal, Value[] innerPrimal, Value?[][] innerTangents,
        int?[,] slot, int slots, List<Value> outputs, Dictionary<int, TapeSlots> tapes, int position)
    {
        var body = region.Body;
        int states = region.StateCount, recorded = region.RecordedCount, directions = slot.GetLength(0);
        var tapePrimal = new int[states + recorded];
        var tapeTangent = new int?[states + recorded, directions];
        for (int k = 0; k < states; k++)
        {
            tapePrimal[k] = k;
            for (int d = 0; d < directions; d++) tapeTangent[k, d] = slot[d, k];
        }
        // The length of each recorded array (the original lists them in the order of the recorded arrays).
        var lengthOf = new Value?[recorded];
        for (int m = 0, a = 0; m < recorded; m++)
            if (body[body.Outputs[region.ResultCount + m]].Kind == ValueKind.Array) lengthOf[m] = primal[region.RecordedLengths[a++].Index];
        var lengths = ImmutableArray.CreateBuilder<Value>();
        int count = 0;
        void Record(Value value, int m)
        {
            outputs.Add(value);
            if (lengthOf[m] is { } length) lengths.Add(length);
            count++;
        }
        for (int m = 0; m < recorded; m++)
        {
            tapePrimal[states + m] = slots + count;
            Record(innerPrimal[body.Outputs[region.ResultCount + m].Index], m);
        }
        for (int d = 0; d < directions; d++)
            for (int m = 0; m < recorded; m++)
                if (innerTangents[d][body.Outputs[region.ResultCount + m].Index] is { } t)
                {
                    tapeTangent[states + m, d] = slots + count;
                    Record(t, m);
                }
        tapes[position] = new TapeSlots(tapePrimal, tapeTangent);
        return (count, lengths.ToImmutable());
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
