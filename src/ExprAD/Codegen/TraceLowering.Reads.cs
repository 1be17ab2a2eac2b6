using System.Linq.Expressions;
using System.Reflection;
using ExprAD.Frontend;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Codegen;

internal static partial class TraceLowering
{
    private sealed partial class BlockEmitter
    {
        /// <summary>
        /// An unchecked access (its loop checked the range once) at <paramref name="index"/> of <paramref name="span"/>. A slice
        /// (one direction of a block, made by the plan) is accessed in the span it slices, at its start plus the index: the
        /// range check covered the slice, and no slice is made per access.
        /// </summary>
        private static Expression UncheckedAt(MethodInfo access, Expression span, Expression index, params Expression[] rest)
        {
            if (span is MethodCallExpression { Method.Name: nameof(Runtime.Slice) or nameof(Runtime.SliceReadOnly), Method.DeclaringType: var type } slice
                && type == typeof(Runtime))
                (span, index) = (slice.Arguments[0], Expression.Add(slice.Arguments[1], index));
            return Expression.Call(access, [span, index, .. rest]);
        }

        /// <summary>
        /// A read of an object (<see cref="Op.Read"/>, <see cref="Op.ReadAt"/>): its accessor's body with the operands' expressions
        /// in place of the accessor's parameters, so that it compiles as the user wrote it (<c>rows[i].X</c>). A member of a
        /// struct element is read in place (the element's address, not a copy of it: the expression compilers take the address
        /// of an array element whose member is read).
        /// </summary>
        private Expression ReadOf(Instruction ins)
        {
            var accessor = (LambdaExpression)_trace.DataReads[ins.Op == Op.Read ? ins.B : ins.C].Accessor;
            var arguments = new Dictionary<Expression, Expression>(ReferenceEqualityComparer.Instance);
            for (int k = 0; k < accessor.Parameters.Count; k++) arguments.Add(accessor.Parameters[k], ValueOf(ins.Operand(k).Index));
            return ExpressionNodes.Replace(accessor.Body, arguments);
        }
    }
}
