using System.Linq.Expressions;

namespace ExprAD.Benchmarks;

/// <summary>
/// `--mlp`: a one-hidden-layer network's squared loss over a data set, written with LINQ loops in two ways (the hidden
/// layer inline as a sum of sums, and as a <c>ToArray()</c> map), its ExprAD gradient against the ExprAD loss and
/// against a hand-written forward and backward pass; then a log-sum-exp over rows. Stopwatch, fastest of 30 calls after
/// warm-up.
/// </summary>
public static class LinqMlp
{
    /// <summary>Rows of features, targets, and the hidden layer's width.</summary>
    public sealed class Data
    {
        /// <summary>The features, one row per example.</summary>
        public double[][] X = [];

        /// <summary>The targets.</summary>
        public double[] Y = [];

        /// <summary>The number of hidden units.</summary>
        public int H;
    }

    // w = [W (H rows of F weights), v (H output weights)].
    private static readonly Expression<Func<double[], Data, double>> SumOfSums = (w, d) => Enumerable.Range(0, d.Y.Length).Sum(i =>
        Math.Pow(Enumerable.Range(0, d.H).Sum(k => w[d.H * d.X[i].Length + k] * Math.Tanh(Enumerable.Range(0, d.X[i].Length).Sum(j => w[k * d.X[i].Length + j] * d.X[i][j])))
            - d.Y[i], 2));

    private static readonly Expression<Func<double[], Data, double>> HiddenLayer = (w, d) => Enumerable.Range(0, d.Y.Length).Sum(i =>
        Math.Pow(Enumerable.Range(0, d.H).Select(k => Math.Tanh(Enumerable.Range(0, d.X[i].Length).Sum(j => w[k * d.X[i].Length + j] * d.X[i][j]))).ToArray()
            .Select((a, k) => a * w[d.H * d.X[i].Length + k]).Sum() - d.Y[i], 2));

    /// <summary>Prints the table of bench/README.md's "LINQ MLP" section.</summary>
    public static void Run()
    {
        const int rows = 2000, features = 32, hidden = 32;
        var random = new Random(1);
        var data = new Data
        {
            H = hidden,
            X = Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, features).Select(_ => random.NextDouble() - 0.5).ToArray()).ToArray(),
            Y = Enumerable.Range(0, rows).Select(_ => random.NextDouble()).ToArray(),
        };
        var w = Enumerable.Range(0, hidden * features + hidden).Select(_ => (random.NextDouble() - 0.5) * 0.3).ToArray();
        var hand = new double[w.Length];
        double handLoss = HandGradient(w, data, hand);
        double handMs = Time(() => HandGradient(w, data, hand));
        Console.WriteLine($"{rows} rows x {features} features, {hidden} hidden units; hand-written loss and gradient {handMs:F2} ms");
        Console.WriteLine("| form | loss (ms) | gradient (ms) | gradient / loss | gradient / hand-written |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var (name, f) in new[] { ("sum of sums", SumOfSums), ("hidden layer as a map", HiddenLayer) })
        {
            var loss = AD.Value(f);
            var gradient = AD.Gradient(f);
            var g = new double[w.Length];
            double value = gradient(w, data, g);
            // The same loss and gradient as the hand-written pass (the additions differ in order).
            if (Math.Abs(value - handLoss) > 1e-9 * Math.Abs(handLoss) || g.Zip(hand).Any(p => Math.Abs(p.First - p.Second) > 1e-9 * (1 + Math.Abs(p.Second))))
                throw new InvalidOperationException($"{name}: the gradient differs from the hand-written one");
            double lossMs = Time(() => loss(w, data)), gradientMs = Time(() => gradient(w, data, g));
            Console.WriteLine($"| {name} | {lossMs:F2} | {gradientMs:F2} | {gradientMs / lossMs:F2} | {gradientMs / handMs:F2} |");
        }
        RunLogSumExp();
    }

    // The log of a sum over rows of exponentials of dot products: a top-level sum of sums whose adjoint is not a constant.
    private static readonly Expression<Func<double[], Data, double>> LogSumExp = (w, d) =>
        Math.Log(Enumerable.Range(0, d.Y.Length).Sum(i => Math.Exp(Enumerable.Range(0, d.X[i].Length).Sum(j => w[j] * d.X[i][j]))));

    /// <summary>The second table: <see cref="LogSumExp"/> over 20,000 rows x 20 features, gradient against function.</summary>
    private static void RunLogSumExp()
    {
        var random = new Random(2);
        var data = new Data { X = Enumerable.Range(0, 20_000).Select(_ => Enumerable.Range(0, 20).Select(_ => random.NextDouble() - 0.5).ToArray()).ToArray() };
        data.Y = new double[data.X.Length];
        var w = Enumerable.Range(0, 20).Select(_ => (random.NextDouble() - 0.5) * 0.3).ToArray();
        var value = AD.Value(LogSumExp);
        var gradient = AD.Gradient(LogSumExp);
        var g = new double[w.Length];
        double valueMs = Time(() => value(w, data)), gradientMs = Time(() => gradient(w, data, g));
        Console.WriteLine($"log Σ_i exp(w·x_i), 20,000 rows x 20 features: function {valueMs:F3} ms, gradient {gradientMs:F3} ms, {gradientMs / valueMs:F2}x");
    }

    /// <summary>The loss and its gradient by hand: per row, the hidden layer forward, then back.</summary>
    private static double HandGradient(double[] w, Data d, double[] g)
    {
        int h = d.H, f = d.X[0].Length;
        Array.Clear(g);
        Span<double> activation = stackalloc double[h];
        double loss = 0;
        for (int i = 0; i < d.Y.Length; i++)
        {
            var x = d.X[i];
            double prediction = 0;
            for (int k = 0; k < h; k++)
            {
                double a = 0;
                for (int j = 0; j < f; j++) a += w[k * f + j] * x[j];
                activation[k] = Math.Tanh(a);
                prediction += w[h * f + k] * activation[k];
            }
            double residual = prediction - d.Y[i];
            loss += residual * residual;
            double adjoint = 2 * residual;
            for (int k = 0; k < h; k++)
            {
                g[h * f + k] += adjoint * activation[k];
                double preActivation = adjoint * w[h * f + k] * (1 - activation[k] * activation[k]);
                for (int j = 0; j < f; j++) g[k * f + j] += preActivation * x[j];
            }
        }
        return loss;
    }

    private static double Time(Func<double> call) => Stopwatches.Fastest(call, runs: 30, warmUps: 5);
}
