using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Passes;

/// <summary>
/// In the body of every fold, a sum at the top of the body whose own body runs sums (a sum of sums) becomes two loops
/// over the same range: a map that builds, per iteration, the results of those inner sums, then the sum, which reads
/// them from the map's arrays. The same additions happen in the same order, so values are bit-identical. Trace -> Trace.
/// </summary>
/// <remarks>
/// Reverse mode applies it before differentiating. A taped fold records such maps on its tape (see
/// <see cref="TraceBuilder.RecordValues"/>), so its backward fold reads every inner sum of every iteration instead of running
/// the inner loops again: without the split, the adjoint loop of the outer sum recomputes each inner sum before sweeping
/// it back. The map's length is the outer sum's trip count, which must not change during the fold (a constant or a captured
/// value), so that every tape record has the same width; other sums are left as they are.
/// </remarks>
internal static class NestedSumSplitting
{
    public static Trace Apply(Trace trace)
    {
        var foldBodies = new HashSet<Trace>(ReferenceEqualityComparer.Instance);
        CollectFoldBodies(trace, foldBodies);
        if (foldBodies.Count == 0) return trace;
        Trace Transform(Trace body) => foldBodies.Contains(body) ? SplitTopLevelSums(body, Transform) : body;
        var b = new TraceBuilder(trace.Environment);
        b.AdoptDataReads(trace);
        var renamed = TraceCopy.Replay(trace, b, transformBody: Transform);
        return b.Build(trace.Outputs.Select(o => renamed[o.Index]));
    }

    private static void CollectFoldBodies(Trace trace, HashSet<Trace> foldBodies)
    {
        foreach (var ins in trace.Instructions)
        {
            if (!ins.IsRegion) continue;
            var body = trace.Regions[ins.C].Body;
            if (ins.Op == Op.Fold && !trace.Regions[ins.C].Backward && trace.Regions[ins.C].TapeInterval == 0) foldBodies.Add(body);
            CollectFoldBodies(body, foldBodies);
        }
    }

    /// <summary>The fold body <paramref name="body"/> (copied standalone, its captures unchanged) with its sums of sums split.</summary>
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
