using System.Linq.Expressions;
using ExprAD.Tests.Oracles;
using NUnit.Framework;
using static ExprAD.Tests.Oracles.FiniteDifferences;

namespace ExprAD.Tests;

/// <summary>
/// <c>....Select(...).ToArray()</c> used as a value becomes a map region building an array once (in a per-thread
/// workspace buffer): checked in both modes against hand-written code and finite differences, hoisted out of the
/// loops that read it, with arrays read at computed indices, nested in loops and folds, and without allocation.
/// </summary>
[TestFixture]
public class MapRegionTests
{
    // m_j = sin(x_j) j, read at scrambled indices: f = Σ_i m[(3i) mod n] x_i + m.Length.
    private static readonly Expression<Func<double[], double>> Scrambled = x => Enumerable.Range(0, x.Length).Sum(i =>
        Enumerable.Range(0, x.Length).Select(j => Math.Sin(x[j]) * j).ToArray()[(i * 3) % x.Length] * x[i]);

    private static double HandScrambled(double[] x)
    {
        var m = new double[x.Length];
        for (int j = 0; j < x.Length; j++) m[j] = Math.Sin(x[j]) * j;
        double s = 0;
        for (int i = 0; i < x.Length; i++) s += m[i * 3 % x.Length] * x[i];
        return s;
    }

    [Test]
    public void MapReadAtComputedIndicesMatchesFiniteDifferencesInBothModes()
    {
        BothModes.AgreeWithFiniteDifferences(Scrambled, HandScrambled, [0.5, -1.0, 2.0, 0.3, 0.7, 1.4, -0.2], 1e-13);
    }

    [Test]
    public void AMapIsBuiltOnceOutsideTheLoopsThatReadIt()
    {
        var trace = AD.Trace(Scrambled).ToString();
        int maps = trace.Split("map over").Length - 1;
        Assert.That(maps, Is.EqualTo(1), trace);
        Assert.That(trace.IndexOf("map over", StringComparison.Ordinal), Is.LessThan(trace.IndexOf("Σ over", StringComparison.Ordinal)),
            "the map does not depend on the sum's index, so it is built before the sum\n" + trace);
    }

    [Test]
    public void MapsOfDataZipAndIndexedSelectInsideAFold()
    {
        // A recurrence whose step reads a precomputed array of weights c_k = exp(x_k / 2) (Zip with data, indexed Select).
        var u = new[] { 0.3, -0.6, 0.9, 0.1 };
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, 5).Aggregate(0.1, (s, t) =>
            Math.Tanh(s * x.Zip(u, (p, q) => p * q).Select((v, k) => Math.Exp(v / 2) + k).ToArray()[t % u.Length] + x[0]));
        double Hand(double[] x)
        {
            var c = new double[u.Length];
            for (int k = 0; k < u.Length; k++) c[k] = Math.Exp(x[k] * u[k] / 2) + k;
            double s = 0.1;
            for (int t = 0; t < 5; t++) s = Math.Tanh(s * c[t % u.Length] + x[0]);
            return s;
        }
        var g = BothModes.AgreeWithFiniteDifferences(f, Hand, [0.4, -0.2, 1.1, 0.6, 9.0], 1e-13);
        Assert.That(g[4], Is.EqualTo(0.0), "x[4] has no partner in u, so Zip never reads it");
    }

    [Test]
    public void MapsAllocateNothingOnceWarmAndNestInSums()
    {
        // Σ_i Σ_j a_j b_i with a and b maps, the inner map rebuilt per i (it depends on i).
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, 30).Sum(i =>
            x.Select(v => v * i).ToArray().Sum() * x.Select(v => Math.Cos(v)).ToArray()[i % x.Length]);
        double Hand(double[] x)
        {
            double total = 0;
            for (int i = 0; i < 30; i++) total += x.Sum(v => v * i) * Math.Cos(x[i % x.Length]);
            return total;
        }
        var gradient = AD.Gradient(f);
        var x = new[] { 0.2, 0.5, -0.3 };
        var g = new double[3];
        gradient(x, g);
        for (int k = 0; k < 3; k++) Assert.That(Agrees(g[k], Partial(Hand, x, k)), $"∂/∂x{k}");
        Assert.That(AllocationTests.Measure(() =>
        {
            double sum = 0;
            for (int n = 0; n < 100; n++) sum += gradient(x, g);
            return sum;
        }), Is.Zero);
    }

    [Test]
    public void WhereBeforeToArrayIsReportedWithTheSubExpression()
    {
        var error = Assert.Throws<NotSupportedException>(() => AD.Gradient(x => x.Where(v => v > 0).ToArray()[0]));
        Assert.That(error!.Message, Does.Contain("ToArray()").And.Contain("Where before ToArray()"));
    }
}
