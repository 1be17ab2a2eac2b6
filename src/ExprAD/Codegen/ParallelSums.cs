using System.ComponentModel;
using System.Runtime.ExceptionServices;

namespace ExprAD.Codegen;

/// <summary>
/// The worker of a sum outlined for parallel loops: runs iterations [<paramref name="from"/>, <paramref name="to"/>)
/// of the loop body, writes the partial sums into <paramref name="results"/> and adds the adjoints of the elements
/// it reads into <paramref name="gradient"/>. Public only because compiled kernels must be able to name it.
/// </summary>
/// <param name="constants">The runtime constants of the lambda instance.</param>
/// <param name="x">The point.</param>
/// <param name="data">The data argument (null when the lambda has none).</param>
/// <param name="gradient">Where the adjoints of the elements read go (empty when the sum has none).</param>
/// <param name="frame">The captured scalars of the loop, as the kernel stored them.</param>
/// <param name="from">The first iteration.</param>
/// <param name="to">One past the last iteration.</param>
/// <param name="results">One entry per result of the sum.</param>
[EditorBrowsable(EditorBrowsableState.Never)]
public delegate void RegionWorker<TData>(object[] constants, ReadOnlySpan<double> x, TData data, Span<double> gradient,
    double[] frame, int from, int to, Span<double> results);

/// <summary>
/// How a parallel sum is cut into blocks, and counters tests use. The decomposition depends only on the trip count
/// and the gradient's length, never on the number of cores or on scheduling: each block is summed in iteration
/// order into its own slot, and the slots are added in block order, so results are bit-identical from run to run
/// and on any machine.
/// </summary>
internal static class ParallelSums
{
    /// <summary>The most blocks a sum is cut into; enough to balance a few cores when blocks take unequal times.</summary>
    public const int MaxBlocks = 64;

    /// <summary>The most doubles of private gradients one call may hold (8 MB): blocks × gradient length stays below it.</summary>
    public const int GradientBudget = 1 << 20;

    /// <summary>
    /// The number of blocks for <paramref name="count"/> iterations whose body adds into a gradient of
    /// <paramref name="gradientLength"/> entries (0: it adds into none). Each block needs a private gradient, cleared
    /// and reduced at a cost of about twice its length, so a block gets at least as many iterations as the gradient
    /// has entries; 1 means the sum runs on the calling thread.
    /// </summary>
    public static int BlockCount(int count, int gradientLength)
    {
        long blocks = Math.Min(MaxBlocks, count);
        if (gradientLength > 0) blocks = Math.Min(blocks, Math.Min(count / gradientLength, GradientBudget / gradientLength));
        return (int)Math.Max(1, blocks);
    }

    /// <summary>The block size: blocks are [start + b·size, start + (b+1)·size) clipped to the range, all but the last full.</summary>
    public static int BlockSize(int count, int blocks) => (int)(((long)count + blocks - 1) / blocks);

    /// <summary>
    /// The most helper threads a call asks the thread pool for (the calling thread works too). Only the speed
    /// depends on it; tests vary it to show that the results do not.
    /// </summary>
    internal static int MaxHelpers = Math.Max(0, Environment.ProcessorCount - 1);

    /// <summary>How many calls have taken the parallel path (for tests).</summary>
    internal static long ParallelRuns;
}

/// <summary>
/// One parallel run of a sum: the calling thread and up to <see cref="ParallelSums.MaxHelpers"/> thread-pool helpers
/// claim blocks in increasing order, each block writes into its own slot of <see cref="_buffer"/>, and the calling
/// thread waits for every block, then adds the slots in block order. A job is cached per thread and reused, so a
/// steady-state call allocates nothing; the point span is pinned for the whole run (the caller does not return
/// before every block is done), so helpers read it through a pointer without copying it.
/// </summary>
/// <remarks>
/// Helpers are queued per call but may start late, after the call that queued them has finished and the job serves
/// another call. <see cref="_state"/> packs the block count of the current call (high 32 bits) with the next
/// unclaimed block (low 32 bits), replaced as one word when a call starts: an increment that yields a block below the
/// count is a claim on the call in progress (which cannot finish before that block is done, so its fields stay
/// valid); any other increment claims nothing, and a late helper simply exits (or helps the next call).
/// The calling thread claims blocks too and waits only for blocks already running, so a call completes even when
/// no helper ever starts (a starved thread pool, or a parallel kernel called from inside a block).
/// </remarks>
internal sealed unsafe class SumJob<TData> : IThreadPoolWorkItem
{
    [ThreadStatic] private static SumJob<TData>? t_cached;

    private long _state;
    private int _remaining;
    private bool _inUse;
    private int _queuedHelpers;
    private volatile bool _stop;
    private int _failedBlock;
    private Exception? _failure;
    private readonly ManualResetEventSlim _done = new(false);
    private double[] _buffer = [];

    // The call in progress; written before _state publishes it.
    private RegionWorker<TData>? _worker;
    private object[]? _constants;
    private TData? _data;
    private double[]? _frame;
    private nint _x;
    private int _xLength, _start, _count, _blocks, _blockSize, _resultCount, _gradientLength, _stride;

    /// <summary>Runs the sum: on the calling thread below the threshold (or in one block), else in parallel blocks.</summary>
    public static void Run(RegionWorker<TData> worker, object[] constants, ReadOnlySpan<double> x, TData data, Span<double> gradient,
        double[] frame, int resultOffset, int resultCount, int start, int count, int threshold, bool scatters, long retainBytes)
    {
        var results = frame.AsSpan(resultOffset, resultCount);
        int gradientLength = scatters ? gradient.Length : 0;
        int blocks = count >= threshold ? ParallelSums.BlockCount(count, gradientLength) : 1;
        if (blocks == 1)
        {
            // The same worker over the whole range, adding straight into the caller's gradient: the sequential order.
            worker(constants, x, data, gradient, frame, start, start + count, results);
            return;
        }
        Interlocked.Increment(ref ParallelSums.ParallelRuns);
        // A kernel called from inside a block on this thread finds the cached job busy and uses a job of its own.
        var job = t_cached;
        if (job is null || job._inUse)
        {
            job = new SumJob<TData>();
            t_cached ??= job;
        }
        job._inUse = true;
        try
        {
            fixed (double* point = x)
            {
                job.Start(worker, constants, (nint)point, x.Length, data, gradientLength, frame, start, count, blocks, resultCount);
                bool queued = false;
                try
                {
                    job.QueueHelpers(Math.Min(ParallelSums.MaxHelpers, blocks - 1));
                    queued = true;
                }
                finally
                {
                    // Whatever happens, no block may run after the pinned point goes out of scope.
                    if (!queued) job._stop = true;
                    job.Work();
                    job.WaitForBlocks();
                }
            }
            if (job._failure is { } failure) ExceptionDispatchInfo.Throw(failure);
            job.Reduce(results, scatters ? gradient : default);
        }
        finally
        {
            job.Finish(retainBytes);
        }
    }

    private void Start(RegionWorker<TData> worker, object[] constants, nint x, int xLength, TData data, int gradientLength,
        double[] frame, int start, int count, int blocks, int resultCount)
    {
        _worker = worker;
        _constants = constants;
        _data = data;
        _frame = frame;
        _x = x;
        _xLength = xLength;
        _start = start;
        _count = count;
        _blocks = blocks;
        _blockSize = ParallelSums.BlockSize(count, blocks);
        _resultCount = resultCount;
        _gradientLength = gradientLength;
        // At least a cache line (8 doubles) between slots, wherever the array starts, so blocks running at once never
        // write one line (the private gradients are written in every iteration).
        _stride = ((resultCount + gradientLength + 7) & ~7) + 8;
        if (_buffer.Length < (long)blocks * _stride) _buffer = new double[blocks * _stride];
        _stop = false;
        _failure = null;
        _failedBlock = int.MaxValue;
        _remaining = blocks;
        _done.Reset();
        // Publishes the call: from here on, increments of _state claim its blocks.
        Interlocked.Exchange(ref _state, (long)blocks << 32);
    }

    /// <summary>Claims and runs blocks until none is left. Never throws: a block's exception is recorded.</summary>
    private void Work()
    {
        while (true)
        {
            long claim = Interlocked.Increment(ref _state) - 1;
            int block = (int)(claim & 0xFFFF_FFFF), blocks = (int)(claim >> 32);
            if (block >= blocks) return;
            if (!_stop)
            {
                try
                {
                    RunBlock(block);
                }
                catch (Exception e)
                {
                    Fail(block, e);
                }
            }
            if (Interlocked.Decrement(ref _remaining) == 0) _done.Set();
        }
    }

    /// <summary>
    /// Queues helpers until <paramref name="wanted"/> are queued and not yet started. Helpers queued by an earlier call
    /// that have not started yet count: they will help this call (or a later one) when they start. So a job never has
    /// more than <paramref name="wanted"/> items waiting in the pool's queue, however long the pool takes to start
    /// them (on a loaded machine it may take longer than a call): the queue does not grow, and queueing allocates nothing.
    /// </summary>
    private void QueueHelpers(int wanted)
    {
        for (int h = Volatile.Read(ref _queuedHelpers); h < wanted; h++)
        {
            Interlocked.Increment(ref _queuedHelpers);
            try
            {
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            }
            catch
            {
                Interlocked.Decrement(ref _queuedHelpers);
                throw;
            }
        }
    }

    void IThreadPoolWorkItem.Execute()
    {
        Interlocked.Decrement(ref _queuedHelpers);
        Work();
    }

    private void RunBlock(int block)
    {
        int from = _start + block * _blockSize;
        int to = (int)Math.Min((long)from + _blockSize, (long)_start + _count);
        var slot = _buffer.AsSpan(block * _stride, _stride);
        var gradient = slot.Slice(_resultCount, _gradientLength);
        gradient.Clear();
        _worker!(_constants!, new ReadOnlySpan<double>((void*)_x, _xLength), _data!, gradient, _frame!, from, to, slot[.._resultCount]);
    }

    /// <summary>
    /// Keeps the exception of the lowest failing block, and stops blocks not yet started. Blocks are claimed in
    /// increasing order, so every block before the lowest failure has run: its exception is the one a sequential loop
    /// would have thrown first, whatever the scheduling.
    /// </summary>
    private void Fail(int block, Exception e)
    {
        lock (_done)
        {
            if (block < _failedBlock)
            {
                _failedBlock = block;
                _failure = e;
            }
        }
        _stop = true;
    }

    private void WaitForBlocks()
    {
        // Reset before re-checking: a Set from a late helper of an earlier call only costs one more turn of the loop.
        while (Volatile.Read(ref _remaining) != 0)
        {
            _done.Wait();
            _done.Reset();
        }
    }

    /// <summary>Adds the block slots in block order (into slot 0, element by element), then into the caller's spans.</summary>
    private void Reduce(Span<double> results, Span<double> gradient)
    {
        var total = _buffer.AsSpan(0, _resultCount + _gradientLength);
        for (int b = 1; b < _blocks; b++)
        {
            var slot = _buffer.AsSpan(b * _stride, total.Length);
            for (int k = 0; k < total.Length; k++) total[k] += slot[k];
        }
        total[.._resultCount].CopyTo(results);
        var adjoints = total[_resultCount..];
        for (int j = 0; j < adjoints.Length; j++) gradient[j] += adjoints[j];
    }

    private void Finish(long retainBytes)
    {
        // Drop the references of the call (the job outlives it in a thread-static), and the blocks' sums beyond what the
        // thread keeps, then free the job.
        if (8L * _buffer.Length > retainBytes) _buffer = [];
        _worker = null;
        _constants = null;
        _data = default;
        _frame = null;
        _failure = null;
        _inUse = false;
    }
}
