using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Passes;

/// <summary>
/// Checks the invariants of a trace: SSA order (operands defined before use), operand kinds
/// matching each operation's signature, leaves well formed, outputs in range. Run after every
/// pass in the tests; a failure is a bug in ExprAD, never in the user's code.
/// </summary>
internal static class TraceVerifier
{
    public static void Verify(Trace trace) => Verify(trace, captures: null, states: [], tapedStates: []);

    /// <summary>
    /// Verifies a trace; <paramref name="captures"/> are the kinds of the values a loop body may capture (null at the top),
    /// <paramref name="states"/> and <paramref name="tapedStates"/> the number of (taped) states a fold body may read.
    /// </summary>
    private static void Verify(Trace trace, ValueKind[]? captures, ValueKind[] states, ValueKind[] tapedStates)
    {
        for (int i = 0; i < trace.Count; i++)
        {
            var ins = trace.Instructions[i];
            void Fail(string why) => throw new InvalidOperationException($"Trace invariant broken at %{i} ({ins.Op}): {why}\n{trace}");
            ValueKind Kind(int k) => trace.Instructions[ins.Operand(k).Index].Kind;
            switch (ins.Op)
            {
                case Op.Const: continue;
                case Op.Input:
                    // Parameters beyond the lambda's own are allowed: forward mode seeds tangents from a direction parameter.
                    if (ins.Kind != ValueKind.Scalar || ins.A < 0) Fail("bad input");
                    continue;
                case Op.Data:
                    if (ins.A < 0 || ins.A >= trace.DataReads.Count || trace.DataReads[ins.A].Kind != ins.Kind
                        || trace.DataReads[ins.A].Accessor is System.Linq.Expressions.LambdaExpression) Fail("bad data read");
                    continue;
                case Op.Read or Op.ReadAt:
                {
                    int read = ins.Op == Op.Read ? ins.B : ins.C;
                    if (ins.A >= i || Kind(0) != ValueKind.Object || ins.Op == Op.ReadAt && (ins.B >= i || Kind(1) != ValueKind.Integer)
                        || read < 0 || read >= trace.DataReads.Count || trace.DataReads[read].Kind != ins.Kind
                        || trace.DataReads[read].Accessor is not System.Linq.Expressions.LambdaExpression { Parameters.Count: var count } || count != ins.Arity)
                        Fail("a read takes an object (and an integer index) through an accessor of as many parameters, and has its kind");
                    continue;
                }
                case Op.InputLength:
                    if (ins.Kind != ValueKind.Integer) Fail("a length is an integer");
                    continue;
                case Op.InputAt:
                    if (ins.A >= i || Kind(0) != ValueKind.Integer || ins.Kind != ValueKind.Scalar) Fail("bad indexed input");
                    continue;
                case Op.ScatterAdd:
                    if (ins.A >= i || ins.B >= i || Kind(0) != ValueKind.Integer || Kind(1) != ValueKind.Scalar || ins.Kind != ValueKind.Effect) Fail("bad scatter-add");
                    continue;
                case Op.LoopIndex:
                    if (captures is null || ins.Kind != ValueKind.Integer) Fail("a loop index outside a loop body");
                    continue;
                case Op.Capture:
                    if (captures is null || ins.A < 0 || ins.A >= captures.Length || captures[ins.A] != ins.Kind) Fail("bad capture");
                    continue;
                case Op.State:
                    if (ins.A < 0 || ins.A >= states.Length || ins.Kind != states[ins.A]) Fail("a state outside a fold body, out of range or of another kind");
                    continue;
                case Op.TapedState:
                    if (ins.A < 0 || ins.A >= tapedStates.Length || ins.Kind != tapedStates[ins.A]) Fail("a taped state outside a backward fold that reads a tape, out of range or of another kind");
                    continue;
                case Op.Fold:
                {
                    if (ins.Kind != ValueKind.Tuple || Kind(0) != ValueKind.Integer || Kind(1) != ValueKind.Integer) Fail("a fold needs integer start and count");
                    if (ins.A >= i || ins.B >= i || ins.C < 0 || ins.C >= trace.Regions.Length) Fail("bad region reference");
                    var region = trace.Regions[ins.C];
                    foreach (var v in region.Captures.Concat(region.Initial))
                        if (v.Index < 0 || v.Index >= i) Fail("a capture or initial state is not defined before the loop");
                    if (region.StateCount == 0 || region.ResultCount < region.StateCount || region.RecordedCount < 0) Fail("a fold carries at least one state and computes each");
                    if (region.RecordedCount > 0 && (region.Backward || region.TapeInterval != 1)) Fail("only a fold taped at every iteration records values");
                    var recordedKinds = region.Body.Outputs.Skip(region.ResultCount).Select(o => region.Body[o].Kind).ToArray();
                    if (recordedKinds.Any(k => k is not (ValueKind.Scalar or ValueKind.Array)) || recordedKinds.Count(k => k == ValueKind.Array) != region.RecordedLengths.Length
                        || region.RecordedLengths.Any(v => v.Index < 0 || v.Index >= i || trace.Instructions[v.Index].Kind != ValueKind.Integer))
                        Fail("a fold records scalars, and arrays of lengths defined before it");
                    var stateKinds = region.Initial.Select(v => trace.Instructions[v.Index].Kind).ToArray();
                    if (stateKinds.Any(k => k is not (ValueKind.Scalar or ValueKind.Array))) Fail("a fold carries scalars and arrays");
                    if (region.TapeInterval < 0 || region.TapeInterval > 0 && region.Backward) Fail("only a forward fold records a tape");
                    ValueKind[] taped = [];
                    if (region.TapeOf is { } tape)
                    {
                        if (!region.Backward || tape.Index < 0 || tape.Index >= i || trace.Instructions[tape.Index].Op != Op.Fold) Fail("a tape is read by a backward fold, from an earlier fold");
                        var source = trace.Regions[trace.Instructions[tape.Index].C];
                        if (source.TapeInterval == 0) Fail("the fold read has no tape");
                        taped = source.Initial.Select(v => trace.Instructions[v.Index].Kind)
                            .Concat(source.Body.Outputs.Skip(source.ResultCount).Select(o => source.Body[o].Kind)).ToArray();
                    }
                    Verify(region.Body, region.Captures.Select(c => trace.Instructions[c.Index].Kind).ToArray(), stateKinds, taped);
                    for (int k = 0; k < region.Body.Outputs.Length; k++)
                        if (k < region.ResultCount && region.Body[region.Body.Outputs[k]].Kind != (k < stateKinds.Length ? stateKinds[k] : ValueKind.Scalar))
                            Fail("a fold's next state has its state's kind; sums are scalars");
                    continue;
                }
                case Op.Sum or Op.Map:
                {
                    if (ins.Kind != ValueKind.Tuple || Kind(0) != ValueKind.Integer || Kind(1) != ValueKind.Integer) Fail("a sum or map needs integer start and count");
                    var region = VerifyLoop(trace, i, ins, Fail);
                    foreach (var o in region.Body.Outputs)
                        if (region.Body[o].Kind != ValueKind.Scalar) Fail(ins.Op == Op.Sum ? "a sum adds scalars" : "a map builds arrays of scalars");
                    continue;
                }
                case Op.ZeroArray:
                    if (ins.A >= i || Kind(0) != ValueKind.Integer || ins.Kind != ValueKind.Array) Fail("bad zero array");
                    continue;
                case Op.ArrayAdd:
                    if (ins.A >= i || ins.B >= i || ins.C >= i || Kind(0) != ValueKind.Array || Kind(1) != ValueKind.Integer || Kind(2) != ValueKind.Scalar
                        || ins.Kind != ValueKind.Effect) Fail("bad array add");
                    continue;
                case Op.ArgMax or Op.ArgMin:
                {
                    if (ins.Kind != ValueKind.Integer || Kind(0) != ValueKind.Integer || Kind(1) != ValueKind.Integer) Fail("an arg-extremum has integer start, count and result");
                    var region = VerifyLoop(trace, i, ins, Fail);
                    if (region.Body.Outputs.Length is not (1 or 2) || region.Body[region.Body.Outputs[0]].Kind != ValueKind.Scalar
                        || region.Body.Outputs.Length == 2 && region.Body[region.Body.Outputs[1]].Kind != ValueKind.Boolean)
                        Fail("an arg-extremum compares one scalar, kept where an optional boolean holds");
                    continue;
                }
                case Op.Project:
                    if (ins.A >= i || !trace.Instructions[ins.A].HasTupleResult || ins.B < 0 ||
                        ins.B >= trace.Regions[trace.Instructions[ins.A].C].Body.Outputs.Length
                        || ins.Kind != ProjectionKind(trace, trace.Instructions[ins.A], ins.B))
                        Fail("bad projection");
                    continue;
            }
            var p = RuleTable.Of(ins);
            if (ins.Op == Op.Call && ins.Arity != p.Arity) Fail($"a call of {p.Name} takes {p.Arity} operands");
            for (int k = 0; k < p.Arity; k++)
                if (ins.Operand(k).Index < 0 || ins.Operand(k).Index >= i) Fail($"operand {k} is not defined before use");
            bool ok = p.Signature switch
            {
                OpSignature.Numeric => ins.Kind != ValueKind.Boolean && Enumerable.Range(0, p.Arity).All(k => Kind(k) == ins.Kind),
                OpSignature.Scalar => ins.Kind == ValueKind.Scalar && Enumerable.Range(0, p.Arity).All(k => Kind(k) == ValueKind.Scalar),
                OpSignature.Compare => ins.Kind == ValueKind.Boolean && Kind(0) == Kind(1) && Kind(0) != ValueKind.Boolean,
                OpSignature.Logic => ins.Kind == ValueKind.Boolean && Enumerable.Range(0, p.Arity).All(k => Kind(k) == ValueKind.Boolean),
                OpSignature.Select => Kind(0) == ValueKind.Boolean && Kind(1) == ins.Kind && Kind(2) == ins.Kind,
                OpSignature.ScalarToInteger => Kind(0) == ValueKind.Scalar && ins.Kind == ValueKind.Integer,
                OpSignature.IntegerToScalar => Kind(0) == ValueKind.Integer && ins.Kind == ValueKind.Scalar,
                OpSignature.ArrayElement => Kind(1) == ValueKind.Integer &&
                    (Kind(0) == ValueKind.Array && ins.Kind == ValueKind.Scalar || Kind(0) == ValueKind.Jagged && ins.Kind == ValueKind.Array
                     || Kind(0) == ValueKind.IntegerArray && ins.Kind == ValueKind.Integer),
                OpSignature.ArrayLength => Kind(0) is ValueKind.Array or ValueKind.Jagged or ValueKind.IntegerArray && ins.Kind == ValueKind.Integer,
                _ => false,
            };
            if (!ok) Fail("operand or result kinds do not match the signature " + p.Signature);
        }
        foreach (var o in trace.Outputs)
            if (o.Index < 0 || o.Index >= trace.Count) throw new InvalidOperationException($"Output {o} is out of range.\n{trace}");
    }

    /// <summary>The kind of result <paramref name="k"/> of a loop: arrays for a map, a fold's state kinds, scalars otherwise.</summary>
    private static ValueKind ProjectionKind(Trace trace, Instruction loop, int k) => loop.Op switch
    {
        Op.Map => ValueKind.Array,
        Op.Fold when k < trace.Regions[loop.C].StateCount => trace.Instructions[trace.Regions[loop.C].Initial[k].Index].Kind,
        Op.Fold when k >= trace.Regions[loop.C].ResultCount => ValueKind.Effect, // recorded values are not results
        _ => ValueKind.Scalar,
    };

    /// <summary>
    /// The checks every loop without carried state shares: operands and region defined before it, captures too, and its
    /// body a valid trace over them. Returns the region.
    /// </summary>
    private static Region VerifyLoop(Trace trace, int i, Instruction ins, Action<string> fail)
    {
        if (ins.A >= i || ins.B >= i || ins.C < 0 || ins.C >= trace.Regions.Length) fail("bad region reference");
        var region = trace.Regions[ins.C];
        foreach (var c in region.Captures)
            if (c.Index < 0 || c.Index >= i) fail("a capture is not defined before the loop");
        Verify(region.Body, region.Captures.Select(c => trace.Instructions[c.Index].Kind).ToArray(), [], []);
        return region;
    }
}
