namespace ExprAD.Optimization;

/// <summary>
/// Settings of the minibatch drivers of <see cref="Stochastic"/>. Each run makes <see cref="Epochs"/> passes over the
/// samples, each in a fresh order shuffled by a generator seeded with <see cref="Seed"/>, in batches of
/// <see cref="BatchSize"/>.
/// </summary>
public sealed record StochasticOptions
{
    /// <summary>The default options.</summary>
    public static StochasticOptions Default { get; } = new();

    /// <summary>Samples per step (default 32); the last batch of an epoch holds the remainder.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Passes over the samples (default 10).</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>Seeds the shuffles (default 0): a seed gives the same batches, so the same run, every time.</summary>
    public int Seed { get; init; }

    /// <summary>The step size of SGD and Adam, and SMD's initial gain unless <see cref="InitialGain"/> is set (default 0.01).</summary>
    public double LearningRate { get; init; } = 0.01;

    /// <summary>SGD: the heavy-ball momentum in [0, 1) (default 0: plain SGD; 0.9 is the usual choice with momentum).</summary>
    public double Momentum { get; init; }

    /// <summary>Adam: the decay of the first-moment average (default 0.9).</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>Adam: the decay of the second-moment average (default 0.999).</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>Adam: added to the root of the second moment (default 1e-8).</summary>
    public double Epsilon { get; init; } = 1e-8;

    /// <summary>SMD: the meta step size μ of the gain update p ← p ⊙ max(½, 1 − μ g ⊙ v) (default 0.01).</summary>
    public double MetaRate { get; init; } = 0.01;

    /// <summary>SMD: the decay λ in [0, 1] of the trace v ← λ v − p ⊙ (g + λ H v) (default 0.99).</summary>
    public double Decay { get; init; } = 0.99;

    /// <summary>SMD: every parameter's gain at the start (default null: <see cref="LearningRate"/>).</summary>
    public double? InitialGain { get; init; }

    /// <summary>Checked before every step; a cancelled run ends with <see cref="StopReason.Cancelled"/> (after its final full evaluation).</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Told after every step: the batch's loss and gradient norm, the step's length, the calls of f so far.</summary>
    public IProgress<IterationReport>? Progress { get; init; }

    /// <summary>Told after every epoch.</summary>
    public IProgress<EpochReport>? EpochProgress { get; init; }

    /// <summary>Throws when a setting is out of range.</summary>
    internal void Check()
    {
        static void Fail(string what) => throw new ArgumentOutOfRangeException("options", what);
        if (BatchSize < 1) Fail($"BatchSize is {BatchSize}; it must be at least 1.");
        if (Epochs < 1) Fail($"Epochs is {Epochs}; it must be at least 1.");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) Fail($"LearningRate is {LearningRate}; it must be positive and finite.");
        if (!(Momentum >= 0 && Momentum < 1)) Fail($"Momentum is {Momentum}; it must be in [0, 1).");
        if (!(Beta1 >= 0 && Beta1 < 1)) Fail($"Beta1 is {Beta1}; it must be in [0, 1).");
        if (!(Beta2 >= 0 && Beta2 < 1)) Fail($"Beta2 is {Beta2}; it must be in [0, 1).");
        if (!(Epsilon > 0) || !double.IsFinite(Epsilon)) Fail($"Epsilon is {Epsilon}; it must be positive and finite.");
        if (!(MetaRate >= 0) || !double.IsFinite(MetaRate)) Fail($"MetaRate is {MetaRate}; it must be nonnegative and finite.");
        if (!(Decay >= 0 && Decay <= 1)) Fail($"Decay is {Decay}; it must be in [0, 1].");
        if (InitialGain is { } gain && (!(gain > 0) || !double.IsFinite(gain))) Fail($"InitialGain is {gain}; it must be positive and finite.");
    }
}

/// <summary>One epoch's summary, reported through <see cref="StochasticOptions.EpochProgress"/>.</summary>
/// <param name="Epoch">The epoch just finished, from 1.</param>
/// <param name="Steps">Steps taken so far in the run (all epochs).</param>
/// <param name="MeanLoss">The mean of f over the epoch's batches, each at the point where its step started.</param>
/// <param name="Elapsed">Time since the run started.</param>
public readonly record struct EpochReport(int Epoch, int Steps, double MeanLoss, TimeSpan Elapsed);
