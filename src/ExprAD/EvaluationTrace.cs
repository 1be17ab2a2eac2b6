using System.Globalization;
using System.Text;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD;

/// <summary>
/// The evaluation trace (Wengert list) of a function in the three-part notation of Baydin and
/// Pearlmutter: inputs v[1-n] .. v[0], working variables v[1] .. v[l], and the output y.
/// <see cref="ToString"/> lists it; <see cref="ForwardTable"/> and <see cref="ReverseTable"/>
/// print, at a point, the forward tangent trace (their Table 1) and the reverse adjoint trace
/// (their Table 2). The tables are computed by interpreting the trace with the rule table, not
/// by compiled code.
/// </summary>
public sealed class EvaluationTrace
{
    private readonly Trace _trace;
    private readonly object[] _constants;
    private readonly Value[] _inputs;
    private readonly string[] _names;

    internal EvaluationTrace(Trace trace, object[] constants)
    {
        _trace = trace;
        _constants = constants;
        _inputs = trace.Inputs().ToArray();
        _names = new string[trace.Count];
        for (int k = 0; k < _inputs.Length; k++) _names[_inputs[k].Index] = "v" + (k + 1 - _inputs.Length);
        int working = 0;
        for (int i = 0; i < trace.Count; i++)
            if (IsWorking(i)) _names[i] = "v" + ++working;
        WorkingVariableCount = working;
    }

    /// <summary>The number n of inputs v[1-n] .. v[0].</summary>
    public int InputCount => _inputs.Length;

    /// <summary>The number l of working variables v[1] .. v[l].</summary>
    public int WorkingVariableCount { get; }

    /// <summary>The inputs in order, as written in the lambda (<c>x1</c>, or <c>x[0]</c> for an array element).</summary>
    public IReadOnlyList<string> InputNames => _inputs.Select(v => SourceName(_trace[v])).ToArray();

    /// <summary>Evaluates the trace at <paramref name="point"/> (one value per input, in <see cref="InputNames"/> order).</summary>
    /// <exception cref="ArgumentException"><paramref name="point"/> does not have <see cref="InputCount"/> values.</exception>
    /// <exception cref="NotSupportedException">The lambda has a data parameter (its value is only known to compiled delegates).</exception>
    public double Evaluate(params double[] point) => Values(point)[_trace.Outputs[0].Index];

    /// <summary>The three-part listing of the trace, one variable a line.</summary>
    public override string ToString()
    {
        var rows = new List<(string, string)>();
        foreach (var v in _inputs) rows.Add((_names[v.Index], SourceName(_trace[v])));
        for (int i = 0; i < _trace.Count; i++)
            if (IsWorking(i)) rows.Add((_names[i], Formula(i)));
        rows.Add(("y", Operand(_trace.Outputs[0].Index)));
        return string.Join(Environment.NewLine, rows.Select(r => $"{r.Item1,-4} = {r.Item2}"));
    }

    /// <summary>
    /// Table 1: the forward primal trace and, beside it, the forward tangent trace for the
    /// direction <paramref name="direction"/> (ẋ), each line with its value.
    /// </summary>
    /// <exception cref="ArgumentException">A span does not have <see cref="InputCount"/> values.</exception>
    /// <exception cref="NotSupportedException">The trace has a loop.</exception>
    public string ForwardTable(double[] point, double[] direction)
    {
        RequireStraightLine();
        var values = Values(point);
        CheckLength(direction, nameof(direction));
        var local = LocalDerivatives(point);
        var tangents = new double[_trace.Count];
        var left = PrimalLines(values);
        var right = new List<string>();
        for (int k = 0; k < _inputs.Length; k++)
        {
            tangents[_inputs[k].Index] = direction[k];
            right.Add(Line(Dot(_names[_inputs[k].Index]), Dot(SourceName(_trace[_inputs[k]])), direction[k]));
        }
        for (int i = 0; i < _trace.Count; i++)
        {
            if (!IsWorking(i)) continue;
            var terms = new List<string>();
            double sum = 0;
            foreach (var (operand, partial) in Contributions(i, local))
            {
                sum += partial * tangents[operand];
                terms.Add(Term(Dot(_names[operand]), partial));
            }
            tangents[i] = sum;
            right.Add(Line(Dot(_names[i]), terms.Count == 0 ? "0" : JoinTerms(terms), sum));
        }
        int output = _trace.Outputs[0].Index;
        right.Add(Line("ẏ", Operand(output, Dot), tangents[output]));
        return SideBySide("Forward primal trace", left, "Forward tangent trace", right);
    }

    /// <summary>
    /// Table 2: the forward primal trace, then the reverse adjoint trace (v̄ = ∂y/∂v) from ȳ = 1
    /// back to the inputs, each accumulation on its own line with the running value.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="point"/> does not have <see cref="InputCount"/> values.</exception>
    /// <exception cref="NotSupportedException">The trace has a loop.</exception>
    public string ReverseTable(double[] point)
    {
        RequireStraightLine();
        var values = Values(point);
        var local = LocalDerivatives(point);
        var adjoints = new double[_trace.Count];
        var touched = new bool[_trace.Count];
        var lines = new List<string>();
        int output = _trace.Outputs[0].Index;
        adjoints[output] = 1;
        touched[output] = true;
        lines.Add(Line(Bar(Operand(output)), "ȳ", 1));
        for (int i = _trace.Count - 1; i >= 0; i--)
        {
            if (!IsWorking(i) || !touched[i]) continue;
            foreach (var (operand, partial) in Contributions(i, local))
            {
                var term = $"{Bar(_names[i])} × {Number(partial)}";
                var formula = touched[operand] ? $"{Bar(_names[operand])} + {term}" : term;
                adjoints[operand] += adjoints[i] * partial;
                touched[operand] = true;
                lines.Add(Line(Bar(_names[operand]), formula, adjoints[operand]));
            }
        }
        foreach (var v in _inputs)
            lines.Add(Line(Bar(SourceName(_trace[v])), Bar(_names[v.Index]), adjoints[v.Index]));
        var text = new StringBuilder();
        text.AppendLine("Forward primal trace");
        foreach (var l in PrimalLines(values)) text.AppendLine(l);
        text.AppendLine();
        text.AppendLine("Reverse adjoint trace");
        foreach (var l in lines) text.AppendLine(l);
        return text.ToString().TrimEnd();
    }

    private void RequireStraightLine()
    {
        if (_trace.Regions.Length > 0)
            throw new NotSupportedException("The derivative tables print straight-line traces; this trace has a loop (print it with ToString).");
    }

    private bool IsWorking(int i) => _trace.Instructions[i].Op is not (Op.Const or Op.Input or Op.Data);

    private double[] Values(double[] point)
    {
        CheckLength(point, nameof(point));
        var position = new Dictionary<(int, int), int>();
        for (int k = 0; k < _inputs.Length; k++) position[(_trace[_inputs[k]].A, _trace[_inputs[k]].B)] = k;
        return TraceInterpreter.Run(_trace, ins => point[position[(ins.A, ins.B)]], _constants);
    }

    private void CheckLength(double[] values, string argument)
    {
        ArgumentNullException.ThrowIfNull(values, argument);
        if (values.Length != _inputs.Length) throw Errors.Error.WrongLength(argument, values.Length, _inputs.Length);
    }

    /// <summary>
    /// The local derivatives of every instruction at a point: numeric partials, and for pass-through
    /// primitives (select, max, ...) the operand passed through. Computed by building the rule
    /// table's rules into a copy of the trace and interpreting it.
    /// </summary>
    private (double?[][] Partials, int?[] PassThrough) LocalDerivatives(double[] point)
    {
        var b = new TraceBuilder(_trace.Environment);
        var primal = new Value[_trace.Count];
        var slots = new List<Value>();
        var partialSlots = new List<(int Instruction, int Operand, int Slot)>();
        var conditionSlots = new List<(int Instruction, int Operand, int Slot)>();
        for (int i = 0; i < _trace.Count; i++)
        {
            var ins = _trace.Instructions[i];
            primal[i] = b.Emit(ins.WithOperands(v => primal[v.Index]));
            if (!IsWorking(i) || ins.Kind != ValueKind.Scalar) continue;
            var p = RuleTable.Of(ins);
            var operands = Enumerable.Range(0, p.Arity).Select(k => primal[ins.Operand(k).Index]).ToArray();
            void Record(Value?[] rule, List<(int, int, int)> into)
            {
                for (int k = 0; k < rule.Length; k++)
                    if (rule[k] is { } value) { into.Add((i, k, slots.Count)); slots.Add(value); }
            }
            if (p.Partials is not null) Record(p.Partials(b, operands, primal[i]), partialSlots);
            else if (p.PassThrough is not null) Record(p.PassThrough(b, operands), conditionSlots);
        }
        var values = new EvaluationTrace(b.Build(slots), _constants).Values(point);
        var partials = new double?[_trace.Count][];
        for (int i = 0; i < _trace.Count; i++) partials[i] = new double?[3];
        foreach (var (i, k, slot) in partialSlots) partials[i][k] = values[slots[slot].Index];
        var passThrough = new int?[_trace.Count];
        foreach (var (i, k, slot) in conditionSlots)
        {
            passThrough[i] ??= -1;
            if (values[slots[slot].Index] != 0) passThrough[i] = _trace.Instructions[i].Operand(k).Index;
        }
        return (partials, passThrough);
    }

    /// <summary>(operand, ∂v_i/∂operand) for each active operand of instruction i; a pass-through primitive contributes only the operand it passes.</summary>
    private IEnumerable<(int Operand, double Partial)> Contributions(int i, (double?[][] Partials, int?[] PassThrough) local)
    {
        var ins = _trace.Instructions[i];
        if (ins.Kind != ValueKind.Scalar) yield break;
        if (local.PassThrough[i] is { } chosen)
        {
            if (chosen >= 0 && IsActive(chosen)) yield return (chosen, 1.0);
            yield break;
        }
        for (int k = 0; k < ins.Arity; k++)
        {
            int operand = ins.Operand(k).Index;
            if (local.Partials[i][k] is { } p && IsActive(operand)) yield return (operand, p);
        }
    }

    private bool IsActive(int i) => _trace.Instructions[i] is { Kind: ValueKind.Scalar, Op: not (Op.Const or Op.Data) };

    private List<string> PrimalLines(double[] values)
    {
        var lines = new List<string>();
        foreach (var v in _inputs) lines.Add(Line(_names[v.Index], SourceName(_trace[v]), values[v.Index]));
        for (int i = 0; i < _trace.Count; i++)
            if (IsWorking(i)) lines.Add(Line(_names[i], Formula(i), values[i]));
        int output = _trace.Outputs[0].Index;
        lines.Add(Line("y", Operand(output), values[output]));
        return lines;
    }

    private string Formula(int i)
    {
        var ins = _trace.Instructions[i];
        if (ins.IsRegion)
        {
            var region = _trace.Regions[ins.C];
            var captures = string.Join(", ", region.Captures.Select((c, k) => $"capture {k} = {Operand(c.Index)}"));
            var body = string.Join("; ", region.Body.ToString().Split('\n').Select(l => l.Trim()));
            var symbol = ins.Op switch { Op.Sum => "Σ", Op.Fold => "fold", Op.Map => "map", Op.ArgMax => "argmax", _ => "argmin" };
            var initial = ins.Op == Op.Fold ? $" from state ({string.Join(", ", region.Initial.Select(v => Operand(v.Index)))})" : "";
            return $"{symbol} over index = {Operand(ins.A)} .. {Operand(ins.A)} + {Operand(ins.B)} - 1{initial} of {{ {body} }}" + (captures.Length > 0 ? $" with {captures}" : "");
        }
        if (ins.Op == Op.Project) return $"{Operand(ins.A)}[{ins.B}]";
        if (ins.Op == Op.InputLength) return $"{_trace.Environment.ParameterNames[ins.A]}.Length";
        if (ins.Op == Op.InputAt) return $"{_trace.Environment.ParameterNames[ins.B]}[{Operand(ins.A)}]";
        var p = RuleTable.Of(ins);
        var args = Enumerable.Range(0, ins.Arity).Select(k => Operand(ins.Operand(k).Index)).ToArray();
        return ins.Op switch
        {
            Op.Select => $"{args[0]} ? {args[1]} : {args[2]}",
            Op.Neg => "-" + args[0],
            _ when p.IsInfix => $"{args[0]} {p.Name} {args[1]}",
            _ when p.Arity == 1 => $"{p.Name} {args[0]}",
            _ => $"{p.Name}({string.Join(", ", args)})",
        };
    }

    private string Operand(int i) => Operand(i, name => name);

    private string Operand(int i, Func<string, string> decorate)
    {
        var ins = _trace.Instructions[i];
        return ins.Op switch
        {
            Op.Const => Number(ins.Number, compact: true),
            Op.Data => _trace.DataReads[ins.A].Accessor.ToString(),
            _ => decorate(_names[i]),
        };
    }

    private string SourceName(Instruction input) =>
        _trace.Environment.ParameterNames[input.A] + (input.B >= 0 ? $"[{input.B}]" : "");

    private static string Term(string tangent, double partial) =>
        partial == 1 ? tangent : partial == -1 ? "-" + tangent : $"{tangent} × {Number(partial)}";

    private static string JoinTerms(List<string> terms) =>
        terms.Aggregate((a, t) => t.StartsWith('-') ? $"{a} - {t[1..]}" : $"{a} + {t}");

    private static string Dot(string name) => InsertMark(name, '\u0307');

    private static string Bar(string name) => InsertMark(name, '\u0304');

    // The combining mark goes on the letter: v̇-1, ẋ1, ȳ.
    private static string InsertMark(string name, char mark) => name[..1] + mark + name[1..];

    private static string Line(string name, string formula, double value) =>
        $"{Pad(name, 5)}= {Pad(formula, 28)} = {Number(value)}";

    // Pads to a width in printed columns: combining marks (the dots and bars) take none.
    private static string Pad(string text, int width) =>
        text.PadRight(width + text.Count(c => c is >= '\u0300' and <= '\u036F'));

    private static string Number(double value, bool compact = false) =>
        compact ? value.ToString("G6", CultureInfo.InvariantCulture) : value.ToString("F4", CultureInfo.InvariantCulture);

    private static string SideBySide(string leftTitle, List<string> left, string rightTitle, List<string> right)
    {
        int width = Math.Max(leftTitle.Length, left.Max(l => Pad(l, 0).Length)) + 4;
        var text = new StringBuilder();
        text.Append(leftTitle.PadRight(width)).AppendLine(rightTitle);
        for (int k = 0; k < Math.Max(left.Count, right.Count); k++)
        {
            var l = k < left.Count ? left[k] : "";
            var r = k < right.Count ? right[k] : "";
            text.Append(Pad(l, width)).AppendLine(r);
        }
        return text.ToString().TrimEnd();
    }
}
