namespace ExprAD.Caching;

/// <summary>
/// The objects a lambda reaches through constants that are not plain values (closure objects,
/// captured arrays, ...), numbered by first occurrence. Compiled code receives them as an
/// array at call time, so a cached kernel serves every lambda instance of the same shape and
/// never holds a stale captured value.
/// </summary>
internal sealed class RuntimeConstants
{
    // Made on the first runtime constant: most lambdas have none, and a cache hit should allocate as little as it can.
    private Dictionary<object, int>? _index;
    private List<object>? _values;

    public int IndexOf(object value)
    {
        _index ??= new Dictionary<object, int>(ReferenceEqualityComparer.Instance);
        _values ??= new List<object>();
        if (!_index.TryGetValue(value, out int k))
        {
            k = _values.Count;
            _values.Add(value);
            _index.Add(value, k);
        }
        return k;
    }

    /// <summary>
    /// False when the walk that collected these constants saw every node of the lambda and no invocation among them
    /// (so the frontend has nothing to inline); true when it saw one, or did not see every node.
    /// </summary>
    public bool MayHaveInvocations { get; internal set; } = true;

    // The expressions that calls of ExpressionInvoke.Invoke read while the key was made, by call node.
    private Dictionary<System.Linq.Expressions.Expression, System.Linq.Expressions.LambdaExpression>? _invoked;

    /// <summary>Records the expression that the <c>Invoke</c> call <paramref name="call"/> stands for (its cache key encodes it).</summary>
    public void RecordInvoked(System.Linq.Expressions.Expression call, System.Linq.Expressions.LambdaExpression lambda)
    {
        _invoked ??= new Dictionary<System.Linq.Expressions.Expression, System.Linq.Expressions.LambdaExpression>(ReferenceEqualityComparer.Instance);
        _invoked[call] = lambda;
    }

    /// <summary>The expression recorded for <paramref name="call"/> by <see cref="RecordInvoked"/>.</summary>
    public bool TryGetInvoked(System.Linq.Expressions.Expression call, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out System.Linq.Expressions.LambdaExpression? lambda)
    {
        lambda = null;
        return _invoked?.TryGetValue(call, out lambda) == true;
    }

    /// <summary>True when the lambda reads an expression through <c>Invoke</c>: its tree instance alone does not determine the function.</summary>
    public bool ReadsExpressions => _invoked is not null;

    public object[] ToArray() => _values is null ? [] : _values.ToArray();

    /// <summary>How many distinct constants were met.</summary>
    public int Count => _values?.Count ?? 0;

    /// <summary>True for constants whose value is baked into compiled code (and so into the cache key).</summary>
    public static bool IsBaked(Type type) =>
        // The common types first: asking a type whether it is primitive goes to the runtime, and this runs per constant node.
        type == typeof(double) || type == typeof(int) || type == typeof(bool) ||
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal);
}
