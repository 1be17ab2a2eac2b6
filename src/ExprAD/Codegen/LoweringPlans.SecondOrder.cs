using System.Linq.Expressions;
using ExprAD.IR;

namespace ExprAD.Codegen;

internal static partial class LoweringPlans
{
    private static readonly System.Reflection.MethodInfo SliceOf = typeof(Runtime).GetMethod(nameof(Runtime.Slice))!;
    private static readonly System.Reflection.MethodInfo SliceReadOnlyOf = typeof(Runtime).GetMethod(nameof(Runtime.SliceReadOnly))!;

    /// <summary>
    /// Direction d of a block of directions is parameter <c>first + d</c> of the derived trace (so that its elements are read
    /// at the indices of x, and loops check their range once); its elements are the d-th slice, of x's length, of <paramref name="v"/>.
    /// </summary>
    private static Expression DirectionSpan(ParameterExpression v, ParameterExpression x, int first, int parameter) =>
        parameter == first ? v
            : Expression.Call(SliceReadOnlyOf, v, Expression.Multiply(Expression.Constant(parameter - first), Expression.Call(Length, x)), Expression.Call(Length, x));

    /// <summary>Reads the element an input instruction names, of a direction (see <see cref="DirectionSpan"/>) or of x.</summary>
    private static Expression ReadDirectionOrX(ParameterExpression v, ParameterExpression x, int first, Instruction ins, int checkedLength) =>
        ins.A >= first ? ReadElement(DirectionSpan(v, x, first, ins.A), "v", ins.B, checkedLength) : ReadElement(x, ins.B, checkedLength);

    /// <summary>
    /// Forward over reverse in <paramref name="directions"/> directions: the value, the gradient and, for each direction d,
    /// the Hessian times direction d. The directions come from a span <c>v</c> of <c>directions * n</c> (direction d at
    /// <c>d * n</c>, read as parameter <paramref name="directionParameter"/>); the products go to a span <c>hv</c> of the
    /// same layout. Outputs of <paramref name="derived"/>: the value and the adjoints of <paramref name="inputs"/>, then
    /// for each direction their tangents; scatter-adds go to the gradient (sink 0) or to direction d's slice of <c>hv</c>
    /// (sink 1 + d), so that their indices stay those of x and loops check their range once.
    /// </summary>
    public static LoweringPlan HessianBlock(Trace derived, IReadOnlyList<Instruction> inputs, int directions, int directionParameter)
    {
        var v = Expression.Parameter(typeof(ReadOnlySpan<double>), "v");
        var gradient = Expression.Parameter(typeof(Span<double>), "gradient");
        var hv = Expression.Parameter(typeof(Span<double>), "hv");
        var plan = Value(derived, inputs);
        var x = plan.Parameters[1];
        var parameters = plan.Parameters.ToList();
        parameters.AddRange([v, gradient, hv]);
        var n = Expression.Call(Length, x);
        var block = Expression.Multiply(Expression.Constant(directions), n);
        var prologue = plan.Prologue.ToList();
        prologue.Add(Expression.Call(CheckExactlyReadOnly, v, block, Expression.Constant("v")));
        prologue.Add(Expression.Call(CheckExactlyWritable, gradient, n, Expression.Constant("gradient")));
        prologue.Add(Expression.Call(CheckExactlyWritable, hv, block, Expression.Constant("hv")));
        bool accumulate = PrepareToAccumulate(derived, prologue, x, gradient);
        PrepareToAccumulate(derived, prologue, x, hv);
        int checkedLength = RequiredLength(inputs);
        return plan with
        {
            Parameters = parameters,
            Prologue = prologue,
            ReadInput = ins => ReadDirectionOrX(v, x, directionParameter, ins, checkedLength),
            InputSpan = parameter => parameter >= directionParameter ? (DirectionSpan(v, x, directionParameter, parameter), "v") : (x, "x"),
            AccumulateInto = (_, sink) => sink == 0 ? (gradient, "gradient")
                : (Expression.Call(SliceOf, hv, Expression.Multiply(Expression.Constant(sink - 1), n), n), "hv"),
            Epilogue = outputs => HessianBlockEpilogue(x, gradient, hv, inputs, directions, accumulate, outputs),
        };
    }

    private static IEnumerable<Expression> HessianBlockEpilogue(ParameterExpression x, ParameterExpression gradient, ParameterExpression hv,
        IReadOnlyList<Instruction> inputs, int directions, bool accumulate, IReadOnlyList<Expression> outputs)
    {
        int m = inputs.Count;
        var n = Expression.Variable(typeof(int), "n");
        var statements = new List<Expression> { Expression.Assign(n, Expression.Call(Length, x)) };
        if (!accumulate)
        {
            statements.Add(Expression.Call(ClearFrom, gradient, Expression.Constant(0)));
            statements.Add(Expression.Call(ClearFrom, hv, Expression.Constant(0)));
        }
        for (int k = 0; k < m; k++)
            statements.Add(Expression.Call(AddChecked, gradient, Expression.Constant(inputs[k].B), outputs[1 + k], Expression.Constant("gradient")));
        for (int d = 0; d < directions; d++)
            for (int k = 0; k < m; k++)
            {
                var index = Expression.Add(Expression.Multiply(Expression.Constant(d), n), Expression.Constant(inputs[k].B));
                statements.Add(Expression.Call(AddChecked, hv, index, outputs[(1 + m) * (d + 1) + 1 + k], Expression.Constant("hv")));
            }
        statements.Add(outputs[0]);
        return [Expression.Block(typeof(double), [n], statements)];
    }
}
