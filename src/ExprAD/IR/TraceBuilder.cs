using System.Collections.Immutable;
using ExprAD.Rules;

namespace ExprAD.IR;

/// <summary>
/// Builds a trace one instruction at a time, simplifying before a node exists:
/// constants are folded, commutative operands are put in a canonical order, exact IEEE
/// identities are applied, and an instruction equal to an earlier one returns the earlier
/// value (hash-consing, so common subexpressions are shared by construction).
/// </summary>
/// <remarks>
/// Only identities that hold for every double, NaN and infinities included, are applied:
/// <c>x * 1</c>, <c>x / 1</c>, <c>x - (+0)</c>, <c>x + (-0)</c>, <c>-(-x)</c>, <c>x + (-y) = x - y</c>.
/// <c>x - x</c> and <c>0 * x</c> are not folded (NaN and infinity would make them wrong), and
/// neither is <c>x + (+0)</c> (it turns -0 into +0).
/// </remarks>
internal sealed class TraceBuilder
{
    private readonly List<Instruction> _instructions;
    private readonly Dictionary<Instruction, int> _existing;

    private readonly List<Region> _regions = new();
    // The loops of this builder by operation and range, for FindEqualLoop.
    private readonly Dictionary<(Op, int, int), List<int>> _loopsByRange = new();
    private readonly List<Value> _captures = new();
    private readonly Dictionary<Value, Value> _captured = new();

    /// <param name="environment">What the trace reads from outside.</param>
    /// <param name="parent">The builder of the enclosing trace, for a loop body.</param>
    /// <param name="capacity">How many instructions to expect (a long trace then never regrows its tables).</param>
    public TraceBuilder(TraceEnvironment environment, TraceBuilder? parent = null, int capacity = 0)
    {
        Environment = environment;
        Parent = parent;
        _instructions = new List<Instruction>(capacity);
        _existing = new Dictionary<Instruction, int>(capacity);
    }

    public TraceEnvironment Environment { get; }

    /// <summary>True when an instruction built so far is an effect.</summary>
    public bool HasEffects => _instructions.Any(i => i.Kind == ValueKind.Effect) || _regions.Any(r => r.Body.HasEffects);

    /// <summary>The builder of the enclosing trace, when this one builds a loop body.</summary>
    public TraceBuilder? Parent { get; }

    /// <summary>A builder for the body of a loop of this trace.</summary>
    public TraceBuilder CreateBody() => new(Environment, this);

    /// <summary>The iteration number, inside a loop body.</summary>
    public Value LoopIndex() => Append(new Instruction(Op.LoopIndex, ValueKind.Integer));

    /// <summary>
    /// Inside a loop body, the value <paramref name="outer"/> of the enclosing trace. Constants are
    /// copied rather than captured, so that folding sees them.
    /// </summary>
    /// <summary>
    /// A capture of <paramref name="outer"/> in a slot of its own, never shared with another capture of the same value (nor
    /// folded when it is a constant): a leaf that a transform can tell apart, such as the variable of a derivative taken
    /// inside a lambda (<see cref="Transforms.ForwardMode.ApplyInto"/> seeds it alone).
    /// </summary>
    public Value CaptureDistinct(Value outer)
    {
        var parent = Parent ?? throw new InvalidOperationException("Only a loop body captures values.");
        var value = Append(new Instruction(Op.Capture, parent[outer].Kind, _captures.Count));
        _captures.Add(outer);
        return value;
    }

    /// <summary>The values of the enclosing builder that this body's capture slots stand for, by slot.</summary>
    public IReadOnlyList<Value> CapturedValues => _captures;

    public Value Capture(Value outer)
    {
        var parent = Parent ?? throw new InvalidOperationException("Only a loop body captures values.");
        var ins = parent[outer];
        if (ins.Op == Op.Const) return Constant(ins.Kind, ins.Number);
        if (!_captured.TryGetValue(outer, out var value))
        {
            value = Append(new Instruction(Op.Capture, ins.Kind, _captures.Count));
            _captures.Add(outer);
            _captured.Add(outer, value);
        }
        return value;
    }

    /// <summary>
    /// A sum over i = start .. start + count - 1 of the outputs of <paramref name="body"/> (a builder
    /// from <see cref="CreateBody"/>); returns one value per output.
    /// </summary>
    public Value[] EmitSum(Value start, Value count, TraceBuilder body, IReadOnlyList<Value> summands, SumStyle style = default)
    {
        if (body.Parent != this) throw new InvalidOperationException("The body must be built by a child of this builder.");
        if (KindOf(start) != ValueKind.Integer || KindOf(count) != ValueKind.Integer)
            throw new InvalidOperationException("A sum's start and count must be integers.");
        foreach (var v in summands)
            if (body.KindOf(v) != ValueKind.Scalar) throw new InvalidOperationException("A sum adds scalars.");
        // A summand given twice (a fused primal and its recomputation) is summed once, and both results are the same
        // value, so that what is computed from them after the loop is shared too.
        var distinct = summands.Distinct().ToList();
        var region = new Region(body.Build(distinct), body._captures.ToImmutableArray()) { NegativeZeroStart = style.NegativeZeroStart, Branch = style.Branch };
        // A sum equal to an earlier one (same range, captures, style and body) is that sum, unless it has effects (an
        // adjoint loop adds into arrays each time it runs).
        Value tuple;
        if (!region.Body.HasEffects && FindEqualLoop(Op.Sum, start, count, region) is { } same) tuple = same;
        else
        {
            _regions.Add(region);
            tuple = Registered(Append(new Instruction(Op.Sum, ValueKind.Tuple, start.Index, count.Index, _regions.Count - 1)));
        }
        var results = distinct.Select((_, k) => Append(new Instruction(Op.Project, ValueKind.Scalar, tuple.Index, k))).ToArray();
        return summands.Select(s => results[distinct.IndexOf(s)]).ToArray();
    }

    /// <summary>
    /// Arrays of <paramref name="count"/> elements: element r of result k is <paramref name="outputs"/>[k] of <paramref name="body"/>
    /// at index start + r. Returns one array value per output. A map equal to an earlier one of this trace (same range,
    /// captures and body) is that map.
    /// </summary>
    public Value[] EmitMap(Value start, Value count, TraceBuilder body, IReadOnlyList<Value> outputs)
    {
        if (body.Parent != this) throw new InvalidOperationException("The body must be built by a child of this builder.");
        if (KindOf(start) != ValueKind.Integer || KindOf(count) != ValueKind.Integer)
            throw new InvalidOperationException("A map's start and count must be integers.");
        foreach (var v in outputs)
            if (body.KindOf(v) != ValueKind.Scalar) throw new InvalidOperationException("A map builds arrays of scalars.");
        var region = new Region(body.Build(outputs), body._captures.ToImmutableArray());
        // A map equal to an earlier one of this trace (a loop body's map, and its copy that the fused adjoint loop
        // replays) is that map: its arrays are built once.
        var map = FindEqualLoop(Op.Map, start, count, region) ?? AddLoop(Op.Map, start, count, region);
        return outputs.Select((_, k) => Append(new Instruction(Op.Project, ValueKind.Array, map.Index, k))).ToArray();
    }

    /// <summary>A new array of <paramref name="length"/> zeros (never shared: each is a buffer of its own).</summary>
    public Value ZeroArray(Value length)
    {
        if (KindOf(length) != ValueKind.Integer) throw new InvalidOperationException("A length is an integer.");
        return Effect(new Instruction(Op.ZeroArray, ValueKind.Array, length.Index));
    }

    /// <summary>Adds <paramref name="value"/> into element <paramref name="index"/> of the array <paramref name="array"/> (a <see cref="ZeroArray"/>).</summary>
    public void ArrayAdd(Value array, Value index, Value value) =>
        Effect(new Instruction(Op.ArrayAdd, ValueKind.Effect, array.Index, index.Index, value.Index));

    /// <summary>Inside a fold's body: carried state <paramref name="slot"/> at the start of the iteration.</summary>
    public Value State(int slot, ValueKind kind = ValueKind.Scalar) => Append(new Instruction(Op.State, kind, slot));

    /// <summary>Inside a backward fold's body: state <paramref name="slot"/> of the taped fold at the start of this iteration.</summary>
    public Value TapedState(int slot, ValueKind kind = ValueKind.Scalar) => Append(new Instruction(Op.TapedState, kind, slot));

    /// <summary>
    /// A loop carrying state: starting from <paramref name="initial"/>, each iteration i = start .. start + count - 1
    /// (in reverse order when <paramref name="backward"/>) replaces the state with the first
    /// <c>initial.Length</c> of <paramref name="outputs"/> of <paramref name="body"/>, and adds the rest into sums.
    /// Returns the fold (a tuple, which a backward fold's <see cref="Region.TapeOf"/> may name) and its results:
    /// the final state, then the sums.
    /// </summary>
    public (Value Fold, Value[] Results) EmitFold(Value start, Value count, IReadOnlyList<Value> initial, TraceBuilder body,
        IReadOnlyList<Value> outputs, bool backward = false, int tapeInterval = 0, Value? tapeOf = null, int recorded = 0,
        ImmutableArray<Value> recordedLengths = default)
    {
        if (body.Parent != this) throw new InvalidOperationException("The body must be built by a child of this builder.");
        if (KindOf(start) != ValueKind.Integer || KindOf(count) != ValueKind.Integer)
            throw new InvalidOperationException("A fold's start and count must be integers.");
        if (initial.Count == 0 || outputs.Count < initial.Count) throw new InvalidOperationException("A fold carries at least one state, and its body computes each.");
        for (int k = 0; k < outputs.Count; k++)
        {
            // A state's next value has the state's kind, a sum is a scalar; recorded values (the last `recorded` outputs)
            // are scalars or arrays.
            var kind = k < initial.Count ? KindOf(initial[k]) : k >= outputs.Count - recorded ? body.KindOf(outputs[k]) : ValueKind.Scalar;
            if (kind is not (ValueKind.Scalar or ValueKind.Array) || body.KindOf(outputs[k]) != kind)
                throw new InvalidOperationException("A fold carries scalars and arrays, each state's next value of its own kind, and sums scalars.");
        }
        var region = new Region(body.Build(outputs), body._captures.ToImmutableArray())
        {
            Initial = initial.ToImmutableArray(),
            Backward = backward,
            TapeInterval = tapeInterval,
            TapeOf = tapeOf,
            RecordedCount = recorded,
            RecordedLengths = recordedLengths.IsDefault ? [] : recordedLengths,
        };
        int resultCount = outputs.Count - recorded;
        // A forward fold equal to an earlier one of this trace (the primal loop fused with the adjoint loop that recomputes
        // it) is that fold: it is computed once, and records the tape if either copy does.
        if (!backward && FindEqualLoop(Op.Fold, start, count, region) is { } earlier)
        {
            var kept = _regions[this[earlier].C];
            // The kept fold takes on the other's tape, and its recorded values (the same instructions, so the same outputs).
            if (tapeInterval > kept.TapeInterval) kept = kept with { TapeInterval = tapeInterval };
            if (recorded > kept.RecordedCount) kept = kept with { Body = region.Body, RecordedCount = recorded, RecordedLengths = region.RecordedLengths };
            _regions[this[earlier].C] = kept;
            return (earlier, Enumerable.Range(0, resultCount)
                .Select(k => Append(new Instruction(Op.Project, k < initial.Count ? KindOf(initial[k]) : ValueKind.Scalar, earlier.Index, k))).ToArray());
        }
        var fold = AddLoop(Op.Fold, start, count, region);
        return (fold, Enumerable.Range(0, resultCount)
            .Select(k => Append(new Instruction(Op.Project, k < initial.Count ? KindOf(initial[k]) : ValueKind.Scalar, fold.Index, k))).ToArray());
    }

    /// <summary>
    /// An earlier forward loop of this builder (a sum, map, fold or arg-extremum without effects) that computes what
    /// <paramref name="region"/> would: the same operation, range, captures, initial state, style and body, up to the values a
    /// fold records. Null: none.
    /// </summary>
    private Value? FindEqualLoop(Op op, Value start, Value count, Region region)
    {
        static Trace Results(Region r) => r.Body.WithOutputs(r.Body.Outputs[..r.ResultCount]);
        if (!_loopsByRange.TryGetValue((op, start.Index, count.Index), out var candidates)) return null;
        foreach (int i in candidates)
        {
            var ins = _instructions[i];
            var other = _regions[ins.C];
            if (!other.Backward && other.TapeOf is null && other.Style == region.Style && !other.Body.HasEffects
                && other.Initial.SequenceEqual(region.Initial) && other.Captures.SequenceEqual(region.Captures)
                && SameTrace(Results(other), Results(region)))
                return new Value(i);
        }
        return null;
    }

    /// <summary>Adds <paramref name="region"/> and the loop instruction running it.</summary>
    private Value AddLoop(Op op, Value start, Value count, Region region)
    {
        _regions.Add(region);
        return Registered(Effect(new Instruction(op, ValueKind.Tuple, start.Index, count.Index, _regions.Count - 1)));
    }

    /// <summary>Records a loop instruction of this builder under its operation and range.</summary>
    private Value Registered(Value loop)
    {
        var ins = _instructions[loop.Index];
        if (!_loopsByRange.TryGetValue((ins.Op, ins.A, ins.B), out var list)) _loopsByRange.Add((ins.Op, ins.A, ins.B), list = new List<int>());
        list.Add(loop.Index);
        return loop;
    }

    /// <summary>True when two loop bodies are the same computation: the same instructions (data reads are numbered per lambda), outputs and nested loops.</summary>
    private static bool SameTrace(Trace a, Trace b) =>
        a.Instructions.SequenceEqual(b.Instructions) && a.Outputs.SequenceEqual(b.Outputs)
        && a.Regions.Length == b.Regions.Length && a.Regions.Zip(b.Regions).All(p =>
            p.First.Captures.SequenceEqual(p.Second.Captures) && p.First.Initial.SequenceEqual(p.Second.Initial)
            && p.First.Backward == p.Second.Backward && p.First.TapeInterval == p.Second.TapeInterval && p.First.TapeOf == p.Second.TapeOf
            && p.First.Style == p.Second.Style && SameTrace(p.First.Body, p.Second.Body));

    /// <summary>Makes the (forward) fold <paramref name="fold"/> of this builder record its state every <paramref name="interval"/> iterations.</summary>
    public void RequestTape(Value fold, int interval)
    {
        var ins = this[fold];
        if (ins.Op != Op.Fold || _regions[ins.C].Backward) throw new InvalidOperationException("Only a forward fold records a tape.");
        _regions[ins.C] = _regions[ins.C] with { TapeInterval = interval };
    }

    /// <summary>
    /// Makes the taped fold <paramref name="fold"/> of this builder also record, after each iteration, values of the top of its
    /// body that are costly to compute again, so that its backward fold reads them: every sum's results; the arrays of every
    /// map that runs loops of its own (a map of inner sums, see <see cref="Passes.NestedSumSplitting"/>) whose length is the
    /// same in every iteration (a constant or a captured count); and every call into the math library
    /// (<see cref="Rules.Primitive.IsCostly"/>). Recorded once (a fold taped with checkpoints records nothing). Returns, for
    /// each recorded instruction of the body, the tape slot of its (first) value (one slot per recorded value, scalar or array).
    /// </summary>
    public IReadOnlyDictionary<int, int> RecordValues(Value fold)
    {
        var ins = this[fold];
        var region = _regions[ins.C];
        var body = region.Body;
        var slots = new Dictionary<int, int>();
        if (region.TapeInterval != 1) return slots;
        var outputs = body.Outputs.ToList();
        var lengths = new List<Value>();
        int count = 0;
        for (int j = 0; j < body.Count; j++)
        {
            var at = body.Instructions[j];
            Value[] values;
            Value? length = null;
            if (at.Op is Op.Sum or Op.Map)
            {
                var loopBody = body.Regions[at.C].Body;
                if (at.Op == Op.Map)
                {
                    if (!loopBody.Instructions.Any(i => i.IsRegion)) continue;
                    var counted = body.Instructions[at.B];
                    if (counted.Op == Op.Capture) length = region.Captures[counted.A];
                    else if (counted.Op == Op.Const) length = Integer((int)counted.Number);
                    else continue;
                }
                if (ProjectionsOf(body, j, loopBody.Outputs.Length) is not { } projections) continue;
                values = projections;
            }
            else if (at.Kind == ValueKind.Scalar && !at.IsLeaf && !at.IsRegion && at.Op is not (Op.Project or Op.InputAt or Op.ScatterAdd)
                     && Rules.RuleTable.Of(at).IsCostly)
                values = [new Value(j)];
            else continue;
            slots[j] = region.StateCount + count;
            count += values.Length;
            // Recorded already (by another sweep over the same fold): the same slots.
            if (region.RecordedCount > 0) continue;
            outputs.AddRange(values);
            if (length is { } n) lengths.AddRange(Enumerable.Repeat(n, values.Length));
        }
        if (region.RecordedCount == 0)
            _regions[ins.C] = region with { Body = body.WithOutputs(outputs.ToImmutableArray()), RecordedCount = count, RecordedLengths = lengths.ToImmutableArray() };
        return slots;
    }

    /// <summary>The projections of every result of the loop at <paramref name="loop"/> in <paramref name="body"/>, or null if one is missing.</summary>
    private static Value[]? ProjectionsOf(Trace body, int loop, int results)
    {
        var projections = new Value[results];
        var found = new bool[results];
        for (int j = loop + 1; j < body.Count; j++)
            if (body.Instructions[j] is { Op: Op.Project } p && p.A == loop && !found[p.B]) { projections[p.B] = new Value(j); found[p.B] = true; }
        return found.All(f => f) ? projections : null;
    }

    public int Count => _instructions.Count;

    public Instruction this[Value v] => _instructions[v.Index];

    public ValueKind KindOf(Value v) => _instructions[v.Index].Kind;

    public bool TryGetConstant(Value v, out double number)
    {
        var ins = _instructions[v.Index];
        number = ins.Number;
        return ins.Op == Op.Const;
    }

    private bool IsConstant(Value v, double number) =>
        TryGetConstant(v, out var c) && BitConverter.DoubleToInt64Bits(c) == BitConverter.DoubleToInt64Bits(number);

    public Value Constant(double number) => Append(new Instruction(Op.Const, ValueKind.Scalar, number: number));

    public Value Integer(int number) => Append(new Instruction(Op.Const, ValueKind.Integer, number: number));

    public Value Boolean(bool value) => Append(new Instruction(Op.Const, ValueKind.Boolean, number: value ? 1 : 0));

    public Value Constant(ValueKind kind, double number) => Append(new Instruction(Op.Const, kind, number: number));

    /// <summary>An active input: scalar parameter <paramref name="parameter"/>, or element <paramref name="element"/> of an array parameter.</summary>
    public Value Input(int parameter, int element = -1) =>
        Append(new Instruction(Op.Input, ValueKind.Scalar, parameter, element));

    /// <summary>
    /// The index i in start .. start + count - 1 at which <paramref name="output"/> of <paramref name="body"/> is
    /// largest (<see cref="Op.ArgMax"/>) or smallest (<see cref="Op.ArgMin"/>) as LINQ's Max and Min over doubles choose
    /// (the first on ties; see <see cref="Codegen.Runtime.TakesMax"/> for NaN), among the iterations where
    /// <paramref name="keep"/> (a boolean body output, when given) holds; <see cref="InvalidOperationException"/>, as LINQ
    /// throws, when there is none.
    /// </summary>
    public Value EmitArgExtremum(Op op, Value start, Value count, TraceBuilder body, Value output, Value? keep = null)
    {
        if (op is not (Op.ArgMax or Op.ArgMin) || body.Parent != this || body.KindOf(output) != ValueKind.Scalar
            || keep is { } k && body.KindOf(k) != ValueKind.Boolean)
            throw new InvalidOperationException("An arg-extremum ranges over a scalar body output, kept where a boolean one holds.");
        var region = new Region(body.Build(keep is { } kept ? [output, kept] : [output]), body._captures.ToImmutableArray());
        // The same search over the same range (a primal's and its recomputation in a fused adjoint loop) runs once.
        if (FindEqualLoop(op, start, count, region) is { } same) return same;
        _regions.Add(region);
        return Registered(Append(new Instruction(op, ValueKind.Integer, start.Index, count.Index, _regions.Count - 1)));
    }

    /// <summary>Element <paramref name="index"/> of array parameter <paramref name="parameter"/> (a constant index gives an ordinary input).</summary>
    public Value InputAt(int parameter, Value index)
    {
        if (KindOf(index) != ValueKind.Integer) throw new InvalidOperationException("An index must be an integer.");
        if (TryGetConstant(index, out var i) && i >= 0) return Input(parameter, (int)i);
        return Append(new Instruction(Op.InputAt, ValueKind.Scalar, index.Index, parameter));
    }

    /// <summary>The length of array parameter <paramref name="parameter"/>.</summary>
    public Value InputLength(int parameter) => Append(new Instruction(Op.InputLength, ValueKind.Integer, parameter));

    /// <summary>
    /// Adds <paramref name="value"/> into the gradient of array parameter <paramref name="parameter"/> at <paramref name="index"/>;
    /// <paramref name="sink"/> 1 + d adds into the gradient's tangent in direction d instead (forward mode over reverse mode; see <see cref="Op.ScatterAdd"/>).
    /// </summary>
    public void ScatterAdd(int parameter, Value index, Value value, int sink = 0)
    {
        // Never hash-consed: two equal contributions must both be added.
        _instructions.Add(new Instruction(Op.ScatterAdd, ValueKind.Effect, index.Index, value.Index, parameter, sink));
    }

    /// <summary>A value read at call time; equal accessors share one read (see <see cref="DataReadTable"/>).</summary>
    public Value Data(DataRead read) => Append(new Instruction(Op.Data, read.Kind, Environment.DataReads.IndexOf(read)));

    /// <summary>
    /// A value read at call time from the object <paramref name="target"/> (and, when given, at <paramref name="index"/>:
    /// an <see cref="Op.ReadAt"/>) through <paramref name="read"/>, whose accessor is a lambda of the object (and the index).
    /// Equal reads of one object are one value, as for <see cref="Data"/>.
    /// </summary>
    public Value Read(Value target, DataRead read, Value? index = null)
    {
        int parameters = index is null ? 1 : 2;
        if (KindOf(target) != ValueKind.Object || index is { } at && KindOf(at) != ValueKind.Integer
            || read.Accessor is not System.Linq.Expressions.LambdaExpression { Parameters.Count: var count } || count != parameters)
            throw new InvalidOperationException("A read takes an object (and an integer index) through an accessor of as many parameters.");
        int id = Environment.DataReads.IndexOf(read);
        return Append(index is { } i ? new Instruction(Op.ReadAt, read.Kind, target.Index, i.Index, id) : new Instruction(Op.Read, read.Kind, target.Index, id));
    }

    /// <summary>Re-emits an instruction whose operands are already values of this builder.</summary>
    public Value Emit(Instruction ins) => ins.Op switch
    {
        Op.Const => Constant(ins.Kind, ins.Number),
        Op.Input or Op.Data or Op.LoopIndex or Op.Capture or Op.State or Op.TapedState or Op.Project or Op.InputLength or Op.Read or Op.ReadAt => Append(ins),
        Op.InputAt => InputAt(ins.B, new Value(ins.A)),
        Op.ScatterAdd or Op.ZeroArray or Op.ArrayAdd => Effect(ins),
        Op.Sum or Op.Fold or Op.Map or Op.ArgMax or Op.ArgMin => throw new InvalidOperationException("Regions are re-emitted through TraceCopy."),
        Op.Call => Call(RuleTable.Of(ins), Enumerable.Range(0, ins.Arity).Select(k => ins.Operand(k)).ToArray()),
        _ => ins.Arity switch
        {
            1 => Emit(ins.Op, new Value(ins.A)),
            2 => Emit(ins.Op, new Value(ins.A), new Value(ins.B)),
            _ => Emit(ins.Op, new Value(ins.A), new Value(ins.B), new Value(ins.C)),
        },
    };

    /// <summary>
    /// A call of a method with a user-defined derivative (<paramref name="rule"/>, from <see cref="CustomRules"/>) on scalar
    /// <paramref name="args"/> (one to four). Never folded (user code runs at call time, where it may throw); equal calls
    /// are shared like any instruction.
    /// </summary>
    public Value Call(Primitive rule, IReadOnlyList<Value> args)
    {
        if (rule.CustomNumber < 0 || args.Count != rule.Arity || args.Count is < 1 or > 4 || args.Any(a => KindOf(a) != ValueKind.Scalar))
            throw new InvalidOperationException($"A call of {rule.Name} takes {rule.Arity} scalar operands (one to four).");
        int At(int k) => k < args.Count ? args[k].Index : -1;
        return Append(new Instruction(Op.Call, ValueKind.Scalar, At(0), At(1), At(2), rule.CustomNumber, At(3)));
    }

    public Value Emit(Op op, Value a) => Emit(op, a, default, default, 1);
    public Value Emit(Op op, Value a, Value b) => Emit(op, a, b, default, 2);
    public Value Emit(Op op, Value a, Value b, Value c) => Emit(op, a, b, c, 3);

    public Value Add(Value a, Value b) => Emit(Op.Add, a, b);
    public Value Sub(Value a, Value b) => Emit(Op.Sub, a, b);
    public Value Mul(Value a, Value b) => Emit(Op.Mul, a, b);
    public Value Div(Value a, Value b) => Emit(Op.Div, a, b);
    public Value Neg(Value a) => Emit(Op.Neg, a);
    public Value Select(Value condition, Value whenTrue, Value whenFalse) => Emit(Op.Select, condition, whenTrue, whenFalse);

    private Value Emit(Op op, Value a, Value b, Value c, int arity)
    {
        var primitive = RuleTable.Get(op);
        if (primitive.Arity != arity)
            throw new InvalidOperationException($"{op} takes {primitive.Arity} operands, not {arity}.");
        var kind = ResultKind(primitive, a, b, c);

        if (primitive.IsCommutative && a.Index > b.Index) (a, b) = (b, a);

        if (TryFold(primitive, kind, a, b, c, arity, out var folded)) return folded;
        if (TrySimplify(op, kind, a, b, c, out var simpler)) return simpler;

        return Append(new Instruction(op, kind, a.Index, arity > 1 ? b.Index : -1, arity > 2 ? c.Index : -1));
    }

    private ValueKind ResultKind(Primitive p, Value a, Value b, Value c)
    {
        ValueKind Kind(Value v) => _instructions[v.Index].Kind;
        void Expect(bool ok, string what)
        {
            if (!ok) throw new InvalidOperationException($"{p.Op}: {what} (operand kinds {Kind(a)}{(p.Arity > 1 ? ", " + Kind(b) : "")}{(p.Arity > 2 ? ", " + Kind(c) : "")}).");
        }
        switch (p.Signature)
        {
            case OpSignature.Numeric:
                Expect(Kind(a) != ValueKind.Boolean, "operands must be numeric");
                for (int k = 1; k < p.Arity; k++) Expect(Kind(k == 1 ? b : c) == Kind(a), "operands must have one kind");
                return Kind(a);
            case OpSignature.Scalar:
                for (int k = 0; k < p.Arity; k++) Expect(Kind(k == 0 ? a : k == 1 ? b : c) == ValueKind.Scalar, "operands must be scalar");
                return ValueKind.Scalar;
            case OpSignature.Compare:
                Expect(Kind(a) != ValueKind.Boolean && Kind(a) == Kind(b), "operands must be numeric and of one kind");
                return ValueKind.Boolean;
            case OpSignature.Logic:
                for (int k = 0; k < p.Arity; k++) Expect(Kind(k == 0 ? a : b) == ValueKind.Boolean, "operands must be boolean");
                return ValueKind.Boolean;
            case OpSignature.Select:
                Expect(Kind(a) == ValueKind.Boolean && Kind(b) == Kind(c), "condition must be boolean and branches of one kind");
                return Kind(b);
            case OpSignature.ScalarToInteger:
                Expect(Kind(a) == ValueKind.Scalar, "operand must be scalar");
                return ValueKind.Integer;
            case OpSignature.IntegerToScalar:
                Expect(Kind(a) == ValueKind.Integer, "operand must be an integer");
                return ValueKind.Scalar;
            case OpSignature.ArrayElement:
                Expect(Kind(a) is ValueKind.Array or ValueKind.Jagged or ValueKind.IntegerArray && Kind(b) == ValueKind.Integer, "an array and an integer index");
                return Kind(a) switch { ValueKind.Jagged => ValueKind.Array, ValueKind.IntegerArray => ValueKind.Integer, _ => ValueKind.Scalar };
            case OpSignature.ArrayLength:
                Expect(Kind(a) is ValueKind.Array or ValueKind.Jagged or ValueKind.IntegerArray, "an array");
                return ValueKind.Integer;
            case OpSignature.Read:
                throw new InvalidOperationException("A read's kind is its accessor's: build it with Read.");
            default:
                throw new InvalidOperationException(p.Signature.ToString());
        }
    }

    private bool TryFold(Primitive p, ValueKind kind, Value a, Value b, Value c, int arity, out Value result)
    {
        result = default;
        if (p.Signature is OpSignature.ArrayElement or OpSignature.ArrayLength or OpSignature.Read) return false;
        var operands = new double[arity];
        for (int k = 0; k < arity; k++)
        {
            var v = k == 0 ? a : k == 1 ? b : c;
            if (!TryGetConstant(v, out operands[k])) return false;
        }
        // Operations that throw at run time are left to throw there: folding them would move the exception to compile
        // time, and into branches C# does not take (integer division by zero, Clamp with min > max, Sign of NaN, checks).
        double folded;
        try { folded = RuleTable.Evaluate(p, KindOf(a), operands); }
        catch (Exception e) when (e is ArithmeticException or ArgumentException or InvalidOperationException) { return false; }
        result = Constant(kind, folded);
        return true;
    }

    private bool TrySimplify(Op op, ValueKind kind, Value a, Value b, Value c, out Value result)
    {
        bool scalar = kind == ValueKind.Scalar;
        double zeroThatAddsExactly = scalar ? -0.0 : 0.0;
        result = op switch
        {
            Op.Add when IsConstant(b, zeroThatAddsExactly) => a,
            Op.Add when IsConstant(a, zeroThatAddsExactly) => b,
            Op.Add when this[b].Op == Op.Neg => Sub(a, new Value(this[b].A)),
            Op.Add when this[a].Op == Op.Neg => Sub(b, new Value(this[a].A)),
            Op.Sub when IsConstant(b, 0.0) => a,
            Op.Sub when this[b].Op == Op.Neg => Add(a, new Value(this[b].A)),
            Op.Mul when IsConstant(b, 1.0) => a,
            Op.Mul when IsConstant(a, 1.0) => b,
            Op.Mul when scalar && IsConstant(b, -1.0) => Neg(a),
            Op.Mul when scalar && IsConstant(a, -1.0) => Neg(b),
            Op.Div when IsConstant(b, 1.0) => a,
            Op.Div when scalar && IsConstant(b, -1.0) => Neg(a),
            Op.Neg when this[a].Op == Op.Neg => new Value(this[a].A),
            Op.Not when this[a].Op == Op.Not => new Value(this[a].A),
            Op.Pow when IsConstant(b, 1.0) => a,
            Op.Select when TryGetConstant(a, out var condition) => condition != 0 ? b : c,
            Op.Select when b == c => b,
            Op.MaskedMul when TryGetConstant(a, out var adjoint) && adjoint == 0 => Constant(0.0),
            Op.MaskedMul when IsConstant(b, 1.0) => a,
            Op.MaskedMul when TryGetConstant(b, out var factor) && double.IsFinite(factor) => Mul(a, b),
            Op.MaskedMul when TryGetConstant(a, out _) => Mul(a, b),
            _ => new Value(-1),
        };
        return result.Index >= 0;
    }

    private Value Effect(Instruction ins)
    {
        _instructions.Add(ins);
        return new Value(_instructions.Count - 1);
    }

    private Value Append(Instruction ins)
    {
        if (_existing.TryGetValue(ins, out int index)) return new Value(index);
        index = _instructions.Count;
        _instructions.Add(ins);
        _existing.Add(ins, index);
        return new Value(index);
    }

    public Trace Build(IEnumerable<Value> outputs) =>
        new(_instructions.ToImmutableArray(), outputs.ToImmutableArray(), Environment, _regions.ToImmutableArray());
}
