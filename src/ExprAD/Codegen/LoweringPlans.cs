using System.Linq.Expressions;
using System.Reflection;
using ExprAD.IR;

namespace ExprAD.Codegen;

/// <summary>The ways traces meet the kernel signatures of the kernel delegates: which spans inputs come from and where outputs go.</summary>
internal static class LoweringPlans
{
    private static readonly MethodInfo Read = typeof(Runtime).GetMethod(nameof(Runtime.Read))!;
    private static readonly MethodInfo Write = typeof(Runtime).GetMethod(nameof(Runtime.Write))!;
    private static readonly MethodInfo ClearFrom = typeof(Runtime).GetMethod(nameof(Runtime.ClearFrom))!;
    private static readonly MethodInfo CheckAtLeast = typeof(Runtime).GetMethod(nameof(Runtime.CheckAtLeast))!;
    private static readonly MethodInfo CheckExactlyReadOnly = typeof(Runtime).GetMethod(nameof(Runtime.CheckExactly), [typeof(ReadOnlySpan<double>), typeof(int), typeof(string)])!;
    private static readonly MethodInfo CheckExactlyWritable = typeof(Runtime).GetMethod(nameof(Runtime.CheckExactly), [typeof(Span<double>), typeof(int), typeof(string)])!;
    private static readonly MethodInfo Length = typeof(Runtime).GetMethod(nameof(Runtime.Length))!;
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
        var x = Expression.Parameter(typeof(ReadOnlySpan<double>), "x");
        var gradient = Expression.Parameter(typeof(Span<double>), "gradient");
        var environment = derived.Environment;
        var parameters = new List<ParameterExpression> { environment.Constants, x };
        var prologue = new List<Expression> { RequireLength(x, inputs) };
        prologue.Add(Expression.Call(CheckExactlyWritable, gradient, Expression.Call(Length, x), Expression.Constant("gradient")));
        if (environment.Data is { } data)
        {
            parameters.Add(data);
            if (!data.Type.IsValueType) prologue.Add(Expression.Call(CheckNotNull, data, Expression.Constant("data")));
        }
        parameters.Add(gradient);
        return new LoweringPlan
        {
            Parameters = parameters,
            Prologue = prologue,
            ReadInput = ins => Expression.Call(Read, x, Expression.Constant(ins.B)),
            // All reads of x happen before the first write, so x and gradient may even share memory.
            Epilogue = outputs => WriteAdjoints(gradient, inputs, outputs, first: 1).Append(outputs[0]),
        };
    }

    /// <summary>Forward-mode directional derivative: inputs of parameter 0 come from x, of parameter 1 from the direction.</summary>
    public static LoweringPlan Directional(Trace derived, IReadOnlyList<Instruction> inputs)
    {
        var x = Expression.Parameter(typeof(ReadOnlySpan<double>), "x");
        var direction = Expression.Parameter(typeof(ReadOnlySpan<double>), "direction");
        var derivative = Expression.Parameter(typeof(double).MakeByRefType(), "derivative");
        return new LoweringPlan
        {
            Parameters = [derived.Environment.Constants, x, direction, derivative],
            Prologue =
            [
                RequireLength(x, inputs),
                Expression.Call(CheckExactlyReadOnly, direction, Expression.Call(Length, x), Expression.Constant("direction")),
            ],
            ReadInput = ins => Expression.Call(Read, ins.A == 0 ? x : direction, Expression.Constant(ins.B)),
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

    private static Expression RequireLength(ParameterExpression x, IReadOnlyList<Instruction> inputs)
    {
        int required = inputs.Count == 0 ? 0 : inputs.Max(i => i.B) + 1;
        return Expression.Call(CheckAtLeast, x, Expression.Constant(required), Expression.Constant(x.Name));
    }

    private static IEnumerable<Expression> WriteAdjoints(ParameterExpression gradient, IReadOnlyList<Instruction> inputs, IReadOnlyList<Expression> outputs, int first)
    {
        // Entries the function never reads have derivative zero. When the read elements are exactly
        // 0..m-1, only the tail beyond m needs clearing.
        bool dense = inputs.Select((ins, k) => ins.B == k).All(ok => ok);
        yield return Expression.Call(ClearFrom, gradient, Expression.Constant(dense ? inputs.Count : 0));
        for (int k = 0; k < inputs.Count; k++)
            yield return Expression.Call(Write, gradient, Expression.Constant(inputs[k].B), outputs[first + k]);
    }
}
