using System.Linq.Expressions;
using System.Reflection;
using ExprAD.IR;

namespace ExprAD.Codegen;

internal static partial class LoweringPlans
{
    private static readonly MethodInfo CopyOutTo = typeof(Runtime).GetMethod(nameof(Runtime.CopyOutTo))!;

    /// <summary>
    /// J v of a vector-valued function by forward mode in <paramref name="directions"/> directions: the derived trace's outputs
    /// are the m values (or one array of run-time length), then for each direction their tangents. The directions come from a
    /// span <c>v</c> of <c>directions * n</c> (direction d at <c>d * n</c>, parameter <paramref name="directionParameter"/>);
    /// the products go to <c>jv</c>, direction d's at <c>d * m</c>.
    /// </summary>
    public static LoweringPlan JacobianVector(Trace derived, IReadOnlyList<Instruction> inputs, int directionParameter, int directions = 1)
    {
        var v = Expression.Parameter(typeof(ReadOnlySpan<double>), "v");
        var values = Expression.Parameter(typeof(Span<double>), "values");
        var jv = Expression.Parameter(typeof(Span<double>), "jv");
        var plan = Value(derived, inputs);
        var x = plan.Parameters[1];
        int m = derived.Outputs.Length / (directions + 1);
        var prologue = plan.Prologue.ToList();
        prologue.Add(Expression.Call(CheckExactlyReadOnly, v, Expression.Multiply(Expression.Constant(directions), Expression.Call(Length, x)), Expression.Constant("v")));
        bool array = derived[derived.Outputs[0]].Kind == ValueKind.Array;
        if (!array)
        {
            prologue.Add(Expression.Call(CheckExactlyWritable, values, Expression.Constant(m), Expression.Constant("values")));
            prologue.Add(Expression.Call(CheckExactlyWritable, jv, Expression.Constant(directions * m), Expression.Constant("jv")));
        }
        int checkedLength = RequiredLength(inputs);
        return plan with
        {
            Parameters = [.. plan.Parameters, v, values, jv],
            Prologue = prologue,
            ReadInput = ins => ReadDirectionOrX(v, x, directionParameter, ins, checkedLength),
            InputSpan = parameter => parameter >= directionParameter ? (DirectionSpan(v, x, directionParameter, parameter), "v") : (x, "x"),
            Epilogue = outputs => array ? CopyArrayProducts(outputs, values, jv, directions)
                : Enumerable.Range(0, m).Select(k => (Expression)Expression.Call(Write, values, Expression.Constant(k), outputs[k]))
                    .Concat(Enumerable.Range(0, directions * m).Select(k => Expression.Call(Write, jv, Expression.Constant(k), outputs[m + k])))
                    .Append(Expression.Empty()),
        };
    }

    /// <summary>Copies an array result into values and its tangent in direction d into jv at d times its length (jv checked first).</summary>
    private static IEnumerable<Expression> CopyArrayProducts(IReadOnlyList<Expression> outputs, ParameterExpression values, ParameterExpression jv, int directions)
    {
        var length = Expression.Variable(typeof(int), "m");
        var statements = new List<Expression>
        {
            Expression.Assign(length, Expression.ArrayLength(outputs[0])),
            Expression.Call(CopyOutTo, outputs[0], values, Expression.Constant("values")),
            Expression.Call(CheckExactlyWritable, jv, Expression.Multiply(Expression.Constant(directions), length), Expression.Constant("jv")),
        };
        for (int d = 0; d < directions; d++)
            statements.Add(Expression.Call(CopyOutTo, outputs[1 + d], Expression.Call(SliceOf, jv, Expression.Multiply(Expression.Constant(d), length), length), Expression.Constant("jv")));
        statements.Add(Expression.Empty());
        return [Expression.Block([length], statements)];
    }

    /// <summary>
    /// uᵀ J of a function with <paramref name="m"/> outputs by reverse mode, in <paramref name="sweeps"/> sweeps: the derived
    /// trace's outputs are the values, then for each sweep the adjoints of <paramref name="inputs"/> (sweep s's seeds read u,
    /// parameter <paramref name="seedParameter"/>, at s m + k); scatter-adds and adjoints go into uj, sweep s's at s n. With
    /// m = -1 the function returns one array of run-time length, seeded from u at computed indices (reads beyond u throw),
    /// and u's length is checked against sweeps times the result's.
    /// </summary>
    public static LoweringPlan VectorJacobian(Trace derived, IReadOnlyList<Instruction> inputs, int m, int seedParameter, int sweeps = 1)
    {
        var u = Expression.Parameter(typeof(ReadOnlySpan<double>), "u");
        var values = Expression.Parameter(typeof(Span<double>), "values");
        var uj = Expression.Parameter(typeof(Span<double>), "uj");
        var plan = Value(derived, inputs);
        var x = plan.Parameters[1];
        bool array = m < 0;
        int outputs = array ? 1 : m;
        var prologue = plan.Prologue.ToList();
        if (!array)
        {
            prologue.Add(Expression.Call(CheckExactlyReadOnly, u, Expression.Constant(sweeps * m), Expression.Constant("u")));
            prologue.Add(Expression.Call(CheckExactlyWritable, values, Expression.Constant(m), Expression.Constant("values")));
        }
        prologue.Add(Expression.Call(CheckExactlyWritable, uj, Expression.Multiply(Expression.Constant(sweeps), Expression.Call(Length, x)), Expression.Constant("uj")));
        bool accumulate = PrepareToAccumulate(derived, prologue, x, uj);
        return plan with
        {
            Parameters = [.. plan.Parameters, u, values, uj],
            Prologue = prologue,
            ReadInput = ins => ReadElement(ins.A == seedParameter ? u : x, ins.B, ins.A == seedParameter ? sweeps * m : RequiredLength(inputs)),
            InputSpan = parameter => parameter == seedParameter ? (u, "u") : (x, "x"),
            AccumulateInto = (_, _) => (uj, "uj"),
            Epilogue = results => (array
                    ? [Expression.Call(CheckExactlyReadOnly, u, Expression.Multiply(Expression.Constant(sweeps), Expression.ArrayLength(results[0])), Expression.Constant("u")),
                       Expression.Call(CopyOutTo, results[0], values, Expression.Constant("values"))]
                    : Enumerable.Range(0, m).Select(k => (Expression)Expression.Call(Write, values, Expression.Constant(k), results[k])))
                .Concat(sweeps == 1
                    ? accumulate ? AddAdjoints(uj, inputs, results, first: outputs) : WriteAdjoints(uj, inputs, results, first: outputs)
                    : SweepAdjoints(x, uj, inputs, results, outputs, sweeps, accumulate))
                .Append(Expression.Empty()),
        };
    }

    /// <summary>Each sweep's adjoints of the top-level inputs added into its row of uj (cleared first unless loops already added into it).</summary>
    private static IEnumerable<Expression> SweepAdjoints(ParameterExpression x, ParameterExpression uj, IReadOnlyList<Instruction> inputs,
        IReadOnlyList<Expression> results, int first, int sweeps, bool accumulate)
    {
        var n = Expression.Variable(typeof(int), "n");
        var statements = new List<Expression> { Expression.Assign(n, Expression.Call(Length, x)) };
        if (!accumulate) statements.Add(Expression.Call(ClearFrom, uj, Expression.Constant(0)));
        for (int s = 0; s < sweeps; s++)
            for (int k = 0; k < inputs.Count; k++)
                statements.Add(Expression.Call(AddChecked, uj, Expression.Add(Expression.Multiply(Expression.Constant(s), n), Expression.Constant(inputs[k].B)),
                    results[first + s * inputs.Count + k], Expression.Constant("uj")));
        statements.Add(Expression.Empty());
        return [Expression.Block([n], statements)];
    }
}
