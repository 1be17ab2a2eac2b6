using System.Linq.Expressions;
using BenchmarkDotNet.Attributes;

namespace ExprAD.Benchmarks;

/// <summary>
/// Issue 9 targets: the Hessian-vector product against the gradient on LINQ Rosenbrock (n = 10,000), and the dense
/// Hessian at n = 100 against n separate Hessian-vector products. Run with
/// <c>dotnet run -c Release --project bench/ExprAD.Benchmarks -- --filter '*SecondOrder*'</c>.
/// </summary>
[MemoryDiagnoser]
[ThreeLaunches]
public class SecondOrder
{
    internal static readonly Expression<Func<double[], double>> LinqRosenbrock = x => Enumerable.Range(0, x.Length - 1)
        .Sum(i => 100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (1 - x[i]) * (1 - x[i]));

    [Params(100, 10_000)]
    public int N;

    private double[] _x = null!, _v = null!, _g = null!, _hv = null!, _h = null!, _unit = null!;
    private GradientFunc _gradient = null!;
    private HessianVectorFunc _hvp = null!;
    private HessianFunc _hessian = null!;

    [GlobalSetup]
    public void Setup()
    {
        _x = Functions.Point(N);
        _v = _x.Select((e, i) => Math.Cos(i + e)).ToArray();
        _g = new double[N];
        _hv = new double[N];
        _unit = new double[N];
        _gradient = AD.Gradient(LinqRosenbrock);
        _hvp = AD.HessianVector(LinqRosenbrock);
        if (N <= 100)
        {
            _h = new double[N * N];
            _hessian = AD.Hessian(LinqRosenbrock);
        }
    }

    [Benchmark(Baseline = true, Description = "ExprAD gradient")]
    public double Gradient() => _gradient(_x, _g);

    [Benchmark(Description = "ExprAD Hessian-vector product")]
    public double HessianVector() => _hvp(_x, _v, _g, _hv);

    [Benchmark(Description = "ExprAD dense Hessian (n = 100 only)")]
    public double Hessian() => N <= 100 ? _hessian(_x, _g, _h) : 0;

    [Benchmark(Description = "n Hessian-vector products with unit vectors (n = 100 only)")]
    public double UnitProducts()
    {
        if (N > 100) return 0;
        return UnitProducts(_hvp, _x, _unit, _g, _hv);
    }

    /// <summary>H e_j for every j (the dense Hessian's columns one product at a time); <paramref name="unit"/> is zero before and after.</summary>
    internal static double UnitProducts(HessianVectorFunc hvp, double[] x, double[] unit, double[] g, double[] hv)
    {
        double sum = 0;
        for (int j = 0; j < unit.Length; j++)
        {
            unit[j] = 1;
            sum += hvp(x, unit, g, hv);
            unit[j] = 0;
        }
        return sum;
    }
}
