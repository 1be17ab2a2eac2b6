using ExprAD.Rules;

namespace ExprAD.IR;

/// <summary>
/// Evaluates a trace instruction by instruction with the rule table's evaluators. Slow and
/// simple: it serves the printed evaluation tables and serves as a check on code generation.
/// </summary>
internal static class TraceInterpreter
{
    /// <summary>
    /// The value of every instruction. <paramref name="input"/> gives the value of an input
    /// instruction; <paramref name="constants"/> are the runtime constants that data reads use.
    /// </summary>
    public static double[] Run(Trace trace, Func<Instruction, double> input, object[] constants,
        Func<int, int>? length = null, Action<int, int, double>? scatterAdd = null)
    {
        // Each read compiled once, when first evaluated (loop bodies read from the same table as the top level).
        var reads = new Dictionary<int, Func<object[], double>>();
        double Read(Instruction ins)
        {
            if (!reads.TryGetValue(ins.A, out var read)) reads.Add(ins.A, read = CompileRead(trace, trace.DataReads[ins.A]));
            return read(constants);
        }
        var context = new Context(input, Read,
            length ?? (_ => throw new InvalidOperationException("No array lengths given.")),
            scatterAdd ?? ((_, _, _) => throw new InvalidOperationException("No gradient to add into.")));
        return Run(trace, context, [], 0, [], []);
    }

    private sealed record Context(Func<Instruction, double> Input, Func<Instruction, double> Read, Func<int, int> Length, Action<int, int, double> ScatterAdd);

    private static double[] Run(Trace trace, Context context, double[] captured, int index, double[] state, double[] tapedState)
    {
        var values = new double[trace.Count];
        var sums = new Dictionary<int, double[]>();
        // The states a taped fold started each iteration with (every one: the interval only trades memory for time).
        var tapes = new Dictionary<int, double[][]>();
        for (int i = 0; i < trace.Count; i++)
        {
            var ins = trace.Instructions[i];
            switch (ins.Op)
            {
                case Op.Sum:
                {
                    var region = trace.Regions[ins.C];
                    var captures = region.Captures.Select(c => values[c.Index]).ToArray();
                    var totals = new double[region.Body.Outputs.Length];
                    if (region.NegativeZeroStart) Array.Fill(totals, -0.0);
                    for (int n = 0, count = (int)values[ins.B]; n < count; n++)
                    {
                        var body = Run(region.Body, context, captures, (int)values[ins.A] + n, [], []);
                        for (int k = 0; k < totals.Length; k++) totals[k] += body[region.Body.Outputs[k].Index];
                    }
                    sums[i] = totals;
                    break;
                }
                case Op.Fold:
                {
                    var region = trace.Regions[ins.C];
                    var captures = region.Captures.Select(c => values[c.Index]).ToArray();
                    var current = region.Initial.Select(v => values[v.Index]).ToArray();
                    var results = new double[region.ResultCount];
                    int count = Math.Max(0, (int)values[ins.B]);
                    var tape = region.TapeInterval > 0 ? new double[count][] : null;
                    var read = region.TapeOf is { } t ? tapes[t.Index] : null;
                    for (int step = 0; step < count; step++)
                    {
                        int n = region.Backward ? count - 1 - step : step;
                        var began = current;
                        var body = Run(region.Body, context, captures, (int)values[ins.A] + n, current, read is null ? [] : read[n]);
                        // A tape record: the state the iteration began with, then the values it records.
                        if (tape is not null) tape[n] = began.Concat(region.Body.Outputs.Skip(region.ResultCount).Select(o => body[o.Index])).ToArray();
                        current = region.Body.Outputs.Take(region.StateCount).Select(o => body[o.Index]).ToArray();
                        for (int k = region.StateCount; k < results.Length; k++) results[k] += body[region.Body.Outputs[k].Index];
                    }
                    current.CopyTo(results, 0);
                    if (tape is not null) tapes[i] = tape;
                    sums[i] = results;
                    break;
                }
                case Op.ArgMax or Op.ArgMin:
                {
                    var region = trace.Regions[ins.C];
                    var captures = region.Captures.Select(c => values[c.Index]).ToArray();
                    int best = -1;
                    double bestValue = 0;
                    for (int n = 0, count = (int)values[ins.B]; n < count; n++)
                    {
                        var body = Run(region.Body, context, captures, (int)values[ins.A] + n, [], []);
                        double v = body[region.Body.Outputs[0].Index];
                        if (region.Body.Outputs.Length > 1 && body[region.Body.Outputs[1].Index] == 0) continue;
                        if (ins.Op == Op.ArgMax ? Codegen.Runtime.TakesMax(v, bestValue, best >= 0) : Codegen.Runtime.TakesMin(v, bestValue, best >= 0))
                            (best, bestValue) = ((int)values[ins.A] + n, v);
                    }
                    if (best < 0) Codegen.Runtime.ThrowNoElements();
                    values[i] = best;
                    break;
                }
                default:
                    values[i] = ins.Op switch
                    {
                        Op.Const => ins.Number,
                        Op.Input => context.Input(ins),
                        Op.InputAt => context.Input(new Instruction(Op.Input, ValueKind.Scalar, ins.B, (int)values[ins.A])),
                        Op.InputLength => context.Length(ins.A),
                        Op.ScatterAdd => Scatter(context, ins, values),
                        Op.Data => context.Read(ins),
                        Op.LoopIndex => index,
                        Op.Capture => captured[ins.A],
                        Op.State => state[ins.A],
                        Op.TapedState => tapedState[ins.A],
                        Op.Project => sums[ins.A][ins.B],
                        _ => Evaluate(trace, ins, values),
                    };
                    break;
            }
        }
        return values;
    }

    private static double Scatter(Context context, Instruction ins, double[] values)
    {
        if (ins.Number != 0) throw new NotSupportedException("The interpreter adds into gradients, not into their tangents.");
        context.ScatterAdd(ins.C, (int)values[ins.A], values[ins.B]);
        return 0;
    }

    private static double Evaluate(Trace trace, Instruction ins, double[] values)
    {
        var p = RuleTable.Of(ins);
        var operands = new double[p.Arity];
        for (int k = 0; k < p.Arity; k++) operands[k] = values[ins.Operand(k).Index];
        return RuleTable.Evaluate(p, trace.Instructions[ins.A].Kind, operands);
    }

    private static Func<object[], double> CompileRead(Trace trace, DataRead read)
    {
        if (trace.Environment.Data is not null)
            throw new NotSupportedException("The interpreter evaluates traces without a data argument only.");
        var accessor = read.Accessor;
        var body = accessor.Type == typeof(bool)
            ? System.Linq.Expressions.Expression.Condition(accessor, System.Linq.Expressions.Expression.Constant(1.0), System.Linq.Expressions.Expression.Constant(0.0))
            : (System.Linq.Expressions.Expression)System.Linq.Expressions.Expression.Convert(accessor, typeof(double));
        return System.Linq.Expressions.Expression.Lambda<Func<object[], double>>(body, trace.Environment.Constants).Compile();
    }
}
