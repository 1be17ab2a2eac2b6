using System.Diagnostics;
using System.Linq.Expressions;
using ExprAD.Optimization;

namespace ExprAD.Examples;

/// <summary>What <see cref="DigitsTraining.Run"/> measured.</summary>
/// <param name="TestAccuracy">The fraction of test images classified correctly at the end.</param>
/// <param name="AccuracyAfterAdam">The same after the Adam epochs, before L-BFGS.</param>
/// <param name="TrainingLoss">The objective on the whole training set at the end (mean cross-entropy plus the L2 term).</param>
/// <param name="Adam">The Adam run.</param>
/// <param name="Lbfgs">The L-BFGS run.</param>
/// <param name="Plot">The PNG written.</param>
public sealed record DigitsTrainingResult(double TestAccuracy, double AccuracyAfterAdam, double TrainingLoss, MinimizeResult Adam, MinimizeResult Lbfgs, string Plot);

/// <summary>
/// Training the one-hidden-layer network of <see cref="Digits"/> (its [Differentiable] helpers, LINQ over <see cref="Sample"/>[])
/// the way networks are often trained: Adam over shuffled minibatches first, which gets near a good region cheaply, then L-BFGS
/// on the whole training set, which polishes; the objective is the mean cross-entropy plus a small L2 term. A fixed train/test split (<see cref="Digits.Load"/> shuffles with a
/// fixed seed) and fixed initial weights make every run the same.
/// </summary>
public static class DigitsTraining
{
    /// <summary>The weight of the L2 term of the objective (L2 · |w|²).</summary>
    public const double L2 = 1e-4;

    /// <summary>
    /// The objective: the mean cross-entropy over the samples given plus L2 · |w|². Adam gets it on each minibatch,
    /// L-BFGS on the whole training set, so both curves of the plot measure the same thing. <paramref name="hidden"/>,
    /// captured, is read at call time.
    /// </summary>
    public static Expression<Func<double[], Sample[], double>> Objective(int hidden) =>
        (w, samples) => samples.Sum(s => Digits.Loss(w, s, hidden)) / samples.Length + L2 * w.Sum(v => v * v);

    /// <summary>
    /// Trains on the first <paramref name="trainingImages"/> of the shuffled digits (the last 397 are the test set), with
    /// <paramref name="hidden"/> hidden units, <paramref name="adamEpochs"/> epochs of Adam (minibatches of 32) and at most
    /// <paramref name="lbfgsIterations"/> L-BFGS iterations; prints a line per epoch and per 10 iterations and the test
    /// accuracy, and writes the training curve into <paramref name="outputFolder"/>.
    /// </summary>
    public static DigitsTrainingResult Run(string dataFolder, string outputFolder, int trainingImages = 1400, int hidden = 24, int adamEpochs = 15, int lbfgsIterations = 150)
    {
        const int testImages = 397;
        string folder = Plots.Prepare(outputFolder);
        var samples = Digits.Load(Path.Combine(dataFolder, "digits.csv.gz"));
        if (trainingImages < 1 || trainingImages > samples.Length - testImages)
            throw new ArgumentOutOfRangeException(nameof(trainingImages), trainingImages, $"Between 1 and {samples.Length - testImages}.");
        var (train, test) = (samples[..trainingImages], samples[^testImages..]);
        var random = new Random(3);
        var w0 = Enumerable.Range(0, Digits.WeightCount(hidden)).Select(_ => (random.NextDouble() * 2 - 1) * 0.3).ToArray();
        Console.WriteLine($"  {train.Length} training and {test.Length} test images, {hidden} hidden units, {w0.Length} weights");
        double Accuracy(double[] w) => test.Count(s => Digits.Predict(w, s, hidden) == s.Label) / (double)test.Length;

        // The curve's abscissa is passes over the training set: an epoch of Adam is one, a call of f by L-BFGS is one.
        var passes = new List<double>();
        var losses = new List<double>();
        var clock = Stopwatch.StartNew();
        var objective = AD.Gradient(Objective(hidden));
        var adam = Stochastic.Adam(objective, w0, train, new StochasticOptions
        {
            BatchSize = 32,
            Epochs = adamEpochs,
            Seed = 1,
            LearningRate = 0.01,
            EpochProgress = new Reporter<EpochReport>(e =>
            {
                passes.Add(e.Epoch);
                losses.Add(e.MeanLoss);
                Console.WriteLine($"  Adam    epoch {e.Epoch,3}: mean minibatch loss {e.MeanLoss:F4} ({e.Steps} steps, {e.Elapsed.TotalSeconds:F1} s)");
            }),
        });
        double afterAdam = Accuracy(adam.X);
        Console.WriteLine($"  after Adam: test accuracy {afterAdam:P1}");

        var lbfgsPasses = new List<double>();
        var lbfgsLosses = new List<double>();
        var lbfgs = Minimize.Lbfgs(objective, adam.X, train, new MinimizeOptions
        {
            MaxIterations = lbfgsIterations,
            GradientTolerance = 1e-5,
            Progress = new Reporter<IterationReport>(r =>
            {
                lbfgsPasses.Add(adamEpochs + r.Evaluations);
                lbfgsLosses.Add(r.Value);
                if (r.Iteration % 10 == 0)
                    Console.WriteLine($"  L-BFGS  iteration {r.Iteration,3}: training loss {r.Value:F5}, |∇|∞ {r.GradientNorm:0.0E+00}, {r.Evaluations} calls of f");
            }),
        });
        double accuracy = Accuracy(lbfgs.X);
        Console.WriteLine($"  L-BFGS: {lbfgs.Reason}; test accuracy {accuracy:P1} ({Math.Round(accuracy * test.Length)} of {test.Length}) after {clock.Elapsed.TotalSeconds:F1} s in all");

        string plot = Plots.Lines(Path.Combine(folder, "digits-training.png"), $"Digits: {hidden} hidden units, Adam then L-BFGS (test accuracy {accuracy:P1})",
            "passes over the training set (Adam: epochs; L-BFGS: calls of f)", $"mean cross-entropy + {L2}·|w|²", logY: true,
            new Series("Adam: mean over the epoch's minibatches", passes.ToArray(), losses.ToArray()),
            new Series("L-BFGS: on the whole training set", lbfgsPasses.ToArray(), lbfgsLosses.ToArray()));
        Console.WriteLine($"  wrote {plot}");
        return new DigitsTrainingResult(accuracy, afterAdam, lbfgs.Value, adam, lbfgs, plot);
    }
}
