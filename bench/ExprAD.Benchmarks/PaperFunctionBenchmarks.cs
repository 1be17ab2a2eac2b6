using BenchmarkDotNet.Attributes;

namespace ExprAD.Benchmarks;

/// <summary>(a) f(x1, x2) = ln x1 + x1 x2 - sin x2 at the paper's point (2, 5).</summary>
[MemoryDiagnoser]
[ThreeLaunches]
public class PaperFunction
{
    private readonly double[] _x = [2.0, 5.0];
    private readonly double[] _g = new double[2];
    private GradientFunc _gradient = null!;
    private Func<double, double, (double, double, double)> _scalarGradient = null!;

    [GlobalSetup]
    public void Setup()
    {
        _gradient = AD.Gradient(Functions.Paper);
        _scalarGradient = AD.Gradient((double x1, double x2) => Math.Log(x1) + x1 * x2 - Math.Sin(x2));
        var expected = new double[2];
        double v = Functions.PaperGradient(_x, expected);
        Functions.Check("paper", _gradient(_x, _g), _g, v, expected);
        var (v2, d1, d2) = _scalarGradient(2.0, 5.0);
        Functions.Check("paper (scalar form)", v2, [d1, d2], v, expected);
    }

    [Benchmark(Baseline = true, Description = "hand-written gradient")]
    public double HandGradient() => Functions.PaperGradient(_x, _g);

    [Benchmark(Description = "ExprAD gradient (double[] form)")]
    public double ExprADGradient() => _gradient(_x, _g);

    [Benchmark(Description = "ExprAD gradient (scalar form, tuple)")]
    public double ExprADScalarGradient()
    {
        var (v, d1, d2) = _scalarGradient(_x[0], _x[1]);
        _g[0] = d1;
        _g[1] = d2;
        return v;
    }

    [Benchmark(Description = "hand-written function")]
    public double Function() => Functions.PaperValue(_x);
}
