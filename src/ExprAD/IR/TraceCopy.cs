using System.Collections.Immutable;
using ExprAD.Rules;

namespace ExprAD.IR;

/// <summary>
/// Replaces the default copy of loop <paramref name="index"/>: emits it into the target and stores the new
/// results of every loop it stands for in <paramref name="results"/> (by original result number); false
/// leaves the loop to the default copy.
/// </summary>
internal delegate bool RegionReplay(int index, Instruction ins, Value[] renamed, Dictionary<int, Value[]> results);

/// <summary>Copies a trace, loops included, into a builder: the one copy loop that passes over traces customise.</summary>
internal static class TraceCopy
{
    /// <summary>
    /// Re-emits every instruction of <paramref name="source"/> into <paramref name="target"/> (which
    /// simplifies and hash-conses as usual) and returns the new value of each instruction; a loop's
    /// own entry stays default and its projections map to the new loop's results. A loop body's
    /// captures are mapped through <paramref name="capture"/> (kept as they are when it is null); every loop body goes through
    /// <paramref name="transformBody"/> first, when given (a pass applied at every depth). Instructions for
    /// which <paramref name="include"/> is false are skipped; <paramref name="replayRegion"/> may emit a loop
    /// its own way (a pass that trims or fuses loops). A fold body's <see cref="Op.State"/> and <see cref="Op.TapedState"/>
    /// leaves map through <paramref name="leaf"/> when given (kept as they are otherwise). A fold's own entry maps to the new fold.
    /// An instruction (not a loop) for which <paramref name="replace"/> gives a value (from its position and the renaming so
    /// far) is that value instead.
    /// </summary>
    public static Value[] Replay(Trace source, TraceBuilder target, Func<int, Value>? capture = null, Func<Trace, Trace>? transformBody = null,
        Func<int, bool>? include = null, RegionReplay? replayRegion = null, Func<Instruction, Value>? leaf = null, Func<int, Value[], Value?>? replace = null)
    {
        var renamed = new Value[source.Count];
        var results = new Dictionary<int, Value[]>();
        for (int i = 0; i < source.Count; i++)
        {
            var ins = source.Instructions[i];
            if (include?.Invoke(i) == false) continue;
            if (!ins.IsRegion && replace?.Invoke(i, renamed) is { } replacement)
            {
                renamed[i] = replacement;
                continue;
            }
            if (ins.IsRegion && replayRegion?.Invoke(i, ins, renamed, results) == true)
            {
                if (!ins.HasTupleResult) renamed[i] = results[i][0];
                continue;
            }
            switch (ins.Op)
            {
                case Op.Capture:
                    // Without a mapping the body is copied as a standalone trace, its captures unchanged.
                    renamed[i] = capture is null ? target.Emit(ins) : capture(ins.A);
                    break;
                case Op.State or Op.TapedState when leaf is not null:
                    renamed[i] = leaf(ins);
                    break;
                case Op.Sum or Op.Map:
                    results[i] = ReplayRegion(source, ins, target, renamed, transformBody);
                    break;
                case Op.Fold:
                    (renamed[i], results[i]) = ReplayFold(source, ins, target, renamed, transformBody);
                    break;
                case Op.ArgMax or Op.ArgMin:
                    renamed[i] = ReplayRegion(source, ins, target, renamed, transformBody)[0];
                    break;
                case Op.Project:
                    renamed[i] = results[ins.A][ins.B];
                    break;
                default:
                    renamed[i] = target.Emit(ins.WithOperands(v => renamed[v.Index]));
                    break;
            }
        }
        return renamed;
    }

    /// <summary>Re-emits one fold whose operands, captures, initial state and tape are already renamed; returns it and its results.</summary>
    public static (Value Fold, Value[] Results) ReplayFold(Trace source, Instruction ins, TraceBuilder target, Value[] renamed, Func<Trace, Trace>? transformBody = null)
    {
        var region = source.Regions[ins.C];
        var child = target.CreateBody();
        var bodyTrace = transformBody?.Invoke(region.Body) ?? region.Body;
        var body = Replay(bodyTrace, child, c => child.Capture(renamed[region.Captures[c].Index]), transformBody);
        return target.EmitFold(renamed[ins.A], renamed[ins.B], region.Initial.Select(v => renamed[v.Index]).ToArray(), child,
            bodyTrace.Outputs.Select(o => body[o.Index]).ToArray(), region.Backward, region.TapeInterval,
            region.TapeOf is { } tape ? renamed[tape.Index] : null, region.RecordedCount, region.RecordedLengths.Select(v => renamed[v.Index]).ToImmutableArray());
    }

    /// <summary>Re-emits one loop whose operands and captures are already renamed; returns its results.</summary>
    public static Value[] ReplayRegion(Trace source, Instruction ins, TraceBuilder target, Value[] renamed, Func<Trace, Trace>? transformBody = null)
    {
        if (ins.Op == Op.Fold) return ReplayFold(source, ins, target, renamed, transformBody).Results;
        var region = source.Regions[ins.C];
        var child = target.CreateBody();
        var bodyTrace = transformBody?.Invoke(region.Body) ?? region.Body;
        var body = Replay(bodyTrace, child, c => child.Capture(renamed[region.Captures[c].Index]), transformBody);
        var outputs = bodyTrace.Outputs.Select(o => body[o.Index]).ToArray();
        return ins.Op switch
        {
            Op.Sum => target.EmitSum(renamed[ins.A], renamed[ins.B], child, outputs, region.Style),
            Op.Map => target.EmitMap(renamed[ins.A], renamed[ins.B], child, outputs),
            _ => [target.EmitArgExtremum(ins.Op, renamed[ins.A], renamed[ins.B], child, outputs[0], outputs.Length > 1 ? outputs[1] : null)],
        };
    }
}
