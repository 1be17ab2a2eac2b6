using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Sparsity;

/// <summary>
/// The sparsity pattern of the Hessian of f : R^n -> R, found from its trace for one length n (groundwork of issue 9's
/// sparse Hessian; not yet public). An abstract evaluation: every scalar carries the set of elements of x it depends on,
/// and a nonlinear operation adds the pairs of its operands' sets that its second derivatives can couple (a product, the
/// cross pairs; a quotient, also the divisor's pairs; any other nonlinear function, all pairs). Integers (indices, counts)
/// are computed exactly, so loops are iterated here, not unrolled in generated code; a condition that depends on x takes
/// both branches (the union), so the pattern holds for every x of that length. Covers straight-line code and sums
/// (branches included); anything else is rejected with a NotSupportedException.
/// </summary>
internal static class HessianSparsity
{
    public static SparsityPattern Of(Trace trace, int n)
    {
        var pairs = new HashSet<(int, int)>();
        Run(trace, n, [], 0, pairs);
        var rows = new List<int>[n];
        for (int i = 0; i < n; i++) rows[i] = new List<int>();
        foreach (var (i, j) in pairs)
        {
            rows[i].Add(j);
            if (i != j) rows[j].Add(i);
        }
        return SparsityPattern.FromRows(n, rows);
    }

    /// <summary>What a value is to the analysis: a known number (integers, booleans, constants) or a dependence set (null: unknown number).</summary>
    private readonly record struct Abstract(double? Number, int[] Depends)
    {
        public static readonly Abstract Unknown = new(null, []);
    }

    private static Abstract[] Run(Trace trace, int n, Abstract[] captured, int index, HashSet<(int, int)> pairs)
    {
        var values = new Abstract[trace.Count];
        var sums = new Dictionary<int, int[][]>();
        for (int i = 0; i < trace.Count; i++)
        {
            var ins = trace.Instructions[i];
            Abstract Operand(int k) => values[ins.Operand(k).Index];
            switch (ins.Op)
            {
                case Op.Const: values[i] = new(ins.Number, []); continue;
                case Op.Input: values[i] = new(null, [ins.B]); continue;
                case Op.InputAt:
                {
                    var at = Operand(0).Number ?? throw Unsupported("an element of x at an index that depends on x");
                    values[i] = new(null, [(int)at]);
                    continue;
                }
                case Op.InputLength: values[i] = new(n, []); continue;
                case Op.LoopIndex: values[i] = new(index, []); continue;
                case Op.Capture: values[i] = captured[ins.A]; continue;
                case Op.Project: values[i] = new(null, sums[ins.A][ins.B]); continue;
                case Op.Sum:
                {
                    var region = trace.Regions[ins.C];
                    var inner = region.Captures.Select(c => values[c.Index]).ToArray();
                    int start = (int)(Operand(0).Number ?? throw Unsupported("a loop whose start depends on x"));
                    // A branch runs when taken: both ways are in the pattern.
                    int count = Operand(1).Number is { } c ? (int)c : region.Branch ? 1 : throw Unsupported("a loop whose count depends on x");
                    if (region.Branch) count = Math.Max(count, 1);
                    var totals = region.Body.Outputs.Select(_ => new HashSet<int>()).ToArray();
                    for (int k = 0; k < count; k++)
                    {
                        var body = Run(region.Body, n, inner, start + k, pairs);
                        for (int o = 0; o < totals.Length; o++) totals[o].UnionWith(body[region.Body.Outputs[o].Index].Depends);
                    }
                    sums[i] = totals.Select(t => t.ToArray()).ToArray();
                    continue;
                }
                case Op.Data or Op.Fold or Op.Map or Op.ArgMax or Op.ArgMin or Op.State or Op.TapedState or Op.Element or Op.ArrayLength
                    or Op.ScatterAdd or Op.ZeroArray or Op.ArrayAdd:
                    throw Unsupported($"`{ins.Op}`");
            }
            var primitive = RuleTable.Get(ins.Op);
            var operands = Enumerable.Range(0, primitive.Arity).Select(Operand).ToArray();
            if (operands.All(o => o.Number is not null))
            {
                values[i] = new(RuleTable.Evaluate(primitive, trace.Instructions[ins.A].Kind, operands.Select(o => o.Number!.Value).ToArray()), []);
                continue;
            }
            if (ins.Kind != ValueKind.Scalar)
            {
                if (ins.Kind == ValueKind.Integer && ins.Op != Op.Select) throw Unsupported("an integer that depends on x");
                values[i] = Abstract.Unknown;
                continue;
            }
            // A select's condition is not differentiated: its value is either branch.
            var active = ins.Op == Op.Select ? operands.Skip(1).ToArray() : operands;
            var union = active.SelectMany(o => o.Depends).Distinct().ToArray();
            values[i] = new(null, union);
            switch (ins.Op)
            {
                case Op.Add or Op.Sub or Op.Neg or Op.Select or Op.Abs or Op.Max or Op.Min or Op.Clamp:
                    break; // piecewise linear: no second derivative
                case Op.Floor or Op.Ceiling or Op.Round or Op.Truncate or Op.Sign:
                    values[i] = new(null, []); // derivative zero
                    break;
                case Op.Mul or Op.MaskedMul:
                    Couple(pairs, operands[0].Depends, operands[1].Depends);
                    break;
                case Op.Div:
                    Couple(pairs, operands[0].Depends, operands[1].Depends);
                    Couple(pairs, operands[1].Depends, operands[1].Depends);
                    break;
                default:
                    Couple(pairs, union, union);
                    break;
            }
        }
        return values;
    }

    private static void Couple(HashSet<(int, int)> pairs, int[] a, int[] b)
    {
        foreach (int i in a)
            foreach (int j in b)
                pairs.Add(i <= j ? (i, j) : (j, i));
    }

    private static NotSupportedException Unsupported(string what) =>
        new($"The Hessian's sparsity pattern cannot yet be found through {what}.");
}
