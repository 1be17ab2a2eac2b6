using System.Linq.Expressions;
using System.Reflection;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Codegen;

/// <summary>How a trace meets the delegate it is lowered into: parameters, inputs, checks, outputs.</summary>
internal sealed class LoweringPlan
{
    /// <summary>The lambda's parameters in order; must include the trace environment's parameters that data reads use.</summary>
    public required IReadOnlyList<ParameterExpression> Parameters { get; init; }

    /// <summary>Reads the value of an <see cref="Op.Input"/> instruction.</summary>
    public required Func<Instruction, Expression> ReadInput { get; init; }

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
internal static class TraceLowering
{
    public const int DefaultChunkSize = 1000;

    private static readonly MethodInfo RentSpill = typeof(Runtime).GetMethod(nameof(Runtime.RentSpill))!;
    private static readonly MethodInfo ReturnSpill = typeof(Runtime).GetMethod(nameof(Runtime.ReturnSpill))!;

    /// <summary>Lowers <paramref name="trace"/>; <paramref name="compileChunk"/> compiles the separate chunk methods of long traces.</summary>
    public static Expression<TDelegate> Lower<TDelegate>(Trace trace, LoweringPlan plan,
        Func<LambdaExpression, Delegate> compileChunk, int chunkSize = DefaultChunkSize)
    {
        int n = trace.Count;
        var lastUse = new int[n];
        Array.Fill(lastUse, -1);
        for (int i = 0; i < n; i++)
        {
            var ins = trace.Instructions[i];
            for (int k = 0; k < ins.Arity; k++) lastUse[ins.Operand(k).Index] = i;
        }
        foreach (var o in trace.Outputs) lastUse[o.Index] = int.MaxValue;

        if (n <= chunkSize)
        {
            var block = new BlockEmitter(trace, plan, lastUse, new Scratch(n), 0, n, spill: null, slots: null);
            block.EmitInstructions();
            var body = plan.Prologue.Concat(block.Body).Concat(plan.Epilogue(trace.Outputs.Select(o => block.ValueOf(o.Index)).ToArray())).ToList();
            return Expression.Lambda<TDelegate>(Expression.Block(body[^1].Type, block.Locals, body), plan.Parameters);
        }
        return LowerInChunks<TDelegate>(trace, plan, lastUse, compileChunk, chunkSize);
    }

    private static Expression<TDelegate> LowerInChunks<TDelegate>(Trace trace, LoweringPlan plan, int[] lastUse,
        Func<LambdaExpression, Delegate> compileChunk, int chunkSize)
    {
        int n = trace.Count;
        var slots = AssignSpillSlots(trace, lastUse, chunkSize, out int slotCount);
        var spill = Expression.Parameter(typeof(double[]), "spill");
        var chunkParameters = plan.Parameters.Where(p => !p.IsByRef).Append(spill).ToArray();
        var chunkType = Expression.GetActionType(chunkParameters.Select(p => p.Type).ToArray());

        var body = new List<Expression>(plan.Prologue) { Expression.Assign(spill, Expression.Call(RentSpill, Expression.Constant(slotCount))) };
        var calls = new List<Expression>();
        var scratch = new Scratch(n);
        for (int start = 0; start < n; start += chunkSize)
        {
            var block = new BlockEmitter(trace, plan, lastUse, scratch, start, Math.Min(n, start + chunkSize), spill, slots);
            block.EmitReloads();
            block.EmitInstructions();
            block.Body.Add(Expression.Empty());
            var chunk = Expression.Lambda(chunkType, Expression.Block(typeof(void), block.Locals, block.Body), chunkParameters);
            var compiledChunk = compileChunk(chunk);
            calls.Add(Expression.Invoke(Expression.Constant(compiledChunk, chunkType), chunkParameters));
        }
        var outputs = trace.Outputs.Select(o => trace.Instructions[o.Index].Op == Op.Const
            ? ConstantOf(trace.Instructions[o.Index])
            : FromSpill(spill, slots[o.Index], trace.Instructions[o.Index].Kind)).ToArray();
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
    private static int[] AssignSpillSlots(Trace trace, int[] lastUse, int chunkSize, out int slotCount)
    {
        int n = trace.Count;
        var slots = new int[n];
        Array.Fill(slots, -1);
        var freeSlots = new Stack<int>();
        var releaseAfterChunk = new Dictionary<int, List<int>>();
        slotCount = 0;
        for (int start = 0, chunk = 0; start < n; start += chunkSize, chunk++)
        {
            if (releaseAfterChunk.Remove(chunk - 1, out var released))
                foreach (var s in released) freeSlots.Push(s);
            for (int i = start; i < Math.Min(n, start + chunkSize); i++)
            {
                if (trace.Instructions[i].Op == Op.Const || lastUse[i] < start + chunkSize) continue;
                slots[i] = freeSlots.Count > 0 ? freeSlots.Pop() : slotCount++;
                if (lastUse[i] == int.MaxValue) continue; // outputs keep their slot to the end
                int lastChunk = lastUse[i] / chunkSize;
                if (!releaseAfterChunk.TryGetValue(lastChunk, out var list)) releaseAfterChunk.Add(lastChunk, list = new List<int>());
                list.Add(slots[i]);
            }
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

    /// <summary>Emits the instructions [start, end) of a trace as statements over reusable locals.</summary>
    private sealed class BlockEmitter
    {
        private readonly Trace _trace;
        private readonly LoweringPlan _plan;
        private readonly int _start, _end;
        private readonly ParameterExpression? _spill;
        private readonly int[]? _slots;
        private readonly int[] _lastUseHere;
        private readonly Expression?[] _values;
        private readonly Dictionary<Type, Stack<ParameterExpression>> _free = new();

        private readonly int[] _lastUse;
        private readonly List<int> _reloads = new();

        public BlockEmitter(Trace trace, LoweringPlan plan, int[] lastUse, Scratch scratch, int start, int end, ParameterExpression? spill, int[]? slots)
        {
            _trace = trace;
            _plan = plan;
            _lastUse = lastUse;
            _start = start;
            _end = end;
            _spill = spill;
            _slots = slots;
            _values = scratch.Values;
            // The last use inside this block; -1 when nothing here reads the value after defining it.
            // Entries of values this block neither defines nor reads are stale and never consulted.
            _lastUseHere = scratch.LastUseHere;
            Array.Fill(_lastUseHere, -1, start, end - start);
            for (int i = start; i < end; i++)
            {
                var ins = trace.Instructions[i];
                for (int k = 0; k < ins.Arity; k++)
                {
                    int operand = ins.Operand(k).Index;
                    if (operand < start && _lastUseHere[operand] < start && trace.Instructions[operand].Op != Op.Const) _reloads.Add(operand);
                    _lastUseHere[operand] = i;
                }
            }
            if (spill is null)
                foreach (var o in trace.Outputs) _lastUseHere[o.Index] = int.MaxValue;
        }

        public List<Expression> Body { get; } = new();
        public List<ParameterExpression> Locals { get; } = new();

        public Expression ValueOf(int i) => _values[i] ?? ConstantOf(_trace.Instructions[i]);

        /// <summary>Loads the values defined by earlier chunks that this chunk reads.</summary>
        public void EmitReloads()
        {
            foreach (var i in _reloads) Define(i, FromSpill(_spill!, _slots![i], _trace.Instructions[i].Kind));
        }

        public void EmitInstructions()
        {
            for (int i = _start; i < _end; i++)
            {
                var ins = _trace.Instructions[i];
                if (ins.Op == Op.Const || _lastUse[i] < 0) continue;
                Expression value;
                switch (ins.Op)
                {
                    case Op.Input: value = _plan.ReadInput(ins); break;
                    case Op.Data: value = _trace.DataReads[ins.A].Accessor; break;
                    default:
                        var p = RuleTable.Get(ins.Op);
                        var args = new Expression[p.Arity];
                        for (int k = 0; k < p.Arity; k++) args[k] = ValueOf(ins.Operand(k).Index);
                        value = p.Emit(args);
                        // Operands read for the last time give their locals back before the result takes
                        // one, so `t = t * u` reuses t's slot.
                        for (int k = 0; k < p.Arity; k++)
                        {
                            int operand = ins.Operand(k).Index;
                            if (_lastUseHere[operand] == i) Release(operand);
                        }
                        break;
                }
                var local = Define(i, value);
                if (_slots is not null && _slots[i] >= 0) Body.Add(ToSpill(_spill!, _slots[i], local));
                if (_lastUseHere[i] < 0) Release(i);
            }
        }

        private ParameterExpression Define(int i, Expression value)
        {
            if (!_free.TryGetValue(value.Type, out var pool)) _free.Add(value.Type, pool = new Stack<ParameterExpression>());
            if (!pool.TryPop(out var local))
            {
                local = Expression.Variable(value.Type, "t" + Locals.Count);
                Locals.Add(local);
            }
            Body.Add(Expression.Assign(local, value));
            _values[i] = local;
            return local;
        }

        private void Release(int i)
        {
            // A value named by two operand positions of one instruction is released once.
            if (_values[i] is not ParameterExpression local) return;
            _free[local.Type].Push(local);
            _values[i] = null;
        }
    }
}
