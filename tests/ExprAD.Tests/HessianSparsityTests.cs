using System.Linq.Expressions;
using ExprAD.Caching;
using ExprAD.Frontend;
using ExprAD.IR;
using ExprAD.Sparsity;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Hessian sparsity patterns found from the trace (loops iterated by the analysis, branches united) against patterns
/// derived by hand, and against the nonzeros of dense Hessians at random points (the pattern must cover them).
/// </summary>
[TestFixture]
public class HessianSparsityTests
{
    private static SparsityPattern PatternOf(Expression<Func<double[], double>> f, int n)
    {
        var (_, constants) = StructuralKey.Of(f, "any");
        var trace = ExpressionTranslator.Translate(f, [ParameterRole.Array], constants, rollSums: false);
        return Patterns.Hessian(trace, n, Patterns.Reads(trace, constants.ToArray(), null));
    }

    private static HashSet<(int, int)> Entries(SparsityPattern p)
    {
        var set = new HashSet<(int, int)>();
        for (int r = 0; r < p.Rows; r++)
            for (int k = p.RowPointers[r]; k < p.RowPointers[r + 1]; k++) set.Add((r, p.ColumnIndices[k]));
        return set;
    }

    private static HashSet<(int, int)> Expected(int n, Func<int, int, bool> nonzero)
    {
        var set = new HashSet<(int, int)>();
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (nonzero(i, j)) set.Add((i, j));
        return set;
    }

    [Test]
    public void ChainedRosenbrockIsTridiagonal()
    {
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length - 1)
            .Sum(i => 100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (1 - x[i]) * (1 - x[i]));
        Assert.That(Entries(PatternOf(f, 12)), Is.EquivalentTo(Expected(12, (i, j) => Math.Abs(i - j) <= 1)));
    }

    [Test]
    public void ArrowheadAndBlockDiagonal()
    {
        Expression<Func<double[], double>> arrow = x => Enumerable.Range(1, x.Length - 1).Sum(i => x[0] * x[i] + x[i] * x[i] * x[i]);
        Assert.That(Entries(PatternOf(arrow, 7)), Is.EquivalentTo(Expected(7, (i, j) => i == j && i > 0 || i == 0 && j > 0 || j == 0 && i > 0)));
        Expression<Func<double[], double>> blocks = x => Enumerable.Range(0, x.Length / 3)
            .Sum(b => Math.Exp(x[3 * b] + 2 * x[3 * b + 1] - x[3 * b + 2]));
        Assert.That(Entries(PatternOf(blocks, 9)), Is.EquivalentTo(Expected(9, (i, j) => i / 3 == j / 3)));
    }

    [Test]
    public void ConditionalsGiveTheUnionOfBothBranches()
    {
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length - 1).Sum(i => x[i] > 0 ? x[i] * x[i + 1] : Math.Sin(x[i]));
        // Branch taken: the pair (i, i+1); not taken: (i, i). Both, whatever x.
        Assert.That(Entries(PatternOf(f, 6)), Is.EquivalentTo(Expected(6, (i, j) => Math.Abs(i - j) <= 1 && !(i == j && i == 5))));
        Expression<Func<double[], double>> linear = x => Enumerable.Range(0, x.Length).Sum(i => 3 * x[i] - x[(i + 2) % x.Length]);
        Assert.That(PatternOf(linear, 5).NonZeros, Is.Zero);
    }

    [Test]
    public void PatternCoversEveryNonzeroOfTheDenseHessian()
    {
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length).Sum(i =>
            Math.Log(1 + x[i] * x[i]) * x[(i * 3) % x.Length] + x[i] / (2 + x[(i + 4) % x.Length]));
        int n = 11;
        var entries = Entries(PatternOf(f, n));
        var hessian = AD.Hessian(f);
        var random = new Random(5);
        var h = new double[n * n];
        for (int trial = 0; trial < 5; trial++)
        {
            var x = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 2 - 1).ToArray();
            hessian(x, new double[n], h);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    if (h[i * n + j] != 0) Assert.That(entries, Does.Contain((i, j)), $"H[{i},{j}] = {h[i * n + j]} is outside the pattern");
        }
        Assert.That(entries.Count, Is.LessThan(n * n), "the pattern is sparse");
    }

    public static IEnumerable<TestCaseData> SparseFunctions()
    {
        yield return new TestCaseData((Expression<Func<double[], double>>)(x => Enumerable.Range(0, x.Length - 1)
            .Sum(i => 100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (1 - x[i]) * (1 - x[i]))), 3).SetArgDisplayNames("chained Rosenbrock");
        yield return new TestCaseData((Expression<Func<double[], double>>)(x => Enumerable.Range(1, x.Length - 1).Sum(i => x[0] * x[i] + Math.Exp(x[i]))), 2)
            .SetArgDisplayNames("arrowhead");
        yield return new TestCaseData((Expression<Func<double[], double>>)(x => Enumerable.Range(0, x.Length).Sum(i =>
            Math.Log(1 + x[i] * x[i]) * x[(i * 3) % x.Length] + (x[i] > 0 ? x[i] / (2 + x[(i + 4) % x.Length]) : x[i] * x[i]))), -1).SetArgDisplayNames("scrambled, with a branch");
    }

    /// <summary>The sparse Hessian equals the dense one entry for entry, and the dense one is zero outside the pattern.</summary>
    [TestCaseSource(nameof(SparseFunctions))]
    public void SparseHessianEqualsTheDenseHessian(Expression<Func<double[], double>> f, int colours)
    {
        var sparse = AD.SparseHessian(f);
        var dense = AD.Hessian(f);
        foreach (int n in new[] { 13, 30 })
        {
            var pattern = sparse.Pattern(n);
            if (colours > 0) Assert.That(pattern.Colors, Is.EqualTo(colours), "colours");
            var random = new Random(n);
            var x = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 2 - 1).ToArray();
            var values = new double[pattern.NonZeros];
            var gradient = new double[n];
            double value = sparse.Evaluate(x, gradient, values);
            var h = new double[n * n];
            var denseGradient = new double[n];
            Assert.That(value, Is.EqualTo(dense(x, denseGradient, h)));
            Assert.That(gradient, Is.EqualTo(denseGradient).Within(1e-12));
            var inPattern = new bool[n * n];
            for (int i = 0; i < n; i++)
                for (int k = pattern.RowPointers[i]; k < pattern.RowPointers[i + 1]; k++)
                {
                    int j = pattern.ColumnIndices[k];
                    inPattern[i * n + j] = true;
                    Assert.That(values[k], Is.EqualTo(h[i * n + j]).Within(1e-10 * Math.Max(1, Math.Abs(h[i * n + j]))), $"H[{i},{j}], n = {n}");
                }
            for (int e = 0; e < n * n; e++)
                if (!inPattern[e]) Assert.That(h[e], Is.Zero, $"H[{e / n},{e % n}] outside the pattern");
        }
        Assert.That(Assert.Throws<ArgumentException>(() => sparse.Evaluate(new double[13], new double[13], new double[1]))!.ParamName, Is.EqualTo("values"));
    }

    [Test]
    public void PatternsThroughFoldsMapsAndArgExtrema()
    {
        // A product of all elements: every pair couples, no element with itself.
        Expression<Func<double[], double>> product = x => Enumerable.Range(0, x.Length).Aggregate(1.0, (p, i) => p * x[i]);
        Assert.That(Entries(PatternOf(product, 5)), Is.EquivalentTo(Expected(5, (i, j) => i != j)));
        // A map's elements summed: each element's own pairs.
        Expression<Func<double[], double>> mapped = x => Enumerable.Range(0, x.Length - 1).Select(i => x[i] * x[i + 1]).ToArray().Sum(v => Math.Exp(v));
        Assert.That(Entries(PatternOf(mapped, 6)), Is.EquivalentTo(Expected(6, (i, j) => Math.Abs(i - j) <= 1)));
        // The largest element can be any: it couples with x[0] whichever it is.
        Expression<Func<double[], double>> largest = x => x.Max() * x[0] + x[2] * x[3];
        Assert.That(Entries(PatternOf(largest, 4)), Is.EquivalentTo(Expected(4, (i, j) => i == 0 || j == 0 || (i, j) is (2, 3) or (3, 2))));
    }

    /// <summary>A weighted graph: the energy sum over edges of w (x_to - x_from)^2 has the graph's pattern plus the diagonal.</summary>
    public sealed record Graph(int[] From, int[] To, double[] Weight);

    private static readonly Expression<Func<double[], Graph, double>> GraphEnergy = (x, g) => Enumerable.Range(0, g.From.Length)
        .Sum(k => g.Weight[k] * Math.Pow(x[g.To[k]] - x[g.From[k]], 2) + Math.Exp(0.1 * x[g.From[k]]));

    [Test]
    public void SparseHessianWithDataFollowsTheIndicesItHolds()
    {
        var graph = new Graph([0, 1, 2, 3, 5], [4, 2, 6, 0, 1], [1, 2, 0.5, 3, 1.5]);
        const int n = 7;
        var sparse = AD.SparseHessian(GraphEnergy);
        var pattern = sparse.Pattern(n, graph);
        var edges = graph.From.Zip(graph.To).SelectMany(e => new[] { (e.First, e.Second), (e.Second, e.First) }).ToHashSet();
        Assert.That(Entries(pattern), Is.EquivalentTo(Expected(n, (i, j) => i == j || edges.Contains((i, j)))));
        var dense = AD.Hessian(GraphEnergy);
        var x = new[] { 0.4, -1.0, 2.2, 0.1, -0.3, 1.7, 0.9 };
        var gradient = new double[n];
        var values = new double[pattern.NonZeros];
        double value = sparse.Evaluate(x, graph, gradient, values);
        var h = new double[n * n];
        var denseGradient = new double[n];
        Assert.That(value, Is.EqualTo(dense(x, graph, denseGradient, h)));
        Assert.That(gradient, Is.EqualTo(denseGradient).Within(1e-12));
        for (int i = 0; i < n; i++)
            for (int k = pattern.RowPointers[i]; k < pattern.RowPointers[i + 1]; k++)
                Assert.That(values[k], Is.EqualTo(h[i * n + pattern.ColumnIndices[k]]).Within(1e-12), $"H[{i},{pattern.ColumnIndices[k]}]");
        // Another graph (another instance) gets its own pattern; the same instance keeps it.
        var path = new Graph([0, 1], [1, 2], [1, 1]);
        Assert.That(sparse.Pattern(n, path).NonZeros, Is.EqualTo(3 + 4), "the diagonal of the three nodes on the path, and its two edges both ways");
        Assert.That(sparse.Pattern(n, path), Is.SameAs(sparse.Pattern(n, path)));
        Assert.That(Assert.Throws<ArgumentException>(() => sparse.Evaluate(x, path, gradient, values))!.ParamName, Is.EqualTo("values"));
    }
}
