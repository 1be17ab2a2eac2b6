using System.Numerics;
using System.Runtime.InteropServices;

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
        var (sy, yy, ss) = Differences(x, newX, g, newG, s, y);
        if (!(sy > CurvatureEpsilon * Math.Sqrt(ss * yy)))
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

    /// <summary>
    /// d = -H g, with H the inverse-Hessian approximation of the stored pairs (γI when there are none). Each update of d
    /// is fused with the dot product the next one needs, so every stored vector is read once per loop and d stays in
    /// cache: at n = 10,000 and 10 pairs the recursion streams 3.2 MB, about as long as a gradient of extended Rosenbrock.
    /// </summary>
    public void Direction(ReadOnlySpan<double> g, Span<double> d)
    {
        int capacity = _s.Length;
        g.CopyTo(d);
        Vectors.Scale(d, -1);
        if (Count == 0) return;
        // Newest to oldest: α_k = ρ_k s_k'd, then d -= α_k y_k.
        int slot = _newest;
        _alpha[slot] = _rho[slot] * Vectors.Dot(_s[slot], d);
        for (int k = 0; k < Count; k++)
        {
            int next = (slot - 1 + capacity) % capacity;
            if (k + 1 < Count) _alpha[next] = _rho[next] * Vectors.AddScaledThenDot(d, -_alpha[slot], _y[slot], _s[next]);
            else Vectors.AddScaled(d, -_alpha[slot], _y[slot]);
            slot = next;
        }
        Vectors.Scale(d, _gamma);
        // Oldest to newest: β_k = ρ_k y_k'd, then d += (α_k - β_k) s_k. slot is one before the oldest.
        slot = (slot + 1) % capacity;
        double beta = _rho[slot] * Vectors.Dot(_y[slot], d);
        for (int k = 0; k < Count; k++)
        {
            int next = (slot + 1) % capacity;
            if (k + 1 < Count) beta = _rho[next] * Vectors.AddScaledThenDot(d, _alpha[slot] - beta, _s[slot], _y[next]);
            else Vectors.AddScaled(d, _alpha[slot] - beta, _s[slot]);
            slot = next;
        }
    }

    /// <summary>s = newX - x and y = newG - g in one pass, with s'y, y'y and s's.</summary>
    private static (double Sy, double Yy, double Ss) Differences(ReadOnlySpan<double> x, ReadOnlySpan<double> newX,
        ReadOnlySpan<double> g, ReadOnlySpan<double> newG, Span<double> s, Span<double> y)
    {
        int i = 0, n = s.Length;
        double sy = 0, yy = 0, ss = 0;
        if (Vector.IsHardwareAccelerated && n >= 2 * Vector<double>.Count)
        {
            var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
            var vnx = MemoryMarshal.Cast<double, Vector<double>>(newX);
            var vg = MemoryMarshal.Cast<double, Vector<double>>(g);
            var vng = MemoryMarshal.Cast<double, Vector<double>>(newG);
            var vs = MemoryMarshal.Cast<double, Vector<double>>(s);
            var vy = MemoryMarshal.Cast<double, Vector<double>>(y);
            Vector<double> asy = Vector<double>.Zero, ayy = Vector<double>.Zero, ass = Vector<double>.Zero;
            for (int k = 0; k < vs.Length; k++)
            {
                var sk = vnx[k] - vx[k];
                var yk = vng[k] - vg[k];
                vs[k] = sk;
                vy[k] = yk;
                asy += sk * yk;
                ayy += yk * yk;
                ass += sk * sk;
            }
            sy = Vector.Sum(asy);
            yy = Vector.Sum(ayy);
            ss = Vector.Sum(ass);
            i = vs.Length * Vector<double>.Count;
        }
        for (; i < n; i++)
        {
            s[i] = newX[i] - x[i];
            y[i] = newG[i] - g[i];
            sy += s[i] * y[i];
            yy += y[i] * y[i];
            ss += s[i] * s[i];
        }
        return (sy, yy, ss);
    }
}
