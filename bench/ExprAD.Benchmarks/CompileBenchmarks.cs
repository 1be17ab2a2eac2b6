using System.Linq.Expressions;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;

namespace ExprAD.Benchmarks;

/// <summary>
/// (d) Compile time against trace size: AD.Gradient on a cache miss for chains (and balanced
/// trees) of 1e2 .. 1e5 operations. Every invocation wraps the (prebuilt) chain in a new lambda that adds a constant
/// never used before; baked constants are part of the cache key, so every call misses.
/// Each invocation is measured on its own (Monitoring: no pilot, one invocation per iteration).
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 2, iterationCount: 7, invocationCount: 1)]
public class CompileTime
{
    [Params(100, 1_000, 10_000, 100_000)]
    public int Ops;

    /// <summary>Chain: left-deep, depth ~ Ops/2. Balanced: depth ~ log2(Ops), same order of trace length.</summary>
    [Params("chain", "balanced")]
    public string Shape = "chain";

    private ParameterExpression _x = null!;
    private Expression _body = null!;
    private static double _counter;

    [GlobalSetup]
    public void Setup() => (_x, _body) = Shape == "chain" ? Functions.Chain(Ops) : Functions.Balanced(Ops);

    private Expression<Func<double[], double>> Fresh() =>
        Expression.Lambda<Func<double[], double>>(Expression.Add(_body, Expression.Constant(++_counter)), _x);

    [Benchmark(Baseline = true, Description = "function alone, Expression.Compile()")]
    public Func<double[], double> CompileFunction() => Fresh().Compile();

    [Benchmark(Description = "AD.Gradient, cache miss")]
    public GradientFunc GradientMiss() => AD.Gradient(Fresh());
}

/// <summary>(d) The cost of a cache hit: AD.Gradient on a lambda literal of an already-compiled shape, rebuilt by the C# compiler on every call.</summary>
[MemoryDiagnoser]
public class CacheHit
{
    private double _scale = 3.0;
    private readonly Expression<Func<double[], double>> _prebuilt = x => Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]);

    [GlobalSetup]
    public void Setup()
    {
        BuildLambdaOnly();
        PaperLiteral();
        CapturingLiteral();
        ScalarDerivativeLiteral();
        Prebuilt();
    }

    [Benchmark(Baseline = true, Description = "build the lambda literal only (no AD)")]
    public Expression<Func<double[], double>> BuildLambdaOnly() =>
        x => Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]);

    [Benchmark(Description = "AD.Gradient(paper lambda literal), hit")]
    public GradientFunc PaperLiteral() => AD.Gradient(x => Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]));

    [Benchmark(Description = "AD.Gradient(literal capturing a field), hit")]
    public GradientFunc CapturingLiteral() => AD.Gradient(x => _scale * Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]));

    [Benchmark(Description = "AD.Derivative(x => Math.Sin(x) * x), hit")]
    public Func<double, double> ScalarDerivativeLiteral() => AD.Derivative(x => Math.Sin(x) * x);

    [Benchmark(Description = "AD.Gradient(prebuilt paper tree), hit")]
    public GradientFunc Prebuilt() => AD.Gradient(_prebuilt);
}

/// <summary>(d) Cache-hit cost against tree size: AD.Gradient on the same prebuilt chain (the key walk is linear in the tree).</summary>
[MemoryDiagnoser]
[ShortRunJob] // a hit on the 1e5 chain takes ~0.3 s; the default job would spend ~10 minutes here
public class CacheHitScaling
{
    [Params(100, 1_000, 10_000, 100_000)]
    public int Ops;

    private Expression<Func<double[], double>> _f = null!;

    [GlobalSetup]
    public void Setup()
    {
        var (x, body) = Functions.Chain(Ops);
        _f = Expression.Lambda<Func<double[], double>>(body, x);
        AD.Gradient(_f);
    }

    /// <summary>The least any key must cost: visit every node once (iteratively, as the chains are 1e5 deep).</summary>
    [Benchmark(Baseline = true, Description = "count the nodes (iterative walk)")]
    public int Walk()
    {
        var stack = new Stack<Expression>();
        stack.Push(_f.Body);
        int count = 0;
        while (stack.TryPop(out var node))
        {
            count++;
            switch (node)
            {
                case BinaryExpression b: stack.Push(b.Left); stack.Push(b.Right); break;
                case UnaryExpression u: stack.Push(u.Operand); break;
                case MethodCallExpression c: foreach (var a in c.Arguments) stack.Push(a); break;
            }
        }
        return count;
    }

    [Benchmark(Description = "AD.Gradient(prebuilt chain), hit")]
    public GradientFunc Hit() => AD.Gradient(_f);
}

/// <summary>
/// Compile cost (issue 8 part 3): a cache hit on a NEW tree instance of a compiled shape, the lambda-literal case. The
/// instances are built in [IterationSetup], so only ExprAD's time is measured (the C# compiler's Expression factory calls are
/// the user's cost); each method asks for every instance of its iteration once, and the times are per instance.
/// </summary>
[MemoryDiagnoser]
// Many warm-up iterations: the walk's loop must run tiered-up code, as in a process that has been asking for a while.
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 40, iterationCount: 20, invocationCount: 1)]
public class NewInstanceHit
{
    private const int Papers = 2000, SmallChains = 200, LargeChains = 1;
    private Expression<Func<double[], double>>[] _papers = [], _small = [], _large = [];

    [GlobalSetup]
    public void Setup()
    {
        AD.Gradient(CompileCost.PaperLiteral());
        AD.Gradient(CompileCost.Chain(286));
        AD.Gradient(CompileCost.Chain(57_143));
    }

    [IterationSetup(Target = nameof(Paper))]
    public void BuildPapers() => _papers = Enumerable.Range(0, Papers).Select(_ => CompileCost.PaperLiteral()).ToArray();

    [IterationSetup(Target = nameof(Chain1149Nodes))]
    public void BuildSmallChains() => _small = Enumerable.Range(0, SmallChains).Select(_ => CompileCost.Chain(286)).ToArray();

    [IterationSetup(Target = nameof(Chain228573Nodes))]
    public void BuildLargeChains() => _large = Enumerable.Range(0, LargeChains).Select(_ => CompileCost.Chain(57_143)).ToArray();

    [Benchmark(Description = "hit, new instance: paper lambda literal (19 nodes)", OperationsPerInvoke = Papers)]
    public GradientFunc? Paper() => HitAll(_papers);

    [Benchmark(Description = "hit, new instance: chain of 1,149 nodes", OperationsPerInvoke = SmallChains)]
    public GradientFunc? Chain1149Nodes() => HitAll(_small);

    [Benchmark(Description = "hit, new instance: chain of 228,573 nodes", OperationsPerInvoke = LargeChains)]
    public GradientFunc? Chain228573Nodes() => HitAll(_large);

    private static GradientFunc? HitAll(Expression<Func<double[], double>>[] instances)
    {
        GradientFunc? last = null;
        foreach (var f in instances) last = AD.Gradient(f);
        return last;
    }
}
