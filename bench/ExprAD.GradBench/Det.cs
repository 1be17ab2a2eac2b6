using System.Linq.Expressions;
using System.Text.Json.Nodes;

namespace ExprAD.GradBench;

/// <summary>
/// det: the determinant of an ell x ell matrix A (row-major in x) by expansion by minors along the first row,
/// recursively, as GradBench states it: det M = Σ_j (-1)^j M[0][j] det(M without row 0 and column j), where j counts the
/// columns the minor still has. The lambda is built in C# by that recursion, with one difference that changes the
/// cost and not the result: the minor left after removing the first r rows depends only on which columns remain,
/// so each such minor is built once (memoised by its column set) and shared by every term that needs it. The
/// expression is then a DAG of about ell · 2^(ell-1) multiply-adds instead of the ell! of the C++ reference's
/// recursion (ExprAD's hash-consing would merge the repeated minors anyway, but building ell! nodes first would not
/// finish for ell = 11). The gradient d det / dA is ExprAD's reverse mode of that lambda.
/// </summary>
public static class Det
{
    private static readonly Dictionary<int, Expression<Func<double[], double>>> Built = [];

    /// <summary>The determinant of the <paramref name="ell"/> x <paramref name="ell"/> matrix x (row-major) as a lambda.</summary>
    public static Expression<Func<double[], double>> ByMinors(int ell)
    {
        lock (Built)
        {
            if (Built.TryGetValue(ell, out var known)) return known;
            var a = Expression.Parameter(typeof(double[]), "A");
            var minors = new Dictionary<int, Expression>();
            // The minor of rows ell - |columns| .. ell - 1 and the columns in the bit set; its first row is ell - |columns|.
            Expression Minor(int columns)
            {
                if (minors.TryGetValue(columns, out var minor)) return minor;
                int row = ell - System.Numerics.BitOperations.PopCount((uint)columns);
                Expression? sum = null;
                int position = 0;
                for (int column = 0; column < ell; column++)
                {
                    if ((columns & (1 << column)) == 0) continue;
                    Expression element = Expression.ArrayIndex(a, Expression.Constant(row * ell + column));
                    int rest = columns & ~(1 << column);
                    var term = rest == 0 ? element : Expression.Multiply(element, Minor(rest));
                    // The reference accumulates from 0, adding the even positions' terms and subtracting the odd ones'.
                    sum = sum is null
                        ? position % 2 == 0 ? term : Expression.Negate(term)
                        : position % 2 == 0 ? Expression.Add(sum, term) : Expression.Subtract(sum, term);
                    position++;
                }
                return minors[columns] = sum!;
            }
            var lambda = Expression.Lambda<Func<double[], double>>(Minor((1 << ell) - 1), a);
            Built[ell] = lambda;
            return lambda;
        }
    }

    /// <summary>det: primal (the determinant) and gradient (d det / dA, row-major).</summary>
    public static Module Module() => new("det", (function, input) =>
    {
        var a = input["A"]!.AsArray().Select(v => (double)v!).ToArray();
        int ell = (int)input["ell"]!;
        if (a.Length != ell * ell) throw new ArgumentException($"det: A has {a.Length} elements, ell = {ell} needs {ell * ell}");
        var det = ByMinors(ell);
        switch (function)
        {
            case "primal":
            {
                var f = CompileClock.Time(() => AD.Value(det, ToolOptions.Chosen));
                double y = 0;
                return new Evaluation(() => y = f(a), () => JsonValue.Create(y));
            }
            case "gradient":
            {
                var g = CompileClock.Time(() => AD.Gradient(det, ToolOptions.Chosen));
                var gradient = new double[a.Length];
                return new Evaluation(() => g(a, gradient), () => new JsonArray(gradient.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()));
            }
            default: throw new NotSupportedException($"det has no function {function}");
        }
    });
}
