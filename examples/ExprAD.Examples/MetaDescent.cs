using System.Linq.Expressions;
using ExprAD.Optimization;

namespace ExprAD.Examples;

/// <summary>One row of the regression problem of <see cref="MetaDescent"/>: features and target.</summary>
public sealed record Observation(double[] Features, double Target);

/// <summary>What <see cref="MetaDescent.Run"/> measured.</summary>
/// <param name="SgdLoss">Full-data loss after plain SGD at its best learning rate.</param>
/// <param name="SmdLoss">Full-data loss after SMD.</param>
/// <param name="SgdRate">The learning rate SGD was run with (the best of those tried).</param>
/// <param name="NoiseFloor">The full-data loss of the true weights (the noise's share, which no method beats by much).</param>
/// <param name="Sgd">The SGD run.</param>
/// <param name="Smd">The SMD run.</param>
/// <param name="Plot">The PNG written.</param>
public sealed record MetaDescentResult(double SgdLoss, double SmdLoss, double SgdRate, double NoiseFloor, MinimizeResult Sgd, MinimizeResult Smd, string Plot);

/// <summary>
/// Stochastic meta-descent (Schraudolph 2002) against plain SGD on an ill-conditioned least-squares problem: the features
/// are scaled by factors from 0.1 to 10 (as unstandardised features in different units are), so the curvature spans four
/// orders of magnitude. One SGD learning rate must suit the steepest direction and then crawls along the flat ones; SMD
/// adapts a gain per weight, driven by exact Hessian-vector products of the minibatch loss (<see cref="AD.HessianVector{TData}(Expression{Func{double[], TData, double}}, ADOptions?)"/>).
/// </summary>
public static partial class MetaDescent
{
    /// <summary>The model's prediction minus the target.</summary>
    [Differentiable]
    public static double Residual(double[] w, Observation o) => Enumerable.Range(0, w.Length).Sum(j => w[j] * o.Features[j]) - o.Target;

    /// <summary>Half the mean squared residual over a minibatch (the repeated residual is computed once: ExprAD merges common subexpressions).</summary>
    public static readonly Expression<Func<double[], Observation[], double>> Loss = (w, batch) =>
        batch.Sum(o => 0.5 * Residual(w, o) * Residual(w, o)) / batch.Length;

    /// <summary>
    /// <paramref name="rows"/> observations of <paramref name="features"/> features: feature j is standard normal times
    /// s_j = 10^(−1 + 2j/(features − 1)); the target is the true weights ±1/s_j times the features plus noise of standard
    /// deviation 0.01, so that every feature carries the same share of the signal (features in different units, each as
    /// informative). Also returns the true weights.
    /// </summary>
    public static (Observation[] Data, double[] Truth) Problem(int rows, int features, int seed)
    {
        var random = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var scale = Enumerable.Range(0, features).Select(j => Math.Pow(10, -1 + 2.0 * j / (features - 1))).ToArray();
        var truth = Enumerable.Range(0, features).Select(j => (j % 2 == 0 ? 1.0 : -1.0) / scale[j]).ToArray();
        var data = Enumerable.Range(0, rows).Select(_ =>
        {
            var x = scale.Select(s => s * Normal()).ToArray();
            return new Observation(x, x.Zip(truth, (a, b) => a * b).Sum() + 0.01 * Normal());
        }).ToArray();
        return (data, truth);
    }

    /// <summary>
    /// Runs SGD (the best of a few learning rates) and SMD for <paramref name="epochs"/> epochs of minibatches of 16 over
    /// <paramref name="rows"/> generated observations, prints the loss per epoch, and plots both curves into
    /// <paramref name="outputFolder"/>.
    /// </summary>
    public static MetaDescentResult Run(string outputFolder, int rows = 2000, int features = 10, int epochs = 20)
    {
        string folder = Plots.Prepare(outputFolder);
        var (data, truth) = Problem(rows, features, seed: 9);
        var gradient = AD.Gradient(Loss);
        var hv = AD.HessianVector(Loss);
        double FullLoss(double[] w) => gradient(w, data, new double[w.Length]);
        double floor = FullLoss(truth);
        Console.WriteLine($"  {rows} observations, {features} features scaled from 0.1 to 10 (curvature ratio 1e4); loss of the true weights {floor:0.000E+00}");

        StochasticOptions Options(List<double> curve, string name) => new()
        {
            BatchSize = 16,
            Epochs = epochs,
            Seed = 4,
            EpochProgress = new Reporter<EpochReport>(e =>
            {
                curve.Add(e.MeanLoss);
                if (e.Epoch % 5 == 0 || e.Epoch == 1) Console.WriteLine($"  {name,-22} epoch {e.Epoch,3}: mean minibatch loss {e.MeanLoss:0.000E+00}");
            }),
        };

        // SGD is stable only below about 2 / (largest curvature ≈ 100): try rates up to that and keep the best run, so that
        // SMD is compared with SGD at its best rather than at a rate picked to lose.
        (MinimizeResult Run, List<double> Curve, double Rate)? sgd = null;
        foreach (double rate in new[] { 0.016, 0.008, 0.004 })
        {
            var curve = new List<double>();
            var run = Stochastic.Sgd(gradient, new double[features], data, Options(curve, $"SGD (rate {rate})") with { LearningRate = rate });
            double loss = FullLoss(run.X);
            Console.WriteLine($"  SGD, learning rate {rate}: final full-data loss {loss:0.000E+00}");
            if (sgd is null || loss < FullLoss(sgd.Value.Run.X)) sgd = (run, curve, rate);
        }

        // SMD starts from SGD's rate as every gain; the meta rate μ worked from 0.1 to 1 here (0.01 adapts too slowly).
        var smdCurve = new List<double>();
        var smd = Stochastic.Smd(hv, new double[features], data, Options(smdCurve, "SMD") with { InitialGain = 0.01, MetaRate = 0.3, Decay = 0.99 });
        double smdLoss = FullLoss(smd.X), sgdLoss = FullLoss(sgd!.Value.Run.X);
        Console.WriteLine($"  final full-data loss: SGD (rate {sgd.Value.Rate}) {sgdLoss:0.000E+00}, SMD {smdLoss:0.000E+00} ({sgdLoss / smdLoss:N0}x lower; the true weights: {floor:0.000E+00})");

        var epochAxis = Enumerable.Range(1, epochs).Select(e => (double)e).ToArray();
        string plot = Plots.Lines(Path.Combine(folder, "meta-descent.png"), "Ill-conditioned least squares: SMD against SGD",
            "epoch", "mean minibatch loss", logY: true,
            new Series($"SGD, learning rate {sgd.Value.Rate}", epochAxis, sgd.Value.Curve.ToArray()),
            new Series("SMD (exact Hv)", epochAxis, smdCurve.ToArray()));
        Console.WriteLine($"  wrote {plot}");
        return new MetaDescentResult(sgdLoss, smdLoss, sgd.Value.Rate, floor, sgd.Value.Run, smd, plot);
    }
}
