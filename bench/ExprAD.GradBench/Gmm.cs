using System.Linq.Expressions;
using System.Reflection;
using System.Text.Json.Nodes;

namespace ExprAD.GradBench;

/// <summary>The data of a GMM problem: the points and the sizes; the parameters travel packed in one vector.</summary>
public sealed class GmmData
{
    public int D, K, N;
    public double M, Gamma;
    public double[][] X = [];
    /// <summary>The parts of the objective that do not depend on the parameters.</summary>
    public double Constant;
    public int MuOffset => K;
    public int QOffset => K + K * D;
    public int LOffset => K + 2 * K * D;
    public int LCount => D * (D - 1) / 2;
}

/// <summary>
/// gmm: the Gaussian mixture log-posterior of GradBench, written as ExprAD lambdas over the packed
/// parameter vector w = [alpha (k), mu (k d), q (k d), l (k d(d-1)/2)] and composed with
/// Expression.Invoke; its gradient ("jacobian") comes from AD.Gradient.
/// </summary>
public static class Gmm
{
    // beta(i, k) = alpha_k + Σ_j q_kj - ½ ‖Q_k xc‖² with xc = x_i - mu_k (built once per point and component), where Q_k is
    // lower triangular with diagonal exp(q_kj) and strictly lower part l_k. What depends on k alone comes precomputed
    // (maps over the components, once per call): expQ[k d + r] = exp(q_kr), sumQ[k] = Σ_j q_kj, and l_k row by row in
    // lRows[(k d + r) d + c]. Each coordinate of Q_k xc is squared as z * z.
    private static readonly Expression<Func<double[], GmmData, double[], double[], double[], double[], int, double>> Beta =
        (w, g, expQ, sumQ, lRows, xc, k) =>
            w[k] + sumQ[k]
            - 0.5 * Enumerable.Range(0, g.D).Select(r =>
                    expQ[k * g.D + r] * xc[r] + Enumerable.Range(0, r).Sum(c => lRows[(k * g.D + r) * g.D + c] * xc[c]))
                .Sum(z => z * z);

    // x_i - mu_k.
    private static readonly Expression<Func<double[], GmmData, int, int, double[]>> Centred = (w, g, i, k) =>
        Enumerable.Range(0, g.D).Select(c => g.X[i][c] - w[g.MuOffset + k * g.D + c]).ToArray();

    // GradBench packs l_k column by column (entry (r, c), c < r, at c (d-1) - c (c-1)/2 + r - c - 1); beta reads it row by
    // row. Element p = (k d + r) d + c of lRows is that entry below the diagonal, 0 elsewhere (r = p / d % d, c = p % d;
    // both branches of ?: are evaluated, so the index is made valid for the other entries too).
    private static readonly Expression<Func<double[], GmmData, double[]>> RowsOfL = (w, g) =>
        Enumerable.Range(0, g.K * g.D * g.D).Select(p => p % g.D < p / g.D % g.D
            ? w[g.LOffset + p / (g.D * g.D) * g.LCount
                + (p % g.D < p / g.D % g.D ? p % g.D * (g.D - 1) - p % g.D * (p % g.D - 1) / 2 + p / g.D % g.D - p % g.D - 1 : 0)]
            : 0.0).ToArray();

    // The parameter-dependent part of the prior and the -n LSE(alpha) term.
    private static readonly Expression<Func<double[], GmmData, double>> Rest = (w, g) =>
        -g.N * (Enumerable.Range(0, g.K).Max(k => w[k]) + Math.Log(Enumerable.Range(0, g.K).Sum(k => Math.Exp(w[k] - Enumerable.Range(0, g.K).Max(j => w[j])))))
        - Enumerable.Range(0, g.K).Sum(k =>
            0.5 * g.Gamma * g.Gamma * (Enumerable.Range(0, g.D).Sum(j => Math.Exp(2 * w[g.QOffset + k * g.D + j]))
                                       + Enumerable.Range(0, g.LCount).Sum(j => w[g.LOffset + k * g.LCount + j] * w[g.LOffset + k * g.LCount + j]))
            - g.M * Enumerable.Range(0, g.D).Sum(j => w[g.QOffset + k * g.D + j]));

    /// <summary>constant + Σ_i LSE_k beta(i, k) + rest, composed from the lambdas above.</summary>
    public static readonly Expression<Func<double[], GmmData, double>> Objective = Compose();

    private static Expression<Func<double[], GmmData, double>> Compose()
    {
        var w = Expression.Parameter(typeof(double[]), "w");
        var g = Expression.Parameter(typeof(GmmData), "g");
        var i = Expression.Parameter(typeof(int), "i");
        var k = Expression.Parameter(typeof(int), "k");
        var range = typeof(Enumerable).GetMethod(nameof(Enumerable.Range))!;
        MethodInfo Reduce(string name) => typeof(Enumerable).GetMethods()
            .Single(m => m.Name == name && m.IsGenericMethodDefinition && m.ReturnType == typeof(double) && m.GetParameters().Length == 2
                && m.GetParameters()[1].ParameterType.GetGenericArguments()[1] == typeof(double)).MakeGenericMethod(typeof(int));
        Expression Components() => Expression.Call(range, Expression.Constant(0), Expression.Field(g, nameof(GmmData.K)));
        // LSE_k beta(i, k) in one pass over k (beta computed once per component): the state (m, s) is the running
        // maximum and the sum of exp(beta - m), rescaled when the maximum grows; the result m + log s.
        // exp(q) for every component and coordinate, and Σ_j q_kj for every component: computed once (maps), not once per point.
        Expression<Func<double[], GmmData, double[]>> expQ = (w, g) => Enumerable.Range(0, g.K * g.D).Select(j => Math.Exp(w[g.QOffset + j])).ToArray();
        Expression<Func<double[], GmmData, double[]>> sumQ = (w, g) =>
            Enumerable.Range(0, g.K).Select(c => Enumerable.Range(0, g.D).Sum(j => w[g.QOffset + c * g.D + j])).ToArray();
        var beta = Expression.Invoke(Beta, w, g, Expression.Invoke(expQ, w, g), Expression.Invoke(sumQ, w, g), Expression.Invoke(RowsOfL, w, g),
            Expression.Invoke(Centred, w, g, i, k), k);
        var state = Expression.Parameter(typeof(double[]), "state");
        var exp = typeof(Math).GetMethod(nameof(Math.Exp))!;
        var log = typeof(Math).GetMethod(nameof(Math.Log), [typeof(double)])!;
        Expression Slot(ParameterExpression array, int slot) => Expression.ArrayIndex(array, Expression.Constant(slot));
        var maximum = Expression.Call(typeof(Math).GetMethod(nameof(Math.Max), [typeof(double), typeof(double)])!, Slot(state, 0), beta);
        var next = Expression.NewArrayInit(typeof(double), maximum, Expression.Add(
            Expression.Multiply(Slot(state, 1), Expression.Call(exp, Expression.Subtract(Slot(state, 0), maximum))),
            Expression.Call(exp, Expression.Subtract(beta, maximum))));
        var final = Expression.Parameter(typeof(double[]), "final");
        var aggregate = typeof(Enumerable).GetMethods().Single(m => m.Name == nameof(Enumerable.Aggregate) && m.GetParameters().Length == 4)
            .MakeGenericMethod(typeof(int), typeof(double[]), typeof(double));
        var lse = Expression.Call(aggregate, Components(),
            Expression.NewArrayInit(typeof(double), Expression.Constant(double.NegativeInfinity), Expression.Constant(0.0)),
            Expression.Lambda<Func<double[], int, double[]>>(next, state, k),
            Expression.Lambda<Func<double[], double>>(Expression.Add(Slot(final, 0), Expression.Call(log, Slot(final, 1))), final));
        var points = Expression.Call(Reduce(nameof(Enumerable.Sum)),
            Expression.Call(range, Expression.Constant(0), Expression.Field(g, nameof(GmmData.N))), Expression.Lambda<Func<int, double>>(lse, i));
        var body = Expression.Add(Expression.Add(Expression.Field(g, nameof(GmmData.Constant)), points), Expression.Invoke(Rest, w, g));
        return Expression.Lambda<Func<double[], GmmData, double>>(body, w, g);
    }

    /// <summary>Reads a GradBench gmm input: the data, and the packed parameters.</summary>
    public static (GmmData Data, double[] Parameters) Read(JsonNode input)
    {
        int d = (int)input["d"]!, k = (int)input["k"]!, n = (int)input["n"]!;
        double m = (double)input["m"]!, gamma = (double)input["gamma"]!;
        double[] Row(JsonNode node) => node.AsArray().Select(v => (double)v!).ToArray();
        var data = new GmmData { D = d, K = k, N = n, M = m, Gamma = gamma, X = input["x"]!.AsArray().Select(r => Row(r!)).ToArray() };
        var w = new List<double>(Row(input["alpha"]!));
        foreach (var name in new[] { "mu", "q", "l" })
            foreach (var row in input[name]!.AsArray()) w.AddRange(Row(row!));
        // -(n d / 2) log 2π + k C, C = N' d (log γ - ½ log 2) - [d(d-1)/4 log π + Σ_{j=1..d} lgamma(N'/2 + (1-j)/2)], N' = d + m + 1.
        double nPrime = d + m + 1;
        double c = nPrime * d * (Math.Log(gamma) - 0.5 * Math.Log(2)) - (d * (d - 1) / 4.0 * Math.Log(Math.PI)
            + Enumerable.Range(1, d).Sum(j => LogGamma(nPrime / 2 + (1 - j) / 2.0)));
        data.Constant = -(n * d / 2.0) * Math.Log(2 * Math.PI) + k * c;
        return (data, w.ToArray());
    }

    /// <summary>Splits a packed gradient into GradBench's jacobian output.</summary>
    public static JsonObject Output(GmmData g, double[] gradient)
    {
        JsonArray Flat(int offset, int count) => new(gradient.Skip(offset).Take(count).Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
        JsonArray Rows(int offset, int width) => new(Enumerable.Range(0, g.K).Select(r => (JsonNode?)Flat(offset + r * width, width)).ToArray());
        return new JsonObject
        {
            ["alpha"] = Flat(0, g.K), ["mu"] = Rows(g.MuOffset, g.D), ["q"] = Rows(g.QOffset, g.D), ["l"] = Rows(g.LOffset, g.LCount),
        };
    }

    /// <summary>ln Γ(x) for x &gt; 0 (Lanczos approximation, g = 7, n = 9): a constant of the objective, not differentiated.</summary>
    public static double LogGamma(double x)
    {
        double[] c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
        if (x < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        x -= 1;
        double a = c[0], t = x + 7.5;
        for (int i = 1; i < 9; i++) a += c[i] / (x + i);
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(a);
    }
}
