using System.ComponentModel;
using System.Linq.Expressions;
using System.Reflection;

namespace ExprAD.Codegen;

/// <summary>
/// The outputs of a long (chunked) kernel, read in bulk by its epilogue: output k is <c>spill[Slots[k]]</c> when
/// <c>Slots[k] &gt;= 0</c>, and the constant <c>Constants[k]</c> otherwise. A gradient of 200,000 entries then ends in one
/// loop rather than in 200,000 statements, a method the JIT would spend seconds on.
/// </summary>
internal sealed record OutputTable(ParameterExpression Spill, int[] Slots, double[] Constants)
{
    private static readonly MethodInfo WriteAll = typeof(BulkOutputs).GetMethod(nameof(BulkOutputs.Write))!;
    private static readonly MethodInfo AddAll = typeof(BulkOutputs).GetMethod(nameof(BulkOutputs.Add))!;

    /// <summary>Output <paramref name="k"/> on its own.</summary>
    public Expression Read(int k) => Slots[k] >= 0 ? Expression.ArrayIndex(Spill, Expression.Constant(Slots[k])) : Expression.Constant(Constants[k]);

    /// <summary><c>target[indices[j]] = output first + j</c> (or <c>+=</c>, bounds-checked and naming <paramref name="argument"/>, when adding).</summary>
    public Expression Scatter(ParameterExpression target, int first, int[] indices, bool add, string argument) =>
        add
            ? Expression.Call(AddAll, target, Spill, Expression.Constant(Slots[first..(first + indices.Length)]),
                Expression.Constant(Constants[first..(first + indices.Length)]), Expression.Constant(indices), Expression.Constant(argument))
            : Expression.Call(WriteAll, target, Spill, Expression.Constant(Slots[first..(first + indices.Length)]),
                Expression.Constant(Constants[first..(first + indices.Length)]), Expression.Constant(indices));
}

/// <summary>The loops behind <see cref="OutputTable"/>. Public only because compiled delegates call them; not part of the supported API.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class BulkOutputs
{
    /// <summary><c>target[indices[j]] = slots[j] &gt;= 0 ? spill[slots[j]] : constants[j]</c> for every j.</summary>
    public static void Write(Span<double> target, double[] spill, int[] slots, double[] constants, int[] indices)
    {
        for (int j = 0; j < indices.Length; j++)
            target[indices[j]] = slots[j] >= 0 ? spill[slots[j]] : constants[j];
    }

    /// <summary><c>target[indices[j]] += slots[j] &gt;= 0 ? spill[slots[j]] : constants[j]</c> for every j, each index checked.</summary>
    public static void Add(Span<double> target, double[] spill, int[] slots, double[] constants, int[] indices, string argument)
    {
        for (int j = 0; j < indices.Length; j++)
            Runtime.AddChecked(target, indices[j], slots[j] >= 0 ? spill[slots[j]] : constants[j], argument);
    }
}
