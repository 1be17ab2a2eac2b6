using System.Linq.Expressions;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Sparse Jacobians (AD.SparseJacobian): patterns against hand-derived ones, the column colouring checked by brute
/// force, and every entry against the dense Jacobian built from reverse-mode rows (AD.Vjp, the other mode) and central
/// differences. The 2-D Brusselator on a periodic N x N grid is the benchmark problem of sparse-AD papers.
/// </summary>
[TestFixture]
public class SparseJacobianTests
{
    private static Brusselator.Grid GridOf(int n) => new(n, 0.1 * n * n / 1024.0, Enumerable.Range(0, n * n).Select(k => Math.Sin(k)).ToArray());

    /// <summary>The hand-derived pattern of <see cref="Brusselator.Residual"/>: each residual's stencil in its own species, and the other species at its point.</summary>
    private static HashSet<(int, int)> BrusselatorPattern(int n)
    {
        var set = new HashSet<(int, int)>();
        int p = n * n;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                int k = i * n + j;
                int[] stencil = [k, (i + 1) % n * n + j, (i + n - 1) % n * n + j, i * n + (j + 1) % n, i * n + (j + n - 1) % n];
                foreach (int s in stencil) { set.Add((k, s)); set.Add((p + k, p + s)); }
                set.Add((k, p + k));
                set.Add((p + k, k));
            }
        return set;
    }

    private static HashSet<(int, int)> Entries(SparsityPattern p)
    {
        var set = new HashSet<(int, int)>();
        for (int r = 0; r < p.Rows; r++)
            for (int k = p.RowPointers[r]; k < p.RowPointers[r + 1]; k++) set.Add((r, p.ColumnIndices[k]));
        return set;
    }

    /// <summary>Brute force: no two columns of one colour have an entry in the same row.</summary>
    private static void AssertValidColumnColouring(SparsityPattern p, int[] colour)
    {
        for (int r = 0; r < p.Rows; r++)
        {
            var seen = new Dictionary<int, int>();
            for (int k = p.RowPointers[r]; k < p.RowPointers[r + 1]; k++)
            {
                int c = p.ColumnIndices[k];
                Assert.That(seen.TryAdd(colour[c], c), $"columns {c} and {(seen.TryGetValue(colour[c], out var other) ? other : -1)} share row {r} and colour {colour[c]}");
            }
        }
    }

    [Test]
    public void BrusselatorPatternColoursAndValues()
    {
        // The wrap of the v stencil is written differently from u's (a test that the analysis follows the integer arithmetic).
        const int n = 32;
        var grid = GridOf(n);
        var sparse = AD.SparseJacobian(Brusselator.Residual);
        var pattern = sparse.Pattern(2 * n * n, grid);
        Assert.That((pattern.Rows, pattern.Columns), Is.EqualTo((2048, 2048)));
        Assert.That(Entries(pattern), Is.EquivalentTo(BrusselatorPattern(n)));
        Assert.That(pattern.Colors, Is.LessThanOrEqualTo(10), "colours");
        TestContext.Out.WriteLine($"Brusselator {n} x {n}: {pattern.Colors} colours, {pattern.NonZeros} nonzeros");
        var colour = ExprAD.Sparsity.Colouring.Columns(pattern);
        Assert.That(colour.Max() + 1, Is.EqualTo(pattern.Colors));
        AssertValidColumnColouring(pattern, colour);
        var random = new Random(3);
        var x = Enumerable.Range(0, 2 * n * n).Select(_ => 1 + random.NextDouble()).ToArray();
        var values = new double[2 * n * n];
        var jacobian = new double[pattern.NonZeros];
        sparse.Evaluate(x, grid, values, jacobian);
        // The other mode: row r of J is eᵣᵀ J, by reverse mode.
        var vjp = AD.Vjp(Brusselator.Residual);
        var u = new double[2 * n * n];
        var row = new double[2 * n * n];
        var reverseValues = new double[2 * n * n];
        for (int r = 0; r < pattern.Rows; r += 37)
        {
            u[r] = 1;
            vjp(x, grid, u, reverseValues, row);
            u[r] = 0;
            Assert.That(values[r], Is.EqualTo(reverseValues[r]), $"value {r}");
            var inRow = new HashSet<int>();
            for (int k = pattern.RowPointers[r]; k < pattern.RowPointers[r + 1]; k++)
            {
                int c = pattern.ColumnIndices[k];
                inRow.Add(c);
                Assert.That(jacobian[k], Is.EqualTo(row[c]).Within(1e-12 * Math.Max(1, Math.Abs(row[c]))), $"J[{r},{c}]");
            }
            for (int c = 0; c < row.Length; c++)
                if (!inRow.Contains(c)) Assert.That(row[c], Is.Zero, $"J[{r},{c}] outside the pattern");
        }
    }

    private static SparsityPattern PatternOf(Expression<Func<double[], double[]>> f, int n) => AD.SparseJacobian(f).Pattern(n);

    private static HashSet<(int, int)> Expected(int m, int n, Func<int, int, bool> nonzero)
    {
        var set = new HashSet<(int, int)>();
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                if (nonzero(i, j)) set.Add((i, j));
        return set;
    }

    [Test]
    public void PatternsThroughInitializersMapsAndConditionals()
    {
        Expression<Func<double[], double[]>> initializer = x => new[] { x[0] * x[3], Math.Sin(x[1]), x[2] > 0 ? x[0] : x[4], 7.0 };
        Assert.That(Entries(PatternOf(initializer, 5)), Is.EquivalentTo(new[] { (0, 0), (0, 3), (1, 1), (2, 0), (2, 4) }));
        // A tridiagonal difference operator, with the ends treated by conditionals on the (known) index.
        Expression<Func<double[], double[]>> laplacian = x => Enumerable.Range(0, x.Length).Select(i =>
            (i > 0 ? x[i - 1] : 0) - 2 * x[i] * x[i] + (i < x.Length - 1 ? x[i + 1] : 0)).ToArray();
        Assert.That(Entries(PatternOf(laplacian, 8)), Is.EquivalentTo(Expected(8, 8, (i, j) => Math.Abs(i - j) <= 1)));
        // Elements chosen by a condition on x: both, whatever x.
        Expression<Func<double[], double[]>> select = x => Enumerable.Range(0, x.Length / 2).Select(i => x[2 * i] > x[2 * i + 1] ? x[2 * i] : 0.0).ToArray();
        Assert.That(Entries(PatternOf(select, 6)), Is.EquivalentTo(Expected(3, 6, (i, j) => j == 2 * i)));
    }

    [Test]
    public void PatternsThroughFoldsSumsAndArgExtrema()
    {
        // Prefix products: output k depends on x[0..k].
        Expression<Func<double[], double[]>> prefix = x => Enumerable.Range(0, x.Length)
            .Select(k => Enumerable.Range(0, k + 1).Aggregate(1.0, (p, j) => p * x[j])).ToArray();
        Assert.That(Entries(PatternOf(prefix, 6)), Is.EquivalentTo(Expected(6, 6, (i, j) => j <= i)));
        // A sum over a window, and the largest element (an arg-max: every element can be it).
        Expression<Func<double[], double[]>> window = x => Enumerable.Range(0, x.Length - 2).Select(i => Enumerable.Range(i, 3).Sum(j => x[j] * x[j])).ToArray();
        Assert.That(Entries(PatternOf(window, 7)), Is.EquivalentTo(Expected(5, 7, (i, j) => j >= i && j <= i + 2)));
        Expression<Func<double[], double[]>> largest = x => new[] { x.Max(), x[1] };
        Assert.That(Entries(PatternOf(largest, 4)), Is.EquivalentTo(Expected(2, 4, (i, j) => i == 0 || j == 1)));
    }

    /// <summary>Indices held by the data argument are followed: the pattern is that of this data.</summary>
    public sealed record Edges(int[] From, int[] To, double[] Weight);

    [Test]
    public void PatternsFollowIndicesInTheData()
    {
        Expression<Func<double[], Edges, double[]>> f = (x, e) => Enumerable.Range(0, e.From.Length)
            .Select(k => e.Weight[k] * (x[e.To[k]] - x[e.From[k]]) * (x[e.To[k]] - x[e.From[k]])).ToArray();
        var edges = new Edges([0, 2, 4, 1], [3, 1, 0, 4], [1, 2, 3, 4]);
        var sparse = AD.SparseJacobian(f);
        var pattern = sparse.Pattern(5, edges);
        Assert.That(Entries(pattern), Is.EquivalentTo(new[] { (0, 0), (0, 3), (1, 1), (1, 2), (2, 0), (2, 4), (3, 1), (3, 4) }));
        var x = new[] { 0.3, -1.2, 2.0, 0.7, 1.1 };
        var values = new double[4];
        var jacobian = new double[pattern.NonZeros];
        sparse.Evaluate(x, edges, values, jacobian);
        AssertMatchesDifferences(x, values, jacobian, pattern, y => f.Compile()(y, edges));
        // Another data object with other indices has its own pattern.
        var other = new Edges([0], [1], [1]);
        Assert.That(Entries(sparse.Pattern(5, other)), Is.EquivalentTo(new[] { (0, 0), (0, 1) }));
        Assert.That(Assert.Throws<ArgumentException>(() => sparse.Evaluate(x, other, new double[1], new double[3]))!.ParamName, Is.EqualTo("jacobianValues"));
        Assert.That(Assert.Throws<ArgumentException>(() => sparse.Evaluate(x, other, new double[2], new double[2]))!.ParamName, Is.EqualTo("values"));
    }

    /// <summary>Central differences of f, column by column, against the sparse values (and zero outside the pattern).</summary>
    private static void AssertMatchesDifferences(double[] x, double[] values, double[] jacobian, SparsityPattern pattern, Func<double[], double[]> f)
    {
        Assert.That(values, Is.EqualTo(f(x)).Within(1e-12));
        const double h = 1e-6;
        for (int c = 0; c < x.Length; c++)
        {
            var plus = (double[])x.Clone();
            var minus = (double[])x.Clone();
            plus[c] += h;
            minus[c] -= h;
            var (fp, fm) = (f(plus), f(minus));
            for (int r = 0; r < pattern.Rows; r++)
            {
                double difference = (fp[r] - fm[r]) / (2 * h), entry = 0;
                for (int k = pattern.RowPointers[r]; k < pattern.RowPointers[r + 1]; k++)
                    if (pattern.ColumnIndices[k] == c) entry = jacobian[k];
                Assert.That(entry, Is.EqualTo(difference).Within(1e-6 * Math.Max(1, Math.Abs(difference))), $"J[{r},{c}]");
            }
        }
    }

    public static IEnumerable<TestCaseData> Functions()
    {
        yield return new TestCaseData((Expression<Func<double[], double[]>>)(x => new[] { x[0] * x[1], Math.Exp(x[2]) - x[0], x[3] / (1 + x[1] * x[1]) }), 4)
            .SetArgDisplayNames("initializer");
        yield return new TestCaseData((Expression<Func<double[], double[]>>)(x => Enumerable.Range(0, x.Length).Select(i =>
            Math.Tanh(x[i]) * x[(i + 1) % x.Length] - (i % 3 == 0 ? x[(i + 5) % x.Length] * x[(i + 5) % x.Length] : Math.Cos(x[i]))).ToArray()), 11)
            .SetArgDisplayNames("scrambled map");
        yield return new TestCaseData((Expression<Func<double[], double[]>>)(x => Enumerable.Range(0, x.Length - 1)
            .Select(i => Enumerable.Range(0, 2).Aggregate(x[i], (s, j) => s * x[i + 1] + Math.Sin(s))).ToArray()), 9)
            .SetArgDisplayNames("fold per element");
    }

    /// <summary>The sparse Jacobian against central differences, and its values against the dense Jacobian's where one exists.</summary>
    [TestCaseSource(nameof(Functions))]
    public void SparseJacobianMatchesDifferences(Expression<Func<double[], double[]>> f, int n)
    {
        var sparse = AD.SparseJacobian(f);
        var pattern = sparse.Pattern(n);
        var random = new Random(n);
        var x = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        var values = new double[pattern.Rows];
        var jacobian = new double[pattern.NonZeros];
        sparse.Evaluate(x, values, jacobian);
        AssertMatchesDifferences(x, values, jacobian, pattern, f.Compile());
        AssertValidColumnColouring(pattern, ExprAD.Sparsity.Colouring.Columns(pattern));
        Assert.That(Assert.Throws<ArgumentException>(() => sparse.Evaluate(x, values, new double[pattern.NonZeros + 1]))!.ParamName, Is.EqualTo("jacobianValues"));
    }

    /// <summary>Few dense rows: a row colouring (reverse sweeps) needs as many colours as rows, a column colouring as many as columns.</summary>
    [Test]
    public void FewDenseRowsAreColouredByRows()
    {
        Expression<Func<double[], double[]>> f = x => new[] { x.Sum(v => v * v), Enumerable.Range(0, x.Length).Sum(i => Math.Sin(i * x[i])), x[0] };
        var sparse = AD.SparseJacobian(f);
        const int n = 40;
        var pattern = sparse.Pattern(n);
        Assert.That(pattern.Colors, Is.EqualTo(3), "the three rows share column 0: three row colours against 40 column colours");
        var rows = ExprAD.Sparsity.Colouring.Rows(pattern);
        for (int a = 0; a < 3; a++)
            for (int b = a + 1; b < 3; b++)
                if (rows[a] == rows[b])
                    Assert.That(pattern.ColumnIndices[pattern.RowPointers[a]..pattern.RowPointers[a + 1]]
                        .Intersect(pattern.ColumnIndices[pattern.RowPointers[b]..pattern.RowPointers[b + 1]]), Is.Empty, $"rows {a} and {b} share a colour");
        var random = new Random(2);
        var x = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        var values = new double[3];
        var jacobian = new double[pattern.NonZeros];
        sparse.Evaluate(x, values, jacobian);
        AssertMatchesDifferences(x, values, jacobian, pattern, f.Compile());
        // The same with an array of run-time length: each reverse sweep seeds its own slice of the result's adjoint.
        Expression<Func<double[], double[]>> map = x => Enumerable.Range(0, 4).Select(k => x.Sum(v => Math.Sin((k + 1) * v))).ToArray();
        var mapped = AD.SparseJacobian(map);
        Assert.That(mapped.Pattern(n).Colors, Is.EqualTo(4));
        var mappedValues = new double[4];
        var mappedJacobian = new double[4 * n];
        mapped.Evaluate(x, mappedValues, mappedJacobian);
        AssertMatchesDifferences(x, mappedValues, mappedJacobian, mapped.Pattern(n), map.Compile());
    }
}
