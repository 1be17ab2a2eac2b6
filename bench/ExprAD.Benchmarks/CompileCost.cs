using System.Diagnostics;
using System.Linq.Expressions;

namespace ExprAD.Benchmarks;

/// <summary>
/// `--compile-cost [part]`: the hand-timed rows of "Compile cost (issue 8 part 3)" in bench/README.md. Only the time
/// ExprAD spends is timed: every tree instance is built before the clock starts (the C# compiler's Expression factory
/// calls are the user's cost, not ExprAD's).
/// <list type="bullet">
/// <item><c>hit</c>: a cache hit on a new tree instance of a compiled shape, for the paper's lambda literal (instances
/// from a method returning the literal), chains of ~1,000 and ~200,000 nodes, and a 200,000-term sum.</item>
/// <item><c>big</c>: compile plus first call (the JIT of the generated methods included) of a 100,000-operation chain and
/// of a 200,000-term sum x[0] c0 + x[1] c1 + ..., left-deep (as C# builds it) and balanced; the phases of each.</item>
/// <item><c>cold</c>: the first AD.Gradient of fresh processes (this program with <c>--first-call</c>), apart from runtime start-up.</item>
/// </list>
/// </summary>
public static class CompileCost
{
    public static void Run(string[] args)
    {
        string part = args.Length > 0 ? args[0] : "all";
        Console.WriteLine($".NET {Environment.Version}, {Environment.ProcessorCount} cores, load average {LoadAverage()}");
        if (part is "all" or "hit") Hits();
        if (part is "all" or "big") Big(args.Length > 1 ? args[1] : "all");
        if (part is "all" or "cold") Cold(args.Length > 1 ? int.Parse(args[1]) : 10);
    }

    // ---------------------------------------------------------------- (a) cache hits on new tree instances

    /// <summary>The paper's lambda literal: each call returns a new tree, as the C# compiler builds one per evaluation.</summary>
    public static Expression<Func<double[], double>> PaperLiteral() => x => Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]);

    private static void Hits()
    {
        Console.WriteLine();
        Console.WriteLine("(a) cache hit on a new instance of a compiled shape (instances built before timing); per call:");
        TimeHits("paper lambda literal", NodeCount(PaperLiteral()), () => PaperLiteral(), perBatch: 1000, batches: 20);
        foreach (var ops in new[] { 286, 57_143 })
            TimeHits($"chain, {ops} ops", NodeCount(Chain(ops)), () => Chain(ops), perBatch: ops < 1000 ? 500 : 1, batches: ops < 1000 ? 10 : 10);
        TimeHits("sum of 200,000 terms, left-deep", NodeCount(Sum(200_000, balanced: false)), () => Sum(200_000, false), perBatch: 1, batches: 5);
    }

    /// <summary>
    /// Compiles one instance and warms up (a second of hits on fresh instances, so that the walk runs tiered-up code),
    /// then times AD.Gradient over <paramref name="batches"/> batches of <paramref name="perBatch"/> fresh instances (built
    /// before each batch is timed); prints the fastest and the median batch's time per call, and the bytes allocated per call.
    /// </summary>
    private static void TimeHits(string label, int nodes, Func<Expression<Func<double[], double>>> build, int perBatch, int batches)
    {
        AD.Gradient(build());
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 1000)
        {
            var trees = Enumerable.Range(0, perBatch).Select(_ => build()).ToArray();
            foreach (var tree in trees) AD.Gradient(tree);
        }
        var perCall = new List<double>();
        long bytes = 0;
        for (int b = 0; b < batches; b++)
        {
            var trees = new Expression<Func<double[], double>>[perBatch];
            for (int i = 0; i < perBatch; i++) trees[i] = build();
            if (perBatch < 10) { GC.Collect(); GC.WaitForPendingFinalizers(); }
            long before = GC.GetAllocatedBytesForCurrentThread();
            var clock = Stopwatch.StartNew();
            foreach (var tree in trees) AD.Gradient(tree);
            perCall.Add(clock.Elapsed.TotalMicroseconds / perBatch);
            bytes += GC.GetAllocatedBytesForCurrentThread() - before;
        }
        perCall.Sort();
        Console.WriteLine($"  {label,-34} {nodes,9:N0} nodes: fastest {Us(perCall[0])}, median {Us(perCall[perCall.Count / 2])} per call" +
                          $" ({batches} batches of {perBatch}); {bytes / (double)(perBatch * batches):N0} B per call");
    }

    private static string Us(double us) => us >= 1000 ? $"{us / 1000,8:F2} ms" : $"{us,8:F2} us";

    // ---------------------------------------------------------------- (b) compile plus first call of long traces

    private static void Big(string which)
    {
        Console.WriteLine();
        Console.WriteLine("(b) compile (cache miss) plus first call, the pipeline warmed on a small lambda first:");
        AD.Gradient(Chain(100))(Functions.Point(16), new double[16]);
        var cases = new List<(string Name, Func<int, Expression<Func<double[], double>>> Build, int N)>
        {
            ("chain, 100,000 ops", salt => Salted(Chain(100_000), salt), 16),
            ("sum of 200,000 terms, left-deep", salt => Salted(Sum(200_000, false), salt), 200_000),
            ("sum of 200,000 terms, balanced", salt => Salted(Sum(200_000, true), salt), 200_000),
        };
        int salt = Environment.ProcessId * 1000;
        foreach (var (name, build, n) in cases)
        {
            if (which != "all" && !name.StartsWith(which)) continue;
            for (int run = 0; run < 3; run++)
            {
                var f = build(++salt);
                GC.Collect();
                var clock = Stopwatch.StartNew();
                var g = AD.Gradient(f);
                var compile = clock.Elapsed;
                var x = Functions.Point(n);
                var gradient = new double[n];
                clock.Restart();
                g(x, gradient);
                var first = clock.Elapsed;
                clock.Restart();
                g(x, gradient);
                var second = clock.Elapsed;
                var info = AD.GetCompilationInfo(g)!;
                Console.WriteLine($"  {name,-34} compile {compile.TotalMilliseconds,7:F0} ms + first call {first.TotalMilliseconds,6:F0} ms" +
                                  $" = {(compile + first).TotalMilliseconds,6:F0} ms (second call {second.TotalMilliseconds:F2} ms; {info.SourceTraceLength} -> {info.TraceLength} instructions, {info.Compiler})");
            }
            Phases.Print(build(++salt), name);
        }
    }

    // ---------------------------------------------------------------- (c) the first call of a process

    /// <summary>`--first-call` (run in a fresh process by <see cref="Cold"/>): prints start-up and first-call times in ms.</summary>
    public static void FirstCall()
    {
        var atMain = DateTime.Now;
        long mainTicks = Stopwatch.GetTimestamp();
        var jit0 = System.Runtime.JitInfo.GetCompilationTime();
        long methods0 = System.Runtime.JitInfo.GetCompiledMethodCount();
        var gradient = AD.Gradient(x => Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]));
        var compiled = Stopwatch.GetElapsedTime(mainTicks);
        var jit = System.Runtime.JitInfo.GetCompilationTime() - jit0;
        long methods = System.Runtime.JitInfo.GetCompiledMethodCount() - methods0;
        var g = new double[2];
        gradient([2.0, 5.0], g);
        var called = Stopwatch.GetElapsedTime(mainTicks);
        long second = Stopwatch.GetTimestamp();
        AD.Gradient(x => Math.Log(x[0]) + x[0] * x[1] * 2 - Math.Sin(x[1]));
        var secondCompile = Stopwatch.GetElapsedTime(second);
        var startup = atMain - Process.GetCurrentProcess().StartTime;
        Console.WriteLine(FormattableString.Invariant(
            $"{startup.TotalMilliseconds:F1} {compiled.TotalMilliseconds:F1} {called.TotalMilliseconds:F1} {secondCompile.TotalMilliseconds:F2} {jit.TotalMilliseconds:F1} {methods}"));
    }

    private static void Cold(int processes)
    {
        Console.WriteLine();
        Console.WriteLine($"(c) first AD.Gradient of a process (paper lambda), {processes} fresh processes of this program:");
        // Always `dotnet <this dll> --first-call`, however this process was started (apphost or dotnet).
        var path = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet";
        var dll = typeof(CompileCost).Assembly.Location;
        var rows = new List<double[]>();
        for (int p = 0; p < processes; p++)
        {
            var start = new ProcessStartInfo(path) { RedirectStandardOutput = true, UseShellExecute = false };
            start.ArgumentList.Add(dll);
            start.ArgumentList.Add("--first-call");
            using var child = Process.Start(start)!;
            var line = child.StandardOutput.ReadToEnd().Trim();
            child.WaitForExit();
            rows.Add(line.Split(' ').Select(s => double.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        }
        string Column(int k, string unit = "ms")
        {
            var v = rows.Select(r => r[k]).OrderBy(t => t).ToArray();
            return $"median {v[v.Length / 2],7:F1} {unit} (range {v[0]:F1}-{v[^1]:F1})".Replace(" ( range", " (range");
        }
        Console.WriteLine($"  process start -> Main (runtime start-up)        {Column(0)}");
        Console.WriteLine($"  Main -> first AD.Gradient returned             {Column(1)}");
        Console.WriteLine($"  Main -> first gradient call returned           {Column(2)}");
        Console.WriteLine($"  a second shape's AD.Gradient (cache miss, warm) {Column(3)}");
        Console.WriteLine($"  of the first AD.Gradient, time in the JIT       {Column(4)}");
        Console.WriteLine($"  of the first AD.Gradient, methods jitted        {Column(5, "")}");
    }

    // ---------------------------------------------------------------- shapes

    /// <summary>Functions.Chain as a lambda: a new tree instance (all nodes new) on every call.</summary>
    public static Expression<Func<double[], double>> Chain(int ops)
    {
        var (x, body) = Functions.Chain(ops);
        return Expression.Lambda<Func<double[], double>>(body, x);
    }

    /// <summary>x[0] c0 + x[1] c1 + ... + x[n-1] c(n-1), distinct constants, left-deep (as C# builds a written-out sum) or balanced.</summary>
    public static Expression<Func<double[], double>> Sum(int terms, bool balanced)
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression Term(int i) => Expression.Multiply(Expression.ArrayIndex(x, Expression.Constant(i)), Expression.Constant(1.0 + i * 1e-6));
        Expression Build(int lo, int hi) => hi - lo == 1 ? Term(lo) : Expression.Add(Build(lo, (lo + hi) / 2), Build((lo + hi) / 2, hi));
        Expression body;
        if (balanced) body = Build(0, terms);
        else
        {
            body = Term(0);
            for (int i = 1; i < terms; i++) body = Expression.Add(body, Term(i));
        }
        return Expression.Lambda<Func<double[], double>>(body, x);
    }

    private static Expression<Func<double[], double>> Salted(Expression<Func<double[], double>> f, int salt) =>
        Expression.Lambda<Func<double[], double>>(Expression.Add(f.Body, Expression.Constant(1e-3 * salt)), f.Parameters);

    /// <summary>The number of nodes of a tree (shared nodes counted each time they are reached), iteratively.</summary>
    public static int NodeCount(LambdaExpression f)
    {
        var stack = new Stack<Expression>();
        stack.Push(f);
        int count = 0;
        while (stack.TryPop(out var node))
        {
            count++;
            switch (node)
            {
                case LambdaExpression l: stack.Push(l.Body); foreach (var p in l.Parameters) stack.Push(p); break;
                case BinaryExpression b: stack.Push(b.Left); stack.Push(b.Right); break;
                case UnaryExpression u: stack.Push(u.Operand); break;
                case MethodCallExpression c: foreach (var a in c.Arguments) stack.Push(a); break;
            }
        }
        return count;
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
}
