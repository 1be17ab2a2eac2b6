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

    /// <summary>The span (and its argument name) that array parameter (int) is read from, for <see cref="Op.InputAt"/>.</summary>
    public Func<int, (Expression Span, string Name)>? InputSpan { get; init; }

    /// <summary>The length of an array parameter, for <see cref="Op.InputLength"/>.</summary>
    public Func<int, Expression>? ReadLength { get; init; }

    /// <summary>
    /// The span (and its argument name) that <see cref="Op.ScatterAdd"/> adds the adjoints of a parameter (the first int) into,
    /// by sink (the second: 0 the gradient, 1 + d its tangent in direction d).
    /// </summary>
    public Func<int, int, (Expression Span, string Name)>? AccumulateInto { get; init; }

    /// <summary>The user's compilation options (parallel loops).</summary>
    public ADOptions Options { get; init; } = ADOptions.Default;

    /// <summary>Statements run before anything else (argument checks).</summary>
    public IReadOnlyList<Expression> Prologue { get; init; } = [];

    /// <summary>Given the expressions of the trace outputs, the final statements; the last one is the delegate's result.</summary>
    public required Func<IReadOnlyList<Expression>, IEnumerable<Expression>> Epilogue { get; init; }

    /// <summary>
    /// Optional: the same statements for a long kernel whose outputs are many scalars, read in bulk from an
    /// <see cref="OutputTable"/> (a loop in place of a statement per output).
    /// </summary>
    public Func<OutputTable, IEnumerable<Expression>>? BulkEpilogue { get; init; }
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
    private static readonly MethodInfo SinAndCos = typeof(ExactMath).GetMethod(nameof(ExactMath.SinAndCos))!;
    private static readonly MethodInfo CosAndSin = typeof(ExactMath).GetMethod(nameof(ExactMath.CosAndSin))!;
    private static readonly MethodInfo RentWorkspace = typeof(Runtime).GetMethod(nameof(Runtime.RentWorkspace))!;
    private static readonly MethodInfo ReturnWorkspace = typeof(Runtime).GetMethod(nameof(Runtime.ReturnWorkspace))!;
    private static readonly MethodInfo TapeOf = typeof(Runtime).GetMethod(nameof(Runtime.Tape))!;
    private static readonly MethodInfo BufferOf = typeof(Runtime).GetMethod(nameof(Runtime.Buffer))!;
    private static readonly MethodInfo ZeroBufferOf = typeof(Runtime).GetMethod(nameof(Runtime.ZeroBuffer))!;
    private static readonly MethodInfo ExistingBuffer = typeof(Runtime).GetMethod(nameof(Runtime.ExistingBuffer))!;
    private static readonly MethodInfo AddTo = typeof(Runtime).GetMethod(nameof(Runtime.AddTo))!;
    private static readonly MethodInfo ReadChecked = typeof(Runtime).GetMethod(nameof(Runtime.ReadChecked))!;
    private static readonly MethodInfo ReadUnchecked = typeof(Runtime).GetMethod(nameof(Runtime.Read))!;
    private static readonly MethodInfo AddChecked = typeof(Runtime).GetMethod(nameof(Runtime.AddChecked))!;
    private static readonly MethodInfo AddUnchecked = typeof(Runtime).GetMethod(nameof(Runtime.AddUnchecked))!;
    private static readonly MethodInfo AddToUnchecked = typeof(Runtime).GetMethod(nameof(Runtime.AddToUnchecked))!;
    private static readonly MethodInfo CheckSpanRange = typeof(Runtime).GetMethod(nameof(Runtime.CheckRange), [typeof(ReadOnlySpan<double>), typeof(int), typeof(int), typeof(string)])!;
    private static readonly MethodInfo CheckWritableRange = typeof(Runtime).GetMethod(nameof(Runtime.CheckRange), [typeof(Span<double>), typeof(int), typeof(int), typeof(string)])!;
    private static readonly MethodInfo CheckArrayRangeOf = typeof(Runtime).GetMethods().Single(m => m.Name == nameof(Runtime.CheckRange) && m.IsGenericMethodDefinition);
    private static readonly MethodInfo StateBuffer = typeof(Runtime).GetMethod(nameof(Runtime.StateBuffer))!;
    private static readonly MethodInfo CopyInto = typeof(Runtime).GetMethod(nameof(Runtime.CopyInto))!;
    private static readonly MethodInfo Store = typeof(Runtime).GetMethod(nameof(Runtime.Store))!;
    private static readonly MethodInfo Load = typeof(Runtime).GetMethod(nameof(Runtime.Load))!;
    private static readonly MethodInfo TakesMax = typeof(Runtime).GetMethod(nameof(Runtime.TakesMax))!;
    private static readonly MethodInfo TakesMin = typeof(Runtime).GetMethod(nameof(Runtime.TakesMin))!;
    private static readonly MethodInfo ThrowNoElements = typeof(Runtime).GetMethod(nameof(Runtime.ThrowNoElements))!;

    /// <summary>Lowers <paramref name="trace"/>; <paramref name="compileChunk"/> compiles the separate chunk methods of long traces.</summary>
    public static Expression<TDelegate> Lower<TDelegate>(Trace trace, LoweringPlan plan,
        Func<LambdaExpression, Delegate> compileChunk, int chunkSize = DefaultChunkSize)
    {
        var lastUse = LastUses(trace);
        var chunkStarts = ChunkStarts(trace, chunkSize);
        bool reuse = TotalSize(trace) > ReuseThreshold;
        var context = new LoweringContext(UsesWorkspace(trace) ? Expression.Variable(typeof(Workspace), "workspace") : null);
        if (chunkStarts.Count == 1)
        {
            var pool = new LocalPool(reuse);
            var block = new BlockEmitter(trace, plan, lastUse, new Scratch(trace.Count), pool, 0, trace.Count, spill: null, slots: null, context) { CompileMethod = compileChunk };
            block.EmitInstructions();
            var statements = block.Body.Concat(plan.Epilogue(trace.Outputs.Select(o => block.ValueOf(o.Index)).ToArray())).ToList();
            if (context.Workspace is not { } workspace)
            {
                var body = plan.Prologue.Concat(statements).ToList();
                return Expression.Lambda<TDelegate>(Expression.Block(body[^1].Type, pool.Locals, body), plan.Parameters);
            }
            // The workspace goes back to the thread's stack however the kernel ends; the result, if the kernel returns one, is kept in a local.
            var result = statements[^1].Type == typeof(void) ? null : Expression.Variable(statements[^1].Type, "result");
            if (result is not null) statements[^1] = Expression.Assign(result, statements[^1]);
            var guarded = plan.Prologue.Append(Expression.Assign(workspace, Expression.Call(RentWorkspace)))
                .Append(Expression.TryFinally(Expression.Block(typeof(void), statements), Expression.Call(ReturnWorkspace, workspace, Expression.Constant(plan.Options.RetainWorkspace))));
            var locals = pool.Locals.Append(workspace);
            return result is null
                ? Expression.Lambda<TDelegate>(Expression.Block(typeof(void), locals, guarded), plan.Parameters)
                : Expression.Lambda<TDelegate>(Expression.Block(result.Type, locals.Append(result), guarded.Append(result)), plan.Parameters);
        }
        return LowerInChunks<TDelegate>(trace, plan, lastUse, compileChunk, chunkStarts, context);
    }

    /// <summary>Above this many instructions (loop bodies included), locals are reused by liveness.</summary>
    private const int ReuseThreshold = 400;

    private static int TotalSize(Trace trace) => trace.Count + trace.Regions.Sum(r => TotalSize(r.Body));

    /// <summary>True when a fold in the trace (at any depth) records a tape, or a map or adjoint array needs a buffer: the kernel needs a workspace.</summary>
    private static bool UsesWorkspace(Trace trace) =>
        trace.Instructions.Any(i => i.Op is Op.Map or Op.ZeroArray) || trace.Regions.Any(r => r.TapeInterval > 0 || UsesWorkspace(r.Body)
            || r.Initial.Any(v => trace.Instructions[v.Index].Kind == ValueKind.Array));

    /// <summary>What every method and loop body of one lowering shares: the workspace, and the tape ids of the folds.</summary>
    private sealed class LoweringContext(ParameterExpression? workspace)
    {
        private readonly Dictionary<(Trace, int, int), int> _tapeIds = new();

        /// <summary>The running kernel's workspace (a local of the entry method, a parameter of chunk methods); null without tapes.</summary>
        public ParameterExpression? Workspace { get; set; } = workspace;

        /// <summary>The id of the tape that instruction <paramref name="index"/> of <paramref name="trace"/> writes (or, for a backward fold, its segment buffer).</summary>
        public int TapeId(Trace trace, int index, int part = 0)
        {
            if (!_tapeIds.TryGetValue((trace, index, part), out int id)) _tapeIds.Add((trace, index, part), id = _tapeIds.Count);
            return id;
        }

        /// <summary>The workspace buffer holding array value <paramref name="index"/> of <paramref name="trace"/> (a map's result or an adjoint array), or null.</summary>
        public int? BufferId(Trace trace, int index) => trace.Instructions[index] switch
        {
            { Op: Op.ZeroArray } => TapeId(trace, index),
            { Op: Op.Project } p when trace.Instructions[p.A].Op == Op.Map => TapeId(trace, p.A, p.B),
            _ => null,
        };
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
        Func<LambdaExpression, Delegate> compileChunk, List<int> chunkStarts, LoweringContext context)
    {
        int n = trace.Count;
        var chunkOf = new int[n];
        for (int c = 0; c < chunkStarts.Count; c++)
            for (int i = chunkStarts[c]; i < (c + 1 < chunkStarts.Count ? chunkStarts[c + 1] : n); i++) chunkOf[i] = c;
        var slots = AssignSpillSlots(trace, lastUse, chunkOf, out int slotCount);
        var spill = Expression.Parameter(typeof(double[]), "spill");
        var workspace = context.Workspace;
        var chunkParameters = plan.Parameters.Where(p => !p.IsByRef).Append(spill).ToArray();
        if (workspace is not null) chunkParameters = chunkParameters.Append(workspace).ToArray();
        var chunkType = Expression.GetActionType(chunkParameters.Select(p => p.Type).ToArray());

        var body = new List<Expression>(plan.Prologue) { Expression.Assign(spill, Expression.Call(RentSpill, Expression.Constant(slotCount))) };
        if (workspace is not null) body.Add(Expression.Assign(workspace, Expression.Call(RentWorkspace)));
        var scratch = new Scratch(n);
        // Chunks are compiled (and JIT-compiled) by background workers while the next ones are being lowered.
        var chunkCompiler = new ChunkCompiler(compileChunk);
        for (int c = 0; c < chunkStarts.Count; c++)
        {
            var pool = new LocalPool(reuse: true);
            var block = new BlockEmitter(trace, plan, lastUse, scratch, pool, chunkStarts[c], c + 1 < chunkStarts.Count ? chunkStarts[c + 1] : n, spill, slots, context) { CompileMethod = compileChunk };
            block.EmitReloads();
            block.EmitInstructions();
            block.Body.Add(Expression.Empty());
            chunkCompiler.Submit(Expression.Lambda(chunkType, Expression.Block(typeof(void), pool.Locals, block.Body), chunkParameters));
        }
        var calls = chunkCompiler.Finish().Select(chunk => (Expression)Expression.Invoke(Expression.Constant(chunk, chunkType), chunkParameters)).ToList();
        var epilogue = (TryOutputTable(trace, spill, slots) is { } table && plan.BulkEpilogue is { } bulk ? bulk(table)
            : plan.Epilogue(trace.Outputs.Select(o => trace.Instructions[o.Index] switch
            {
                { Op: Op.Const } constant => ConstantOf(constant),
                { Op: Op.Data } read => trace.DataReads[read.A].Accessor,
                // An array output (a map's result) lives in the workspace, not in the spill buffer.
                _ when context.BufferId(trace, o.Index) is { } buffer => Expression.Call(ExistingBuffer, workspace!, Expression.Constant(buffer)),
                var value => FromSpill(spill, slots[o.Index], value.Kind),
            }).ToArray())).ToList();
        // Outputs are read from the spill buffer before it is returned; the result (if the kernel returns one) is kept in a local.
        var result = epilogue[^1].Type == typeof(void) ? null : Expression.Variable(epilogue[^1].Type, "result");
        calls.AddRange(epilogue.Take(epilogue.Count - 1));
        calls.Add(result is null ? epilogue[^1] : Expression.Assign(result, epilogue[^1]));
        Expression release = Expression.Call(ReturnSpill, spill);
        if (workspace is not null) release = Expression.Block(release, Expression.Call(ReturnWorkspace, workspace, Expression.Constant(plan.Options.RetainWorkspace)));
        body.Add(Expression.TryFinally(Expression.Block(typeof(void), calls), release));
        var locals = new List<ParameterExpression> { spill };
        if (workspace is not null) locals.Add(workspace);
        if (result is null) return Expression.Lambda<TDelegate>(Expression.Block(typeof(void), locals, body), plan.Parameters);
        body.Add(result);
        locals.Add(result);
        return Expression.Lambda<TDelegate>(Expression.Block(result.Type, locals, body), plan.Parameters);
    }

    /// <summary>
    /// From this many outputs on, a long kernel's epilogue reads them in bulk when its plan can. Below, a statement per output is
    /// faster to run (Rosenbrock n = 100: 206 ns against 237 ns with the loop) and still cheap to JIT.
    /// </summary>
    private const int BulkOutputs = 4096;

    /// <summary>The outputs of a chunked trace as an <see cref="OutputTable"/>, when there are many and all are scalar constants or spilled scalars.</summary>
    private static OutputTable? TryOutputTable(Trace trace, ParameterExpression spill, int[] slots)
    {
        if (trace.Outputs.Length < BulkOutputs) return null;
        var table = new OutputTable(spill, new int[trace.Outputs.Length], new double[trace.Outputs.Length]);
        for (int k = 0; k < trace.Outputs.Length; k++)
        {
            var ins = trace.Instructions[trace.Outputs[k].Index];
            if (ins.Kind != ValueKind.Scalar) return null;
            if (ins.Op == Op.Const) (table.Slots[k], table.Constants[k]) = (-1, ins.Number);
            else if (slots[trace.Outputs[k].Index] is >= 0 and var slot) table.Slots[k] = slot;
            else return null;
        }
        return table;
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
            if (ins.Op is Op.Const or Op.Sum or Op.Fold or Op.Map or Op.Data || lastUse[i] < 0) continue;
            if (ins.Kind is ValueKind.Array or ValueKind.Jagged or ValueKind.IntegerArray or ValueKind.Object)
            {
                // Arrays of maps and adjoint arrays live in the workspace and are fetched again by the chunks that read them.
                if (ins.Op is Op.ZeroArray || ins.Op == Op.Project && trace.Instructions[ins.A].Op == Op.Map) continue;
                throw new NotSupportedException("A row of a data array, or an object, is used across a very long stretch of code; read it closer to its use.");
            }
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
        public readonly int[] UsesHere = new int[n];
        /// <summary>True for a value written into its use (<see cref="BlockEmitter.IsInlined"/>): its expression is not a local of its own.</summary>
        public readonly bool[] Inlined = new bool[n];
        /// <summary>For an inlined value: how deep its expression nests inlined values (1 for none).</summary>
        public readonly byte[] Depth = new byte[n];
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
        private readonly int[] _usesHere;
        private readonly bool[] _inlined;
        private readonly byte[] _depth;
        private readonly Expression?[] _values;
        private readonly LocalPool _pool;
        private readonly int[] _lastUse;
        private readonly List<int> _reloads = new();
        private readonly Expression[] _captures;
        private readonly Expression? _loopIndex;
        private readonly Expression[] _states;
        private readonly Func<int, Expression>? _tapedState;
        private readonly LoweringContext _context;
        private readonly IReadOnlySet<int> _prechecked;
        private readonly Dictionary<int, ParameterExpression[]> _results = new();

        public BlockEmitter(Trace trace, LoweringPlan plan, int[] lastUse, Scratch scratch, LocalPool pool, int start, int end,
            ParameterExpression? spill, int[]? slots, LoweringContext context, Expression[]? captures = null, Expression? loopIndex = null,
            Expression[]? states = null, Func<int, Expression>? tapedState = null, IReadOnlySet<int>? prechecked = null)
        {
            _context = context;
            _prechecked = prechecked ?? new HashSet<int>();
            _states = states ?? [];
            _tapedState = tapedState;
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
            _usesHere = scratch.UsesHere;
            _inlined = scratch.Inlined;
            _depth = scratch.Depth;
            Array.Fill(_inlined, false, start, end - start);
            Array.Fill(_lastUseHere, -1, start, end - start);
            Array.Fill(_usesHere, 0, start, end - start);
            for (int i = start; i < end; i++)
            {
                trace.ForEachUse(trace.Instructions[i], operand =>
                {
                    if (operand >= start) _usesHere[operand]++;
                    // A backward fold names its taped fold to find the tape (in the workspace), not to read a value.
                    if (operand < start && _lastUseHere[operand] < start && trace.Instructions[operand].Op != Op.Const
                        && trace.Instructions[operand].Kind != ValueKind.Tuple) _reloads.Add(operand);
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
                Define(i, _trace.Instructions[i].Op == Op.Data ? _trace.DataReads[_trace.Instructions[i].A].Accessor
                    : _context.BufferId(_trace, i) is { } buffer ? Expression.Call(ExistingBuffer, _context.Workspace!, Expression.Constant(buffer))
                    : FromSpill(_spill!, _slots![i], _trace.Instructions[i].Kind));
        }

        public void EmitInstructions()
        {
            // Sine and cosine of one operand computed by one call (ExactMath): the earlier of the two defines the later's local.
            var sinCos = _plan.Options.FastMath && FastFunctions ? [] : ExactMath.SinCosPairs(_trace, _start, _end, i => _lastUse[i] >= 0);
            var pairedLocals = new Dictionary<int, ParameterExpression>();
            for (int i = _start; i < _end; i++)
            {
                var ins = _trace.Instructions[i];
                if (ins.Op == Op.ScatterAdd)
                {
                    var (span, name) = Need(_plan.AccumulateInto)(ins.C, (int)ins.Number);
                    Body.Add(_prechecked.Contains(i) ? UncheckedAt(AddUnchecked, span, ValueOf(ins.A), ValueOf(ins.B))
                        : Expression.Call(AddChecked, span, ValueOf(ins.A), ValueOf(ins.B), Expression.Constant(name)));
                    ReleaseOperandsReadLastAt(i);
                    continue;
                }
                if (ins.Op == Op.ArrayAdd)
                {
                    Body.Add(Expression.Call(_prechecked.Contains(i) ? AddToUnchecked : AddTo, ValueOf(ins.A), ValueOf(ins.B), ValueOf(ins.C)));
                    ReleaseOperandsReadLastAt(i);
                    continue;
                }
                if (ins.Op == Op.Const || _lastUse[i] < 0 && !(ins.IsRegion && _trace.Regions[ins.C].Body.HasEffects)) continue;
                Expression value;
                switch (ins.Op)
                {
                    case Op.Input: value = _plan.ReadInput(ins); break;
                    case Op.InputAt:
                    {
                        var (span, name) = Need(_plan.InputSpan)(ins.B);
                        value = _prechecked.Contains(i) ? UncheckedAt(ReadUnchecked, span, ValueOf(ins.A))
                            : Expression.Call(ReadChecked, span, ValueOf(ins.A), Expression.Constant(name));
                    }
                        ReleaseOperandsReadLastAt(i);
                        break;
                    case Op.InputLength: value = Need(_plan.ReadLength)(ins.A); break;
                    case Op.Data: value = _trace.DataReads[ins.A].Accessor; break;
                    case Op.Read or Op.ReadAt:
                        value = ReadOf(ins);
                        ReleaseOperandsReadLastAt(i);
                        break;
                    case Op.LoopIndex: value = _loopIndex!; break;
                    case Op.Capture: value = _captures[ins.A]; break;
                    case Op.State: value = _states[ins.A]; break;
                    case Op.ZeroArray:
                        value = Expression.Call(ZeroBufferOf, _context.Workspace!, Expression.Constant(_context.TapeId(_trace, i)), ValueOf(ins.A));
                        ReleaseOperandsReadLastAt(i);
                        break;
                    case Op.Map:
                        EmitMap(i, ins);
                        ReleaseOperandsReadLastAt(i);
                        continue;
                    case Op.TapedState: value = _tapedState!(ins.A); break;
                    case Op.Sum:
                        EmitSum(i, ins);
                        ReleaseOperandsReadLastAt(i);
                        continue;
                    case Op.Fold:
                        if (_trace.Regions[ins.C].Backward) EmitBackwardFold(i, ins);
                        else EmitFold(i, ins);
                        ReleaseOperandsReadLastAt(i);
                        continue;
                    case Op.ArgMax or Op.ArgMin:
                    {
                        var result = EmitArgExtremum(ins);
                        ReleaseOperandsReadLastAt(i);
                        Bind(i, result);
                        continue;
                    }
                    case Op.Project:
                        // The projection names the accumulator itself: no copy.
                        Bind(i, _results[ins.A][ins.B]);
                        continue;
                    case Op.Sin or Op.Cos when sinCos.TryGetValue(i, out int later):
                    {
                        // The call also writes the later one's local (it runs before the later one: an inlined value runs
                        // at its use, and only constants may lie between a value and a use it is inlined into).
                        var partner = _pool.Take(typeof(double));
                        pairedLocals[later] = partner;
                        value = Expression.Call(ins.Op == Op.Sin ? SinAndCos : CosAndSin, ValueOf(ins.A), partner);
                        ReleaseOperandsReadLastAt(i);
                        break;
                    }
                    case Op.Sin or Op.Cos when pairedLocals.Remove(i, out var computed):
                        ReleaseOperandsReadLastAt(i);
                        Bind(i, computed);
                        continue;
                    default:
                        var p = RuleTable.Of(ins);
                        var args = new Expression[p.Arity];
                        for (int k = 0; k < p.Arity; k++) args[k] = ValueOf(ins.Operand(k).Index);
                        // An element whose index range the loop checked up front is read plainly. (Reading it through
                        // Unsafe.Add instead, without the JIT's bounds check, measured slower: the GMM objective 8.0 -> 8.6-8.9 ms.)
                        value = ins.Op == Op.Element && _prechecked.Contains(i) ? Expression.ArrayIndex(args[0], args[1])
                            : (_plan.Options.FastMath ? FastMathLowering.Scalar(ins, _trace, args, FastFunctions) : ExactMath.Emit(ins, _trace, args))
                              ?? p.Emit(args);
                        // Operands read for the last time give their locals back before the result takes
                        // one, so `t = t * u` reuses t's slot.
                        ReleaseOperandsReadLastAt(i);
                        break;
                }
                if (IsInlined(i, ins))
                {
                    _values[i] = value;
                    _inlined[i] = true;
                    continue;
                }
                Bind(i, Define(i, value));
            }
        }

        /// <summary>
        /// Value <paramref name="i"/> is <paramref name="value"/> (its local, or a loop's accumulator): written to the spill
        /// buffer when a later chunk reads it, and its local given back when nothing in this block reads it.
        /// </summary>
        private void Bind(int i, Expression value)
        {
            _values[i] = value;
            if (_slots is not null && _slots[i] >= 0) Body.Add(ToSpill(_spill!, _slots[i], value));
            if (_lastUseHere[i] < 0) Release(i);
        }

        /// <summary>
        /// True when value <paramref name="i"/> is written into its only use rather than into a local: the use is the next
        /// instruction that emits code (only constants lie between, so nothing is evaluated in between and the order of
        /// reads and exceptions is C#'s), in this block, and not a loop (whose body would evaluate it every iteration). Long
        /// straight-line traces then give the JIT expression trees instead of a store and a load per value: a third less to
        /// compile.
        /// </summary>
        private bool IsInlined(int i, Instruction ins)
        {
            int user = _lastUseHere[i];
            if (_usesHere[i] != 1 || user <= i || user >= _end || _lastUse[i] != user || _slots is not null && _slots[i] >= 0) return false;
            if (ins.Op is Op.State or Op.TapedState or Op.ZeroArray || _trace.Instructions[user] is { IsRegion: true } or { Op: Op.Project }) return false;
            for (int k = i + 1; k < user; k++)
                if (_trace.Instructions[k].Op != Op.Const) return false;
            // Nesting stays shallow: the expression compilers recurse once per level (a long chain would overflow their stack).
            int depth = 1;
            for (int k = 0; k < ins.Arity; k++)
                if (ins.Operand(k).Index >= _start && _inlined[ins.Operand(k).Index]) depth = Math.Max(depth, _depth[ins.Operand(k).Index] + 1);
            if (depth > MaxInlineDepth) return false;
            _depth[i] = (byte)depth;
            return true;
        }

        /// <summary>The deepest nesting of inlined values in one expression.</summary>
        private const int MaxInlineDepth = 6;

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
            // A value named by two operand positions of one instruction is released once; an inlined value owns no local
            // (its expression may name the loop index or a captured local, which are not this value's to give back).
            if (_values[i] is not ParameterExpression local || _inlined[i]) return;
            _pool.Give(local);
            _values[i] = null;
        }
    }
}
