using BenchmarkDotNet.Attributes;
using Perfolizer.Horology;
using BenchmarkDotNet.Jobs;

namespace ExprAD.Benchmarks;

/// <summary>
/// The job of the per-call benchmarks (a)-(c): BenchmarkDotNet's default engine settings, but
/// three processes (launches) of 10 measured iterations of ~100 ms each instead of one process.
/// On this machine the same code measured in different processes differs by up to 2x (e.g. the
/// hand-written Rosenbrock loop at n=1000: 0.63 us in one process, 1.27 us in another; anything
/// calling Math.Tanh: 320 vs 550 ns), so a single launch can make either side look better.
/// Mean and StdDev are over all 30 iterations.
/// </summary>
public sealed class ThreeLaunchesAttribute : JobConfigBaseAttribute
{
    public ThreeLaunchesAttribute() : base(Job.Default
        .WithLaunchCount(3)
        .WithWarmupCount(4)
        .WithIterationCount(10)
        .WithIterationTime(TimeInterval.FromMilliseconds(100))
        .WithId("3 launches x 10"))
    {
    }
}
