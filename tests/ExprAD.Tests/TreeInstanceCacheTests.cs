using System.Diagnostics;
using System.Linq.Expressions;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Asking again with the very same tree instance skips the walk over the tree: on a large prebuilt
/// tree a repeated request costs far less than walking it, and returns the same compiled kernel.
/// </summary>
[TestFixture]
public class TreeInstanceCacheTests
{
    [Test]
    public void RepeatedRequestsWithOneLargeTreeDoNotWalkIt()
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression acc = Expression.ArrayIndex(x, Expression.Constant(0));
        for (int i = 1; i < 50_000; i++)
            acc = Expression.Add(Expression.Multiply(acc, Expression.Constant(0.5)), Expression.ArrayIndex(x, Expression.Constant(i % 8)));
        var f = Expression.Lambda<Func<double[], double>>(acc, x);

        var first = AD.Gradient(f);
        var clock = Stopwatch.StartNew();
        GradientFunc again = first;
        for (int k = 0; k < 100; k++) again = AD.Gradient(f);
        var perRequest = clock.Elapsed / 100;

        Assert.That(AD.GetCompilationInfo(again), Is.SameAs(AD.GetCompilationInfo(first)));
        // A walk over 150,000 nodes takes milliseconds; the instance lookup takes microseconds.
        Assert.That(perRequest, Is.LessThan(TimeSpan.FromMilliseconds(1)), $"{perRequest.TotalMicroseconds:F1} us per repeated request");
        double[] point = [1, 2, 3, 4, 5, 6, 7, 8];
        double[] g1 = new double[8], g2 = new double[8];
        Assert.That(again(point, g2), Is.EqualTo(first(point, g1)));
        Assert.That(g2, Is.EqualTo(g1));
    }
}
