using ExprAD.Examples;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// The digits network of the examples ([Differentiable] helpers, LINQ over Sample[]) at reduced size: its gradient against
/// central differences of the same objective evaluated by plain C#, and a short training run that learns.
/// </summary>
[TestFixture]
public class DigitsExampleTests
{
    private static Sample[] Samples() => Digits.Load(Path.Combine(AppContext.BaseDirectory, "data", "digits.csv.gz"));

    [Test]
    public void GradientMatchesDifferencesOfThePlainCSharpLoss()
    {
        var samples = Samples()[..40];
        Assert.That(Samples(), Has.Length.EqualTo(1797));
        const int hidden = 4;
        var random = new Random(2);
        var w = Enumerable.Range(0, Digits.WeightCount(hidden)).Select(_ => random.NextDouble() - 0.5).ToArray();
        var data = new DigitsData(samples, hidden);
        // The oracle: the helpers run as the C# methods they are (not through ExprAD).
        double Plain(double[] v) => samples.Sum(s => Digits.Loss(v, s, hidden)) / samples.Length + 1e-4 * v.Sum(e => e * e);
        var gradient = new double[w.Length];
        double value = AD.Gradient(Digits.Objective)(w, data, gradient);
        Assert.That(value, Is.EqualTo(Plain(w)).Within(1e-12));
        foreach (int k in new[] { 0, 17, 64, 100, 200, w.Length - 1 })
        {
            var plus = (double[])w.Clone();
            var minus = (double[])w.Clone();
            plus[k] += 1e-6;
            minus[k] -= 1e-6;
            double difference = (Plain(plus) - Plain(minus)) / 2e-6;
            Assert.That(gradient[k], Is.EqualTo(difference).Within(1e-7 + 1e-6 * Math.Abs(difference)), $"∂/∂w{k}");
        }
    }

    [Test]
    public void AShortTrainingRunLearns()
    {
        var samples = Samples();
        var (_, accuracy) = Digits.Train(samples[..400], samples[1400..], hidden: 8, iterations: 40);
        Assert.That(accuracy, Is.GreaterThan(0.8), "test accuracy after 40 iterations on 400 images");
    }
}
