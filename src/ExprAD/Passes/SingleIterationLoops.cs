using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Passes;

/// <summary>
/// Writes out loops that run exactly once: a sum whose count is the constant 1 becomes its body at the loop's place (the
/// index its start), and an element at the start of a one-element map's array becomes that map's output. C# offers no
/// <c>let</c> in an expression lambda, so users bind a value with a one-element array as a loop source
/// (<c>new[] { Σ cos x_j }.Sum(c => ...)</c>); written out, the loops inside the binding are loops of the enclosing trace,
/// where later passes can fuse them with their neighbours and share work between them.
/// Trace -> Trace, at every depth; values keep their bits: a sum of one term t is 0.0 + t (-0.0 + t for a sum that
/// starts at -0.0), as the loop computed it. Branch sums (count 0 or 1 at run time) stay loops.
/// </summary>
internal static class SingleIterationLoops
{
    /// <summary>The trace with every single-iteration sum written out.</summary>
    public static Trace Apply(Trace trace)
    {
        if (!HasCandidate(trace)) return trace;
        var b = new TraceBuilder(trace.Environment);
        var renamed = WriteOut(trace, b, capture: null, index: null, new Dictionary<int, Value[]>());
        return b.Build(trace.Outputs.Select(o => renamed[o.Index]));
    }

    private static bool HasCandidate(Trace trace) =>
        trace.Instructions.Any(ins => IsSingleIteration(trace, ins)) || trace.Regions.Any(r => HasCandidate(r.Body));

    private static bool IsSingleIteration(Trace trace, Instruction ins) =>
        ins.Op is Op.Sum or Op.Map && !trace.Regions[ins.C].Branch && trace.Instructions[ins.B] is { Op: Op.Const, Kind: ValueKind.Integer, Number: 1 };

    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="target"/>, writing out its single-iteration sums; a body's captures map
    /// through <paramref name="capture"/>, its loop index to <paramref name="index"/> (both null at the top).
    /// <paramref name="mapOutputs"/> holds, by the map's position in the target, the outputs of the one-element maps written
    /// out so far (a map stays for other readers of its array; dead code elimination drops it when none is left).
    /// </summary>
    private static Value[] WriteOut(Trace source, TraceBuilder target, Func<int, Value>? capture, Value? index, Dictionary<int, Value[]> mapOutputs)
    {
        bool WriteOutLoop(int i, Instruction ins, Value[] renamed, Dictionary<int, Value[]> results)
        {
            if (!IsSingleIteration(source, ins)) return false; // copied as it is, its body through Apply
            var region = source.Regions[ins.C];
            Value[] WrittenOut()
            {
                var body = WriteOut(region.Body, target, c => renamed[region.Captures[c].Index], renamed[ins.A], mapOutputs);
                return region.Body.Outputs.Select(o => body[o.Index]).ToArray();
            }
            if (ins.Op == Op.Map)
            {
                var outputs = region.Body.HasEffects ? null : WrittenOut();
                results[i] = TraceCopy.ReplayRegion(source, ins, target, renamed, Apply);
                if (outputs is not null && results[i].Length > 0) mapOutputs[target[results[i][0]].A] = outputs;
                return true;
            }
            var start = target.Constant(region.NegativeZeroStart ? -0.0 : 0.0);
            results[i] = WrittenOut().Select(t => target.Add(start, t)).ToArray();
            return true;
        }
        Value? Replace(int i, Value[] renamed)
        {
            var ins = source.Instructions[i];
            if (ins.Op == Op.LoopIndex && index is { } at) return at;
            // element(project k of a one-element map, its start): the map's output k.
            if (ins.Op == Op.Element && target[renamed[ins.A]] is { Op: Op.Project } project
                && mapOutputs.TryGetValue(project.A, out var outputs) && SameIndex(target, renamed[ins.B], new Value(target[new Value(project.A)].A)))
                return outputs[project.B];
            return null;
        }
        return TraceCopy.Replay(source, target, capture, transformBody: Apply, replayRegion: WriteOutLoop, replace: Replace);
    }

    private static bool SameIndex(TraceBuilder b, Value a, Value c) =>
        a == c || b.TryGetConstant(a, out double x) && b.TryGetConstant(c, out double y) && x == y;
}
