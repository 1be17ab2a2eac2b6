using System.Linq.Expressions;
using System.Reflection;

namespace ExprAD.Frontend;

/// <summary>
/// Recognises LINQ pipelines that become one loop: a source (<c>Enumerable.Range(a, n)</c> or a
/// sequence), then any number of <c>Select</c> (with or without the index), <c>Zip</c> with a sequence,
/// and <c>Where</c> (a mask), ending in <c>Sum</c>, <c>Average</c>, <c>Max</c> or <c>Min</c> (with or without a selector),
/// <c>Count</c> (with or without a predicate), or in <c>Aggregate(seed, func)</c> (optionally with a result selector),
/// whose state is a number or a small array. The stages are fused into the loop body: no intermediate array is built.
/// The shape alone is matched here: any other call (<c>Skip</c>, <c>OrderBy</c>, a method of the user's) is the source, and
/// the translator decides whether it can loop over it (arrays and lists, see <see cref="DataTypes.ElementType"/>) or
/// reports it.
/// </summary>
internal static class LinqLoops
{
    public enum StageKind { Select, SelectWithIndex, Zip, Where }

    public enum Terminal { Sum, Average, Max, Min, Count, Aggregate, Map }

    /// <summary>One stage: its lambda, and for <see cref="StageKind.Zip"/> the sequence zipped with.</summary>
    public readonly record struct Stage(StageKind Kind, LambdaExpression Lambda, Expression? Other);

    /// <summary>
    /// A pipeline over <see cref="Range"/>, a call of <c>Enumerable.Range(start, count)</c> (then <see cref="Array"/> is null), or over the elements of
    /// <see cref="Array"/>, with its stages in order and its terminal.
    /// </summary>
    public sealed record Pipeline(MethodCallExpression? Range, Expression? Array, IReadOnlyList<Stage> Stages, Terminal End)
    {
        /// <summary>The lambdas that run once per element: the stages', and an aggregate's accumulator function.</summary>
        public IEnumerable<LambdaExpression> Lambdas => Stages.Select(s => s.Lambda).Concat(Accumulator is null ? [] : [Accumulator]);

        /// <summary>For <see cref="Terminal.Aggregate"/>: the seed of the state.</summary>
        public Expression? Seed { get; init; }

        /// <summary>For <see cref="Terminal.Aggregate"/>: (state, element) => next state.</summary>
        public LambdaExpression? Accumulator { get; init; }

        /// <summary>For <see cref="Terminal.Aggregate"/> with a result selector: final state => result (applied once, after the loop).</summary>
        public LambdaExpression? ResultSelector { get; init; }
    }

    private static readonly MethodInfo Range = typeof(Enumerable).GetMethod(nameof(Enumerable.Range))!;

    public static bool TryMatch(MethodCallExpression node, out Pipeline pipeline)
    {
        pipeline = null!;
        if (node.Method.DeclaringType != typeof(Enumerable)) return false;
        if (node.Method.Name == nameof(Enumerable.Aggregate)) return TryMatchAggregate(node, out pipeline);
        // Sums, averages and extrema of doubles; the count of elements (the translator reports the other result types).
        var end = node.Method.Name switch
        {
            nameof(Enumerable.Sum) => Terminal.Sum,
            nameof(Enumerable.Average) => Terminal.Average,
            nameof(Enumerable.Max) => Terminal.Max,
            nameof(Enumerable.Min) => Terminal.Min,
            nameof(Enumerable.Count) when node.Type == typeof(int) => Terminal.Count,
            _ => (Terminal?)null,
        };
        if (end is null) return false;
        var stages = new List<Stage>();
        if (node.Arguments.Count == 2)
        {
            // Count's predicate keeps elements, as a Where does; the others' lambda selects the value.
            if (Lambda(node.Arguments[1]) is not { Parameters.Count: 1 } selector) return false;
            stages.Add(new Stage(end == Terminal.Count ? StageKind.Where : StageKind.Select, selector, null));
        }
        else if (node.Arguments.Count != 1) return false;
        return TryMatchSource(node.Arguments[0], stages, end.Value, out pipeline);
    }

    /// <summary>
    /// <c>source.Select(...).ToArray()</c> (any stages but Where, which would change the length): an array built by a loop.
    /// A bare <c>ToArray()</c> of an array is a copy, also a map.
    /// </summary>
    public static bool TryMatchMap(MethodCallExpression node, out Pipeline pipeline)
    {
        pipeline = null!;
        return node.Method.DeclaringType == typeof(Enumerable) && node.Method.Name == nameof(Enumerable.ToArray) && node.Type == typeof(double[])
            && TryMatchSource(node.Arguments[0], new List<Stage>(), Terminal.Map, out pipeline);
    }

    /// <summary>
    /// <c>source.Aggregate(seed, (state, element) =&gt; ...)</c>, optionally with a result selector; the state is a
    /// double or a double[] (written <c>new[] { ... }</c>: expression trees have no tuple literals).
    /// </summary>
    private static bool TryMatchAggregate(MethodCallExpression node, out Pipeline pipeline)
    {
        pipeline = null!;
        if (node.Arguments.Count is not (3 or 4) || Lambda(node.Arguments[2]) is not { Parameters.Count: 2 } accumulator) return false;
        var seed = node.Arguments[1];
        if (seed.Type != typeof(double) && seed.Type != typeof(double[])) return false;
        var selector = node.Arguments.Count == 4 ? Lambda(node.Arguments[3]) : null;
        if (node.Arguments.Count == 4 && selector is not { Parameters.Count: 1 }) return false;
        if (!TryMatchSource(node.Arguments[0], new List<Stage>(), Terminal.Aggregate, out var matched)) return false;
        pipeline = matched with { Seed = seed, Accumulator = accumulator, ResultSelector = selector };
        return true;
    }

    /// <summary>Walks from the terminal's source back to the range or sequence, collecting the stages (given last first).</summary>
    private static bool TryMatchSource(Expression source, List<Stage> stages, Terminal end, out Pipeline pipeline)
    {
        pipeline = null!;
        while (true)
        {
            // An Aggregate whose state is an array is a source like any array value (not a stage).
            if (source is MethodCallExpression { Method: var m } call && m.DeclaringType == typeof(Enumerable) && m.Name != nameof(Enumerable.Aggregate))
            {
                if (m == Range)
                {
                    stages.Reverse();
                    pipeline = new Pipeline(call, null, stages, end);
                    return true;
                }
                var lambda = call.Arguments.Count >= 2 ? Lambda(call.Arguments[^1]) : null;
                Stage? stage = (m.Name, call.Arguments.Count, lambda?.Parameters.Count) switch
                {
                    (nameof(Enumerable.Select), 2, 1) => new Stage(StageKind.Select, lambda!, null),
                    (nameof(Enumerable.Select), 2, 2) when lambda!.Parameters[1].Type == typeof(int) => new Stage(StageKind.SelectWithIndex, lambda, null),
                    (nameof(Enumerable.Where), 2, 1) => new Stage(StageKind.Where, lambda!, null),
                    (nameof(Enumerable.Zip), 3, 2) => new Stage(StageKind.Zip, lambda!, call.Arguments[1]),
                    // Copies of the same elements.
                    (nameof(Enumerable.ToArray), 1, _) or (nameof(Enumerable.ToList), 1, _) or (nameof(Enumerable.AsEnumerable), 1, _) => null,
                    _ => new Stage((StageKind)(-1), null!, null),
                };
                // Any other operator is not a stage: the sequence it returns is the source.
                if (stage is { Kind: (StageKind)(-1) }) break;
                if (stage is { } s) stages.Add(s);
                source = call.Arguments[0];
                continue;
            }
            break;
        }
        stages.Reverse();
        pipeline = new Pipeline(null, source, stages, end);
        return true;
    }

    private static LambdaExpression? Lambda(Expression e)
    {
        while (e is UnaryExpression { NodeType: ExpressionType.Quote } quote) e = quote.Operand;
        return e as LambdaExpression;
    }

    /// <summary>The nodes of the lambdas' bodies that depend on any of <paramref name="variables"/> (iteratively, bottom-up).</summary>
    public static HashSet<Expression> DependentOn(IEnumerable<Expression> bodies, IReadOnlySet<ParameterExpression> variables)
    {
        var dependent = new HashSet<Expression>(ReferenceEqualityComparer.Instance);
        var operands = new List<Expression?>();
        foreach (var body in bodies)
            foreach (var node in ExpressionNodes.PostOrder(body, (n, list) => ExpressionNodes.TryGetOperands(n, list), dependent.Contains))
            {
                operands.Clear();
                bool depends = node is ParameterExpression p && variables.Contains(p);
                // Unknown node kinds are taken to depend on the loop: they stay inside it (and are reported there).
                if (!ExpressionNodes.TryGetOperands(node, operands)) depends = true;
                foreach (var operand in operands) depends |= operand is not null && dependent.Contains(operand);
                if (depends) dependent.Add(node);
            }
        return dependent;
    }
}
