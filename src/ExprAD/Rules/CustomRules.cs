using System.Linq.Expressions;
using System.Reflection;
using ExprAD.IR;

namespace ExprAD.Rules;

/// <summary>
/// The derivative rules users define for methods ExprAD cannot look into (<see cref="AD.Define(System.Linq.Expressions.Expression{Func{double, double}}, System.Linq.Expressions.Expression{Func{double, double, double}})"/>).
/// Each definition is a rule-table entry of its own for <see cref="Op.Call"/>: the method is called for the value, and
/// its partial derivatives are small traces of (arguments, result), replayed into the derivative code, where they are
/// differentiated again for higher orders. Definitions are numbered in order and never removed: a method defined again
/// gets a new number, so a kernel compiled with an earlier definition keeps working and a later compilation, whose
/// structural key carries the number (<see cref="NumberOf"/>), takes the new one. Thread-safe: readers see immutable
/// snapshots.
/// </summary>
internal static class CustomRules
{
    private static readonly Lock Gate = new();
    private static Primitive[] _rules = [];
    private static Dictionary<MethodInfo, int> _latest = new();

    /// <summary>Definition <paramref name="number"/>'s rule-table entry.</summary>
    public static Primitive Get(int number) => Volatile.Read(ref _rules)[number];

    /// <summary>The latest definition of <paramref name="method"/>, if any.</summary>
    public static bool TryGet(MethodInfo method, out Primitive rule)
    {
        if (Volatile.Read(ref _latest).TryGetValue(method, out int number))
        {
            rule = Get(number);
            return true;
        }
        rule = null!;
        return false;
    }

    /// <summary>1 + the number of the latest definition of <paramref name="method"/>; 0 when it has none (part of structural keys).</summary>
    public static int NumberOf(MethodInfo method)
    {
        var latest = Volatile.Read(ref _latest);
        return latest.Count > 0 && latest.TryGetValue(method, out int number) ? number + 1 : 0;
    }

    /// <summary>
    /// Defines <paramref name="method"/>'s partial derivatives: <paramref name="partials"/>[k] is a trace of the method's
    /// arguments then its result (scalar parameters 0 .. arity, in that order) computing ∂f/∂(argument k).
    /// </summary>
    public static Primitive Define(MethodInfo method, IReadOnlyList<Trace> partials)
    {
        int arity = method.GetParameters().Length;
        lock (Gate)
        {
            int number = _rules.Length;
            var rule = new Primitive
            {
                Op = Op.Call,
                Name = method.Name,
                Arity = arity,
                Signature = OpSignature.Scalar,
                // User code may throw: it is never run in a branch not taken, nor folded at compile time.
                MayThrow = true,
                IsCostly = true,
                CustomNumber = number,
                Methods = [method],
                Evaluate = a => (double)method.Invoke(null, a.Cast<object>().ToArray())!,
                Emit = a => Expression.Call(method, a),
                Partials = (b, args, result) => partials.Select(p => (Value?)Replay(p, b, args, result)).ToArray(),
            };
            _rules = [.. _rules, rule];
            _latest = new Dictionary<MethodInfo, int>(_latest) { [method] = number };
            return rule;
        }
    }

    /// <summary>A partial's trace emitted into <paramref name="b"/> with its parameters bound to the arguments and the result.</summary>
    private static Value Replay(Trace partial, TraceBuilder b, Value[] args, Value result)
    {
        var renamed = TraceCopy.Replay(partial, b, replace: (i, _) => partial.Instructions[i] is { Op: Op.Input } input
            ? input.A < args.Length ? args[input.A] : result
            : null);
        return renamed[partial.Outputs[0].Index];
    }
}
