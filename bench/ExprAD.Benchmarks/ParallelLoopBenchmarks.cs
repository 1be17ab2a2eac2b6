using System.Linq.Expressions;
using BenchmarkDotNet.Attributes;

namespace ExprAD.Benchmarks;

/// <summary>
/// (e) Parallel loops: the regularised logistic loss of the loops issue over 100,000 rows × 20 features, its
/// gradient compiled sequentially, with <see cref="ADOptions.ParallelLoops"/> (all cores, fixed blocks reduced in
/// order) and with <see cref="ADOptions.FastMath"/>, against a hand-written sequential loop.
/// </summary>
[MemoryDiagnoser]
[ThreeLaunches]
public class ParallelLogistic
{
    /// <summary>Rows of features and ±1 labels.</summary>
    public sealed class Dataset
    {
        /// <summary>The labels, ±1.</summary>
        public double[] Y = [];

        /// <summary>The features, one row per example.</summary>
        public double[][] X = [];
    }

    private const int Rows = 100_000, Features = 20;

    private static readonly Expression<Func<double[], Dataset, double>> Loss = (w, d) =>
        Enumerable.Range(0, d.Y.Length).Sum(i => Math.Log(1 + Math.Exp(-d.Y[i] * Enumerable.Range(0, w.Length).Sum(j => w[j] * d.X[i][j]))))
        + 0.01 * w.Sum(v => v * v);

    private readonly Dataset _data = Make();
    private readonly double[] _w = Enumerable.Range(0, Features).Select(j => 0.2 * Math.Sin(j + 1)).ToArray();
    private readonly double[] _g = new double[Features];
    private GradientFunc<Dataset> _sequential = null!, _parallel = null!, _fast = null!;
    private ValueFunc<Dataset> _sequentialValue = null!, _parallelValue = null!;

    private static Dataset Make()
    {
        var random = new Random(7);
        var data = new Dataset { X = new double[Rows][], Y = new double[Rows] };
        for (int i = 0; i < Rows; i++)
        {
            data.X[i] = Enumerable.Range(0, Features).Select(_ => random.NextDouble() * 2 - 1).ToArray();
            data.Y[i] = random.Next(2) * 2 - 1;
        }
        return data;
    }

    [GlobalSetup]
    public void Setup()
    {
        _sequential = AD.Gradient(Loss);
        _parallel = AD.Gradient(Loss, new ADOptions { ParallelLoops = true });
        _fast = AD.Gradient(Loss, new ADOptions { FastMath = true });
        _sequentialValue = AD.Value(Loss);
        _parallelValue = AD.Value(Loss, new ADOptions { ParallelLoops = true });
        var expected = new double[Features];
        double v = HandGradient(_w, _data, expected);
        Functions.Check("logistic, sequential", _sequential(_w, _data, _g), _g, v, expected);
        // The parallel sums are added in another order: equal to rounding, not bit for bit.
        double pv = _parallel(_w, _data, _g);
        for (int j = 0; j < Features; j++)
            if (Math.Abs(_g[j] - expected[j]) > 1e-10 * Math.Max(1, Math.Abs(expected[j])))
                throw new InvalidOperationException($"logistic, parallel: gradient[{j}] {_g[j]} vs {expected[j]}");
        if (Math.Abs(pv - v) > 1e-12 * v || Math.Abs(_parallelValue(_w, _data) - v) > 1e-12 * v)
            throw new InvalidOperationException("logistic, parallel: values differ");
        // Fast math: ExprAD's exp and log (within an ulp) and the dot products in four lanes.
        double fv = _fast(_w, _data, _g);
        for (int j = 0; j < Features; j++)
            if (Math.Abs(_g[j] - expected[j]) > 1e-10 * Math.Max(1, Math.Abs(expected[j])))
                throw new InvalidOperationException($"logistic, fast math: gradient[{j}] {_g[j]} vs {expected[j]}");
        if (Math.Abs(fv - v) > 1e-12 * v) throw new InvalidOperationException("logistic, fast math: values differ");
    }

    /// <summary>The loss and its gradient written by hand: one pass over the rows, the margin's adjoint scattered into the gradient.</summary>
    private static double HandGradient(double[] w, Dataset d, double[] g)
    {
        Array.Clear(g);
        double loss = 0;
        for (int i = 0; i < d.Y.Length; i++)
        {
            var row = d.X[i];
            double z = 0;
            for (int j = 0; j < w.Length; j++) z += w[j] * row[j];
            double margin = -d.Y[i] * z;
            double e = Math.Exp(margin);
            loss += Math.Log(1 + e);
            double scale = -d.Y[i] * e / (1 + e);
            for (int j = 0; j < w.Length; j++) g[j] += scale * row[j];
        }
        double squares = 0;
        for (int j = 0; j < w.Length; j++)
        {
            squares += w[j] * w[j];
            g[j] += 0.02 * w[j];
        }
        return loss + 0.01 * squares;
    }

    [Benchmark(Baseline = true, Description = "hand-written gradient")]
    public double Hand() => HandGradient(_w, _data, _g);

    [Benchmark(Description = "ExprAD gradient, sequential")]
    public double Sequential() => _sequential(_w, _data, _g);

    [Benchmark(Description = "ExprAD gradient, ParallelLoops")]
    public double Parallel() => _parallel(_w, _data, _g);

    [Benchmark(Description = "ExprAD gradient, FastMath")]
    public double Fast() => _fast(_w, _data, _g);

    [Benchmark(Description = "ExprAD loss, sequential")]
    public double SequentialValue() => _sequentialValue(_w, _data);

    [Benchmark(Description = "ExprAD loss, ParallelLoops")]
    public double ParallelValue() => _parallelValue(_w, _data);
}
