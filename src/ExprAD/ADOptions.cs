namespace ExprAD;

/// <summary>
/// Choices that change how a delegate is compiled (never what it computes, up to the last bits where
/// <see cref="ParallelLoops"/> and <see cref="FastMath"/> say so). Part of the cache key: the same lambda with other
/// options is another kernel.
/// </summary>
public sealed record ADOptions
{
    /// <summary>The options used when none are given: every fold state taped, loops run on the calling thread.</summary>
    public static ADOptions Default { get; } = new();

    /// <summary>
    /// Reverse mode of a fold (<c>Aggregate</c>) keeps the carried state of every k-th iteration and recomputes the
    /// states in between from the nearest kept one while sweeping back: memory falls by a factor of k, forward work
    /// in the adjoint doubles. 1 (the default) keeps every state.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to less than 1.</exception>
    public int CheckpointInterval
    {
        get => _checkpointInterval;
        init => _checkpointInterval = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(CheckpointInterval), value, "The checkpoint interval must be at least 1.");
    }
    private readonly int _checkpointInterval = 1;

    /// <summary>
    /// Runs the outermost sums (and their adjoint loops) of at least <see cref="ParallelThreshold"/> iterations on all
    /// cores: the range is cut into a fixed number of blocks (at most 64, fewer when each block's private gradient would
    /// cost more than its iterations), each block keeps its own partial sums and gradient, and the blocks are added in
    /// block order on the calling thread. The blocks depend only on the trip count and the gradient's length, so results
    /// are bit-identical from run to run and whatever the number of cores or threads (but may differ in the last bits
    /// from the sequential order). Calls still allocate nothing, and delegates stay safe to call from many threads.
    /// </summary>
    public bool ParallelLoops { get; init; }

    /// <summary>The fewest iterations for which a sum runs in parallel when <see cref="ParallelLoops"/> is set (default 4096).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to less than 1.</exception>
    public int ParallelThreshold
    {
        get => _parallelThreshold;
        init => _parallelThreshold = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(ParallelThreshold), value, "The threshold must be at least 1.");
    }
    private readonly int _parallelThreshold = 4096;

    /// <summary>
    /// Runs elementwise loops (such as the adjoint of an inner sum: reads at index + c, arithmetic, max, min, abs,
    /// comparisons and selects, adds into
    /// adjoint arrays or the gradient at index + c) four iterations at a time with <c>Vector256</c> operations, when the
    /// machine accelerates them (default true). Results are bit-identical either way: every element undergoes the same
    /// operations in the same order. False keeps every loop scalar, for comparison.
    /// </summary>
    public bool VectorLoops { get; init; } = true;

    /// <summary>
    /// Trades C#'s exact results for speed, as a C compiler's fast-math flag does (default false). Elementwise loops (reads
    /// at index + c, arithmetic, adds into the gradient at index + c) may then also call <c>Math.Sin</c>, <c>Math.Cos</c>,
    /// <c>Math.Exp</c>, <c>Math.Log</c> and <c>Math.Tanh</c> and sum, and run four iterations at a time: the functions are
    /// ExprAD's own polynomials, within one unit in the last place of <see cref="Math"/>'s results (three for tanh; they
    /// differ in the last bit on about 8-16% of arguments), in the vector blocks and the loop's remainder alike, so an
    /// element's value does not depend on where it falls; and a sum of eight terms or more keeps four partial sums, added
    /// after the loop (another order of additions). Elsewhere (straight-line code, loops that stay scalar) the functions
    /// stay System.Math's, which are as fast one at a time. <c>Math.Pow(u, k)</c> with a constant integer k from -8 to 8 (not 0) is
    /// computed by multiplications (and a division for negative k) everywhere (Math.Pow itself is not exactly rounded either). Results are still the same
    /// from call to call on one machine, and derivatives use the same functions (the derivative of sin in such a loop is
    /// ExprAD's cos). Special values (NaN, infinities, signed zeros, huge arguments of sin and cos) come out as C#'s.
    /// </summary>
    public bool FastMath { get; init; }

    /// <summary>
    /// The most bytes of scratch memory (fold tapes, map arrays, adjoint arrays, the private sums of parallel blocks) that a
    /// thread keeps after a call for its next one (default 1 MiB). Calls whose scratch fits allocate nothing in steady
    /// state; a larger call allocates its scratch, and the part beyond this amount is let go when it returns, so a
    /// 10^7-step fold's 240 MB tape does not stay with the thread. Raise it for large folds called in a hot loop (for
    /// example to the tape's size: 8 bytes per state value and step), or use <see cref="CheckpointInterval"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a negative number.</exception>
    public long RetainWorkspace
    {
        get => _retainWorkspace;
        init => _retainWorkspace = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(RetainWorkspace), value, "The retained workspace cannot be negative.");
    }
    private readonly long _retainWorkspace = 1 << 20;

    /// <summary>The part of a kernel's cache key that these options contribute.</summary>
    internal string Key => $"k{CheckpointInterval}{(ParallelLoops ? "p" + ParallelThreshold : "")}{(VectorLoops ? "" : "s")}{(FastMath ? "m" : "")}r{RetainWorkspace}";
}
