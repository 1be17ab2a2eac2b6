using ExprAD.Drivers;
using ExprAD.Errors;
using ExprAD.Sparsity;
using Trace = ExprAD.IR.Trace;

namespace ExprAD.Drivers
{
    /// <summary>
    /// The work behind <see cref="SparseHessianFunc"/> and <see cref="SparseHessianFunc{TData}"/>: the pattern of one length
    /// (and data argument), kept until another is asked for, its star colouring, and the sweeps that evaluate it.
    /// </summary>
    internal sealed class SparseHessianDriver<TData>(Trace trace, object[] constants, HessianBlocks<TData> blocks, bool forDense = false)
    {
        /// <summary>Everything about one length and data argument: the pattern (with its colour count) and its compression.</summary>
        private sealed record Compressed(int N, TData Data, SparsityPattern Pattern, Compression Compression);

        private volatile Compressed? _last;

        public SparsityPattern Pattern(int n, TData data)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(n);
            return For(n, data).Pattern;
        }

        private Compressed For(int n, TData data)
        {
            if (_last is { } last && last.N == n && EqualityComparer<TData>.Default.Equals(last.Data, data)) return last;
            // For a dense Hessian, a pattern that fills more than half the upper triangle would not pay for its analysis.
            int budget = forDense ? (int)Math.Min(int.MaxValue, (long)n * (n + 1) / 4) : int.MaxValue;
            var pattern = Patterns.Hessian(trace, n, Patterns.Reads(trace, constants, typeof(TData) == typeof(NoData) ? null : data), budget);
            var colour = Colouring.Star(pattern);
            int colours = colour.Length == 0 ? 0 : colour.Max() + 1;
            // H[i, j] is read from row ReadRow of the product with colour ReadColour.
            var (readRow, readColour) = Colouring.HessianRecovery(pattern, colour);
            var compression = new Compression(colour, readColour, readRow, colours, HessianBlocks<TData>.Width(colours), n, n);
            return _last = new Compressed(n, data, pattern.WithColors(colours), compression);
        }

        private int _uncompressible = -1;

        /// <summary>
        /// The dense Hessian from the compressed sweeps, when the pattern analysis follows the function and needs fewer
        /// colours than n (the pattern is found once per length); false (remembered for that length) otherwise, and the
        /// caller sweeps unit directions.
        /// </summary>
        public bool TryEvaluateDense(ReadOnlySpan<double> x, TData data, Span<double> gradient, Span<double> hessian, out double value)
        {
            value = 0;
            int n = x.Length;
            if (n == _uncompressible) return false;
            Compressed c;
            try { c = For(n, data); }
            catch (UnsupportedPatternException)
            {
                // Not an error: this function's Hessian is found by unit sweeps instead.
                _uncompressible = n;
                return false;
            }
            if (c.Compression.Colours >= n) { _uncompressible = n; return false; }
            var values = Scratch.Values(c.Pattern.NonZeros);
            value = Evaluate(x, data, gradient, values);
            hessian.Clear();
            var pointers = c.Pattern.RowPointerSpan;
            var columns = c.Pattern.ColumnIndexSpan;
            for (int i = 0; i < n; i++)
                for (int k = pointers[i]; k < pointers[i + 1]; k++) hessian[i * n + columns[k]] = values[k];
            return true;
        }

        public double Evaluate(ReadOnlySpan<double> x, TData data, Span<double> gradient, Span<double> values)
        {
            int n = x.Length;
            var c = For(n, data);
            if (values.Length != c.Pattern.NonZeros) throw Error.WrongLength(nameof(values), values.Length, c.Pattern.NonZeros);
            var compression = c.Compression;
            if (compression.Colours == 0) return blocks.Call(1, x, data, Scratch.Directions(n), gradient, Scratch.Products(n));
            int width = compression.Width;
            var products = Scratch.Products(width * n);
            double value = 0;
            for (int sweep = 0; sweep < compression.Sweeps; sweep++)
            {
                var scratch = Scratch.Seeds(width * n);
                var v = compression.Seeds(sweep, scratch, out bool written);
                try { value = blocks.Call(width, x, data, v, gradient, products); }
                finally { if (written) compression.Unseed(sweep, scratch); }
                compression.Recover(sweep, products, values);
            }
            return value;
        }
    }
}

namespace ExprAD
{
    /// <summary>
    /// A compiled sparse Hessian of f : R^n -> R (from <see cref="AD.SparseHessian(System.Linq.Expressions.Expression{Func{double[], double}}, ADOptions?)"/>).
    /// The pattern is found from the trace once per length n (it holds for every x of that length), star-coloured, and each
    /// evaluation runs forward-over-reverse sweeps whose directions are the colour classes (several per sweep), then reads
    /// each entry back directly. Thread-safe; after the first call for a length, <see cref="Evaluate"/> allocates nothing.
    /// </summary>
    public sealed class SparseHessianFunc
    {
        private readonly SparseHessianDriver<NoData> _driver;

        internal SparseHessianFunc(SparseHessianDriver<NoData> driver) => _driver = driver;

        /// <summary>The pattern of the Hessian (both triangles) for inputs of length <paramref name="n"/>, with the number of colours an evaluation uses.</summary>
        /// <param name="n">The length of x.</param>
        /// <exception cref="ArgumentOutOfRangeException"><paramref name="n"/> is negative.</exception>
        /// <exception cref="NotSupportedException">The function has a construct the pattern analysis does not cover; the message names it.</exception>
        public SparsityPattern Pattern(int n) => _driver.Pattern(n, default);

        /// <summary>Returns f(x), writes the gradient and the Hessian's values in the CSR order of <see cref="Pattern"/>(x.Length).</summary>
        /// <param name="x">The point.</param>
        /// <param name="gradient">Receives the gradient; the length of x.</param>
        /// <param name="values">Receives the Hessian's nonzeros; length <see cref="SparsityPattern.NonZeros"/>.</param>
        /// <exception cref="ArgumentException">A span has the wrong length; the message names it and the expected length.</exception>
        public double Evaluate(ReadOnlySpan<double> x, Span<double> gradient, Span<double> values) => _driver.Evaluate(x, default, gradient, values);
    }

    /// <summary>
    /// A compiled sparse Hessian of f(x, data) with respect to x (from <see cref="AD.SparseHessian{TData}"/>). The pattern is
    /// found once per length of x and data argument, and kept while calls pass the same data (compared with
    /// <see cref="EqualityComparer{T}.Default"/>: for a class, the same instance). A data object changed in place in a way
    /// that changes the pattern (its sizes or the indices it holds) must be passed as a new instance. Thread-safe.
    /// </summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    public sealed class SparseHessianFunc<TData>
    {
        private readonly SparseHessianDriver<TData> _driver;

        internal SparseHessianFunc(SparseHessianDriver<TData> driver) => _driver = driver;

        /// <summary>The pattern of the Hessian (both triangles) for inputs of length <paramref name="n"/> and this data argument.</summary>
        /// <param name="n">The length of x.</param>
        /// <param name="data">The data argument.</param>
        /// <exception cref="ArgumentOutOfRangeException"><paramref name="n"/> is negative.</exception>
        /// <exception cref="NotSupportedException">The function has a construct the pattern analysis does not cover; the message names it.</exception>
        public SparsityPattern Pattern(int n, TData data) => _driver.Pattern(n, data);

        /// <summary>Returns f(x, data), writes the gradient and the Hessian's values in the CSR order of <see cref="Pattern"/>(x.Length, data).</summary>
        /// <param name="x">The point.</param>
        /// <param name="data">The data argument.</param>
        /// <param name="gradient">Receives the gradient; the length of x.</param>
        /// <param name="values">Receives the Hessian's nonzeros; length <see cref="SparsityPattern.NonZeros"/>.</param>
        /// <exception cref="ArgumentException">A span has the wrong length; the message names it and the expected length.</exception>
        public double Evaluate(ReadOnlySpan<double> x, TData data, Span<double> gradient, Span<double> values) => _driver.Evaluate(x, data, gradient, values);
    }
}
