namespace ExprAD.Optimization.Tests;

/// <summary>
/// The vectorised kernels L-BFGS relies on (<see cref="Vectors.Dot"/> with four accumulators,
/// <see cref="Vectors.AddScaledThenDot"/>, <see cref="Vectors.Step"/>, <see cref="Vectors.NormInf"/>, <see cref="Vectors.Scale"/>) against plain
/// loops, at lengths around the vector width and its multiples (every tail length), and NaN and infinity in every position.
/// </summary>
public class VectorKernelTests
{
    private static IEnumerable<int> Lengths() => Enumerable.Range(0, 70).Append(1_001).Append(10_000);

    private static double[] Random(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => random.NextDouble() * 2 - 1).ToArray();
    }

    [Test]
    public void DotAndAddScaledThenDotMatchPlainLoops()
    {
        foreach (int n in Lengths())
        {
            double[] a = Random(n, 1), b = Random(n, 2), z = Random(n, 3);
            double dot = 0, scale = 0;
            for (int i = 0; i < n; i++) { dot += a[i] * b[i]; scale += Math.Abs(a[i] * b[i]); }
            Assert.That(Vectors.Dot(a, b), Is.EqualTo(dot).Within(1e-14 * (scale + 1)), $"n = {n}");

            var expected = a.Select((e, i) => e + 0.75 * b[i]).ToArray();
            double fused = 0;
            for (int i = 0; i < n; i++) fused += z[i] * expected[i];
            var y = (double[])a.Clone();
            double result = Vectors.AddScaledThenDot(y, 0.75, b, z);
            Assert.That(y, Is.EqualTo(expected), $"n = {n}: y += alpha x, element by element as written");
            Assert.That(result, Is.EqualTo(fused).Within(1e-13 * (n + 1)), $"n = {n}");

            var step = new double[n];
            Vectors.Step(step, a, -0.5, b);
            Assert.That(step, Is.EqualTo(a.Select((e, i) => e + -0.5 * b[i]).ToArray()), $"n = {n}");

            var scaled = (double[])a.Clone();
            Vectors.Scale(scaled, -3);
            Assert.That(scaled, Is.EqualTo(a.Select(e => -3 * e).ToArray()), $"n = {n}");
        }
    }

    [Test]
    public void NormInfIsTheLargestMagnitudeAndKeepsNaN()
    {
        foreach (int n in Lengths().Where(n => n > 0))
        {
            var x = Random(n, 4);
            Assert.That(Vectors.NormInf(x), Is.EqualTo(x.Max(Math.Abs)), $"n = {n}");
            foreach (int at in new[] { 0, n / 2, n - 1 })
            {
                var y = (double[])x.Clone();
                y[at] = double.NaN;
                Assert.That(Vectors.NormInf(y), Is.NaN, $"n = {n}, NaN at {at}");
                y[at] = double.NegativeInfinity;
                Assert.That(Vectors.NormInf(y), Is.EqualTo(double.PositiveInfinity), $"n = {n}, -inf at {at}");
                y[at] = -7;
                Assert.That(Vectors.NormInf(y), Is.EqualTo(7), $"n = {n}, -7 at {at}");
            }
        }
    }
}
