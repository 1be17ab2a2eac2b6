using System.Collections.Concurrent;
using System.Linq.Expressions;
using ExprAD.Tests.Oracles;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// The reliability suite (issue 8, part 5), run in CI with the rest and on its own with
/// <c>dotnet test -c Release --filter Category=Reliability</c>: random programs compiled cold against the same shapes
/// served from the cache, bit for bit; many threads mixing compiles, evictions and calls against one thread; and (in
/// <see cref="EdgeSemanticsTests"/> and <see cref="MemoryBoundTests"/>, same category) the C# idioms against plain C#
/// and memory measured after a full collection.
/// </summary>
[TestFixture, NonParallelizable, Category("Reliability")]
public class ReliabilityTests
{
    /// <summary>A random program of either generator: loops (sums, maps, folds, nested) or straight-line DAGs with conditionals.</summary>
    private static Expression<Func<double[], double>> Program(int k, out int inputs)
    {
        if (k % 2 == 0)
        {
            var loops = RandomLoopProgram.Generate(41_000_000 + k);
            inputs = loops.InputCount;
            return loops.Lambda;
        }
        var dag = PropertyTests.RandomDag.Generate(42_000_000 + k);
        inputs = dag.InputCount;
        return dag.Lambda;
    }

    private static double[] Point(int k, int inputs) =>
        Enumerable.Range(0, inputs).Select(i => Math.Sin(1.7 * k + 0.9 * i) * 1.3).ToArray();

    /// <summary>Value and gradient bits of a compiled program at its point (NaN payloads and signed zeros included).</summary>
    private static long[] Bits(GradientFunc f, double[] x)
    {
        var g = new double[x.Length];
        try
        {
            double v = f(x, g);
            return g.Prepend(v).Select(BitConverter.DoubleToInt64Bits).ToArray();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IndexOutOfRangeException or ArithmeticException)
        {
            // A program may throw at its point (as C# would); then the exception's type is what must agree.
            return [e.GetType().GetHashCode()];
        }
    }

    [Test]
    public void RandomProgramsCompiledColdAndServedFromTheCacheGiveTheSameBits()
    {
        const int Programs = 120;
        var cold = new long[Programs][];
        AD.ClearCache();
        for (int k = 0; k < Programs; k++)
        {
            var f = Program(k, out int n);
            cold[k] = Bits(AD.Gradient(f), Point(k, n));
        }
        // Each generator builds a new tree instance of the same shape: every request is a hit.
        var before = AD.CacheStatistics;
        using var scope = Assert.EnterMultipleScope();
        for (int k = 0; k < Programs; k++)
        {
            var f = Program(k, out int n);
            Assert.That(Bits(AD.Gradient(f), Point(k, n)), Is.EqualTo(cold[k]), $"program {k}: {f}");
        }
        var after = AD.CacheStatistics;
        Assert.That(after.Misses - before.Misses, Is.Zero, "served from the cache");
        Assert.That(after.Hits - before.Hits, Is.EqualTo(Programs));
    }

    [Test]
    public void SixteenThreadsMixingCompilesEvictionsAndCallsAgreeWithOneThread()
    {
        const int Shapes = 40;
        var expected = new long[Shapes][];
        var inputs = new int[Shapes];
        for (int k = 0; k < Shapes; k++) expected[k] = Bits(AD.Gradient(Program(k, out inputs[k])), Point(k, inputs[k]));

        int capacity = AD.CacheCapacity;
        var failures = new ConcurrentQueue<string>();
        long calls = 0, compiles = 0;
        try
        {
            // A capacity below the number of shapes: threads evict each other's kernels while others call them.
            AD.CacheCapacity = 16;
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(3);
            var threads = Enumerable.Range(0, 16).Select(t => new Thread(() =>
            {
                var random = new Random(t);
                var held = new Dictionary<int, GradientFunc>();
                while (DateTime.UtcNow < until && failures.IsEmpty)
                {
                    int k = random.Next(Shapes);
                    if (!held.TryGetValue(k, out var f) || random.Next(4) == 0)
                    {
                        held[k] = f = AD.Gradient(Program(k, out _));
                        Interlocked.Increment(ref compiles);
                    }
                    if (t == 0 && random.Next(50) == 0) AD.ClearCache();
                    var bits = Bits(f, Point(k, inputs[k]));
                    Interlocked.Increment(ref calls);
                    if (!bits.SequenceEqual(expected[k])) failures.Enqueue($"thread {t}, program {k}");
                }
            })).ToList();
            threads.ForEach(th => th.Start());
            threads.ForEach(th => th.Join());
        }
        finally
        {
            AD.CacheCapacity = capacity;
        }
        Assert.That(failures, Is.Empty);
        Assert.That((calls, compiles), Is.GreaterThan((200L, 50L)), "the threads did work");
    }

    /// <summary>
    /// Kernels with a branch inside a loop (a ?: whose sides are evaluated only when taken), on a data flag and on the
    /// index, take the fast compiler: the fallback compiler's large methods can run unoptimised (10x slower, measured on
    /// the GradBench hand model).
    /// </summary>
    [Test]
    public void BranchesInsideLoopsTakeTheFastCompiler()
    {
        Expression<Func<double[], double>> onIndex = x => Enumerable.Range(0, x.Length).Sum(i => i < 2 ? x[i] : x[i] * x[i]);
        Expression<Func<double[], Flag, double[]>> onData = (x, d) => Enumerable.Range(0, x.Length).Select(i => d.Mirrored ? -x[i] : Math.Sin(x[i])).ToArray();
        Assert.That(AD.GetCompilationInfo(AD.Gradient(onIndex))!.Compiler, Is.EqualTo(CompilerKind.FastExpressionCompiler));
        Assert.That(AD.GetCompilationInfo(AD.Value(onIndex))!.Compiler, Is.EqualTo(CompilerKind.FastExpressionCompiler));
        var values = AD.Value(onData);
        Assert.That(AD.GetCompilationInfo(values)!.Compiler, Is.EqualTo(CompilerKind.FastExpressionCompiler));
        var result = new double[3];
        values([0.5, 1.0, -2.0], new Flag(true), result);
        Assert.That(result, Is.EqualTo(new[] { -0.5, -1.0, 2.0 }));
        values([0.5, 1.0, -2.0], new Flag(false), result);
        Assert.That(result, Is.EqualTo(new[] { Math.Sin(0.5), Math.Sin(1.0), Math.Sin(-2.0) }));
    }

    public sealed record Flag(bool Mirrored);
}
