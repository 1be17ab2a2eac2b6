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
/// width; sums at the top level are left alone (their adjoint loop usually runs with the primal loop, and a map over,
/// say, every row of a data set would be a large buffer for nothing).
/// </remarks>
internal static class NestedSumSplitting
{
    public static Trace Apply(Trace trace)
    {
        var loopBodies = new HashSet<Trace>(ReferenceEqualityComparer.Instance);
        CollectLoopBodies(trace, loopBodies);
        if (loopBodies.Count == 0) return trace;
        Trace Transform(Trace body) => loopBodies.Contains(body) ? SplitTopLevelSums(body, Transform) : body;
        var b = new TraceBuilder(trace.Environment);
        b.AdoptDataReads(trace);
        var renamed = TraceCopy.Replay(trace, b, transformBody: Transform);
        return b.Build(trace.Outputs.Select(o => renamed[o.Index]));
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

    /// <summary>The loop body <paramref name="body"/> (copied standalone, its captures unchanged) with its sums of sums split.</summary>
    private static Trace SplitTopLevelSums(Trace body, Func<Trace, Trace> transformBody)
    {
        var b = new TraceBuilder(body.Environment);
        b.AdoptDataReads(body);
        bool Split(int i, Instruction ins, Value[] renamed, Dictionary<int, Value[]> results)
        {
            if (ins.Op != Op.Sum || body.Instructions[ins.B].Op is not (Op.Capture or Op.Const)) return false;
            var region = body.Regions[ins.C];
            var inner = region.Body;
            // The inner sums' results that the body reads, in order: (sum, result number, projection).
            var read = new List<(int Sum, int Result, int Projection)>();
            for (int j = 0; j < inner.Count; j++)
                if (inner.Instructions[j] is { Op: Op.Project } p && inner.Instructions[p.A].Op == Op.Sum) read.Add((p.A, p.B, j));
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
            results[i] = b.EmitSum(renamed[ins.A], renamed[ins.B], sumBody, inner.Outputs.Select(o => summed[o.Index]).ToArray(), region.NegativeZeroStart);
            return true;
        }
        var renamedBody = TraceCopy.Replay(body, b, transformBody: transformBody, replayRegion: Split);
        return b.Build(body.Outputs.Select(o => renamedBody[o.Index]));
    }
}
