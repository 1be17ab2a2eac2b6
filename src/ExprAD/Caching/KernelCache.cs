using System.Collections.Concurrent;

namespace ExprAD.Caching;

/// <summary>A compiled kernel and how it was made. Kernels take the runtime constants as their first argument.</summary>
internal sealed record CompiledKernel(Delegate Kernel, CompilationInfo Info);

/// <summary>
/// The process-wide cache from structural keys to compiled kernels. A lambda with the shape of
/// one compiled before costs one walk over its tree (microseconds), not a compilation. Safe
/// for concurrent use; each kernel is compiled once even when many threads ask at once.
/// </summary>
/// <remarks>
/// Bounded: beyond <see cref="Capacity"/> kernels, the least recently used are evicted (a tenth of the capacity at a time,
/// so that eviction costs a sort now and then, not work on every request). An evicted kernel is not lost to the delegates
/// already handed out (they hold it); the cache only forgets it, and the next request of that shape compiles it again.
/// Recency is a global tick written on every hit: a plain store, no lock.
/// </remarks>
internal static class KernelCache
{
    /// <summary>The default <see cref="Capacity"/>: small kernels cost a few kilobytes each, so a few thousand stay within tens of megabytes.</summary>
    public const int DefaultCapacity = 4096;

    private sealed class Entry(Lazy<CompiledKernel> kernel, long lastUse)
    {
        public readonly Lazy<CompiledKernel> Kernel = kernel;
        public long LastUse = lastUse;
    }

    private static readonly ConcurrentDictionary<StructuralKey, Entry> Entries = new();
    private static readonly Lock EvictionLock = new();
    private static long _hits, _misses, _evictions, _clock;
    private static int _capacity = DefaultCapacity;

    public static CompiledKernel GetOrCompile(StructuralKey? key, Func<CompiledKernel> compile)
    {
        if (key is null)
        {
            Interlocked.Increment(ref _misses);
            return compile();
        }
        // Threads that miss together each make a candidate, and one is stored: only its maker counts the miss (a value factory
        // would run once per racing thread, each believing it created the entry). The Lazy compiles once either way.
        var created = false;
        if (!Entries.TryGetValue(key, out var entry))
        {
            var candidate = new Entry(new Lazy<CompiledKernel>(compile, LazyThreadSafetyMode.ExecutionAndPublication), Tick());
            entry = Entries.GetOrAdd(key, candidate);
            created = ReferenceEquals(entry, candidate);
        }
        try
        {
            var kernel = entry.Kernel.Value;
            if (created)
            {
                Interlocked.Increment(ref _misses);
                if (Entries.Count > Volatile.Read(ref _capacity)) EvictLeastRecentlyUsed();
            }
            else
            {
                Interlocked.Increment(ref _hits);
                entry.LastUse = Tick();
            }
            return kernel;
        }
        catch
        {
            // A lambda that fails to compile is not cached: the next request retries and reports the same error afresh.
            Entries.TryRemove(new KeyValuePair<StructuralKey, Entry>(key, entry));
            throw;
        }
    }

    private static long Tick() => Interlocked.Increment(ref _clock);

    /// <summary>Removes the least recently used entries until a tenth of the capacity is free (at least one entry).</summary>
    private static void EvictLeastRecentlyUsed()
    {
        lock (EvictionLock)
        {
            int capacity = Volatile.Read(ref _capacity);
            if (Entries.Count <= capacity) return;
            int keep = capacity - capacity / 10;
            var byAge = Entries.ToArray();
            Array.Sort(byAge, (a, b) => a.Value.LastUse.CompareTo(b.Value.LastUse));
            for (int k = 0; k < byAge.Length - keep; k++)
                if (Entries.TryRemove(byAge[k])) Interlocked.Increment(ref _evictions);
        }
    }

    /// <summary>Counts a hit served without a lookup (the same tree instance asked again).</summary>
    public static void RecordHit() => Interlocked.Increment(ref _hits);

    /// <summary>The most kernels kept; lowering it evicts at once.</summary>
    public static int Capacity
    {
        get => Volatile.Read(ref _capacity);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(value));
            Volatile.Write(ref _capacity, value);
            if (Entries.Count > value) EvictLeastRecentlyUsed();
        }
    }

    /// <summary>Forgets every kernel (delegates handed out keep working); the counters go on.</summary>
    public static void Clear() => Entries.Clear();

    public static int Count => Entries.Count;
    public static long Hits => Interlocked.Read(ref _hits);
    public static long Misses => Interlocked.Read(ref _misses);
    public static long Evictions => Interlocked.Read(ref _evictions);
}
