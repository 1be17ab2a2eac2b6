using System.Collections.Concurrent;

namespace ExprAD.Caching;

/// <summary>A compiled kernel and how it was made. Kernels take the runtime constants as their first argument.</summary>
internal sealed record CompiledKernel(Delegate Kernel, CompilationInfo Info);

/// <summary>
/// The process-wide cache from structural keys to compiled kernels. A lambda with the shape of
/// one compiled before costs one walk over its tree (microseconds), not a compilation. Safe
/// for concurrent use; each kernel is compiled once even when many threads ask at once.
/// </summary>
internal static class KernelCache
{
    private static readonly ConcurrentDictionary<StructuralKey, Lazy<CompiledKernel>> Entries = new();
    private static long _hits, _misses;

    public static CompiledKernel GetOrCompile(StructuralKey? key, Func<CompiledKernel> compile)
    {
        if (key is null)
        {
            Interlocked.Increment(ref _misses);
            return compile();
        }
        var created = false;
        var entry = Entries.GetOrAdd(key, _ =>
        {
            created = true;
            return new Lazy<CompiledKernel>(compile, LazyThreadSafetyMode.ExecutionAndPublication);
        });
        try
        {
            var kernel = entry.Value;
            Interlocked.Increment(ref created ? ref _misses : ref _hits);
            return kernel;
        }
        catch
        {
            // A lambda that fails to compile is not cached: the next request retries and reports the same error afresh.
            Entries.TryRemove(new KeyValuePair<StructuralKey, Lazy<CompiledKernel>>(key, entry));
            throw;
        }
    }

    /// <summary>Counts a hit served without a lookup (the same tree instance asked again).</summary>
    public static void RecordHit() => Interlocked.Increment(ref _hits);

    public static int Count => Entries.Count;
    public static long Hits => Interlocked.Read(ref _hits);
    public static long Misses => Interlocked.Read(ref _misses);
}
