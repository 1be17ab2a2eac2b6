using System.Collections.Immutable;

namespace ExprAD;

/// <summary>
/// The structure of a sparse Jacobian or Hessian in compressed sparse row (CSR) form: which entries can be nonzero for
/// some input (it does not depend on the values of x), and how many compressed directions (<see cref="Colors"/>) one
/// evaluation needs. Immutable.
/// </summary>
public sealed class SparsityPattern
{
    private readonly ImmutableArray<int> _rowPointers;
    private readonly ImmutableArray<int> _columnIndices;

    internal SparsityPattern(int rows, int columns, ImmutableArray<int> rowPointers, ImmutableArray<int> columnIndices, int colors)
    {
        if (rowPointers.Length != rows + 1 || rowPointers[0] != 0 || rowPointers[^1] != columnIndices.Length)
            throw new ArgumentException("The row pointers do not describe the column indices.", nameof(rowPointers));
        Rows = rows;
        Columns = columns;
        _rowPointers = rowPointers;
        _columnIndices = columnIndices;
        Colors = colors;
    }

    /// <summary>The number of rows (outputs of a Jacobian; n for a Hessian).</summary>
    public int Rows { get; }

    /// <summary>The number of columns (the length of x).</summary>
    public int Columns { get; }

    /// <summary>The number of entries that can be nonzero.</summary>
    public int NonZeros => _columnIndices.Length;

    // Copies for callers, made once: indexing RowPointers[r] in a loop must not copy the array per access. ExprAD itself
    // reads the immutable arrays, so a caller who writes into these changes nothing it computes.
    private int[]? _publicRowPointers, _publicColumnIndices;

    /// <summary>CSR row pointers, length <see cref="Rows"/> + 1: the entries of row r are at positions [RowPointers[r], RowPointers[r + 1]). The same array on every access: read it, do not modify it.</summary>
    public int[] RowPointers => _publicRowPointers ??= _rowPointers.ToArray();

    /// <summary>CSR column indices, one per entry, sorted within each row. The same array on every access: read it, do not modify it.</summary>
    public int[] ColumnIndices => _publicColumnIndices ??= _columnIndices.ToArray();

    /// <summary>The number of compressed directions (colours) one evaluation uses.</summary>
    public int Colors { get; }

    internal ReadOnlySpan<int> RowPointerSpan => _rowPointers.AsSpan();

    internal ReadOnlySpan<int> ColumnIndexSpan => _columnIndices.AsSpan();

    /// <summary>The columns of row <paramref name="row"/>.</summary>
    internal ReadOnlySpan<int> Row(int row) => _columnIndices.AsSpan(_rowPointers[row], _rowPointers[row + 1] - _rowPointers[row]);

    /// <summary>A pattern from the sets of columns of each row (sorted and made unique here).</summary>
    internal static SparsityPattern FromRows(int columns, IReadOnlyList<IEnumerable<int>> rows, int colors = 0)
    {
        var pointers = ImmutableArray.CreateBuilder<int>(rows.Count + 1);
        var indices = ImmutableArray.CreateBuilder<int>();
        pointers.Add(0);
        foreach (var row in rows)
        {
            foreach (int c in row.Distinct().Order())
            {
                if ((uint)c >= (uint)columns) throw new ArgumentOutOfRangeException(nameof(rows), $"column {c} is outside 0..{columns - 1}");
                indices.Add(c);
            }
            pointers.Add(indices.Count);
        }
        return new SparsityPattern(rows.Count, columns, pointers.MoveToImmutable(), indices.ToImmutable(), colors);
    }

    /// <summary>This pattern with <paramref name="colors"/> compressed directions.</summary>
    internal SparsityPattern WithColors(int colors) => new(Rows, Columns, _rowPointers, _columnIndices, colors);

    /// <summary>The transposed pattern (columns become rows).</summary>
    internal SparsityPattern Transpose()
    {
        var rows = new List<int>[Columns];
        for (int c = 0; c < Columns; c++) rows[c] = new List<int>();
        for (int r = 0; r < Rows; r++)
            foreach (int c in Row(r)) rows[c].Add(r);
        return FromRows(Rows, rows, Colors);
    }
}
