using System.Linq.Expressions;
using ExprAD.Codegen;
using ExprAD.Drivers;
using ExprAD.Errors;
using ExprAD.Sparsity;
using Trace = ExprAD.IR.Trace;

namespace ExprAD.Drivers
{
    /// <summary>
    /// Forward and reverse kernels of one vector function, by number of directions (1 to
    /// <see cref="HessianBlocks{TData}.MaxDirections"/>), each compiled the first time it is asked for. Forward: f(x) and, for
    /// each slice v_d of v (x's length), J·v_d into slice d of the product. Reverse: f(x) and, for each slice u_s of v (f's
    /// length), u_sᵀ J into slice s of the product.
    /// </summary>
    internal abstract class JacobianBlocks<TData>
    {
        public abstract void Call(bool reverse, int directions, ReadOnlySpan<double> x, TData data, ReadOnlySpan<double> v, Span<double> values, Span<double> product);
    }

    internal sealed class PlainJacobianBlocks(Expression<Func<double[], double[]>> f, ADOptions? options) : JacobianBlocks<NoData>
    {
        private readonly BoundProduct?[] _forward = new BoundProduct?[HessianBlocks<NoData>.MaxDirections + 1];
        private readonly BoundProduct?[] _reverse = new BoundProduct?[HessianBlocks<NoData>.MaxDirections + 1];

        public override void Call(bool reverse, int directions, ReadOnlySpan<double> x, NoData data, ReadOnlySpan<double> v, Span<double> values, Span<double> product) =>
            (reverse ? _reverse[directions] ??= AD.VectorJacobianBlock(f, options, directions) : _forward[directions] ??= AD.JacobianBlock(f, options, directions))
                .Invoke(x, v, values, product);
    }

    internal sealed class DataJacobianBlocks<TData>(Expression<Func<double[], TData, double[]>> f, ADOptions? options) : JacobianBlocks<TData>
    {
        private readonly BoundProduct<TData>?[] _forward = new BoundProduct<TData>?[HessianBlocks<TData>.MaxDirections + 1];
        private readonly BoundProduct<TData>?[] _reverse = new BoundProduct<TData>?[HessianBlocks<TData>.MaxDirections + 1];

        public override void Call(bool reverse, int directions, ReadOnlySpan<double> x, TData data, ReadOnlySpan<double> v, Span<double> values, Span<double> product) =>
            (reverse ? _reverse[directions] ??= AD.VectorJacobianBlock(f, options, directions) : _forward[directions] ??= AD.JacobianBlock(f, options, directions))
                .Invoke(x, data, v, values, product);
    }

    /// <summary>
    /// The work behind <see cref="SparseJacobianFunc"/> and <see cref="SparseJacobianFunc{TData}"/>: the pattern of one
    /// length (and data argument), kept until another is asked for, its column colouring (forward sweeps, the colour
    /// classes of columns as directions) or its row colouring (reverse sweeps, the classes of rows as seeds), whichever
    /// needs fewer colours, forward on ties since a tangent costs less than an adjoint; several colours per sweep.
    /// </summary>
    internal sealed class SparseJacobianDriver<TData>(Trace trace, object[] constants, JacobianBlocks<TData> blocks)
    {
        private sealed record Compressed(int N, TData Data, SparsityPattern Pattern, bool Reverse, Compression Compression);

        private volatile Compressed? _last;

        public SparsityPattern Pattern(int n, TData data)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(n);
            return For(n, data).Pattern;
        }

        private Compressed For(int n, TData data)
        {
            if (_last is { } last && last.N == n && EqualityComparer<TData>.Default.Equals(last.Data, data)) return last;
            var pattern = Patterns.Jacobian(trace, n, Patterns.Reads(trace, constants, typeof(TData) == typeof(NoData) ? null : data));
            var columns = Colouring.Columns(pattern);
            var rows = Colouring.Rows(pattern);
            int columnColours = columns.Length == 0 ? 0 : columns.Max() + 1, rowColours = rows.Length == 0 ? 0 : rows.Max() + 1;
            bool reverse = rowColours < columnColours;
            int colours = reverse ? rowColours : columnColours;
            // Forward: entry (r, c) is row r of the product of c's colour. Reverse: column c of the product of r's colour.
            var entryColour = new int[pattern.NonZeros];
            var readAt = new int[pattern.NonZeros];
            var pointers = pattern.RowPointerSpan;
            var indices = pattern.ColumnIndexSpan;
            for (int r = 0; r < pattern.Rows; r++)
                for (int e = pointers[r]; e < pointers[r + 1]; e++)
                    (entryColour[e], readAt[e]) = reverse ? (rows[r], indices[e]) : (columns[indices[e]], r);
            // Forward: directions of x's length, products of f's; reverse the other way round.
            var (seedLength, productLength) = reverse ? (pattern.Rows, n) : (n, pattern.Rows);
            var compression = new Compression(reverse ? rows : columns, entryColour, readAt, colours, HessianBlocks<TData>.Width(colours), seedLength, productLength);
            return _last = new Compressed(n, data, pattern.WithColors(colours), reverse, compression);
        }

        public void Evaluate(ReadOnlySpan<double> x, TData data, Span<double> values, Span<double> jacobianValues)
        {
            int n = x.Length;
            var c = For(n, data);
            int m = c.Pattern.Rows;
            if (values.Length != m) throw Error.WrongLength(nameof(values), values.Length, m);
            if (jacobianValues.Length != c.Pattern.NonZeros) throw Error.WrongLength(nameof(jacobianValues), jacobianValues.Length, c.Pattern.NonZeros);
            var compression = c.Compression;
            if (compression.Colours == 0) { blocks.Call(false, 1, x, data, Scratch.Seeds(n), values, Scratch.Products(m)); return; }
            int width = compression.Width;
            var (seedLength, productLength) = c.Reverse ? (m, n) : (n, m);
            var products = Scratch.Products(width * productLength);
            for (int sweep = 0; sweep < compression.Sweeps; sweep++)
            {
                var scratch = Scratch.Seeds(width * seedLength);
                var v = compression.Seeds(sweep, scratch, out bool written);
                try { blocks.Call(c.Reverse, width, x, data, v, values, products); }
                finally { if (written) compression.Unseed(sweep, scratch); }
                compression.Recover(sweep, products, jacobianValues);
            }
        }
    }
}

namespace ExprAD
{
    /// <summary>
    /// A compiled sparse Jacobian of f : R^n -> R^m (from <see cref="AD.SparseJacobian(Expression{Func{double[], double[]}}, ADOptions?)"/>).
    /// The pattern is found from the trace once per length n (it holds for every x of that length), and its columns coloured
    /// so that columns sharing a row differ (forward sweeps, the colour classes as directions) or its rows so that rows
    /// sharing a column differ (reverse sweeps, the classes as seeds), whichever needs fewer colours; several colours travel
    /// through one sweep, and each entry is read back directly. Thread-safe; after the first call for a length,
    /// <see cref="Evaluate"/> allocates nothing.
    /// </summary>
    public sealed class SparseJacobianFunc
    {
        private readonly SparseJacobianDriver<NoData> _driver;

        internal SparseJacobianFunc(SparseJacobianDriver<NoData> driver) => _driver = driver;

        /// <summary>The pattern of the Jacobian (m rows, n columns) for inputs of length <paramref name="n"/>, with the number of colours an evaluation uses.</summary>
        /// <param name="n">The length of x.</param>
        /// <exception cref="ArgumentOutOfRangeException"><paramref name="n"/> is negative.</exception>
        /// <exception cref="NotSupportedException">The function has a construct the pattern analysis does not cover; the message names it.</exception>
        public SparsityPattern Pattern(int n) => _driver.Pattern(n, default);

        /// <summary>Writes f(x) and the Jacobian's values in the CSR order of <see cref="Pattern"/>(x.Length).</summary>
        /// <param name="x">The point.</param>
        /// <param name="values">Receives f(x); length m.</param>
        /// <param name="jacobianValues">Receives the Jacobian's nonzeros; length <see cref="SparsityPattern.NonZeros"/>.</param>
        /// <exception cref="ArgumentException">A span has the wrong length; the message names it and the expected length.</exception>
        public void Evaluate(ReadOnlySpan<double> x, Span<double> values, Span<double> jacobianValues) => _driver.Evaluate(x, default, values, jacobianValues);
    }

    /// <summary>
    /// A compiled sparse Jacobian of f(x, data) with respect to x (from <see cref="AD.SparseJacobian{TData}"/>). The pattern is
    /// found once per length of x and data argument, and kept while calls pass the same data (compared with
    /// <see cref="EqualityComparer{T}.Default"/>: for a class, the same instance). A data object changed in place in a way
    /// that changes the pattern (its sizes or the indices it holds) must be passed as a new instance. Thread-safe.
    /// </summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    public sealed class SparseJacobianFunc<TData>
    {
        private readonly SparseJacobianDriver<TData> _driver;

        internal SparseJacobianFunc(SparseJacobianDriver<TData> driver) => _driver = driver;

        /// <summary>The pattern of the Jacobian for inputs of length <paramref name="n"/> and this data argument.</summary>
        /// <param name="n">The length of x.</param>
        /// <param name="data">The data argument.</param>
        /// <exception cref="ArgumentOutOfRangeException"><paramref name="n"/> is negative.</exception>
        /// <exception cref="NotSupportedException">The function has a construct the pattern analysis does not cover; the message names it.</exception>
        public SparsityPattern Pattern(int n, TData data) => _driver.Pattern(n, data);

        /// <summary>Writes f(x, data) and the Jacobian's values in the CSR order of <see cref="Pattern"/>(x.Length, data).</summary>
        /// <param name="x">The point.</param>
        /// <param name="data">The data argument.</param>
        /// <param name="values">Receives f(x, data); length m.</param>
        /// <param name="jacobianValues">Receives the Jacobian's nonzeros; length <see cref="SparsityPattern.NonZeros"/>.</param>
        /// <exception cref="ArgumentException">A span has the wrong length; the message names it and the expected length.</exception>
        public void Evaluate(ReadOnlySpan<double> x, TData data, Span<double> values, Span<double> jacobianValues) => _driver.Evaluate(x, data, values, jacobianValues);
    }
}
