namespace ExprAD.Examples;

/// <summary>
/// An <see cref="IProgress{T}"/> that calls its handler at once, on the reporting thread (<see cref="Progress{T}"/> posts to
/// a synchronisation context or the thread pool, so its reports would arrive late and out of order).
/// </summary>
public sealed class Reporter<T>(Action<T> handler) : IProgress<T>
{
    /// <inheritdoc/>
    public void Report(T value) => handler(value);
}
