using System.Diagnostics;

namespace ExprAD.Benchmarks;

/// <summary>
/// `--parallel`: the logistic gradient of <see cref="ParallelLogistic"/> (100,000 rows × 20 features), sequential and
/// with <see cref="ADOptions.ParallelLoops"/>, timed with a Stopwatch in interleaved rounds (one call of each per
/// round), so that load from other processes on this shared machine falls on all of them alike. Each round also
/// times a fixed piece of arithmetic on one thread and on two threads at once: their ratio says whether a second core
/// was free during that round (1.0: free; 2.0: taken by another process). Prints medians over all rounds and over the
/// rounds in which the second core was free, and the load average before and after.
/// </summary>
public static class ParallelSpeedup
{
    private const double FreeCoreRatio = 1.25;

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
        var coreRatio = new List<double>();
        Console.WriteLine($"cores: {Environment.ProcessorCount}; load average before: {LoadAverage()}");
        for (int warm = 0; warm < 20; warm++)
            foreach (var t in timings) t.Call();
        double sink = 0;
        var clock = new Stopwatch();
        for (int round = 0; round < rounds; round++)
        {
            foreach (var t in timings)
            {
                clock.Restart();
                sink += t.Call();
                t.Ms.Add(clock.Elapsed.TotalMilliseconds);
            }
            coreRatio.Add(TwoThreadsOverOne());
        }
        Console.WriteLine($"load average after: {LoadAverage()}  ({rounds} rounds; checksum {sink:G6})");
        var free = Enumerable.Range(0, rounds).Where(r => coreRatio[r] < FreeCoreRatio).ToList();
        Console.WriteLine($"second core free (two threads of fixed work take < {FreeCoreRatio}x one) in {free.Count} of {rounds} rounds; " +
            $"ratio deciles {string.Join(" ", Deciles(coreRatio).Select(v => v.ToString("F2")))}");
        Console.WriteLine($"  {"",-32} {"median",8} {"fastest",8} {"median, core free",18}");
        foreach (var t in timings)
            Console.WriteLine($"  {t.Name,-32} {Median(t.Ms),8:F2} {t.Ms.Min(),8:F2} {(free.Count > 0 ? Median(free.Select(r => t.Ms[r]).ToList()).ToString("F2") : "-"),18}  ms");
        Speedup("gradient", timings[1].Ms, timings[2].Ms, free);
        Speedup("loss", timings[4].Ms, timings[5].Ms, free);
    }

    private static void Speedup(string what, List<double> sequential, List<double> parallel, List<int> free)
    {
        var perRound = sequential.Zip(parallel, (s, p) => s / p).ToList();
        Console.WriteLine($"  {what} speedup (sequential / ParallelLoops, per round): median {Median(perRound):F2}x over all rounds, " +
            $"{(free.Count > 0 ? Median(free.Select(r => perRound[r]).ToList()).ToString("F2") + "x" : "-")} over rounds with the second core free; " +
            $"ratio of fastest times {sequential.Min() / parallel.Min():F2}x");
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static IEnumerable<double> Deciles(List<double> values) =>
        Enumerable.Range(1, 9).Select(d => values.Order().ElementAt(values.Count * d / 10));

    private static double Arithmetic(int n)
    {
        double s = 0;
        for (int i = 0; i < n; i++) s += Math.Sqrt(i + s * 1e-9);
        return s;
    }

    /// <summary>Time of a fixed computation (~5 ms) run on two threads at once over its time on one.</summary>
    private static double TwoThreadsOverOne()
    {
        const int work = 500_000;
        var clock = Stopwatch.StartNew();
        Arithmetic(work);
        double one = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        var other = new Thread(() => Arithmetic(work));
        other.Start();
        Arithmetic(work);
        other.Join();
        return clock.Elapsed.TotalMilliseconds / one;
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
