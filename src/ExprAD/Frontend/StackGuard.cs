using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace ExprAD.Frontend;

/// <summary>
/// Lets recursive walks over user expression trees go as deep as the tree: when the current
/// thread's stack runs low, the rest of the walk continues on a new thread with a large stack
/// while the caller waits. A deep tree (say a chain of 100,000 additions) therefore cannot
/// overflow the user's stack, which would kill the process.
/// </summary>
internal static class StackGuard
{
    private const int LargeStackBytes = 256 * 1024 * 1024;

    /// <summary>True when the current stack still has room for ordinary recursion.</summary>
    public static bool HasRoom() => RuntimeHelpers.TryEnsureSufficientExecutionStack();

    /// <summary>Runs <paramref name="work"/> on a fresh thread with a large stack and returns its result (or rethrows its exception).</summary>
    public static T RunOnLargeStack<T>(Func<T> work)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try { result = work(); }
            catch (Exception e) { failure = ExceptionDispatchInfo.Capture(e); }
        }, LargeStackBytes) { Name = "ExprAD deep expression walk" };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }
}
