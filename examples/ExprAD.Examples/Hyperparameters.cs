using System.Diagnostics;
using System.Globalization;
using System.Linq.Expressions;
using ExprAD;

namespace ExprAD.Examples;

/// <summary>
/// Hyperparameter optimisation as in the review's section 4 (Bengio 2000): the gradient of a validation loss with respect
/// to the regularisation weight λ, through T steps of gradient descent on the training loss. The training run is an
/// <c>Aggregate</c> whose step calls <see cref="AD.Grad(Func{double[], double}, double[])"/>; the outer gradient is ExprAD's
/// reverse mode over it. λ = exp(h) is then tuned by gradient steps on h.
/// </summary>
public static class Hyperparameters
{
    /// <summary>A training and a validation set (features standardised, labels ±1), and the inner run's settings.</summary>
    public sealed record Problem(double[][] TrainX, double[] TrainY, double[][] ValidX, double[] ValidY, int Features, int Steps, double Rate);

    /// <summary>
    /// The validation loss (mean logistic loss) of the weights after <c>Steps</c> steps of gradient descent from zero on the
    /// training loss plus (λ / 2) |w|², λ = exp(h[0]); the last weight is the bias (not regularised).
    /// </summary>
    public static readonly Expression<Func<double[], Problem, double>> ValidationLoss = (h, d) => Enumerable.Range(0, d.Steps).Aggregate(
        new double[d.Features + 1],
        (w, step) => AD.Grad(v => Enumerable.Range(0, d.TrainY.Length).Sum(i => Math.Log(1 + Math.Exp(-d.TrainY[i] *
                    (Enumerable.Range(0, d.Features).Sum(j => v[j] * d.TrainX[i][j]) + v[d.Features])))) / d.TrainY.Length
                + 0.5 * Math.Exp(h[0]) * Enumerable.Range(0, d.Features).Sum(j => v[j] * v[j]), w)
            .Select((g, j) => w[j] - d.Rate * g).ToArray(),
        w => Enumerable.Range(0, d.ValidY.Length).Sum(i => Math.Log(1 + Math.Exp(-d.ValidY[i] *
            (Enumerable.Range(0, d.Features).Sum(j => w[j] * d.ValidX[i][j]) + w[d.Features])))) / d.ValidY.Length);

    /// <summary>
    /// Breast cancer data (examples/ExprAD.Examples/data/breast_cancer.csv): <paramref name="train"/> rows to train on and
    /// <paramref name="valid"/> to validate on, taken in a fixed shuffled order, features standardised with the training
    /// rows' mean and deviation.
    /// </summary>
    public static Problem Load(string path, int train, int valid, int steps, double rate)
    {
        var rows = File.ReadLines(path).Skip(1).Select(l => l.Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        var order = Enumerable.Range(0, rows.Length).ToArray();
        new Random(7).Shuffle(order);
        int features = rows[0].Length - 1;
        var trainRows = order.Take(train).Select(k => rows[k]).ToArray();
        var mean = Enumerable.Range(0, features).Select(j => trainRows.Average(r => r[j])).ToArray();
        var deviation = Enumerable.Range(0, features).Select(j => Math.Sqrt(trainRows.Average(r => (r[j] - mean[j]) * (r[j] - mean[j]))) + 1e-12).ToArray();
        double[] Scale(double[] r) => Enumerable.Range(0, features).Select(j => (r[j] - mean[j]) / deviation[j]).ToArray();
        double Label(double[] r) => r[features] == 1 ? 1 : -1;
        var validRows = order.Skip(train).Take(valid).Select(k => rows[k]).ToArray();
        return new Problem(trainRows.Select(Scale).ToArray(), trainRows.Select(Label).ToArray(),
            validRows.Select(Scale).ToArray(), validRows.Select(Label).ToArray(), features, steps, rate);
    }

    /// <summary>One tuning run: the hypergradient checked against central differences of the whole training run, then gradient steps on h.</summary>
    public static (double[] H, double[] Loss, double Gradient, double Difference) Tune(Problem problem, double h0, int iterations, double step, Action<string>? report = null)
    {
        var value = AD.Value(ValidationLoss);
        var gradient = AD.Gradient(ValidationLoss);
        var g = new double[1];
        // The check: d V / d h by AD against (V(h + ε) - V(h - ε)) / 2ε, each V a whole training run.
        gradient([h0], problem, g);
        const double epsilon = 1e-5;
        double difference = (value([h0 + epsilon], problem) - value([h0 - epsilon], problem)) / (2 * epsilon);
        report?.Invoke($"  dV/dh at h = {h0}: AD {g[0]:E10}, central difference of the whole run {difference:E10}");
        var hs = new List<double> { h0 };
        var losses = new List<double>();
        double h = h0;
        for (int k = 0; k < iterations; k++)
        {
            double loss = gradient([h], problem, g);
            losses.Add(loss);
            report?.Invoke($"  step {k,2}: λ = {Math.Exp(h),9:G4}, validation loss {loss:F6}, dV/dh {g[0],10:E3}");
            h -= step * g[0];
            hs.Add(h);
        }
        losses.Add(value([h], problem));
        return (hs.ToArray(), losses.ToArray(), g[0], difference);
    }

    /// <summary>The example as the README runs it.</summary>
    public static void Run(string dataFolder)
    {
        var problem = Load(Path.Combine(dataFolder, "breast_cancer.csv"), train: 60, valid: 200, steps: 50, rate: 0.5);
        var clock = Stopwatch.StartNew();
        var (h, loss, _, _) = Tune(problem, h0: Math.Log(0.3), iterations: 12, step: 20.0, report: Console.WriteLine);
        Console.WriteLine($"  λ {Math.Exp(h[0]):G4} -> {Math.Exp(h[^1]):G4}: validation loss {loss[0]:F6} -> {loss[^1]:F6} ({clock.Elapsed.TotalSeconds:F1} s, compile included)");
    }
}
