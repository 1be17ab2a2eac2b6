using System.Numerics;
using System.Runtime.InteropServices;

namespace ExprAD.Optimization;

/// <summary>The dense vector operations of the minimisers, on spans, vectorised with <see cref="Vector{T}"/>; none allocates.</summary>
internal static class Vectors
{
    /// <summary>Σ a[i] b[i].</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("The vectors differ in length.");
        int i = 0;
        double sum = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= 2 * Vector<double>.Count)
        {
            var va = MemoryMarshal.Cast<double, Vector<double>>(a);
            var vb = MemoryMarshal.Cast<double, Vector<double>>(b);
            var acc = Vector<double>.Zero;
            for (int k = 0; k < va.Length; k++) acc += va[k] * vb[k];
            sum = Vector.Sum(acc);
            i = va.Length * Vector<double>.Count;
        }
        for (; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>y += alpha x.</summary>
    public static void AddScaled(Span<double> y, double alpha, ReadOnlySpan<double> x)
    {
        if (x.Length != y.Length) throw new ArgumentException("The vectors differ in length.");
        int i = 0;
        if (Vector.IsHardwareAccelerated && y.Length >= 2 * Vector<double>.Count)
        {
            var vy = MemoryMarshal.Cast<double, Vector<double>>(y);
            var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
            var va = new Vector<double>(alpha);
            for (int k = 0; k < vy.Length; k++) vy[k] += va * vx[k];
            i = vy.Length * Vector<double>.Count;
        }
        for (; i < y.Length; i++) y[i] += alpha * x[i];
    }

    /// <summary>result = x + alpha d (a trial point along a direction).</summary>
    public static void Step(Span<double> result, ReadOnlySpan<double> x, double alpha, ReadOnlySpan<double> d)
    {
        x.CopyTo(result);
        AddScaled(result, alpha, d);
    }

    /// <summary>x *= alpha.</summary>
    public static void Scale(Span<double> x, double alpha)
    {
        for (int i = 0; i < x.Length; i++) x[i] *= alpha;
    }

    /// <summary>The Euclidean norm.</summary>
    public static double Norm2(ReadOnlySpan<double> x) => Math.Sqrt(Dot(x, x));

    /// <summary>The infinity norm.</summary>
    public static double NormInf(ReadOnlySpan<double> x)
    {
        double m = 0;
        foreach (var e in x) m = Math.Max(m, Math.Abs(e));
        return m;
    }

    /// <summary>True when every element is finite.</summary>
    public static bool AllFinite(ReadOnlySpan<double> x)
    {
        foreach (var e in x) if (!double.IsFinite(e)) return false;
        return true;
    }
}
