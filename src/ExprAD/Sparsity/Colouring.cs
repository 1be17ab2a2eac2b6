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

    /// <summary>
    /// Colours the rows of <paramref name="byColumn"/> (each listing the lines it meets) so that lines meeting a common row
    /// of <paramref name="byRow"/> differ: a distance-1 colouring of their intersection graph, greedy in two orders (the
    /// natural one, and smallest-last, Matula and Beck 1983, which colours grid stencils with fewer colours), keeping the
    /// one with fewer colours.
    /// </summary>
    private static int[] Partition(SparsityPattern byColumn, SparsityPattern byRow)
    {
        var neighbours = IntersectionGraph(byColumn, byRow);
        var natural = Greedy(neighbours, Enumerable.Range(0, neighbours.Length).ToArray());
        var smallestLast = Greedy(neighbours, SmallestLastOrder(neighbours));
        // The lines that meet one row are pairwise adjacent: no colouring has fewer colours than the longest row.
        int lowerBound = 0;
        for (int r = 0; r < byRow.Rows; r++) lowerBound = Math.Max(lowerBound, byRow.Row(r).Length);
        return IteratedGreedy(neighbours, Count(smallestLast) < Count(natural) ? smallestLast : natural, lowerBound);
    }

    /// <summary>
    /// Culberson's iterated greedy: colouring again in an order that keeps each colour class together never needs more
    /// colours, and often fewer. The classes go in reverse, then largest first, then in a shuffled order (fixed seed, so
    /// the colouring is reproducible), for a bounded number of rounds.
    /// </summary>
    private static int[] IteratedGreedy(int[][] neighbours, int[] colour, int lowerBound)
    {
        var random = new Random(1);
        for (int round = 0; round < IteratedGreedyRounds && Count(colour) > lowerBound; round++)
        {
            int colours = Count(colour);
            var classes = Enumerable.Range(0, colours).ToArray();
            var size = new int[colours];
            foreach (int c in colour) size[c]++;
            switch (round % 3)
            {
                case 0: Array.Reverse(classes); break;
                case 1: classes = classes.OrderByDescending(c => size[c]).ToArray(); break;
                default: random.Shuffle(classes); break;
            }
            var rank = new int[colours];
            for (int k = 0; k < colours; k++) rank[classes[k]] = k;
            // Stable bucket order by class rank: linear, not a sort.
            var start = new int[colours + 1];
            foreach (int c in colour) start[rank[c] + 1]++;
            for (int k = 0; k < colours; k++) start[k + 1] += start[k];
            var order = new int[colour.Length];
            for (int v = 0; v < colour.Length; v++) order[start[rank[colour[v]]]++] = v;
            colour = Greedy(neighbours, order);
        }
        return colour;
    }

    /// <summary>Rounds of <see cref="IteratedGreedy"/>: each is one greedy pass, linear in the graph's size.</summary>
    private const int IteratedGreedyRounds = 60;

    private static int Count(int[] colour) => colour.Length == 0 ? 0 : colour.Max() + 1;

    /// <summary>For each line, the other lines that meet one of its rows (each once).</summary>
    private static int[][] IntersectionGraph(SparsityPattern byColumn, SparsityPattern byRow)
    {
        int n = byColumn.Rows;
        var neighbours = new int[n][];
        var seenBy = new int[n];
        Array.Fill(seenBy, -1);
        var list = new List<int>();
        for (int j = 0; j < n; j++)
        {
            list.Clear();
            seenBy[j] = j;
            foreach (int r in byColumn.Row(j))
                foreach (int k in byRow.Row(r))
                    if (seenBy[k] != j) { seenBy[k] = j; list.Add(k); }
            neighbours[j] = list.ToArray();
        }
        return neighbours;
    }

    /// <summary>Each vertex in <paramref name="order"/> takes the smallest colour none of its coloured neighbours has.</summary>
    private static int[] Greedy(int[][] neighbours, int[] order)
    {
        int n = neighbours.Length;
        var colour = new int[n];
        Array.Fill(colour, -1);
        var forbiddenBy = new int[n + 1];
        Array.Fill(forbiddenBy, -1);
        foreach (int j in order)
        {
            foreach (int k in neighbours[j])
                if (colour[k] >= 0) forbiddenBy[colour[k]] = j;
            int c = 0;
            while (forbiddenBy[c] == j) c++;
            colour[j] = c;
        }
        return colour;
    }

    /// <summary>Repeatedly removes a vertex of least remaining degree; the order is the reverse of removal (bucket queue, linear time).</summary>
    private static int[] SmallestLastOrder(int[][] neighbours)
    {
        int n = neighbours.Length;
        var degree = new int[n];
        int maxDegree = 0;
        for (int v = 0; v < n; v++) maxDegree = Math.Max(maxDegree, degree[v] = neighbours[v].Length);
        // Doubly linked buckets by degree.
        var head = new int[maxDegree + 1];
        Array.Fill(head, -1);
        var next = new int[n];
        var previous = new int[n];
        void Insert(int v)
        {
            (previous[v], next[v]) = (-1, head[degree[v]]);
            if (head[degree[v]] >= 0) previous[head[degree[v]]] = v;
            head[degree[v]] = v;
        }
        void Remove(int v)
        {
            if (previous[v] >= 0) next[previous[v]] = next[v]; else head[degree[v]] = next[v];
            if (next[v] >= 0) previous[next[v]] = previous[v];
        }
        for (int v = 0; v < n; v++) Insert(v);
        var removed = new bool[n];
        var order = new int[n];
        int lowest = 0;
        for (int position = n - 1; position >= 0; position--)
        {
            lowest = Math.Max(0, lowest - 1);
            while (head[lowest] < 0) lowest++;
            int v = head[lowest];
            Remove(v);
            removed[v] = true;
            order[position] = v;
            foreach (int w in neighbours[v])
                if (!removed[w]) { Remove(w); degree[w]--; Insert(w); }
        }
        return order;
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
