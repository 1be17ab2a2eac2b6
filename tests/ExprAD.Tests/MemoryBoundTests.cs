using System.Linq.Expressions;
using ExprAD.Codegen;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Bounded memory (issue 8, part 2): the kernel cache keeps at most its capacity, least recently used evicted first, and
/// can be cleared; a thread keeps at most <see cref="ADOptions.RetainWorkspace"/> of scratch after a call; checkpointing
/// bounds the tape of a fold over an array of run-time length. Memory is measured after a full, compacting collection,
/// or read from the thread's workspaces directly, never timed.
/// </summary>
[TestFixture, NonParallelizable, Category("Reliability")]
public class MemoryBoundTests
{
    /// <summary>A lambda of its own shape for every <paramref name="k"/> (the constant is baked into the kernel and its key).</summary>
    private static Expression<Func<double[], double>> Distinct(int k)
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression At(int i) => Expression.ArrayIndex(x, Expression.Constant(i));
        var c = Expression.Constant(1.0 + k * 1e-6);
        return Expression.Lambda<Func<double[], double>>(
            Expression.Add(Expression.Multiply(At(0), c), Expression.Call(typeof(Math).GetMethod(nameof(Math.Sin), [typeof(double)])!, Expression.Multiply(At(1), c))), x);
    }

    private static long ManagedAfterFullCollection()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static void CompileAndDrop(int from, int count)
    {
        var g = new double[2];
        for (int k = from; k < from + count; k++) AD.Gradient(Distinct(k))([0.5, 0.25], g);
    }

    [Test]
    public void TheCacheStaysWithinItsCapacityAndItsMemoryIsCollected()
    {
        int capacity = AD.CacheCapacity;
        try
        {
            AD.CacheCapacity = 50;
            var before = AD.CacheStatistics;
            CompileAndDrop(1_000_000, 300); // warm-up: the JIT of the pipeline itself
            long m0 = ManagedAfterFullCollection();
            CompileAndDrop(2_000_000, 2_000);
            long m1 = ManagedAfterFullCollection();
            var after = AD.CacheStatistics;
            using (Assert.EnterMultipleScope())
            {
                Assert.That(after.Entries, Is.LessThanOrEqualTo(50));
                Assert.That(after.Misses - before.Misses, Is.EqualTo(2_300));
                Assert.That(after.Evictions - before.Evictions, Is.GreaterThanOrEqualTo(2_300 - 50));
                // 2,000 kernels kept would hold several megabytes (about 2 KB each); 50 hold a few hundred KB.
                Assert.That(m1 - m0, Is.LessThan(1_500_000), $"managed memory grew by {m1 - m0:N0} bytes over 2,000 compiles");
            }
        }
        finally
        {
            AD.CacheCapacity = capacity;
        }
    }

    [Test]
    public void TheLeastRecentlyUsedKernelGoesFirst()
    {
        int capacity = AD.CacheCapacity;
        try
        {
            AD.ClearCache();
            AD.CacheCapacity = 10;
            var g = new double[2];
            for (int k = 0; k < 10; k++) AD.Gradient(Distinct(3_000_000 + k))([1, 2], g);
            // Use the first one again: the second is now the least recently used.
            AD.Gradient(Distinct(3_000_000))([1, 2], g);
            AD.Gradient(Distinct(3_000_100))([1, 2], g); // an eleventh shape: one eviction
            var s = AD.CacheStatistics;
            long hits = s.Hits, misses = s.Misses;
            AD.Gradient(Distinct(3_000_000))([1, 2], g);
            Assert.That((AD.CacheStatistics.Hits - hits, AD.CacheStatistics.Misses - misses), Is.EqualTo((1L, 0L)), "the recently used one stayed");
            AD.Gradient(Distinct(3_000_001))([1, 2], g);
            Assert.That(AD.CacheStatistics.Misses - misses, Is.EqualTo(1L), "the least recently used one was evicted");
            Assert.That(AD.CacheStatistics.Entries, Is.LessThanOrEqualTo(10));
        }
        finally
        {
            AD.CacheCapacity = capacity;
        }
    }

    [Test]
    public void ClearCacheForgetsEveryKernelButNotTheDelegatesHandedOut()
    {
        Expression<Func<double[], double>> f = x => x[0] * x[1];
        var gradient = AD.Gradient(f);
        AD.ClearCache();
        Assert.That(AD.CacheStatistics.Entries, Is.Zero);
        var g = new double[2];
        Assert.That(gradient([3, 4], g), Is.EqualTo(12));
        long misses = AD.CacheStatistics.Misses;
        AD.Gradient(f);
        Assert.That(AD.CacheStatistics.Misses - misses, Is.EqualTo(1), "even the same tree instance compiles again");
        Assert.That(() => AD.CacheCapacity = 0, Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    private static readonly Expression<Func<double[], double[], double>> Recurrence = (p, u) =>
        Enumerable.Range(0, u.Length).Aggregate(new[] { 0.0, 0.0 }, (s, t) => new[] { Math.Tanh(p[0] * s[0] + p[1] * u[t]), s[1] + s[0] * s[0] })[1];

    [Test]
    public void AFoldsTapeDoesNotOutliveTheCallBeyondTheRetainedWorkspace()
    {
        var u = Enumerable.Range(0, 1_000_000).Select(k => Math.Sin(k * 0.001)).ToArray();
        var g = new double[2];
        // The tape: 1,000,000 steps of two states (and the recorded tanh): tens of megabytes.
        var byDefault = AD.Gradient(Recurrence);
        double value = byDefault([0.9, 0.5], u, g);
        Assert.That(Runtime.RetainedWorkspaceBytes, Is.LessThanOrEqualTo(ADOptions.Default.RetainWorkspace), "kept after a call, by default");

        var keeping = AD.Gradient(Recurrence, new ADOptions { RetainWorkspace = 256L << 20 });
        var g2 = new double[2];
        Assert.That(keeping([0.9, 0.5], u, g2), Is.EqualTo(value));
        Assert.That(g2, Is.EqualTo(g), "the option changes memory, not results");
        Assert.That(Runtime.RetainedWorkspaceBytes, Is.GreaterThan(16_000_000), "kept when asked to");
        // Steady state within the retained amount allocates nothing.
        // The point as an array: a collection expression passed as a span allocates in a Debug build of the test.
        var point = new[] { 0.9, 0.5 };
        long allocated = AllocationTests.Measure(() => keeping(point, u, g2));
        Assert.That(allocated, Is.Zero);
        // And a later default call lets go of it again.
        byDefault([0.9, 0.5], u, g);
        Assert.That(Runtime.RetainedWorkspaceBytes, Is.LessThanOrEqualTo(ADOptions.Default.RetainWorkspace));
    }

    /// <summary>A fold whose state is an array of run-time length, replaced every step by a new map.</summary>
    private static readonly Expression<Func<double[], double[], double>> ArrayFold = (x, u) =>
        Enumerable.Range(0, u.Length).Aggregate(x.ToArray(), (s, t) => s.Select((v, i) => Math.Tanh(v + 0.1 * u[t] * s[(i + 1) % s.Length])).ToArray()).Sum();

    [Test]
    public void CheckpointingBoundsTheTapeOfAnArrayStateAndKeepsTheBits()
    {
        var u = Enumerable.Range(0, 4096).Select(k => Math.Cos(k * 0.01)).ToArray();
        double[] x = [0.3, -0.2, 0.5, 0.1, -0.4, 0.25, 0.05, -0.15];
        long TapeBytes(int interval, out double value, out double[] gradient)
        {
            var options = new ADOptions { CheckpointInterval = interval, RetainWorkspace = 1L << 30 };
            var f = AD.Gradient(ArrayFold, options);
            gradient = new double[x.Length];
            value = f(x, u, gradient);
            // What the thread keeps with a generous retention is what the call needed (tapes and buffers).
            long kept = Runtime.RetainedWorkspaceBytes;
            // Release it for the next measurement.
            AD.Gradient(ArrayFold, new ADOptions { CheckpointInterval = interval, RetainWorkspace = 0 })(x, u, new double[x.Length]);
            return kept;
        }
        long full = TapeBytes(1, out double v1, out var g1);
        long every64 = TapeBytes(64, out double v64, out var g64);
        using var scope = Assert.EnterMultipleScope();
        Assert.That(v64, Is.EqualTo(v1));
        Assert.That(g64, Is.EqualTo(g1), "bit-identical gradients");
        // 4,096 records of 8 doubles against 64 checkpoints plus a 64-record segment.
        Assert.That(full, Is.GreaterThan(4096 * 8 * 8));
        Assert.That(every64, Is.LessThan(full / 10), $"tape and scratch {every64:N0} bytes with k = 64 against {full:N0} with k = 1");
    }
}
