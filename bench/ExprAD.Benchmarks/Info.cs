using System.Diagnostics;
using System.Linq.Expressions;

namespace ExprAD.Benchmarks;

/// <summary>`--info`: how each benchmarked function compiles, and a correctness check of every ExprAD gradient.</summary>
public static class Info
{
    public static void Print()
    {
        Console.WriteLine($".NET {Environment.Version}, {Environment.ProcessorCount} logical cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
        Report("paper", AD.Gradient(Functions.Paper));
        new PaperFunction().Setup();
        foreach (var n in new[] { 10, 100, 1000 })
        {
            var b = new Rosenbrock { N = n };
            var f = Functions.Rosenbrock(n);
            b.Setup();
            Report($"rosenbrock n={n}", AD.Gradient(f));
        }
        var mlp = new Mlp();
        mlp.Setup();
        var sample = Functions.MlpSample();
        Report("mlp (data argument)", AD.Gradient((Expression<Func<double[], Functions.MlpData, double>>)Functions.Mlp(sample, false)));
        Report("mlp (input baked)", AD.Gradient((Expression<Func<double[], double>>)Functions.Mlp(sample, true)));

        Console.WriteLine();
        Console.WriteLine("Compile time (cache miss), one cold-ish run per size after a warm-up at 1e2:");
        var (x0, body0) = Functions.Chain(100);
        AD.Gradient(Expression.Lambda<Func<double[], double>>(body0, x0));
        foreach (var ops in new[] { 100, 1_000, 10_000, 100_000 })
        {
            var (x, body) = Functions.Chain(ops);
            var lambda = Expression.Lambda<Func<double[], double>>(Expression.Add(body, Expression.Constant(-1.0 * ops)), x);
            var clock = Stopwatch.StartNew();
            var g = AD.Gradient(lambda);
            var total = clock.Elapsed;
            clock.Restart();
            AD.Gradient(lambda);
            var hit = clock.Elapsed;
            clock.Restart();
            var plain = lambda.Compile();
            var linq = clock.Elapsed;
            var info = AD.GetCompilationInfo(g)!;
            Console.WriteLine($"  ops={ops,7}: AD.Gradient {total.TotalMilliseconds,9:F1} ms (pipeline {info.CompileTime.TotalMilliseconds,9:F1} ms, {info})," +
                              $" hit {hit.TotalMilliseconds:F3} ms, Expression.Compile() of f {linq.TotalMilliseconds:F1} ms");
            var point = Functions.Point(16);
            var grad = new double[16];
            double v = g(point, grad);
            if (Math.Abs(v - plain(point)) > 1e-9 * Math.Abs(v)) throw new InvalidOperationException("chain value mismatch");
        }

        Console.WriteLine();
        Console.WriteLine("Phases of one cache miss (internal pipeline called through reflection, warm):");
        foreach (var ops in new[] { 100, 1_000, 10_000, 100_000 })
        {
            var (x, body) = Functions.Chain(ops);
            Phases.Print(Expression.Lambda<Func<double[], double>>(body, x), $"chain, {ops} ops");
            var (xb, balanced) = Functions.Balanced(ops);
            Phases.Print(Expression.Lambda<Func<double[], double>>(balanced, xb), $"balanced, {ops} ops");
        }
        Phases.Print(Functions.Rosenbrock(1000), "rosenbrock n=1000");
    }

    private static void Report(string name, Delegate d) => Console.WriteLine($"  {name,-22} {AD.GetCompilationInfo(d)}");
}
