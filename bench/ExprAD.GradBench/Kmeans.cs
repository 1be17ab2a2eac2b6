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
/// one <see cref="AD.HessianVector{TData}"/> call (forward over reverse).
/// </summary>
public static class Kmeans
{
    /// <summary>
    /// Σ_i min_j Σ_l (C[j d + l] - P_i[l])². The minimum is an arg-extremum reduction: its value and its derivative are
    /// those of the closest centroid's distance. The difference is written twice; ExprAD's hash-consing computes it once.
    /// </summary>
    public static readonly Expression<Func<double[], KmeansData, double>> Cost = (c, p) =>
        Enumerable.Range(0, p.N).Sum(i => Enumerable.Range(0, p.K).Min(j => Enumerable.Range(0, p.D).Sum(l =>
            (c[j * p.D + l] - p.Points[i][l]) * (c[j * p.D + l] - p.Points[i][l]))));

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
                var f = CompileClock.Time(() => AD.Value(Cost));
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
                var hv = CompileClock.Time(() => AD.HessianVector(Cost));
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
