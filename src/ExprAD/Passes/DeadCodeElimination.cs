using System.Collections.Immutable;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Passes;

/// <summary>
/// Removes instructions that no output depends on, keeping the order of the rest; inside loop
/// bodies too, where a result nobody projects is dropped from the body and a capture nobody reads
/// from the region.
/// </summary>
internal static class DeadCodeElimination
{
    /// <summary>
    /// The trace without dead code. Repeated until nothing changes: trimming a loop body can drop a capture, which can
    /// leave the value it captured (and what computed it) dead in turn.
    /// </summary>
    public static Trace Apply(Trace trace)
    {
        while (true)
        {
            var next = ApplyOnce(trace);
            if (TotalSize(next) == TotalSize(trace)) return next;
            trace = next;
        }
    }

    private static int TotalSize(Trace trace) => trace.Count + trace.Regions.Sum(r => TotalSize(r.Body));

    private static Trace ApplyOnce(Trace trace)
    {
        var live = new bool[trace.Count];
        foreach (var o in trace.Outputs) live[o.Index] = true;
        // Effects, and loops whose bodies have effects, are kept for what they do.
        for (int i = 0; i < trace.Count; i++)
        {
            var ins = trace.Instructions[i];
            if (ins.Kind == ValueKind.Effect || ins.IsRegion && trace.Regions[ins.C].Body.HasEffects) live[i] = true;
        }
        // Operands precede their users, so one backward sweep marks everything reachable.
        for (int i = trace.Count - 1; i >= 0; i--)
        {
            if (!live[i]) continue;
            trace.ForEachUse(trace.Instructions[i], operand => live[operand] = true);
        }
        if (trace.Regions.Length > 0) return ApplyWithRegions(trace, live);

        var renamed = new int[trace.Count];
        var kept = ImmutableArray.CreateBuilder<Instruction>();
        for (int i = 0; i < trace.Count; i++)
        {
            if (!live[i]) { renamed[i] = -1; continue; }
            renamed[i] = kept.Count;
            kept.Add(trace.Instructions[i].WithOperands(v => new Value(renamed[v.Index])));
        }
        if (kept.Count == trace.Count) return trace;
        var outputs = trace.Outputs.Select(o => new Value(renamed[o.Index])).ToImmutableArray();
        return new Trace(kept.ToImmutable(), outputs, trace.Environment, trace.Regions);
    }

    /// <summary>
    /// Rebuilds a trace with loops: each live region's body keeps only the results that are projected,
    /// is cleaned recursively, and captures only what the cleaned body reads.
    /// </summary>
    private static Trace ApplyWithRegions(Trace trace, bool[] live)
    {
        var projected = new Dictionary<int, SortedSet<int>>();
        for (int i = 0; i < trace.Count; i++)
            if (live[i] && trace.Instructions[i].Op == Op.Project)
            {
                var ins = trace.Instructions[i];
                if (!projected.TryGetValue(ins.A, out var set)) projected.Add(ins.A, set = new SortedSet<int>());
                set.Add(ins.B);
            }

        var b = new TraceBuilder(trace.Environment, capacity: trace.Count);
        bool TrimSum(int i, Instruction ins, Value[] renamed, Dictionary<int, Value[]> results)
        {
            if (ins.Op != Op.Sum) return false;
            var region = trace.Regions[ins.C];
            var keep = projected.TryGetValue(i, out var set) ? set.ToArray() : [];
            var body = Apply(region.Body.WithOutputs(keep.Select(k => region.Body.Outputs[k]).ToImmutableArray()));
            var child = b.CreateBody();
            var summands = Copy(body, child, capture => child.Capture(renamed[region.Captures[capture].Index]));
            var values = b.EmitSum(renamed[ins.A], renamed[ins.B], child, summands, region.Style);
            var byResult = new Value[region.Body.Outputs.Length];
            for (int k = 0; k < keep.Length; k++) byResult[keep[k]] = values[k];
            results[i] = byResult;
            return true;
        }
        var renamedAll = TraceCopy.Replay(trace, b, transformBody: Apply, include: i => live[i], replayRegion: TrimSum);
        return b.Build(trace.Outputs.Select(o => renamedAll[o.Index]));
    }

    private static Value[] Copy(Trace source, TraceBuilder target, Func<int, Value> capture)
    {
        var renamed = TraceCopy.Replay(source, target, capture);
        return source.Outputs.Select(o => renamed[o.Index]).ToArray();
    }
}
