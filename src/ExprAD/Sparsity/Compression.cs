using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ExprAD.Sparsity;

/// <summary>
/// How a coloured pattern is compressed into a few directions and read back. The colours go through the sweeps
/// <see cref="Width"/> at a time (sweep s carries colours s·Width ..); direction d of a sweep seeds every line (column of
/// x, or row of f for reverse sweeps) of its colour with 1, and each entry of the pattern is read from one place of its
/// sweep's products. The seeds of every sweep are built once (unless they would be too large; then they are written
/// into scratch per sweep and reset after), and each sweep's entries are read in CSR order. Immutable.
/// </summary>
internal sealed class Compression
{
    /// <summary>The most seed values kept built (64 MiB); beyond this, seeds are written per sweep.</summary>
    private const long MostBuiltSeeds = 1 << 23;

    private readonly int _seedLength, _productLength;
    private readonly int[] _linesByColour, _lineStart;
    private readonly double[][]? _builtSeeds;
    // Sweep s reads its entries k in [_sweepStart[s], _sweepStart[s + 1]): values[_entry[k]] = products[_source[k]].
    private readonly int[] _sweepStart, _entry, _source;

    /// <param name="lineColour">The colour of each line (seeded direction).</param>
    /// <param name="entryColour">For each entry (CSR order), the colour whose product holds it.</param>
    /// <param name="readAt">For each entry, its position in that colour's product.</param>
    /// <param name="colours">The number of colours.</param>
    /// <param name="width">The colours one sweep carries.</param>
    /// <param name="seedLength">The length of one direction of seeds.</param>
    /// <param name="productLength">The length of one direction's product.</param>
    public Compression(int[] lineColour, int[] entryColour, int[] readAt, int colours, int width, int seedLength, int productLength)
    {
        Colours = colours;
        Width = width;
        Sweeps = (colours + width - 1) / width;
        _seedLength = seedLength;
        _productLength = productLength;
        (_linesByColour, _lineStart) = GroupBy(lineColour, colours, c => c);
        if ((long)colours * seedLength <= MostBuiltSeeds)
        {
            _builtSeeds = new double[Sweeps][];
            for (int s = 0; s < Sweeps; s++)
            {
                _builtSeeds[s] = new double[width * seedLength];
                Seed(_builtSeeds[s], s, 1);
            }
        }
        (_entry, _sweepStart) = GroupBy(entryColour, Sweeps, c => c / width);
        _source = new int[_entry.Length];
        for (int k = 0; k < _entry.Length; k++)
        {
            int e = _entry[k];
            _source[k] = entryColour[e] % width * productLength + readAt[e];
        }
    }

    /// <summary>The number of colours (compressed directions).</summary>
    public int Colours { get; }

    /// <summary>The colours one sweep carries.</summary>
    public int Width { get; }

    /// <summary>The number of sweeps.</summary>
    public int Sweeps { get; }

    /// <summary>
    /// The seeds of sweep <paramref name="sweep"/> (Width directions of the seed length): built ones, or written into
    /// <paramref name="zeroScratch"/> (zero on entry), which the caller must then hand to <see cref="Unseed"/> after the sweep.
    /// </summary>
    public ReadOnlySpan<double> Seeds(int sweep, Span<double> zeroScratch, out bool written)
    {
        written = _builtSeeds is null;
        if (!written) return _builtSeeds![sweep];
        Seed(zeroScratch, sweep, 1);
        return zeroScratch;
    }

    /// <summary>Resets the seeds <see cref="Seeds"/> wrote into scratch, so it is zero again without clearing it whole.</summary>
    public void Unseed(int sweep, Span<double> scratch) => Seed(scratch, sweep, 0);

    private void Seed(Span<double> v, int sweep, double value)
    {
        int first = sweep * Width, last = Math.Min(Colours, first + Width);
        for (int c = first; c < last; c++)
            for (int k = _lineStart[c]; k < _lineStart[c + 1]; k++) v[(c - first) * _seedLength + _linesByColour[k]] = value;
    }

    /// <summary>Reads the entries sweep <paramref name="sweep"/> holds from its products into their places in <paramref name="values"/>.</summary>
    public void Recover(int sweep, ReadOnlySpan<double> products, Span<double> values)
    {
        if (values.Length != _entry.Length) throw new ArgumentException("The values do not match the pattern.", nameof(values));
        int from = _sweepStart[sweep], to = _sweepStart[sweep + 1];
        // Every source lies inside the products (built from readAt < product length and colour % width < width); the
        // products span is checked to be the full width once here, so the loop reads without bounds checks.
        if (products.Length < (long)Width * _productLength) throw new ArgumentException("The products are too short.", nameof(products));
        ref double product = ref MemoryMarshal.GetReference(products);
        ref double value = ref MemoryMarshal.GetReference(values);
        ref int entry = ref MemoryMarshal.GetArrayDataReference(_entry);
        ref int source = ref MemoryMarshal.GetArrayDataReference(_source);
        for (int k = from; k < to; k++) Unsafe.Add(ref value, Unsafe.Add(ref entry, k)) = Unsafe.Add(ref product, Unsafe.Add(ref source, k));
    }

    /// <summary>The items in order of their group (stable), and where each group's run starts (one more than the groups).</summary>
    private static (int[] Items, int[] Start) GroupBy(int[] colour, int groups, Func<int, int> groupOf)
    {
        var start = new int[groups + 1];
        foreach (int c in colour) start[groupOf(c) + 1]++;
        for (int g = 0; g < groups; g++) start[g + 1] += start[g];
        var next = start[..groups];
        var items = new int[colour.Length];
        for (int i = 0; i < colour.Length; i++) items[next[groupOf(colour[i])]++] = i;
        return (items, start);
    }
}
