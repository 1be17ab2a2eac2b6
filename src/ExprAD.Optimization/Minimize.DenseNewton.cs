namespace ExprAD.Optimization;

public static partial class Minimize
{
    /// <summary>
    /// Newton's method with the dense Hessian, in a trust region: each evaluation computes f, its gradient and the n x n
    /// Hessian in one call, and the step comes from the Steihaug–Toint conjugate gradients of
    /// <see cref="SparseNewton(SparseHessianFunc, double[], MinimizeOptions?)"/> with products on the dense matrix (solved to
    /// η = min(½, |g|): quadratic convergence near a minimiser). For small n (up to a few hundred) where the Hessian is dense;
    /// for large or sparse problems use <see cref="NewtonCG(HessianVectorFunc, double[], MinimizeOptions?)"/> or
    /// <see cref="SparseNewton(SparseHessianFunc, double[], MinimizeOptions?)"/>.
    /// </summary>
    /// <remarks>
    /// An iteration is an accepted step; every evaluation computes the Hessian, so <see cref="MinimizeResult.Evaluations"/>
    /// and <see cref="MinimizeResult.HessianEvaluations"/> are equal. Allocates two n x n matrices and a few vectors once
    /// per run, nothing per iteration.
    /// </remarks>
    /// <param name="f">f's value, gradient and Hessian, from <see cref="AD.Hessian(System.Linq.Expressions.Expression{Func{double[], double}}, ADOptions?)"/>.</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="options">Stopping criteria and trust-region settings; <see cref="MinimizeOptions.Default"/> when null.</param>
    /// <returns>The final point and why the run stopped.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> or <paramref name="x0"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x0"/>, or f or its gradient at <paramref name="x0"/>, is not finite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static MinimizeResult Newton(HessianFunc f, double[] x0, MinimizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(x0);
        return DenseNewtonRun(new DenseHessianObjective(f), x0, options);
    }

    /// <summary>Dense Newton (see <see cref="Newton(HessianFunc, double[], MinimizeOptions?)"/>) on f(x, data), minimised over x.</summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    /// <param name="f">f's value, gradient and Hessian with respect to x.</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="data">The data argument passed to every call.</param>
    /// <param name="options">Stopping criteria and trust-region settings; <see cref="MinimizeOptions.Default"/> when null.</param>
    /// <returns>The final point and why the run stopped.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> or <paramref name="x0"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x0"/>, or f or its gradient at <paramref name="x0"/>, is not finite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static MinimizeResult Newton<TData>(HessianFunc<TData> f, double[] x0, TData data, MinimizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(x0);
        return DenseNewtonRun(new DenseHessianObjective<TData>(f, data), x0, options);
    }

    private static MinimizeResult DenseNewtonRun<TObjective>(TObjective objective, double[] x0, MinimizeOptions? options)
        where TObjective : struct, IDenseHessianObjective
    {
        int n = x0.Length;
        var monitor = new RunMonitor(options, n, x0);
        var work = new TrustRegion.Workspace(n);
        var model = new DenseModel<TObjective>(objective, n);
        return TrustRegion.Run(ref model, work, monitor, x0, quadraticForcing: true);
    }
}

/// <summary>f, its gradient and its dense Hessian (row-major), as one call.</summary>
internal interface IDenseHessianObjective
{
    /// <summary>Writes the gradient and the n x n Hessian, returns f(x).</summary>
    double Evaluate(ReadOnlySpan<double> x, Span<double> gradient, Span<double> hessian);
}

/// <summary>A <see cref="HessianFunc"/>.</summary>
internal readonly struct DenseHessianObjective(HessianFunc f) : IDenseHessianObjective
{
    public double Evaluate(ReadOnlySpan<double> x, Span<double> gradient, Span<double> hessian) => f(x, gradient, hessian);
}

/// <summary>A <see cref="HessianFunc{TData}"/> with its data bound.</summary>
internal readonly struct DenseHessianObjective<TData>(HessianFunc<TData> f, TData data) : IDenseHessianObjective
{
    public double Evaluate(ReadOnlySpan<double> x, Span<double> gradient, Span<double> hessian) => f(x, data, gradient, hessian);
}

/// <summary>
/// The Hessian as a dense row-major matrix: the current point's and a trial point's, which trade places when the trial
/// is accepted (so an accepted step's Hessian is not evaluated again), as <see cref="MatrixModel{TObjective}"/> does for CSR.
/// </summary>
internal struct DenseModel<TObjective>(TObjective f, int n) : INewtonModel
    where TObjective : struct, IDenseHessianObjective
{
    private double[] _matrix = new double[n * n], _trialMatrix = new double[n * n];
    private int _evaluations;

    public readonly void Multiply(ReadOnlySpan<double> v, Span<double> hv)
    {
        var matrix = _matrix.AsSpan();
        for (int i = 0; i < n; i++) hv[i] = Vectors.Dot(matrix.Slice(i * n, n), v);
    }

    public double Evaluate(ReadOnlySpan<double> x, Span<double> gradient)
    {
        _evaluations++;
        return f.Evaluate(x, gradient, _trialMatrix);
    }

    public void Accept() => (_matrix, _trialMatrix) = (_trialMatrix, _matrix);

    public readonly int HessianEvaluations => _evaluations;

    /// <summary>|H_ii|, floored (see <see cref="TrustRegion.FloorPreconditioner"/>).</summary>
    public readonly bool Diagonal(Span<double> diagonal)
    {
        for (int i = 0; i < n; i++) diagonal[i] = Math.Abs(_matrix[i * n + i]);
        TrustRegion.FloorPreconditioner(diagonal);
        return true;
    }
}
