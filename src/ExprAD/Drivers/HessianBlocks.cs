using System.Linq.Expressions;
using ExprAD.Codegen;

namespace ExprAD.Drivers;

/// <summary>The data argument of a function that has none: lets one driver serve f(x) and f(x, data).</summary>
/// <remarks>Equatable, so that comparing it (the drivers' cache of one pattern per data argument) does not box.</remarks>
internal readonly struct NoData : IEquatable<NoData>
{
    public bool Equals(NoData other) => true;

    public override bool Equals(object? obj) => obj is NoData;

    public override int GetHashCode() => 0;
}

/// <summary>
/// Forward-over-reverse kernels of one function, by number of directions (1 to <see cref="MaxDirections"/>), each compiled
/// (through the kernel cache) the first time a driver asks for it and kept. A call returns f(x), writes the gradient, and
/// for each direction d (the d-th slice of v, of x's length) writes H·v_d into the d-th slice of hv.
/// </summary>
internal abstract class HessianBlocks<TData>
{
    /// <summary>The most directions one sweep carries: beyond about this many, a wider kernel stops paying for its size.</summary>
    public const int MaxDirections = 8;

    public abstract double Call(int directions, ReadOnlySpan<double> x, TData data, ReadOnlySpan<double> v, Span<double> gradient, Span<double> hv);

    /// <summary>
    /// The number of directions a driver uses per sweep for <paramref name="wanted"/> products: all of them up to the maximum,
    /// else as few sweeps as the maximum allows, balanced (10 products: two sweeps of 5, not 8 and 2 in a kernel of 8).
    /// </summary>
    public static int Width(int wanted)
    {
        if (wanted <= MaxDirections) return Math.Max(wanted, 1);
        int sweeps = (wanted + MaxDirections - 1) / MaxDirections;
        return (wanted + sweeps - 1) / sweeps;
    }
}

internal sealed class PlainHessianBlocks(Expression<Func<double[], double>> f, ADOptions? options) : HessianBlocks<NoData>
{
    private readonly BoundHessianVector?[] _kernels = new BoundHessianVector?[MaxDirections + 1];

    public override double Call(int directions, ReadOnlySpan<double> x, NoData data, ReadOnlySpan<double> v, Span<double> gradient, Span<double> hv) =>
        (_kernels[directions] ??= AD.HessianBlock(f, options, directions)).Invoke(x, v, gradient, hv);
}

internal sealed class DataHessianBlocks<TData>(Expression<Func<double[], TData, double>> f, ADOptions? options) : HessianBlocks<TData>
{
    private readonly BoundHessianVector<TData>?[] _kernels = new BoundHessianVector<TData>?[MaxDirections + 1];

    public override double Call(int directions, ReadOnlySpan<double> x, TData data, ReadOnlySpan<double> v, Span<double> gradient, Span<double> hv) =>
        (_kernels[directions] ??= AD.HessianBlock(f, options, directions)).Invoke(x, data, v, gradient, hv);
}

/// <summary>Per-thread scratch of the drivers: reused across calls, grown when a call needs more.</summary>
internal static class Scratch
{
    [ThreadStatic] private static double[]? _directions, _products, _gradient, _seeds, _values;

    /// <summary>Scratch for the compressed values of a sparse Hessian that a dense one is built from.</summary>
    public static Span<double> Values(int length)
    {
        if (_values is null || _values.Length < length) _values = new double[length];
        return _values.AsSpan(0, length);
    }

    /// <summary>
    /// Scratch for seeds that is zero between calls, so a sparse sweep sets and later resets only its own entries
    /// (invariant: every caller restores the zeros it overwrote before it returns, in a finally).
    /// </summary>
    public static Span<double> Seeds(int length)
    {
        if (_seeds is null || _seeds.Length < length) _seeds = new double[length];
        return _seeds.AsSpan(0, length);
    }

    /// <summary>Zeroed scratch for the directions of a sweep.</summary>
    public static Span<double> Directions(int length)
    {
        if (_directions is null || _directions.Length < length) _directions = new double[length];
        var span = _directions.AsSpan(0, length);
        span.Clear();
        return span;
    }

    /// <summary>Scratch for a gradient the caller does not want.</summary>
    public static Span<double> Gradient(int length)
    {
        if (_gradient is null || _gradient.Length < length) _gradient = new double[length];
        return _gradient.AsSpan(0, length);
    }

    /// <summary>Scratch for the products of a sweep (its contents are overwritten by the kernel).</summary>
    public static Span<double> Products(int length)
    {
        if (_products is null || _products.Length < length) _products = new double[length];
        return _products.AsSpan(0, length);
    }
}
