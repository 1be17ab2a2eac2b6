using System.Collections.Immutable;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Transforms;

/// <summary>
/// Reverse (adjoint) mode: Trace -> Trace. The new trace first replays the primal trace, then
/// sweeps it backwards accumulating adjoints (v̄ = ∂y/∂v) with the rule table, and returns the
/// primal outputs followed by the adjoint of every active input.
/// </summary>
/// <remarks>
/// An adjoint that passed through a select (or max, min, clamp) may be an exact zero standing for "branch not taken";
/// such adjoints are marked, and their products with local partials use the zero-strong
/// <see cref="Op.MaskedMul"/>, so that a NaN or infinite partial in the untaken branch cannot
/// turn the gradient into NaN.
/// A sum's iterations are independent, so its adjoint needs no tape: a second loop recomputes
/// each iteration's body, sweeps it backwards from the adjoints of the sum's results, and sums
/// the adjoints of the values the body captured.
/// A fold's iterations depend on each other, so its adjoint needs the state each iteration began with: the
/// primal fold records them on a tape (every k-th one with checkpointing), and a backward fold over the same
/// iterations reads them, recomputes the body, and carries the adjoints of the states from the last iteration
/// to the first, summing the adjoints of the captures on the way.
/// </remarks>
internal static class ReverseMode
{
    /// <summary>
    /// Differentiates <paramref name="source"/> backwards. <paramref name="seed"/> gives the adjoint of
    /// output <c>k</c> (null: not seeded). Outputs of the result: the primal outputs, then the adjoints
    /// of <paramref name="source"/>'s <see cref="Trace.Inputs"/>, in that order (zero when unreached).
    /// </summary>
    public static Trace Apply(Trace source, Func<TraceBuilder, int, Value?> seed, int checkpointInterval = 1) =>
        ApplySweeps(source, 1, (b, _, k) => seed(b, k), checkpointInterval);

    /// <summary>
    /// <paramref name="sweeps"/> backward sweeps after one replay of the primal, which they share (a Jacobian's rows:
    /// sweep <c>s</c> seeds output <c>k</c> with <paramref name="seed"/>(b, s, k), null for none). Outputs of the result:
    /// the primal outputs, then for each sweep in turn the adjoints of <paramref name="source"/>'s <see cref="Trace.Inputs"/>.
    /// Elements read inside loops scatter-add their adjoints instead; those of sweep <c>s</c> go to index
    /// <c>s * length + j</c> for element j (row s of a row-major matrix with one column per element of the
    /// parameter; sweep 0 is the gradient itself).
    /// </summary>
    public static Trace ApplySweeps(Trace source, int sweeps, Func<TraceBuilder, int, int, Value?> seed, int checkpointInterval = 1) =>
        Sweeps(source, sweeps, (b, s, k, _) => seed(b, s, k), checkpointInterval);

    /// <summary>
    /// One backward sweep whose seed of output <c>k</c> is <paramref name="seed"/>(b, k, value of output k): an array output
    /// (a map's result) is seeded with an adjoint array built from its value's length. Outputs as for <see cref="Apply"/>.
    /// </summary>
    public static Trace ApplySeededByValue(Trace source, Func<TraceBuilder, int, Value, Value?> seed, int checkpointInterval = 1) =>
        Sweeps(source, 1, (b, _, k, value) => seed(b, k, value), checkpointInterval);

    /// <summary>
    /// <paramref name="sweeps"/> backward sweeps sharing one replay of the primal, sweep s seeding output k with
    /// <paramref name="seed"/>(b, s, k, value of output k). Outputs and scatter-add rows as for <see cref="ApplySweeps"/>.
    /// </summary>
    public static Trace ApplySweepsSeededByValue(Trace source, int sweeps, Func<TraceBuilder, int, int, Value, Value?> seed, int checkpointInterval = 1) =>
        Sweeps(source, sweeps, seed, checkpointInterval);

    private static Trace Sweeps(Trace source, int sweeps, Func<TraceBuilder, int, int, Value, Value?> seed, int checkpointInterval)
    {
        if (checkpointInterval < 1) throw new ArgumentOutOfRangeException(nameof(checkpointInterval));
        // The sweep below gives no adjoint to an effect (a scatter-add into a gradient, an add into an adjoint array): over
        // a trace that has them it would drop their contributions and return wrong numbers, so it refuses.
        if (source.HasEffects)
            throw new NotSupportedException("Reverse mode over a derivative's trace (one that adds into gradients or adjoint arrays) is not supported yet; use forward mode over reverse mode for second derivatives.");
        // Sums of sums in loop bodies become maps of the inner sums, which the adjoint loops read (and folds taped at every
        // iteration record) rather than recomputing the inner sums.
        source = Passes.NestedSumSplitting.Apply(source);
        var b = new TraceBuilder(source.Environment, capacity: 2 * source.Count);
        // Row offsets are defined before the primal: a sweep's adjoint loops capture them, and loop fusion only
        // merges a loop into an earlier one whose captures all come before it.
        var rows = new ScatterRow[sweeps];
        for (int s = 0; s < sweeps; s++)
        {
            var offsets = new Value?[source.Environment.Roles.Length];
            for (int p = 0; p < offsets.Length; p++)
                if (s > 0 && source.Environment.Roles[p] == ParameterRole.Array) offsets[p] = b.Mul(b.Integer(s), b.InputLength(p));
            rows[s] = new ScatterRow(offsets);
        }
        var primal = TraceCopy.Replay(source, b);

        var outputs = ImmutableArray.CreateBuilder<Value>();
        foreach (var o in source.Outputs) outputs.Add(primal[o.Index]);
        var inputs = source.Inputs();
        for (int s = 0; s < sweeps; s++)
        {
            var adjoints = new Value?[source.Count];
            var masked = new bool[source.Count];
            for (int k = 0; k < source.Outputs.Length; k++)
            {
                int o = source.Outputs[k].Index;
                if (seed(b, s, k, primal[o]) is not { } a) continue;
                adjoints[o] = adjoints[o] is { } existing ? b.Add(existing, a) : a;
            }
            Sweep(source, b, primal, adjoints, masked, checkpointInterval, rows[s]);
            foreach (var input in inputs) outputs.Add(adjoints[input.Index] ?? b.Constant(0.0));
        }
        return b.Build(outputs);
    }

    /// <summary>
    /// Where one sweep's scatter-adds go: element j of array parameter p to <c>offset(p) + j</c>. The offsets are
    /// integer values of the top-level trace (null: none); a loop body at any depth captures them level by level.
    /// </summary>
    private sealed class ScatterRow(Value?[] offsets)
    {
        public Value Index(TraceBuilder b, int parameter, Value index) =>
            offsets[parameter] is { } offset ? b.Add(Lift(b, offset), index) : index;

        private static Value Lift(TraceBuilder b, Value topLevel) => b.Parent is null ? topLevel : b.Capture(Lift(b.Parent, topLevel));
    }

    /// <summary>
    /// The backward sweep over <paramref name="source"/>, whose primal values in <paramref name="b"/> are
    /// <paramref name="primal"/>: starting from the seeded <paramref name="adjoints"/>, fills in the adjoint of every
    /// instruction that the seeds reach (captures included, for a loop body).
    /// </summary>
    private static void Sweep(Trace source, TraceBuilder b, Value[] primal, Value?[] adjoints, bool[] masked, int interval, ScatterRow row)
    {
        for (int i = source.Count - 1; i >= 0; i--)
        {
            var ins = source.Instructions[i];
            if (ins.Op is Op.Sum or Op.Map)
            {
                SweepIndependentLoop(source, i, b, primal, adjoints, masked, interval, row);
                continue;
            }
            if (ins.Op == Op.Fold)
            {
                SweepFold(source, i, b, primal, adjoints, masked, interval, row);
                continue;
            }
            if (adjoints[i] is not { } adjoint) continue;
            // An element of an array a map built: its adjoint is added into the array's adjoint array.
            if (ins.Op == Op.Element && IsActiveArray(source, ins.A, adjoints))
            {
                b.ArrayAdd(ArrayAdjoint(source, b, primal, adjoints, ins.A), primal[ins.B], adjoint);
                masked[ins.A] |= masked[i];
                continue;
            }
            // Array elements read with a computed index, and any input read inside a loop, add their
            // adjoint into the gradient where they are (a scatter-add); top-level inputs are outputs.
            if (ins.Op == Op.InputAt)
            {
                b.ScatterAdd(ins.B, row.Index(b, ins.B, primal[ins.A]), adjoint);
                continue;
            }
            if (ins.Op == Op.Input && b.Parent is not null)
            {
                b.ScatterAdd(ins.A, row.Index(b, ins.A, b.Integer(ins.B)), adjoint);
                continue;
            }
            if (ins.Kind != ValueKind.Scalar || ins.IsLeaf || ins.Op == Op.Project) continue;
            var primitive = RuleTable.Of(ins);
            if (!primitive.IsDifferentiable) continue;

            var operands = new Value[primitive.Arity];
            for (int k = 0; k < operands.Length; k++) operands[k] = primal[ins.Operand(k).Index];
            bool maskOperands = masked[i] || primitive.PassThrough is not null;

            void Contribute(int k, Value contribution) =>
                Accumulate(source, b, adjoints, masked, ins.Operand(k).Index, contribution, maskOperands);

            if (primitive.Adjoint is { } rule)
            {
                rule(b, operands, primal[i], adjoint, Contribute);
                continue;
            }
            if (primitive.PassThrough is { } passThrough)
            {
                // The adjoint goes to the operand passed through; the others get an exact (masked) zero.
                var conditions = passThrough(b, operands);
                for (int k = 0; k < conditions.Length; k++)
                    if (conditions[k] is { } condition) Contribute(k, b.Select(condition, adjoint, b.Constant(0.0)));
                continue;
            }
            var partials = primitive.Partials!(b, operands, primal[i]);
            for (int k = 0; k < partials.Length; k++)
            {
                if (partials[k] is not { } p) continue;
                Contribute(k, masked[i] ? b.Emit(Op.MaskedMul, adjoint, p) : b.Mul(adjoint, p));
            }
        }
    }

    /// <summary>True for an array with an adjoint: one a map built (or, in a loop body, a captured one given an adjoint outside).</summary>
    private static bool IsActiveArray(Trace source, int array, Value?[] adjoints) =>
        adjoints[array] is not null || source.Instructions[array] is { Op: Op.Project, Kind: ValueKind.Array } p && source.Instructions[p.A].Op is Op.Map or Op.Fold;

    /// <summary>The adjoint array of an active array: zeros of the same length, created where the first read of it is swept.</summary>
    private static Value ArrayAdjoint(Trace source, TraceBuilder b, Value[] primal, Value?[] adjoints, int array) =>
        adjoints[array] ??= b.ZeroArray(b.Emit(Op.ArrayLength, primal[array]));

    /// <summary>
    /// Before a loop body is swept: every active array it captures gets its adjoint array outside the loop, and the body
    /// adds into that (captured) array, so that reads in every iteration land in the one adjoint.
    /// </summary>
    private static void SeedCapturedArrays(Trace source, Region region, TraceBuilder b, TraceBuilder child, Value[] primal,
        Value?[] adjoints, Value?[] innerAdjoints)
    {
        var body = region.Body;
        for (int j = 0; j < body.Count; j++)
        {
            var leaf = body.Instructions[j];
            if (leaf.Op != Op.Capture || leaf.Kind != ValueKind.Array) continue;
            int outer = region.Captures[leaf.A].Index;
            if (IsActiveArray(source, outer, adjoints)) innerAdjoints[j] = child.Capture(ArrayAdjoint(source, b, primal, adjoints, outer));
        }
    }

    /// <summary>
    /// Marks an outer array masked when a body added a masked adjoint into it, or (<paramref name="all"/>, a gated loop
    /// that may not run) any adjoint at all.
    /// </summary>
    private static void PropagateArrayMasks(Trace body, Region region, Value?[] innerAdjoints, bool[] innerMasked, bool[] masked, bool all = false)
    {
        for (int j = 0; j < body.Count; j++)
            if (body.Instructions[j] is { Op: Op.Capture, Kind: ValueKind.Array } leaf && (innerMasked[j] || all && innerAdjoints[j] is not null))
                masked[region.Captures[leaf.A].Index] = true;
    }

    private static void Accumulate(Trace source, TraceBuilder b, Value?[] adjoints, bool[] masked, int target, Value contribution, bool isMasked)
    {
        if (source.Instructions[target].Kind != ValueKind.Scalar) return;
        adjoints[target] = adjoints[target] is { } sum ? b.Add(sum, contribution) : contribution;
        masked[target] |= isMasked;
    }

    /// <summary>
    /// The adjoint of a sum or a map, whose iterations are independent: a loop over the same iterations that recomputes
    /// the body, seeds each output (a sum's result adjoint, captured; a map's element of the result's adjoint array),
    /// sweeps the body backwards, and sums the adjoints of the captures.
    /// </summary>
    private static void SweepIndependentLoop(Trace source, int i, TraceBuilder b, Value[] primal, Value?[] adjoints, bool[] masked, int interval, ScatterRow row)
    {
        var ins = source.Instructions[i];
        var region = source.Regions[ins.C];
        var body = region.Body;
        var (resultAdjoints, anyMasked) = ResultAdjoints(source, i, adjoints, masked);
        if (resultAdjoints.All(a => a is null)) return;

        // A sum's seeds are the same in every iteration. When they may be exact zeros standing for an untaken branch, the
        // adjoint loop runs only if one of them is not zero: inside it they are then true adjoints, and the body's
        // products with them need no masking. (Skipping the loop is exact: with zero seeds every masked product is +0.0,
        // and adding +0.0 leaves an accumulator that starts at +0.0 unchanged.)
        var count = primal[ins.B];
        bool gated = anyMasked && ins.Op == Op.Sum;
        if (gated)
        {
            Value? anyNonZero = null;
            foreach (var a in resultAdjoints)
            {
                if (a is null) continue;
                var nonZero = b.Emit(Op.NotEqual, a.Value, b.Constant(0.0));
                anyNonZero = anyNonZero is { } earlier ? b.Emit(Op.Or, earlier, nonZero) : nonZero;
            }
            count = b.Select(anyNonZero!.Value, count, b.Integer(0));
        }
        var child = b.CreateBody();
        var innerPrimal = TraceCopy.Replay(body, child, c => child.Capture(primal[region.Captures[c].Index]));
        var innerAdjoints = new Value?[body.Count];
        var innerMasked = new bool[body.Count];
        SeedCapturedArrays(source, region, b, child, primal, adjoints, innerAdjoints);
        // A map's output at iteration index is element index - start of its result.
        Value? position = ins.Op == Op.Map ? child.Sub(child.LoopIndex(), child.Capture(primal[ins.A])) : null;
        for (int k = 0; k < body.Outputs.Length; k++)
        {
            if (resultAdjoints[k] is not { } a) continue;
            int o = body.Outputs[k].Index;
            var seed = position is { } at ? child.Emit(Op.Element, child.Capture(a), at) : child.Capture(a);
            innerAdjoints[o] = innerAdjoints[o] is { } existing ? child.Add(existing, seed) : seed;
            innerMasked[o] |= anyMasked && !gated;
        }
        Sweep(body, child, innerPrimal, innerAdjoints, innerMasked, interval, row);
        PropagateArrayMasks(body, region, innerAdjoints, innerMasked, masked, all: gated);

        var captured = CapturedAdjoints(body, innerAdjoints, innerMasked);
        if (captured.Count == 0 && !child.HasEffects) return;
        // The adjoint of a branch is a branch: it runs only when the primal one did (and its seeds are not all zero).
        var sums = b.EmitSum(primal[ins.A], count, child, captured.Select(c => c.Adjoint).ToArray(), new SumStyle(Branch: region.Branch));
        for (int k = 0; k < captured.Count; k++)
            Accumulate(source, b, adjoints, masked, region.Captures[captured[k].Capture].Index, sums[k], captured[k].Masked || gated);
    }

    /// <summary>The adjoints of a loop's results: those of its projections, all of which come after the loop.</summary>
    private static (Value?[] Adjoints, bool AnyMasked) ResultAdjoints(Trace source, int loop, Value?[] adjoints, bool[] masked)
    {
        var result = new Value?[source.Regions[source.Instructions[loop].C].Body.Outputs.Length];
        bool anyMasked = false;
        for (int j = loop + 1; j < source.Count; j++)
        {
            var p = source.Instructions[j];
            if (p.Op != Op.Project || p.A != loop || adjoints[j] is not { } a) continue;
            result[p.B] = a;
            anyMasked |= masked[j];
        }
        return (result, anyMasked);
    }

    /// <summary>The adjoint, in one iteration of a loop body, of every scalar the body captured: summed over the iterations by the caller.</summary>
    private static List<(int Capture, Value Adjoint, bool Masked)> CapturedAdjoints(Trace body, Value?[] innerAdjoints, bool[] innerMasked)
    {
        var captured = new List<(int Capture, Value Adjoint, bool Masked)>();
        for (int j = 0; j < body.Count; j++)
            if (body.Instructions[j] is { Op: Op.Capture, Kind: ValueKind.Scalar } && innerAdjoints[j] is { } a)
                captured.Add((body.Instructions[j].A, a, innerMasked[j]));
        return captured;
    }

    /// <summary>
    /// The adjoint of a fold: the primal fold records its states on a tape, and a backward fold over the same iterations
    /// recomputes each iteration's body from the taped state, sweeps it backwards from the carried adjoints of the next
    /// state (and the adjoints of the sums), and carries on the adjoints of the state it began with; the adjoints of the
    /// captures are summed. Its final state is the adjoint of the initial state.
    /// </summary>
    private static void SweepFold(Trace source, int i, TraceBuilder b, Value[] primal, Value?[] adjoints, bool[] masked, int interval, ScatterRow row)
    {
        var ins = source.Instructions[i];
        var region = source.Regions[ins.C];
        var body = region.Body;
        int states = region.StateCount;
        var (resultAdjoints, anyMasked) = ResultAdjoints(source, i, adjoints, masked);
        if (resultAdjoints.All(a => a is null)) return;
        if (region.Backward || region.TapeInterval > 0) throw new NotSupportedException("Reverse mode over the reverse of a fold is not supported.");

        var kinds = region.Initial.Select(v => source.Instructions[v.Index].Kind).ToArray();
        var fold = primal[i];
        b.RequestTape(fold, interval);
        // The results of the body's sums, the arrays of its maps of inner sums, and its calls into the math library are
        // recorded on the tape too (without checkpoints), so the backward fold reads them rather than computing them again.
        var recorded = b.RecordValues(fold);
        var child = b.CreateBody();
        bool ReadRecordedLoop(int j, Instruction loop, Value[] renamed, Dictionary<int, Value[]> results)
        {
            if (loop.Op is not (Op.Sum or Op.Map) || !recorded.TryGetValue(j, out int slot)) return false;
            var kind = loop.Op == Op.Map ? ValueKind.Array : ValueKind.Scalar;
            results[j] = Enumerable.Range(0, body.Regions[loop.C].Body.Outputs.Length).Select(p => child.TapedState(slot + p, kind)).ToArray();
            return true;
        }
        var innerPrimal = TraceCopy.Replay(body, child, c => child.Capture(primal[region.Captures[c].Index]), leaf: state => child.TapedState(state.A, state.Kind),
            replayRegion: ReadRecordedLoop, replace: (j, _) => recorded.TryGetValue(j, out int slot) ? child.TapedState(slot) : null);
        var innerAdjoints = new Value?[body.Count];
        var innerMasked = new bool[body.Count];
        SeedCapturedArrays(source, region, b, child, primal, adjoints, innerAdjoints);
        var stateLeaf = new int[states];
        Array.Fill(stateLeaf, -1);
        for (int j = 0; j < body.Count; j++)
            if (body.Instructions[j].Op == Op.State) stateLeaf[body.Instructions[j].A] = j;
        for (int k = 0; k < states; k++)
        {
            if (kinds[k] != ValueKind.Array) continue;
            // The next array state must be an array the body builds (a map), whose adjoint array the carried adjoint is.
            var next = body.Instructions[body.Outputs[k].Index];
            if (next.Op != Op.Project || body.Instructions[next.A].Op != Op.Map || body.Outputs.Take(k).Contains(body.Outputs[k]))
                throw new NotSupportedException("An Aggregate's array state must be replaced by a new array built with Select(...).ToArray() in every step.");
            // Reads of the state this iteration began with add into a fresh adjoint array: the next carried adjoint.
            if (stateLeaf[k] >= 0) innerAdjoints[stateLeaf[k]] = child.ZeroArray(child.Emit(Op.ArrayLength, innerPrimal[stateLeaf[k]]));
        }
        // The carried adjoints may be exact zeros standing for an untaken branch in a later iteration: when the body
        // passes adjoints through a select (or max, min, clamp), every product with them is zero-strong.
        bool seedsMasked = anyMasked || PassesThrough(body);
        void Seed(int output, Value seed)
        {
            int o = body.Outputs[output].Index;
            innerAdjoints[o] = innerAdjoints[o] is { } existing ? child.Add(existing, seed) : seed;
            innerMasked[o] |= seedsMasked;
        }
        for (int k = 0; k < states; k++) Seed(k, child.State(k, kinds[k]));
        for (int k = states; k < body.Outputs.Length; k++)
            if (resultAdjoints[k] is { } a) Seed(k, child.Capture(a));
        Sweep(body, child, innerPrimal, innerAdjoints, innerMasked, interval, row);
        PropagateArrayMasks(body, region, innerAdjoints, innerMasked, masked);

        var outputs = new List<Value>();
        for (int k = 0; k < states; k++)
            outputs.Add(stateLeaf[k] >= 0 && innerAdjoints[stateLeaf[k]] is { } a ? a
                : kinds[k] == ValueKind.Array ? child.ZeroArray(child.Emit(Op.ArrayLength, child.State(k, ValueKind.Array)))
                : child.Constant(0.0));
        var captured = CapturedAdjoints(body, innerAdjoints, innerMasked);
        outputs.AddRange(captured.Select(c => c.Adjoint));
        var initial = Enumerable.Range(0, states).Select(k => resultAdjoints[k]
            ?? (kinds[k] == ValueKind.Array ? b.ZeroArray(b.Emit(Op.ArrayLength, primal[region.Initial[k].Index])) : b.Constant(0.0))).ToArray();
        var (_, results) = b.EmitFold(primal[ins.A], primal[ins.B], initial, child, outputs, backward: true, tapeOf: fold);

        for (int k = 0; k < states; k++)
        {
            if (kinds[k] != ValueKind.Array)
            {
                Accumulate(source, b, adjoints, masked, region.Initial[k].Index, results[k], seedsMasked);
                continue;
            }
            // The adjoint of an initial array that has one (built by a map) grows by the fold's final adjoint array, element by element.
            int initialArray = region.Initial[k].Index;
            if (!IsActiveArray(source, initialArray, adjoints)) continue;
            var target = ArrayAdjoint(source, b, primal, adjoints, initialArray);
            var add = b.CreateBody();
            var at = add.LoopIndex();
            add.ArrayAdd(add.Capture(target), at, add.Emit(Op.Element, add.Capture(results[k]), at));
            b.EmitSum(b.Integer(0), b.Emit(Op.ArrayLength, results[k]), add, []);
            masked[initialArray] |= seedsMasked;
        }
        for (int k = 0; k < captured.Count; k++)
            Accumulate(source, b, adjoints, masked, region.Captures[captured[k].Capture].Index, results[states + k], captured[k].Masked);
    }


    /// <summary>True when a body (or a loop in it) has an operation that passes its adjoint to one operand only.</summary>
    private static bool PassesThrough(Trace body) =>
        body.Instructions.Any(ins => !ins.IsLeaf && !ins.IsRegion && ins.Op is not (Op.Project or Op.InputAt or Op.ScatterAdd)
            && RuleTable.Of(ins).PassThrough is not null)
        || body.Regions.Any(r => PassesThrough(r.Body));
}
