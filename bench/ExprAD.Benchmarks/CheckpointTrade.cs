
namespace ExprAD.Benchmarks;

/// <summary>
/// `--checkpoint`: the memory and time trade of <see cref="ADOptions.CheckpointInterval"/> on the loops issue's
/// recurrence (a two-state Aggregate) over 1,000,000 inputs. For each interval k: the bytes the first call allocates
/// (the tape and, for k &gt; 1, the segment buffer, kept in the thread's workspace for later calls), and the fastest of
/// seven gradient calls after it, against the function alone.
/// </summary>
public static class CheckpointTrade
{
    private const int Steps = 1_000_000;

    /// <summary>Prints the table of bench/README.md's "Fold checkpointing" section.</summary>
    public static void Run()
    {
        var u = Enumerable.Range(0, Steps).Select(t => Math.Sin(0.001 * t)).ToArray();
        double[] p = [0.7, 0.4];
        var value = AD.Value<double[]>((p, u) => Enumerable.Range(0, u.Length).Aggregate(new[] { 0.0, 0.0 },
            (s, t) => new[] { Math.Tanh(p[0] * s[0] + p[1] * u[t]), s[1] + s[0] * s[0] })[1]);
        double function = Stopwatches.Fastest(runs: 7, call: () => value(p, u));
        Console.WriteLine($"function alone: {function:F1} ms");
        Console.WriteLine("| k | first call allocates (MB) | gradient (ms) | gradient / function |");
        Console.WriteLine("|---:|---:|---:|---:|");
        foreach (int k in new[] { 1, 4, 16, 64, 256, 1024 })
        {
            // A fresh thread: its workspace starts empty, so the first call allocates this interval's tape alone.
            string row = "";
            var thread = new Thread(() =>
            {
                var gradient = AD.Gradient<double[]>((p, u) => Enumerable.Range(0, u.Length).Aggregate(new[] { 0.0, 0.0 },
                    (s, t) => new[] { Math.Tanh(p[0] * s[0] + p[1] * u[t]), s[1] + s[0] * s[0] })[1], new ADOptions { CheckpointInterval = k });
                var g = new double[2];
                long before = GC.GetAllocatedBytesForCurrentThread();
                gradient(p, u, g);
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                double ms = Stopwatches.Fastest(runs: 7, call: () => gradient(p, u, g));
                row = $"| {k} | {allocated / 1e6:F3} | {ms:F1} | {ms / function:F2} |";
            }, maxStackSize: 16 << 20);
            thread.Start();
            thread.Join();
            Console.WriteLine(row);
        }
    }
}
