using System.Runtime.CompilerServices;

namespace ExprAD.Optimization.Tests;

/// <summary>Oracles and probes for the second-order and stochastic minimiser tests; none shares code with the minimisers.</summary>
internal static class NewtonTestSupport
{
    /// <summary>x with A x = b, by Gaussian elimination with partial pivoting (A row-major, n × n; copied).</summary>
    public static double[] Solve(double[] a, double[] b)
    {
        int n = b.Length;
        var m = (double[])a.Clone();
        var x = (double[])b.Clone();
        for (int c = 0; c < n; c++)
        {
            int pivot = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(m[r * n + c]) > Math.Abs(m[pivot * n + c])) pivot = r;
            if (pivot != c)
            {
                for (int k = 0; k < n; k++) (m[c * n + k], m[pivot * n + k]) = (m[pivot * n + k], m[c * n + k]);
                (x[c], x[pivot]) = (x[pivot], x[c]);
            }
            for (int r = c + 1; r < n; r++)
            {
                double factor = m[r * n + c] / m[c * n + c];
                for (int k = c; k < n; k++) m[r * n + k] -= factor * m[c * n + k];
                x[r] -= factor * x[c];
            }
        }
        for (int r = n - 1; r >= 0; r--)
        {
            double s = x[r];
            for (int k = r + 1; k < n; k++) s -= m[r * n + k] * x[k];
            x[r] = s / m[r * n + r];
        }
        return x;
    }

    /// <summary>A symmetric positive definite n × n matrix (row-major) with eigenvalues spread over [1, 1 + 10 (n − 1)]: Q D Qᵀ for a random orthogonal Q.</summary>
    public static double[] SpdMatrix(int n, int seed)
    {
        var rng = new Random(seed);
        // Q from Gram–Schmidt on random columns.
        var q = new double[n, n];
        for (int j = 0; j < n; j++)
        {
            var v = new double[n];
            for (int i = 0; i < n; i++) v[i] = rng.NextDouble() - 0.5;
            for (int k = 0; k < j; k++)
            {
                double dot = 0;
                for (int i = 0; i < n; i++) dot += v[i] * q[i, k];
                for (int i = 0; i < n; i++) v[i] -= dot * q[i, k];
            }
            double norm = Math.Sqrt(v.Sum(e => e * e));
            for (int i = 0; i < n; i++) q[i, j] = v[i] / norm;
        }
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int k = 0; k < n; k++) s += q[i, k] * (1 + 10.0 * k) * q[j, k];
                a[i * n + j] = s;
            }
        return a;
    }

    /// <summary>The standard start of (extended) Rosenbrock: −1.2, 1 repeated.</summary>
    public static double[] RosenbrockStart(int n) => Enumerable.Range(0, n).Select(i => i % 2 == 0 ? -1.2 : 1.0).ToArray();

    public static Expression<Func<double[], double>> ExtendedRosenbrock(int n) =>
        x => Enumerable.Range(0, n / 2).Sum(i => 100 * (x[2 * i + 1] - x[2 * i] * x[2 * i]) * (x[2 * i + 1] - x[2 * i] * x[2 * i]) + (1 - x[2 * i]) * (1 - x[2 * i]));

    /// <summary>Chained Rosenbrock: Σ 100 (x[i+1] − x[i]²)² + (1 − x[i])², minimum 0 at all ones; tridiagonal Hessian.</summary>
    public static Expression<Func<double[], double>> ChainedRosenbrock(int n) =>
        x => Enumerable.Range(0, n - 1).Sum(i => 100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (1 - x[i]) * (1 - x[i]));

    /// <summary>
    /// Moré, Garbow &amp; Hillstrom problem 28, the discrete boundary value function, as a sum of squares of
    /// f_i = 2x_i − x_{i−1} − x_{i+1} + h²(x_i + t_i + 1)³/2, x_0 = x_{n+1} = 0, h = 1/(n+1), t_i = i h; minimum 0.
    /// </summary>
    public static Expression<Func<double[], double>> BoundaryValue(int n)
    {
        double h = 1.0 / (n + 1);
        // The first and last residuals, whose outer neighbours are the zero boundary values, are written apart from the
        // interior sum so that no element outside x is indexed.
        return x =>
            (2 * x[0] - x[1] + h * h * (x[0] + h + 1) * (x[0] + h + 1) * (x[0] + h + 1) / 2)
          * (2 * x[0] - x[1] + h * h * (x[0] + h + 1) * (x[0] + h + 1) * (x[0] + h + 1) / 2)
          + Enumerable.Range(1, n - 2).Sum(i =>
                (2 * x[i] - x[i - 1] - x[i + 1] + h * h * (x[i] + (i + 1) * h + 1) * (x[i] + (i + 1) * h + 1) * (x[i] + (i + 1) * h + 1) / 2)
              * (2 * x[i] - x[i - 1] - x[i + 1] + h * h * (x[i] + (i + 1) * h + 1) * (x[i] + (i + 1) * h + 1) * (x[i] + (i + 1) * h + 1) / 2))
          + (2 * x[n - 1] - x[n - 2] + h * h * (x[n - 1] + n * h + 1) * (x[n - 1] + n * h + 1) * (x[n - 1] + n * h + 1) / 2)
          * (2 * x[n - 1] - x[n - 2] + h * h * (x[n - 1] + n * h + 1) * (x[n - 1] + n * h + 1) * (x[n - 1] + n * h + 1) / 2);
    }

    /// <summary>The residuals of <see cref="BoundaryValue"/>, written out independently.</summary>
    public static double[] BoundaryValueResiduals(double[] x)
    {
        int n = x.Length;
        double h = 1.0 / (n + 1);
        var f = new double[n];
        for (int i = 1; i <= n; i++)
        {
            double left = i > 1 ? x[i - 2] : 0, right = i < n ? x[i] : 0, t = i * h;
            f[i - 1] = 2 * x[i - 1] - left - right + h * h * Math.Pow(x[i - 1] + t + 1, 3) / 2;
        }
        return f;
    }

    /// <summary>MGH's start for the boundary value function: x_i = t_i (t_i − 1).</summary>
    public static double[] BoundaryValueStart(int n) => Enumerable.Range(1, n).Select(i => i / (n + 1.0) * (i / (n + 1.0) - 1)).ToArray();
}

/// <summary>Keeps every report, synchronously (unlike <see cref="Progress{T}"/>, which posts).</summary>
internal sealed class ReportLog<T> : IProgress<T>
{
    public readonly List<T> Reports = [];
    public Action<T>? OnReport;

    public void Report(T value)
    {
        Reports.Add(value);
        OnReport?.Invoke(value);
    }
}

/// <summary>
/// Records the thread's allocated bytes at each report, into an array sized beforehand, so recording allocates nothing:
/// the difference between two reports is what the minimiser allocated in the iterations between them.
/// </summary>
internal sealed class AllocationProbe<T>(int capacity) : IProgress<T>
{
    private readonly long[] _bytes = new long[capacity];
    private int _count;

    public void Reset() => _count = 0;

    public void Report(T value)
    {
        if (_count < _bytes.Length) _bytes[_count++] = GC.GetAllocatedBytesForCurrentThread();
    }

    public int Count => _count;

    /// <summary>Bytes allocated between report <paramref name="from"/> and the last report.</summary>
    public long Since(int from) => _bytes[_count - 1] - _bytes[from];

    /// <summary>
    /// Runs <paramref name="run"/> twice to warm up, then up to 10 times, and returns the fewest bytes allocated between the
    /// report <paramref name="from"/> and the last (see ExprAD.Tests.AllocationTests.Measure for why the fewest), with the
    /// number of reports of that run (so a test can check that the measured span covered many iterations).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public (long Bytes, int Reports) Measure(Action run, int from)
    {
        run();
        run();
        long fewest = long.MaxValue;
        int reports = 0;
        for (int attempt = 0; attempt < 10 && fewest != 0; attempt++)
        {
            Reset();
            run();
            long bytes = Since(from);
            if (bytes < fewest) (fewest, reports) = (bytes, _count);
        }
        return (fewest, reports);
    }
}
