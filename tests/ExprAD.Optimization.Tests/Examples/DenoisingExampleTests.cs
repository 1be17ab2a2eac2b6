using ExprAD.Examples;

namespace ExprAD.Optimization.Tests.Examples;

/// <summary>
/// The total-variation denoising example: its energy lambda against the same energy written as plain loops, and the
/// example at reduced size (64 x 64): both minimisers converge to the same image, which is much closer to the clean one.
/// </summary>
public class DenoisingExampleTests
{
    // The oracle: E(u) = ½ Σ (u − f)² + λ Σ sqrt(ε² + (∇x u)² + (∇y u)²), forward differences, a difference past the last
    // row or column taken as 0; loops, not ExprAD.
    private static double PlainEnergy(double[] u, NoisyImage d)
    {
        int n = d.Size;
        double fidelity = 0, variation = 0;
        for (int i = 0; i < u.Length; i++) fidelity += 0.5 * (u[i] - d.Noisy[i]) * (u[i] - d.Noisy[i]);
        for (int r = 0; r < n; r++)
            for (int c = 0; c < n; c++)
            {
                if (r == n - 1 && c == n - 1) continue;   // no difference at all at the last pixel
                double dx = c + 1 < n ? u[r * n + c + 1] - u[r * n + c] : 0;
                double dy = r + 1 < n ? u[(r + 1) * n + c] - u[r * n + c] : 0;
                variation += Math.Sqrt(d.Epsilon * d.Epsilon + dx * dx + dy * dy);
            }
        return fidelity + d.Lambda * variation;
    }

    [Test]
    public void TheEnergyAndItsGradientMatchPlainLoopsAndDifferences()
    {
        const int size = 6;
        var random = new Random(1);
        var data = new NoisyImage(Enumerable.Range(0, size * size).Select(_ => random.NextDouble()).ToArray(), size, 0.3, 0.05);
        var u = Enumerable.Range(0, size * size).Select(_ => random.NextDouble()).ToArray();
        var gradient = new double[u.Length];
        double value = AD.Gradient(Denoising.Energy)(u, data, gradient);
        Assert.That(value, Is.EqualTo(PlainEnergy(u, data)).Within(1e-12));
        for (int k = 0; k < u.Length; k++)
        {
            var plus = (double[])u.Clone();
            var minus = (double[])u.Clone();
            plus[k] += 1e-5;
            minus[k] -= 1e-5;
            double difference = (PlainEnergy(plus, data) - PlainEnergy(minus, data)) / 2e-5;
            Assert.That(gradient[k], Is.EqualTo(difference).Within(1e-7), $"∂E/∂u{k}");
        }
    }

    [Test]
    public void PsnrOfAConstantErrorIsItsClosedForm()
    {
        var clean = new double[100];
        var image = clean.Select(v => v + 0.1).ToArray();
        Assert.That(Denoising.Psnr(clean, image), Is.EqualTo(20).Within(1e-9));   // 10 log10(1 / 0.01)
    }

    [Test]
    public void AtReducedSizeBothMinimisersConvergeToTheSameMuchCleanerImage()
    {
        using var output = new ExampleOutput();
        var result = Denoising.Run(output.Folder, size: 64);

        Assert.That(result.Newton.Converged, Is.True, result.Newton.Reason);
        Assert.That(result.Lbfgs.Converged, Is.True, result.Lbfgs.Reason);
        Assert.That(result.NewtonPsnr - result.NoisyPsnr, Is.GreaterThanOrEqualTo(10), "PSNR gain of sparse Newton, dB");
        Assert.That(result.LbfgsPsnr - result.NoisyPsnr, Is.GreaterThanOrEqualTo(10), "PSNR gain of L-BFGS, dB");
        // The energy is strictly convex: one minimiser, which both must have found.
        Assert.That(result.Newton.X.Zip(result.Lbfgs.X, (a, b) => Math.Abs(a - b)).Max(), Is.LessThan(1e-4));

        // Stationarity checked by the oracle: central differences of the plain energy at Newton's result, at some pixels.
        var data = new NoisyImage(Denoising.AddNoise(Denoising.TestImage(64), 0.12, seed: 5), 64, 0.1, 0.01);
        foreach (int k in new[] { 0, 63, 1000, 2080, 3000, 4095 })
        {
            var plus = (double[])result.Newton.X.Clone();
            var minus = (double[])result.Newton.X.Clone();
            plus[k] += 1e-6;
            minus[k] -= 1e-6;
            Assert.That((PlainEnergy(plus, data) - PlainEnergy(minus, data)) / 2e-6, Is.EqualTo(0).Within(1e-5), $"∂E/∂u{k} at the minimum");
        }
        foreach (var plot in result.Plots) output.AssertPng(plot);
    }
}
