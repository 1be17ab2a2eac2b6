using System.Linq.Expressions;
using System.Reflection;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Codegen;

internal static partial class TraceLowering
{
    /// <summary>The loops of a block: sums, maps, arg-extrema, forward and backward folds, and the range checks of their bodies.</summary>
    private sealed partial class BlockEmitter
    {
        /// <summary>
        /// for (index = start, end = start + count; index &lt; end; index++) { body; accumulators += body outputs }.
        /// </summary>
        private void EmitSum(int i, Instruction ins)
        {
            // With parallel loops, a top-level sum may be outlined into a worker run on all cores (ParallelLoops.cs).
            if (_plan.Options.ParallelLoops && TryEmitParallelSum(i, ins)) return;
            var region = _trace.Regions[ins.C];
            _results[i] = EmitSumLoop(Body, _pool, region, ValueOf(ins.A), ValueOf(ins.B), CapturesOf(region));
        }

        /// <summary>
        /// The loop of a sum over [start, start + count) appended to <paramref name="statements"/>, whose locals come from
        /// <paramref name="pool"/>; returns the accumulators (locals of the pool) that hold the sums after it.
        /// </summary>
        private ParameterExpression[] EmitSumLoop(List<Expression> statements, LocalPool pool, Region region, Expression start, Expression count,
            Expression[] captures)
        {
            int setup = statements.Count;
            var outputs = region.Body.Outputs;
            var accumulators = outputs.Select(_ => pool.Take(typeof(double))).ToArray();
            var zero = Expression.Constant(region.NegativeZeroStart ? -0.0 : 0.0);
            foreach (var a in accumulators) statements.Add(Expression.Assign(a, zero));
            EmitLoop(statements, pool, region, start, count, captures, setup, (inner, _, _) =>
            {
                for (int k = 0; k < accumulators.Length; k++)
                    inner.Body.Add(Expression.AddAssign(accumulators[k], inner.ValueOf(outputs[k].Index)));
            }, sums: accumulators);
            return accumulators;
        }

        private Expression[] CapturesOf(Region region) => region.Captures.Select(c => ValueOf(c.Index)).ToArray();

        /// <summary>for (index = start; index &lt; start + count; index++) { body; array_k[index - start] = output k }, into workspace buffers.</summary>
        private void EmitMap(int i, Instruction ins)
        {
            int setup = Body.Count;
            var region = _trace.Regions[ins.C];
            var outputs = region.Body.Outputs;
            var arrays = new ParameterExpression[outputs.Length];
            for (int k = 0; k < outputs.Length; k++)
            {
                arrays[k] = _pool.Take(typeof(double[]));
                Body.Add(Expression.Assign(arrays[k], Expression.Call(BufferOf, _context.Workspace!, Expression.Constant(_context.TapeId(_trace, i, k)), ValueOf(ins.B))));
            }
            _results[i] = arrays;
            EmitLoop(Body, _pool, region, ValueOf(ins.A), ValueOf(ins.B), CapturesOf(region), setup, (inner, index, first) =>
            {
                for (int k = 0; k < arrays.Length; k++)
                    inner.Body.Add(Expression.Assign(Expression.ArrayAccess(arrays[k], Expression.Subtract(index, first)), inner.ValueOf(outputs[k].Index)));
            });
        }

        /// <summary>
        /// for (...) { body; if ([kept &amp;&amp;] Takes(v, best, arg &gt;= 0)) (best, arg) = (v, index) }, then LINQ's exception when
        /// no element was taken; returns the local holding arg. Takes is <see cref="Runtime.TakesMax"/> or <see cref="Runtime.TakesMin"/>.
        /// </summary>
        private ParameterExpression EmitArgExtremum(Instruction ins)
        {
            int setup = Body.Count;
            var region = _trace.Regions[ins.C];
            var outputs = region.Body.Outputs;
            var arg = _pool.Take(typeof(int));
            var best = _pool.Take(typeof(double));
            Body.Add(Expression.Assign(arg, Expression.Constant(-1)));
            Body.Add(Expression.Assign(best, Expression.Constant(0.0)));
            EmitLoop(Body, _pool, region, ValueOf(ins.A), ValueOf(ins.B), CapturesOf(region), setup, (inner, index, first) =>
            {
                var value = inner.ValueOf(outputs[0].Index);
                Expression takes = Expression.Call(ins.Op == Op.ArgMax ? TakesMax : TakesMin, value, best,
                    Expression.GreaterThanOrEqual(arg, Expression.Constant(0)));
                if (outputs.Length > 1) takes = Expression.AndAlso(inner.ValueOf(outputs[1].Index), takes);
                inner.Body.Add(Expression.IfThen(takes, Expression.Block(Expression.Assign(best, value), Expression.Assign(arg, index))));
            });
            Body.Add(Expression.IfThen(Expression.LessThan(arg, Expression.Constant(0)), Expression.Call(ThrowNoElements)));
            _pool.Give(best);
            return arg;
        }

        /// <summary>
        /// The loop of a region, appended to <paramref name="statements"/>: for (index = first = start, end = start + count;
        /// index &lt; end; index++) { body; per-iteration statements }. The body's locals come from <paramref name="pool"/> (the
        /// enclosing method's); the expressions of the captured values must stay valid until the loop is done. The range
        /// checks of the body's reads go at <paramref name="setup"/>, before the caller's set-up of the loop (its sums, its
        /// state): a check calls a throw helper, and a value set up before a call is kept on the stack rather than in a
        /// register through the loop. A sum passes its accumulators as <paramref name="sums"/> (body output k adds into
        /// sums[k]), so that a vector loop may keep partial sums of its own.
        /// </summary>
        private void EmitLoop(List<Expression> statements, LocalPool pool, Region region, Expression start, Expression count, Expression[] captures,
            int setup, Action<BlockEmitter, ParameterExpression, ParameterExpression> eachIteration, Expression[]? states = null,
            ParameterExpression[]? sums = null)
        {
            var body = region.Body;
            var index = pool.Take(typeof(int));
            if (region.Branch)
            {
                // A branch: if (count > 0) { body }, with no range check of its own (its reads run only when taken).
                statements.Add(Expression.Assign(index, start));
                var taken = new BlockEmitter(body, _plan, LastUses(body), new Scratch(body.Count), pool, 0, body.Count, null, null, _context,
                    captures, index, states, null, null);
                taken.EmitInstructions();
                eachIteration(taken, index, index);
                taken.ReleaseAll();
                // Ends with an empty expression: FastExpressionCompiler declines a void block whose last expression is a
                // compound assignment (the branch's sum), and the fallback compiler's large methods can run unoptimised.
                statements.Add(Expression.IfThen(Expression.GreaterThan(count, Expression.Constant(0)), Expression.Block(typeof(void), taken.Body.Append(Expression.Empty()))));
                pool.Give(index);
                return;
            }
            var first = pool.Take(typeof(int));
            var end = pool.Take(typeof(int));
            statements.Add(Expression.Assign(index, start));
            statements.Add(Expression.Assign(first, index));
            statements.Add(Expression.Assign(end, Expression.Add(index, count)));

            var (checks, prechecked) = RangeChecks(region, start, count, captures);
            statements.InsertRange(setup, checks);
            bool vectorised = TryEmitVectorLoop(statements, pool, region, index, end, captures, prechecked, sums);
            var inner = new BlockEmitter(body, _plan, LastUses(body), new Scratch(body.Count), pool, 0, body.Count, null, null, _context,
                captures, index, states, null, prechecked) { FastFunctions = vectorised };
            inner.EmitInstructions();
            eachIteration(inner, index, first);
            inner.Body.Add(Expression.PreIncrementAssign(index));
            inner.ReleaseAll();
            statements.Add(While(Expression.LessThan(index, end), inner.Body));
            foreach (var local in new[] { index, first, end }) pool.Give(local);
        }

        /// <summary>
        /// One iteration of a region's body, at loop index <paramref name="index"/>, over the given state and taped-state
        /// expressions. The caller appends its per-iteration statements, then releases the body's locals.
        /// </summary>
        private BlockEmitter EmitBody(Region region, Expression index, Expression[]? states = null, Func<int, Expression>? tapedState = null,
            IReadOnlySet<int>? prechecked = null)
        {
            var body = region.Body;
            var captures = region.Captures.Select(c => ValueOf(c.Index)).ToArray();
            var inner = new BlockEmitter(body, _plan, LastUses(body), new Scratch(body.Count), _pool, 0, body.Count, null, null, _context,
                captures, index, states, tapedState, prechecked);
            inner.EmitInstructions();
            return inner;
        }

        /// <summary>
        /// Checks, before a loop over index = first .. first + count - 1, the range of every access in its body at index + c
        /// (c a constant or a captured integer) of an input span, the gradient span, or a captured array (read, or added
        /// into as an adjoint array): every body
        /// instruction runs in every iteration, so the check throws exactly when some read would, and the reads need none.
        /// Returns the checks and the body instructions they cover.
        /// </summary>
        private (List<Expression> Checks, HashSet<int> Covered) RangeChecks(Region region, Expression first, Expression count, Expression[] captures)
        {
            var body = region.Body;
            var covered = new HashSet<int>();
            var checks = new List<Expression>();
            Expression? OffsetOf(int index)
            {
                var ins = body.Instructions[index];
                if (ins.Op == Op.LoopIndex) return Expression.Constant(0);
                if (ins.Op != Op.Add || ins.Kind != ValueKind.Integer) return null;
                var (a, b) = (body.Instructions[ins.A], body.Instructions[ins.B]);
                if (a.Op != Op.LoopIndex && b.Op != Op.LoopIndex) return null;
                var other = a.Op == Op.LoopIndex ? b : a;
                return other.Op switch
                {
                    Op.Const when other.Kind == ValueKind.Integer => Expression.Constant((int)other.Number),
                    Op.Capture => captures[other.A],
                    _ => null,
                };
            }
            for (int j = 0; j < body.Count; j++)
            {
                var ins = body.Instructions[j];
                Expression? check = null;
                switch (ins.Op)
                {
                    case Op.InputAt when _plan.InputSpan is not null && OffsetOf(ins.A) is { } offset:
                    {
                        var (span, name) = _plan.InputSpan(ins.B);
                        check = Expression.Call(CheckSpanRange, span, Expression.Add(first, offset), count, Expression.Constant(name));
                        break;
                    }
                    case Op.ScatterAdd when _plan.AccumulateInto is not null && OffsetOf(ins.A) is { } offset:
                    {
                        var (span, name) = _plan.AccumulateInto(ins.C, (int)ins.Number);
                        check = Expression.Call(CheckWritableRange, span, Expression.Add(first, offset), count, Expression.Constant(name));
                        break;
                    }
                    case Op.Element when body.Instructions[ins.A] is { Op: Op.Capture } array && OffsetOf(ins.B) is { } offset:
                        check = Expression.Call(CheckArrayRangeOf.MakeGenericMethod(captures[array.A].Type.GetElementType()!), captures[array.A], Expression.Add(first, offset), count);
                        break;
                    case Op.ArrayAdd when body.Instructions[ins.A] is { Op: Op.Capture } array && OffsetOf(ins.B) is { } offset:
                        check = Expression.Call(CheckArrayRangeOf.MakeGenericMethod(captures[array.A].Type.GetElementType()!), captures[array.A], Expression.Add(first, offset), count);
                        break;
                }
                if (check is null) continue;
                checks.Add(check);
                covered.Add(j);
            }
            return (checks, covered);
        }

        /// <summary>
        /// while (condition) { body }, emitted as if (condition) do { body } while (condition): the shape the JIT recognises
        /// as a loop (a test at the bottom), so that it keeps the loop's counters and accumulators in registers.
        /// </summary>
        private static Expression While(Expression condition, List<Expression> body)
        {
            var exit = Expression.Label("loopEnd");
            var iteration = body.Append(Expression.IfThen(Expression.Not(condition), Expression.Break(exit)));
            return Expression.IfThen(condition, Expression.Loop(Expression.Block(typeof(void), iteration), exit));
        }

        /// <summary>
        /// Locals holding a fold's state and its sums (seeded with zero): its results. A scalar state is a local seeded
        /// from its initial value; an array state is a workspace buffer of the fold's own, seeded with a copy of the initial
        /// array (the arrays the body builds are its own buffers, rebuilt every iteration).
        /// </summary>
        private ParameterExpression[] FoldResults(int i, Region region)
        {
            var results = new ParameterExpression[region.ResultCount];
            for (int k = 0; k < results.Length; k++)
            {
                bool array = k < region.StateCount && _trace.Instructions[region.Initial[k].Index].Kind == ValueKind.Array;
                results[k] = _pool.Take(array ? typeof(double[]) : typeof(double));
                Body.Add(Expression.Assign(results[k],
                    array ? Expression.Call(StateBuffer, _context.Workspace!, Expression.Constant(_context.TapeId(_trace, i, StatePart + k)), ValueOf(region.Initial[k].Index))
                    : k < region.StateCount ? ValueOf(region.Initial[k].Index) : Expression.Constant(0.0)));
            }
            _results[i] = results;
            return results;
        }

        // Parts of a fold's workspace ids beyond its tape: its array states, the taped arrays a backward fold loads, and the
        // array states a checkpointed backward fold recomputes a segment from.
        private const int StatePart = 1 << 16, LoadPart = 2 << 16, CheckpointPart = 3 << 16;

        /// <summary>After an iteration's body: the next state replaces the state (the body read its own copies), the sums grow.</summary>
        private static void UpdateFold(BlockEmitter inner, Trace body, int states, ParameterExpression[] results)
        {
            for (int k = 0; k < results.Length; k++)
            {
                var value = inner.ValueOf(body.Outputs[k].Index);
                inner.Body.Add(k >= states ? Expression.AddAssign(results[k], value)
                    : results[k].Type == typeof(double[]) ? Expression.Call(CopyInto, value, results[k])
                    : Expression.Assign(results[k], value));
            }
        }

        /// <summary>
        /// Where each state and recorded value sits in a tape record: scalar states first, then every array state in order,
        /// then the recorded values (scalars, and arrays of the lengths <paramref name="recordedLengths"/> gives in order);
        /// returns the record width and each slot's array length (null for a scalar). Array state lengths are read from
        /// <paramref name="arrays"/> (the states, or anything of the same lengths) when the fold starts.
        /// </summary>
        private (Expression[] Offsets, Expression?[] Lengths, Expression Width, ParameterExpression[] Locals) TapeLayout(
            IReadOnlyList<ParameterExpression> arrays, int states, IReadOnlyList<ValueKind> recordedKinds, IReadOnlyList<Value> recordedLengths)
        {
            var offsets = new Expression[states + recordedKinds.Count];
            var lengths = new Expression?[offsets.Length];
            int scalars = 0;
            for (int k = 0; k < states; k++)
                if (arrays[k].Type == typeof(double)) offsets[k] = Expression.Constant(scalars++);
            Expression width = Expression.Constant(scalars);
            var locals = new List<ParameterExpression>();
            void Place(int slot, Expression? length)
            {
                var offset = _pool.Take(typeof(int));
                locals.Add(offset);
                Body.Add(Expression.Assign(offset, width));
                offsets[slot] = offset;
                lengths[slot] = length;
                width = Expression.Add(offset, length ?? Expression.Constant(1));
            }
            for (int k = 0; k < states; k++)
                if (arrays[k].Type == typeof(double[])) Place(k, Expression.ArrayLength(arrays[k]));
            for (int m = 0, a = 0; m < recordedKinds.Count; m++)
                Place(states + m, recordedKinds[m] == ValueKind.Array ? ValueOf(recordedLengths[a++].Index) : null);
            var total = _pool.Take(typeof(int));
            locals.Add(total);
            Body.Add(Expression.Assign(total, width));
            return (offsets, lengths, total, locals.ToArray());
        }

        /// <summary>The kinds of the values a taped fold records after each iteration.</summary>
        private static ValueKind[] RecordedKinds(Region region) =>
            region.Body.Outputs.Skip(region.ResultCount).Select(o => region.Body[o].Kind).ToArray();

        /// <summary>
        /// A forward fold: for (index = start; index &lt; start + count; index++) { [tape state every k-th time]; body; state = next; sums += }.
        /// The tape (k = region.TapeInterval) is rented from the kernel's workspace and read by the backward fold of reverse mode.
        /// </summary>
        private void EmitFold(int i, Instruction ins)
        {
            int setup = Body.Count;
            var region = _trace.Regions[ins.C];
            int states = region.StateCount;
            var results = FoldResults(i, region);
            ParameterExpression? tape = null;
            int interval = region.TapeInterval;
            (Expression[] Offsets, Expression?[] Lengths, Expression Width, ParameterExpression[] Locals) layout = ([], [], Expression.Constant(0), []);
            if (interval > 0)
            {
                layout = TapeLayout(results, states, RecordedKinds(region), region.RecordedLengths);
                tape = _pool.Take(typeof(double[]));
                Body.Add(Expression.Assign(tape, Expression.Call(TapeOf, _context.Workspace!, Expression.Constant(_context.TapeId(_trace, i)),
                    ValueOf(ins.B), Expression.Constant(interval), layout.Width)));
            }
            EmitLoop(Body, _pool, region, ValueOf(ins.A), ValueOf(ins.B), CapturesOf(region), setup, (inner, index, first) =>
            {
                if (tape is not null)
                {
                    // The state this iteration began with (unchanged until UpdateFold below) goes to record (index - first) / k.
                    var relative = Expression.Subtract(index, first);
                    var record = Expression.Multiply(interval == 1 ? relative : Expression.Divide(relative, Expression.Constant(interval)), layout.Width);
                    var stores = Enumerable.Range(0, states).Select(k => results[k].Type == typeof(double[])
                        ? (Expression)Expression.Call(Store, tape, Expression.Add(record, layout.Offsets[k]), results[k])
                        : Expression.Assign(Expression.ArrayAccess(tape, Expression.Add(record, layout.Offsets[k])), results[k])).ToList();
                    // The values the iteration records (only without checkpoints, so every record holds them).
                    for (int m = 0; m < region.RecordedCount; m++)
                    {
                        var at = Expression.Add(record, layout.Offsets[states + m]);
                        var value = inner.ValueOf(region.Body.Outputs[region.ResultCount + m].Index);
                        stores.Add(layout.Lengths[states + m] is null ? Expression.Assign(Expression.ArrayAccess(tape, at), value) : Expression.Call(Store, tape, at, value));
                    }
                    inner.Body.Add(interval == 1 ? Expression.Block(stores)
                        : Expression.IfThen(Expression.Equal(Expression.Modulo(relative, Expression.Constant(interval)), Expression.Constant(0)), Expression.Block(stores)));
                }
                UpdateFold(inner, region.Body, states, results);
            }, results.Take(states).ToArray());
            if (tape is not null)
            {
                _pool.Give(tape);
                foreach (var local in layout.Locals) _pool.Give(local);
            }
        }

        /// <summary>
        /// A backward fold reading the tape of an earlier forward fold: iterations from last to first, the taped state of
        /// each iteration at hand. With a checkpoint interval k &gt; 1, the iterations go by segments of k, last segment first:
        /// the segment's states are recomputed from its checkpoint with the taped fold's body into a buffer, then swept back.
        /// </summary>
        private void EmitBackwardFold(int i, Instruction ins)
        {
            var region = _trace.Regions[ins.C];
            int states = region.StateCount;
            var tapedIndex = region.TapeOf!.Value.Index;
            var taped = _trace.Regions[_trace.Instructions[tapedIndex].C];
            int tapedStates = taped.StateCount, interval = taped.TapeInterval;
            var results = FoldResults(i, region);
            // The taped fold's record layout: its states and this fold's (their adjoints) have the same kinds and lengths.
            var layout = TapeLayout(results, states, RecordedKinds(taped), taped.RecordedLengths);
            var tape = _pool.Take(typeof(double[]));
            Body.Add(Expression.Assign(tape, Expression.Call(TapeOf, _context.Workspace!, Expression.Constant(_context.TapeId(_trace, tapedIndex)),
                Expression.Constant(0), Expression.Constant(1), Expression.Constant(1))));
            var start = _pool.Take(typeof(int));
            var index = _pool.Take(typeof(int));
            var offset = _pool.Take(typeof(int));
            Body.Add(Expression.Assign(start, ValueOf(ins.A)));
            Expression Read(ParameterExpression buffer, int k, int part = LoadPart) => layout.Lengths[k] is { } length
                ? Expression.Call(Load, _context.Workspace!, Expression.Constant(_context.TapeId(_trace, i, part + k)), buffer,
                    Expression.Add(offset, layout.Offsets[k]), length)
                : Expression.ArrayIndex(buffer, Expression.Add(offset, layout.Offsets[k]));
            Expression Offset(Expression relative) => Expression.Multiply(relative, layout.Width);

            // Sweeps index from `last` down to `first`, reading the taped states from `buffer` at (index - origin) * states.
            List<Expression> SweepBack(Expression last, Expression first, ParameterExpression buffer, Expression origin)
            {
                var inner = EmitBody(region, index, results.Take(states).ToArray(), k => Read(buffer, k));
                UpdateFold(inner, region.Body, states, results);
                inner.Body.Add(Expression.PreDecrementAssign(index));
                inner.ReleaseAll();
                inner.Body.Insert(0, Expression.Assign(offset, Offset(Expression.Subtract(index, origin))));
                return [Expression.Assign(index, last), While(Expression.GreaterThanOrEqual(index, first), inner.Body)];
            }

            if (interval == 1)
            {
                Body.AddRange(SweepBack(Expression.Subtract(Expression.Add(start, ValueOf(ins.B)), Expression.Constant(1)), start, tape, start));
            }
            else
            {
                // Segments of `interval` iterations, last first: recompute the segment's states from its checkpoint, then sweep
                // it back. The segment buffer has the tape's record layout; an array state is recomputed in a buffer of its own
                // (loaded from the checkpoint, stepped in place) and stored whole into each record.
                var segment = _pool.Take(typeof(double[]));
                var segmentStart = _pool.Take(typeof(int));
                var segmentEnd = _pool.Take(typeof(int));
                var end = _pool.Take(typeof(int));
                var primal = Enumerable.Range(0, tapedStates).Select(k => _pool.Take(results[k].Type)).ToArray();
                Body.Add(Expression.Assign(segment, Expression.Call(TapeOf, _context.Workspace!, Expression.Constant(_context.TapeId(_trace, i)),
                    Expression.Constant(interval), Expression.Constant(1), layout.Width)));
                Body.Add(Expression.Assign(end, Expression.Add(start, ValueOf(ins.B))));
                var segmentLoop = new List<Expression>
                {
                    Expression.Assign(segmentEnd, Expression.Condition(Expression.LessThan(Expression.Add(segmentStart, Expression.Constant(interval)), end),
                        Expression.Add(segmentStart, Expression.Constant(interval)), end)),
                    // The checkpoint: the tape's slot (segmentStart - start) / interval.
                    Expression.Assign(offset, Offset(Expression.Divide(Expression.Subtract(segmentStart, start), Expression.Constant(interval)))),
                };
                for (int k = 0; k < tapedStates; k++) segmentLoop.Add(Expression.Assign(primal[k], Read(tape, k, CheckpointPart)));
                // Forward through the segment: store the state each iteration begins with, then step it.
                var step = EmitBody(taped, index, primal);
                UpdateFold(step, taped.Body, tapedStates, primal.Concat(Enumerable.Range(0, taped.Body.Outputs.Length - tapedStates)
                    .Select(_ => _pool.Take(typeof(double)))).ToArray());
                step.Body.Add(Expression.PreIncrementAssign(index));
                step.ReleaseAll();
                var stores = new List<Expression> { Expression.Assign(offset, Offset(Expression.Subtract(index, segmentStart))) };
                for (int k = 0; k < tapedStates; k++)
                {
                    var at = Expression.Add(offset, layout.Offsets[k]);
                    stores.Add(layout.Lengths[k] is null ? Expression.Assign(Expression.ArrayAccess(segment, at), primal[k]) : Expression.Call(Store, segment, at, primal[k]));
                }
                step.Body.InsertRange(0, stores);
                segmentLoop.Add(Expression.Assign(index, segmentStart));
                segmentLoop.Add(While(Expression.LessThan(index, segmentEnd), step.Body));
                segmentLoop.AddRange(SweepBack(Expression.Subtract(segmentEnd, Expression.Constant(1)), segmentStart, segment, segmentStart));
                segmentLoop.Add(Expression.SubtractAssign(segmentStart, Expression.Constant(interval)));
                // The last segment starts at start + floor((count - 1) / interval) * interval.
                Body.Add(Expression.Assign(segmentStart, Expression.Add(start, Expression.Multiply(
                    Expression.Divide(Expression.Subtract(ValueOf(ins.B), Expression.Constant(1)), Expression.Constant(interval)), Expression.Constant(interval)))));
                Body.Add(While(Expression.AndAlso(Expression.GreaterThanOrEqual(segmentStart, start), Expression.LessThan(segmentStart, end)), segmentLoop));
                foreach (var local in primal.Concat([segment, segmentStart, segmentEnd, end])) _pool.Give(local);
            }
            foreach (var local in layout.Locals.Concat([tape, start, index, offset])) _pool.Give(local);
        }
    }
}
