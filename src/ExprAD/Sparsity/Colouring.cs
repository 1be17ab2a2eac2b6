namespace ExprAD.Sparsity;

/// <summary>
/// Greedy colourings that compress sparse derivatives (Gebremedhin, Manne and Pothen, "What color is your Jacobian?",
/// SIAM Review 2005). Colours are numbered from 0, given in vertex order; every colouring here is checked by the tests
/// with a separate brute-force validity check.
/// </summary>
internal static class Colouring
{
    /// <summary>
    /// A star colouring of the adjacency graph of a symmetric pattern (the diagonal is ignored): adjacent vertices get
    /// different colours, and every path on four vertices uses at least three colours. That is what lets every Hessian
    /// entry be read directly from H·S (<see cref="HessianRecovery"/>). A vertex takes the smallest colour that closes no
    /// two-coloured path of four coloured vertices through it: every such path is checked when its last vertex is coloured.
    /// </summary>
    public static int[] Star(SparsityPattern symmetric)
    {
        int n = symmetric.Rows;
        var colour = new int[n];
        Array.Fill(colour, -1);
        var forbiddenBy = new int[n + 1];
        Array.Fill(forbiddenBy, -1);
        // How many coloured neighbours of v have colour c: valid while countedFor[c] == v (no clearing per vertex).
        var neighbourColourCount = new int[n + 1];
        var countedFor = new int[n + 1];
        Array.Fill(countedFor, -1);
        for (int v = 0; v < n; v++)
        {
            foreach (int w in symmetric.Row(v))
                if (w != v && colour[w] >= 0)
                {
                    int c = colour[w];
                    forbiddenBy[c] = v; // adjacent vertices differ
                    if (countedFor[c] != v) (countedFor[c], neighbourColourCount[c]) = (v, 0);
                    neighbourColourCount[c]++;
                }
            foreach (int w in symmetric.Row(v))
            {
                if (w == v || colour[w] < 0) continue;
                // v in the middle (u - v - w - x with colour(u) = colour(w)): v must not take colour(x).
                bool twin = neighbourColourCount[colour[w]] >= 2;
                foreach (int x in symmetric.Row(w))
                {
                    if (x == v || x == w || colour[x] < 0) continue;
                    if (twin) { forbiddenBy[colour[x]] = v; continue; }
                    // v at an end (v - w - x - y with colour(y) = colour(w)): v must not take colour(x).
                    foreach (int y in symmetric.Row(x))
                        if (y != x && y != w && y != v && colour[y] == colour[w]) { forbiddenBy[colour[x]] = v; break; }
                }
            }
            int free = 0;
            while (forbiddenBy[free] == v) free++;
            colour[v] = free;
        }
        return colour;
    }

    /// <summary>
    /// A column colouring of a Jacobian pattern: two columns that have a nonzero in the same row differ, so J·S (S the
    /// 0/1 matrix of the colour groups) holds every entry once. Forward mode, one direction per colour.
    /// </summary>
    public static int[] Columns(SparsityPattern jacobian) => Partition(jacobian.Transpose(), jacobian);

    /// <summary>A row colouring: two rows that have a nonzero in the same column differ, so Sᵀ·J holds every entry once. Reverse mode.</summary>
    public static int[] Rows(SparsityPattern jacobian) => Partition(jacobian, jacobian.Transpose());

    /// <summary>Colours the rows of <paramref name="byColumn"/> (each listing the lines it meets) so that lines meeting a common row of <paramref name="byRow"/> differ.</summary>
    private static int[] Partition(SparsityPattern byColumn, SparsityPattern byRow)
    {
        int n = byColumn.Rows;
        var colour = new int[n];
        var forbiddenBy = new int[n + 1];
        Array.Fill(forbiddenBy, -1);
        for (int j = 0; j < n; j++)
        {
            foreach (int r in byColumn.Row(j))
                foreach (int k in byRow.Row(r))
                    if (k < j) forbiddenBy[colour[k]] = j;
            int c = 0;
            while (forbiddenBy[c] == j) c++;
            colour[j] = c;
        }
        return colour;
    }

    /// <summary>
    /// Where each entry of a symmetric pattern, in CSR order, is read in B = H·S (n rows, one column per colour) under a
    /// star colouring: H[i, j] is B[i, colour(j)] when j is the only neighbour of i with that colour (the other vertices of
    /// colour(j) contribute zeros to row i), else B[j, colour(i)], which a star colouring then guarantees to be clean.
    /// </summary>
    public static (int[] Row, int[] Colour) HessianRecovery(SparsityPattern symmetric, int[] colour)
    {
        var readRow = new int[symmetric.NonZeros];
        var readColour = new int[symmetric.NonZeros];
        var pointers = symmetric.RowPointerSpan;
        for (int i = 0; i < symmetric.Rows; i++)
        {
            var row = symmetric.Row(i);
            for (int e = 0; e < row.Length; e++)
            {
                int j = row[e];
                bool alone = j == i || OnlyNeighbourOfColour(symmetric, i, j, colour);
                (readRow[pointers[i] + e], readColour[pointers[i] + e]) = alone ? (i, colour[j]) : (j, colour[i]);
            }
        }
        return (readRow, readColour);
    }

    private static bool OnlyNeighbourOfColour(SparsityPattern symmetric, int i, int j, int[] colour)
    {
        foreach (int k in symmetric.Row(i))
            if (k != j && k != i && colour[k] == colour[j]) return false;
        return true;
    }
}
