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
        return HessianSparsity.Of(ExpressionTranslator.Translate(f, [ParameterRole.Array], constants, rollSums: false), n);
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
}
