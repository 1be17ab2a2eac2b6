using System.Linq.Expressions;
using System.Reflection;
using ExprAD.IR;

namespace ExprAD.Codegen;

/// <summary>
/// Where the outputs of a derived Jacobian trace go: its first <see cref="Outputs"/> outputs are the function's values,
/// and each entry puts trace output <c>Output</c> at (<c>Row</c>, <c>Column</c>) of the row-major Jacobian. Columns
/// below <see cref="RequiredLength"/> must exist in x.
/// </summary>
internal sealed record JacobianLayout(int Outputs, int RequiredLength, IReadOnlyList<(int Row, int Column, int Output)> Entries);

/// <summary>The ways traces meet the kernel signatures of the kernel delegates: which spans inputs come from and where outputs go.</summary>
internal static partial class LoweringPlans
{
    private static readonly MethodInfo Read = typeof(Runtime).GetMethod(nameof(Runtime.Read))!;
    private static readonly MethodInfo ReadChecked = typeof(Runtime).GetMethod(nameof(Runtime.ReadChecked))!;
    private static readonly MethodInfo AddChecked = typeof(Runtime).GetMethod(nameof(Runtime.AddChecked))!;
    private static readonly MethodInfo CheckNoOverlap = typeof(Runtime).GetMethod(nameof(Runtime.CheckNoOverlap))!;
    private static readonly MethodInfo Write = typeof(Runtime).GetMethod(nameof(Runtime.Write))!;
    private static readonly MethodInfo ClearFrom = typeof(Runtime).GetMethod(nameof(Runtime.ClearFrom))!;
    private static readonly MethodInfo ClearColumnsFrom = typeof(Runtime).GetMethod(nameof(Runtime.ClearColumnsFrom))!;
    private static readonly MethodInfo CheckAtLeast = typeof(Runtime).GetMethod(nameof(Runtime.CheckAtLeast))!;
    private static readonly MethodInfo CheckExactlyReadOnly = typeof(Runtime).GetMethod(nameof(Runtime.CheckExactly), [typeof(ReadOnlySpan<double>), typeof(int), typeof(string)])!;
    private static readonly MethodInfo CheckExactlyWritable = typeof(Runtime).GetMethod(nameof(Runtime.CheckExactly), [typeof(Span<double>), typeof(int), typeof(string)])!;
    private static readonly MethodInfo Length = typeof(Runtime).GetMethod(nameof(Runtime.Length))!;
    private static readonly MethodInfo CopyOut = typeof(Runtime).GetMethod(nameof(Runtime.CopyOut))!;
    private static readonly MethodInfo CheckNotNull = typeof(Runtime).GetMethod(nameof(Runtime.CheckNotNull))!;

    /// <summary>f : R -> R (and its derivatives): one scalar parameter, the first output returned.</summary>
    public static LoweringPlan Scalar(Trace trace)
    {
        var x = Expression.Parameter(typeof(double), trace.Environment.ParameterNames[0]);
        return new LoweringPlan
        {
            Parameters = [trace.Environment.Constants, x],
            ReadInput = _ => x,
            Epilogue = outputs => [outputs[0]],
        };
    }

    /// <summary>
    /// Value and gradient over an array parameter (and, when the trace has one, a data parameter).
    /// <paramref name="inputs"/> are the source trace's inputs, in the order the derived trace returns their adjoints after the value.
    /// </summary>
    public static LoweringPlan Gradient(Trace derived, IReadOnlyList<Instruction> inputs)
    {
        var gradient = Expression.Parameter(typeof(Span<double>), "gradient");
        var plan = Value(derived, inputs, gradient);
        var x = plan.Parameters[1];
        var prologue = plan.Prologue.Append(Expression.Call(CheckExactlyWritable, gradient, Expression.Call(Length, x), Expression.Constant("gradient"))).ToList();
        // With loops over x, adjoints are added into the gradient as the adjoint loops run: it is cleared
        // first, must not share memory with x, and the adjoints of constant-index reads are added last.
        // Without, every read of x happens before the first write, so x and gradient may even share memory.
        bool accumulate = PrepareToAccumulate(derived, prologue, x, gradient);
        return plan with
        {
            Prologue = prologue,
            AccumulateInto = (_, _) => (gradient, "gradient"),
            Epilogue = outputs => (accumulate ? AddAdjoints(gradient, inputs, outputs, first: 1) : WriteAdjoints(gradient, inputs, outputs, first: 1)).Append(outputs[0]),
            BulkEpilogue = table =>
            {
                var indices = inputs.Select(i => i.B).ToArray();
                var scatter = table.Scatter(gradient, first: 1, indices, add: accumulate, "gradient");
                return accumulate ? [scatter, table.Read(0)]
                    : [Expression.Call(ClearFrom, gradient, Expression.Constant(IsDense(inputs) ? inputs.Count : 0)), scatter, table.Read(0)];
            },
        };
    }

    /// <summary>The outputs of a vector-valued function, written into a values span of their number.</summary>
    public static LoweringPlan Values(Trace trace, IReadOnlyList<Instruction> inputs)
    {
        var values = Expression.Parameter(typeof(Span<double>), "values");
        var plan = Value(trace, inputs, values);
        int m = trace.Outputs.Length;
        // An array of run-time length is copied out whole; its length is checked then.
        if (m == 1 && trace[trace.Outputs[0]].Kind == ValueKind.Array)
            return plan with { Epilogue = outputs => [Expression.Call(CopyOut, outputs[0], values), Expression.Empty()] };
        return plan with
        {
            Prologue = plan.Prologue.Append(Expression.Call(CheckExactlyWritable, values, Expression.Constant(m), Expression.Constant("values"))).ToList(),
            Epilogue = outputs => Enumerable.Range(0, m)
                .Select(k => (Expression)Expression.Call(Write, values, Expression.Constant(k), outputs[k])).Append(Expression.Empty()),
            BulkEpilogue = table => [table.Scatter(values, first: 0, Enumerable.Range(0, m).ToArray(), add: false, "values"), Expression.Empty()],
        };
    }

    /// <summary>
    /// Values and dense row-major Jacobian of a vector-valued function (see <see cref="JacobianLayout"/> for where the
    /// derived trace's outputs go). Without loops reading x every entry is written (those no output covers are cleared);
    /// with them, scatter-adds accumulate into the Jacobian (flat indices, rows offset by reverse mode), so it is
    /// cleared first, must not overlap x, and the entries of the outputs are added last.
    /// </summary>
    public static LoweringPlan Jacobian(Trace derived, IReadOnlyList<Instruction> inputs, JacobianLayout layout)
    {
        var values = Expression.Parameter(typeof(Span<double>), "values");
        var jacobian = Expression.Parameter(typeof(Span<double>), "jacobian");
        var plan = Value(derived, inputs, values, jacobian);
        var x = plan.Parameters[1];
        int m = layout.Outputs;
        var prologue = plan.Prologue.ToList();
        // Forward mode writes a column for every element read, inside loops too, so x must cover them all.
        if (layout.RequiredLength > RequiredLength(inputs))
            prologue.Add(Expression.Call(CheckAtLeast, x, Expression.Constant(layout.RequiredLength), Expression.Constant(x.Name)));
        prologue.Add(Expression.Call(CheckExactlyWritable, values, Expression.Constant(m), Expression.Constant("values")));
        prologue.Add(Expression.Call(CheckExactlyWritable, jacobian, Expression.Multiply(Expression.Constant(m), Expression.Call(Length, x)), Expression.Constant("jacobian")));
        bool accumulate = PrepareToAccumulate(derived, prologue, x, jacobian);
        return plan with
        {
            Prologue = prologue,
            // The index was bounds-checked against x when the element was read (the read precedes its adjoint), so
            // row offset + index stays inside its row.
            AccumulateInto = (_, _) => (jacobian, "jacobian"),
            Epilogue = outputs => [JacobianEpilogue(x, values, jacobian, layout, accumulate, outputs)],
        };
    }

    private static Expression JacobianEpilogue(ParameterExpression x, ParameterExpression values, ParameterExpression jacobian,
        JacobianLayout layout, bool accumulate, IReadOnlyList<Expression> outputs)
    {
        int m = layout.Outputs;
        var columns = Expression.Variable(typeof(int), "columns");
        var statements = new List<Expression> { Expression.Assign(columns, Expression.Call(Length, x)) };
        if (!accumulate)
        {
            // When every row gets the same columns 0..c-1, only the columns beyond c need clearing.
            var covered = layout.Entries.Select(e => e.Column).Distinct().Order().ToArray();
            bool dense = covered.Select((c, k) => c == k).All(ok => ok) && layout.Entries.Count == m * covered.Length;
            statements.Add(dense
                ? Expression.Call(ClearColumnsFrom, jacobian, Expression.Constant(m), columns, Expression.Constant(covered.Length))
                : Expression.Call(ClearFrom, jacobian, Expression.Constant(0)));
        }
        foreach (var (row, column, output) in layout.Entries)
        {
            var index = Expression.Add(Expression.Multiply(Expression.Constant(row), columns), Expression.Constant(column));
            statements.Add(accumulate
                ? Expression.Call(AddChecked, jacobian, index, outputs[output], Expression.Constant("jacobian"))
                : Expression.Call(Write, jacobian, index, outputs[output]));
        }
        for (int k = 0; k < m; k++) statements.Add(Expression.Call(Write, values, Expression.Constant(k), outputs[k]));
        statements.Add(Expression.Empty());
        return Expression.Block(typeof(void), [columns], statements);
    }

    /// <summary>
    /// When the trace adds into <paramref name="output"/> as its loops run (it has effects), the output must not share
    /// memory with x and is cleared first: those checks join the prologue, and the answer is true.
    /// </summary>
    private static bool PrepareToAccumulate(Trace derived, List<Expression> prologue, ParameterExpression x, ParameterExpression output)
    {
        if (!derived.HasEffects) return false;
        prologue.Add(Expression.Call(CheckNoOverlap, x, output, Expression.Constant(output.Name)));
        prologue.Add(Expression.Call(ClearFrom, output, Expression.Constant(0)));
        return true;
    }

    /// <summary>
    /// Reads x[index] for a constant index: unchecked when the up-front length check covers it (every
    /// top-level read), checked otherwise (a constant index met only inside a loop).
    /// </summary>
    private static Expression ReadElement(ParameterExpression x, int index, int checkedLength) => ReadElement(x, x.Name!, index, checkedLength);

    private static Expression ReadElement(Expression span, string name, int index, int checkedLength) =>
        index < checkedLength
            ? Expression.Call(Read, span, Expression.Constant(index))
            : Expression.Call(ReadChecked, span, Expression.Constant(index), Expression.Constant(name));

    private static int RequiredLength(IReadOnlyList<Instruction> inputs) => inputs.Count == 0 ? 0 : inputs.Max(i => i.B) + 1;

    private static IEnumerable<Expression> AddAdjoints(ParameterExpression gradient, IReadOnlyList<Instruction> inputs, IReadOnlyList<Expression> outputs, int first)
    {
        for (int k = 0; k < inputs.Count; k++)
            yield return Expression.Call(AddChecked, gradient, Expression.Constant(inputs[k].B), outputs[first + k], Expression.Constant(gradient.Name));
    }

    /// <summary>
    /// The value alone, over an array parameter (and a data parameter when the trace has one); trailing
    /// parameters (the gradient, for <see cref="Gradient"/>) may be appended.
    /// </summary>
    public static LoweringPlan Value(Trace trace, IReadOnlyList<Instruction> inputs, params ParameterExpression[] trailing)
    {
        var x = Expression.Parameter(typeof(ReadOnlySpan<double>), "x");
        var environment = trace.Environment;
        var parameters = new List<ParameterExpression> { environment.Constants, x };
        var prologue = new List<Expression> { RequireLength(x, inputs) };
        if (environment.Data is { } data)
        {
            parameters.Add(data);
            if (!data.Type.IsValueType) prologue.Add(Expression.Call(CheckNotNull, data, Expression.Constant("data")));
        }
        parameters.AddRange(trailing);
        // Computed once: a trace may read hundreds of thousands of inputs.
        int checkedLength = RequiredLength(inputs);
        return new LoweringPlan
        {
            Parameters = parameters,
            Prologue = prologue,
            ReadInput = ins => ReadElement(x, ins.B, checkedLength),
            InputSpan = _ => (x, "x"),
            ReadLength = _ => Expression.Call(Length, x),
            Epilogue = outputs => [outputs[0]],
        };
    }

    /// <summary>Forward-mode directional derivative: inputs of parameter 0 come from x, of parameter 1 from the direction.</summary>
    public static LoweringPlan Directional(Trace derived, IReadOnlyList<Instruction> inputs)
    {
        var x = Expression.Parameter(typeof(ReadOnlySpan<double>), "x");
        var direction = Expression.Parameter(typeof(ReadOnlySpan<double>), "direction");
        var derivative = Expression.Parameter(typeof(double).MakeByRefType(), "derivative");
        int checkedLength = RequiredLength(inputs);
        return new LoweringPlan
        {
            Parameters = [derived.Environment.Constants, x, direction, derivative],
            Prologue =
            [
                RequireLength(x, inputs),
                Expression.Call(CheckExactlyReadOnly, direction, Expression.Call(Length, x), Expression.Constant("direction")),
            ],
            ReadInput = ins => ReadElement(ins.A == 0 ? x : direction, ins.B, checkedLength),
            InputSpan = parameter => parameter == 0 ? (x, "x") : (direction, "direction"),
            ReadLength = _ => Expression.Call(Length, x),
            Epilogue = outputs => [Expression.Assign(derivative, outputs[1]), outputs[0]],
        };
    }

    /// <summary>Value and partials of a function of <paramref name="arity"/> scalars, returned as a value tuple.</summary>
    public static LoweringPlan ScalarGradient(Trace derived, IReadOnlyList<Instruction> inputs, int arity)
    {
        var parameters = Enumerable.Range(0, arity)
            .Select(i => Expression.Parameter(typeof(double), derived.Environment.ParameterNames[i])).ToArray();
        var tupleType = Type.GetType($"System.ValueTuple`{arity + 1}")!.MakeGenericType(Enumerable.Repeat(typeof(double), arity + 1).ToArray());
        return new LoweringPlan
        {
            Parameters = [derived.Environment.Constants, .. parameters],
            ReadInput = ins => parameters[ins.A],
            Epilogue = outputs =>
            {
                var items = new Expression[arity + 1];
                items[0] = outputs[0];
                for (int p = 0; p < arity; p++) items[p + 1] = Expression.Constant(0.0);
                for (int k = 0; k < inputs.Count; k++) items[inputs[k].A + 1] = outputs[k + 1];
                return [Expression.New(tupleType.GetConstructors()[0], items)];
            },
        };
    }

    private static Expression RequireLength(ParameterExpression x, IReadOnlyList<Instruction> inputs) =>
        Expression.Call(CheckAtLeast, x, Expression.Constant(RequiredLength(inputs)), Expression.Constant(x.Name));

    /// <summary>True when the elements read are exactly 0..m-1 in order: only the tail of the gradient beyond m needs clearing.</summary>
    private static bool IsDense(IReadOnlyList<Instruction> inputs) => inputs.Select((ins, k) => ins.B == k).All(ok => ok);

    private static IEnumerable<Expression> WriteAdjoints(ParameterExpression gradient, IReadOnlyList<Instruction> inputs, IReadOnlyList<Expression> outputs, int first)
    {
        // Entries the function never reads have derivative zero. When the read elements are exactly
        // 0..m-1, only the tail beyond m needs clearing.
        yield return Expression.Call(ClearFrom, gradient, Expression.Constant(IsDense(inputs) ? inputs.Count : 0));
        for (int k = 0; k < inputs.Count; k++)
            yield return Expression.Call(Write, gradient, Expression.Constant(inputs[k].B), outputs[first + k]);
    }
}
