using System.Linq.Expressions;
using System.Reflection;
using System.Runtime.Intrinsics;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Codegen;

/// <summary>
/// Elementwise loops four iterations at a time (<see cref="ADOptions.VectorLoops"/>). A loop that sums nothing, and whose body only reads elements at
/// index + c, computes with + - × /, negation, √, abs, max, min, comparisons of scalars, logic on them and select (and
/// the masked product of reverse mode), and adds into adjoint arrays
/// or the gradient at index + c, is what reverse mode leaves for the adjoint of an inner sum; its iterations are
/// independent. Such a loop first runs blocks of four iterations with <see cref="Vector256{T}"/> operations, then the
/// remaining iterations one at a time (the scalar loop). Under <see cref="ADOptions.FastMath"/> the body may also use
/// the operations of <see cref="FastMathLowering"/>, and a sum's loop of eight iterations or more keeps four partial sums per output.
/// </summary>
/// <remarks>
/// Without fast math, results are bit-identical to the scalar loop: every element undergoes the same IEEE operations, in
/// the same order (no reassociation, no fused multiply-add). With it, elementwise results still are (the fast functions'
/// scalar and vector forms agree bit for bit), and sums differ only in the order of their additions. That needs, and the check below ensures, that no element is written by one
/// iteration and touched by another: an array added into is a fresh adjoint array (every zero array is a buffer of its
/// own) that the body does not read, and every add into one array (or into the gradient of one parameter) uses the same
/// index. Every access's range is checked before the loop (<see cref="BlockEmitter"/>'s range checks), so the vector
/// accesses need no check.
/// </remarks>
internal static partial class TraceLowering
{
    private static readonly MethodInfo VectorLoad = typeof(VectorRuntime).GetMethod(nameof(VectorRuntime.Load), [typeof(double[]), typeof(int)])!;
    private static readonly MethodInfo VectorLoadSpan = typeof(VectorRuntime).GetMethod(nameof(VectorRuntime.Load), [typeof(ReadOnlySpan<double>), typeof(int)])!;
    private static readonly MethodInfo VectorAddInto = typeof(VectorRuntime).GetMethod(nameof(VectorRuntime.AddInto), [typeof(double[]), typeof(int), typeof(Vector256<double>)])!;
    private static readonly MethodInfo VectorAddIntoSpan = typeof(VectorRuntime).GetMethod(nameof(VectorRuntime.AddInto), [typeof(Span<double>), typeof(int), typeof(Vector256<double>)])!;
    private static readonly MethodInfo VectorBroadcast = typeof(VectorRuntime).GetMethod(nameof(VectorRuntime.Broadcast))!;

    /// <summary>The vector form of each operation that elementwise loops compute lane by lane (see <c>ElementwiseIndices</c>).</summary>
    private static readonly Dictionary<Op, MethodInfo> VectorArithmetic = new()
    {
        [Op.Add] = Lanes(nameof(VectorRuntime.Add)),
        [Op.Sub] = Lanes(nameof(VectorRuntime.Subtract)),
        [Op.Mul] = Lanes(nameof(VectorRuntime.Multiply)),
        [Op.Div] = Lanes(nameof(VectorRuntime.Divide)),
        [Op.MaskedMul] = Lanes(nameof(VectorRuntime.MaskedMultiply)),
        [Op.Neg] = Lanes(nameof(VectorRuntime.Negate)),
        [Op.Sqrt] = Lanes(nameof(VectorRuntime.Sqrt)),
        [Op.Abs] = Lanes(nameof(VectorRuntime.Abs)),
        [Op.Max] = Lanes(nameof(VectorRuntime.Max)),
        [Op.Min] = Lanes(nameof(VectorRuntime.Min)),
        // Booleans are lane masks (all ones or all zeros), from comparisons of scalars and logic on such masks.
        [Op.LessThan] = Lanes(nameof(VectorRuntime.LessThan)),
        [Op.LessOrEqual] = Lanes(nameof(VectorRuntime.LessOrEqual)),
        [Op.GreaterThan] = Lanes(nameof(VectorRuntime.GreaterThan)),
        [Op.GreaterOrEqual] = Lanes(nameof(VectorRuntime.GreaterOrEqual)),
        [Op.Equal] = Lanes(nameof(VectorRuntime.Equal)),
        [Op.NotEqual] = Lanes(nameof(VectorRuntime.NotEqual)),
        [Op.And] = Lanes(nameof(VectorRuntime.And)),
        [Op.Or] = Lanes(nameof(VectorRuntime.Or)),
        [Op.Not] = Lanes(nameof(VectorRuntime.Not)),
        [Op.Select] = Lanes(nameof(VectorRuntime.Select)),
    };

    private static MethodInfo Lanes(string name) => typeof(VectorRuntime).GetMethod(name)!;
    private static readonly MethodInfo VectorIndices = typeof(VectorRuntime).GetMethod(nameof(VectorRuntime.Indices))!;
    private static readonly MethodInfo VectorMask = typeof(VectorRuntime).GetMethod(nameof(VectorRuntime.Mask))!;
    /// <summary>The fewest iterations for which a sum's loop runs with lane partials (under fast math).</summary>
    private const int ShortestLaneSum = 8;

    private static readonly MethodInfo VectorSum = typeof(VectorRuntime).GetMethod(nameof(VectorRuntime.Sum))!;

    private sealed partial class BlockEmitter
    {
        /// <summary>
        /// True for the scalar remainder of a loop whose blocks of four ran with vector operations: under fast math its
        /// elementary functions take <see cref="FastMathRuntime"/>'s scalar forms, the same bits as the vector blocks' lanes,
        /// so an element's value does not depend on where it falls. Elsewhere they stay System.Math's, which are as fast
        /// one at a time (glibc's table-driven exp and log have shorter dependency chains than ExprAD's polynomials).
        /// </summary>
        public bool FastFunctions { get; init; }

        /// <summary>
        /// Appends to <paramref name="statements"/>, before the scalar loop over [index, end), a loop that runs blocks of four
        /// iterations of <paramref name="region"/>'s body with vector operations and leaves index at the first iteration not
        /// run; does nothing, and returns false, when the body is not elementwise (see the class remarks) or vectors are not
        /// accelerated.
        /// </summary>
        private bool TryEmitVectorLoop(List<Expression> statements, LocalPool pool, Region region, ParameterExpression index, ParameterExpression end,
            Expression[] captures, IReadOnlySet<int> prechecked, ParameterExpression[]? sums)
        {
            var body = region.Body;
            // Partial sums reorder the additions: only under fast math, and only for a sum's scalar outputs.
            bool sumsInLanes = body.Outputs.Length > 0 && _plan.Options.FastMath && sums is not null
                && body.Outputs.All(o => body[o].Kind == ValueKind.Scalar);
            if (!_plan.Options.VectorLoops || !Vector256.IsHardwareAccelerated || body.Outputs.Length > 0 && !sumsInLanes
                || ElementwiseIndices(body, prechecked, _plan.Options.FastMath) is not { } varyingIndex) return false;
            var values = new Expression?[body.Count];
            var locals = new List<ParameterExpression>();
            var iteration = new List<Expression>();
            // A vector local assigned in `into`: before the loop for loop-invariant scalars (broadcast once), in every block else.
            Expression Local(List<Expression> into, Expression vector)
            {
                var local = pool.Take(typeof(Vector256<double>));
                locals.Add(local);
                into.Add(Expression.Assign(local, vector));
                return local;
            }
            // The vector part: appended to statements as it is, or, for a sum, only run for enough iterations (below).
            var vectorPart = new List<Expression>();
            Expression Broadcast(Expression scalar) => Local(vectorPart, Expression.Call(VectorBroadcast, scalar));
            Expression Varying(Expression vector) => Local(iteration, vector);
            for (int j = 0; j < body.Count; j++)
            {
                var ins = body.Instructions[j];
                Expression? Operand(int k) => values[ins.Operand(k).Index];
                Expression[] Operands() => Enumerable.Range(0, ins.Arity).Select(k => Operand(k)!).ToArray();
                switch (ins.Op)
                {
                    case Op.LoopIndex: values[j] = index; break;
                    case Op.Capture:
                        values[j] = ins.Kind == ValueKind.Scalar ? Broadcast(captures[ins.A]) : captures[ins.A];
                        break;
                    case Op.Const:
                        values[j] = ins.Kind switch
                        {
                            ValueKind.Scalar => Broadcast(Expression.Constant(ins.Number)),
                            ValueKind.Boolean => Local(vectorPart, Expression.Call(VectorMask, Expression.Constant(ins.Number != 0))),
                            _ => Expression.Constant((int)ins.Number),
                        };
                        break;
                    case Op.Add or Op.Sub or Op.Mul when ins.Kind == ValueKind.Integer:
                        values[j] = RuleTable.Of(ins).Emit([Operand(0)!, Operand(1)!]);
                        break;
                    case Op.Element:
                        values[j] = Varying(Expression.Call(VectorLoad, Operand(0)!, Operand(1)!));
                        break;
                    case Op.IntToDouble:
                        values[j] = Varying(varyingIndex[ins.A] ? Expression.Call(VectorIndices, Operand(0)!)
                            : Expression.Call(VectorBroadcast, Expression.Convert(Operand(0)!, typeof(double))));
                        break;
                    case Op.InputAt:
                        values[j] = Varying(Expression.Call(VectorLoadSpan, Need(_plan.InputSpan)(ins.B).Span, Operand(0)!));
                        break;
                    case Op.ArrayAdd:
                        iteration.Add(Expression.Call(VectorAddInto, Operand(0)!, Operand(1)!, Operand(2)!));
                        break;
                    case Op.ScatterAdd:
                        iteration.Add(Expression.Call(VectorAddIntoSpan, Need(_plan.AccumulateInto)(ins.C, (int)ins.Number).Span, Operand(0)!, Operand(1)!));
                        break;
                    case var _ when _plan.Options.FastMath && FastMathLowering.Vector(ins, body, Operands()) is { } fast:
                        values[j] = Varying(fast);
                        break;
                    default:
                        values[j] = Varying(Expression.Call(VectorArithmetic[ins.Op], Operands()));
                        break;
                }
            }
            // Sums: lane partials that start at -0 (the identity of +), added into the accumulators after the blocks.
            var partials = new ParameterExpression[sumsInLanes ? sums!.Length : 0];
            for (int k = 0; k < partials.Length; k++)
            {
                partials[k] = pool.Take(typeof(Vector256<double>));
                vectorPart.Add(Expression.Assign(partials[k], Expression.Call(VectorBroadcast, Expression.Constant(-0.0))));
                iteration.Add(Expression.Assign(partials[k], Expression.Call(VectorArithmetic[Op.Add], partials[k], values[body.Outputs[k].Index]!)));
            }
            iteration.Add(Expression.AddAssign(index, Expression.Constant(Vector256<double>.Count)));
            vectorPart.Add(While(Expression.LessThanOrEqual(index, Expression.Subtract(end, Expression.Constant(Vector256<double>.Count))), iteration));
            for (int k = 0; k < partials.Length; k++)
            {
                vectorPart.Add(Expression.AddAssign(sums![k], Expression.Call(VectorSum, partials[k])));
                pool.Give(partials[k]);
            }
            // Lane partials cost a set-up and a horizontal sum per loop run: a short sum (a dot product of 5 inside an outer
            // loop measured 24% slower with them) stays scalar.
            if (sumsInLanes)
                statements.Add(Expression.IfThen(Expression.GreaterThanOrEqual(Expression.Subtract(end, index), Expression.Constant(ShortestLaneSum)),
                    Expression.Block(typeof(void), vectorPart.Append(Expression.Empty()))));
            else statements.AddRange(vectorPart);
            foreach (var local in locals) pool.Give(local);
            return true;
        }

        /// <summary>
        /// When every instruction of <paramref name="body"/> has a vector form and no element is touched by two iterations:
        /// which values are the loop index plus an invariant (null otherwise).
        /// </summary>
        private static bool[]? ElementwiseIndices(Trace body, IReadOnlySet<int> prechecked, bool fastMath)
        {
            // Integers: the loop index, invariants (captures, constants, arithmetic on them), and index + invariant.
            var varyingIndex = new bool[body.Count];
            var invariantInteger = new bool[body.Count];
            var mask = new bool[body.Count];              // Booleans computed lane by lane from scalars
            var addedInto = new Dictionary<int, int>();   // array capture leaf -> the index value of its adds
            var scatteredAt = new Dictionary<int, int>(); // parameter -> the index value of its scatter-adds
            var read = new HashSet<int>();
            for (int j = 0; j < body.Count; j++)
            {
                var ins = body.Instructions[j];
                switch (ins.Op)
                {
                    case Op.LoopIndex: varyingIndex[j] = true; break;
                    case Op.Capture or Op.Const when ins.Kind == ValueKind.Integer: invariantInteger[j] = true; break;
                    case Op.Capture or Op.Const when ins.Kind is ValueKind.Scalar or ValueKind.Array: break;
                    case Op.Const when ins.Kind == ValueKind.Boolean: mask[j] = true; break;
                    case Op.Add or Op.Sub or Op.Mul when ins.Kind == ValueKind.Integer:
                        if (invariantInteger[ins.A] && invariantInteger[ins.B]) invariantInteger[j] = true;
                        else if (ins.Op == Op.Add && (varyingIndex[ins.A] && invariantInteger[ins.B] || invariantInteger[ins.A] && varyingIndex[ins.B])) varyingIndex[j] = true;
                        else return null;
                        break;
                    case Op.Element when ins.Kind == ValueKind.Scalar && prechecked.Contains(j) && varyingIndex[ins.B] && body.Instructions[ins.A].Op == Op.Capture:
                        read.Add(ins.A);
                        break;
                    case Op.InputAt when prechecked.Contains(j) && varyingIndex[ins.A]:
                        break;
                    case Op.ArrayAdd when prechecked.Contains(j) && varyingIndex[ins.B] && body.Instructions[ins.A].Op == Op.Capture:
                        if (addedInto.TryGetValue(ins.A, out int at) && at != ins.B) return null;
                        addedInto[ins.A] = ins.B;
                        break;
                    case Op.ScatterAdd when prechecked.Contains(j) && varyingIndex[ins.A]:
                        if (scatteredAt.TryGetValue(ins.C, out int where) && where != ins.A) return null;
                        scatteredAt[ins.C] = ins.A;
                        break;
                    case Op.LessThan or Op.LessOrEqual or Op.GreaterThan or Op.GreaterOrEqual or Op.Equal or Op.NotEqual
                        when body[ins.Operand(0)].Kind == ValueKind.Scalar && body[ins.Operand(1)].Kind == ValueKind.Scalar:
                        mask[j] = true;
                        break;
                    case Op.And or Op.Or when mask[ins.A] && mask[ins.B]:
                        mask[j] = true;
                        break;
                    case Op.Not when mask[ins.A]:
                        mask[j] = true;
                        break;
                    case Op.Select when ins.Kind == ValueKind.Scalar && mask[ins.A]:
                        break;
                    // Arithmetic on scalars: every other scalar operation of the table.
                    case var _ when ins.Kind == ValueKind.Scalar && ins.Op != Op.Select && VectorArithmetic.ContainsKey(ins.Op):
                        break;
                    case Op.IntToDouble when varyingIndex[ins.A] || invariantInteger[ins.A]:
                        break;
                    case var _ when fastMath && FastMathLowering.Covers(ins, body):
                        break;
                    default:
                        return null;
                }
            }
            // Every array added into is an adjoint array of its own (reverse mode adds only into zero arrays), and not read here.
            return addedInto.Keys.Any(read.Contains) ? null : varyingIndex;
        }
    }
}
