using System.Linq.Expressions;
using System.Text.Json.Nodes;

namespace ExprAD.GradBench;

/// <summary>The data of a k-means problem: the points (not differentiated) and the sizes.</summary>
public sealed class KmeansData
{
    /// <summary>Number of points, of centroids, and the dimension.</summary>
    public int N, K, D;
    /// <summary>Point i is <c>Points[i]</c> (d values).</summary>
    public double[][] Points = [];
}

/// <summary>
/// kmeans: cost = Σ_i min_j |C_j - P_i|², written as one ExprAD lambda over the centroids C (row-major, k d values);
/// dir = J ./ H_diag, the Newton direction, with J the gradient of the cost and H_diag its Hessian diagonal, both from
/// one <see cref="AD.HessianVector{TData}(Expression{Func{double[], TData, double}}, ADOptions?)"/> call (forward over reverse).
/// </summary>
public static class Kmeans
{
    private static readonly Dictionary<int, Expression<Func<double[], KmeansData, double>>> Built = [];

    /// <summary>
    /// Σ_i min_j Σ_l (C[j d + l] - P_i[l])² for points of dimension <paramref name="d"/>, that is
    /// <c>(c, p) => Enumerable.Range(0, p.N).Sum(i => Enumerable.Range(0, p.K).Min(j => Σ_l (c[j * d + l] - p.Points[i][l])²))</c>
    /// with the sum over the d coordinates written out (built for the input's d, as lstm is for its shape) and added in
    /// the reference's order. Written as a third LINQ loop it ran 2.5x slower (67 against 27 us for k = 10, d = 8): the
    /// loop's overhead on 8 iterations, and one serial chain of additions the JIT cannot overlap with the next centroid's.
    /// The minimum is an arg-extremum reduction: its value and derivative are those of the closest centroid's distance.
    /// </summary>
    public static Expression<Func<double[], KmeansData, double>> Cost(int d)
    {
        lock (Built)
        {
            if (Built.TryGetValue(d, out var known)) return known;
            var c = Expression.Parameter(typeof(double[]), "c");
            var p = Expression.Parameter(typeof(KmeansData), "p");
            var i = Expression.Parameter(typeof(int), "i");
            var j = Expression.Parameter(typeof(int), "j");
            var point = Expression.ArrayIndex(Expression.Field(p, nameof(KmeansData.Points)), i);
            var offset = Expression.Multiply(j, Expression.Constant(d));
            var squares = Enumerable.Range(0, d).Select(l =>
            {
                // One node for the difference, used twice: computed once.
                var difference = Expression.Subtract(Expression.ArrayIndex(c, Expression.Add(offset, Expression.Constant(l))),
                    Expression.ArrayIndex(point, Expression.Constant(l)));
                return (Expression)Expression.Multiply(difference, difference);
            });
            var distance = Expression.Lambda<Func<int, double>>(squares.Aggregate(Expression.Add), j);
            Expression Range(string count) => Expression.Call(typeof(Enumerable).GetMethod(nameof(Enumerable.Range))!, Expression.Constant(0), Expression.Field(p, count));
            var closest = Expression.Lambda<Func<int, double>>(Expression.Call(Reduction(nameof(Enumerable.Min)), Range(nameof(KmeansData.K)), distance), i);
            var lambda = Expression.Lambda<Func<double[], KmeansData, double>>(Expression.Call(Reduction(nameof(Enumerable.Sum)), Range(nameof(KmeansData.N)), closest), c, p);
            Built[d] = lambda;
            return lambda;
        }
    }

    /// <summary><c>Enumerable.Sum</c> or <c>Min</c> of a <c>Func&lt;int, double&gt;</c> over an <c>IEnumerable&lt;int&gt;</c>.</summary>
    private static System.Reflection.MethodInfo Reduction(string name) => typeof(Enumerable).GetMethods()
        .Single(m => m.Name == name && m.IsGenericMethodDefinition && m.ReturnType == typeof(double) && m.GetParameters().Length == 2
            && m.GetParameters()[1].ParameterType.GetGenericArguments()[1] == typeof(double)).MakeGenericMethod(typeof(int));

    /// <summary>Reads a GradBench kmeans input: the data and the centroids, flattened row-major.</summary>
    public static (KmeansData Data, double[] Centroids) Read(JsonNode input)
    {
        double[][] Rows(string name) => input[name]!.AsArray().Select(r => r!.AsArray().Select(v => (double)v!).ToArray()).ToArray();
        var points = Rows("points");
        var centroids = Rows("centroids");
        var data = new KmeansData { N = points.Length, K = centroids.Length, D = centroids[0].Length, Points = points };
        return (data, centroids.SelectMany(r => r).ToArray());
    }

    /// <summary>kmeans: cost and dir (the Newton direction J ./ H_diag, output [k][d]).</summary>
    public static Module Module() => new("kmeans", (function, input) =>
    {
        var (data, c) = Read(input);
        switch (function)
        {
            case "cost":
            {
                var f = CompileClock.Time(() => AD.Value(Cost(data.D), ToolOptions.Chosen));
                double y = 0;
                return new Evaluation(() => y = f(c, data), () => JsonValue.Create(y));
            }
            case "dir":
            {
                // Given the assignments of points to centroids (fixed in a neighbourhood of almost every C), the cost is a
                // sum of squares of C_j - P_i, one centroid coordinate each: its Hessian is diagonal (2 × the number of
                // points assigned to centroid j, on the d entries of C_j). So H · 1 is exactly that diagonal: one
                // Hessian-vector product with v = all ones gives it, with the gradient J, in one forward-over-reverse
                // sweep; no dense k d × k d Hessian is ever formed. GradBench guarantees every centroid has a point, so
                // no entry of the diagonal is zero.
                var hv = CompileClock.Time(() => AD.HessianVector(Cost(data.D), ToolOptions.Chosen));
                var ones = Enumerable.Repeat(1.0, c.Length).ToArray();
                var gradient = new double[c.Length];
                var diagonal = new double[c.Length];
                var direction = new double[c.Length];
                return new Evaluation(() =>
                {
                    hv(c, data, ones, gradient, diagonal);
                    for (int j = 0; j < direction.Length; j++) direction[j] = gradient[j] / diagonal[j];
                }, () => new JsonArray(Enumerable.Range(0, data.K).Select(j =>
                    (JsonNode?)new JsonArray(direction.Skip(j * data.D).Take(data.D).Select(v => (JsonNode?)JsonValue.Create(v)).ToArray())).ToArray()));
            }
            default: throw new NotSupportedException($"kmeans has no function {function}");
        }
    });
}
