using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Linq.Expressions;

namespace ExprAD.Examples;

/// <summary>One image of the digits data set: 64 pixels scaled to [0, 1], and its label 0..9.</summary>
public sealed record Sample(double[] Pixels, int Label);

/// <summary>The training set and the network's width, the data argument of the loss.</summary>
public sealed record DigitsData(Sample[] Samples, int Hidden);

/// <summary>
/// A two-layer network on the digits data set, written as plain C#: <see cref="DifferentiableAttribute"/> helpers, LINQ
/// over a <c>Sample[]</c>, no index arithmetic in the lambda. The weights are one array: for each hidden unit j, 64 pixel
/// weights and a bias (65 values at 65 j); then for each class k, one weight per hidden unit and a bias.
/// </summary>
public static partial class Digits
{
    private const int Pixels = 64, Classes = 10;

    /// <summary>The number of weights of a network with <paramref name="hidden"/> hidden units.</summary>
    public static int WeightCount(int hidden) => hidden * (Pixels + 1) + Classes * (hidden + 1);

    /// <summary>The hidden layer: tanh of an affine function of the pixels.</summary>
    [Differentiable]
    public static double HiddenUnit(double[] w, Sample s, int j) =>
        Math.Tanh(w[j * (Pixels + 1) + Pixels] + Enumerable.Range(0, Pixels).Sum(p => w[j * (Pixels + 1) + p] * s.Pixels[p]));

    /// <summary>The score of class k: an affine function of the hidden layer.</summary>
    [Differentiable]
    public static double Score(double[] w, double[] hidden, int k)
    {
        int offset = hidden.Length * (Pixels + 1) + k * (hidden.Length + 1);
        return w[offset + hidden.Length] + Enumerable.Range(0, hidden.Length).Sum(j => w[offset + j] * hidden[j]);
    }

    /// <summary>Cross-entropy of the softmax of the scores against the label (log-sum-exp shifted by the largest score).</summary>
    [Differentiable]
    public static double Loss(double[] w, Sample s, int hiddenUnits)
    {
        double[] hidden = Enumerable.Range(0, hiddenUnits).Select(j => HiddenUnit(w, s, j)).ToArray();
        double[] scores = Enumerable.Range(0, Classes).Select(k => Score(w, hidden, k)).ToArray();
        double top = scores.Max();
        return top + Math.Log(scores.Sum(z => Math.Exp(z - top))) - scores[s.Label];
    }

    /// <summary>The training objective: the mean loss over the samples, plus a little weight decay.</summary>
    public static readonly Expression<Func<double[], DigitsData, double>> Objective = (w, d) =>
        d.Samples.Sum(s => Loss(w, s, d.Hidden)) / d.Samples.Length + 1e-4 * w.Sum(v => v * v);

    /// <summary>The class with the largest score (plain C#, for accuracy).</summary>
    public static int Predict(double[] w, Sample s, int hiddenUnits)
    {
        var hidden = Enumerable.Range(0, hiddenUnits).Select(j => HiddenUnit(w, s, j)).ToArray();
        var scores = Enumerable.Range(0, Classes).Select(k => Score(w, hidden, k)).ToArray();
        return Array.IndexOf(scores, scores.Max());
    }

    /// <summary>The 1,797 images of digits.csv.gz (pixels 0..16 scaled to [0, 1]), in a fixed shuffled order.</summary>
    public static Sample[] Load(string path)
    {
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        var samples = new List<Sample>();
        while (reader.ReadLine() is { } line)
        {
            var values = line.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            samples.Add(new Sample(values[..Pixels].Select(p => p / 16).ToArray(), (int)values[Pixels]));
        }
        var shuffled = samples.ToArray();
        new Random(11).Shuffle(shuffled);
        return shuffled;
    }

    /// <summary>Trains by gradient descent with momentum; returns the weights and the test accuracy.</summary>
    public static (double[] Weights, double TestAccuracy) Train(Sample[] train, Sample[] test, int hidden, int iterations, Action<string>? report = null)
    {
        var random = new Random(3);
        var w = Enumerable.Range(0, WeightCount(hidden)).Select(_ => (random.NextDouble() * 2 - 1) * 0.3).ToArray();
        var gradient = AD.Gradient(Objective);
        var data = new DigitsData(train, hidden);
        var g = new double[w.Length];
        var velocity = new double[w.Length];
        double Accuracy(Sample[] set) => set.Count(s => Predict(w, s, hidden) == s.Label) / (double)set.Length;
        for (int it = 0; it < iterations; it++)
        {
            double loss = gradient(w, data, g);
            for (int k = 0; k < w.Length; k++)
            {
                velocity[k] = 0.9 * velocity[k] - 0.5 * g[k];
                w[k] += velocity[k];
            }
            if (report is not null && (it % 25 == 0 || it == iterations - 1))
                report($"  iteration {it,3}: training loss {loss:F4}, test accuracy {Accuracy(test):P1}");
        }
        return (w, Accuracy(test));
    }

    /// <summary>The example as the README runs it.</summary>
    public static void Run(string dataFolder)
    {
        var samples = Load(Path.Combine(dataFolder, "digits.csv.gz"));
        var (train, test) = (samples[..1400], samples[1400..]);
        var clock = Stopwatch.StartNew();
        var (_, accuracy) = Train(train, test, hidden: 16, iterations: 150, report: Console.WriteLine);
        Console.WriteLine($"  {train.Length} training and {test.Length} test images, {WeightCount(16)} weights: test accuracy {accuracy:P1} in {clock.Elapsed.TotalSeconds:F1} s (compile included)");
    }
}
