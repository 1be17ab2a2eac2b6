using System.Linq.Expressions;
using System.Reflection;

namespace ExprAD.Frontend;

/// <summary>
/// Rolls long written-out sums back into loops before translation. A sum <c>t0 + t1 + ... + t(n-1)</c> (left-deep, as C#
/// and code generators build it) whose leading terms all have one shape, differing only in constants, becomes
/// <c>Enumerable.Range(0, r).Sum(k =&gt; t(k))</c> plus the remaining terms: a varying double constant in arithmetic is read
/// from a table baked into the kernel, a varying array index is <c>a + s * k</c> (or read from an int table). The trace, its
/// derivative and its compiled code then grow with the shape of a term, not with the number of terms: a 200,000-term sum
/// compiles in a fraction of the time, and long sums of any size run as one tight loop.
/// </summary>
/// <remarks>
/// Invariants that keep this exact:
/// <list type="bullet">
/// <item>Only a run that starts at the first term is rolled, and its loop sum starts at -0.0 (<see cref="Result.NegativeZeroStarts"/>),
/// so it adds the same numbers in the same order as the chain: -0.0 + t0 is t0 for every t0.</item>
/// <item>A constant may vary between terms only where its value is not looked at by the translator: as an operand of
/// + - * / on doubles, and as the index of an array read. Anywhere else (an exponent, a comparison, a method argument)
/// terms with different constants do not match, so rules that depend on a constant's value see the same constants.</item>
/// <item>Terms are matched node by node (same node types, methods, members and parameters); anything that is not plain
/// arithmetic, array reads, members, calls and conditionals (a lambda, an invocation, an array initializer) ends the run.</item>
/// </list>
/// </remarks>
internal static class Rerolling
{
    /// <summary>Sums with fewer terms of one shape stay straight-line code (faster to run for a small number of terms).</summary>
    public const int MinimumTerms = 128;

    /// <summary>Terms deeper than this are not compared (a sum of large terms is short in instructions per term anyway).</summary>
    private const int MaximumTermDepth = 64;

    private static readonly MethodInfo RangeMethod = typeof(Enumerable).GetMethod(nameof(Enumerable.Range))!;
    private static readonly MethodInfo SumMethod = typeof(Enumerable).GetMethods()
        .Single(m => m.Name == nameof(Enumerable.Sum) && m.IsGenericMethodDefinition && m.GetParameters() is [_, { ParameterType: var f }]
                     && f.IsGenericType && f.GetGenericArguments()[1] == typeof(double))
        .MakeGenericMethod(typeof(int));

    /// <summary>The rewritten body, the loop sums that start at -0.0, and the tables whose values are baked into the kernel.</summary>
    public sealed record Result(Expression Body, HashSet<Expression> NegativeZeroStarts, HashSet<Expression> BakedTables);

    /// <summary>Rolls every long sum of <paramref name="body"/> (the body itself, if nothing rolls).</summary>
    public static Result Apply(Expression body)
    {
        var result = new Result(body, new(ReferenceEqualityComparer.Instance), new(ReferenceEqualityComparer.Instance));
        var replacements = FindSums(body, result);
        if (replacements.Count == 0) return result;
        return result with { Body = ExpressionNodes.Replace(body, replacements) };
    }

    /// <summary>Walks the tree once (each distinct node once) and builds the replacement of every sum that rolls.</summary>
    private static Dictionary<Expression, Expression> FindSums(Expression root, Result result)
    {
        var replacements = new Dictionary<Expression, Expression>(ReferenceEqualityComparer.Instance);
        var entered = new HashSet<Expression>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Expression>();
        var operands = new List<Expression?>();
        var terms = new List<Expression>();
        var scratch = new List<ConstantExpression>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            if (node is ConstantExpression or ParameterExpression || !entered.Add(node)) continue;
            operands.Clear();
            if (IsSum(node) && SpineTerms(node, terms, scratch) >= MinimumTerms)
            {
                // The terms are entered, not the spine's additions: each spine is measured once, at its top.
                if (TryRoll(terms, result) is { } replacement) replacements.Add(node, replacement);
                operands.AddRange(terms);
            }
            else if (!ExpressionNodes.TryGetOperands(node, operands)) continue;
            foreach (var operand in operands)
                if (operand is not null) stack.Push(operand);
        }
        return replacements;
    }

    private static bool IsSum(Expression node) =>
        node is BinaryExpression { NodeType: ExpressionType.Add, Method: null } b && b.Type == typeof(double);

    /// <summary>
    /// The terms of the left-deep sum topped by <paramref name="top"/>, in evaluation order; returns their number. Terms
    /// may be sums themselves (<c>(a0 + b0) + (a1 + b1) + ...</c>): the walk down the spine stops at a left operand that
    /// has the shape of the term beside it, which is then the first term.
    /// </summary>
    private static int SpineTerms(Expression top, List<Expression> terms, List<ConstantExpression> holes)
    {
        terms.Clear();
        var node = top;
        while (IsSum(node))
        {
            var add = (BinaryExpression)node;
            terms.Add(add.Right);
            node = add.Left;
            holes.Clear();
            if (IsSum(node) && IsSum(add.Right) && Match(add.Right, node, holes, 0)) break;
        }
        terms.Add(node);
        terms.Reverse();
        return terms.Count;
    }

    /// <summary>The rolled form of the sum of <paramref name="terms"/>, or null when fewer than <see cref="MinimumTerms"/> leading terms share a shape.</summary>
    private static Expression? TryRoll(List<Expression> terms, Result result)
    {
        var template = terms[0];
        var first = new List<ConstantExpression>();
        if (!Match(template, template, first, 0)) return null;
        // holes[p][j]: the constant at hole position p of term j.
        var holes = first.Select(c => new List<ConstantExpression> { c }).ToArray();
        var constants = new List<ConstantExpression>(first.Count);
        int run = 1;
        for (; run < terms.Count; run++)
        {
            constants.Clear();
            if (!Match(template, terms[run], constants, 0) || constants.Count != first.Count) break;
            for (int p = 0; p < holes.Length; p++) holes[p].Add(constants[p]);
        }
        if (run < MinimumTerms) return null;

        var k = Expression.Parameter(typeof(int), "k");
        var fills = new Dictionary<ConstantExpression, Expression>(ReferenceEqualityComparer.Instance);
        // A hole is filled by replacing its constant node in the template. A node the template shares (a sub-tree used
        // twice) stands at several holes: every term must then have equal constants there, and the node must stand at no
        // other position (where its value could matter).
        var uses = new ConstantUses();
        uses.Visit(template);
        foreach (var group in Enumerable.Range(0, holes.Length).GroupBy(p => first[p], ReferenceEqualityComparer.Instance))
        {
            var positions = group.ToArray();
            if (Fill(holes[positions[0]], k, result) is not { } fill) continue;
            if (uses.Count[first[positions[0]]] != positions.Length) return null;
            for (int j = 0; j < run; j++)
                foreach (int p in positions)
                    if (!SameConstant(holes[p][j].Value, holes[positions[0]][j].Value)) return null;
            fills.Add(first[positions[0]], fill);
        }
        var termOfK = new Substitution(fills).Visit(template)!;
        Expression rolled = Expression.Call(SumMethod,
            Expression.Call(RangeMethod, Expression.Constant(0), Expression.Constant(run)),
            Expression.Lambda<Func<int, double>>(termOfK, k));
        result.NegativeZeroStarts.Add(rolled);
        for (int j = run; j < terms.Count; j++) rolled = Expression.Add(rolled, terms[j]);
        return rolled;
    }

    /// <summary>
    /// The expression of iteration <paramref name="k"/> for one hole position: null when every term has the same constant
    /// (the template's constant stays), <c>a + s * k</c> for indices in arithmetic progression, else a read of a baked table.
    /// </summary>
    private static Expression? Fill(List<ConstantExpression> values, ParameterExpression k, Result result)
    {
        if (values[0].Type == typeof(double))
        {
            var numbers = values.Select(c => (double)c.Value!).ToArray();
            long bits = BitConverter.DoubleToInt64Bits(numbers[0]);
            if (numbers.All(v => BitConverter.DoubleToInt64Bits(v) == bits)) return null;
            return Table(numbers, k, result);
        }
        var indices = values.Select(c => (int)c.Value!).ToArray();
        long stride = indices.Length > 1 ? (long)indices[1] - indices[0] : 0;
        bool progression = true;
        for (int j = 1; j < indices.Length && progression; j++) progression = indices[j] == indices[0] + stride * j;
        if (progression && stride == 0) return null;
        if (!progression || stride is < int.MinValue or > int.MaxValue) return Table(indices, k, result);
        Expression scaled = stride == 1 ? k : Expression.Multiply(Expression.Constant((int)stride), k);
        return indices[0] == 0 ? scaled : Expression.Add(Expression.Constant(indices[0]), scaled);
    }

    private static Expression Table<T>(T[] values, ParameterExpression k, Result result)
    {
        var table = Expression.Constant(values);
        result.BakedTables.Add(table);
        return Expression.ArrayIndex(table, k);
    }

    /// <summary>
    /// True when <paramref name="term"/> has the shape of <paramref name="template"/>; appends the constants of
    /// <paramref name="term"/> at the positions where a constant may vary (see the remarks of <see cref="Rerolling"/>).
    /// </summary>
    private static bool Match(Expression template, Expression term, List<ConstantExpression> holes, int depth)
    {
        if (depth > MaximumTermDepth || template.NodeType != term.NodeType || template.Type != term.Type) return false;
        switch (template)
        {
            case ConstantExpression c:
                return SameConstant(c.Value, ((ConstantExpression)term).Value);
            case ParameterExpression:
                return template == term;
            case BinaryExpression b:
            {
                var other = (BinaryExpression)term;
                if (b.Method != other.Method || b.Conversion is not null || other.Conversion is not null) return false;
                bool arithmetic = b.NodeType is ExpressionType.Add or ExpressionType.Subtract or ExpressionType.Multiply or ExpressionType.Divide
                                  && b.Method is null && b.Type == typeof(double);
                bool index = b.NodeType == ExpressionType.ArrayIndex;
                return Operand(b.Left, other.Left, arithmetic, holes, depth)
                       && Operand(b.Right, other.Right, arithmetic || index, holes, depth);
            }
            case UnaryExpression u:
            {
                var other = (UnaryExpression)term;
                return u.Method == other.Method && Match(u.Operand, other.Operand, holes, depth + 1);
            }
            case MemberExpression m:
            {
                var other = (MemberExpression)term;
                return m.Member == other.Member && (m.Expression is null ? other.Expression is null
                    : other.Expression is not null && Match(m.Expression, other.Expression, holes, depth + 1));
            }
            case MethodCallExpression call:
            {
                var other = (MethodCallExpression)term;
                if (call.Method != other.Method || (call.Object is null) != (other.Object is null)) return false;
                if (call.Object is not null && !Match(call.Object, other.Object!, holes, depth + 1)) return false;
                for (int i = 0; i < call.Arguments.Count; i++)
                    if (!Match(call.Arguments[i], other.Arguments[i], holes, depth + 1)) return false;
                return true;
            }
            case ConditionalExpression c:
            {
                var other = (ConditionalExpression)term;
                return Match(c.Test, other.Test, holes, depth + 1) && Match(c.IfTrue, other.IfTrue, holes, depth + 1)
                       && Match(c.IfFalse, other.IfFalse, holes, depth + 1);
            }
            default:
                return false;
        }
    }

    /// <summary>An operand: a hole when it is a double constant in arithmetic or an int index (<paramref name="mayVary"/>), else matched.</summary>
    private static bool Operand(Expression template, Expression term, bool mayVary, List<ConstantExpression> holes, int depth)
    {
        if (mayVary && template is ConstantExpression { Value: double or int } && term is ConstantExpression t && t.Type == template.Type)
        {
            holes.Add(t);
            return true;
        }
        return Match(template, term, holes, depth + 1);
    }

    /// <summary>Constants that may not vary must be the same: doubles bit for bit (-0.0 is not 0.0 to Math.Max or 1 / x).</summary>
    private static bool SameConstant(object? a, object? b) =>
        a is double x && b is double y ? BitConverter.DoubleToInt64Bits(x) == BitConverter.DoubleToInt64Bits(y) : Equals(a, b);

    /// <summary>How often each constant node instance occurs in a tree.</summary>
    private sealed class ConstantUses : ExpressionVisitor
    {
        public readonly Dictionary<ConstantExpression, int> Count = new(ReferenceEqualityComparer.Instance);

        protected override Expression VisitConstant(ConstantExpression node)
        {
            Count[node] = Count.GetValueOrDefault(node) + 1;
            return node;
        }
    }

    /// <summary>Replaces the template's hole constants by their expressions of the loop index.</summary>
    private sealed class Substitution(Dictionary<ConstantExpression, Expression> fills) : ExpressionVisitor
    {
        protected override Expression VisitConstant(ConstantExpression node) => fills.TryGetValue(node, out var fill) ? fill : node;
    }

}
