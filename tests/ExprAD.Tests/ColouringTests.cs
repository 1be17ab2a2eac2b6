using ExprAD.Sparsity;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// The colourings that compress sparse Hessians and Jacobians (Sparsity/Colouring.cs), checked by brute force: every
/// path on four vertices of a star colouring is enumerated, every pair of columns of a column colouring compared, and
/// each Hessian entry recovered from H·S of a random matrix with the pattern.
/// </summary>
[TestFixture]
public class ColouringTests
{
    private static SparsityPattern Symmetric(int n, Func<int, int, bool> nonzero) =>
        SparsityPattern.FromRows(n, Enumerable.Range(0, n).Select(i => Enumerable.Range(0, n).Where(j => nonzero(i, j) || nonzero(j, i))).ToArray());

    public static IEnumerable<TestCaseData> Patterns()
    {
        yield return new TestCaseData("tridiagonal", Symmetric(50, (i, j) => Math.Abs(i - j) <= 1), 3);
        yield return new TestCaseData("arrowhead", Symmetric(40, (i, j) => i == j || i == 0 || j == 0), 2);
        yield return new TestCaseData("block-diagonal 5x5", Symmetric(40, (i, j) => i / 5 == j / 5), 5);
        yield return new TestCaseData("pentadiagonal", Symmetric(60, (i, j) => Math.Abs(i - j) <= 2), 5);
        yield return new TestCaseData("2-D five-point grid 8x8", Symmetric(64, (i, j) => i == j || (i / 8 == j / 8 && Math.Abs(i - j) == 1) || Math.Abs(i - j) == 8), 6);
        var random = new Random(11);
        var edges = new HashSet<(int, int)>();
        for (int e = 0; e < 120; e++) edges.Add((random.Next(40), random.Next(40)));
        yield return new TestCaseData("random", Symmetric(40, (i, j) => i == j || edges.Contains((i, j))), 40);
    }

    private static bool Adjacent(SparsityPattern p, int a, int b) => a != b && p.Row(a).Contains(b);

    [TestCaseSource(nameof(Patterns))]
    public void StarColouringIsValid(string name, SparsityPattern pattern, int mostColours)
    {
        var colour = Colouring.Star(pattern);
        int n = pattern.Rows;
        for (int a = 0; a < n; a++)
            foreach (int b in pattern.Row(a))
            {
                if (b == a) continue;
                Assert.That(colour[a], Is.Not.EqualTo(colour[b]), $"{name}: {a} - {b} adjacent with one colour");
                foreach (int c in pattern.Row(b))
                {
                    if (c == a || c == b) continue;
                    foreach (int d in pattern.Row(c))
                        if (d != a && d != b && d != c && colour[a] == colour[c] && colour[b] == colour[d])
                            Assert.Fail($"{name}: path {a}-{b}-{c}-{d} has two colours");
                }
            }
        Assert.That(colour.Max() + 1, Is.LessThanOrEqualTo(mostColours), name);
    }

    [TestCaseSource(nameof(Patterns))]
    public void EveryHessianEntryIsRecoveredFromTheCompressedProduct(string name, SparsityPattern pattern, int _)
    {
        int n = pattern.Rows;
        var colour = Colouring.Star(pattern);
        int colours = colour.Max() + 1;
        var random = new Random(name.Length);
        var h = new double[n, n];
        for (int i = 0; i < n; i++)
            foreach (int j in pattern.Row(i))
                if (j >= i) h[i, j] = h[j, i] = random.NextDouble() + 0.5;
        var compressed = new double[n, colours];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++) compressed[i, colour[k]] += h[i, k];
        var (row, col) = Colouring.HessianRecovery(pattern, colour);
        var pointers = pattern.RowPointers;
        var columns = pattern.ColumnIndices;
        for (int i = 0; i < n; i++)
            for (int e = pointers[i]; e < pointers[i + 1]; e++)
                Assert.That(compressed[row[e], col[e]], Is.EqualTo(h[i, columns[e]]), $"{name}: H[{i}, {columns[e]}]");
    }

    [Test]
    public void ColumnAndRowColouringsSeparateLinesThatShareAnEntry()
    {
        // A banded 30 x 20 Jacobian plus one dense row: column colouring needs 20 colours, row colouring few.
        var rows = Enumerable.Range(0, 30).Select(r => r == 29 ? Enumerable.Range(0, 20) : Enumerable.Range(Math.Max(0, r - 1), 3).Where(c => c < 20)).ToArray();
        var pattern = SparsityPattern.FromRows(20, rows);
        var byColumn = Colouring.Columns(pattern);
        var byRow = Colouring.Rows(pattern);
        for (int r = 0; r < 30; r++)
            foreach (int a in pattern.Row(r))
                foreach (int b in pattern.Row(r))
                    if (a != b) Assert.That(byColumn[a], Is.Not.EqualTo(byColumn[b]), $"columns {a}, {b} share row {r}");
        for (int a = 0; a < 30; a++)
            for (int b = a + 1; b < 30; b++)
                if (pattern.Row(a).ToArray().Intersect(pattern.Row(b).ToArray()).Any())
                    Assert.That(byRow[a], Is.Not.EqualTo(byRow[b]), $"rows {a}, {b} share a column");
        Assert.That(byColumn.Max() + 1, Is.EqualTo(20));
        Assert.That(byRow.Max() + 1, Is.LessThanOrEqualTo(5));
    }

    [Test]
    public void PatternIsCsrWithSortedUniqueColumns()
    {
        var p = SparsityPattern.FromRows(4, [[3, 1, 1], [], [0, 2]]);
        Assert.That(p.RowPointers, Is.EqualTo(new[] { 0, 2, 2, 4 }));
        Assert.That(p.ColumnIndices, Is.EqualTo(new[] { 1, 3, 0, 2 }));
        Assert.That((p.Rows, p.Columns, p.NonZeros), Is.EqualTo((3, 4, 4)));
        Assert.That(p.Transpose().ColumnIndices, Is.EqualTo(new[] { 2, 0, 2, 0 }));
        Assert.That(() => SparsityPattern.FromRows(2, [[2]]), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }
}
