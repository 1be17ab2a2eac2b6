namespace ExprAD.Optimization;

public static partial class Minimize
{
    /// <summary>
    /// Newton's method with the sparse Hessian, in a trust region: the pattern is found once per run, each iteration
    /// evaluates f, its gradient and the Hessian's CSR values in one call, and the step comes from the same Steihaug–Toint
    /// conjugate gradients as <see cref="NewtonCG(HessianVectorFunc, double[], MinimizeOptions?)"/>, with products on the CSR
    /// values (cheap, so CG solves to η = min(½, |g|): quadratic convergence near a minimiser). Indefinite Hessians are
    /// handled by the trust region (a direction of negative curvature is followed to its boundary).
    /// <see cref="MinimizeOptions.JacobiPreconditioner"/> preconditions CG with the Hessian's diagonal.
    /// </summary>
    /// <remarks>
    /// An iteration is an accepted step. Every evaluation (at the start and at each trial point) computes the value, the
    /// gradient and the Hessian, so <see cref="MinimizeResult.Evaluations"/> and <see cref="MinimizeResult.HessianEvaluations"/>
    /// are equal; an accepted trial's Hessian is the next iteration's. Allocates its workspace once per run (vectors of
    /// length n and two arrays of the pattern's nonzeros) and nothing per iteration.
    /// </remarks>
    /// <param name="f">f's value, gradient and sparse Hessian, from <see cref="AD.SparseHessian(System.Linq.Expressions.Expression{Func{double[], double}}, ADOptions?)"/>.</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="options">Stopping criteria and trust-region settings; <see cref="MinimizeOptions.Default"/> when null.</param>
    /// <returns>The final point and why the run stopped.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> or <paramref name="x0"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x0"/>, or f or its gradient at <paramref name="x0"/>, is not finite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static MinimizeResult SparseNewton(SparseHessianFunc f, double[] x0, MinimizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(x0);
        return SparseNewtonRun(new SparseHessianObjective(f), x0, options);
    }

    /// <summary>Sparse Newton (see <see cref="SparseNewton(SparseHessianFunc, double[], MinimizeOptions?)"/>) on f(x, data), minimised over x.</summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    /// <param name="f">f's value, gradient and sparse Hessian with respect to x.</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="data">The data argument passed to every call (the pattern is found for it once).</param>
    /// <param name="options">Stopping criteria and trust-region settings; <see cref="MinimizeOptions.Default"/> when null.</param>
    /// <returns>The final point and why the run stopped.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> or <paramref name="x0"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x0"/>, or f or its gradient at <paramref name="x0"/>, is not finite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static MinimizeResult SparseNewton<TData>(SparseHessianFunc<TData> f, double[] x0, TData data, MinimizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(x0);
        return SparseNewtonRun(new SparseHessianObjective<TData>(f, data), x0, options);
    }

    private static MinimizeResult SparseNewtonRun<TObjective>(TObjective objective, double[] x0, MinimizeOptions? options)
        where TObjective : struct, ISparseHessianObjective
    {
        int n = x0.Length;
        var monitor = new RunMonitor(options, n, x0);
        var pattern = objective.Pattern(n);
        var work = new TrustRegion.Workspace(n);
        var model = new MatrixModel<TObjective>(objective, pattern);
        return TrustRegion.Run(ref model, work, monitor, x0, quadraticForcing: true);
    }
}

/// <summary>f, its gradient and its sparse Hessian's values, as one call.</summary>
internal interface ISparseHessianObjective
{
    /// <summary>The Hessian's pattern for inputs of length <paramref name="n"/>.</summary>
    SparsityPattern Pattern(int n);

    /// <summary>Writes the gradient and the Hessian's values (in the pattern's CSR order), returns f(x).</summary>
    double Evaluate(ReadOnlySpan<double> x, Span<double> gradient, Span<double> values);
}

/// <summary>A <see cref="SparseHessianFunc"/>.</summary>
internal readonly struct SparseHessianObjective(SparseHessianFunc f) : ISparseHessianObjective
{
    public SparsityPattern Pattern(int n) => f.Pattern(n);
    public double Evaluate(ReadOnlySpan<double> x, Span<double> gradient, Span<double> values) => f.Evaluate(x, gradient, values);
}

/// <summary>A <see cref="SparseHessianFunc{TData}"/> with its data bound.</summary>
internal readonly struct SparseHessianObjective<TData>(SparseHessianFunc<TData> f, TData data) : ISparseHessianObjective
{
    public SparsityPattern Pattern(int n) => f.Pattern(n, data);
    public double Evaluate(ReadOnlySpan<double> x, Span<double> gradient, Span<double> values) => f.Evaluate(x, data, gradient, values);
}

/// <summary>
/// The Hessian as a CSR matrix: the current point's values and a trial point's, which trade places when the trial is
/// accepted (so an accepted step's Hessian is not evaluated again).
/// </summary>
internal struct MatrixModel<TObjective> : INewtonModel
    where TObjective : struct, ISparseHessianObjective
{
    private readonly TObjective _f;
    private readonly int[] _rowPointers, _columns;
    // The position of H_ii among the values, or -1 where the pattern has no diagonal entry.
    private readonly int[] _diagonalAt;
    private double[] _values, _trialValues;
    private int _evaluations;

    public MatrixModel(TObjective f, SparsityPattern pattern)
    {
        _f = f;
        _rowPointers = pattern.RowPointers;
        _columns = pattern.ColumnIndices;
        _values = new double[pattern.NonZeros];
        _trialValues = new double[pattern.NonZeros];
        _diagonalAt = new int[pattern.Rows];
        for (int i = 0; i < pattern.Rows; i++)
        {
            int from = _rowPointers[i], count = _rowPointers[i + 1] - from;
            int k = Array.BinarySearch(_columns, from, count, i);
            _diagonalAt[i] = k >= 0 ? k : -1;
        }
    }

    public readonly void Multiply(ReadOnlySpan<double> v, Span<double> hv)
    {
        int[] pointers = _rowPointers, columns = _columns;
        double[] values = _values;
        for (int i = 0; i < hv.Length; i++)
        {
            double sum = 0;
            for (int k = pointers[i]; k < pointers[i + 1]; k++) sum += values[k] * v[columns[k]];
            hv[i] = sum;
        }
    }

    public double Evaluate(ReadOnlySpan<double> x, Span<double> gradient)
    {
        _evaluations++;
        return _f.Evaluate(x, gradient, _trialValues);
    }

    public void Accept() => (_values, _trialValues) = (_trialValues, _values);

    public readonly int HessianEvaluations => _evaluations;

    /// <summary>|H_ii|, floored (see <see cref="TrustRegion.FloorPreconditioner"/>).</summary>
    public readonly bool Diagonal(Span<double> diagonal)
    {
        for (int i = 0; i < diagonal.Length; i++)
        {
            int k = _diagonalAt[i];
            diagonal[i] = k < 0 ? 0 : Math.Abs(_values[k]);
        }
        TrustRegion.FloorPreconditioner(diagonal);
        return true;
    }
}
