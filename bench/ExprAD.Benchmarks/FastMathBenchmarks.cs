using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using ExprAD.Optimization.Tests;

namespace ExprAD.Benchmarks;

/// <summary>
/// <see cref="ADOptions.FastMath"/> on the gradient that decides the trigonometric row of the optimiser comparison: the
/// Moré–Garbow–Hillstrom trigonometric function at n = 1,000 (the lambda of <see cref="MoreGarbowHillstrom.Trigonometric"/>),
/// by default, with fast math, and hand-written (one cosine and one sine per element, kept in arrays between the loops).
/// </summary>
[MemoryDiagnoser]
[ThreeLaunches]
public class FastMathTrigonometric
{
    [Params(1_000)]
    public int N;

    private double[] _x = null!, _g = null!, _cos = null!, _sin = null!;
    private GradientFunc _exact = null!, _fast = null!;

    [GlobalSetup]
    public void Setup()
    {
        _x = Enumerable.Range(0, N).Select(i => 1.0 / N + 0.01 * Math.Sin(i)).ToArray();
        _g = new double[N];
        _cos = new double[N];
        _sin = new double[N];
        var f = MoreGarbowHillstrom.Trigonometric(N).F;
        _exact = AD.Gradient(f);
        _fast = AD.Gradient(f, new ADOptions { FastMath = true });
        var expected = new double[N];
        double v = HandGradient();
        Array.Copy(_g, expected, N);
        Functions.Check("trigonometric", _exact(_x, _g), _g, v, expected);
        double fast = _fast(_x, _g);
        for (int i = 0; i < N; i++)
            if (Math.Abs(_g[i] - expected[i]) > 1e-9 * (1 + Math.Abs(expected[i])))
                throw new InvalidOperationException($"fast-math gradient element {i}: {_g[i]} against {expected[i]}");
        if (Math.Abs(fast - v) > 1e-9 * (1 + Math.Abs(v))) throw new InvalidOperationException($"fast-math value {fast} against {v}");
    }

    /// <summary>
    /// F = Σ f_i², f_i = n - Σ_j cos x_j + (i + 1)(1 - cos x_i) - sin x_i; ∂F/∂x_k = 2 f_k ((k + 1) sin x_k - cos x_k)
    /// + 2 sin x_k Σ_i f_i.
    /// </summary>
    [Benchmark(Baseline = true, Description = "hand-written gradient")]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public double HandGradient()
    {
        double[] x = _x, g = _g, c = _cos, s = _sin;
        int n = x.Length;
        double sumCos = 0;
        for (int i = 0; i < n; i++)
        {
            c[i] = Math.Cos(x[i]);
            s[i] = Math.Sin(x[i]);
            sumCos += c[i];
        }
        double value = 0, sumF = 0, shift = n - sumCos;
        for (int i = 0; i < n; i++)
        {
            double fi = shift + (i + 1) * (1 - c[i]) - s[i];
            value += fi * fi;
            sumF += fi;
            g[i] = 2 * fi * ((i + 1) * s[i] - c[i]);
        }
        for (int i = 0; i < n; i++) g[i] += 2 * s[i] * sumF;
        return value;
    }

    [Benchmark(Description = "ExprAD gradient")]
    public double ExprADGradient() => _exact(_x, _g);

    [Benchmark(Description = "ExprAD gradient, FastMath")]
    public double ExprADFastGradient() => _fast(_x, _g);
}
