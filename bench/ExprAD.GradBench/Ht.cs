using System.Linq.Expressions;
using System.Text.Json.Nodes;

namespace ExprAD.GradBench;

/// <summary>
/// ht: GradBench's hand tracking (from ADBench), both variants: simple (each correspondence is a model vertex) and
/// complicated (a point of a triangle, with barycentric us). The suite names the module <c>ht</c> and tells the
/// variants apart by an empty <c>us</c>; the tool also answers to <c>ht_simple</c> and <c>ht_complicated</c>, the
/// names of the two data folders. The model is <see cref="HtModel"/>; every derivative comes from ExprAD.
/// </summary>
public static class Ht
{
    /// <summary>
    /// Correspondences per Jacobian block: 20 gives 60 residuals, more than the 26 (28) inputs, so AD.Jacobian takes
    /// forward mode. Each block recomputes the bone transforms; measured per correspondence on hand4 (c = 400), blocks
    /// of 10, 14, 20, 25, 32 and 50 cost 1.04, 0.96, 0.78, 0.88, 0.80 and 0.94 us, and compile in 0.3-0.9 s.
    /// </summary>
    public const int BlockSize = 20;

    private static readonly Dictionary<string, Expression<Func<double[], HtData, double[]>>> Built = [];

    /// <summary>
    /// <see cref="HtModel.Residuals"/> for a model shape, a number of correspondences and the offsets, built once each.
    /// The objective takes every correspondence at once (one lambda per count, each computing the bone transforms once);
    /// the Jacobian, blocks of <see cref="BlockSize"/> (one lambda per shape, whatever the count).
    /// </summary>
    private static Expression<Func<double[], HtData, double[]>> Residuals(int[] parents, bool complicated, int size, bool offsets)
    {
        lock (Built)
        {
            var key = $"{HtModel.Key(parents, complicated)}/{size}/{offsets}";
            if (!Built.TryGetValue(key, out var lambda))
                Built[key] = lambda = new HtModel(parents, complicated).Residuals(size, offsets);
            return lambda;
        }
    }

    /// <summary>
    /// Reads a GradBench ht input: theta, the data (the correspondences' arrays padded to whole Jacobian blocks by
    /// repeating the last correspondence), the parents (the model's shape) and whether it is the complicated variant.
    /// </summary>
    public static (double[] Theta, HtData Data, int[] Parents, bool Complicated) Read(JsonNode input)
    {
        var data = input["data"]!;
        var model = data["model"]!;
        double[] Row(JsonNode? node) => node!.AsArray().Select(v => (double)v!).ToArray();
        double[] Flat(JsonNode? node) => node!.AsArray().SelectMany(r => Row(r)).ToArray();
        double[] Matrices(JsonNode? node) => node!.AsArray().SelectMany(m => Flat(m)).ToArray();
        var parents = model["parents"]!.AsArray().Select(v => (int)v!).ToArray();
        var correspondences = data["correspondences"]!.AsArray().Select(v => (int)v!).ToArray();
        var us = input["us"]!.AsArray();
        bool complicated = us.Count != 0;
        int count = correspondences.Length, padded = (count + BlockSize - 1) / BlockSize * BlockSize;
        int Padded(int i) => Math.Min(i, count - 1);
        var triangles = model["triangles"]!.AsArray().Select(t => t!.AsArray().Select(v => (int)v!).ToArray()).ToArray();
        var points = data["points"]!.AsArray().Select(Row).ToArray();
        var ht = new HtData
        {
            Bones = parents.Length,
            BaseRelatives = Matrices(model["base_relatives"]),
            InverseBaseAbsolutes = Matrices(model["inverse_base_absolutes"]),
            Positions = Flat(model["base_positions"]),
            Weights = Flat(model["weights"]),
            MirrorSign = (bool)model["is_mirrored"]! ? -1 : 1,
            Count = count,
            Vertices = Enumerable.Range(0, padded).SelectMany(i => complicated ? triangles[correspondences[Padded(i)]] : [correspondences[Padded(i)]]).ToArray(),
            Points = Enumerable.Range(0, padded).SelectMany(i => points[Padded(i)]).ToArray(),
            Us = complicated ? Enumerable.Range(0, padded).SelectMany(i => Row(us[Padded(i)])).ToArray() : [],
        };
        if (ht.Weights.Length != ht.Positions.Length / 4 * ht.Bones) throw new ArgumentException("ht: weights must have one row per vertex and one column per bone");
        var theta = Row(input["theta"]);
        if (theta.Length != 26) throw new NotSupportedException($"ht: GradBench's pose has 26 parameters, the input {theta.Length}");
        return (theta, ht, parents, complicated);
    }

    /// <summary>The ht module under <paramref name="name"/>: objective (the residuals) and jacobian (dense, [residual][column]).</summary>
    public static Module Module(string name) => new(name, (function, input) =>
    {
        var (theta, data, parents, complicated) = Read(input);
        switch (function)
        {
            case "objective":
            {
                var residuals = Residuals(parents, complicated, data.Count, offsets: false);
                var f = CompileClock.Time(() => AD.Value(residuals, ToolOptions.Chosen));
                var values = new double[3 * data.Count];
                return new Evaluation(() =>
                {
                    data.First = 0;
                    f(theta, data, values);
                }, () => new JsonArray(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()));
            }
            case "jacobian":
            {
                var block = Residuals(parents, complicated, BlockSize, offsets: complicated);
                var jacobian = new Jacobian(CompileClock.Time(() => AD.Jacobian(block, ToolOptions.Chosen)), theta, data, complicated);
                return new Evaluation(jacobian.Run, jacobian.Output);
            }
            default: throw new NotSupportedException($"{name} has no function {function}");
        }
    });

    /// <summary>
    /// The dense Jacobian, block by block: each call of the compiled block Jacobian writes its 3 · BlockSize rows
    /// (row-major over x = theta [, e0, e1]) straight into the matrix, whose rows are padded to whole blocks.
    /// </summary>
    private sealed class Jacobian(JacobianFunc<HtData> block, double[] theta, HtData data, bool complicated)
    {
        private readonly double[] _x = complicated ? [.. theta, 0, 0] : theta;
        private readonly double[] _values = new double[data.Points.Length];
        private readonly double[] _matrix = new double[data.Points.Length * (theta.Length + (complicated ? 2 : 0))];

        public void Run()
        {
            int columns = _x.Length, rows = 3 * BlockSize;
            for (int first = 0; first < data.Count; first += BlockSize)
            {
                data.First = first;
                block(_x, data, _values.AsSpan(3 * first, rows), _matrix.AsSpan(3 * first * columns, rows * columns));
            }
        }

        /// <summary>GradBench's layout: one row per residual; the complicated variant's two us columns first, then theta's.</summary>
        public JsonNode Output()
        {
            int columns = _x.Length, thetas = theta.Length;
            var order = complicated ? [thetas, thetas + 1, .. Enumerable.Range(0, thetas)] : Enumerable.Range(0, thetas).ToArray();
            return new JsonArray(Enumerable.Range(0, 3 * data.Count).Select(r =>
                (JsonNode?)new JsonArray(order.Select(c => (JsonNode?)JsonValue.Create(_matrix[r * columns + c])).ToArray())).ToArray());
        }
    }
}
