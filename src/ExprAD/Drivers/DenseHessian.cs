using ExprAD.Errors;

namespace ExprAD.Drivers;

/// <summary>
/// The dense Hessian and the Laplacian from forward-over-reverse sweeps of up to <see cref="HessianBlocks{TData}.MaxDirections"/>
/// unit directions each: column j of H is H e_j, which is row j (H is symmetric), so a sweep of directions c .. c + w - 1
/// gives rows c .. c + w - 1 of the row-major Hessian. With a <paramref name="compressed"/> driver, a Hessian whose pattern
/// needs fewer colours than n is found from the compressed sweeps instead (a tridiagonal one: one sweep of three directions).
/// </summary>
internal sealed class DenseHessian<TData>(HessianBlocks<TData> blocks, SparseHessianDriver<TData>? compressed = null)
{
    public double Evaluate(ReadOnlySpan<double> x, TData data, Span<double> gradient, Span<double> hessian)
    {
        int n = x.Length;
        if (hessian.Length != n * n) throw Error.WrongLength(nameof(hessian), hessian.Length, n * n);
        if (n == 0) return blocks.Call(1, x, data, [], gradient, []);
        if (compressed is not null && compressed.TryEvaluateDense(x, data, gradient, hessian, out double compressedValue)) return compressedValue;
        int width = HessianBlocks<TData>.Width(n);
        double value = 0;
        for (int first = 0; first < n; first += width)
        {
            // A full sweep writes its rows in place; the last, narrower one goes through scratch.
            int used = Math.Min(width, n - first);
            if (used == width) value = Sweep(x, data, first, gradient, hessian.Slice(first * n, width * n));
            else
            {
                var products = Scratch.Products(width * n);
                value = Sweep(x, data, first, gradient, products);
                products[..(used * n)].CopyTo(hessian.Slice(first * n, used * n));
            }
        }
        return value;
    }

    /// <summary>Σ_j (H e_j)_j, from the same sweeps; the gradient is computed and dropped.</summary>
    public double Laplacian(ReadOnlySpan<double> x, TData data, out double laplacian)
    {
        int n = x.Length;
        laplacian = 0;
        if (n == 0) return blocks.Call(1, x, data, [], [], []);
        var gradient = Scratch.Gradient(n);
        int width = HessianBlocks<TData>.Width(n);
        double value = 0;
        for (int first = 0; first < n; first += width)
        {
            var products = Scratch.Products(width * n);
            value = Sweep(x, data, first, gradient, products);
            for (int d = 0; d < Math.Min(width, n - first); d++) laplacian += products[d * n + first + d];
        }
        return value;
    }

    /// <summary>One sweep of the unit directions first, first + 1, ... (those below n): H times each, direction d at d * n of <paramref name="products"/>.</summary>
    private double Sweep(ReadOnlySpan<double> x, TData data, int first, Span<double> gradient, Span<double> products)
    {
        int n = x.Length, width = HessianBlocks<TData>.Width(n);
        var v = Scratch.Directions(width * n);
        for (int d = 0; d < Math.Min(width, n - first); d++) v[d * n + first + d] = 1;
        return blocks.Call(width, x, data, v, gradient, products);
    }
}
