using System.Collections.Immutable;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Transforms;

/// <summary>
/// Reverse (adjoint) mode: Trace -> Trace. The new trace first replays the primal trace, then
/// sweeps it backwards accumulating adjoints (v̄ = ∂y/∂v) with the rule table, and returns the
/// primal outputs followed by the adjoint of every active input.
/// </summary>
/// <remarks>
/// An adjoint that passed through a select (or max, min, clamp) may be an exact zero standing for "branch not taken";
/// such adjoints are marked, and their products with local partials use the zero-strong
/// <see cref="Op.MaskedMul"/>, so that a NaN or infinite partial in the untaken branch cannot
/// turn the gradient into NaN.
/// </remarks>
internal static class ReverseMode
{
    /// <summary>
    /// Differentiates <paramref name="source"/> backwards. <paramref name="seed"/> gives the adjoint of
    /// output <c>k</c> (null: not seeded). Outputs of the result: the primal outputs, then the adjoints
    /// of <paramref name="source"/>'s <see cref="Trace.Inputs"/>, in that order (zero when unreached).
    /// </summary>
    public static Trace Apply(Trace source, Func<TraceBuilder, int, Value?> seed)
    {
        var b = new TraceBuilder(source.Environment);
        b.AdoptDataReads(source);
        var primal = new Value[source.Count];
        for (int i = 0; i < source.Count; i++)
            primal[i] = b.Emit(source.Instructions[i].WithOperands(v => primal[v.Index]));

        var adjoints = new Value?[source.Count];
        var masked = new bool[source.Count];
        for (int k = 0; k < source.Outputs.Length; k++)
        {
            if (seed(b, k) is not { } s) continue;
            int o = source.Outputs[k].Index;
            adjoints[o] = adjoints[o] is { } existing ? b.Add(existing, s) : s;
        }

        for (int i = source.Count - 1; i >= 0; i--)
        {
            if (adjoints[i] is not { } adjoint) continue;
            var ins = source.Instructions[i];
            if (ins.Kind != ValueKind.Scalar || ins.Op is Op.Const or Op.Data or Op.Input) continue;
            var primitive = RuleTable.Get(ins.Op);
            if (!primitive.IsDifferentiable) continue;

            var operands = new Value[primitive.Arity];
            for (int k = 0; k < operands.Length; k++) operands[k] = primal[ins.Operand(k).Index];
            bool maskOperands = masked[i] || primitive.PassThrough is not null;

            void Contribute(int k, Value contribution)
            {
                int target = ins.Operand(k).Index;
                if (source.Instructions[target].Kind != ValueKind.Scalar) return;
                adjoints[target] = adjoints[target] is { } sum ? b.Add(sum, contribution) : contribution;
                masked[target] |= maskOperands;
            }

            if (primitive.Adjoint is { } rule)
            {
                rule(b, operands, primal[i], adjoint, Contribute);
                continue;
            }
            if (primitive.PassThrough is { } passThrough)
            {
                // The adjoint goes to the operand passed through; the others get an exact (masked) zero.
                var conditions = passThrough(b, operands);
                for (int k = 0; k < conditions.Length; k++)
                    if (conditions[k] is { } condition) Contribute(k, b.Select(condition, adjoint, b.Constant(0.0)));
                continue;
            }
            var partials = primitive.Partials!(b, operands, primal[i]);
            for (int k = 0; k < partials.Length; k++)
            {
                if (partials[k] is not { } p) continue;
                Contribute(k, masked[i] ? b.Emit(Op.MaskedMul, adjoint, p) : b.Mul(adjoint, p));
            }
        }

        var outputs = ImmutableArray.CreateBuilder<Value>();
        foreach (var o in source.Outputs) outputs.Add(primal[o.Index]);
        foreach (var input in source.Inputs()) outputs.Add(adjoints[input.Index] ?? b.Constant(0.0));
        return b.Build(outputs);
    }
}
