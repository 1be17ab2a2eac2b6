using ExprAD.Examples;

namespace ExprAD.Optimization.Tests.Examples;

/// <summary>
/// The SMD-against-SGD example at reduced size: on least squares whose curvature spans four orders of magnitude, SMD's
/// per-weight gains reach a far lower loss than SGD at the best of its learning rates.
/// </summary>
public class MetaDescentExampleTests
{
    [Test]
    public void TheProblemIsTheStatedOne()
    {
        var (data, truth) = MetaDescent.Problem(rows: 4000, features: 5, seed: 1);
        // True weights ±1 / scale: each feature carries the same share of the signal.
        Assert.That(truth, Is.EqualTo(new[] { 10, -Math.Sqrt(10), 1, -1 / Math.Sqrt(10), 0.1 }).Within(1e-12));
        // Feature j has standard deviation 10^(−1 + j / 2): 0.1, 0.316, 1, 3.16, 10 (sample estimates within 5%).
        for (int j = 0; j < 5; j++)
        {
            double deviation = Math.Sqrt(data.Average(o => o.Features[j] * o.Features[j]));
            Assert.That(deviation, Is.EqualTo(Math.Pow(10, -1 + j / 2.0)).Within(5).Percent, $"feature {j}");
        }
        // The residual of the true weights is the noise: standard deviation 0.01.
        double noise = Math.Sqrt(data.Average(o => Math.Pow(o.Features.Zip(truth, (a, b) => a * b).Sum() - o.Target, 2)));
        Assert.That(noise, Is.EqualTo(0.01).Within(5).Percent);
    }

    [Test]
    public void AtReducedSizeSmdReachesAFarLowerLossThanSgd()
    {
        using var output = new ExampleOutput();
        var result = MetaDescent.Run(output.Folder, rows: 800, epochs: 16);

        Assert.That(result.Smd.StopReason, Is.EqualTo(StopReason.EpochsCompleted), result.Smd.Reason);
        Assert.That(result.Sgd.StopReason, Is.EqualTo(StopReason.EpochsCompleted), result.Sgd.Reason);
        Assert.That(result.SmdLoss, Is.LessThan(result.SgdLoss / 10), "SMD's final full-data loss against SGD's");
        // SMD's weights are near the true ones, in the flat directions (features scaled by 0.1, weights ±10) too.
        var (_, truth) = MetaDescent.Problem(rows: 800, features: 10, seed: 9);
        Assert.That(result.Smd.X.Zip(truth, (a, b) => Math.Abs(a - b)).Max(), Is.LessThan(0.05));
        Assert.That(result.SmdLoss, Is.LessThan(3 * result.NoiseFloor), "SMD near the noise's share of the loss");
        output.AssertPng(result.Plot);
    }
}
