using System.Diagnostics;

namespace ExprAD.Benchmarks;

/// <summary>Stopwatch timing for the modes that run outside BenchmarkDotNet.</summary>
public static class Stopwatches
{
    /// <summary>The fastest of <paramref name="runs"/> calls, in milliseconds, after <paramref name="warmUps"/> untimed ones.</summary>
    public static double Fastest(Func<double> call, int runs, int warmUps = 0)
    {
        for (int warm = 0; warm < warmUps; warm++) call();
        double best = double.MaxValue;
        for (int run = 0; run < runs; run++)
        {
            var clock = Stopwatch.StartNew();
            call();
            best = Math.Min(best, clock.Elapsed.TotalMilliseconds);
        }
        return best;
    }
}
