using System.Diagnostics;
using System.Linq.Expressions;

namespace ExprAD.Benchmarks;

/// <summary>
/// `--mlp`: a one-hidden-layer network's squared loss over a data set, written with LINQ loops in two ways (the hidden
/// layer inline as a sum of sums, and as a <c>ToArray()</c> map), its ExprAD gradient against the ExprAD loss and
/// against a hand-written forward and backward pass. Stopwatch, fastest of 30 calls after warm-up.
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
        double handMs = Fastest(() => HandGradient(w, data, hand));
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
            double lossMs = Fastest(() => loss(w, data)), gradientMs = Fastest(() => gradient(w, data, g));
            Console.WriteLine($"| {name} | {lossMs:F2} | {gradientMs:F2} | {gradientMs / lossMs:F2} | {gradientMs / handMs:F2} |");
        }
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

    private static double Fastest(Func<double> call)
    {
        for (int warm = 0; warm < 5; warm++) call();
        double best = double.MaxValue;
        for (int run = 0; run < 30; run++)
        {
            var clock = Stopwatch.StartNew();
            call();
            best = Math.Min(best, clock.Elapsed.TotalMilliseconds);
        }
        return best;
    }
}
