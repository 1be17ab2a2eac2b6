using ExprAD.Errors;

namespace ExprAD.Drivers;

/// <summary>
/// The dense Hessian and the Laplacian from forward-over-reverse sweeps of up to <see cref="HessianBlocks{TData}.MaxDirections"/>
/// unit directions each: column j of H is H e_j, which is row j (H is symmetric), so a sweep of directions c .. c + w - 1
/// writes rows c .. c + w - 1 of the row-major Hessian.
/// </summary>
internal sealed class DenseHessian<TData>(HessianBlocks<TData> blocks)
{
    public double Evaluate(ReadOnlySpan<double> x, TData data, Span<double> gradient, Span<double> hessian)
    {
        int n = x.Length;
        if (hessian.Length != n * n) throw Error.WrongLength(nameof(hessian), hessian.Length, n * n);
        if (n == 0) return blocks.Call(1, x, data, [], gradient, []);
        int width = HessianBlocks<TData>.Width(n);
        double value = 0;
        for (int first = 0; first < n; first += width)
        {
            int used = Math.Min(width, n - first);
            var v = Scratch.Directions(width * n);
            for (int d = 0; d < used; d++) v[d * n + first + d] = 1;
            // A full sweep writes its rows in place; the last, narrower one goes through scratch.
            if (used == width) value = blocks.Call(width, x, data, v, gradient, hessian.Slice(first * n, width * n));
            else
            {
                var products = Scratch.Products(width * n);
                value = blocks.Call(width, x, data, v, gradient, products);
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
        int width = HessianBlocks<TData>.Width(n);
        var gradient = Scratch.Gradient(n);
        double value = 0;
        for (int first = 0; first < n; first += width)
        {
            int used = Math.Min(width, n - first);
            var v = Scratch.Directions(width * n);
            for (int d = 0; d < used; d++) v[d * n + first + d] = 1;
            var products = Scratch.Products(width * n);
            value = blocks.Call(width, x, data, v, gradient, products);
            for (int d = 0; d < used; d++) laplacian += products[d * n + first + d];
        }
        return value;
    }
}
