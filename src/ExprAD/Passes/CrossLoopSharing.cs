using System.Text;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Passes;

/// <summary>
/// Computes an elementwise value that several loops over the same range recompute (a cosine of x[i] in the primal sum, in the
/// fused primal-adjoint loop and in another sum's adjoint loop) once, in a map before the first of them, and lets every
/// one of those loops read it from the map's array. Reverse mode recomputes a loop's body in its adjoint loop rather than
/// storing it (right for cheap bodies, and hash-consing shares values within one loop); across loops that fusion cannot join
/// (the adjoint of a sum runs only once the sum's adjoint is known), this pass shares what is costly (the rule table's
/// <see cref="Primitive.IsCostly"/>: calls of elementary functions).
/// Trace -> Trace, at every depth. Values keep their bits (the same operations on the same operands). The map computes a
/// value for every index of the range, as the first loop that shares it does, unconditionally (only values of a loop body's
/// own straight-line code are shared, never one inside a branch or a nested loop, and only pure functions of the index, the
/// active array and values computed before the loop: no data read, no call of the user's code, nothing that may throw).
/// </summary>
internal static class CrossLoopSharing
{
    /// <summary>The trace with values recomputed across loops over one range computed once.</summary>
    public static Trace Apply(Trace trace)
    {
        // Most traces share nothing: they are returned as they are, without a copy.
        if (!SharesAnything(trace)) return trace;
        // Loop bodies first, so that the loops inside a body share among themselves before this level reads the body.
        var inner = new TraceBuilder(trace.Environment);
        var renamed = TraceCopy.Replay(trace, inner, transformBody: Apply);
        return ShareAmongLoops(inner.Build(trace.Outputs.Select(o => renamed[o.Index])));
    }

    private static bool SharesAnything(Trace trace) =>
        trace.Regions.Length > 0 && (FindShared(trace).Reads.Count > 0 || trace.Regions.Any(r => SharesAnything(r.Body)));

    /// <summary>The sharing at the top level of <paramref name="trace"/>, whose loop bodies are done.</summary>
    private static Trace ShareAmongLoops(Trace trace)
    {
        var (reads, maps, stored) = FindShared(trace);
        if (reads.Count == 0) return trace;
        var b = new TraceBuilder(trace.Environment);
        var arrays = new Dictionary<string, Value>();
        bool ReplayLoop(int i, Instruction ins, Value[] renamed, Dictionary<int, Value[]> results)
        {
            if (maps.TryGetValue(i, out var computed))
            {
                // The shared values whose operands are ready here: one map over this loop's range computes them, each copied
                // from a loop that computes it.
                var child = b.CreateBody();
                var columns = computed.Select(v =>
                {
                    var region = trace.Regions[trace.Instructions[v.Loop].C];
                    var body = TraceCopy.Replay(region.Body, child, c => child.Capture(renamed[region.Captures[c].Index]),
                        include: Closure(region.Body, v.Position).Contains);
                    return body[v.Position];
                }).ToArray();
                var built = b.EmitMap(renamed[ins.A], renamed[ins.B], child, columns);
                for (int k = 0; k < computed.Count; k++) arrays[computed[k].Key] = built[k];
            }
            if (!reads.TryGetValue(i, out var shared)) return false;
            var region = trace.Regions[ins.C];
            var loopBody = b.CreateBody();
            Value? Read(int j, Value[] _) =>
                shared.FirstOrDefault(v => v.Position == j) is { Key: { } key }
                    ? loopBody.Emit(Op.Element, loopBody.Capture(stored.TryGetValue(key, out int column) ? renamed[column] : arrays[key]),
                        loopBody.Sub(loopBody.LoopIndex(), loopBody.Capture(renamed[ins.A])))
                    : null;
            var replayed = TraceCopy.Replay(region.Body, loopBody, c => loopBody.Capture(renamed[region.Captures[c].Index]), replace: Read);
            var outputs = region.Body.Outputs.Select(o => replayed[o.Index]).ToArray();
            results[i] = ins.Op == Op.Map
                ? b.EmitMap(renamed[ins.A], renamed[ins.B], loopBody, outputs)
                : b.EmitSum(renamed[ins.A], renamed[ins.B], loopBody, outputs, region.Style);
            return true;
        }
        var renamedTrace = TraceCopy.Replay(trace, b, replayRegion: ReplayLoop);
        return b.Build(trace.Outputs.Select(o => renamedTrace[o.Index]));
    }

    /// <summary>
    /// A costly value at <paramref name="Position"/> in the body of loop <paramref name="Loop"/>, and its key, equal across
    /// loops for the same value.
    /// </summary>
    private readonly record struct SharedValue(int Loop, int Position, string Key);

    /// <summary>
    /// Reads: by loop, the costly values of its body that another loop over the same range computes too. Maps: by loop, the
    /// shared values that a map just before it computes: the first loop of their range after the last enclosing value they
    /// use (so one map usually serves a whole group of loops). Stored: shared values that the first loop computing them, a
    /// map, already stores as one of its arrays, by the position of that array's projection: the later loops read it there
    /// (reverse mode leaves such maps when it splits nested sums) and no map is added.
    /// </summary>
    private static (Dictionary<int, List<SharedValue>> Reads, Dictionary<int, List<SharedValue>> Maps, Dictionary<string, int> Stored) FindShared(Trace trace)
    {
        var candidates = new List<(SharedValue Value, int Ready)>();
        for (int i = 0; i < trace.Count; i++)
        {
            var ins = trace.Instructions[i];
            if (!IsEveryIterationLoop(trace, ins)) continue;
            var region = trace.Regions[ins.C];
            var keys = new string?[region.Body.Count];
            var ready = new int[region.Body.Count];
            for (int j = 0; j < region.Body.Count; j++)
            {
                (keys[j], ready[j]) = KeyOf(region, j, keys, ready);
                var op = region.Body.Instructions[j];
                if (keys[j] is { } key && op.Kind == ValueKind.Scalar && op.Op >= Op.Neg && RuleTable.Get(op.Op).IsCostly)
                    candidates.Add((new SharedValue(i, j, $"{ins.A}:{ins.B}:{key}"), ready[j]));
            }
        }
        var reads = new Dictionary<int, List<SharedValue>>();
        var maps = new Dictionary<int, List<SharedValue>>();
        var stored = new Dictionary<string, int>();
        foreach (var group in candidates.GroupBy(c => c.Value.Key))
        {
            var loops = group.Select(c => c.Value.Loop).Distinct().ToList();
            if (loops.Count < 2) continue;
            var first = group.First();
            int column = StoredColumn(trace, first.Value);
            if (column >= 0) stored[first.Value.Key] = column;
            foreach (var c in group.DistinctBy(c => c.Value.Loop))
                if (column < 0 || c.Value.Loop != first.Value.Loop)
                    (reads.TryGetValue(c.Value.Loop, out var list) ? list : reads[c.Value.Loop] = []).Add(c.Value);
            if (column >= 0) continue;
            var range = trace.Instructions[first.Value.Loop];
            int at = Enumerable.Range(first.Ready, first.Value.Loop - first.Ready + 1).First(i =>
                trace.Instructions[i] is var loop && IsEveryIterationLoop(trace, loop) && loop.A == range.A && loop.B == range.B);
            (maps.TryGetValue(at, out var computed) ? computed : maps[at] = []).Add(first.Value);
        }
        return (reads, maps, stored);
    }

    /// <summary>A sum or a map that is not a branch: its body runs for every index of its range.</summary>
    private static bool IsEveryIterationLoop(Trace trace, Instruction ins) => ins.Op is Op.Sum or Op.Map && !trace.Regions[ins.C].Branch;

    /// <summary>
    /// A string naming body value <paramref name="j"/> by what it computes, from the loop index, constants, the active
    /// array's elements and the enclosing values it captures, and the first position of the enclosing trace after all of
    /// those; null for anything else (data, calls, loops, checks that throw, integer division).
    /// </summary>
    private static (string? Key, int Ready) KeyOf(Region region, int j, string?[] keys, int[] ready)
    {
        var ins = region.Body.Instructions[j];
        switch (ins.Op)
        {
            case Op.LoopIndex: return ("i", 0);
            case Op.Const: return ($"{ins.Kind}{BitConverter.DoubleToInt64Bits(ins.Number)}", 0);
            case Op.Capture: return ($"o{region.Captures[ins.A].Index}", region.Captures[ins.A].Index + 1);
            case Op.Input: return ($"x{ins.A}[{ins.B}]", 0);
            case Op.InputLength: return ($"len{ins.A}", 0);
            case Op.InputAt: return keys[ins.A] is { } at ? ($"x{ins.B}[{at}]", ready[ins.A]) : (null, 0);
        }
        bool pure = ins.Op is >= Op.Neg and <= Op.Select and not (Op.RangeCount or Op.NonEmpty)
            && !(ins.Op is Op.Div or Op.Rem && ins.Kind == ValueKind.Integer);
        if (!pure) return (null, 0);
        var key = new StringBuilder().Append('(').Append(ins.Op).Append(' ').Append(ins.Kind);
        int after = 0;
        for (int k = 0; k < ins.Arity; k++)
        {
            int operand = ins.Operand(k).Index;
            if (keys[operand] is not { } name) return (null, 0);
            key.Append(' ').Append(name);
            after = Math.Max(after, ready[operand]);
        }
        return (key.Append(')').ToString(), after);
    }

    /// <summary>
    /// The position of the projection of <paramref name="value"/>'s loop that names it when that loop is a map with the value
    /// as an output; -1 otherwise.
    /// </summary>
    private static int StoredColumn(Trace trace, SharedValue value)
    {
        var loop = trace.Instructions[value.Loop];
        if (loop.Op != Op.Map) return -1;
        int output = trace.Regions[loop.C].Body.Outputs.IndexOf(new Value(value.Position));
        if (output < 0) return -1;
        for (int j = value.Loop + 1; j < trace.Count; j++)
            if (trace.Instructions[j] is { Op: Op.Project } project && project.A == value.Loop && project.B == output) return j;
        return -1;
    }

    /// <summary>The positions that the value at <paramref name="root"/> depends on, itself included.</summary>
    private static HashSet<int> Closure(Trace body, int root)
    {
        var needed = new HashSet<int>();
        var pending = new Stack<int>([root]);
        while (pending.TryPop(out int j))
        {
            if (!needed.Add(j)) continue;
            var ins = body.Instructions[j];
            for (int k = 0; k < ins.Arity; k++) pending.Push(ins.Operand(k).Index);
        }
        return needed;
    }
}
