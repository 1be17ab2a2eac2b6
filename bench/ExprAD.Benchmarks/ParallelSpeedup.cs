using System.Diagnostics;

namespace ExprAD.Benchmarks;

/// <summary>
/// `--parallel`: the logistic gradient of <see cref="ParallelLogistic"/> (100,000 rows × 20 features), sequential and
/// with <see cref="ADOptions.ParallelLoops"/>, timed with a Stopwatch in interleaved rounds (hand, sequential, parallel,
/// one call each per round, repeated), so that load from other processes on this shared machine falls on all three
/// alike; prints the median and the fastest round of each, and the load average before and after.
/// </summary>
public static class ParallelSpeedup
{
    /// <summary>Warms up, times <paramref name="rounds"/> interleaved rounds and prints the table.</summary>
    public static void Run(int rounds)
    {
        var bench = new ParallelLogistic();
        bench.Setup();
        var timings = new (string Name, Func<double> Call, List<double> Ms)[]
        {
            ("hand-written gradient", bench.Hand, new()),
            ("ExprAD gradient, sequential", bench.Sequential, new()),
            ("ExprAD gradient, ParallelLoops", bench.Parallel, new()),
            ("  the same, calling thread only", () => WithoutHelpers(bench.Parallel), new()),
            ("ExprAD loss, sequential", bench.SequentialValue, new()),
            ("ExprAD loss, ParallelLoops", bench.ParallelValue, new()),
        };
        Console.WriteLine($"cores: {Environment.ProcessorCount}; load average before: {LoadAverage()}");
        for (int warm = 0; warm < 20; warm++)
            foreach (var t in timings) t.Call();
        double sink = 0;
        var clock = new Stopwatch();
        for (int round = 0; round < rounds; round++)
            foreach (var t in timings)
            {
                clock.Restart();
                sink += t.Call();
                t.Ms.Add(clock.Elapsed.TotalMilliseconds);
            }
        Console.WriteLine($"load average after: {LoadAverage()}  ({rounds} rounds; checksum {sink:G6})");
        double Median(List<double> ms) => ms.Order().ElementAt(ms.Count / 2);
        double seqMedian = Median(timings[1].Ms), parMedian = Median(timings[2].Ms);
        foreach (var t in timings)
            Console.WriteLine($"  {t.Name,-32} median {Median(t.Ms),7:F2} ms   fastest {t.Ms.Min(),7:F2} ms");
        Console.WriteLine($"  gradient speedup, ParallelLoops over sequential: median {seqMedian / parMedian:F2}x, fastest {timings[1].Ms.Min() / timings[2].Ms.Min():F2}x");
        Console.WriteLine($"  loss speedup: median {Median(timings[4].Ms) / Median(timings[5].Ms):F2}x, fastest {timings[4].Ms.Min() / timings[5].Ms.Min():F2}x");
    }

    // ParallelSums.MaxHelpers (internal; set by reflection, as Info.cs reads internals): 0 runs every block on the
    // calling thread, which shows what outlining and blocks cost without any parallelism.
    private static readonly System.Reflection.FieldInfo MaxHelpers =
        typeof(AD).Assembly.GetType("ExprAD.Codegen.ParallelSums")!.GetField("MaxHelpers", System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)!;

    private static double WithoutHelpers(Func<double> call)
    {
        var saved = MaxHelpers.GetValue(null);
        MaxHelpers.SetValue(null, 0);
        try
        {
            return call();
        }
        finally
        {
            MaxHelpers.SetValue(null, saved);
        }
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
}
