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
/// <see cref="TraceEnvironment.Constants"/> and <see cref="TraceEnvironment.Data"/>.
/// </summary>
internal sealed record DataRead(Expression Accessor, ValueKind Kind);

/// <summary>
/// What a trace needs from the outside world, shared unchanged by every transform of it:
/// the parameters of the original lambda and the two parameters data reads are written over.
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
        ImmutableArray<DataRead> dataReads, TraceEnvironment environment)
    {
        Instructions = instructions;
        Outputs = outputs;
        DataReads = dataReads;
        Environment = environment;
    }

    public ImmutableArray<Instruction> Instructions { get; }
    public ImmutableArray<Value> Outputs { get; }
    public ImmutableArray<DataRead> DataReads { get; }
    public TraceEnvironment Environment { get; }

    public int Count => Instructions.Length;

    public Instruction this[Value v] => Instructions[v.Index];

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
    public Trace WithOutputs(ImmutableArray<Value> outputs) => new(Instructions, outputs, DataReads, Environment);

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
                default:
                    text.Append(RuleTable.Get(ins.Op).Name);
                    for (int k = 0; k < ins.Arity; k++) text.Append(k == 0 ? " " : ", ").Append(ins.Operand(k));
                    break;
            }
            text.Append(" : ").Append(ins.Kind).AppendLine();
        }
        text.Append("return ").AppendJoin(", ", Outputs);
        return text.ToString();
    }
}
