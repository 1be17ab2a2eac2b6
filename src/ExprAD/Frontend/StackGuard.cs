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

    /// <summary>True when no path below <paramref name="node"/> is longer than <paramref name="depth"/> nodes (checked without recursion).</summary>
    public static bool IsShallow(System.Linq.Expressions.Expression node, int depth = 500)
    {
        var stack = new Stack<(System.Linq.Expressions.Expression, int)>();
        var operands = new List<System.Linq.Expressions.Expression?>();
        var seen = new HashSet<System.Linq.Expressions.Expression>(ReferenceEqualityComparer.Instance);
        stack.Push((node, 1));
        while (stack.Count > 0)
        {
            var (e, level) = stack.Pop();
            if (level > depth) return false;
            if (!seen.Add(e)) continue;
            operands.Clear();
            if (!ExpressionNodes.TryGetOperands(e, operands)) continue;
            foreach (var o in operands) if (o is not null) stack.Push((o, level + 1));
        }
        return true;
    }

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
