using System.Linq.Expressions;
using ExprAD.Drivers;
using ExprAD.Errors;
using ExprAD.Sparsity;
using Trace = ExprAD.IR.Trace;

namespace ExprAD;

/// <summary>
/// A compiled sparse Hessian of f : R^n -> R (from <see cref="AD.SparseHessian"/>). The pattern is found from the trace
/// once per length n (it holds for every x of that length), star-coloured, and each evaluation runs forward-over-reverse
/// sweeps whose directions are the colour classes (several per sweep), then reads each entry back directly.
/// Thread-safe; after the first call for a length, <see cref="Evaluate"/> allocates nothing.
/// </summary>
public sealed class SparseHessianFunc
{
    private readonly Trace _trace;
    private readonly HessianBlocks<NoData> _blocks;
    private volatile Compressed? _last;

    internal SparseHessianFunc(Trace trace, Expression<Func<double[], double>> f, ADOptions? options)
    {
        _trace = trace;
        _blocks = new PlainHessianBlocks(f, options);
    }

    /// <summary>Everything about one length: the pattern (with its colour count), each variable's colour, and where each entry is read.</summary>
    private sealed record Compressed(int N, SparsityPattern Pattern, int[] Colour, int[] ReadRow, int[] ReadColour);

    private Compressed For(int n)
    {
        if (_last is { } last && last.N == n) return last;
        var pattern = HessianSparsity.Of(_trace, n);
        var colour = Colouring.Star(pattern);
        int colours = colour.Length == 0 ? 0 : colour.Max() + 1;
        var (row, readColour) = Colouring.HessianRecovery(pattern, colour);
        return _last = new Compressed(n, pattern.WithColors(colours), colour, row, readColour);
    }

    /// <summary>The pattern of the Hessian (both triangles) for inputs of length <paramref name="n"/>, with the number of colours an evaluation uses.</summary>
    /// <param name="n">The length of x.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="n"/> is negative.</exception>
    /// <exception cref="NotSupportedException">The function has a construct the pattern analysis does not cover yet; the message names it.</exception>
    public SparsityPattern Pattern(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        return For(n).Pattern;
    }

    /// <summary>Returns f(x), writes the gradient and the Hessian's values in the CSR order of <see cref="Pattern"/>(x.Length).</summary>
    /// <param name="x">The point.</param>
    /// <param name="gradient">Receives the gradient; the length of x.</param>
    /// <param name="values">Receives the Hessian's nonzeros; length <see cref="SparsityPattern.NonZeros"/>.</param>
    /// <exception cref="ArgumentException">A span has the wrong length; the message names it and the expected length.</exception>
    public double Evaluate(ReadOnlySpan<double> x, Span<double> gradient, Span<double> values)
    {
        int n = x.Length;
        var c = For(n);
        if (values.Length != c.Pattern.NonZeros) throw Error.WrongLength(nameof(values), values.Length, c.Pattern.NonZeros);
        int colours = c.Pattern.Colors;
        if (colours == 0) return _blocks.Call(1, x, default, Scratch.Directions(n), gradient, Scratch.Products(n));
        int width = HessianBlocks<NoData>.Width(colours);
        double value = 0;
        for (int first = 0; first < colours; first += width)
        {
            var v = Scratch.Directions(width * n);
            for (int j = 0; j < n; j++)
            {
                int d = c.Colour[j] - first;
                if ((uint)d < (uint)width) v[d * n + j] = 1;
            }
            var products = Scratch.Products(width * n);
            value = _blocks.Call(width, x, default, v, gradient, products);
            for (int k = 0; k < values.Length; k++)
            {
                int d = c.ReadColour[k] - first;
                if ((uint)d < (uint)width) values[k] = products[d * n + c.ReadRow[k]];
            }
        }
        return value;
    }
}
