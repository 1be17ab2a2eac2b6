using ExprAD.Examples;

namespace ExprAD.Optimization.Tests.Examples;

/// <summary>
/// The digits training example at reduced size (500 training images, 12 hidden units, a few Adam epochs, 40 L-BFGS
/// iterations): it learns to classify the 397 held-out images, and L-BFGS lowers the training loss Adam left.
/// </summary>
public class DigitsTrainingExampleTests
{
    [Test]
    public void AtReducedSizeAdamThenLbfgsClassifiesTheTestImages()
    {
        using var output = new ExampleOutput();
        var result = DigitsTraining.Run(ExampleOutput.Data, output.Folder, trainingImages: 500, hidden: 12, adamEpochs: 5, lbfgsIterations: 40);

        Assert.That(result.Adam.Iterations, Is.EqualTo(5 * 16), "steps: 5 epochs of ⌈500 / 32⌉ minibatches");
        Assert.That(result.Lbfgs.Iterations, Is.LessThanOrEqualTo(40));
        Assert.That(result.TestAccuracy, Is.GreaterThanOrEqualTo(0.93), "test accuracy at reduced size");

        // The oracle for the training loss: the network's helpers run as plain C# methods, not through ExprAD.
        var samples = Digits.Load(Path.Combine(ExampleOutput.Data, "digits.csv.gz"))[..500];
        double Plain(double[] w) => samples.Sum(s => Digits.Loss(w, s, 12)) / samples.Length + DigitsTraining.L2 * w.Sum(v => v * v);
        Assert.That(result.TrainingLoss, Is.EqualTo(Plain(result.Lbfgs.X)).Within(1e-10));
        Assert.That(Plain(result.Lbfgs.X), Is.LessThan(Plain(result.Adam.X)), "L-BFGS improves on Adam's weights");
        output.AssertPng(result.Plot);
    }
}
