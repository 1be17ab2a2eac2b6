using System.Linq.Expressions;
using System.Text.Json.Nodes;

namespace ExprAD.GradBench;

/// <summary>The feature (observed image point) of one observation: data, never differentiated.</summary>
public struct BaFeature
{
    public double U, V;
}

/// <summary>
/// A bundle-adjustment problem as GradBench states it: n cameras (11 parameters each), m points (3 each), p observations
/// (a weight and a feature each); observation i sees point i % m from camera i % n. The input gives one camera, point,
/// weight and feature, which are replicated.
/// </summary>
public sealed class BaProblem
{
    public int N, M, P;
    /// <summary>Camera c is Cameras[11 c .. 11 c + 10]: rotation r (3), centre C (3), focal length f, principal point (u0, v0), radial distortion (k1, k2).</summary>
    public double[] Cameras = [];
    /// <summary>Point j is Points[3 j .. 3 j + 2].</summary>
    public double[] Points = [];
    public double[] Weights = [];
    public BaFeature[] Features = [];
}

/// <summary>
/// ba: the reprojection error of one observation written as one ExprAD lambda over its 15 parameters
/// p = [camera (11), point (3), weight], with the feature as data; its 2 x 15 Jacobian comes from AD.Jacobian (reverse
/// mode here: 15 parameters, 2 outputs), the weight residual's from AD.Jacobian too. No derivative is written by hand.
/// </summary>
public static class Ba
{
    // C# expression lambdas cannot bind local variables, so the residual is composed, as gmm is, from three named
    // parts that are inlined (Expression.Invoke) into one lambda before translation: one trace, one compiled Jacobian.

    /// <summary>a · b for 3-vectors.</summary>
    private static readonly Expression<Func<double, double, double, double, double, double, double>> Dot =
        (a0, a1, a2, b0, b1, b2) => a0 * b0 + a1 * b1 + a2 * b2;

    /// <summary>
    /// One component of the rotation of o by the Rodrigues vector r, given that component of r and o, the next two
    /// cyclically (ra, rb; oa, ob), theta2 = |r|² and rDotO = r · o. With θ = √theta2 and w = r / θ:
    /// o cos θ + (w × o) sin θ + w (w · o)(1 - cos θ); when theta2 = 0, o + r × o. Both branches are traced; the select
    /// takes the value and the derivative of the branch taken.
    /// </summary>
    private static readonly Expression<Func<double, double, double, double, double, double, double, double, double>> Rotated =
        (theta2, rDotO, r, ra, rb, o, oa, ob) => theta2 != 0
            ? o * Math.Cos(Math.Sqrt(theta2))
              + (ra / Math.Sqrt(theta2) * ob - rb / Math.Sqrt(theta2) * oa) * Math.Sin(Math.Sqrt(theta2))
              + r / Math.Sqrt(theta2) * (rDotO / Math.Sqrt(theta2)) * (1 - Math.Cos(Math.Sqrt(theta2)))
            : o + (ra * ob - rb * oa);

    /// <summary>
    /// The weighted reprojection errors, given the point projected onto the image plane (u, v) = (Xc0 / Xc2, Xc1 / Xc2):
    /// radial distortion 1 + k1 s + k2 s² with s = u² + v², then focal length f and principal point (u0, v0).
    /// </summary>
    private static readonly Expression<Func<double[], BaFeature, double, double, double[]>> Residuals = (p, feat, u, v) => new[]
    {
        p[14] * (u * (1 + p[9] * (u * u + v * v) + p[10] * (u * u + v * v) * (u * u + v * v)) * p[6] + p[7] - feat.U),
        p[14] * (v * (1 + p[9] * (u * u + v * v) + p[10] * (u * u + v * v) * (u * u + v * v)) * p[6] + p[8] - feat.V),
    };

    /// <summary>
    /// The reprojection error of one observation, p = [r (3), C (3), f, u0, v0, k1, k2, X (3), w]:
    /// Xc = R(r)(X - C), then <see cref="Residuals"/> at (Xc0 / Xc2, Xc1 / Xc2).
    /// </summary>
    public static readonly Expression<Func<double[], BaFeature, double[]>> Reprojection = Compose();

    /// <summary>The weight residual 1 - w², over [w].</summary>
    public static readonly Expression<Func<double[], double[]>> WeightError = w => new[] { 1 - w[0] * w[0] };

    private static Expression<Func<double[], BaFeature, double[]>> Compose()
    {
        var p = Expression.Parameter(typeof(double[]), "p");
        var feat = Expression.Parameter(typeof(BaFeature), "feat");
        Expression At(int i) => Expression.ArrayIndex(p, Expression.Constant(i));
        Expression[] r = [At(0), At(1), At(2)];
        var o = Enumerable.Range(0, 3).Select(k => (Expression)Expression.Subtract(At(11 + k), At(3 + k))).ToArray(); // X - C
        var theta2 = Expression.Invoke(Dot, r[0], r[1], r[2], r[0], r[1], r[2]);
        var rDotO = Expression.Invoke(Dot, r[0], r[1], r[2], o[0], o[1], o[2]);
        var xc = Enumerable.Range(0, 3)
            .Select(k => Expression.Invoke(Rotated, theta2, rDotO, r[k], r[(k + 1) % 3], r[(k + 2) % 3], o[k], o[(k + 1) % 3], o[(k + 2) % 3]))
            .ToArray();
        var body = Expression.Invoke(Residuals, p, feat, Expression.Divide(xc[0], xc[2]), Expression.Divide(xc[1], xc[2]));
        return Expression.Lambda<Func<double[], BaFeature, double[]>>(body, p, feat);
    }

    /// <summary>Reads a GradBench ba input, replicating its one camera, point, weight and feature.</summary>
    public static BaProblem Read(JsonNode input)
    {
        int n = (int)input["n"]!, m = (int)input["m"]!, p = (int)input["p"]!;
        double[] camera = input["cam"]!.AsArray().Select(v => (double)v!).ToArray();
        double[] point = input["x"]!.AsArray().Select(v => (double)v!).ToArray();
        double w = (double)input["w"]!;
        var feat = input["feat"]!.AsArray();
        var problem = new BaProblem
        {
            N = n, M = m, P = p,
            Cameras = new double[11 * n], Points = new double[3 * m], Weights = new double[p], Features = new BaFeature[p],
        };
        for (int c = 0; c < n; c++) camera.CopyTo(problem.Cameras, 11 * c);
        for (int j = 0; j < m; j++) point.CopyTo(problem.Points, 3 * j);
        Array.Fill(problem.Weights, w);
        Array.Fill(problem.Features, new BaFeature { U = (double)feat[0]!, V = (double)feat[1]! });
        return problem;
    }

    /// <summary>The 15 parameters of observation i: its camera, its point and its weight.</summary>
    private static void Gather(BaProblem b, int i, Span<double> parameters)
    {
        b.Cameras.AsSpan(11 * (i % b.N), 11).CopyTo(parameters);
        b.Points.AsSpan(3 * (i % b.M), 3).CopyTo(parameters[11..]);
        parameters[14] = b.Weights[i];
    }

    /// <summary>The residuals of every observation: the objective, computed by the compiled lambdas alone (no derivative).</summary>
    public sealed class Objective(BaProblem b)
    {
        private readonly VectorValueFunc<BaFeature> _reprojection = CompileClock.Time(() => AD.Value(Reprojection, ToolOptions.Chosen));
        private readonly VectorValueFunc _weightError = CompileClock.Time(() => AD.Value(WeightError, ToolOptions.Chosen));
        private readonly double[] _parameters = new double[15];
        public readonly double[] ReprojectionErrors = new double[2 * b.P];
        public readonly double[] WeightErrors = new double[b.P];

        public void Run()
        {
            var parameters = _parameters.AsSpan();
            for (int i = 0; i < b.P; i++)
            {
                Gather(b, i, parameters);
                _reprojection(parameters, b.Features[i], ReprojectionErrors.AsSpan(2 * i, 2));
                _weightError(parameters[14..], WeightErrors.AsSpan(i, 1));
            }
        }

        public JsonObject Output() => new()
        {
            ["reproj_error"] = new JsonObject { ["elements"] = new JsonArray(ReprojectionErrors[0], ReprojectionErrors[1]), ["repeated"] = b.P },
            ["w_err"] = new JsonObject { ["element"] = WeightErrors[0], ["repeated"] = b.P },
        };
    }

    /// <summary>
    /// The sparse (2p + p) x (11n + 3m + p) Jacobian in CSR form, every block recomputed on every run. Rows 2i and 2i + 1
    /// hold 15 entries each (observation i's camera columns, point columns, weight column), in the order of the
    /// parameters, so AD.Jacobian's row-major 2 x 15 block is written straight into the values array; then p weight rows
    /// of one entry.
    /// </summary>
    public sealed class Jacobian(BaProblem b)
    {
        private readonly JacobianFunc<BaFeature> _reprojection = CompileClock.Time(() => AD.Jacobian(Reprojection, ToolOptions.Chosen));
        private readonly JacobianFunc _weightError = CompileClock.Time(() => AD.Jacobian(WeightError, ToolOptions.Chosen));
        private readonly double[] _parameters = new double[15];
        private readonly double[] _residuals = new double[2];
        private readonly double[] _weightResidual = new double[1];
        public readonly int[] Rows = new int[3 * b.P + 1];
        public readonly int[] Cols = new int[31 * b.P];
        public readonly double[] Vals = new double[31 * b.P];

        public void Run()
        {
            var parameters = _parameters.AsSpan();
            int pointColumns = 11 * b.N, weightColumns = 11 * b.N + 3 * b.M;
            for (int i = 0; i < b.P; i++)
            {
                Gather(b, i, parameters);
                int first = 30 * i;
                _reprojection(parameters, b.Features[i], _residuals, Vals.AsSpan(first, 30));
                int camera = 11 * (i % b.N), point = pointColumns + 3 * (i % b.M);
                for (int row = 0; row < 2; row++)
                {
                    int at = first + 15 * row;
                    Rows[2 * i + row] = at;
                    for (int j = 0; j < 11; j++) Cols[at + j] = camera + j;
                    for (int j = 0; j < 3; j++) Cols[at + 11 + j] = point + j;
                    Cols[at + 14] = weightColumns + i;
                }
            }
            int weights = 30 * b.P;
            for (int i = 0; i < b.P; i++)
            {
                Rows[2 * b.P + i] = weights + i;
                Cols[weights + i] = weightColumns + i;
                _weightError(b.Weights.AsSpan(i, 1), _weightResidual, Vals.AsSpan(weights + i, 1));
            }
            Rows[3 * b.P] = 31 * b.P;
        }

        /// <summary>The suite's truncated form: the first 30 entries of each array and the last one.</summary>
        public JsonObject Output()
        {
            static JsonArray Truncated<T>(T[] values) =>
                new(values.Take(30).Append(values[^1]).Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
            return new JsonObject { ["rows"] = Truncated(Rows), ["cols"] = Truncated(Cols), ["vals"] = Truncated(Vals) };
        }
    }
}
