using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace ExprAD.Codegen;

/// <summary>
/// Compiles the chunk methods of a long trace while the trace is still being lowered. Each chunk is handed over as soon
/// as it is built; background workers compile it to IL and have the JIT compile it at once
/// (<see cref="RuntimeHelpers.PrepareDelegate"/>), instead of lazily on the kernel's first call. The JIT of hundreds of
/// chunk methods, each compiled with full optimisations, is most of what a long trace costs before its first result, and
/// this way it runs on the other cores, overlapping the lowering of the chunks that follow.
/// </summary>
/// <remarks>
/// The lowering thread takes part once every chunk is submitted, so the work finishes even when no thread-pool thread is
/// free. A chunk method is the same whichever thread compiles it; only the time its JIT takes moves.
/// </remarks>
internal sealed class ChunkCompiler(Func<LambdaExpression, Delegate> compile)
{
    private readonly object _lock = new();
    private readonly List<LambdaExpression?> _chunks = new();
    private readonly List<Delegate?> _compiled = new();
    private readonly int _maxWorkers = Math.Max(1, Environment.ProcessorCount - 1);
    private int _next, _inFlight, _workers;
    private ExceptionDispatchInfo? _error;

    /// <summary>Queues <paramref name="chunk"/>; returns its number, the index of its delegate in <see cref="Finish"/>'s result.</summary>
    public int Submit(LambdaExpression chunk)
    {
        lock (_lock)
        {
            _chunks.Add(chunk);
            _compiled.Add(null);
            if (_workers < _maxWorkers && _chunks.Count - _next > _workers)
            {
                _workers++;
                ThreadPool.UnsafeQueueUserWorkItem(static self => self.Work(), this, preferLocal: false);
            }
            return _chunks.Count - 1;
        }
    }

    /// <summary>Compiles what is still queued on this thread, waits for the workers, and returns every chunk's delegate in order.</summary>
    public IReadOnlyList<Delegate> Finish()
    {
        while (TryCompileNext()) { }
        lock (_lock)
        {
            while (_inFlight > 0) Monitor.Wait(_lock);
        }
        _error?.Throw();
        return _compiled!;
    }

    private void Work()
    {
        while (TryCompileNext()) { }
        lock (_lock) _workers--;
    }

    private bool TryCompileNext()
    {
        int k;
        LambdaExpression chunk;
        lock (_lock)
        {
            if (_next == _chunks.Count || _error is not null) return false;
            k = _next++;
            chunk = _chunks[k]!;
            _chunks[k] = null;
            _inFlight++;
        }
        Delegate? compiled = null;
        ExceptionDispatchInfo? error = null;
        try
        {
            compiled = compile(chunk);
            RuntimeHelpers.PrepareDelegate(compiled);
        }
        catch (Exception e)
        {
            error = ExceptionDispatchInfo.Capture(e);
        }
        lock (_lock)
        {
            _compiled[k] = compiled;
            _error ??= error;
            _inFlight--;
            Monitor.PulseAll(_lock);
        }
        return error is null;
    }
}
