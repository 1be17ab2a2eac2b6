using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Sparsity;

/// <summary>
/// What a value is to <see cref="DependenceAnalysis"/>: a known number (integers, booleans, constants, values read from
/// the data), the sorted set of elements of x it depends on (a scalar that varies with x), and for arrays and objects their
/// contents: a data array as read (<c>double[]</c>, <c>int[]</c>, <c>double[][]</c>), a map's result (<see cref="Abstract"/>[]),
/// or one of the user's objects as read (to read further from).
/// </summary>
internal readonly record struct Abstract(double? Number, int[] Depends, object? Array = null)
{
    /// <summary>A value not known to the analysis that depends on no element of x (an integer computed from x, say).</summary>
    public static readonly Abstract Unknown = new(null, []);
}

/// <summary>
/// An abstract evaluation of a trace for one length n of x (and one data argument), from which the sparsity patterns of
/// its Jacobian and Hessian follow (<see cref="Patterns"/>). Every scalar carries the set of elements of x it depends on;
/// with a pair collector, every nonlinear operation adds the pairs of elements its second derivatives can couple (a
/// product, the cross pairs; a quotient, also the divisor's pairs; any other nonlinear function, all pairs: the method of
/// Walther, "Computing sparse Hessians with automatic differentiation", 2008). Integers, booleans and data are computed
/// exactly, so loops (sums, folds, maps, arg-extrema) are iterated here, never unrolled in generated code, and data-driven
/// indices are followed. A condition that depends on x takes both ways (the union), an index that depends on x reaches
/// every element, so the pattern holds for every x of that length. Constructs only transforms emit are rejected.
/// </summary>
internal sealed class DependenceAnalysis
{
    private readonly int _n;
    private readonly CallTimeRead _read;
    private readonly HashSet<(int, int)>? _pairs;
    private readonly int _pairBudget;
    private readonly Dictionary<int, object?> _reads = new();
    private int[]? _everyElement;

    /// <param name="n">The length of x.</param>
    /// <param name="read">The value of data read k (see <see cref="Trace.DataReads"/>): a number, a bool, an array or an object.</param>
    /// <param name="pairs">Receives the coupled pairs (i &lt;= j) when the Hessian's pattern is wanted; null otherwise.</param>
    /// <param name="pairBudget">The most pairs wanted: beyond it the analysis stops with an <see cref="UnsupportedPatternException"/>.</param>
    public DependenceAnalysis(int n, CallTimeRead read, HashSet<(int, int)>? pairs, int pairBudget = int.MaxValue)
    {
        _n = n;
        _read = read;
        _pairs = pairs;
        _pairBudget = pairBudget;
    }

    /// <summary>The abstract values of <paramref name="trace"/>'s outputs.</summary>
    public Abstract[] Outputs(Trace trace)
    {
        var values = Run(trace, [], 0, [], couple: true);
        return trace.Outputs.Select(o => values[o.Index]).ToArray();
    }

    private Abstract[] Run(Trace trace, Abstract[] captured, int index, Abstract[] state, bool couple)
    {
        var values = new Abstract[trace.Count];
        var results = new Dictionary<int, Abstract[]>();
        for (int i = 0; i < trace.Count; i++)
        {
            var ins = trace.Instructions[i];
            Abstract Operand(int k) => values[ins.Operand(k).Index];
            switch (ins.Op)
            {
                case Op.Const: values[i] = new(ins.Number, []); continue;
                case Op.Input: values[i] = new(null, [ins.B]); continue;
                case Op.InputAt: values[i] = Operand(0).Number is { } at ? new(null, [(int)at]) : new(null, EveryElement()); continue;
                case Op.InputLength: values[i] = new(_n, []); continue;
                case Op.LoopIndex: values[i] = new(index, []); continue;
                case Op.Capture: values[i] = captured[ins.A]; continue;
                case Op.State: values[i] = state[ins.A]; continue;
                case Op.Project: values[i] = results[ins.A][ins.B]; continue;
                case Op.Data: values[i] = Known(Read(ins.A)); continue;
                case Op.Element: values[i] = Element(Operand(0), Operand(1)); continue;
                case Op.ArrayLength: values[i] = Length(Operand(0)); continue;
                case Op.Read: values[i] = ReadOf(ins.B, Operand(0), null); continue;
                case Op.ReadAt: values[i] = ReadOf(ins.C, Operand(0), Operand(1)); continue;
                case Op.Sum or Op.Fold or Op.Map:
                    results[i] = Loop(trace, ins, values, couple);
                    continue;
                case Op.ArgMax or Op.ArgMin:
                    values[i] = Extremum(trace, ins, values);
                    continue;
                case Op.TapedState or Op.ScatterAdd or Op.ZeroArray or Op.ArrayAdd:
                    throw Unsupported($"`{ins.Op}`, which only the transforms emit");
            }
            values[i] = Apply(trace, ins, values, couple);
        }
        return values;
    }

    /// <summary>An operation of the rule table: computed when its operands are known, else the union of their sets (and pairs).</summary>
    private Abstract Apply(Trace trace, Instruction ins, Abstract[] values, bool couple)
    {
        var primitive = RuleTable.Of(ins);
        var operands = new Abstract[primitive.Arity];
        bool known = true;
        for (int k = 0; k < operands.Length; k++)
        {
            operands[k] = values[ins.Operand(k).Index];
            known &= operands[k].Number is not null;
        }
        if (known)
            return new(RuleTable.Evaluate(primitive, trace.Instructions[ins.A].Kind, operands.Select(o => o.Number!.Value).ToArray()), []);
        // A select's condition is not differentiated: its value is the branch taken, or either when the condition is unknown.
        if (ins.Op == Op.Select)
        {
            if (operands[0].Number is { } condition) return condition != 0 ? operands[1] : operands[2];
            if (ins.Kind != ValueKind.Scalar) return Abstract.Unknown;
            return new(null, Union(operands[1].Depends, operands[2].Depends));
        }
        // Integers and booleans are never differentiated: one computed from x is just not known here.
        if (ins.Kind != ValueKind.Scalar) return Abstract.Unknown;
        int[] union = operands[0].Depends;
        for (int k = 1; k < operands.Length; k++) union = Union(union, operands[k].Depends);
        switch (ins.Op)
        {
            case Op.Add or Op.Sub or Op.Neg or Op.Abs or Op.Max or Op.Min or Op.Clamp or Op.IntToDouble:
                return new(null, union); // piecewise linear: no second derivative
            case Op.Floor or Op.Ceiling or Op.Round or Op.Truncate or Op.Sign:
                return Abstract.Unknown; // derivative zero
        }
        if (couple && _pairs is not null)
            switch (ins.Op)
            {
                case Op.Mul or Op.MaskedMul:
                    Couple(operands[0].Depends, operands[1].Depends);
                    break;
                case Op.Div:
                    Couple(operands[0].Depends, operands[1].Depends);
                    Couple(operands[1].Depends, operands[1].Depends);
                    break;
                default:
                    Couple(union, union);
                    break;
            }
        return new(null, union);
    }

    /// <summary>A sum, fold or map, iterated: sums and folds unite their results over the iterations, maps keep each element.</summary>
    private Abstract[] Loop(Trace trace, Instruction ins, Abstract[] values, bool couple)
    {
        var region = trace.Regions[ins.C];
        if (region.Backward || region.TapeOf is not null) throw Unsupported("a backward fold, which only the transforms emit");
        var captures = region.Captures.Select(c => values[c.Index]).ToArray();
        var start = values[ins.A].Number ?? throw Unsupported("a loop whose start depends on x");
        // A branch (a sum of at most one iteration) whose condition depends on x is taken: both ways are in the pattern.
        var count = values[ins.B].Number is { } c ? (int)c : region.Branch ? 1 : throw Unsupported("a loop whose count depends on x");
        var outputs = region.Body.Outputs;
        if (ins.Op == Op.Map)
        {
            var elements = outputs.Select(_ => new Abstract[Math.Max(0, count)]).ToArray();
            for (int k = 0; k < count; k++)
            {
                var body = Run(region.Body, captures, (int)start + k, [], couple);
                for (int o = 0; o < outputs.Length; o++) elements[o][k] = body[outputs[o].Index];
            }
            return elements.Select(e => new Abstract(null, [], e)).ToArray();
        }
        var state = region.Initial.Select(v => values[v.Index]).ToArray();
        var totals = new HashSet<int>[outputs.Length - state.Length];
        for (int o = 0; o < totals.Length; o++) totals[o] = new HashSet<int>();
        for (int k = 0; k < count; k++)
        {
            var body = Run(region.Body, captures, (int)start + k, state, couple);
            if (state.Length > 0) state = outputs.Take(state.Length).Select(o => body[o.Index]).ToArray();
            for (int o = 0; o < totals.Length; o++) totals[o].UnionWith(body[outputs[state.Length + o].Index].Depends);
        }
        return state.Concat(totals.Select(t => new Abstract(null, t.Order().ToArray()))).ToArray();
    }

    /// <summary>An arg-max or arg-min: the index itself when every compared value is known, else not known (it has no derivative).</summary>
    private Abstract Extremum(Trace trace, Instruction ins, Abstract[] values)
    {
        var region = trace.Regions[ins.C];
        var captures = region.Captures.Select(c => values[c.Index]).ToArray();
        var start = values[ins.A].Number ?? throw Unsupported("a loop whose start depends on x");
        var count = values[ins.B].Number ?? throw Unsupported("a loop whose count depends on x");
        int best = -1;
        double bestValue = 0;
        bool known = true;
        for (int k = 0; k < count; k++)
        {
            // The compared values are never differentiated: their products couple nothing.
            var body = Run(region.Body, captures, (int)start + k, [], couple: false);
            var value = body[region.Body.Outputs[0].Index].Number;
            var included = region.Body.Outputs.Length > 1 ? body[region.Body.Outputs[1].Index].Number : 1;
            if (value is null || included is null) { known = false; continue; }
            if (included == 0) continue;
            if (ins.Op == Op.ArgMax ? Codegen.Runtime.TakesMax(value.Value, bestValue, best >= 0) : Codegen.Runtime.TakesMin(value.Value, bestValue, best >= 0))
                (best, bestValue) = ((int)start + k, value.Value);
        }
        return known && best >= 0 ? new(best, []) : Abstract.Unknown;
    }

    private object? Read(int read)
    {
        if (!_reads.TryGetValue(read, out var value)) _reads.Add(read, value = _read(read, null, 0));
        return value;
    }

    /// <summary>
    /// A read of an object (at an index): data, so it depends on no element of x; known when the object and the index are
    /// (an index computed from x leaves it unknown).
    /// </summary>
    private Abstract ReadOf(int read, Abstract target, Abstract? index) =>
        target.Array is { } o && (index is null || index.Value.Number is not null)
            ? Known(_read(read, o, index is { Number: { } at } ? (int)at : 0)) : Abstract.Unknown;

    private static Abstract Known(object? value) => value switch
    {
        double d => new(d, []),
        int k => new(k, []),
        bool b => new(b ? 1 : 0, []),
        null => Abstract.Unknown,
        // Every numeric read is a double, an int or a bool (the frontend converts other types); the rest are arrays and objects.
        _ => new(null, [], value),
    };

    /// <summary>An element of a data array or of a map's result; at an index not known, any element.</summary>
    private static Abstract Element(Abstract array, Abstract index)
    {
        if (index.Number is not { } at)
            return array.Array is Abstract[] elements ? new(null, elements.Select(e => e.Depends).Aggregate(Array.Empty<int>(), Union)) : Abstract.Unknown;
        int k = (int)at;
        return array.Array switch
        {
            Abstract[] elements => elements[k],
            double[] data => new(data[k], []),
            int[] data => new(data[k], []),
            double[][] rows => new(null, [], rows[k]),
            _ => Abstract.Unknown,
        };
    }

    private static Abstract Length(Abstract array) =>
        array.Array is System.Array a ? new(a.Length, []) : throw Unsupported("the length of an array that is not known before the call");

    private int[] EveryElement() => _everyElement ??= Enumerable.Range(0, _n).ToArray();

    private void Couple(int[] a, int[] b)
    {
        foreach (int i in a)
            foreach (int j in b)
                _pairs!.Add(i <= j ? (i, j) : (j, i));
        if (_pairs!.Count > _pairBudget) throw new UnsupportedPatternException($"more than {_pairBudget} coupled pairs");
    }

    /// <summary>The union of two sorted sets, sorted; one of them when the other is empty or the same.</summary>
    private static int[] Union(int[] a, int[] b)
    {
        if (b.Length == 0 || ReferenceEquals(a, b)) return a;
        if (a.Length == 0) return b;
        var merged = new int[a.Length + b.Length];
        int i = 0, j = 0, m = 0;
        while (i < a.Length && j < b.Length)
        {
            int next = a[i] <= b[j] ? a[i] : b[j];
            if (a[i] == next) i++;
            if (b[j] == next) j++;
            merged[m++] = next;
        }
        while (i < a.Length) merged[m++] = a[i++];
        while (j < b.Length) merged[m++] = b[j++];
        return m == merged.Length ? merged : merged[..m];
    }

    private static UnsupportedPatternException Unsupported(string what) => new($"The sparsity pattern cannot be found through {what}.");
}

/// <summary>The pattern analysis cannot follow the function (the message says where), or its pattern is larger than wanted.</summary>
internal sealed class UnsupportedPatternException(string message) : NotSupportedException(message);
