using System.Linq.Expressions;
using System.Reflection;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Codegen;

/// <summary>
/// Parallel loops (<see cref="ADOptions.ParallelLoops"/>): a sum of the top-level trace is outlined into a worker
/// method, compiled on its own, that runs iterations [from, to) of the same body lowered by the same emitter, and
/// writes its partial sums (and, through the plan's gradient hook, its adjoints) into buffers it is given. The kernel
/// calls <see cref="Runtime.RunSum{TData}"/>, which splits the range into fixed blocks, runs them on all cores and
/// adds the block results in block order (see <see cref="ParallelSums"/>).
/// </summary>
/// <remarks>
/// Only top-level sums are outlined: a loop nested in a body is part of its enclosing iteration and is lowered inside
/// the worker as usual. The worker has the kernel's own parameters (constants, x, data, gradient: the same
/// <see cref="ParameterExpression"/> objects, so every hook of the <see cref="LoweringPlan"/> and every data accessor
/// works unchanged inside it); at run time its gradient is the block's private accumulator. Captured scalars travel
/// through a frame (a per-thread spill buffer, written once per call); captured arrays are data reads, re-read by
/// the worker. Code size is one copy of the body, whatever the trip count.
/// </remarks>
internal static partial class TraceLowering
{
    private static readonly MethodInfo RunSum = typeof(Runtime).GetMethod(nameof(Runtime.RunSum))!;
    private static readonly MethodInfo WriteResult = typeof(Runtime).GetMethod(nameof(Runtime.Write))!;

    private sealed partial class BlockEmitter
    {
        /// <summary>
        /// Compiles the worker methods of outlined loops. Set on the emitters of the top-level trace (and its chunks)
        /// only, so a loop nested in a body is never outlined.
        /// </summary>
        public Func<LambdaExpression, Delegate>? CompileMethod { get; init; }

        /// <summary>
        /// Emits sum <paramref name="i"/> as a call of a parallel worker, or returns false (and emits nothing) when it
        /// stays an inline loop: not top-level, a delegate shape without one point span, or a captured array that is
        /// not a data read (it could not be re-read by the worker).
        /// </summary>
        private bool TryEmitParallelSum(int i, Instruction ins)
        {
            if (CompileMethod is null) return false;
            var region = _trace.Regions[ins.C];
            // A branch runs at most one iteration.
            if (region.Branch) return false;
            var environment = _trace.Environment;
            var points = _plan.Parameters.Where(p => p.Type == typeof(ReadOnlySpan<double>)).ToArray();
            var gradients = _plan.Parameters.Where(p => p.Type == typeof(Span<double>)).ToArray();
            if (points.Length != 1 || gradients.Length > 1 || !_plan.Parameters.Contains(environment.Constants)) return false;
            if (environment.Data is { } d && !_plan.Parameters.Contains(d)) return false;
            // A body that needs the kernel's workspace (maps, taped folds) stays inline: the workspace belongs to the calling thread.
            if (UsesWorkspace(region.Body)) return false;
            bool scatters = region.Body.HasEffects;
            if (scatters && gradients.Length == 0) return false;

            // Frame layout: one slot per captured scalar, integer or boolean, then one per result.
            var slots = new int[region.Captures.Length];
            int slotCount = 0;
            for (int k = 0; k < slots.Length; k++)
            {
                var captured = _trace[region.Captures[k]];
                if (captured.Kind is ValueKind.Array or ValueKind.Jagged or ValueKind.IntegerArray or ValueKind.Object)
                {
                    if (captured.Op != Op.Data) return false;
                    slots[k] = -1;
                }
                else slots[k] = slotCount++;
            }
            int resultCount = region.Body.Outputs.Length;

            var x = points[0];
            var data = environment.Data ?? Expression.Parameter(typeof(object), "noData");
            var gradient = gradients.Length == 1 ? gradients[0] : Expression.Parameter(typeof(Span<double>), "noGradient");
            var workerType = typeof(RegionWorker<>).MakeGenericType(data.Type);
            var worker = CompileMethod(BuildWorker(workerType, region, slots, x, data, gradient));

            // Kernel side: frame = rent; try { frame[slot] = capture...; RunSum(...); results = frame[...] } finally { return frame }.
            var frame = _pool.Take(typeof(double[]));
            Body.Add(Expression.Assign(frame, Expression.Call(RentSpill, Expression.Constant(Math.Max(1, slotCount + resultCount)))));
            var statements = new List<Expression>();
            for (int k = 0; k < slots.Length; k++)
                if (slots[k] >= 0) statements.Add(ToSpill(frame, slots[k], ValueOf(region.Captures[k].Index)));
            statements.Add(Expression.Call(RunSum.MakeGenericMethod(data.Type),
                Expression.Constant(worker, workerType), environment.Constants, x,
                environment.Data ?? (Expression)Expression.Constant(null, typeof(object)),
                gradients.Length == 1 ? gradient : Expression.Default(typeof(Span<double>)),
                frame, Expression.Constant(slotCount), Expression.Constant(resultCount),
                ValueOf(ins.A), ValueOf(ins.B), Expression.Constant(_plan.Options.ParallelThreshold), Expression.Constant(scatters),
                Expression.Constant(_plan.Options.RetainWorkspace)));
            var accumulators = new ParameterExpression[resultCount];
            for (int k = 0; k < resultCount; k++)
            {
                accumulators[k] = _pool.Take(typeof(double));
                statements.Add(Expression.Assign(accumulators[k], FromSpill(frame, slotCount + k, ValueKind.Scalar)));
            }
            Body.Add(Expression.TryFinally(Expression.Block(typeof(void), statements), Expression.Call(ReturnSpill, frame)));
            _pool.Give(frame);
            _results[i] = accumulators;
            return true;
        }

        /// <summary>
        /// (constants, x, data, gradient, frame, from, to, results) =&gt; { captures = frame slots or data re-reads;
        /// sums = the region's loop over [from, to); results[k] = sums[k] }.
        /// </summary>
        private LambdaExpression BuildWorker(Type workerType, Region region, int[] slots,
            ParameterExpression x, ParameterExpression data, ParameterExpression gradient)
        {
            var frame = Expression.Parameter(typeof(double[]), "frame");
            var from = Expression.Parameter(typeof(int), "from");
            var to = Expression.Parameter(typeof(int), "to");
            var results = Expression.Parameter(typeof(Span<double>), "results");
            var pool = new LocalPool(reuse: TotalSize(region.Body) > ReuseThreshold);
            var statements = new List<Expression>();
            // Captures are loaded into locals once per block, not read from the frame in every iteration.
            var captures = new Expression[slots.Length];
            for (int k = 0; k < slots.Length; k++)
            {
                var captured = _trace[region.Captures[k]];
                var read = slots[k] >= 0 ? FromSpill(frame, slots[k], captured.Kind) : _trace.DataReads[captured.A].Accessor;
                var local = pool.Take(read.Type);
                statements.Add(Expression.Assign(local, read));
                captures[k] = local;
            }
            var sums = EmitSumLoop(statements, pool, region, from, Expression.Subtract(to, from), captures);
            // RunSum hands every block a results span of exactly the region's output count.
            for (int k = 0; k < sums.Length; k++) statements.Add(Expression.Call(WriteResult, results, Expression.Constant(k), sums[k]));
            statements.Add(Expression.Empty());
            return Expression.Lambda(workerType, Expression.Block(typeof(void), pool.Locals, statements),
                [_trace.Environment.Constants, x, data, gradient, frame, from, to, results]);
        }
    }
}
