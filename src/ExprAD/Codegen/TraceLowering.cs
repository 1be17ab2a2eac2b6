using System.Linq.Expressions;
using System.Reflection;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Codegen;

/// <summary>How a trace meets the delegate it is lowered into: parameters, inputs, checks, outputs.</summary>
internal sealed record LoweringPlan
{
    /// <summary>The lambda's parameters in order; must include the trace environment's parameters that data reads use.</summary>
    public required IReadOnlyList<ParameterExpression> Parameters { get; init; }

    /// <summary>Reads the value of an <see cref="Op.Input"/> instruction.</summary>
    public required Func<Instruction, Expression> ReadInput { get; init; }

    /// <summary>Reads element (index) of array parameter (int) for an <see cref="Op.InputAt"/>.</summary>
    public Func<int, Expression, Expression>? ReadInputAt { get; init; }

    /// <summary>The length of an array parameter, for <see cref="Op.InputLength"/>.</summary>
    public Func<int, Expression>? ReadLength { get; init; }

    /// <summary>The statement adding (value) into the gradient of parameter (int) at (index), for <see cref="Op.ScatterAdd"/>.</summary>
    public Func<int, Expression, Expression, Expression>? Accumulate { get; init; }

    /// <summary>The user's compilation options (parallel loops).</summary>
    public ADOptions Options { get; init; } = ADOptions.Default;

    /// <summary>Statements run before anything else (argument checks).</summary>
    public IReadOnlyList<Expression> Prologue { get; init; } = [];

    /// <summary>Given the expressions of the trace outputs, the final statements; the last one is the delegate's result.</summary>
    public required Func<IReadOnlyList<Expression>, IEnumerable<Expression>> Epilogue { get; init; }
}

/// <summary>
/// Code generation: lowers a trace into a block expression, one assignment per instruction,
/// with locals reused by liveness, so the number of locals is the largest number of values live
/// at once rather than the length of the trace.
/// </summary>
/// <remarks>
/// The .NET JIT stops optimising a method beyond a few thousand locals, local references or
/// basic blocks (and rejects very large ones outright), so a long trace is cut into chunks of
/// at most <see cref="DefaultChunkSize"/> instructions, each compiled as its own method. Values
/// that cross a chunk boundary travel through a per-thread spill buffer (slots reused by
/// liveness); steady-state calls still allocate nothing.
/// </remarks>
internal static partial class TraceLowering
{
    public const int DefaultChunkSize = 1000;

    private static readonly MethodInfo RentSpill = typeof(Runtime).GetMethod(nameof(Runtime.RentSpill))!;
    private static readonly MethodInfo ReturnSpill = typeof(Runtime).GetMethod(nameof(Runtime.ReturnSpill))!;

    /// <summary>Lowers <paramref name="trace"/>; <paramref name="compileChunk"/> compiles the separate chunk methods of long traces.</summary>
    public static Expression<TDelegate> Lower<TDelegate>(Trace trace, LoweringPlan plan,
        Func<LambdaExpression, Delegate> compileChunk, int chunkSize = DefaultChunkSize)
    {
        var lastUse = LastUses(trace);
        var chunkStarts = ChunkStarts(trace, chunkSize);
        if (chunkStarts.Count == 1)
        {
            var pool = new LocalPool();
            var block = new BlockEmitter(trace, plan, lastUse, new Scratch(trace.Count), pool, 0, trace.Count, spill: null, slots: null) { CompileMethod = compileChunk };
            block.EmitInstructions();
            var body = plan.Prologue.Concat(block.Body).Concat(plan.Epilogue(trace.Outputs.Select(o => block.ValueOf(o.Index)).ToArray())).ToList();
            return Expression.Lambda<TDelegate>(Expression.Block(body[^1].Type, pool.Locals, body), plan.Parameters);
        }
        return LowerInChunks<TDelegate>(trace, plan, lastUse, compileChunk, chunkStarts);
    }

    /// <summary>The position of the last instruction reading each value (a region reads its captures); outputs: int.MaxValue; unread: -1.</summary>
    private static int[] LastUses(Trace trace)
    {
        var lastUse = new int[trace.Count];
        Array.Fill(lastUse, -1);
        for (int i = 0; i < trace.Count; i++) trace.ForEachUse(trace.Instructions[i], operand => lastUse[operand] = i);
        foreach (var o in trace.Outputs) lastUse[o.Index] = int.MaxValue;
        return lastUse;
    }

    /// <summary>
    /// Where chunks start: about every <paramref name="chunkSize"/> instructions, a loop counting with
    /// its body, and never between a loop and the projections of its results.
    /// </summary>
    private static List<int> ChunkStarts(Trace trace, int chunkSize)
    {
        var starts = new List<int> { 0 };
        int size = 0;
        for (int i = 0; i < trace.Count; i++)
        {
            var ins = trace.Instructions[i];
            if (size >= chunkSize && ins.Op != Op.Project)
            {
                starts.Add(i);
                size = 0;
            }
            size += ins.IsRegion ? 1 + trace.Regions[ins.C].Body.Count : 1;
        }
        return starts;
    }

    private static Expression<TDelegate> LowerInChunks<TDelegate>(Trace trace, LoweringPlan plan, int[] lastUse,
        Func<LambdaExpression, Delegate> compileChunk, List<int> chunkStarts)
    {
        int n = trace.Count;
        var chunkOf = new int[n];
        for (int c = 0; c < chunkStarts.Count; c++)
            for (int i = chunkStarts[c]; i < (c + 1 < chunkStarts.Count ? chunkStarts[c + 1] : n); i++) chunkOf[i] = c;
        var slots = AssignSpillSlots(trace, lastUse, chunkOf, out int slotCount);
        var spill = Expression.Parameter(typeof(double[]), "spill");
        var chunkParameters = plan.Parameters.Where(p => !p.IsByRef).Append(spill).ToArray();
        var chunkType = Expression.GetActionType(chunkParameters.Select(p => p.Type).ToArray());

        var body = new List<Expression>(plan.Prologue) { Expression.Assign(spill, Expression.Call(RentSpill, Expression.Constant(slotCount))) };
        var calls = new List<Expression>();
        var scratch = new Scratch(n);
        for (int c = 0; c < chunkStarts.Count; c++)
        {
            var pool = new LocalPool();
            var block = new BlockEmitter(trace, plan, lastUse, scratch, pool, chunkStarts[c], c + 1 < chunkStarts.Count ? chunkStarts[c + 1] : n, spill, slots) { CompileMethod = compileChunk };
            block.EmitReloads();
            block.EmitInstructions();
            block.Body.Add(Expression.Empty());
            var chunk = Expression.Lambda(chunkType, Expression.Block(typeof(void), pool.Locals, block.Body), chunkParameters);
            calls.Add(Expression.Invoke(Expression.Constant(compileChunk(chunk), chunkType), chunkParameters));
        }
        var outputs = trace.Outputs.Select(o => trace.Instructions[o.Index] switch
        {
            { Op: Op.Const } constant => ConstantOf(constant),
            { Op: Op.Data } read => trace.DataReads[read.A].Accessor,
            var value => FromSpill(spill, slots[o.Index], value.Kind),
        }).ToArray();
        var epilogue = plan.Epilogue(outputs).ToList();
        // Outputs are read from the spill buffer before it is returned; the result is kept in a local.
        var result = Expression.Variable(epilogue[^1].Type, "result");
        calls.AddRange(epilogue.Take(epilogue.Count - 1));
        calls.Add(Expression.Assign(result, epilogue[^1]));
        body.Add(Expression.TryFinally(Expression.Block(typeof(void), calls), Expression.Call(ReturnSpill, spill)));
        body.Add(result);
        return Expression.Lambda<TDelegate>(Expression.Block(result.Type, [spill, result], body), plan.Parameters);
    }

    /// <summary>
    /// A spill slot for every value that is used outside the chunk defining it (outputs included),
    /// reused once the last chunk that reads the value is done.
    /// </summary>
    private static int[] AssignSpillSlots(Trace trace, int[] lastUse, int[] chunkOf, out int slotCount)
    {
        int n = trace.Count;
        var slots = new int[n];
        Array.Fill(slots, -1);
        var freeSlots = new Stack<int>();
        var releaseAfterChunk = new Dictionary<int, List<int>>();
        slotCount = 0;
        int chunk = -1;
        for (int i = 0; i < n; i++)
        {
            if (chunkOf[i] != chunk)
            {
                chunk = chunkOf[i];
                if (releaseAfterChunk.Remove(chunk - 1, out var released))
                    foreach (var s in released) freeSlots.Push(s);
            }
            var ins = trace.Instructions[i];
            // Data reads are re-read by each chunk that needs them rather than spilled.
            if (ins.Op is Op.Const or Op.Sum or Op.Data || lastUse[i] < 0) continue;
            if (ins.Kind is ValueKind.Array or ValueKind.Jagged)
                throw new NotSupportedException("A row of a data array is used across a very long stretch of code; read it closer to its use.");
            if (lastUse[i] != int.MaxValue && chunkOf[lastUse[i]] == chunk) continue;
            slots[i] = freeSlots.Count > 0 ? freeSlots.Pop() : slotCount++;
            if (lastUse[i] == int.MaxValue) continue; // outputs keep their slot to the end
            int lastChunk = chunkOf[lastUse[i]];
            if (!releaseAfterChunk.TryGetValue(lastChunk, out var list)) releaseAfterChunk.Add(lastChunk, list = new List<int>());
            list.Add(slots[i]);
        }
        return slots;
    }

    private static Expression ConstantOf(Instruction ins) => ins.Kind switch
    {
        ValueKind.Scalar => Expression.Constant(ins.Number),
        ValueKind.Integer => Expression.Constant((int)ins.Number),
        _ => Expression.Constant(ins.Number != 0),
    };

    private static Expression FromSpill(ParameterExpression spill, int slot, ValueKind kind)
    {
        Expression stored = Expression.ArrayIndex(spill, Expression.Constant(slot));
        return kind switch
        {
            ValueKind.Scalar => stored,
            ValueKind.Integer => Expression.Convert(stored, typeof(int)),
            _ => Expression.NotEqual(stored, Expression.Constant(0.0)),
        };
    }

    private static Expression ToSpill(ParameterExpression spill, int slot, Expression value) =>
        Expression.Assign(Expression.ArrayAccess(spill, Expression.Constant(slot)), value.Type == typeof(double) ? value
            : value.Type == typeof(int) ? Expression.Convert(value, typeof(double))
            : Expression.Condition(value, Expression.Constant(1.0), Expression.Constant(0.0)));

    /// <summary>
    /// Per-value arrays shared by the chunks of one lowering (allocated once: a chunk touches only the
    /// entries of the values it defines or reads, so lowering stays linear in the trace length).
    /// </summary>
    private sealed class Scratch(int n)
    {
        public readonly Expression?[] Values = new Expression?[n];
        public readonly int[] LastUseHere = new int[n];
    }

    /// <summary>The locals of one method, and those free for reuse, by type. Loop bodies draw from their method's pool.</summary>
    private sealed class LocalPool
    {
        private readonly Dictionary<Type, Stack<ParameterExpression>> _free = new();
        public List<ParameterExpression> Locals { get; } = new();

        public ParameterExpression Take(Type type)
        {
            if (_free.TryGetValue(type, out var pool) && pool.TryPop(out var local)) return local;
            local = Expression.Variable(type, "t" + Locals.Count);
            Locals.Add(local);
            return local;
        }

        public void Give(ParameterExpression local)
        {
            if (!_free.TryGetValue(local.Type, out var pool)) _free.Add(local.Type, pool = new Stack<ParameterExpression>());
            pool.Push(local);
        }
    }

    /// <summary>Emits the instructions [start, end) of a trace (or of a loop body) as statements over reusable locals.</summary>
    private sealed partial class BlockEmitter
    {
        private readonly Trace _trace;
        private readonly LoweringPlan _plan;
        private readonly int _start, _end;
        private readonly ParameterExpression? _spill;
        private readonly int[]? _slots;
        private readonly int[] _lastUseHere;
        private readonly Expression?[] _values;
        private readonly LocalPool _pool;
        private readonly int[] _lastUse;
        private readonly List<int> _reloads = new();
        private readonly Expression[] _captures;
        private readonly Expression? _loopIndex;
        private readonly Dictionary<int, ParameterExpression[]> _results = new();

        public BlockEmitter(Trace trace, LoweringPlan plan, int[] lastUse, Scratch scratch, LocalPool pool, int start, int end,
            ParameterExpression? spill, int[]? slots, Expression[]? captures = null, Expression? loopIndex = null)
        {
            _trace = trace;
            _plan = plan;
            _lastUse = lastUse;
            _pool = pool;
            _start = start;
            _end = end;
            _spill = spill;
            _slots = slots;
            _captures = captures ?? [];
            _loopIndex = loopIndex;
            _values = scratch.Values;
            // The last use inside this block; -1 when nothing here reads the value after defining it.
            // Entries of values this block neither defines nor reads are stale and never consulted.
            _lastUseHere = scratch.LastUseHere;
            Array.Fill(_lastUseHere, -1, start, end - start);
            for (int i = start; i < end; i++)
            {
                trace.ForEachUse(trace.Instructions[i], operand =>
                {
                    if (operand < start && _lastUseHere[operand] < start && trace.Instructions[operand].Op != Op.Const) _reloads.Add(operand);
                    _lastUseHere[operand] = i;
                });
            }
            if (spill is null)
                foreach (var o in trace.Outputs) _lastUseHere[o.Index] = int.MaxValue;
        }

        public List<Expression> Body { get; } = new();

        public Expression ValueOf(int i) => _values[i] ?? ConstantOf(_trace.Instructions[i]);

        /// <summary>Loads the values defined by earlier chunks that this chunk reads.</summary>
        public void EmitReloads()
        {
            foreach (var i in _reloads)
                Define(i, _trace.Instructions[i].Op == Op.Data ? _trace.DataReads[_trace.Instructions[i].A].Accessor : FromSpill(_spill!, _slots![i], _trace.Instructions[i].Kind));
        }

        public void EmitInstructions()
        {
            for (int i = _start; i < _end; i++)
            {
                var ins = _trace.Instructions[i];
                if (ins.Op == Op.ScatterAdd)
                {
                    Body.Add(Need(_plan.Accumulate)(ins.C, ValueOf(ins.A), ValueOf(ins.B)));
                    ReleaseOperandsReadLastAt(i);
                    continue;
                }
                if (ins.Op == Op.Const || _lastUse[i] < 0 && !(ins.IsRegion && _trace.Regions[ins.C].Body.HasEffects)) continue;
                Expression value;
                switch (ins.Op)
                {
                    case Op.Input: value = _plan.ReadInput(ins); break;
                    case Op.InputAt:
                        value = Need(_plan.ReadInputAt)(ins.B, ValueOf(ins.A));
                        ReleaseOperandsReadLastAt(i);
                        break;
                    case Op.InputLength: value = Need(_plan.ReadLength)(ins.A); break;
                    case Op.Data: value = _trace.DataReads[ins.A].Accessor; break;
                    case Op.LoopIndex: value = _loopIndex!; break;
                    case Op.Capture: value = _captures[ins.A]; break;
                    case Op.Sum:
                        EmitSum(i, ins);
                        ReleaseOperandsReadLastAt(i);
                        continue;
                    case Op.ArgMax or Op.ArgMin:
                    {
                        var result = EmitArgExtremum(ins);
                        ReleaseOperandsReadLastAt(i);
                        _values[i] = result;
                        if (_slots is not null && _slots[i] >= 0) Body.Add(ToSpill(_spill!, _slots[i], result));
                        if (_lastUseHere[i] < 0) Release(i);
                        continue;
                    }
                    case Op.Project:
                        // The projection names the accumulator itself: no copy.
                        _values[i] = _results[ins.A][ins.B];
                        if (_slots is not null && _slots[i] >= 0) Body.Add(ToSpill(_spill!, _slots[i], _values[i]!));
                        if (_lastUseHere[i] < 0) Release(i);
                        continue;
                    default:
                        var p = RuleTable.Get(ins.Op);
                        var args = new Expression[p.Arity];
                        for (int k = 0; k < p.Arity; k++) args[k] = ValueOf(ins.Operand(k).Index);
                        value = p.Emit(args);
                        // Operands read for the last time give their locals back before the result takes
                        // one, so `t = t * u` reuses t's slot.
                        ReleaseOperandsReadLastAt(i);
                        break;
                }
                var local = Define(i, value);
                if (_slots is not null && _slots[i] >= 0) Body.Add(ToSpill(_spill!, _slots[i], local));
                if (_lastUseHere[i] < 0) Release(i);
            }
        }

        /// <summary>
        /// for (index = start, end = start + count; index &lt; end; index++) { body; accumulators += body outputs }.
        /// </summary>
        private void EmitSum(int i, Instruction ins)
        {
            // With parallel loops, a top-level sum may be outlined into a worker run on all cores (ParallelLoops.cs).
            if (_plan.Options.ParallelLoops && TryEmitParallelSum(i, ins)) return;
            var region = _trace.Regions[ins.C];
            _results[i] = EmitSumLoop(Body, _plan, _pool, region, ValueOf(ins.A), ValueOf(ins.B), CapturesOf(region));
        }

        /// <summary>
        /// The loop of a sum over [start, start + count) appended to <paramref name="statements"/>, whose locals come from
        /// <paramref name="pool"/>; returns the accumulators (locals of the pool) that hold the sums after it.
        /// </summary>
        private static ParameterExpression[] EmitSumLoop(List<Expression> statements, LoweringPlan plan, LocalPool pool,
            Region region, Expression start, Expression count, Expression[] captures)
        {
            var outputs = region.Body.Outputs;
            var accumulators = outputs.Select(_ => pool.Take(typeof(double))).ToArray();
            foreach (var a in accumulators) statements.Add(Expression.Assign(a, Expression.Constant(0.0)));
            EmitLoop(statements, plan, pool, region, start, count, captures, (inner, _, _) =>
            {
                for (int k = 0; k < accumulators.Length; k++)
                    inner.Body.Add(Expression.AddAssign(accumulators[k], inner.ValueOf(outputs[k].Index)));
            });
            return accumulators;
        }

        private Expression[] CapturesOf(Region region) => region.Captures.Select(c => ValueOf(c.Index)).ToArray();

        /// <summary>
        /// for (...) { body; if (index == start || v &gt; best) (best, arg) = (v, index) }; returns the local
        /// holding arg (-1 when the loop does not run). ArgMin compares with &lt;.
        /// </summary>
        private ParameterExpression EmitArgExtremum(Instruction ins)
        {
            var output = _trace.Regions[ins.C].Body.Outputs[0];
            var arg = _pool.Take(typeof(int));
            var best = _pool.Take(typeof(double));
            Body.Add(Expression.Assign(arg, Expression.Constant(-1)));
            Body.Add(Expression.Assign(best, Expression.Constant(0.0)));
            var region = _trace.Regions[ins.C];
            EmitLoop(Body, _plan, _pool, region, ValueOf(ins.A), ValueOf(ins.B), CapturesOf(region), (inner, index, first) =>
            {
                var value = inner.ValueOf(output.Index);
                var better = ins.Op == Op.ArgMax ? Expression.GreaterThan(value, best) : Expression.LessThan(value, best);
                inner.Body.Add(Expression.IfThen(Expression.OrElse(Expression.Equal(index, first), better),
                    Expression.Block(Expression.Assign(best, value), Expression.Assign(arg, index))));
            });
            _pool.Give(best);
            return arg;
        }

        /// <summary>
        /// The loop of a region, appended to <paramref name="statements"/>: for (index = first = start, end = start + count;
        /// index &lt; end; index++) { body; per-iteration statements }. The body's locals come from <paramref name="pool"/> (the
        /// enclosing method's); the expressions of the captured values must stay valid until the loop is done.
        /// </summary>
        private static void EmitLoop(List<Expression> statements, LoweringPlan plan, LocalPool pool, Region region,
            Expression start, Expression count, Expression[] captures, Action<BlockEmitter, ParameterExpression, ParameterExpression> eachIteration)
        {
            var body = region.Body;
            var index = pool.Take(typeof(int));
            var first = pool.Take(typeof(int));
            var end = pool.Take(typeof(int));
            statements.Add(Expression.Assign(index, start));
            statements.Add(Expression.Assign(first, index));
            statements.Add(Expression.Assign(end, Expression.Add(index, count)));

            var inner = new BlockEmitter(body, plan, LastUses(body), new Scratch(body.Count), pool, 0, body.Count, null, null, captures, index);
            inner.EmitInstructions();
            eachIteration(inner, index, first);
            inner.Body.Add(Expression.PreIncrementAssign(index));
            inner.ReleaseAll();

            var exit = Expression.Label("loopEnd");
            statements.Add(Expression.Loop(
                Expression.IfThenElse(Expression.LessThan(index, end), Expression.Block(typeof(void), inner.Body), Expression.Break(exit)),
                exit));
            foreach (var local in new[] { index, first, end }) pool.Give(local);
        }

        private static T Need<T>(T? hook) where T : class =>
            hook ?? throw new InvalidOperationException("This kind of delegate does not support the instruction.");

        private void ReleaseOperandsReadLastAt(int i) =>
            _trace.ForEachUse(_trace.Instructions[i], operand => { if (_lastUseHere[operand] == i) Release(operand); });

        /// <summary>Gives back every local this block still holds (a loop body's, once the iteration is done).</summary>
        public void ReleaseAll()
        {
            for (int i = _start; i < _end; i++) Release(i);
        }

        private ParameterExpression Define(int i, Expression value)
        {
            var local = _pool.Take(value.Type);
            Body.Add(Expression.Assign(local, value));
            _values[i] = local;
            return local;
        }

        private void Release(int i)
        {
            // A value named by two operand positions of one instruction is released once.
            if (_values[i] is not ParameterExpression local) return;
            _pool.Give(local);
            _values[i] = null;
        }
    }
}
