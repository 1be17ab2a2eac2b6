using System.Collections.Immutable;
using System.Linq.Expressions;
using System.Text;
using ExprAD.Rules;

namespace ExprAD.IR;

/// <summary>How a lambda parameter enters a trace.</summary>
internal enum ParameterRole : byte
{
    /// <summary>An active <c>double</c>: one input value.</summary>
    Scalar,
    /// <summary>An active <c>double[]</c>: one input value per element that is read.</summary>
    Array,
    /// <summary>Inactive data: read at call time through <see cref="Trace.DataReads"/>, never differentiated.</summary>
    Data,
}

/// <summary>
/// A value that is read at call time and never differentiated: a member of the data argument,
/// or a variable captured by a closure. <see cref="Accessor"/> is an expression over
/// <see cref="TraceEnvironment.Constants"/> and <see cref="TraceEnvironment.Data"/>; for a read of an object
/// (<see cref="Op.Read"/>, <see cref="Op.ReadAt"/>) it is a <see cref="LambdaExpression"/> whose parameters stand for the
/// instruction's operands (the object, and the index), its body over those and the same two.
/// </summary>
internal sealed record DataRead(Expression Accessor, ValueKind Kind);

/// <summary>
/// The body of a loop: a trace of its own, evaluated once per iteration, whose <see cref="Op.LoopIndex"/>
/// is the iteration number and whose <see cref="Op.Capture"/> k is the enclosing value <see cref="Captures"/>[k].
/// </summary>
internal sealed record Region(Trace Body, ImmutableArray<Value> Captures)
{
    /// <summary>For a fold: the values of the enclosing trace that seed its carried state (one per state slot).</summary>
    public ImmutableArray<Value> Initial { get; init; } = [];

    /// <summary>For a fold: the number of carried states (the first outputs of the body); the remaining outputs are summed.</summary>
    public int StateCount => Initial.Length;

    /// <summary>For a fold: iterations run from the last to the first.</summary>
    public bool Backward { get; init; }

    /// <summary>
    /// For a forward fold: records its state at the start of every k-th iteration on a tape (0: no tape), for the
    /// backward fold that <see cref="TapeOf"/> names it. With k &gt; 1 the reader recomputes the states in between.
    /// </summary>
    public int TapeInterval { get; init; }

    /// <summary>
    /// For a sum: the sums start at -0.0 rather than +0.0. Adding -0.0 changes nothing, so this reproduces a sum that
    /// starts at its first term (LINQ's Average over a sequence), which is -0.0 when every term is.
    /// </summary>
    public bool NegativeZeroStart { get; init; }

    /// <summary>
    /// For a sum: a branch evaluated only when taken. The sum runs at most one iteration (its count is 1 when the branch is
    /// taken, else 0), which computes a branch of <c>?:</c> (or the right side of <c>&amp;&amp;</c>, <c>||</c>) that could throw or
    /// reads call-time data, exactly when C# would evaluate it. Being a sum, it needs nothing new from the transforms: forward
    /// mode carries tangents through it, reverse mode's adjoint loop (a branch too) recomputes and sweeps it only when taken.
    /// Passes leave it in place (it is not a loop worth splitting, outlining or vectorising); code generation emits an <c>if</c>.
    /// </summary>
    public bool Branch { get; init; }

    /// <summary>For a sum: how it starts and whether it is a branch (see <see cref="SumStyle"/>).</summary>
    public SumStyle Style => new(NegativeZeroStart, Branch);

    /// <summary>
    /// For a taped fold: the last this many body outputs are not results but values recorded on the tape after each
    /// iteration (the results of the body's sums, and arrays of its maps), which the backward fold reads instead of recomputing them; its
    /// <see cref="Rules.Op.TapedState"/> slot StateCount + m is recorded value m.
    /// </summary>
    public int RecordedCount { get; init; }

    /// <summary>
    /// For a fold that records arrays: the length of each recorded array, in order (values of the enclosing trace, the same
    /// in every iteration), from which every tape record has the same width.
    /// </summary>
    public ImmutableArray<Value> RecordedLengths { get; init; } = [];

    /// <summary>The number of results (states, then sums): the body's outputs but the recorded ones.</summary>
    public int ResultCount => Body.Outputs.Length - RecordedCount;

    /// <summary>For a backward fold: the taped fold (a value of the enclosing trace) whose states its <see cref="Rules.Op.TapedState"/> leaves read.</summary>
    public Value? TapeOf { get; init; }
}

/// <summary>
/// The values read at call time by every trace of one lambda (its transforms and loop bodies included), numbered once:
/// an <see cref="Op.Data"/> instruction's <see cref="Instruction.A"/> indexes this table wherever the instruction is
/// copied to, so passes never renumber reads. Append-only (an index, once given, always means the same read); equal
/// accessors (same structure, never compared by printed text) share one entry.
/// </summary>
internal sealed class DataReadTable
{
    private readonly List<DataRead> _reads = new();
    private readonly Dictionary<(object, ValueKind), int> _index = new();
    private readonly Lock _lock = new();

    /// <summary>The number of a read, added when new.</summary>
    public int IndexOf(DataRead read)
    {
        // An accessor the structural key cannot encode (one holding an object, such as a table baked into the kernel) is
        // only shared with itself.
        var key = ((object?)Caching.StructuralKey.Of(read.Accessor) ?? read.Accessor, read.Kind);
        lock (_lock)
        {
            if (_index.TryGetValue(key, out int index)) return index;
            _reads.Add(read);
            _index.Add(key, _reads.Count - 1);
            return _reads.Count - 1;
        }
    }

    public DataRead this[int index] { get { lock (_lock) return _reads[index]; } }

    public int Count { get { lock (_lock) return _reads.Count; } }
}

/// <summary>The properties of a sum region that every copy of it keeps: <see cref="Region.NegativeZeroStart"/> and <see cref="Region.Branch"/>.</summary>
internal readonly record struct SumStyle(bool NegativeZeroStart = false, bool Branch = false);

/// <summary>
/// What a trace needs from the outside world, shared unchanged by every transform of it:
/// the parameters of the original lambda, the two parameters data reads are written over, and the data reads.
/// </summary>
internal sealed class TraceEnvironment
{
    public TraceEnvironment(ImmutableArray<string> parameterNames, ImmutableArray<ParameterRole> roles, Type? dataType)
    {
        ParameterNames = parameterNames;
        Roles = roles;
        Constants = Expression.Parameter(typeof(object[]), "constants");
        Data = dataType is null ? null : Expression.Parameter(dataType, "data");
    }

    /// <summary>The values the traces of this lambda read at call time.</summary>
    public DataReadTable DataReads { get; } = new();

    /// <summary>Names of the lambda's parameters, in order.</summary>
    public ImmutableArray<string> ParameterNames { get; }

    /// <summary>The role of each lambda parameter, in order.</summary>
    public ImmutableArray<ParameterRole> Roles { get; }

    /// <summary>The array of runtime constants (closure objects, captured arrays) of the lambda instance being called.</summary>
    public ParameterExpression Constants { get; }

    /// <summary>The data argument, when the lambda has one.</summary>
    public ParameterExpression? Data { get; }
}

/// <summary>
/// An evaluation trace (Wengert list): SSA instructions in evaluation order, and the values
/// it returns. Immutable; transforms and passes build new traces.
/// Invariant (checked by <see cref="Passes.TraceVerifier"/>): every operand is defined before it is used,
/// and operand kinds match what each operation expects.
/// </summary>
internal sealed class Trace
{
    public Trace(ImmutableArray<Instruction> instructions, ImmutableArray<Value> outputs,
        TraceEnvironment environment, ImmutableArray<Region> regions = default)
    {
        Instructions = instructions;
        Outputs = outputs;
        Environment = environment;
        Regions = regions.IsDefault ? [] : regions;
    }

    public ImmutableArray<Instruction> Instructions { get; }
    public ImmutableArray<Value> Outputs { get; }
    /// <summary>The call-time reads that <see cref="Op.Data"/> instructions index (shared by every trace of the lambda).</summary>
    public DataReadTable DataReads => Environment.DataReads;
    public TraceEnvironment Environment { get; }

    /// <summary>The loop bodies that region instructions (<see cref="Instruction.C"/>) refer to.</summary>
    public ImmutableArray<Region> Regions { get; }

    /// <summary>Calls <paramref name="use"/> with every value the instruction reads: its operands, and a region's captures.</summary>
    public void ForEachUse(Instruction ins, Action<int> use)
    {
        for (int k = 0; k < ins.Arity; k++) use(ins.Operand(k).Index);
        if (!ins.IsRegion) return;
        var region = Regions[ins.C];
        foreach (var c in region.Captures) use(c.Index);
        foreach (var v in region.Initial) use(v.Index);
        foreach (var v in region.RecordedLengths) use(v.Index);
        if (region.TapeOf is { } tape)
        {
            use(tape.Index);
            // With checkpoints the reader recomputes states with the taped fold's body, so it reads that body's captures too;
            // it finds recorded arrays with their lengths.
            var taped = Regions[Instructions[tape.Index].C];
            if (taped.TapeInterval > 1) foreach (var c in taped.Captures) use(c.Index);
            foreach (var v in taped.RecordedLengths) use(v.Index);
        }
    }

    public int Count => Instructions.Length;

    public Instruction this[Value v] => Instructions[v.Index];

    /// <summary>True when the trace, or a loop body in it, has effects (adds into a gradient).</summary>
    public bool HasEffects => _hasEffects ??= Instructions.Any(i => i.Kind == ValueKind.Effect) || Regions.Any(r => r.Body.HasEffects);
    private bool? _hasEffects;

    /// <summary>The active inputs (independent variables), ordered by parameter and element index.</summary>
    public ImmutableArray<Value> Inputs()
    {
        var inputs = new List<Value>();
        for (int i = 0; i < Instructions.Length; i++)
            if (Instructions[i].Op == Op.Input) inputs.Add(new Value(i));
        inputs.Sort((p, q) =>
        {
            var a = Instructions[p.Index];
            var b = Instructions[q.Index];
            return a.A != b.A ? a.A.CompareTo(b.A) : a.B.CompareTo(b.B);
        });
        return inputs.ToImmutableArray();
    }

    /// <summary>The same instructions with other outputs (unused instructions stay until dead-code elimination).</summary>
    public Trace WithOutputs(ImmutableArray<Value> outputs) => new(Instructions, outputs, Environment, Regions);

    /// <summary>A plain listing, one instruction a line, for debugging and test failure messages.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        for (int i = 0; i < Instructions.Length; i++)
        {
            var ins = Instructions[i];
            text.Append('%').Append(i).Append(" = ");
            switch (ins.Op)
            {
                case Op.Const: text.Append(ins.Number.ToString("R", System.Globalization.CultureInfo.InvariantCulture)); break;
                case Op.Input:
                    text.Append(ins.A < Environment.ParameterNames.Length ? Environment.ParameterNames[ins.A] : "p" + ins.A);
                    if (ins.B >= 0) text.Append('[').Append(ins.B).Append(']');
                    break;
                case Op.Data: text.Append("data ").Append(DataReads[ins.A].Accessor); break;
                case Op.Read: text.Append("read ").Append(DataReads[ins.B].Accessor).Append(" of ").Append(new Value(ins.A)); break;
                case Op.ReadAt: text.Append("read ").Append(DataReads[ins.C].Accessor).Append(" of ").Append(new Value(ins.A)).Append(", ").Append(new Value(ins.B)); break;
                case Op.LoopIndex: text.Append("index"); break;
                case Op.InputAt: text.Append(Environment.ParameterNames[ins.B]).Append('[').Append(new Value(ins.A)).Append(']'); break;
                case Op.InputLength: text.Append(Environment.ParameterNames[ins.A]).Append(".Length"); break;
                case Op.ScatterAdd: text.Append(ins.Number == 0 ? "gradient " : "gradient tangent ").Append(Environment.ParameterNames[ins.C]).Append('[').Append(new Value(ins.A)).Append("] += ").Append(new Value(ins.B)); break;
                case Op.Capture: text.Append("capture ").Append(ins.A); break;
                case Op.Project: text.Append("project ").Append(new Value(ins.A)).Append('.').Append(ins.B); break;
                case Op.State: text.Append("state ").Append(ins.A); break;
                case Op.TapedState: text.Append("taped state ").Append(ins.A); break;
                case Op.ZeroArray: text.Append("zeros ").Append(new Value(ins.A)); break;
                case Op.ArrayAdd: text.Append(new Value(ins.A)).Append('[').Append(new Value(ins.B)).Append("] += ").Append(new Value(ins.C)); break;
                case Op.Sum or Op.Fold or Op.Map or Op.ArgMax or Op.ArgMin:
                    var region = Regions[ins.C];
                    text.Append(region.Backward ? "backward " : "").Append(ins.Op.ToString().ToLowerInvariant()).Append(' ')
                        .Append(new Value(ins.A)).Append(", ").Append(new Value(ins.B));
                    if (ins.Op == Op.Fold) text.Append(" from (").AppendJoin(", ", region.Initial).Append(')');
                    if (region.TapeInterval > 0) text.Append(" taped every ").Append(region.TapeInterval);
                    if (region.TapeOf is { } tape) text.Append(" reading the tape of ").Append(tape);
                    text.Append(" capturing (").AppendJoin(", ", region.Captures).Append(") {").AppendLine();
                    foreach (var line in region.Body.ToString().Split('\n')) text.Append("    ").AppendLine(line.TrimEnd('\r'));
                    text.Append('}');
                    break;
                default:
                    text.Append(RuleTable.Of(ins).Name);
                    for (int k = 0; k < ins.Arity; k++) text.Append(k == 0 ? " " : ", ").Append(ins.Operand(k));
                    break;
            }
            text.Append(" : ").Append(ins.Kind).AppendLine();
        }
        text.Append("return ").AppendJoin(", ", Outputs);
        return text.ToString();
    }
}
