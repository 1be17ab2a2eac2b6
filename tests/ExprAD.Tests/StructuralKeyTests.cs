using System.Linq.Expressions;
using ExprAD.Caching;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// The structural key's walk: it allocates nothing per node (a cache hit on a new tree instance, the lambda-literal
/// case, costs a walk), keys that the cache keeps stay valid after the thread walks other trees, and trees with shared
/// nodes get keys that tell them apart from the shapes they are not.
/// </summary>
/// <remarks>Allocation is compared with a bound per node over trees of 10,000 and more nodes, so the fixed cost of a call
/// (the returned delegate, the key object) does not matter and the test cannot flake on it.</remarks>
[TestFixture, NonParallelizable]
public class StructuralKeyTests
{
    /// <summary>A balanced sum of <paramref name="leaves"/> terms x[i % 8] * c_i, a new instance (every node new) on every call.</summary>
    private static Expression<Func<double[], double>> Balanced(int leaves, double scale = 1)
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression Build(int lo, int hi) => hi - lo == 1
            ? Expression.Multiply(Expression.ArrayIndex(x, Expression.Constant(lo % 8)), Expression.Constant(scale * (1 + lo * 1e-3)))
            : Expression.Add(Build(lo, (lo + hi) / 2), Build((lo + hi) / 2, hi));
        return Expression.Lambda<Func<double[], double>>(Build(0, leaves), x);
    }

    /// <summary>The same shape as a left-deep chain, with a call per term (Math.Sin), a new instance on every call.</summary>
    private static Expression<Func<double[], double>> Chain(int terms)
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        var sin = typeof(Math).GetMethod(nameof(Math.Sin))!;
        Expression body = Expression.Constant(0.25);
        for (int i = 0; i < terms; i++)
            body = Expression.Add(body, Expression.Call(sin, Expression.Multiply(Expression.ArrayIndex(x, Expression.Constant(i % 8)), Expression.Constant(1.0 + i))));
        return Expression.Lambda<Func<double[], double>>(body, x);
    }

    private static long AllocatedBy(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    // 2,000 leaves: about 10,000 nodes; 12,000 leaves: about 60,000 nodes (beyond the first walk's budget, so the walk
    // that tracks shared nodes is measured too). A chain of 2,000 calls: about 12,000 nodes.
    [TestCase("balanced", 2_000, 10_000)]
    [TestCase("balanced", 12_000, 60_000)]
    [TestCase("chain", 2_000, 12_000)]
    public void KeyWalkOfANewTreeInstanceAllocatesNothingPerNode(string shape, int size, int nodes)
    {
        Func<Expression<Func<double[], double>>> build = shape == "balanced" ? () => Balanced(size, 1.25) : () => Chain(size);
        // Warm-up: the thread's walk buffers grow to the tree's size once.
        for (int k = 0; k < 3; k++) StructuralKey.Probe(build(), "test");
        // The fewest bytes of five walks over fresh instances: a walk that allocated per node would do so every time, while
        // the runtime now and then allocates something of its own on the thread (one run of CI saw 6 KB once).
        long bytes = long.MaxValue;
        for (int k = 0; k < 5; k++)
        {
            var fresh = build();
            bytes = Math.Min(bytes, AllocatedBy(() => StructuralKey.Probe(fresh, "test")));
        }
        Assert.That(bytes, Is.LessThan(nodes / 4), $"{bytes} bytes for a walk over about {nodes} nodes");
    }

    [Test]
    public void CacheHitOnANewTreeInstanceAllocatesNothingPerNode()
    {
        AD.Gradient(Balanced(2_000, 2.5));
        AD.Gradient(Balanced(2_000, 2.5));
        // The fewest bytes of five hits: a hit also remembers its (large) tree instance in a weak table, which now and then
        // grows its storage.
        long bytes = long.MaxValue;
        for (int k = 0; k < 5; k++)
        {
            var fresh = Balanced(2_000, 2.5);
            bytes = Math.Min(bytes, AllocatedBy(() => AD.Gradient(fresh)));
        }
        // The fixed part: the returned delegate, the key object, and the entry remembering this tree instance.
        Assert.That(bytes, Is.LessThan(10_000 / 4), $"{bytes} bytes for a hit on about 10,000 nodes");
    }

    [Test]
    public void KeptKeysStayValidAfterTheThreadWalksOtherTrees()
    {
        long misses0 = KernelCache.Misses, hits0 = KernelCache.Hits;
        AD.Gradient(Balanced(40, 3.75));
        AD.Gradient(Balanced(41, 3.75));
        // Walks of other shapes and sizes reuse (and grow) the thread's buffers; the keys kept by the cache have their own.
        for (int k = 0; k < 5; k++) StructuralKey.Probe(Balanced(3_000 + k), "other");
        AD.Gradient(Balanced(40, 3.75));
        AD.Gradient(Balanced(41, 3.75));
        Assert.Multiple(() =>
        {
            Assert.That(KernelCache.Misses - misses0, Is.EqualTo(2), "two shapes compiled once each");
            Assert.That(KernelCache.Hits - hits0, Is.EqualTo(2));
        });
    }

    [Test]
    public void KeysAreEqualExactlyForEqualShapes()
    {
        var (a, _) = StructuralKey.Of(Balanced(50), "r");
        var (b, _) = StructuralKey.Of(Balanced(50), "r");
        var (other, _) = StructuralKey.Of(Balanced(50, 2), "r");
        var (request, _) = StructuralKey.Of(Balanced(50), "s");
        var (big1, _) = StructuralKey.Of(Balanced(5_000), "r");
        var (big2, _) = StructuralKey.Of(Balanced(5_000), "r");
        Assert.Multiple(() =>
        {
            Assert.That(a, Is.EqualTo(b));
            Assert.That(a!.GetHashCode(), Is.EqualTo(b!.GetHashCode()));
            Assert.That(a, Is.Not.EqualTo(other), "other constants");
            Assert.That(a, Is.Not.EqualTo(request), "another request");
            Assert.That(big1, Is.EqualTo(big2), "a tree beyond the untracked walk's budget");
            Assert.That(big1, Is.Not.EqualTo(a));
        });
    }

    [Test]
    public void SharedNodesBeyondTheBudgetAreWalkedOnceAndTheGradientIsRight()
    {
        // e(k+1) = e(k) * 0.5 + e(k) * 0.25 (e(k) one shared node): 60 levels are about 400 distinct nodes but 2^60 paths.
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression e = Expression.ArrayIndex(x, Expression.Constant(0));
        for (int k = 0; k < 60; k++)
            e = Expression.Add(Expression.Multiply(e, Expression.Constant(0.5)), Expression.Multiply(e, Expression.Constant(0.25)));
        var f = Expression.Lambda<Func<double[], double>>(e, x);
        var (key, _) = StructuralKey.Of(f, "test");
        Assert.That(key, Is.Not.Null);
        var g = AD.Gradient(f);
        var gradient = new double[1];
        double value = g(new double[] { 2 }, gradient);
        Assert.Multiple(() =>
        {
            Assert.That(value, Is.EqualTo(2 * Math.Pow(0.75, 60)).Within(1e-15));
            Assert.That(gradient[0], Is.EqualTo(Math.Pow(0.75, 60)).Within(1e-15));
        });
    }

    [Test]
    public void ATreeAndTheSameShapeWithASharedNodeComputeTheSame()
    {
        // The first walk encodes a shared node as the tree it stands for; both compute the same function.
        var x = Expression.Parameter(typeof(double[]), "x");
        var shared = Expression.Call(typeof(Math).GetMethod(nameof(Math.Exp))!, Expression.ArrayIndex(x, Expression.Constant(1)));
        var dag = Expression.Lambda<Func<double[], double>>(Expression.Multiply(shared, shared), x);
        var copy = Expression.Call(typeof(Math).GetMethod(nameof(Math.Exp))!, Expression.ArrayIndex(x, Expression.Constant(1)));
        var tree = Expression.Lambda<Func<double[], double>>(Expression.Multiply(shared, copy), x);
        double[] point = [0.5, 0.75];
        double[] g1 = new double[2], g2 = new double[2];
        double v1 = AD.Gradient(dag)(point, g1), v2 = AD.Gradient(tree)(point, g2);
        Assert.Multiple(() =>
        {
            Assert.That(v2, Is.EqualTo(v1));
            Assert.That(g2, Is.EqualTo(g1));
            Assert.That(g1[1], Is.EqualTo(2 * Math.Exp(1.5)).Within(1e-12));
        });
    }
}
