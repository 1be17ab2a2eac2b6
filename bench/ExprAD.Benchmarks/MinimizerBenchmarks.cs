using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using ExprAD.Optimization.Tests;

namespace ExprAD.Benchmarks;

/// <summary>
/// Issue 11 section 2: a whole minimisation of each Moré–Garbow–Hillstrom problem by ExprAD's L-BFGS against MathNet
/// 5.0.0's L-BFGS and BFGS fed by the same ExprAD gradient (see <see cref="MinimizerRuns"/> for how MathNet is run and
/// stopped). The gradient is compiled in the set-up, so the time is the minimiser's and the gradient calls'. Run with
/// <c>dotnet run -c Release --project bench/ExprAD.Benchmarks -- --filter '*Minimizer*'</c>; the table with solved,
/// f, |g|, iterations, evaluations and a Stopwatch time per problem and method is <c>-- --mgh-table</c>
/// (<see cref="MghTable"/>).
/// </summary>
[MemoryDiagnoser]
[WholeRuns]
public class MinimizerBenchmarks
{
    /// <summary>The problems, by name (<see cref="MoreGarbowHillstrom.All"/>).</summary>
    public static IEnumerable<string> Problems => MoreGarbowHillstrom.All().Select(p => p.Name);

    [ParamsSource(nameof(Problems))]
    public string Problem = "";

    /// <summary>Whether the gradient (which both sides call) is compiled with <see cref="ADOptions.FastMath"/>.</summary>
    [Params(false, true)]
    public bool FastMath;

    private MoreGarbowHillstrom.Problem _problem = null!;
    private GradientFunc _gradient = null!;

    [GlobalSetup]
    public void Setup()
    {
        _problem = MoreGarbowHillstrom.All().Single(p => p.Name == Problem);
        _gradient = AD.Gradient(_problem.F, Options(FastMath));
        foreach (var method in Enum.GetValues<Method>())
            if (Applies(method, _problem) && !MinimizerRuns.Run(method, _problem, _gradient).Solved)
                Console.WriteLine($"// {method} does not solve {Problem}");
    }

    /// <summary>The options of the gradient both sides are given: <see cref="ADOptions.FastMath"/> or the defaults.</summary>
    internal static ADOptions Options(bool fastMath) => fastMath ? new ADOptions { FastMath = true } : ADOptions.Default;

    internal static bool Applies(Method method, MoreGarbowHillstrom.Problem problem) => method != Method.MathNetBfgs || problem.N <= MinimizerRuns.MaxBfgsSize;

    [Benchmark(Baseline = true, Description = "ExprAD L-BFGS")]
    public int ExprADLbfgs() => MinimizerRuns.Run(Method.ExprADLbfgs, _problem, _gradient).Evaluations;

    [Benchmark(Description = "MathNet L-BFGS")]
    public int MathNetLbfgs() => MinimizerRuns.Run(Method.MathNetLbfgs, _problem, _gradient).Evaluations;

    /// <summary>MathNet's dense BFGS; above <see cref="MinimizerRuns.MaxBfgsSize"/> it is not run (0 is returned at once).</summary>
    [Benchmark(Description = "MathNet BFGS (n <= 1,000)")]
    public int MathNetBfgs() => Applies(Method.MathNetBfgs, _problem) ? MinimizerRuns.Run(Method.MathNetBfgs, _problem, _gradient).Evaluations : 0;
}

/// <summary>
/// The job of <see cref="MinimizerBenchmarks"/>: one launch, 3 warm-up and 10 measured single runs (Monitoring: a run of
/// MathNet's BFGS at n = 1,000 takes seconds), with tiered compilation off. A process makes only 13 runs, too few for the
/// tiered JIT to promote the minimisers' code for certain (30 calls, then a delay): a run with it on (load average rising
/// from 1.4 to 5.8) measured 17-21 ms for ExprAD on the n = 10,000 problems that take 8-10 ms with it off and in the
/// Stopwatch table.
/// </summary>
public sealed class WholeRunsAttribute : JobConfigBaseAttribute
{
    public WholeRunsAttribute() : base(Job.Default
        .WithStrategy(RunStrategy.Monitoring)
        .WithLaunchCount(1)
        .WithWarmupCount(3)
        .WithIterationCount(10)
        .WithInvocationCount(1)
        .WithUnrollFactor(1)
        .WithEnvironmentVariables(new EnvironmentVariable("DOTNET_TieredCompilation", "0"))
        .WithId("WholeRunsNoTiering"))
    {
    }
}

/// <summary>
/// <c>--mgh-table [seconds] [--fast-math]</c>: for every problem and method, whether it reached |g|∞ &lt;= 1e-6, f, |g|∞,
/// iterations, evaluations and the median wall time of repeated runs (each method repeated for about <c>seconds</c>,
/// default 0.5, at least 3 and at most 50 runs, after one warm-up run), then the issue's two checks: ExprAD's evaluations
/// at most MathNet L-BFGS's on each problem, and ExprAD at least 5x faster at n &gt;= 1,000. Markdown on standard output.
/// With <c>--fast-math</c> the gradient that every method calls is compiled with <see cref="ADOptions.FastMath"/>.
/// </summary>
public static class MghTable
{
    public static void Run(string[] args)
    {
        bool fastMath = args.Contains("--fast-math");
        var numbers = args.Where(a => a != "--fast-math").ToArray();
        double seconds = numbers.Length > 0 ? double.Parse(numbers[0], System.Globalization.CultureInfo.InvariantCulture) : 0.5;
        Console.WriteLine($"Gradients compiled with {(fastMath ? "ADOptions.FastMath" : "the default options")}.");
        Console.WriteLine("| problem | n | method | solved | f | \\|g\\|∞ | iterations | evaluations | time |");
        Console.WriteLine("|---|---:|---|---|---:|---:|---:|---:|---:|");
        var verdicts = new List<string>();
        foreach (var problem in MoreGarbowHillstrom.All())
        {
            var gradient = AD.Gradient(problem.F, MinimizerBenchmarks.Options(fastMath));
            var outcomes = new Dictionary<Method, (RunOutcome Outcome, TimeSpan Time)>();
            foreach (var method in Enum.GetValues<Method>())
            {
                if (!MinimizerBenchmarks.Applies(method, problem))
                {
                    Console.WriteLine($"| {problem.Name} | {problem.N} | {Name(method)} | not run: a dense {problem.N:N0}² inverse Hessian | | | | | |");
                    continue;
                }
                var outcome = MinimizerRuns.Run(method, problem, gradient);
                var time = Median(() => MinimizerRuns.Run(method, problem, gradient), seconds);
                outcomes[method] = (outcome, time);
                Console.WriteLine($"| {problem.Name} | {problem.N} | {Name(method)} | {(outcome.Solved ? "yes" : "no: " + outcome.Note)} | {outcome.Value:G6} | {outcome.GradientNorm:G3} | "
                    + $"{(outcome.Iterations >= 0 ? outcome.Iterations.ToString() : "")} | {outcome.Evaluations} | {Format(time)} |");
            }
            var ours = outcomes[Method.ExprADLbfgs];
            var theirs = outcomes[Method.MathNetLbfgs];
            string evaluations = !ours.Outcome.Solved ? "ExprAD did not solve it"
                : !theirs.Outcome.Solved ? "MathNet L-BFGS did not solve it"
                : ours.Outcome.Evaluations <= theirs.Outcome.Evaluations ? $"evaluations {ours.Outcome.Evaluations} <= {theirs.Outcome.Evaluations}"
                : $"MORE EVALUATIONS: {ours.Outcome.Evaluations} > {theirs.Outcome.Evaluations}";
            double speedup = theirs.Time / ours.Time;
            string wall = problem.N >= 1_000 ? (speedup >= 5 ? $"{speedup:F1}x faster" : $"ONLY {speedup:F1}x faster") : $"{speedup:F1}x faster (n < 1,000: no target)";
            verdicts.Add($"| {problem.Name} | {evaluations} | {wall} |");
        }
        Console.WriteLine();
        Console.WriteLine("| problem | ExprAD L-BFGS against MathNet L-BFGS: evaluations | wall time |");
        Console.WriteLine("|---|---|---|");
        foreach (var line in verdicts) Console.WriteLine(line);
    }

    private static string Name(Method method) => method switch
    {
        Method.ExprADLbfgs => "ExprAD L-BFGS",
        Method.MathNetLbfgs => "MathNet L-BFGS",
        _ => "MathNet BFGS",
    };

    private static TimeSpan Median(Func<RunOutcome> run, double seconds)
    {
        run();
        var times = new List<TimeSpan>();
        var total = Stopwatch.StartNew();
        while (times.Count < 3 || (times.Count < 50 && total.Elapsed.TotalSeconds < seconds))
        {
            var clock = Stopwatch.StartNew();
            run();
            times.Add(clock.Elapsed);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    private static string Format(TimeSpan t) => t.TotalMilliseconds >= 1 ? $"{t.TotalMilliseconds:F2} ms" : $"{t.TotalMilliseconds * 1000:F0} µs";
}

/// <summary>
/// <c>--mgh-evals [--fast-math]</c>: evaluation counts only (one run of ExprAD's and MathNet's L-BFGS per problem, no timing), with the
/// problems where ExprAD needs more and the total over the problems other than discrete boundary value n = 100: the
/// quick check while changing the minimiser.
/// </summary>
public static class MghEvaluations
{
    public static void Run(bool fastMath)
    {
        int ours = 0, theirs = 0;
        var worse = new List<string>();
        foreach (var problem in MoreGarbowHillstrom.All())
        {
            var gradient = AD.Gradient(problem.F, MinimizerBenchmarks.Options(fastMath));
            var a = MinimizerRuns.Run(Method.ExprADLbfgs, problem, gradient);
            var b = MinimizerRuns.Run(Method.MathNetLbfgs, problem, gradient);
            bool lost = !a.Solved || a.Evaluations > b.Evaluations;
            Console.WriteLine($"{problem.Name,-32} {a.Evaluations,6} {b.Evaluations,6}   f {a.Value,-12:G6} {b.Value,-12:G6}{(a.Solved ? "" : " NOT SOLVED")}{(lost ? "  <-- more" : "")}");
            if (lost) worse.Add($"{problem.Name} ({a.Evaluations} > {b.Evaluations})");
            if (problem.Name != "discrete boundary value n=100") { ours += a.Evaluations; theirs += b.Evaluations; }
        }
        Console.WriteLine($"total without DBV 100: {ours} against {theirs}; more on: {(worse.Count == 0 ? "none" : string.Join(", ", worse))}");
    }
}
