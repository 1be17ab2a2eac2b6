using System.Linq.Expressions;
using System.Text.Json.Nodes;

namespace ExprAD.GradBench;

/// <summary>The data of an LSTM problem: the initial state and the character sequence (not differentiated).</summary>
public sealed class LstmData
{
    /// <summary>Row 2i: layer i's hidden vector; row 2i + 1: its cell.</summary>
    public double[][] State = [];
    /// <summary>One row of b values per character.</summary>
    public double[][] Sequence = [];
}

/// <summary>
/// lstm: GradBench's LSTM over a character sequence. The parameters travel packed in one vector,
/// w = [main_params row-major (2 l rows of 4 b), extra_params row-major (in_w, out_w, out_b)], in the
/// order of the jacobian output. One step is a fold over the characters whose state is every layer's
/// hidden and cell vectors and the running total; the cell arithmetic is written as C# lambdas, and the
/// step is assembled from them for the problem's shape (l layers of b lanes: small constants, unrolled),
/// while the 1,000 to 4,000 characters stay one loop.
/// </summary>
public static class Lstm
{
    // Lane j of layer i (b lanes): the next cell from the layer's input x, hidden h and cell c. Row 2i of the main
    // parameters (offset 8ib) holds the weights Wf | Wi | Wo | Wc, row 2i + 1 (offset 8ib + 4b) the biases.
    private static readonly Expression<Func<double[], int, int, int, double, double, double, double>> NextCell = (w, b, i, j, x, h, c) =>
        c / (1 + Math.Exp(-(x * w[8 * i * b + j] + w[8 * i * b + 4 * b + j])))             // c · sigmoid(x Wf + bf)
        + Math.Tanh(h * w[8 * i * b + 3 * b + j] + w[8 * i * b + 7 * b + j])              // + tanh(h Wc + bc)
          / (1 + Math.Exp(-(h * w[8 * i * b + b + j] + w[8 * i * b + 5 * b + j])));      //   · sigmoid(h Wi + bi)

    // The next hidden value: sigmoid(x Wo + bo) · tanh(next cell).
    private static readonly Expression<Func<double[], int, int, int, double, double, double>> NextHidden = (w, b, i, j, x, cell) =>
        Math.Tanh(cell) / (1 + Math.Exp(-(x * w[8 * i * b + 2 * b + j] + w[8 * i * b + 6 * b + j])));

    // The input of the first layer, lane j, at character t: sequence[t][j] · in_w[j] (extra parameters at offset e).
    private static readonly Expression<Func<double[], LstmData, int, int, int, double>> Input = (w, d, e, t, j) => d.Sequence[t][j] * w[e + j];

    // The prediction of lane j from the last layer's hidden value h: h · out_w[j] + out_b[j].
    private static readonly Expression<Func<double[], int, int, int, double, double>> Prediction = (w, b, e, j, h) => h * w[e + b + j] + w[e + 2 * b + j];

    /// <summary>
    /// The objective -Σ_t Σ_j sequence[t+1][j] (y_j - log(Σ_k exp y_k + 2)) / ((c - 1) b) for <paramref name="layers"/>
    /// layers of <paramref name="lanes"/> lanes: a fold over the characters t = 0 .. c - 2 whose state is
    /// [h_0, c_0, h_1, c_1, ..., total] (the layout of GradBench's state rows, then the running total).
    /// </summary>
    public static Expression<Func<double[], LstmData, double>> Objective(int layers, int lanes)
    {
        var w = Expression.Parameter(typeof(double[]), "w");
        var d = Expression.Parameter(typeof(LstmData), "d");
        var s = Expression.Parameter(typeof(double[]), "s");
        var t = Expression.Parameter(typeof(int), "t");
        Expression Int(int value) => Expression.Constant(value);
        Expression State(int index) => Expression.ArrayIndex(s, Int(index));
        int extra = 8 * layers * lanes, total = 2 * layers * lanes;

        // One step: every layer in turn, lane by lane; the next layer's input is this layer's next hidden value.
        var x = Enumerable.Range(0, lanes).Select(j => (Expression)Expression.Invoke(Input, w, d, Int(extra), t, Int(j))).ToArray();
        var next = new Expression[total + 1];
        for (int i = 0; i < layers; i++)
            for (int j = 0; j < lanes; j++)
            {
                var cell = Expression.Invoke(NextCell, w, Int(lanes), Int(i), Int(j), x[j], State(2 * i * lanes + j), State((2 * i + 1) * lanes + j));
                next[(2 * i + 1) * lanes + j] = cell;
                next[2 * i * lanes + j] = x[j] = Expression.Invoke(NextHidden, w, Int(lanes), Int(i), Int(j), x[j], cell);
            }
        var y = Enumerable.Range(0, lanes).Select(j => (Expression)Expression.Invoke(Prediction, w, Int(lanes), Int(extra), Int(j), x[j])).ToArray();
        var exp = typeof(Math).GetMethod(nameof(Math.Exp))!;
        var log = typeof(Math).GetMethod(nameof(Math.Log), [typeof(double)])!;
        var lse = Expression.Call(log, Expression.Add(y.Select(v => (Expression)Expression.Call(exp, v)).Aggregate(Expression.Add), Expression.Constant(2.0)));
        Expression target(int j) => Expression.ArrayIndex(Expression.ArrayIndex(Expression.Field(d, nameof(LstmData.Sequence)), Expression.Add(t, Int(1))), Int(j));
        next[total] = Expression.Add(State(total),
            Enumerable.Range(0, lanes).Select(j => (Expression)Expression.Multiply(target(j), Expression.Subtract(y[j], lse))).Aggregate(Expression.Add));
        var step = Expression.Lambda<Func<double[], int, double[]>>(Expression.NewArrayInit(typeof(double), next), s, t);

        // The fold: from the data's initial state and a zero total, over t = 0 .. c - 2; the result -total / ((c - 1) b).
        Expression StateRow(int row, int j) => Expression.ArrayIndex(Expression.ArrayIndex(Expression.Field(d, nameof(LstmData.State)), Int(row)), Int(j));
        var seed = Expression.NewArrayInit(typeof(double), Enumerable.Range(0, total).Select(k => StateRow(k / lanes, k % lanes)).Append(Expression.Constant(0.0)));
        var steps = Expression.Subtract(Expression.ArrayLength(Expression.Field(d, nameof(LstmData.Sequence))), Int(1));
        var final = Expression.Parameter(typeof(double[]), "final");
        var result = Expression.Lambda<Func<double[], double>>(
            Expression.Divide(Expression.Negate(Expression.ArrayIndex(final, Int(total))), Expression.Convert(Expression.Multiply(steps, Int(lanes)), typeof(double))), final);
        var aggregate = typeof(Enumerable).GetMethods().Single(m => m.Name == nameof(Enumerable.Aggregate) && m.GetParameters().Length == 4)
            .MakeGenericMethod(typeof(int), typeof(double[]), typeof(double));
        var range = typeof(Enumerable).GetMethod(nameof(Enumerable.Range))!;
        var body = Expression.Call(aggregate, Expression.Call(range, Int(0), steps), seed, step, result);
        return Expression.Lambda<Func<double[], LstmData, double>>(body, w, d);
    }

    /// <summary>Reads a GradBench lstm input: the data, the packed parameters, and the shape (layers, lanes).</summary>
    public static (LstmData Data, double[] Parameters, int Layers, int Lanes) Read(JsonNode input)
    {
        double[][] Rows(string name) => input[name]!.AsArray().Select(r => r!.AsArray().Select(v => (double)v!).ToArray()).ToArray();
        var main = Rows("main_params");
        var extra = Rows("extra_params");
        var data = new LstmData { State = Rows("state"), Sequence = Rows("sequence") };
        return (data, main.Concat(extra).SelectMany(r => r).ToArray(), main.Length / 2, extra[0].Length);
    }
}
