using ExprAD.Rules;

namespace ExprAD.IR;

/// <summary>Copies a trace, loops included, into a builder.</summary>
internal static class TraceCopy
{
    /// <summary>
    /// Re-emits every instruction of <paramref name="source"/> into <paramref name="target"/> (which
    /// simplifies and hash-conses as usual) and returns the new value of each instruction; a loop's
    /// own entry stays default and its projections map to the new loop's results. A loop body's
    /// captures are mapped through <paramref name="capture"/>.
    /// </summary>
    public static Value[] Replay(Trace source, TraceBuilder target, Func<int, Value>? capture = null)
    {
        var renamed = new Value[source.Count];
        var results = new Dictionary<int, Value[]>();
        for (int i = 0; i < source.Count; i++)
        {
            var ins = source.Instructions[i];
            switch (ins.Op)
            {
                case Op.Capture:
                    renamed[i] = (capture ?? throw new InvalidOperationException("A capture outside a loop body."))(ins.A);
                    break;
                case Op.Sum:
                {
                    var region = source.Regions[ins.C];
                    var child = target.CreateBody();
                    var body = Replay(region.Body, child, c => child.Capture(renamed[region.Captures[c].Index]));
                    results[i] = target.EmitSum(renamed[ins.A], renamed[ins.B], child, region.Body.Outputs.Select(o => body[o.Index]).ToArray());
                    break;
                }
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
}
