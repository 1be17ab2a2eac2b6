namespace ExprAD.Optimization;

/// <summary>
/// Stopping criteria and settings shared by the minimisers of <see cref="Minimize"/>. Every criterion is checked once per
/// iteration; the first that holds ends the run and is named by <see cref="MinimizeResult.Reason"/>.
/// </summary>
public sealed partial record MinimizeOptions
{
    /// <summary>The default options.</summary>
    public static MinimizeOptions Default { get; } = new();

    /// <summary>Converged when the gradient's infinity norm is at most this (default 1e-6).</summary>
    public double GradientTolerance { get; init; } = 1e-6;

    /// <summary>
    /// Converged when an iteration changes f by at most this relative amount, |f_k - f_k+1| &lt;= tol · max(|f_k|, |f_k+1|, 1)
    /// (default 0: off, so that only the gradient decides).
    /// </summary>
    public double FunctionTolerance { get; init; }

    /// <summary>The most iterations (default 10,000).</summary>
    public int MaxIterations { get; init; } = 10_000;

    /// <summary>The most calls of f (default 100,000); a line search stops short of exceeding it.</summary>
    public int MaxEvaluations { get; init; } = 100_000;

    /// <summary>Wall-clock limit (default none).</summary>
    public TimeSpan? TimeLimit { get; init; }

    /// <summary>Checked once per iteration; a cancelled run returns its last point with reason <see cref="StopReason.Cancelled"/>.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Told after every iteration (and once for the starting point, iteration 0).</summary>
    public IProgress<IterationReport>? Progress { get; init; }

    /// <summary>L-BFGS: the number of correction pairs kept (default 10).</summary>
    public int History { get; init; } = 10;
}

/// <summary>One iteration's state, reported through <see cref="MinimizeOptions.Progress"/> (a struct: reporting allocates nothing of its own).</summary>
/// <param name="Iteration">Iterations done (0 for the starting point).</param>
/// <param name="Value">f at the current point.</param>
/// <param name="GradientNorm">The gradient's infinity norm there.</param>
/// <param name="StepLength">The length of the last step taken (0 at iteration 0).</param>
/// <param name="Evaluations">Calls of f so far.</param>
/// <param name="Elapsed">Time since the run started.</param>
public readonly record struct IterationReport(int Iteration, double Value, double GradientNorm, double StepLength, int Evaluations, TimeSpan Elapsed);

/// <summary>Why a minimiser stopped.</summary>
public enum StopReason
{
    /// <summary>The gradient's infinity norm fell to <see cref="MinimizeOptions.GradientTolerance"/> (converged).</summary>
    GradientTolerance,
    /// <summary>The relative change of f fell to <see cref="MinimizeOptions.FunctionTolerance"/> (converged).</summary>
    FunctionTolerance,
    /// <summary><see cref="MinimizeOptions.MaxIterations"/> reached.</summary>
    MaxIterations,
    /// <summary><see cref="MinimizeOptions.MaxEvaluations"/> reached.</summary>
    MaxEvaluations,
    /// <summary><see cref="MinimizeOptions.TimeLimit"/> passed.</summary>
    TimeLimit,
    /// <summary><see cref="MinimizeOptions.Cancellation"/> was cancelled.</summary>
    Cancelled,
    /// <summary>No step along the search direction lowered f enough (f or its gradient not finite there, or rounding).</summary>
    LineSearchFailed,
    /// <summary>Every epoch of a stochastic driver ran.</summary>
    EpochsCompleted,
    /// <summary>A stochastic driver met a batch loss, gradient or step that is not finite; the result holds the point where the last step with finite values started.</summary>
    Diverged,
}

/// <summary>The outcome of a minimisation.</summary>
public sealed partial record MinimizeResult
{
    /// <summary>The final point (a new array; the starting point is not changed).</summary>
    public required double[] X { get; init; }
    /// <summary>f at <see cref="X"/>.</summary>
    public required double Value { get; init; }
    /// <summary>The gradient's infinity norm at <see cref="X"/>.</summary>
    public required double GradientNorm { get; init; }
    /// <summary>Iterations done.</summary>
    public required int Iterations { get; init; }
    /// <summary>Calls of f (each gives the value and the gradient).</summary>
    public required int Evaluations { get; init; }
    /// <summary>Hessian-vector products (Newton-CG, SMD) or sparse Hessian evaluations (sparse Newton).</summary>
    public int HessianEvaluations { get; init; }
    /// <summary>Why the run stopped.</summary>
    public required StopReason StopReason { get; init; }
    /// <summary>True when a convergence test ended the run (<see cref="StopReason.GradientTolerance"/> or <see cref="StopReason.FunctionTolerance"/>).</summary>
    public bool Converged => StopReason is StopReason.GradientTolerance or StopReason.FunctionTolerance;
    /// <summary>The stopping reason in words, with the numbers that decided it.</summary>
    public required string Reason { get; init; }
    /// <summary>Wall-clock time of the run.</summary>
    public TimeSpan Elapsed { get; init; }
}
