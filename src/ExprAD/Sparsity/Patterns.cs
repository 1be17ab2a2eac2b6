using System.Linq.Expressions;
using ExprAD.IR;

namespace ExprAD.Sparsity;

/// <summary>
/// The sparsity patterns of a function's Jacobian and Hessian for one length of x (and one data argument), from
/// <see cref="DependenceAnalysis"/> of its source trace.
/// </summary>
internal static class Patterns
{
    /// <summary>The Hessian of f : R^n -> R, both triangles.</summary>
    /// <exception cref="UnsupportedPatternException">The analysis cannot follow the function, or it couples more than <paramref name="pairBudget"/> pairs.</exception>
    public static SparsityPattern Hessian(Trace trace, int n, Func<int, object?> read, int pairBudget = int.MaxValue)
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
    public static SparsityPattern Jacobian(Trace trace, int n, Func<int, object?> read)
    {
        var outputs = new DependenceAnalysis(n, read, null).Outputs(trace);
        if (outputs is [{ Array: Abstract[] elements }]) outputs = elements;
        else if (outputs.Any(o => o.Array is not null))
            throw new NotSupportedException("The sparsity pattern of the Jacobian is found for an array initializer or a Select(...).ToArray() result.");
        return SparsityPattern.FromRows(n, outputs.Select(o => (IEnumerable<int>)o.Depends).ToArray());
    }

    /// <summary>
    /// The data reads of <paramref name="trace"/> evaluated for one lambda instance's runtime constants and one data
    /// argument (null when the lambda has none): each accessor compiled once, when first read.
    /// </summary>
    public static Func<int, object?> Reads(Trace trace, object[] constants, object? data)
    {
        var environment = trace.Environment;
        var dataParameter = Expression.Parameter(typeof(object), "data");
        return k =>
        {
            var accessor = trace.DataReads[k].Accessor;
            var body = Expression.Convert(accessor, typeof(object));
            var parameters = new List<ParameterExpression> { environment.Constants };
            Expression lambdaBody = body;
            if (environment.Data is { } typed)
                lambdaBody = Expression.Block([typed], Expression.Assign(typed, Expression.Convert(dataParameter, typed.Type)), body);
            var read = Expression.Lambda<Func<object[], object?, object?>>(lambdaBody, environment.Constants, dataParameter).Compile();
            return read(constants, data);
        };
    }
}
