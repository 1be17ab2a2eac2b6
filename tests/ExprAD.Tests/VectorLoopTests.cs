using System.Runtime.Intrinsics;
using System.Linq.Expressions;
using ExprAD.Caching;
using ExprAD.Codegen;
using ExprAD.Frontend;
using ExprAD.IR;
using ExprAD.Passes;
using ExprAD.Rules;
using ExprAD.Transforms;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// The two ways reverse mode avoids work in loops of loops: elementwise adjoint loops run four iterations at a time
/// (<see cref="ADOptions.VectorLoops"/>), bit-identical to scalar loops whatever the trip count; and a sum of sums in a
/// fold body becomes a map of the inner sums that the taped fold records (<see cref="NestedSumSplitting"/>), so the
/// backward fold does not recompute them. The random-program property (e) in <see cref="LoopPropertyTests"/> checks
/// bit-identity on 400 more programs.
/// </summary>
[TestFixture]
public class VectorLoopTests
{
    private static readonly ADOptions ScalarOnly = new() { VectorLoops = false };

    private static void AssertBitIdentical(GradientFunc vector, GradientFunc scalar, double[] x, string what)
    {
        var g = new double[x.Length];
        var h = new double[x.Length];
        double v = vector(x, g), s = scalar(x, h);
        Assert.That(BitConverter.DoubleToInt64Bits(v), Is.EqualTo(BitConverter.DoubleToInt64Bits(s)), $"{what}: value");
        for (int i = 0; i < x.Length; i++)
            Assert.That(BitConverter.DoubleToInt64Bits(g[i]), Is.EqualTo(BitConverter.DoubleToInt64Bits(h[i])), $"{what}: ∂/∂x[{i}] {g[i]:R} vs {h[i]:R}");
    }

    /// <summary>The number of vector loops in the lowered gradient kernel of <paramref name="f"/> (their adds into arrays).</summary>
    private static int VectorLoopCount(Expression<Func<double[], double>> f) =>
        LoweredKernels.Calls(LoweredKernels.Gradient(f), m => m.DeclaringType == typeof(VectorRuntime) && m.Name == nameof(VectorRuntime.AddInto));

    /// <summary>
    /// The adjoint loop of an inner sum (adds into the gradient, and into the adjoint array of a map) with every trip
    /// count from 0 to 11, so that blocks of four and every tail length run: the same bits as scalar loops, and the
    /// gradient of a hand-written loop.
    /// </summary>
    [Test]
    public void AdjointLoopsOfEveryTripCountEqualScalarLoopsAndAHandWrittenGradient()
    {
        Expression<Func<double[], double>> f = x => Math.Sin(Enumerable.Range(0, x.Length).Sum(j => x[j] * (j + 0.5)))
            + Enumerable.Range(0, x.Length).Select(j => x[j] * x[j]).ToArray().Sum(m => m / 3);
        Assert.That(VectorLoopCount(f), Is.GreaterThanOrEqualTo(1), "the adjoint loop runs four iterations at a time");
        var vector = AD.Gradient(f);
        var scalar = AD.Gradient(f, ScalarOnly);
        for (int n = 0; n <= 11; n++)
        {
            var x = Enumerable.Range(0, n).Select(j => 0.3 * j - 1.1).ToArray();
            AssertBitIdentical(vector, scalar, x, $"n = {n}");
            double s = 0;
            for (int j = 0; j < n; j++) s += x[j] * (j + 0.5);
            var g = new double[n];
            vector(x, g);
            for (int j = 0; j < n; j++)
                Assert.That(g[j], Is.EqualTo(Math.Cos(s) * (j + 0.5) + 2 * x[j] / 3).Within(1e-13), $"n = {n}, ∂/∂x[{j}]");
        }
    }

    /// <summary>
    /// Masked products (an adjoint through Max), negation and division in a vector loop: exact zeros stay masked (no NaN
    /// from √'s infinite slope at 0), signed zeros and infinities come out as in scalar loops, bit for bit.
    /// </summary>
    [Test]
    public void MaskedProductsNegationAndDivisionKeepEveryBit()
    {
        Expression<Func<double[], double>> f = x => Math.Max(x[0], Enumerable.Range(1, x.Length - 1).Sum(j => -Math.Sqrt(x[j]) / (j + 1.0)));
        var vector = AD.Gradient(f);
        var scalar = AD.Gradient(f, ScalarOnly);
        double[][] points =
        [
            [1e9, 0.0, 1, 2, 3, 4, 5, 6, 7, 8], // the sum is not taken, and one of its slopes is infinite
            [-1e9, 0.5, 1, 2, 3, 4, 5, 6, 7, 8],
            [-1e9, -0.0, 0.5, 2, 3, 4, 5, 6, 7], // taken: the slope at -0.0 is -∞, negated
        ];
        foreach (var x in points) AssertBitIdentical(vector, scalar, x, $"x = ({string.Join(", ", x)})");
        var g = new double[points[0].Length];
        vector(points[0], g);
        Assert.That(g, Is.EqualTo(new[] { 1.0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }));
        vector(points[1], g);
        for (int j = 1; j < g.Length; j++) Assert.That(g[j], Is.EqualTo(-0.5 / Math.Sqrt(points[1][j]) / (j + 1.0)).Within(1e-15), $"∂/∂x[{j}]");
        Assert.That(VectorLoopCount(f), Is.GreaterThanOrEqualTo(1), "the adjoint loop runs four iterations at a time");
    }

    /// <summary>
    /// Piecewise bodies (max, min, abs, comparisons of scalars, eager logic and select) in the adjoint loop of an inner sum
    /// run four iterations at a time with lane masks: the same bits as scalar loops for every trip count, and at the kinks,
    /// at signed zeros, infinities and NaN. (A ?: whose branch reads x[j] is evaluated only when taken, as C# does: a branch
    /// region, which keeps its loop scalar.)
    /// </summary>
    [Test]
    public void PiecewiseBodiesKeepEveryBit()
    {
        Expression<Func<double[], double>> f = x => Math.Sin(Enumerable.Range(0, x.Length).Sum(j =>
            Math.Max(0, x[j]) * (j + 0.5) + Math.Abs(x[j] - 0.3) + (x[j] > 0.5 & x[j] != 1 | x[j] < -2 ? 2.0 : -1.0) * x[j] + Math.Min(x[j], 0.2)));
        Assert.That(VectorLoopCount(f), Is.GreaterThanOrEqualTo(1), "the adjoint loop runs four iterations at a time");
        var vector = AD.Gradient(f);
        var scalar = AD.Gradient(f, ScalarOnly);
        double[] specials = [0.0, -0.0, 0.3, 0.5, 1.0, -2.0, 0.2, double.PositiveInfinity, double.NegativeInfinity, double.NaN, 1e-310, -3.5];
        var random = new Random(17);
        for (int n = 0; n <= 11; n++)
            for (int k = 0; k < 20; k++)
            {
                var x = Enumerable.Range(0, n).Select(_ => random.Next(3) == 0 ? specials[random.Next(specials.Length)] : 6 * random.NextDouble() - 3).ToArray();
                AssertBitIdentical(vector, scalar, x, $"x = ({string.Join(", ", x)})");
            }

        // The values of max, min and abs too: under fast math the fused forward and adjoint loop of a separable sum runs in
        // lanes (its sum in another order), and each element's derivative, which uses them, keeps its bits.
        Expression<Func<double[], double>> separable = x => Enumerable.Range(0, x.Length).Sum(j =>
            Math.Max(0, x[j]) * Math.Max(0, x[j]) + Math.Abs(x[j] - 0.3) * x[j] + Math.Min(x[j], 0.2) * Math.Min(x[j], 0.2) + (x[j] > 0.5 | x[j] == -1 ? 2.0 : -1.0) * x[j]);
        var fast = new ADOptions { FastMath = true };
        var lanes = AD.Gradient(separable, fast);
        var oneByOne = AD.Gradient(separable, fast with { VectorLoops = false });
        for (int n = 8; n <= 19; n++)
            for (int k = 0; k < 20; k++)
            {
                var x = Enumerable.Range(0, n).Select(_ => random.Next(3) == 0 ? specials[random.Next(specials.Length)] : 6 * random.NextDouble() - 3).ToArray();
                var g = new double[n];
                var h = new double[n];
                double a = lanes(x, g), b = oneByOne(x, h);
                Assert.That(a, double.IsNaN(b) ? Is.NaN : Is.EqualTo(b).Within(1e-12 * (1 + Math.Abs(b))), "the value, up to the order of the sum");
                for (int j = 0; j < n; j++)
                    Assert.That(BitConverter.DoubleToInt64Bits(g[j]), Is.EqualTo(BitConverter.DoubleToInt64Bits(h[j])), $"x[{j}] = {x[j]:R}");
            }
    }

    /// <summary>The lane forms of max, min, abs and the comparisons against System.Math's and C#'s, bit for bit, on every pair of special values.</summary>
    [Test]
    public void LaneFormsAreCSharpsOnSpecialValues()
    {
        double[] values = [0.0, -0.0, double.NaN, 1.0, -1.0, double.PositiveInfinity, double.NegativeInfinity, double.Epsilon, -2.5];
        static long Bits(double v) => BitConverter.DoubleToInt64Bits(v);
        static bool Lane(Vector256<double> mask) => mask.AsInt64()[0] == -1;
        foreach (var a in values)
            foreach (var b in values)
            {
                Vector256<double> p = Vector256.Create(a), q = Vector256.Create(b);
                string at = $"({a}, {b})";
                Assert.That(Bits(VectorRuntime.Max(p, q)[0]), Is.EqualTo(Bits(Math.Max(a, b))), "max" + at);
                Assert.That(Bits(VectorRuntime.Min(p, q)[0]), Is.EqualTo(Bits(Math.Min(a, b))), "min" + at);
                Assert.That(Bits(VectorRuntime.Abs(p)[0]), Is.EqualTo(Bits(Math.Abs(a))), "abs" + at);
                Assert.That(Lane(VectorRuntime.LessThan(p, q)), Is.EqualTo(a < b), "<" + at);
                Assert.That(Lane(VectorRuntime.LessOrEqual(p, q)), Is.EqualTo(a <= b), "<=" + at);
                Assert.That(Lane(VectorRuntime.GreaterThan(p, q)), Is.EqualTo(a > b), ">" + at);
                Assert.That(Lane(VectorRuntime.GreaterOrEqual(p, q)), Is.EqualTo(a >= b), ">=" + at);
                Assert.That(Lane(VectorRuntime.Equal(p, q)), Is.EqualTo(a == b), "==" + at);
                Assert.That(Lane(VectorRuntime.NotEqual(p, q)), Is.EqualTo(a != b), "!=" + at);
                var mask = VectorRuntime.LessThan(p, q);
                Assert.That(Bits(VectorRuntime.Select(mask, p, q)[0]), Is.EqualTo(Bits(a < b ? a : b)), "select" + at);
                Assert.That(Lane(VectorRuntime.Not(mask)), Is.EqualTo(!(a < b)), "not" + at);
                Assert.That(Lane(VectorRuntime.And(mask, VectorRuntime.NotEqual(p, p))), Is.EqualTo(a < b & double.IsNaN(a)), "and" + at);
                Assert.That(Lane(VectorRuntime.Or(mask, VectorRuntime.Equal(p, q))), Is.EqualTo(a < b | a == b), "or" + at);
            }
    }

    /// <summary>
    /// A loop that adds into one adjoint array at two indices (m[i] and m[i + 1]) would change the order in which an
    /// element's terms are added if it ran four iterations at a time: it stays scalar, and the bits are the same.
    /// </summary>
    [Test]
    public void AddsIntoOneArrayAtTwoIndicesStayScalar()
    {
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length - 1).Sum(i =>
            Enumerable.Range(0, x.Length).Select(j => Math.Sin(x[j])).ToArray()[i] * Enumerable.Range(0, x.Length).Select(j => Math.Sin(x[j])).ToArray()[i + 1]);
        Assert.That(VectorLoopCount(f), Is.EqualTo(0));
        var x = Enumerable.Range(0, 13).Select(j => 0.2 * j).ToArray();
        AssertBitIdentical(AD.Gradient(f), AD.Gradient(f, ScalarOnly), x, "neighbours");
    }

    private const int Components = 5, Dimension = 7;

    /// <summary>
    /// A fold whose step has a sum of sums (the GMM's shape: Σ_r (Σ_c≤r a[r][c] x[k d + c])², carried through a running
    /// maximum): the taped fold records the inner sums as an array per iteration, and the gradient matches a hand-written
    /// derivative, forward mode, and the fold checkpointed (which records nothing and recomputes).
    /// </summary>
    [Test]
    public void AFoldRecordsItsInnerSumsAndItsGradientIsUnchanged()
    {
        var a = Enumerable.Range(0, Dimension * Dimension).Select(p => Math.Cos(p) * 0.4).ToArray();
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, Components).Aggregate(-1e300, (best, k) => Math.Max(best,
            Enumerable.Range(0, Dimension).Sum(r => Math.Pow(Enumerable.Range(0, r + 1).Sum(c => a[r * Dimension + c] * x[k * Dimension + c]), 2)) - k));

        var source = ExpressionTranslator.Translate(f, [ParameterRole.Array], StructuralKey.Of(f, "test").Constants);
        var reverse = ReverseMode.Apply(source, (b, _) => b.Constant(1.0));
        Assert.That(TapedFolds(reverse).Any(r => r.RecordedLengths.Length == 1), "the fold records the inner sums' array");

        var x = Enumerable.Range(0, Components * Dimension).Select(j => Math.Sin(1.7 * j)).ToArray();
        var g = new double[x.Length];
        double value = AD.Gradient(f)(x, g);

        // By hand: the maximum is reached at one component k*; there ∂/∂x[k d + c] = Σ_{r≥c} 2 z_r a[r][c].
        double Beta(int k, double[] z)
        {
            double sum = 0;
            for (int r = 0; r < Dimension; r++)
            {
                z[r] = 0;
                for (int c = 0; c <= r; c++) z[r] += a[r * Dimension + c] * x[k * Dimension + c];
                sum += z[r] * z[r];
            }
            return sum - k;
        }
        var zs = new double[Dimension];
        int argmax = Enumerable.Range(0, Components).MaxBy(k => Beta(k, zs));
        Assert.That(value, Is.EqualTo(Beta(argmax, zs)).Within(1e-12));
        var expected = new double[x.Length];
        for (int c = 0; c < Dimension; c++)
            for (int r = c; r < Dimension; r++) expected[argmax * Dimension + c] += 2 * zs[r] * a[r * Dimension + c];
        for (int j = 0; j < x.Length; j++) Assert.That(g[j], Is.EqualTo(expected[j]).Within(1e-12), $"∂/∂x[{j}]");

        var checkpointed = new double[x.Length];
        AD.Gradient(f, new ADOptions { CheckpointInterval = 2 })(x, checkpointed);
        Assert.That(checkpointed, Is.EqualTo(g).Within(1e-12), "checkpointed");
        var jvp = AD.Jvp(f);
        for (int j = 0; j < x.Length; j += 4)
        {
            var e = new double[x.Length];
            e[j] = 1;
            jvp(x, e, out double directional);
            Assert.That(directional, Is.EqualTo(g[j]).Within(1e-12), $"forward mode, ∂/∂x[{j}]");
        }
    }

    /// <summary>
    /// Two inner sums in one step of the sum (one of them over a trip count that depends on the outer index), under an
    /// Average (whose sum starts at -0.0), in a fold with an array state: the gradient's value is LINQ's bit for bit (the
    /// split sum adds the same terms in the same order), and its partials equal forward mode's.
    /// </summary>
    [Test]
    public void SplitSumsKeepTheValueBitForBitAndTheGradient()
    {
        var a = Enumerable.Range(0, 40).Select(p => Math.Sin(p) * 0.3).ToArray();
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, 4).Aggregate(new[] { 0.5, -0.25 }, (s, k) => new[]
        {
            Math.Tanh(s[0] + Enumerable.Range(0, 5).Average(r =>
                Enumerable.Range(0, r + 1).Sum(c => a[r * 5 + c] * x[k + c]) * Enumerable.Range(0, 3).Sum(c => x[c] - a[r + c]))),
            s[1] * s[0] + x[k],
        }).Sum();
        var source = ExpressionTranslator.Translate(f, [ParameterRole.Array], StructuralKey.Of(f, "test").Constants);
        Assert.That(TapedFolds(ReverseMode.Apply(source, (b, _) => b.Constant(1.0))).Any(r => r.RecordedLengths.Length == 2),
            "the fold records both inner sums' arrays");

        var gradient = AD.Gradient(f);
        var jvp = AD.Jvp(f);
        var linq = f.Compile();
        foreach (var seed in new[] { 1, 2, 3 })
        {
            var random = new Random(seed);
            var x = Enumerable.Range(0, 9).Select(_ => random.NextDouble() * 2 - 1).ToArray();
            var g = new double[x.Length];
            double value = gradient(x, g);
            Assert.That(BitConverter.DoubleToInt64Bits(value), Is.EqualTo(BitConverter.DoubleToInt64Bits(linq(x))), "value");
            for (int j = 0; j < x.Length; j++)
            {
                var e = new double[x.Length];
                e[j] = 1;
                jvp(x, e, out double directional);
                Assert.That(g[j], Is.EqualTo(directional).Within(1e-12 * (1 + Math.Abs(directional))), $"∂/∂x[{j}]");
            }
        }
    }

    /// <summary>Rows of features and targets, for the network below.</summary>
    public sealed class Rows
    {
        /// <summary>The features, one row per example.</summary>
        public double[][] X = [];

        /// <summary>The targets.</summary>
        public double[] Y = [];
    }

    private const int Hidden = 5, Features = 6;

    // A one-hidden-layer network's squared loss, w = [W (Hidden rows of Features), v (Hidden)], written two ways.
    private static readonly Expression<Func<double[], Rows, double>> SumOfSums = (w, d) => Enumerable.Range(0, d.Y.Length).Sum(i =>
        Math.Pow(Enumerable.Range(0, Hidden).Sum(k => w[Hidden * Features + k] * Math.Tanh(Enumerable.Range(0, Features).Sum(j => w[k * Features + j] * d.X[i][j])))
            - d.Y[i], 2));

    private static readonly Expression<Func<double[], Rows, double>> HiddenLayerMap = (w, d) => Enumerable.Range(0, d.Y.Length).Sum(i =>
        Math.Pow(Enumerable.Range(0, Hidden).Select(k => Math.Tanh(Enumerable.Range(0, Features).Sum(j => w[k * Features + j] * d.X[i][j]))).ToArray()
            .Select((a, k) => a * w[Hidden * Features + k]).Sum() - d.Y[i], 2));

    /// <summary>
    /// A sum of sums in a loop body (the hidden layer of a network, inline) is split, and a map in a loop body is built once
    /// although the fused loop holds its primal and its adjoint's copy: in reverse mode's trace, the loop over rows builds
    /// exactly one map and runs no sum of sums, whichever way the layer is written. The gradient equals a hand-written
    /// backward pass.
    /// </summary>
    [TestCaseSource(nameof(NetworkForms))]
    public void AHiddenLayerIsComputedOnceInTheAdjoint(Expression<Func<double[], Rows, double>> f)
    {
        var source = ExpressionTranslator.Translate(f, [ParameterRole.Array, ParameterRole.Data], StructuralKey.Of(f, "test").Constants);
        var reverse = DeadCodeElimination.Apply(LoopFusion.Apply(DeadCodeElimination.Apply(ReverseMode.Apply(source, (b, _) => b.Constant(1.0)))));
        var rowLoops = reverse.Instructions.Where(ins => ins.Op == Op.Sum).Select(ins => reverse.Regions[ins.C].Body)
            .Where(body => body.Instructions.Any(ins => ins.IsRegion)).ToList();
        Assert.That(rowLoops, Has.Count.EqualTo(1), "one fused loop over the rows");
        var rowBody = rowLoops[0];
        Assert.That(rowBody.Instructions.Count(ins => ins.Op == Op.Map), Is.EqualTo(1), "the hidden layer is built once per row");
        Assert.That(rowBody.Instructions.Where(ins => ins.Op == Op.Sum).Any(ins => rowBody.Regions[ins.C].Body.Instructions.Any(inner => inner.Op == Op.Sum && IsForwardSum(rowBody.Regions[ins.C].Body, inner))),
            Is.False, "no sum of the row recomputes the inner sums");

        var random = new Random(7);
        var data = new Rows
        {
            X = Enumerable.Range(0, 9).Select(_ => Enumerable.Range(0, Features).Select(_ => random.NextDouble() - 0.5).ToArray()).ToArray(),
            Y = Enumerable.Range(0, 9).Select(_ => random.NextDouble()).ToArray(),
        };
        var w = Enumerable.Range(0, Hidden * Features + Hidden).Select(_ => random.NextDouble() - 0.5).ToArray();
        var g = new double[w.Length];
        double loss = AD.Gradient(f)(w, data, g);

        var expected = new double[w.Length];
        double expectedLoss = 0;
        var activation = new double[Hidden];
        for (int i = 0; i < data.Y.Length; i++)
        {
            double prediction = 0;
            for (int k = 0; k < Hidden; k++)
            {
                double a = 0;
                for (int j = 0; j < Features; j++) a += w[k * Features + j] * data.X[i][j];
                activation[k] = Math.Tanh(a);
                prediction += w[Hidden * Features + k] * activation[k];
            }
            double residual = prediction - data.Y[i];
            expectedLoss += residual * residual;
            for (int k = 0; k < Hidden; k++)
            {
                expected[Hidden * Features + k] += 2 * residual * activation[k];
                for (int j = 0; j < Features; j++)
                    expected[k * Features + j] += 2 * residual * w[Hidden * Features + k] * (1 - activation[k] * activation[k]) * data.X[i][j];
            }
        }
        Assert.That(loss, Is.EqualTo(expectedLoss).Within(1e-12));
        for (int p = 0; p < w.Length; p++) Assert.That(g[p], Is.EqualTo(expected[p]).Within(1e-12), $"∂/∂w[{p}]");

        // The maps of inner sums live in the per-thread workspace: steady-state calls allocate nothing.
        var gradient = AD.Gradient(f);
        Assert.That(AllocationTests.Measure(() =>
        {
            double sum = 0;
            for (int call = 0; call < 20; call++) sum += gradient(w, data, g);
            return sum;
        }), Is.Zero);
    }

    public static IEnumerable<TestCaseData> NetworkForms()
    {
        yield return new TestCaseData(SumOfSums).SetName("hidden layer inline (a sum of sums)");
        yield return new TestCaseData(HiddenLayerMap).SetName("hidden layer as a map");
    }

    /// <summary>
    /// At the top level a sum of sums is split only when its adjoint is not a constant: the log of a sum over rows of
    /// exponentials of dot products gets a map of the dot products (its adjoint reads them), the plain sum of a loss over
    /// rows does not (its adjoint runs in its primal loop). Both gradients equal hand-written ones.
    /// </summary>
    [Test]
    public void TopLevelSumsAreSplitWhenTheirAdjointIsNotAConstant()
    {
        Expression<Func<double[], Rows, double>> logSumExp = (w, d) =>
            Math.Log(Enumerable.Range(0, d.Y.Length).Sum(i => Math.Exp(Enumerable.Range(0, Features).Sum(j => w[j] * d.X[i][j]))));
        Expression<Func<double[], Rows, double>> squares = (w, d) =>
            2 * Enumerable.Range(0, d.Y.Length).Sum(i => Math.Pow(Enumerable.Range(0, Features).Sum(j => w[j] * d.X[i][j]) - d.Y[i], 2)) - 1;
        int TopLevelMaps(Expression<Func<double[], Rows, double>> f)
        {
            var source = ExpressionTranslator.Translate(f, [ParameterRole.Array, ParameterRole.Data], StructuralKey.Of(f, "test").Constants);
            return NestedSumSplitting.Apply(source).Instructions.Count(ins => ins.Op == Op.Map);
        }
        Assert.That(TopLevelMaps(logSumExp), Is.EqualTo(1), "log of a sum: split");
        Assert.That(TopLevelMaps(squares), Is.EqualTo(0), "a sum with a constant adjoint: left alone");

        var random = new Random(3);
        var data = new Rows
        {
            X = Enumerable.Range(0, 11).Select(_ => Enumerable.Range(0, Features).Select(_ => random.NextDouble() - 0.5).ToArray()).ToArray(),
            Y = Enumerable.Range(0, 11).Select(_ => random.NextDouble()).ToArray(),
        };
        var w = Enumerable.Range(0, Features).Select(_ => random.NextDouble() - 0.5).ToArray();
        double Dot(int i) => Enumerable.Range(0, Features).Sum(j => w[j] * data.X[i][j]);
        double total = Enumerable.Range(0, 11).Sum(i => Math.Exp(Dot(i)));
        var g = new double[Features];
        Assert.That(AD.Gradient(logSumExp)(w, data, g), Is.EqualTo(Math.Log(total)).Within(1e-13));
        for (int j = 0; j < Features; j++)
            Assert.That(g[j], Is.EqualTo(Enumerable.Range(0, 11).Sum(i => Math.Exp(Dot(i)) * data.X[i][j]) / total).Within(1e-13), $"log-sum-exp ∂/∂w[{j}]");
        AD.Gradient(squares)(w, data, g);
        for (int j = 0; j < Features; j++)
            Assert.That(g[j], Is.EqualTo(Enumerable.Range(0, 11).Sum(i => 4 * (Dot(i) - data.Y[i]) * data.X[i][j])).Within(1e-12), $"squares ∂/∂w[{j}]");
    }

    /// <summary>True for a sum that computes (its body adds values into the results) rather than only adds adjoints into arrays.</summary>
    private static bool IsForwardSum(Trace body, Instruction sum) => body.Regions[sum.C].Body.Outputs.Length > 0;

    private static IEnumerable<Region> TapedFolds(Trace trace)
    {
        foreach (var ins in trace.Instructions)
        {
            if (!ins.IsRegion) continue;
            var region = trace.Regions[ins.C];
            if (ins.Op == Op.Fold && region.TapeInterval > 0) yield return region;
            foreach (var nested in TapedFolds(region.Body)) yield return nested;
        }
    }
}
