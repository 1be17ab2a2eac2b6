namespace ExprAD.Sparsity;

/// <summary>
/// How a coloured pattern is compressed into a few directions and read back: the lines (columns of x) of each colour,
/// which seed the directions, and for each entry of the pattern, in CSR order, its colour and where it is read in that
/// colour's product. Both are grouped by colour, so a sweep over colours [first, first + width) touches only its own
/// lines and entries. Immutable.
/// </summary>
internal sealed class Compression
{
    private readonly int[] _linesByColour, _lineStart;
    private readonly int[] _entriesByColour, _entryStart, _readAt;

    /// <param name="lineColour">The colour of each line.</param>
    /// <param name="entryColour">For each entry (CSR order), the colour whose product holds it.</param>
    /// <param name="readAt">For each entry, its position in that colour's product.</param>
    /// <param name="colours">The number of colours.</param>
    public Compression(int[] lineColour, int[] entryColour, int[] readAt, int colours)
    {
        Colours = colours;
        (_linesByColour, _lineStart) = GroupByColour(lineColour, colours);
        (_entriesByColour, _entryStart) = GroupByColour(entryColour, colours);
        _readAt = new int[readAt.Length];
        for (int k = 0; k < _entriesByColour.Length; k++) _readAt[k] = readAt[_entriesByColour[k]];
    }

    /// <summary>The number of colours (compressed directions).</summary>
    public int Colours { get; }

    /// <summary>
    /// Writes <paramref name="value"/> at every line of colours [first, first + width) into its direction's slice of
    /// <paramref name="v"/> (slice d starts at d * stride); with 0 it undoes a seeding, so the scratch stays zero between
    /// sweeps without clearing it whole.
    /// </summary>
    public void Seed(Span<double> v, int first, int width, int stride, double value)
    {
        for (int d = 0; d < width; d++)
            for (int k = _lineStart[first + d]; k < _lineStart[first + d + 1]; k++) v[d * stride + _linesByColour[k]] = value;
    }

    /// <summary>Reads the entries of colours [first, first + width) from their products (slice d of <paramref name="products"/> at d * stride).</summary>
    public void Recover(ReadOnlySpan<double> products, int first, int width, int stride, Span<double> values)
    {
        for (int d = 0; d < width; d++)
            for (int k = _entryStart[first + d]; k < _entryStart[first + d + 1]; k++) values[_entriesByColour[k]] = products[d * stride + _readAt[k]];
    }

    /// <summary>The items in order of colour (stable), and where each colour's run starts (one more than the colours).</summary>
    private static (int[] Items, int[] Start) GroupByColour(int[] colour, int colours)
    {
        var start = new int[colours + 1];
        foreach (int c in colour) start[c + 1]++;
        for (int c = 0; c < colours; c++) start[c + 1] += start[c];
        var next = start[..colours];
        var items = new int[colour.Length];
        for (int i = 0; i < colour.Length; i++) items[next[colour[i]]++] = i;
        return (items, start);
    }
}
