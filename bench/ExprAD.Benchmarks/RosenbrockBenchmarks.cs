using BenchmarkDotNet.Attributes;

namespace ExprAD.Benchmarks;

/// <summary>(b) Rosenbrock, unrolled with constant indices, n = 10, 100, 1000.</summary>
[MemoryDiagnoser]
[ThreeLaunches]
public class Rosenbrock
{
    [Params(10, 100, 1000)]
    public int N;

    private double[] _x = null!, _g = null!;
    private GradientFunc _gradient = null!;
    private Func<double[], double> _compiled = null!;

    [GlobalSetup]
    public void Setup()
    {
        _x = Functions.Point(N);
        _g = new double[N];
        var f = Functions.Rosenbrock(N);
        _gradient = AD.Gradient(f);
        _compiled = f.Compile();
        var expected = new double[N];
        double v = Functions.RosenbrockGradient(_x, expected);
        Functions.Check($"rosenbrock {N}", _gradient(_x, _g), _g, v, expected);
        Functions.Check($"rosenbrock {N} accumulating", Functions.RosenbrockGradientAccumulating(_x, _g), _g, v, expected);
        Functions.Check($"rosenbrock {N} compiled", _compiled(_x), [], Functions.RosenbrockValue(_x), []);
    }

    [Benchmark(Baseline = true, Description = "hand-written gradient")]
    public double HandGradient() => Functions.RosenbrockGradient(_x, _g);

    [Benchmark(Description = "hand-written gradient, g[i] += form")]
    public double HandGradientAccumulating() => Functions.RosenbrockGradientAccumulating(_x, _g);

    [Benchmark(Description = "ExprAD gradient")]
    public double ExprADGradient() => _gradient(_x, _g);

    [Benchmark(Description = "hand-written function (loop)")]
    public double HandFunction() => Functions.RosenbrockValue(_x);

    [Benchmark(Description = "function, Expression.Compile()")]
    public double CompiledFunction() => _compiled(_x);
}
