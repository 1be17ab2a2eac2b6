using System.Collections.Immutable;
using ExprAD.IR;

namespace ExprAD.Passes;

/// <summary>Removes instructions that no output depends on, keeping the order of the rest.</summary>
internal static class DeadCodeElimination
{
    public static Trace Apply(Trace trace)
    {
        var live = new bool[trace.Count];
        foreach (var o in trace.Outputs) live[o.Index] = true;
        // Operands precede their users, so one backward sweep marks everything reachable.
        for (int i = trace.Count - 1; i >= 0; i--)
        {
            if (!live[i]) continue;
            var ins = trace.Instructions[i];
            for (int k = 0; k < ins.Arity; k++) live[ins.Operand(k).Index] = true;
        }

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
        return new Trace(kept.ToImmutable(), outputs, trace.DataReads, trace.Environment);
    }
}
