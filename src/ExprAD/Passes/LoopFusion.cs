using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Passes;

/// <summary>
/// Fuses two sums over the same range into one loop when the later one reads nothing computed
/// after the earlier one (so it may run there). Reverse mode leaves exactly this shape: the
/// primal sum, and later its adjoint loop, which recomputes the same body; fused, hash-consing
/// inside the joint body computes each shared value once, and the data is read once.
/// Trace -> Trace; the adjoint's additions into the gradient move earlier, which changes only the
/// order in which the gradient's terms are added.
/// </summary>
internal static class LoopFusion
{
    /// <summary>Fuses sums in <paramref name="trace"/>, then inside every loop body (where fusion brings recomputed inner loops together).</summary>
    public static Trace Apply(Trace trace)
    {
        var fused = FuseTopLevel(trace);
        if (fused.Regions.Length == 0) return fused;
        var b = new TraceBuilder(fused.Environment);
        // Replay applies the pass to every body before copying it (ReplayRegion recurses through transformBody).
        var renamed = TraceCopy.Replay(fused, b, transformBody: FuseTopLevel);
        return b.Build(fused.Outputs.Select(o => renamed[o.Index]));
    }

    private static Trace FuseTopLevel(Trace trace)
    {
        var partner = new Dictionary<int, int>(); // earlier sum -> later sum fused into it
        var fusedAway = new HashSet<int>();
        for (int later = 0; later < trace.Count; later++)
        {
            var ins = trace.Instructions[later];
            if (ins.Op != Op.Sum) continue;
            for (int earlier = later - 1; earlier >= 0; earlier--)
            {
                var candidate = trace.Instructions[earlier];
                if (candidate.Op != Op.Sum || partner.ContainsKey(earlier) || fusedAway.Contains(earlier)) continue;
                if (candidate.A != ins.A || candidate.B != ins.B) continue;
                if (trace.Regions[candidate.C].Style != trace.Regions[ins.C].Style) continue;
                // The later loop may run earlier only if what it captures is ready there; a fresh adjoint array (zeros) is
                // created before the fused loop when its length is.
                if (trace.Regions[ins.C].Captures.Any(c => c.Index >= earlier && !IsEarlyZeros(trace, c.Index, earlier))) continue;
                // An adjoint array is complete only once every loop adding into it is done: a loop reading one stays apart.
                if (ReadsZeroArray(trace, trace.Regions[ins.C]) || ReadsZeroArray(trace, trace.Regions[candidate.C])) continue;
                partner[earlier] = later;
                fusedAway.Add(later);
                break;
            }
        }
        if (partner.Count == 0) return trace;

        var b = new TraceBuilder(trace.Environment);
        var early = new HashSet<int>();
        foreach (var (earlier, later) in partner)
            foreach (var c in trace.Regions[trace.Instructions[later].C].Captures)
                if (c.Index >= earlier)
                {
                    early.Add(c.Index);
                    if (trace.Instructions[c.Index].A > earlier) early.Add(trace.Instructions[c.Index].A);
                }
        bool Fuse(int i, Instruction ins, Value[] renamed, Dictionary<int, Value[]> results)
        {
            if (!partner.TryGetValue(i, out int later)) return false;
            var first = trace.Regions[ins.C];
            var second = trace.Regions[trace.Instructions[later].C];
            // The adjoint arrays the later loop adds into are created before the fused loop (see IsEarlyZeros).
            foreach (var c in second.Captures)
            {
                if (!early.Contains(c.Index)) continue;
                var zeros = trace.Instructions[c.Index];
                if (zeros.A > i) renamed[zeros.A] = b.Emit(trace.Instructions[zeros.A].WithOperands(v => renamed[v.Index]));
                renamed[c.Index] = b.Emit(zeros.WithOperands(v => renamed[v.Index]));
            }
            var child = b.CreateBody();
            var a = TraceCopy.Replay(first.Body, child, c => child.Capture(renamed[first.Captures[c].Index]));
            var z = TraceCopy.Replay(second.Body, child, c => child.Capture(renamed[second.Captures[c].Index]));
            var outputs = first.Body.Outputs.Select(o => a[o.Index]).Concat(second.Body.Outputs.Select(o => z[o.Index])).ToArray();
            var sums = b.EmitSum(renamed[ins.A], renamed[ins.B], child, outputs, first.Style);
            results[i] = sums[..first.Body.Outputs.Length];
            results[later] = sums[first.Body.Outputs.Length..];
            return true;
        }
        // Early adjoint arrays were emitted by Fuse, before the loop that now adds into them.
        var renamedAll = TraceCopy.Replay(trace, b, include: i => !fusedAway.Contains(i) && !early.Contains(i), replayRegion: Fuse);
        return b.Build(trace.Outputs.Select(o => renamedAll[o.Index]));
    }

    /// <summary>
    /// True for a fresh adjoint array (zeros) whose length is known before instruction <paramref name="before"/> (directly,
    /// or as the length of an array defined there): it may be created there.
    /// </summary>
    private static bool IsEarlyZeros(Trace trace, int value, int before) =>
        trace.Instructions[value] is { Op: Op.ZeroArray } zeros
        && (zeros.A < before || trace.Instructions[zeros.A] is { Op: Op.ArrayLength } length && length.A < before);

    /// <summary>
    /// True when a loop's body (at any depth) reads an element of a captured adjoint array: such a loop must see the
    /// array complete, so it is never fused with a loop that may still add into it.
    /// </summary>
    private static bool ReadsZeroArray(Trace trace, Region region) =>
        ReadsCaptured(region.Body, c => trace.Instructions[region.Captures[c].Index].Op == Op.ZeroArray);

    private static bool ReadsCaptured(Trace body, Func<int, bool> isAdjointArray)
    {
        bool IsAdjointArrayLeaf(int value) => body.Instructions[value] is { Op: Op.Capture } leaf && isAdjointArray(leaf.A);
        foreach (var ins in body.Instructions)
        {
            if (ins.Op == Op.Element && IsAdjointArrayLeaf(ins.A)) return true;
            if (ins.IsRegion)
            {
                var nested = body.Regions[ins.C];
                if (ReadsCaptured(nested.Body, c => IsAdjointArrayLeaf(nested.Captures[c].Index))) return true;
            }
        }
        return false;
    }
}
