using System.Diagnostics;

namespace ExprAD.GradBench;

/// <summary>
/// The time a module spends getting its compiled ExprAD delegates while it prepares an evaluation: the tool reports it
/// as the <c>compile</c> timing of the reply. The first request for a module and shape compiles; later ones hit
/// ExprAD's kernel cache and cost microseconds.
/// </summary>
public static class CompileClock
{
    [ThreadStatic] private static long _ticks;

    /// <summary>Runs <paramref name="compile"/> (an <c>AD.*</c> call) and adds its time to this thread's clock.</summary>
    public static T Time<T>(Func<T> compile)
    {
        long start = Stopwatch.GetTimestamp();
        try { return compile(); }
        finally { _ticks += Stopwatch.GetTimestamp() - start; }
    }

    /// <summary>The time accumulated on this thread since the last call, in nanoseconds; the clock restarts at zero.</summary>
    public static long TakeNanoseconds()
    {
        long nanoseconds = (long)(_ticks * (1e9 / Stopwatch.Frequency));
        _ticks = 0;
        return nanoseconds;
    }
}
