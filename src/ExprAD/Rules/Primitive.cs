using System.Linq.Expressions;
using System.Reflection;
using ExprAD.IR;

namespace ExprAD.Rules;

/// <summary>
/// The local partial derivatives of a primitive at (<paramref name="args"/>, <paramref name="result"/>),
/// built as IR so that derivative code can itself be differentiated. A null entry is a structural
/// zero: that operand contributes nothing (it is not multiplied by zero, which would turn an
/// infinite or NaN tangent into NaN).
/// </summary>
internal delegate Value?[] PartialsRule(TraceBuilder b, Value[] args, Value result);

/// <summary>A tangent rule for primitives that are not the linear form sum(partial_i * tangent_i).</summary>
internal delegate Value? TangentRule(TraceBuilder b, Value[] args, Value result, Value?[] argTangents);

/// <summary>
/// An adjoint rule for primitives that are not the linear form argAdjoint_i += adjoint * partial_i.
/// <paramref name="contribute"/> takes an operand position and its contribution.
/// </summary>
internal delegate void AdjointRule(TraceBuilder b, Value[] args, Value result, Value adjoint, Action<int, Value> contribute);

/// <summary>Operand and result kinds of an operation.</summary>
internal enum OpSignature : byte
{
    /// <summary>Operands all scalar or all integer; the result has their kind.</summary>
    Numeric,
    /// <summary>Scalar operands, scalar result.</summary>
    Scalar,
    /// <summary>Two operands of one numeric kind, boolean result.</summary>
    Compare,
    /// <summary>Boolean operands, boolean result.</summary>
    Logic,
    /// <summary>Boolean condition, then two operands of one kind; the result has their kind.</summary>
    Select,
    /// <summary>A scalar operand, an integer result.</summary>
    ScalarToInteger,
    /// <summary>An integer operand, a scalar result.</summary>
    IntegerToScalar,
    /// <summary>An array (or jagged array) and an integer index; a scalar (or an array).</summary>
    ArrayElement,
    /// <summary>An array or jagged array; an integer.</summary>
    ArrayLength,
    /// <summary>A read of an object (and an index) through an accessor: the kind is the read's (built by <see cref="TraceBuilder.Read"/>).</summary>
    Read,
}

/// <summary>
/// For primitives that pass one operand through unchanged (a select, max, min, clamp): for each
/// operand, the boolean condition under which the result is that operand (null: never). Exactly
/// one condition holds at any point. The derivative is that of the operand passed through; the
/// others are never multiplied in, so their NaN or infinite derivatives cannot leak.
/// </summary>
internal delegate Value?[] PassThroughRule(TraceBuilder b, Value[] args);

/// <summary>
/// Everything ExprAD knows about one operation: its arity, how it evaluates (for constant folding
/// and the interpreter), how it is emitted as a LINQ expression, its derivative rules, the
/// <see cref="System.Math"/> methods it stands for, and its printed name. One entry in
/// <see cref="RuleTable"/> per operation.
/// </summary>
internal sealed class Primitive
{
    public required Op Op { get; init; }

    /// <summary>Printed name: a function name (<c>sin</c>) or, with <see cref="IsInfix"/>, an operator symbol.</summary>
    public required string Name { get; init; }

    public bool IsInfix { get; init; }

    public required int Arity { get; init; }

    /// <summary>The kinds of operands and result.</summary>
    public required OpSignature Signature { get; init; }

    /// <summary>True when operands may be swapped without changing the value (used to canonicalise for CSE).</summary>
    public bool IsCommutative { get; init; }

    /// <summary>
    /// Evaluates the operation on doubles (integers and booleans travel as doubles holding
    /// whole numbers and 0/1); used for constant folding and by the interpreter.
    /// </summary>
    public required Func<double[], double> Evaluate { get; init; }

    /// <summary>Emits the operation over operand expressions of the right CLR types.</summary>
    public required Func<Expression[], Expression> Emit { get; init; }

    public PartialsRule? Partials { get; init; }
    public PassThroughRule? PassThrough { get; init; }
    public TangentRule? Tangent { get; init; }
    public AdjointRule? Adjoint { get; init; }

    /// <summary>
    /// True for a call into the math library (exp, log, tanh, pow, ...: tens of nanoseconds, where arithmetic and √ take
    /// one or a few): a taped fold records such a result on its tape, so that its backward fold reads it rather than
    /// calling again.
    /// </summary>
    public bool IsCostly { get; init; }

    /// <summary>
    /// True when the operation throws for some operands (a check, <c>Math.Clamp</c> with min &gt; max, <c>Math.Sign</c> of
    /// NaN): the frontend never evaluates it in a branch that is not taken, and constant folding leaves such operands to
    /// throw at call time. (Integer division by zero is the frontend's own case: only integer operands throw.)
    /// </summary>
    public bool MayThrow { get; init; }

    /// <summary>The methods that the frontend maps to this operation.</summary>
    public MethodInfo[] Methods { get; init; } = [];

    /// <summary>For a user's definition (<see cref="Op.Call"/>): its number in <see cref="CustomRules"/>; -1 otherwise.</summary>
    public int CustomNumber { get; init; } = -1;

    /// <summary>True when the operation propagates derivatives (its result is a differentiable scalar).</summary>
    public bool IsDifferentiable => Partials is not null || Tangent is not null || PassThrough is not null;
}
