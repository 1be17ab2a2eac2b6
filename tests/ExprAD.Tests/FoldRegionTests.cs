using System.Linq.Expressions;
using ExprAD.Tests.Oracles;
using NUnit.Framework;
using static ExprAD.Tests.Oracles.FiniteDifferences;

namespace ExprAD.Tests;

/// <summary>
/// <c>Aggregate(seed, (state, element) =&gt; ...)</c> becomes a fold region carrying its state, never unrolled:
/// checked in both modes against hand-written loops and finite differences, with array states, masks,
/// result selectors, nesting, checkpointing (which must not change a single bit), trip counts read at
/// call time, steady-state calls that allocate nothing, and concurrent callers.
/// </summary>
[TestFixture]
public class FoldRegionTests
{
    // The issue's program: a recurrent cell s0' = tanh(p0 s0 + p1 u_t), accumulating s1' = s1 + s0².
    private static readonly Expression<Func<double[], double[], double>> Recurrence = (p, u) => Enumerable.Range(0, u.Length).Aggregate(
        new[] { 0.0, 0.0 }, (s, t) => new[] { Math.Tanh(p[0] * s[0] + p[1] * u[t]), s[1] + s[0] * s[0] })[1];

    /// <summary>The recurrence and its gradient written out by hand: a forward loop storing states, then a backward loop.</summary>
    private static double HandRecurrence(double[] p, double[] u, double[] gradient)
    {
        int n = u.Length;
        var s0 = new double[n + 1];
        double s1 = 0;
        for (int t = 0; t < n; t++)
        {
            s1 += s0[t] * s0[t];
            s0[t + 1] = Math.Tanh(p[0] * s0[t] + p[1] * u[t]);
        }
        double a0 = 0, a1 = 1, g0 = 0, g1 = 0; // adjoints of s0 and s1 after the last step
        for (int t = n - 1; t >= 0; t--)
        {
            double local = a0 * (1 - s0[t + 1] * s0[t + 1]); // through tanh
            g0 += local * s0[t];
            g1 += local * u[t];
            a0 = local * p[0] + a1 * 2 * s0[t];
        }
        gradient[0] = g0;
        gradient[1] = g1;
        return s1;
    }

    private static double[] Inputs(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => random.NextDouble() * 2 - 1).ToArray();
    }

    [Test]
    public void TheIssuesRecurrenceMatchesAHandWrittenAdjointAndFiniteDifferences()
    {
        var gradient = AD.Gradient(Recurrence);
        foreach (int n in new[] { 1, 2, 7, 200 })
        {
            var u = Inputs(n, n);
            double[] p = [0.8, -0.6];
            var g = new double[2];
            var expected = new double[2];
            double value = gradient(p, u, g);
            double hand = HandRecurrence(p, u, expected);
            Assert.That(value, Is.EqualTo(hand).Within(RelativeTolerance(hand, 1e-13)), $"n = {n}");
            for (int k = 0; k < 2; k++)
            {
                Assert.That(g[k], Is.EqualTo(expected[k]).Within(RelativeTolerance(expected[k], 1e-12)), $"n = {n}, ∂/∂p{k}");
                var fd = Partial(q => HandRecurrence(q, u, new double[2]), p, k);
                Assert.That(Agrees(g[k], fd), $"n = {n}, ∂/∂p{k}: {g[k]:R} vs finite differences {fd}");
            }
        }
    }

    [Test]
    public void ForwardModeThroughAFoldMatchesTheHandWrittenGradient()
    {
        var u = Inputs(50, 3);
        var compiled = Recurrence.Compile();
        var jvp = AD.Jvp(p => Enumerable.Range(0, u.Length).Aggregate(
            new[] { 0.0, 0.0 }, (s, t) => new[] { Math.Tanh(p[0] * s[0] + p[1] * u[t]), s[1] + s[0] * s[0] })[1]);
        double[] point = [0.3, 1.1];
        var expected = new double[2];
        double hand = HandRecurrence(point, u, expected);
        foreach (var direction in new[] { new[] { 1.0, 0.0 }, [0.0, 1.0], [0.5, -2.0] })
        {
            double value = jvp(point, direction, out double derivative);
            Assert.That(value, Is.EqualTo(hand).Within(RelativeTolerance(hand, 1e-13)));
            double dot = expected[0] * direction[0] + expected[1] * direction[1];
            Assert.That(derivative, Is.EqualTo(dot).Within(RelativeTolerance(dot, 1e-12)));
        }
        Assert.That(compiled(point, u), Is.EqualTo(hand).Within(RelativeTolerance(hand, 1e-13)), "the lambda itself, run by LINQ");
    }

    [Test]
    public void CheckpointingGivesBitIdenticalResultsForEveryInterval()
    {
        var plain = AD.Gradient(Recurrence);
        foreach (int n in new[] { 0, 1, 5, 64, 1000 })
        {
            var u = Inputs(n, 7 + n);
            double[] p = [1.3, 0.4];
            var expected = new double[2];
            double value = plain(p, u, expected);
            foreach (int interval in new[] { 2, 3, 7, 32, 999, 5000 })
            {
                var checkpointed = AD.Gradient(Recurrence, new ADOptions { CheckpointInterval = interval });
                var g = new double[2];
                Assert.That(checkpointed(p, u, g), Is.EqualTo(value), $"n = {n}, interval {interval}");
                Assert.That(g, Is.EqualTo(expected), $"n = {n}, interval {interval}: recomputed states replay the same operations");
            }
        }
    }

    [Test]
    public void ScalarStateOverAnArrayWithSelectWhereAndAResultSelector()
    {
        // acc' = acc * cos(2 v) + v over the elements v = x_k with x_k > -0.5; result sqrt(acc² + 1).
        Expression<Func<double[], double>> f = x => x.Select(v => 2 * v).Where(v => v > -1).Aggregate(1.0,
            (acc, v) => acc * Math.Cos(v) + v / 2, acc => Math.Sqrt(acc * acc + 1));
        double Hand(double[] x)
        {
            double acc = 1;
            foreach (var v in x) if (v > -0.5) acc = acc * Math.Cos(2 * v) + v;
            return Math.Sqrt(acc * acc + 1);
        }
        var gradient = AD.Gradient(f);
        var x = new[] { 0.3, -0.9, 1.2, 0.1, -0.2, 0.7 };
        var g = new double[x.Length];
        Assert.That(gradient(x, g), Is.EqualTo(Hand(x)).Within(RelativeTolerance(Hand(x), 1e-13)));
        for (int k = 0; k < x.Length; k++)
        {
            var fd = Partial(Hand, x, k, h: 1e-4);
            Assert.That(Agrees(g[k], fd), $"∂/∂x{k}: {g[k]:R} vs {fd}");
        }
        Assert.That(g[1], Is.EqualTo(0.0), "a masked-out element does not move the result");
    }

    [Test]
    public void FoldsNestInSumsAndSumsAndFoldsNestInFolds()
    {
        // Σ_i fold_j (s' = s * x_j + i) and fold_i (s' = sin(s) + Σ_j x_j s^j / (j + 1)), and a fold in a fold.
        Expression<Func<double[], double>> foldInSum = x => Enumerable.Range(1, 4).Sum(i => x.Aggregate(0.5, (s, v) => s * v + i));
        Expression<Func<double[], double>> sumInFold = x => Enumerable.Range(0, 6).Aggregate(0.2, (s, i) =>
            Math.Sin(s) + Enumerable.Range(0, x.Length).Sum(j => x[j] * Math.Pow(s, j) / (j + 1 + i)));
        Expression<Func<double[], double>> foldInFold = x => Enumerable.Range(0, 3).Aggregate(x[0], (s, i) =>
            x.Aggregate(s, (r, v) => Math.Tanh(r * v + i)) * s);
        Func<double[], double> handFoldInSum = x =>
        {
            double total = 0;
            for (int i = 1; i <= 4; i++) { double s = 0.5; foreach (var v in x) s = s * v + i; total += s; }
            return total;
        };
        Func<double[], double> handSumInFold = x =>
        {
            double s = 0.2;
            for (int i = 0; i < 6; i++)
            {
                double sum = 0;
                for (int j = 0; j < x.Length; j++) sum += x[j] * Math.Pow(s, j) / (j + 1 + i);
                s = Math.Sin(s) + sum;
            }
            return s;
        };
        Func<double[], double> handFoldInFold = x =>
        {
            double s = x[0];
            for (int i = 0; i < 3; i++) { double r = s; foreach (var v in x) r = Math.Tanh(r * v + i); s = r * s; }
            return s;
        };
        var x = new[] { 0.4, -0.3, 0.8 };
        foreach (var (lambda, hand) in new[] { (foldInSum, handFoldInSum), (sumInFold, handSumInFold), (foldInFold, handFoldInFold) })
        {
            var g = BothModes.AgreeWithFiniteDifferences(lambda, hand, x, 1e-12, $"{lambda}: ");
            foreach (int interval in new[] { 2, 5 })
            {
                var checkpointed = AD.Gradient(lambda, new ADOptions { CheckpointInterval = interval });
                var gc = new double[x.Length];
                checkpointed(x, gc);
                Assert.That(gc, Is.EqualTo(g), $"{lambda}: interval {interval}");
            }
        }
    }

    [Test]
    public void SecondDerivativeThroughAFoldIsForwardModeTwice()
    {
        // s' = sin(s) + x, ten times from s = x.
        var second = AD.Derivative(x => Enumerable.Range(0, 10).Aggregate(x, (s, i) => Math.Sin(s) + x), 2);
        double Hand(double x)
        {
            double s = x;
            for (int i = 0; i < 10; i++) s = Math.Sin(s) + x;
            return s;
        }
        var first = AD.Derivative(x => Enumerable.Range(0, 10).Aggregate(x, (s, i) => Math.Sin(s) + x));
        foreach (var x in new[] { 0.3, -1.2, 2.0 })
        {
            Assert.That(Agrees(first(x), Derivative(Hand, x)), $"f'({x})");
            Assert.That(Agrees(second(x), Derivative(first, x)), $"f''({x}) = {second(x):R} vs {Derivative(first, x)}");
        }
    }

    [Test]
    public void TripCountIsReadAtCallTimeAndTheKernelDoesNotDependOnIt()
    {
        var gradient = AD.Gradient(Recurrence);
        var info = AD.GetCompilationInfo(gradient)!;
        var g = new double[2];
        var expected = new double[2];
        foreach (int n in new[] { 3, 100_000, 0, 17 })
        {
            var u = Inputs(n, 11);
            double value = gradient([0.9, 0.2], u, g);
            double hand = HandRecurrence([0.9, 0.2], u, expected);
            Assert.That(value, Is.EqualTo(hand).Within(RelativeTolerance(hand, 1e-12)), $"n = {n}");
            Assert.That(g, Is.EqualTo(expected).Within(1e-10 * (1 + Math.Abs(expected[0]) + Math.Abs(expected[1]))), $"n = {n}");
        }
        Assert.That(info.TraceLength, Is.LessThan(80), "code size does not grow with the trip count");
    }

    [Test]
    public void SteadyStateCallsAllocateNothingAndConcurrentCallersAgree()
    {
        foreach (int interval in new[] { 1, 8 })
        {
            var gradient = AD.Gradient(Recurrence, new ADOptions { CheckpointInterval = interval });
            var u = Inputs(5000, 5);
            var g = new double[2];
            double[] p = [0.7, 0.5];
            // The tape grows on the first (warm-up) call.
            long allocated = AllocationTests.Measure(() =>
            {
                double total = 0;
                for (int k = 0; k < 50; k++) total += gradient(p, u, g);
                return total;
            });
            Assert.That(allocated, Is.Zero, $"interval {interval}: bytes allocated by 50 calls");
        }

        var shared = AD.Gradient(Recurrence, new ADOptions { CheckpointInterval = 4 });
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 8, worker =>
        {
            var u = Inputs(300 + worker * 37, worker);
            double[] p = [0.5 + 0.1 * worker, -0.3];
            var g = new double[2];
            var expected = new double[2];
            double hand = HandRecurrence(p, u, expected);
            for (int k = 0; k < 200; k++)
            {
                double value = shared(p, u, g);
                if (!Close(value, hand, 1e-12) || !Close(g[0], expected[0], 1e-10) || !Close(g[1], expected[1], 1e-10))
                    failures.Add($"worker {worker}, call {k}: {value} {g[0]} {g[1]} vs {hand} {expected[0]} {expected[1]}");
            }
        });
        Assert.That(failures, Is.Empty);
    }

    [Test]
    public void UnsupportedAggregatesAreReportedWithTheSubExpression()
    {
        var noSeed = Assert.Throws<NotSupportedException>(() => AD.Gradient(x => x.Aggregate((a, b) => a * b)));
        Assert.That(noSeed!.Message, Does.Contain("Aggregate"));
        var lengths = Assert.Throws<NotSupportedException>(() => AD.Gradient(x => Enumerable.Range(0, 3).Aggregate(new[] { 1.0, 2.0 },
            (s, i) => new[] { s[0] * x[0] })[0]));
        Assert.That(lengths!.Message, Does.Contain("new [] {(s[0] * x[0])}").And.Contain("1 elements where the seed has 2"));
    }

    /// <summary>A small array state read at a computed index: the value is LINQ's, the gradient forward mode's.</summary>
    [Test]
    public void AStateReadAtAComputedIndex()
    {
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, 5).Aggregate(new[] { 1.0, 2.0 },
            (s, i) => new[] { s[i % 2] * x[0], s[0] + x[1] * i })[0];
        var x = new[] { 0.9, -0.4 };
        var g = new double[2];
        Assert.That(AD.Gradient(f)(x, g), Is.EqualTo(f.Compile()(x)));
        for (int j = 0; j < 2; j++)
        {
            AD.Jvp(f)(x, j == 0 ? [1.0, 0.0] : [0.0, 1.0], out double directional);
            Assert.That(g[j], Is.EqualTo(directional).Within(1e-13), $"∂/∂x[{j}]");
        }
    }

    [Test]
    public void ArraysBuiltInTheLambdaAreIntermediateValues()
    {
        var gradient = AD.Gradient(v => new[] { v[0] * v[1], Math.Sin(v[1]) }[1] + new[] { v[0], 2.0 }.Length);
        var g = new double[2];
        Assert.That(gradient([0.5, 0.25], g), Is.EqualTo(Math.Sin(0.25) + 2));
        Assert.That(g, Is.EqualTo(new[] { 0.0, Math.Cos(0.25) }));
    }
}
