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
        var shared = FindShared(trace);
        if (shared.Count == 0 && trace.Regions.Length == 0) return trace;
        var b = new TraceBuilder(trace.Environment);
        var arrays = new Dictionary<string, Value>();
        bool ReplayLoop(int i, Instruction ins, Value[] renamed, Dictionary<int, Value[]> results)
        {
            if (!shared.TryGetValue(i, out var reads)) return false;
            var region = trace.Regions[ins.C];
            var first = reads.Where(r => !arrays.ContainsKey(r.Key)).ToList();
            if (first.Count > 0)
            {
                // This loop is the first to need these values: a map over its range computes them just before it.
                var child = b.CreateBody();
                var needed = Closure(region.Body, first.Select(r => r.Position));
                var body = TraceCopy.Replay(region.Body, child, c => child.Capture(renamed[region.Captures[c].Index]), include: needed.Contains);
                var columns = b.EmitMap(renamed[ins.A], renamed[ins.B], child, first.Select(r => body[r.Position]).ToArray());
                for (int k = 0; k < first.Count; k++) arrays[first[k].Key] = columns[k];
            }
            var loopBody = b.CreateBody();
            Value? Read(int j, Value[] _) =>
                reads.FirstOrDefault(r => r.Position == j) is { Key: { } key }
                    ? loopBody.Emit(Op.Element, loopBody.Capture(arrays[key]), loopBody.Sub(loopBody.LoopIndex(), loopBody.Capture(renamed[ins.A])))
                    : null;
            var replayed = TraceCopy.Replay(region.Body, loopBody, c => loopBody.Capture(renamed[region.Captures[c].Index]), Apply, replace: Read);
            var outputs = region.Body.Outputs.Select(o => replayed[o.Index]).ToArray();
            results[i] = ins.Op == Op.Map
                ? b.EmitMap(renamed[ins.A], renamed[ins.B], loopBody, outputs)
                : b.EmitSum(renamed[ins.A], renamed[ins.B], loopBody, outputs, region.Style);
            return true;
        }
        var renamedTrace = TraceCopy.Replay(trace, b, transformBody: Apply, replayRegion: ReplayLoop);
        return b.Build(trace.Outputs.Select(o => renamedTrace[o.Index]));
    }

    /// <summary>The positions that the values at <paramref name="roots"/> depend on, themselves included.</summary>
    private static HashSet<int> Closure(Trace body, IEnumerable<int> roots)
    {
        var needed = new HashSet<int>();
        var pending = new Stack<int>(roots);
        while (pending.TryPop(out int j))
        {
            if (!needed.Add(j)) continue;
            var ins = body.Instructions[j];
            for (int k = 0; k < ins.Arity; k++) pending.Push(ins.Operand(k).Index);
        }
        return needed;
    }

    /// <summary>A costly value of a loop body (at <paramref name="Position"/> in the body) and its key, equal across loops for the same value.</summary>
    private readonly record struct SharedValue(int Position, string Key);

    /// <summary>By loop: the costly values of its body that another loop over the same range computes too.</summary>
    private static Dictionary<int, List<SharedValue>> FindShared(Trace trace)
    {
        var candidates = new List<(int Loop, SharedValue Value)>();
        for (int i = 0; i < trace.Count; i++)
        {
            var ins = trace.Instructions[i];
            if (ins.Op is not (Op.Sum or Op.Map) || trace.Regions[ins.C].Branch) continue;
            var region = trace.Regions[ins.C];
            var keys = new string?[region.Body.Count];
            for (int j = 0; j < region.Body.Count; j++)
            {
                keys[j] = KeyOf(region, j, keys);
                var op = region.Body.Instructions[j];
                if (keys[j] is { } key && op.Kind == ValueKind.Scalar && op.Op != Op.Call && op.Op >= Op.Neg && RuleTable.Get(op.Op).IsCostly)
                    candidates.Add((i, new SharedValue(j, $"{ins.A}:{ins.B}:{key}")));
            }
        }
        var loopsByKey = candidates.GroupBy(c => c.Value.Key).Where(g => g.Select(c => c.Loop).Distinct().Count() > 1)
            .SelectMany(g => g).ToList();
        return loopsByKey.GroupBy(c => c.Loop).ToDictionary(g => g.Key, g => g.Select(c => c.Value).DistinctBy(v => v.Key).ToList());
    }

    /// <summary>
    /// A string naming body value <paramref name="j"/> by what it computes, from the loop index, constants, the active
    /// array's elements and the enclosing values it captures; null for anything else (data, calls, loops, checks that
    /// throw, integer division).
    /// </summary>
    private static string? KeyOf(Region region, int j, string?[] keys)
    {
        var ins = region.Body.Instructions[j];
        switch (ins.Op)
        {
            case Op.LoopIndex: return "i";
            case Op.Const: return $"{ins.Kind}{BitConverter.DoubleToInt64Bits(ins.Number)}";
            case Op.Capture: return $"o{region.Captures[ins.A].Index}";
            case Op.Input: return $"x{ins.A}[{ins.B}]";
            case Op.InputLength: return $"len{ins.A}";
            case Op.InputAt: return keys[ins.A] is { } at ? $"x{ins.B}[{at}]" : null;
        }
        bool pure = ins.Op is >= Op.Neg and <= Op.Select and not (Op.RangeCount or Op.NonEmpty)
            && !(ins.Op is Op.Div or Op.Rem && ins.Kind == ValueKind.Integer);
        if (!pure) return null;
        var key = new StringBuilder().Append('(').Append(ins.Op).Append(' ').Append(ins.Kind);
        for (int k = 0; k < ins.Arity; k++)
        {
            if (keys[ins.Operand(k).Index] is not { } operand) return null;
            key.Append(' ').Append(operand);
        }
        return key.Append(')').ToString();
    }
}
