using System.Linq.Expressions;
using ExprAD.Caching;
using ExprAD.Frontend;
using ExprAD.IR;
using ExprAD.Passes;
using ExprAD.Transforms;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Forward mode over reverse mode (Hessian-vector products) through every region kind reverse mode emits: adjoint loops
/// of sums, maps and their adjoint arrays, sums of sums split into maps, scalar and array folds with their tapes (with and
/// without checkpoints), branches, arg-extrema, and vector loops. The oracle is independent of ExprAD: mixed central
/// differences of the lambda compiled by <c>Expression.Compile()</c>; dense Hessians must also equal their HVPs.
/// </summary>
[TestFixture]
public class HessianVectorTests
{
    public sealed record Case(string Name, Expression<Func<double[], double>> F, int N, ADOptions? Options = null)
    {
        public override string ToString() => Name;
    }

    public static IEnumerable<Case> RegionKinds()
    {
        yield return new("straight line", x => Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]) + Math.Exp(x[2] * x[0]) / (1 + x[1] * x[1]), 3);
        yield return new("sum", x => Enumerable.Range(0, x.Length - 1).Sum(i => 100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (1 - x[i]) * (1 - x[i])), 7);
        yield return new("sum without vector loops", x => Enumerable.Range(0, x.Length - 1).Sum(i => Math.Exp(x[i] * x[i + 1]) * Math.Cos(x[i])), 6,
            new ADOptions { VectorLoops = false });
        yield return new("sum, parallel requested", x => Enumerable.Range(0, x.Length).Sum(i => Math.Sin(x[i]) * x[(i + 1) % x.Length]), 9,
            new ADOptions { ParallelLoops = true, ParallelThreshold = 1 });
        yield return new("map read at computed indices", x => Enumerable.Range(0, x.Length).Sum(i =>
            Enumerable.Range(0, x.Length).Select(j => Math.Sin(x[j]) * j * x[j]).ToArray()[(i * 3) % x.Length] * x[i]), 5);
        yield return new("sum of sums (split into maps)", x => Enumerable.Range(0, x.Length).Sum(i =>
            Math.Exp(Enumerable.Range(0, x.Length).Sum(j => x[j] * Math.Cos(0.3 * i + j)) * 0.2) * x[i]), 5);
        yield return new("scalar fold", x => Enumerable.Range(0, x.Length).Aggregate(0.5, (s, i) => Math.Sin(s * x[i]) + x[i] * s), 6);
        yield return new("scalar fold, checkpoints", x => Enumerable.Range(0, x.Length).Aggregate(0.5, (s, i) => Math.Sin(s * x[i]) + x[i] * s), 7,
            new ADOptions { CheckpointInterval = 3 });
        yield return new("fold carrying an array", x => Enumerable.Range(0, x.Length).Aggregate(new[] { 0.3, 0.1 },
            (s, t) => new[] { Math.Tanh(x[0] * s[0] + x[t] * s[1]), s[1] + s[0] * s[0] * x[t] })[1], 5);
        yield return new("fold carrying an array, checkpoints", x => Enumerable.Range(0, x.Length).Aggregate(new[] { 0.3, 0.1 },
            (s, t) => new[] { Math.Tanh(x[0] * s[0] + x[t] * s[1]), s[1] + s[0] * s[0] * x[t] })[1], 7, new ADOptions { CheckpointInterval = 2 });
        yield return new("fold with a sum in its body", x => Enumerable.Range(0, 4).Aggregate(0.2, (s, t) =>
            s * 0.5 + Math.Sin(Enumerable.Range(0, x.Length).Sum(j => x[j] * (s + j * t)))), 4);
        yield return new("fold whose state is a map", x => Enumerable.Range(0, 3).Aggregate(x.Select(v => v * 0.5).ToArray(),
            (s, t) => Enumerable.Range(0, x.Length).Select(j => Math.Sin(s[j] * x[(j + t) % x.Length]) + s[(j + 1) % x.Length]).ToArray()).Sum(v => v * v), 4);
        yield return new("branch", x => x[0] > 0 ? Math.Log(x[0]) * x[1] * x[1] : Math.Exp(x[1]) * x[0], 2);
        yield return new("branches inside a sum", x => Enumerable.Range(0, x.Length).Sum(i => x[i] > 0.5 ? Math.Sqrt(x[i]) * x[0] : x[i] * x[i] * x[i]), 6);
        yield return new("max and min (arg-extrema)", x => x.Max() * x.Max() * x[0] + Enumerable.Range(0, x.Length).Min(i => Math.Cos(x[i]) * x[i]), 5);
        yield return new("Math.Max and Select chains", x => Math.Max(x[0] * x[1], Math.Sin(x[2])) * Math.Min(x[1], Math.Exp(x[0])), 3);
    }

    private static double[] Point(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => 0.2 + random.NextDouble() * 0.9).ToArray();
    }

    /// <summary>(H v)_j by mixed central differences of the compiled lambda: ∂/∂x_j of the directional derivative along v.</summary>
    private static double MixedDifference(Func<double[], double> f, double[] x, double[] v, int j, double h)
    {
        double At(double sj, double sv)
        {
            var p = (double[])x.Clone();
            for (int k = 0; k < p.Length; k++) p[k] += sv * h * v[k];
            p[j] += sj * h;
            return f(p);
        }
        return (At(1, 1) - At(1, -1) - At(-1, 1) + At(-1, -1)) / (4 * h * h);
    }

    [TestCaseSource(nameof(RegionKinds))]
    public void HessianVectorMatchesMixedDifferencesAndTheGradient(Case c)
    {
        var f = c.F.Compile();
        var hvp = AD.HessianVector(c.F, c.Options);
        var grad = AD.Gradient(c.F, c.Options);
        for (int seed = 1; seed <= 3; seed++)
        {
            var x = Point(c.N, seed);
            var v = Point(c.N, seed + 10).Select(e => e - 0.6).ToArray();
            var gradient = new double[c.N];
            var hv = new double[c.N];
            double value = hvp(x, v, gradient, hv);
            Assert.That(value, Is.EqualTo(f(x)).Within(1e-12 * Math.Max(1, Math.Abs(value))), "value");
            var expectedGradient = new double[c.N];
            grad(x, expectedGradient);
            for (int j = 0; j < c.N; j++)
                Assert.That(gradient[j], Is.EqualTo(expectedGradient[j]).Within(1e-12 * Math.Max(1, Math.Abs(expectedGradient[j]))), $"gradient[{j}]");
            for (int j = 0; j < c.N; j++)
            {
                double expected = MixedDifference(f, x, v, j, 1e-4);
                Assert.That(hv[j], Is.EqualTo(expected).Within(2e-5 * Math.Max(1, Math.Abs(expected))), $"hv[{j}] at seed {seed}");
            }
        }
    }

    [TestCaseSource(nameof(RegionKinds))]
    public void DenseHessianIsSymmetricAndEqualsItsProducts(Case c)
    {
        var hessian = AD.Hessian(c.F, c.Options);
        var hvp = AD.HessianVector(c.F, c.Options);
        var x = Point(c.N, 7);
        var h = new double[c.N * c.N];
        var gradient = new double[c.N];
        hessian(x, gradient, h);
        var e = new double[c.N];
        var column = new double[c.N];
        for (int j = 0; j < c.N; j++)
        {
            Array.Clear(e);
            e[j] = 1;
            hvp(x, e, gradient, column);
            for (int i = 0; i < c.N; i++)
            {
                Assert.That(h[j * c.N + i], Is.EqualTo(column[i]).Within(1e-12 * Math.Max(1, Math.Abs(column[i]))), $"H[{j},{i}] against H e_{j}");
                Assert.That(h[i * c.N + j], Is.EqualTo(h[j * c.N + i]).Within(1e-9 * Math.Max(1, Math.Abs(h[j * c.N + i]))), $"symmetry at ({i},{j})");
            }
        }
    }

    /// <summary>Forward over reverse in two directions keeps the IR's invariants, before and after dead-code elimination.</summary>
    [TestCaseSource(nameof(RegionKinds))]
    public void ForwardOverReverseTraceVerifies(Case c)
    {
        var (_, constants) = StructuralKey.Of(c.F, "any");
        var source = ExpressionTranslator.Translate(c.F, [ParameterRole.Array], constants);
        var reverse = DeadCodeElimination.Apply(ReverseMode.Apply(source, (b, _) => b.Constant(1.0), c.Options?.CheckpointInterval ?? 1));
        var forward = ForwardMode.Apply(reverse, 2, (b, input, d) => b.Constant(d + 1.0));
        Assert.That(() => TraceVerifier.Verify(forward), Throws.Nothing);
        Assert.That(() => TraceVerifier.Verify(DeadCodeElimination.Apply(forward)), Throws.Nothing);
    }

    /// <summary>
    /// The dense Hessian of a structurally sparse function (found from compressed sweeps) and of a dense one (too many
    /// coupled pairs: unit sweeps), column by column against Hessian-vector products with unit vectors.
    /// </summary>
    [TestCase(0)]
    [TestCase(1)]
    public void DenseHessianOfSparseAndDenseFunctionsEqualsUnitProducts(int which)
    {
        Expression<Func<double[], double>> f = which == 0
            ? x => Enumerable.Range(0, x.Length - 1).Sum(i => 100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (1 - x[i]) * (1 - x[i]))
            : x => Math.Pow(x.Sum(), 2) * Math.Exp(0.1 * x[0]);
        const int n = 23;
        var x = Point(n, 9);
        var h = new double[n * n];
        var g = new double[n];
        double value = AD.Hessian(f)(x, g, h);
        var hvp = AD.HessianVector(f);
        var unit = new double[n];
        var column = new double[n];
        var g2 = new double[n];
        for (int j = 0; j < n; j++)
        {
            unit[j] = 1;
            Assert.That(hvp(x, unit, g2, column), Is.EqualTo(value));
            unit[j] = 0;
            Assert.That(g, Is.EqualTo(g2).Within(1e-12));
            for (int i = 0; i < n; i++) Assert.That(h[i * n + j], Is.EqualTo(column[i]).Within(1e-12 * Math.Max(1, Math.Abs(column[i]))), $"H[{i},{j}]");
        }
    }

    /// <summary>
    /// The k-means cost (a Min over centroids inside a sum over points): the gradient's fused loop recomputes the inner
    /// search, which must run once per point, not once for the primal and again for the adjoint (equal loops are merged).
    /// </summary>
    [Test]
    public void EqualSearchesInAFusedLoopRunOnce()
    {
        Expression<Func<double[], double[][], double>> cost = (c, points) => Enumerable.Range(0, points.Length)
            .Sum(i => Enumerable.Range(0, c.Length / 2).Min(j => (c[2 * j] - points[i][0]) * (c[2 * j] - points[i][0]) + (c[2 * j + 1] - points[i][1]) * (c[2 * j + 1] - points[i][1])));
        var (_, constants) = StructuralKey.Of(cost, "any");
        var source = ExpressionTranslator.Translate(cost, [ParameterRole.Array, ParameterRole.Data], constants);
        var gradient = DeadCodeElimination.Apply(LoopFusion.Apply(DeadCodeElimination.Apply(ReverseMode.Apply(source, (b, _) => b.Constant(1.0)))));
        static int Searches(Trace t) => t.Instructions.Count(i => i.Op is Rules.Op.ArgMin or Rules.Op.ArgMax) + t.Regions.Sum(r => Searches(r.Body));
        static int Loops(Trace t) => t.Instructions.Count(i => i.Op == Rules.Op.Sum) + t.Regions.Sum(r => Loops(r.Body));
        Assert.That(Loops(gradient), Is.EqualTo(1), "the primal and adjoint loops over the points are fused");
        Assert.That(Searches(gradient), Is.EqualTo(1), "one search per point");
        // And the value is still right: against a direct computation with a central difference.
        var points = new[] { new[] { 0.1, 0.2 }, new[] { 1.5, -0.3 }, new[] { -0.7, 0.9 } };
        var c = new[] { 0.0, 0.0, 1.0, 0.0, -1.0, 1.0 };
        var g = new double[6];
        double value = AD.Gradient(cost)(c, points, g);
        Assert.That(value, Is.EqualTo(cost.Compile()(c, points)).Within(1e-12));
        var plus = (double[])c.Clone();
        plus[2] += 1e-6;
        var minus = (double[])c.Clone();
        minus[2] -= 1e-6;
        Assert.That(g[2], Is.EqualTo((cost.Compile()(plus, points) - cost.Compile()(minus, points)) / 2e-6).Within(1e-6));
    }

    /// <summary>Reverse mode over a trace with effects (a gradient's scatter-adds) would drop them: it refuses rather than return wrong numbers.</summary>
    [Test]
    public void ReverseOverReverseIsRefusedNotWrong()
    {
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length).Sum(i => x[i] * x[i]);
        var (_, constants) = StructuralKey.Of(f, "any");
        var gradient = ReverseMode.Apply(ExpressionTranslator.Translate(f, [ParameterRole.Array], constants), (b, _) => b.Constant(1.0));
        Assert.That(gradient.HasEffects, "the gradient of a sum scatter-adds");
        Assert.That(() => ReverseMode.Apply(gradient, (b, _) => b.Constant(1.0)), Throws.TypeOf<NotSupportedException>().With.Message.Contains("forward mode over reverse mode"));
    }

    /// <summary>The Laplacian is the trace of the dense Hessian; both against the closed form of Σ x_i² sin(x_{i+1}).</summary>
    [Test]
    public void LaplacianIsTheTraceOfTheHessian()
    {
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length - 1).Sum(i => x[i] * x[i] * Math.Sin(x[i + 1]));
        var x = Point(10, 3);
        AD.Laplacian(f)(x, out double laplacian);
        double expected = 0;
        for (int i = 0; i < x.Length - 1; i++) expected += 2 * Math.Sin(x[i + 1]) - x[i] * x[i] * Math.Sin(x[i + 1]);
        Assert.That(laplacian, Is.EqualTo(expected).Within(1e-12));
        var h = new double[100];
        AD.Hessian(f)(x, new double[10], h);
        Assert.That(Enumerable.Range(0, 10).Sum(i => h[i * 11]), Is.EqualTo(laplacian).Within(1e-12));
    }

    public sealed class Weights
    {
        public double[] W = [];
    }

    /// <summary>The data overloads read their data at call time; lengths are checked and named.</summary>
    [Test]
    public void DataOverloadsAndLengthChecks()
    {
        Expression<Func<double[], Weights, double>> f = (x, d) => Enumerable.Range(0, x.Length).Sum(i => d.W[i] * Math.Exp(x[i] * x[(i + 1) % x.Length]));
        var data = new Weights { W = [1.0, 2.0, 3.0] };
        double[] x = [0.1, 0.2, 0.3];
        var h = new double[9];
        var gradient = new double[3];
        AD.Hessian(f)(x, data, gradient, h);
        var hv = new double[3];
        AD.HessianVector(f)(x, data, [0.0, 1.0, 0.0], gradient, hv);
        for (int i = 0; i < 3; i++) Assert.That(hv[i], Is.EqualTo(h[3 + i]).Within(1e-13), $"row 1, column {i}");
        data.W = [0.0, 0.0, 0.0];
        AD.HessianVector(f)(x, data, [0.0, 1.0, 0.0], gradient, hv);
        Assert.That(hv, Is.All.EqualTo(0.0), "data read at call time");
        var hvp = AD.HessianVector(f);
        Assert.That(Assert.Throws<ArgumentException>(() => hvp(x, data, [1.0], gradient, hv))!.ParamName, Is.EqualTo("v"));
        Assert.That(Assert.Throws<ArgumentException>(() => hvp(x, data, [1.0, 0, 0], gradient, new double[2]))!.ParamName, Is.EqualTo("hv"));
        Assert.That(Assert.Throws<ArgumentException>(() => AD.Hessian(f)(x, data, gradient, new double[8]))!.ParamName, Is.EqualTo("hessian"));
    }
}
