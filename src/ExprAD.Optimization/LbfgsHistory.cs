namespace ExprAD.Optimization;

/// <summary>
/// The L-BFGS correction pairs s = x_k+1 - x_k, y = g_k+1 - g_k in a ring buffer of fixed capacity, and the two-loop
/// recursion (Nocedal and Wright, Algorithm 7.4) that applies the inverse-Hessian approximation they define. All storage
/// is allocated by the constructor.
/// </summary>
internal sealed class LbfgsHistory
{
    // Relative threshold of the curvature test s'y > eps |s| |y| (machine epsilon): a pair failing it would make the
    // approximation indefinite or its scaling meaningless, so it is not stored.
    private const double CurvatureEpsilon = 2.220446049250313e-16;

    private readonly double[][] _s, _y;
    private double[] _spareS, _spareY;
    private readonly double[] _rho, _alpha;
    // _newest: slot of the most recent pair; Count pairs end there, going backwards around the ring.
    private int _newest = -1;
    private double _gamma = 1;

    public LbfgsHistory(int capacity, int n)
    {
        _s = new double[capacity][];
        _y = new double[capacity][];
        for (int i = 0; i < capacity; i++)
        {
            _s[i] = new double[n];
            _y[i] = new double[n];
        }
        _spareS = new double[n];
        _spareY = new double[n];
        _rho = new double[capacity];
        _alpha = new double[capacity];
    }

    /// <summary>The pairs stored (at most the capacity).</summary>
    public int Count { get; private set; }

    /// <summary>Pairs offered but not stored because they failed the curvature test.</summary>
    public int Skipped { get; private set; }

    /// <summary>Forgets every pair (a restart from steepest descent).</summary>
    public void Clear()
    {
        Count = 0;
        _newest = -1;
        _gamma = 1;
    }

    /// <summary>
    /// Stores the pair (newX - x, newG - g) unless it fails the curvature test; returns whether it was stored. The oldest
    /// pair is overwritten when the buffer is full.
    /// </summary>
    public bool Add(ReadOnlySpan<double> x, ReadOnlySpan<double> newX, ReadOnlySpan<double> g, ReadOnlySpan<double> newG)
    {
        // Computed in the spare pair, so that a rejected pair leaves the oldest stored one intact.
        double[] s = _spareS, y = _spareY;
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = newX[i] - x[i];
            y[i] = newG[i] - g[i];
        }
        double sy = Vectors.Dot(s, y), yy = Vectors.Dot(y, y);
        if (!(sy > CurvatureEpsilon * Math.Sqrt(Vectors.Dot(s, s) * yy)))
        {
            Skipped++;
            return false;
        }
        int slot = (_newest + 1) % _s.Length;
        (_s[slot], _spareS) = (s, _s[slot]);
        (_y[slot], _spareY) = (y, _y[slot]);
        _newest = slot;
        _rho[slot] = 1 / sy;
        // γ = s'y / y'y of the newest pair scales the initial inverse Hessian γI (Nocedal and Wright, (7.20)).
        _gamma = sy / yy;
        if (Count < _s.Length) Count++;
        return true;
    }

    /// <summary>d = -H g, with H the inverse-Hessian approximation of the stored pairs (γI when there are none).</summary>
    public void Direction(ReadOnlySpan<double> g, Span<double> d)
    {
        int capacity = _s.Length;
        for (int i = 0; i < d.Length; i++) d[i] = -g[i];
        int slot = _newest;
        for (int k = 0; k < Count; k++)
        {
            double a = _rho[slot] * Vectors.Dot(_s[slot], d);
            _alpha[slot] = a;
            Vectors.AddScaled(d, -a, _y[slot]);
            slot = (slot - 1 + capacity) % capacity;
        }
        Vectors.Scale(d, _gamma);
        for (int k = 0; k < Count; k++)
        {
            // Oldest first: slot went one past the oldest in the loop above.
            slot = (slot + 1) % capacity;
            double b = _rho[slot] * Vectors.Dot(_y[slot], d);
            Vectors.AddScaled(d, _alpha[slot] - b, _s[slot]);
        }
    }
}
