using System.Diagnostics;
using System.Linq.Expressions;
using System.Runtime.ExceptionServices;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Very deep expression trees (built with the Expression API, 100,000 levels) are differentiated and
/// compiled without overflowing the stack, even when the request comes from a thread with a small
/// (256 KiB) stack: the library must not rely on the caller's stack size.
/// </summary>
[TestFixture, NonParallelizable]
public class DeepExpressionTests
{
    private const int Depth = 100_000;
    private const int SmallStack = 256 * 1024;

    /// <summary>Runs <paramref name="work"/> on a new thread with a 256 KiB stack and returns its result (or rethrows its exception).</summary>
    private static T OnSmallStack<T>(Func<T> work)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try { result = work(); }
            catch (Exception e) { failure = ExceptionDispatchInfo.Capture(e); }
        }, SmallStack);
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    /// <summary>x[0] + x[1] + ... + x[9] + x[0] + ..., Depth terms, as a left-deep chain of additions.</summary>
    /// <summary>
    /// x[0] + x[1] + ... + x[9] + x[0] + ..., <paramref name="terms"/> terms. Kernels roll a sum of terms of one shape into a
    /// loop (Frontend/Rerolling.cs); unless <paramref name="rollable"/>, every other term is written x[k] × 1 (the same
    /// trace: the builder drops × 1), so that no run of one shape is long enough and the kernel stays straight-line code.
    /// </summary>
    private static Expression<Func<double[], double>> AdditionChain(int terms, bool rollable = false)
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression Term(int i) => rollable || i % 2 == 0 ? Expression.ArrayIndex(x, Expression.Constant(i % 10))
            : Expression.Multiply(Expression.ArrayIndex(x, Expression.Constant(i % 10)), Expression.Constant(1.0));
        Expression sum = Term(0);
        for (int i = 1; i < terms; i++) sum = Expression.Add(sum, Term(i));
        return Expression.Lambda<Func<double[], double>>(sum, x);
    }

    private const double Factor = 1.0000001;

    // 100,000 levels of Math.Sin and × compile correctly too, but take 8-11 s here (a 250,000-instruction derivative
    // trace, then the JIT of the resulting method on the first call): too slow for the suite, so the sine chain is 20,000 deep.
    private const int SineDepth = 20_000;

    /// <summary>sin(sin(x) × c) ..., alternating Math.Sin and multiplication by a constant, <paramref name="levels"/> deep.</summary>
    private static Expression<Func<double, double>> SineChain(int levels)
    {
        var p = Expression.Parameter(typeof(double), "t");
        var sin = typeof(Math).GetMethod(nameof(Math.Sin), [typeof(double)])!;
        Expression e = p;
        for (int i = 0; i < levels; i++)
            e = i % 2 == 0 ? Expression.Call(sin, e) : Expression.Multiply(e, Expression.Constant(Factor));
        return Expression.Lambda<Func<double, double>>(e, p);
    }

    /// <summary>The value and derivative of <see cref="SineChain"/> by the chain rule, computed here step by step.</summary>
    private static (double Value, double Derivative) SineChainByHand(int levels, double t)
    {
        double y = t, dy = 1;
        for (int i = 0; i < levels; i++)
        {
            if (i % 2 == 0) { dy *= Math.Cos(y); y = Math.Sin(y); }
            else { y *= Factor; dy *= Factor; }
        }
        return (y, dy);
    }

    [Test]
    public void GradientOfAHundredThousandAdditionsOnASmallStack([Values] bool rollable)
    {
        var lambda = AdditionChain(Depth, rollable);
        var x = Enumerable.Range(0, 10).Select(i => (double)i + 1).ToArray();
        var (value, gradient, info) = OnSmallStack(() =>
        {
            var g = AD.Gradient(lambda);
            var gradient = new double[10];
            double value = g(x, gradient);
            return (value, gradient, AD.GetCompilationInfo(g));
        });
        // Each of x[0] .. x[9] occurs Depth / 10 times.
        Assert.Multiple(() =>
        {
            Assert.That(gradient, Is.All.EqualTo(Depth / 10.0));
            Assert.That(value, Is.EqualTo(Depth / 10.0 * x.Sum()));
            Assert.That(info, Is.Not.Null);
            if (rollable) Assert.That(info!.SourceTraceLength, Is.LessThan(100), "rolled into a loop");
            else Assert.That(info!.SourceTraceLength, Is.GreaterThanOrEqualTo(Depth - 1), "one addition per level");
        });
    }

    [Test]
    public void DerivativeOfTwentyThousandNestedSinesAndProductsOnASmallStack()
    {
        var lambda = SineChain(SineDepth);
        var (d, info) = OnSmallStack(() =>
        {
            var d = AD.Derivative(lambda);
            return (d, AD.GetCompilationInfo(d));
        });
        Assert.That(info, Is.Not.Null);
        foreach (var t in new[] { 0.5, 1.3, -2.0 })
        {
            var expected = SineChainByHand(SineDepth, t).Derivative;
            Assert.That(d(t), Is.EqualTo(expected).Within(1e-9 * Math.Abs(expected)), $"t = {t}");
        }
    }

    [Test]
    public void TraceOfAHundredThousandAdditionsOnASmallStack()
    {
        var lambda = AdditionChain(Depth);
        var (inputCount, working, names, lineCount, value) = OnSmallStack(() =>
        {
            var trace = AD.Trace(lambda);
            var names = trace.InputNames.ToArray();
            // One value per input, in InputNames order: x[k] = k + 1.
            var point = names.Select(n => double.Parse(n["x[".Length..^1]) + 1).ToArray();
            int lines = trace.ToString().Split('\n').Length;
            return (trace.InputCount, trace.WorkingVariableCount, names, lines, trace.Evaluate(point));
        });
        Assert.Multiple(() =>
        {
            Assert.That(inputCount, Is.EqualTo(10));
            Assert.That(names, Is.EquivalentTo(Enumerable.Range(0, 10).Select(i => $"x[{i}]")));
            Assert.That(working, Is.EqualTo(Depth - 1), "one working variable per addition");
            Assert.That(lineCount, Is.EqualTo(10 + (Depth - 1) + 1), "inputs, working variables and y");
            Assert.That(value, Is.EqualTo(Depth / 10.0 * 55));
        });
    }

    [Test]
    public void SharedSubExpressionsAreNotWalkedOncePerPath()
    {
        // e(k+1) = 0.5 × (e(k) + e(k)) with e(k) one shared node: k levels are 3k + 1 distinct nodes but 2^k paths.
        // Every pass over the tree must visit each node once. Compared with 14 levels, 18 levels are 12 more nodes
        // (about the same work) but 16 times as many paths; a walk per path makes the second request ~16x slower.
        static Expression<Func<double[], double>> Doubling(int levels)
        {
            var x = Expression.Parameter(typeof(double[]), "x");
            Expression e = Expression.ArrayIndex(x, Expression.Constant(0));
            for (int i = 0; i < levels; i++) e = Expression.Multiply(Expression.Constant(0.5), Expression.Add(e, e));
            return Expression.Lambda<Func<double[], double>>(e, x);
        }

        static (GradientFunc G, TimeSpan Elapsed) Timed(int levels)
        {
            var lambda = Doubling(levels);
            var clock = Stopwatch.StartNew();
            var g = AD.Gradient(lambda);
            return (g, clock.Elapsed);
        }

        Timed(12); // warm up the pipeline (JIT of every pass)
        var (g14, t14) = Timed(14);
        var (g18, t18) = Timed(18);
        var gradient = new double[1];
        Assert.Multiple(() =>
        {
            Assert.That(g14(new double[] { 3 }, gradient), Is.EqualTo(3));
            Assert.That(gradient[0], Is.EqualTo(1));
            Assert.That(g18(new double[] { 3 }, gradient), Is.EqualTo(3));
            Assert.That(gradient[0], Is.EqualTo(1));
            Assert.That(t18, Is.LessThan(4 * t14 + TimeSpan.FromMilliseconds(200)),
                $"14 levels took {t14.TotalMilliseconds:F0} ms, 18 levels {t18.TotalMilliseconds:F0} ms");
        });
    }

    // ---- Deep trees whose failure mode is a stack overflow ----
    //
    // A stack overflow cannot be caught: it ends the process and, in the test process, every test in it. The scenarios
    // below are therefore not tests of their own: the test assembly's entry point (Program.Main) runs one of them,
    // `dotnet ExprAD.Tests.dll deep-child <scenario>`, and the test below starts that child process per scenario and
    // asserts it succeeded. The child needs only the built test assembly (no test runner, no filter, nothing outside
    // the build output).

    /// <summary>The scenarios run in a child process, by name.</summary>
    internal static readonly IReadOnlyDictionary<string, Action> ChildScenarios = new Dictionary<string, Action>
    {
        [nameof(UnsupportedConstructAtopADeepChain)] = UnsupportedConstructAtopADeepChain,
        [nameof(DeepInactiveDataSubExpression)] = DeepInactiveDataSubExpression,
    };

    public static IEnumerable<TestCaseData> ChildScenarioNames() =>
        ChildScenarios.Keys.Select(name => new TestCaseData(name).SetName($"DeepScenarioSucceedsInAChildProcess({name})"));

    [TestCaseSource(nameof(ChildScenarioNames))]
    public void DeepScenarioSucceedsInAChildProcess(string scenario)
    {
        var (exited, exitCode, text) = RunChild(scenario);
        Assert.Multiple(() =>
        {
            Assert.That(exited && exitCode == 0, Is.True,
                $"child process {(exited ? "exited with " + exitCode : "timed out")}:{Environment.NewLine}{Summary(text)}");
            Assert.That(text, Does.Contain($"{ChildPassed}: {scenario}"), $"the scenario must have run and passed:{Environment.NewLine}{Summary(text)}");
        });
    }

    [Test]
    public void AnUnknownChildScenarioFails()
    {
        // The child reports what it did not run: a misspelt name cannot pass silently.
        var (exited, exitCode, text) = RunChild("NoSuchScenario");
        Assert.That(exited, Is.True);
        Assert.That(exitCode, Is.Not.Zero, text);
        Assert.That(text, Does.Not.Contain(ChildPassed));
    }

    internal const string ChildCommand = "deep-child";
    private const string ChildStarted = "ExprAD child scenario started", ChildPassed = "ExprAD child scenario passed";

    /// <summary>
    /// The child's side (called by Program.Main): runs one scenario and returns the process exit code, 0 when it passed.
    /// A stack overflow ends the process with the runtime's own message and a non-zero code.
    /// </summary>
    internal static int RunChildScenario(string scenario)
    {
        if (!ChildScenarios.TryGetValue(scenario, out var run))
        {
            Console.Error.WriteLine($"unknown child scenario '{scenario}'; known: {string.Join(", ", ChildScenarios.Keys)}");
            return 2;
        }
        Console.Error.WriteLine($"{ChildStarted}: {scenario}");
        try
        {
            run();
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"ExprAD child scenario failed: {scenario}: {e}");
            return 1;
        }
        Console.Out.WriteLine($"{ChildPassed}: {scenario}");
        return 0;
    }

    /// <summary>Runs <c>dotnet ExprAD.Tests.dll deep-child <paramref name="scenario"/></c> and returns what it printed.</summary>
    private static (bool Exited, int ExitCode, string Output) RunChild(string scenario)
    {
        var assembly = typeof(DeepExpressionTests).Assembly.Location;
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(assembly)!,
        };
        foreach (var arg in new[] { assembly, ChildCommand, scenario }) start.ArgumentList.Add(arg);
        var output = new System.Text.StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        bool exited = process.WaitForExit(180_000);
        if (!exited) process.Kill(entireProcessTree: true);
        process.WaitForExit();
        lock (output) return (exited, process.ExitCode, output.ToString());
    }

    /// <summary>
    /// The dotnet host: the one running this test process when it is dotnet itself (the test host runs as
    /// <c>dotnet exec testhost.dll</c>), else the one the dotnet CLI names in DOTNET_HOST_PATH, else dotnet on the PATH.
    /// </summary>
    private static string DotnetHost()
    {
        if (Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase)) return self;
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)) return host;
        return "dotnet";
    }

    /// <summary>The informative lines of a child run: the crash reason, frames in ExprAD, and the closing lines.</summary>
    private static string Summary(string text)
    {
        var lines = text.ReplaceLineEndings("\n").Split('\n');
        var picked = lines.Where(l => l.Contains("overflow", StringComparison.OrdinalIgnoreCase) || l.Contains("aborted") || l.Contains("child scenario") ||
                                      l.Contains("ExprAD.") && !l.Contains("ExprAD.Tests.dll"))
            .Distinct().Take(20).Concat(lines.TakeLast(6));
        return string.Join(Environment.NewLine, picked);
    }

    /// <summary>A failed check of a child scenario (NUnit's assertions need a test context, which the child has not).</summary>
    private static void Check(bool condition, string message)
    {
        if (!condition) throw new InvalidOperationException(message);
    }

    private static void UnsupportedConstructAtopADeepChain()
    {
        // Math.Round(x[0] + x[1] + ... (100,000 terms), 2): the error message quotes the Round call, whose printed form is 100,000 levels deep.
        var chain = AdditionChain(Depth);
        var round = Expression.Call(typeof(Math).GetMethod(nameof(Math.Round), [typeof(double), typeof(int)])!, chain.Body, Expression.Constant(2));
        var lambda = Expression.Lambda<Func<double[], double>>(round, chain.Parameters);
        var message = OnSmallStack(() =>
        {
            try
            {
                AD.Gradient(lambda);
                return null;
            }
            catch (NotSupportedException e)
            {
                return e.Message;
            }
        });
        Check(message is not null, "Math.Round(double, int) of an active value is not differentiable, but AD.Gradient accepted it");
        Check(message!.StartsWith("Cannot differentiate `Round(", StringComparison.Ordinal), $"the message quotes the Round call: {message[..Math.Min(200, message.Length)]}");
        Check(message.Length < 1000, $"the message is short: {message.Length} characters");
    }

    private static void DeepInactiveDataSubExpression()
    {
        // (d[0] + d[0] + ... (100,000 terms)) × x[0]: the sum reads only the data argument, so it is one call-time read.
        var x = Expression.Parameter(typeof(double[]), "x");
        var d = Expression.Parameter(typeof(double[]), "d");
        Expression sum = Expression.ArrayIndex(d, Expression.Constant(0));
        for (int i = 1; i < Depth; i++) sum = Expression.Add(sum, Expression.ArrayIndex(d, Expression.Constant(0)));
        var lambda = Expression.Lambda<Func<double[], double[], double>>(Expression.Multiply(sum, Expression.ArrayIndex(x, Expression.Constant(0))), x, d);
        var (value, derivative) = OnSmallStack(() =>
        {
            var g = AD.Gradient(lambda);
            var gradient = new double[1];
            double value = g(new double[] { 3 }, new double[] { 0.5 }, gradient);
            return (value, gradient[0]);
        });
        Check(derivative == Depth * 0.5, $"derivative {derivative}, expected {Depth * 0.5}");
        Check(value == Depth * 0.5 * 3, $"value {value}, expected {Depth * 0.5 * 3}");
    }
}
