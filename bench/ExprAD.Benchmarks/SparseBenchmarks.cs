using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using ExprAD.Tests;

namespace ExprAD.Benchmarks;

/// <summary>
/// Issue 9's sparse targets: the sparse Hessian of chained Rosenbrock (LINQ) against the function and a hand-written
/// sparse Hessian (one pass writing f, the gradient and the tridiagonal Hessian in CSR order), and the pattern's cost at
/// n = 100,000. Run with <c>dotnet run -c Release --project bench/ExprAD.Benchmarks -- --filter '*SparseHessianRosenbrock*'</c>.
/// </summary>
[MemoryDiagnoser]
[ThreeLaunches]
public class SparseHessianRosenbrock
{
    // Chained Rosenbrock, the function of the second-order benchmarks.
    private static readonly Expression<Func<double[], double>> ChainedRosenbrock = SecondOrder.LinqRosenbrock;

    [Params(1_000, 10_000, 100_000)]
    public int N;

    private double[] _x = null!, _g = null!, _values = null!, _handValues = null!;
    private ValueFunc _value = null!;
    private SparseHessianFunc _sparse = null!;

    [GlobalSetup]
    public void Setup()
    {
        _x = Functions.Point(N);
        _g = new double[N];
        _value = AD.Value(ChainedRosenbrock);
        _sparse = AD.SparseHessian(ChainedRosenbrock);
        _values = new double[_sparse.Pattern(N).NonZeros];
        _handValues = new double[3 * N - 2];
    }

    [Benchmark(Baseline = true, Description = "ExprAD function")]
    public double Function() => _value(_x);

    [Benchmark(Description = "ExprAD sparse Hessian (value, gradient, 3 colours)")]
    public double SparseHessian() => _sparse.Evaluate(_x, _g, _values);

    [Benchmark(Description = "hand-written sparse Hessian (value, gradient, CSR)")]
    public double Hand() => HandSparseRosenbrock(_x, _g, _handValues);

    /// <summary>f, the gradient and the tridiagonal Hessian in CSR order (row i: columns i - 1, i, i + 1 where present), in one pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double HandSparseRosenbrock(double[] x, double[] g, double[] h)
    {
        int n = x.Length, k = 0;
        double f = 0;
        for (int i = 0; i < n; i++)
        {
            double xi = x[i], gi = 0, hii = 0;
            if (i < n - 1)
            {
                double a = x[i + 1] - xi * xi, b = 1 - xi;
                f += 100 * a * a + b * b;
                gi += -400 * a * xi - 2 * b;
                hii += 1200 * xi * xi - 400 * x[i + 1] + 2;
            }
            if (i > 0)
            {
                double previous = x[i - 1];
                gi += 200 * (xi - previous * previous);
                hii += 200;
                h[k++] = -400 * previous;
            }
            g[i] = gi;
            h[k++] = hii;
            if (i < n - 1) h[k++] = -400 * xi;
        }
        return f;
    }
}

/// <summary>The pattern analysis of chained Rosenbrock at n = 100,000 (a new function each time, so nothing is cached).</summary>
[MemoryDiagnoser]
[ThreeLaunches]
public class SparsePatternCost
{
    // Chained Rosenbrock, the function of the second-order benchmarks.
    private static readonly Expression<Func<double[], double>> ChainedRosenbrock = SecondOrder.LinqRosenbrock;

    [Benchmark(Description = "SparseHessian(f).Pattern(100,000)")]
    public int Pattern() => AD.SparseHessian(ChainedRosenbrock).Pattern(100_000).NonZeros;
}

/// <summary>
/// The sparse Jacobian of the 2-D Brusselator residual (two species on a periodic 32 x 32 grid, five-point Laplacian:
/// 2,048 unknowns) against the residual itself and a hand-written residual loop. Run with
/// <c>dotnet run -c Release --project bench/ExprAD.Benchmarks -- --filter '*Brusselator*'</c>.
/// </summary>
[MemoryDiagnoser]
[ThreeLaunches]
public class BrusselatorJacobian
{
    private const int Side = 32;
    private readonly Brusselator.Grid _grid = new(Side, 0.1, Enumerable.Range(0, Side * Side).Select(k => Math.Sin(k)).ToArray());
    private double[] _x = null!, _r = null!, _j = null!;
    private VectorValueFunc<Brusselator.Grid> _residual = null!;
    private SparseJacobianFunc<Brusselator.Grid> _sparse = null!;

    [GlobalSetup]
    public void Setup()
    {
        _x = Enumerable.Range(0, 2 * Side * Side).Select(i => 1 + 0.1 * Math.Cos(i)).ToArray();
        _r = new double[_x.Length];
        _residual = AD.Value(Brusselator.Residual);
        _sparse = AD.SparseJacobian(Brusselator.Residual);
        _j = new double[_sparse.Pattern(_x.Length, _grid).NonZeros];
    }

    [Benchmark(Baseline = true, Description = "ExprAD residual")]
    public void ResidualOnly() => _residual(_x, _grid, _r);

    [Benchmark(Description = "ExprAD sparse Jacobian (values and 12,288 entries)")]
    public void SparseJacobian() => _sparse.Evaluate(_x, _grid, _r, _j);

    [Benchmark(Description = "hand-written residual")]
    public void HandResidual() => Hand(_x, _grid, _r);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Hand(double[] x, Brusselator.Grid g, double[] r)
    {
        int n = g.N, p = n * n;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                int k = i * n + j, down = (i + 1) % n * n + j, up = (i + n - 1) % n * n + j, right = i * n + (j + 1) % n, left = i * n + (j + n - 1) % n;
                double u = x[k], v = x[p + k];
                r[k] = g.Alpha * (x[down] + x[up] + x[right] + x[left] - 4 * u) + 1 + u * u * v - 4.4 * u + g.Forcing[k];
                r[p + k] = g.Alpha * (x[p + down] + x[p + up] + x[p + right] + x[p + left] - 4 * v) + 3.4 * u - u * u * v;
            }
    }
}

/// <summary>
/// The dense Hessian of a function whose Hessian is dense (log-sum-exp, n = 100: no compression, unit sweeps of up to 8
/// directions) against n separate Hessian-vector products. Run with
/// <c>dotnet run -c Release --project bench/ExprAD.Benchmarks -- --filter '*DenseHessianOfDenseFunction*'</c>.
/// </summary>
[MemoryDiagnoser]
[ThreeLaunches]
public class DenseHessianOfDenseFunction
{
    private static readonly Expression<Func<double[], double>> LogSumExp = x => Math.Log(x.Sum(v => Math.Exp(v)));
    private const int N = 100;
    private readonly double[] _x = Functions.Point(N), _g = new double[N], _h = new double[N * N], _unit = new double[N], _hv = new double[N];
    private HessianFunc _hessian = null!;
    private HessianVectorFunc _hvp = null!;

    [GlobalSetup]
    public void Setup()
    {
        _hessian = AD.Hessian(LogSumExp);
        _hvp = AD.HessianVector(LogSumExp);
    }

    [Benchmark(Baseline = true, Description = "n Hessian-vector products with unit vectors")]
    public double UnitProducts() => SecondOrder.UnitProducts(_hvp, _x, _unit, _g, _hv);

    [Benchmark(Description = "ExprAD dense Hessian")]
    public double Hessian() => _hessian(_x, _g, _h);
}
