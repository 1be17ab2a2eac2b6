using System.Linq.Expressions;
using ExprAD.IR;

namespace ExprAD.Sparsity;

/// <summary>
/// The value of read <paramref name="read"/> of a trace (see <see cref="Trace.DataReads"/>): for a read of an object, of
/// <paramref name="target"/> (at <paramref name="index"/>); for a data read both are ignored.
/// </summary>
internal delegate object? CallTimeRead(int read, object? target, int index);

/// <summary>
/// The sparsity patterns of a function's Jacobian and Hessian for one length of x (and one data argument), from
/// <see cref="DependenceAnalysis"/> of its source trace.
/// </summary>
internal static class Patterns
{
    /// <summary>The Hessian of f : R^n -> R, both triangles.</summary>
    /// <exception cref="UnsupportedPatternException">The analysis cannot follow the function, or it couples more than <paramref name="pairBudget"/> pairs.</exception>
    public static SparsityPattern Hessian(Trace trace, int n, CallTimeRead read, int pairBudget = int.MaxValue)
    {
        var pairs = new HashSet<(int, int)>();
        new DependenceAnalysis(n, read, pairs, pairBudget).Outputs(trace);
        var rows = new List<int>[n];
        for (int i = 0; i < n; i++) rows[i] = new List<int>();
        foreach (var (i, j) in pairs)
        {
            rows[i].Add(j);
            if (i != j) rows[j].Add(i);
        }
        return SparsityPattern.FromRows(n, rows);
    }

    /// <summary>
    /// The Jacobian of f : R^n -> R^m: row k holds the elements of x output k depends on. The outputs are the trace's (an
    /// array initializer) or the elements of its one array output (a map's result).
    /// </summary>
    public static SparsityPattern Jacobian(Trace trace, int n, CallTimeRead read)
    {
        var outputs = new DependenceAnalysis(n, read, null).Outputs(trace);
        if (outputs is [{ Array: Abstract[] elements }]) outputs = elements;
        else if (outputs.Any(o => o.Array is not null))
            throw new NotSupportedException("The sparsity pattern of the Jacobian is found for an array initializer or a Select(...).ToArray() result.");
        return SparsityPattern.FromRows(n, outputs.Select(o => (IEnumerable<int>)o.Depends).ToArray());
    }

    /// <summary>
    /// The reads of <paramref name="trace"/> (<see cref="Trace.DataReads"/>) evaluated for one lambda instance's runtime
    /// constants and one data argument (null when the lambda has none): each accessor compiled once, when first read.
    /// </summary>
    public static CallTimeRead Reads(Trace trace, object[] constants, object? data)
    {
        var environment = trace.Environment;
        var dataParameter = Expression.Parameter(typeof(object), "data");
        var target = Expression.Parameter(typeof(object), "target");
        var index = Expression.Parameter(typeof(int), "index");
        var compiled = new Dictionary<int, Func<object[], object?, object?, int, object?>>();
        return (k, o, i) =>
        {
            if (!compiled.TryGetValue(k, out var read))
            {
                var accessor = trace.DataReads[k].Accessor;
                // A read of an object: the accessor's body over the object (converted to its type) and the index.
                if (accessor is LambdaExpression lambda)
                    accessor = Expression.Invoke(lambda, [Expression.Convert(target, lambda.Parameters[0].Type), .. lambda.Parameters.Count > 1 ? [index] : Array.Empty<Expression>()]);
                Expression body = Expression.Convert(accessor, typeof(object));
                if (environment.Data is { } typed)
                    body = Expression.Block([typed], Expression.Assign(typed, Expression.Convert(dataParameter, typed.Type)), body);
                compiled.Add(k, read = Expression.Lambda<Func<object[], object?, object?, int, object?>>(body, environment.Constants, dataParameter, target, index).Compile());
            }
            return read(constants, data, o, i);
        };
    }
}
