using System.Diagnostics;

namespace ExprAD.Optimization;

/// <summary>
/// The bookkeeping every minimiser shares: counts, the clock, the stopping tests in one order, progress reports and the
/// result. One per run, allocated before the first iteration; nothing in it allocates per iteration.
/// </summary>
internal sealed class RunMonitor
{
    private readonly MinimizeOptions _options;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public RunMonitor(MinimizeOptions? options, int n, double[] x0)
    {
        _options = options ?? MinimizeOptions.Default;
        ArgumentNullException.ThrowIfNull(x0);
        if (x0.Length != n) throw new ArgumentException($"x0 has {x0.Length} elements where {n} were expected.", nameof(x0));
        for (int i = 0; i < x0.Length; i++)
            if (!double.IsFinite(x0[i])) throw new ArgumentException($"x0[{i}] is {x0[i]}: the starting point must be finite.", nameof(x0));
        if (_options.GradientTolerance < 0) throw new ArgumentOutOfRangeException(nameof(options), "GradientTolerance cannot be negative.");
        if (_options.MaxIterations < 0 || _options.MaxEvaluations < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxIterations must be >= 0 and MaxEvaluations >= 1.");
    }

    public MinimizeOptions Options => _options;
    public int Iterations { get; private set; }
    public int Evaluations { get; set; }
    public int HessianEvaluations { get; set; }
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>True while another evaluation of f stays within <see cref="MinimizeOptions.MaxEvaluations"/>.</summary>
    public bool CanEvaluate => Evaluations < _options.MaxEvaluations;

    /// <summary>Throws <see cref="ArgumentException"/> naming f or its gradient when either is not finite at the starting point.</summary>
    public static void CheckStart(double value, ReadOnlySpan<double> gradient)
    {
        if (!double.IsFinite(value)) throw new ArgumentException($"f(x0) is {value}: the objective must be finite at the starting point.", "x0");
        for (int i = 0; i < gradient.Length; i++)
            if (!double.IsFinite(gradient[i])) throw new ArgumentException($"The gradient at x0 has element {i} = {gradient[i]}: it must be finite at the starting point.", "x0");
    }

    /// <summary>Reports the starting point (iteration 0) and tests whether it already satisfies the gradient tolerance.</summary>
    public bool Start(double value, double gradientNorm, out StopReason reason)
    {
        Report(value, gradientNorm, 0);
        return Stop(double.NaN, value, gradientNorm, out reason);
    }

    /// <summary>
    /// Counts one iteration that moved from f = <paramref name="previous"/> to f = <paramref name="value"/>, reports it,
    /// and tests the stopping criteria in a fixed order: gradient, f change, cancellation, time, iterations, evaluations.
    /// </summary>
    public bool Iterated(double previous, double value, double gradientNorm, double stepLength, out StopReason reason)
    {
        Iterations++;
        Report(value, gradientNorm, stepLength);
        return Stop(previous, value, gradientNorm, out reason);
    }

    private bool Stop(double previous, double value, double gradientNorm, out StopReason reason)
    {
        reason = default;
        if (gradientNorm <= _options.GradientTolerance) reason = StopReason.GradientTolerance;
        else if (_options.FunctionTolerance > 0 && !double.IsNaN(previous)
                 && Math.Abs(previous - value) <= _options.FunctionTolerance * Math.Max(1, Math.Max(Math.Abs(previous), Math.Abs(value))))
            reason = StopReason.FunctionTolerance;
        else if (_options.Cancellation.IsCancellationRequested) reason = StopReason.Cancelled;
        else if (_options.TimeLimit is { } limit && _clock.Elapsed >= limit) reason = StopReason.TimeLimit;
        else if (Iterations >= _options.MaxIterations) reason = StopReason.MaxIterations;
        else if (Evaluations >= _options.MaxEvaluations) reason = StopReason.MaxEvaluations;
        else return false;
        return true;
    }

    private void Report(double value, double gradientNorm, double stepLength) =>
        _options.Progress?.Report(new IterationReport(Iterations, value, gradientNorm, stepLength, Evaluations, _clock.Elapsed));

    /// <summary>The result at <paramref name="x"/>, with the reason in words.</summary>
    public MinimizeResult Result(ReadOnlySpan<double> x, double value, double gradientNorm, StopReason reason, string? detail = null)
    {
        string words = reason switch
        {
            StopReason.GradientTolerance => $"gradient norm {gradientNorm:G3} <= {_options.GradientTolerance:G3}",
            StopReason.FunctionTolerance => $"relative change of f <= {_options.FunctionTolerance:G3}",
            StopReason.MaxIterations => $"{_options.MaxIterations} iterations reached (gradient norm {gradientNorm:G3})",
            StopReason.MaxEvaluations => $"{_options.MaxEvaluations} evaluations reached (gradient norm {gradientNorm:G3})",
            StopReason.TimeLimit => $"time limit {_options.TimeLimit} passed (gradient norm {gradientNorm:G3})",
            StopReason.Cancelled => $"cancelled (gradient norm {gradientNorm:G3})",
            StopReason.LineSearchFailed => $"the line search found no acceptable step (gradient norm {gradientNorm:G3})",
            StopReason.EpochsCompleted => $"all epochs ran (gradient norm {gradientNorm:G3})",
            _ => reason.ToString(),
        };
        return new MinimizeResult
        {
            X = x.ToArray(),
            Value = value,
            GradientNorm = gradientNorm,
            Iterations = Iterations,
            Evaluations = Evaluations,
            HessianEvaluations = HessianEvaluations,
            StopReason = reason,
            Reason = detail is null ? words : $"{words}: {detail}",
            Elapsed = _clock.Elapsed,
        };
    }
}
