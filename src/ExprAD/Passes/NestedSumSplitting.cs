using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Passes;

/// <summary>
/// In the body of every loop (a fold's step, a sum's or a map's iteration), a sum at the top of the body whose own body
/// runs sums (a sum of sums) becomes two loops over the same range: a map that builds, per iteration, the results of
/// those inner sums, then the sum, which reads them from the map's arrays. The same additions happen in the same order,
/// so values are bit-identical. Trace -> Trace.
/// </summary>
/// <remarks>
/// Reverse mode applies it before differentiating. Without the split, the adjoint loop of the outer sum recomputes each
/// inner sum before sweeping it back (its seed depends on the sum's result, so it cannot run with the primal loop).
/// With it, the adjoint reads the inner sums from the map: in a loop body, the map that the body's primal built (the
/// primal and adjoint copies of an enclosing loop are fused, and equal maps are built once); in a fold's step, the map
/// the taped fold records (see <see cref="TraceBuilder.RecordValues"/>). Only sums whose trip count is the same in every
/// iteration of the enclosing loop (a constant or a captured count) are split, so that a fold's tape records have one
/// width. At the top level only sums whose adjoint is not a constant are split: a sum with a constant adjoint (the loss of
/// a data set, added up) is swept in its primal loop anyway, and a map over every row would be a buffer for nothing.
/// </remarks>
internal static class NestedSumSplitting
{
    /// <summary>The primal <paramref name="trace"/> with its sums of sums split (see the class remarks for which ones).</summary>
    public static Trace Apply(Trace trace)
    {
        var loopBodies = new HashSet<Trace>(ReferenceEqualityComparer.Instance);
        CollectLoopBodies(trace, loopBodies);
        if (trace.Regions.Length == 0) return trace;
        // In a loop body, a sum whose trip count is the same in every iteration (so that a fold's tape records have one width).
        Trace Transform(Trace body) => loopBodies.Contains(body)
            ? SplitTopLevelSums(body, Transform, (_, sum) => body.Instructions[sum.B].Op is Op.Capture or Op.Const) : body;
        // At the top level, a sum whose adjoint is not a constant: its adjoint loop cannot run with its primal loop.
        var constantAdjoint = ConstantAdjoints(trace);
        return SplitTopLevelSums(trace, Transform, (i, _) => !constantAdjoint[i]);
    }

    /// <summary>
    /// For each instruction of the top-level <paramref name="trace"/>: true when its adjoint in reverse mode is a constant
    /// (independent of the point): every use passes the (constant) adjoint of an output on through sums, differences,
    /// negations and products or quotients by constants. A sum with a constant adjoint is swept in the same loop as its
    /// primal (see <see cref="LoopFusion"/>), so there is nothing to recompute.
    /// </summary>
    private static bool[] ConstantAdjoints(Trace trace)
    {
        var constant = new bool[trace.Count];
        Array.Fill(constant, true);
        bool IsConstant(int v) => trace.Instructions[v].Op == Op.Const;
        // Instructions come after their operands, so a backward walk sees every use of a value before the value.
        for (int u = trace.Count - 1; u >= 0; u--)
        {
            var use = trace.Instructions[u];
            if (use.IsRegion)
            {
                // A value a loop captures (or starts from) has an adjoint the loop computes: not a constant.
                trace.ForEachUse(use, v => constant[v] = false);
                continue;
            }
            for (int k = 0; k < use.Arity; k++)
            {
                int v = use.Operand(k).Index;
                bool linear = use.Op switch
                {
                    Op.Add or Op.Sub or Op.Neg or Op.Project => true,
                    Op.Mul => IsConstant(use.Operand(1 - k).Index),
                    Op.Div => k == 0 && IsConstant(use.B),
                    _ => false,
                };
                constant[v] &= linear && constant[u];
            }
        }
        return constant;
    }

    /// <summary>The bodies of the sums, maps and (forward, untaped) folds of <paramref name="trace"/>, at every depth.</summary>
    private static void CollectLoopBodies(Trace trace, HashSet<Trace> loopBodies)
    {
        foreach (var ins in trace.Instructions)
        {
            if (!ins.IsRegion) continue;
            var region = trace.Regions[ins.C];
            if (ins.Op is Op.Sum or Op.Map or Op.Fold && !region.Backward && region.TapeInterval == 0) loopBodies.Add(region.Body);
            CollectLoopBodies(region.Body, loopBodies);
        }
    }

    /// <summary>
    /// <paramref name="body"/> (a loop body copied standalone, its captures unchanged, or the top-level trace) with the sums
    /// of sums at its top that <paramref name="eligible"/> accepts split; every loop body inside goes through
    /// <paramref name="transformBody"/>.
    /// </summary>
    private static Trace SplitTopLevelSums(Trace body, Func<Trace, Trace> transformBody, Func<int, Instruction, bool> eligible)
    {
        var b = new TraceBuilder(body.Environment);
        bool Split(int i, Instruction ins, Value[] renamed, Dictionary<int, Value[]> results)
        {
            if (ins.Op != Op.Sum || body.Regions[ins.C].Branch || !eligible(i, ins)) return false;
            var region = body.Regions[ins.C];
            var inner = region.Body;
            // The inner sums' results that the body reads, in order: (sum, result number, projection). A branch (at most one
            // iteration, evaluated only when taken) is not a loop worth keeping in a map.
            var read = new List<(int Sum, int Result, int Projection)>();
            for (int j = 0; j < inner.Count; j++)
                if (inner.Instructions[j] is { Op: Op.Project } p && inner.Instructions[p.A] is { Op: Op.Sum } loop && !inner.Regions[loop.C].Branch)
                    read.Add((p.A, p.B, j));
            if (read.Count == 0) return false;

            Value Capture(TraceBuilder child, int c) => child.Capture(renamed[region.Captures[c].Index]);
            var mapBody = b.CreateBody();
            var mapped = TraceCopy.Replay(inner, mapBody, c => Capture(mapBody, c), transformBody);
            var arrays = b.EmitMap(renamed[ins.A], renamed[ins.B], mapBody, read.Select(r => mapped[r.Projection]).ToArray());

            var sumBody = b.CreateBody();
            bool ReadMapped(int j, Instruction loop, Value[] _, Dictionary<int, Value[]> innerResults)
            {
                if (loop.Op != Op.Sum || !read.Any(r => r.Sum == j)) return false;
                var position = sumBody.Sub(sumBody.LoopIndex(), sumBody.Capture(renamed[ins.A]));
                // Results nobody reads have no projection, and so no value to stand for.
                var values = new Value[inner.Regions[loop.C].Body.Outputs.Length];
                Array.Fill(values, sumBody.Constant(0.0));
                for (int k = 0; k < read.Count; k++)
                    if (read[k].Sum == j) values[read[k].Result] = sumBody.Emit(Op.Element, sumBody.Capture(arrays[k]), position);
                innerResults[j] = values;
                return true;
            }
            var summed = TraceCopy.Replay(inner, sumBody, c => Capture(sumBody, c), transformBody, replayRegion: ReadMapped);
            results[i] = b.EmitSum(renamed[ins.A], renamed[ins.B], sumBody, inner.Outputs.Select(o => summed[o.Index]).ToArray(), region.Style);
            return true;
        }
        var renamedBody = TraceCopy.Replay(body, b, transformBody: transformBody, replayRegion: Split);
        return b.Build(body.Outputs.Select(o => renamedBody[o.Index]));
    }
}
