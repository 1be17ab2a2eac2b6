using System.Linq.Expressions;
using System.Text.Json.Nodes;

namespace ExprAD.GradBench;

/// <summary>
/// The modules, each objective written as an ExprAD lambda the way a user would write it; every
/// derivative comes from ExprAD (no hand-written derivative anywhere).
/// </summary>
public static class Modules
{
    public static IReadOnlyList<Module> All { get; } =
        [Hello(), Lse(), Llsq(), GmmModule(), LstmModule(), BaModule(), OdeModule(), Kmeans.Module(), Det.Module(),
         Ht.Module("ht"), Ht.Module("ht_simple"), Ht.Module("ht_complicated")];

    /// <summary>lstm: objective and jacobian (the gradient with respect to main_params then extra_params, flattened).</summary>
    private static Module LstmModule() => new("lstm", (function, input) =>
    {
        var (data, w, layers, lanes) = Lstm.Read(input);
        var objective = Lstm.Objective(layers, lanes);
        switch (function)
        {
            case "objective":
            {
                var f = CompileClock.Time(() => AD.Value(objective, ToolOptions.Chosen));
                double y = 0;
                return new Evaluation(() => y = f(w, data), () => JsonValue.Create(y));
            }
            case "jacobian":
            {
                var g = CompileClock.Time(() => AD.Gradient(objective, ToolOptions.Chosen));
                var gradient = new double[w.Length];
                return new Evaluation(() => g(w, data, gradient), () => Json(gradient));
            }
            default: throw new NotSupportedException($"lstm has no function {function}");
        }
    });

    /// <summary>ba: objective (every residual) and jacobian (the full sparse Jacobian, output truncated as the suite asks).</summary>
    private static Module BaModule() => new("ba", (function, input) =>
    {
        var problem = Ba.Read(input);
        switch (function)
        {
            case "objective":
            {
                var objective = new Ba.Objective(problem);
                return new Evaluation(objective.Run, objective.Output);
            }
            case "jacobian":
            {
                var jacobian = new Ba.Jacobian(problem);
                return new Evaluation(jacobian.Run, jacobian.Output);
            }
            default: throw new NotSupportedException($"ba has no function {function}");
        }
    });

    /// <summary>gmm: objective and jacobian (the gradient with respect to alpha, mu, q, l).</summary>
    private static Module GmmModule() => new("gmm", (function, input) =>
    {
        var (data, w) = Gmm.Read(input);
        switch (function)
        {
            case "objective":
            {
                var f = CompileClock.Time(() => AD.Value(Gmm.Objective, ToolOptions.Chosen));
                double y = 0;
                return new Evaluation(() => y = f(w, data), () => JsonValue.Create(y));
            }
            case "jacobian":
            {
                var g = CompileClock.Time(() => AD.Gradient(Gmm.Objective, ToolOptions.Chosen));
                var gradient = new double[w.Length];
                return new Evaluation(() => g(w, data, gradient), () => Gmm.Output(data, gradient));
            }
            default: throw new NotSupportedException($"gmm has no function {function}");
        }
    });

    /// <summary>ode: primal = y(2) (n values), gradient = the gradient of its last element with respect to x.</summary>
    private static Module OdeModule() => new("ode", (function, input) =>
    {
        var x = Doubles(input["x"]!);
        int steps = (int)input["s"]!;
        switch (function)
        {
            case "primal":
            {
                var f = CompileClock.Time(() => AD.Value(Ode.Solution, ToolOptions.Chosen));
                var y = new double[x.Length];
                return new Evaluation(() => f(x, steps, y), () => Json(y));
            }
            case "gradient":
            {
                var g = CompileClock.Time(() => AD.Gradient(Ode.Last, ToolOptions.Chosen));
                var gradient = new double[x.Length];
                return new Evaluation(() => g(x, steps, gradient), () => Json(gradient));
            }
            default: throw new NotSupportedException($"ode has no function {function}");
        }
    });

    private static double[] Doubles(JsonNode node) => node.AsArray().Select(v => (double)v!).ToArray();

    private static JsonArray Json(double[] values) => new(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());

    /// <summary>hello: square (x²) and double (its derivative, 2x).</summary>
    private static Module Hello()
    {
        var square = CompileClock.Time(() => AD.Gradient((double x) => x * x));
        return new Module("hello", (function, input) =>
        {
            double x = (double)input;
            double result = 0;
            return function switch
            {
                "square" => new Evaluation(() => result = square(x).Value, () => JsonValue.Create(result)),
                "double" => new Evaluation(() => result = square(x).D1, () => JsonValue.Create(result)),
                _ => throw new NotSupportedException($"hello has no function {function}"),
            };
        });
    }

    // Log-sum-exp with the max shift.
    private static readonly Expression<Func<double[], double>> LogSumExp =
        x => x.Max() + Math.Log(x.Sum(v => Math.Exp(v - x.Max())));

    /// <summary>lse: primal = max(x) + log Σ exp(x - max x); gradient = its gradient (the softmax).</summary>
    private static Module Lse() => new("lse", (function, input) =>
    {
        var x = Doubles(input["x"]!);
        switch (function)
        {
            case "primal":
            {
                var f = CompileClock.Time(() => AD.Value(LogSumExp, ToolOptions.Chosen));
                double y = 0;
                return new Evaluation(() => y = f(x), () => JsonValue.Create(y));
            }
            case "gradient":
            {
                var g = CompileClock.Time(() => AD.Gradient(LogSumExp, ToolOptions.Chosen));
                var gradient = new double[x.Length];
                return new Evaluation(() => g(x, gradient), () => Json(gradient));
            }
            default: throw new NotSupportedException($"lse has no function {function}");
        }
    });

    // Least squares against the sign function at n points t_i = -1 + 2i/(n-1): the polynomial's coefficients are x,
    // the data argument is n. The polynomial is evaluated by Horner's rule (an Aggregate from the highest coefficient
    // down), and each residual squared as r * r through Select: no Math.Pow.
    private static readonly Expression<Func<double[], int, double>> LeastSquares = (x, n) =>
        0.5 * Enumerable.Range(0, n).Select(i =>
                Math.Sign(-1 + 2.0 * i / (n - 1))
                - Enumerable.Range(0, x.Length).Aggregate(0.0, (p, j) => p * (-1 + 2.0 * i / (n - 1)) + x[x.Length - 1 - j]))
            .Sum(r => r * r);

    /// <summary>llsq: primal = ½ Σ (sign t_i - Σ_j x_j t_i^j)², gradient = d/dx.</summary>
    private static Module Llsq() => new("llsq", (function, input) =>
    {
        var x = Doubles(input["x"]!);
        int n = (int)input["n"]!;
        switch (function)
        {
            case "primal":
            {
                var f = CompileClock.Time(() => AD.Value(LeastSquares, ToolOptions.Chosen));
                double y = 0;
                return new Evaluation(() => y = f(x, n), () => JsonValue.Create(y));
            }
            case "gradient":
            {
                var g = CompileClock.Time(() => AD.Gradient(LeastSquares, ToolOptions.Chosen));
                var gradient = new double[x.Length];
                return new Evaluation(() => g(x, n, gradient), () => Json(gradient));
            }
            default: throw new NotSupportedException($"llsq has no function {function}");
        }
    });
}
