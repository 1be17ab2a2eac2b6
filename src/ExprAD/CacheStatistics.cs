namespace ExprAD;

/// <summary>
/// A snapshot of the kernel cache (see <see cref="AD.CacheStatistics"/>): how many compiled kernels it holds, and how many
/// requests it served from memory (hits), compiled (misses) and forgot to stay within its capacity (evictions) since the
/// process started.
/// </summary>
/// <param name="Entries">Kernels held now.</param>
/// <param name="Capacity">The most kernels held (<see cref="AD.CacheCapacity"/>).</param>
/// <param name="Hits">Requests answered with a kernel compiled before (the same shape, or the same tree instance).</param>
/// <param name="Misses">Requests that compiled.</param>
/// <param name="Evictions">Kernels forgotten, least recently used first, to stay within the capacity.</param>
public readonly record struct CacheStatistics(int Entries, int Capacity, long Hits, long Misses, long Evictions);
