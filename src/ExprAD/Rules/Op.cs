namespace ExprAD.Rules;

/// <summary>The operations of the IR. Every one except the three leaves has one entry in <see cref="RuleTable"/>.</summary>
internal enum Op : byte
{
    // Leaves. LoopIndex and Capture occur only in region bodies: the iteration number, and a value of
    // the enclosing trace (Instruction.A is its slot in Region.Captures). State occurs only in a fold's
    // body: carried state A at the start of the iteration. TapedState occurs only in the body of a
    // backward fold that reads a tape: state A of the taped fold at the start of the same iteration.
    Const, Input, Data, LoopIndex, Capture, State, TapedState,

    // Regions (loops; Instruction.C indexes Trace.Regions) and the projection of one of their results
    // (Instruction.B is the result number). Sum: operands start and count; results sum over
    // i = start .. start + count - 1 of the body's outputs.
    Sum, Project,

    // Regions whose result is the loop index (an integer, never differentiated) at which the body's
    // single output is largest (smallest); the first such index on ties. Operands start and count.
    ArgMax, ArgMin,

    // A loop carrying state (Instruction.C indexes Trace.Regions; operands start and count). The region's
    // Initial values seed the state; the body's first StateCount outputs are the next state, the rest
    // are summed over the iterations. Results (read with Project): the final state, then the sums.
    // A backward fold runs its iterations from last to first (reverse mode emits it, with a tape).
    Fold,

    // A loop building arrays (operands start and count; Instruction.C indexes Trace.Regions): element r of result k
    // (read with Project, kind Array) is body output k at index start + r. The arrays are active values: reverse
    // mode gives each an adjoint array (ZeroArray, operand the length) into which reads add (ArrayAdd, an effect:
    // operand A the array, B the index, C the value).
    Map, ZeroArray, ArrayAdd,

    // Active arrays with computed indices. InputAt: operand A the index, B the parameter (immediate).
    // InputLength: the length of parameter A. ScatterAdd (an effect, emitted by reverse mode): adds
    // operand B into the gradient of parameter C at index operand A; its Number is the sink: 0 the gradient, 1 + d the
    // gradient's tangent in direction d (forward mode over reverse mode).
    InputAt, InputLength, ScatterAdd,

    // Arithmetic (scalar or integer; the kind of the first operand decides).
    Neg, Add, Sub, Mul, Div, Rem,

    // Elementary functions of System.Math (scalar).
    Sin, Cos, Tan, Asin, Acos, Atan, Atan2,
    Sinh, Cosh, Tanh, Asinh, Acosh, Atanh,
    Exp, Log, LogBase, Log10, Log2, Sqrt, Cbrt, Pow,
    Abs, Max, Min, Clamp, FusedMultiplyAdd,
    Floor, Ceiling, Round, Truncate,

    // Zero-strong product, emitted only by the reverse transform: 0 (x) y = 0 even when y is infinite or NaN.
    MaskedMul,

    // Kind changes.
    Sign, IntToDouble, DoubleToInt,

    // Checks that LINQ makes, as values (the operand passed through, or an exception): RangeCount(start, count) is the
    // count of Enumerable.Range(start, count) (ArgumentOutOfRangeException naming count unless count >= 0 and
    // start + count - 1 <= int.MaxValue); NonEmpty(n) is n, or InvalidOperationException when n is 0 (an average of
    // no elements).
    RangeCount, NonEmpty,

    // Comparisons (operands scalar or integer) and logic.
    LessThan, LessOrEqual, GreaterThan, GreaterOrEqual, Equal, NotEqual,
    And, Or, Not,

    // c ? a : b, evaluated eagerly; the derivative is that of the branch taken.
    Select,

    // Data arrays: an element (of a jagged array: a row), and the length.
    Element, ArrayLength,

    // A call of a method whose derivative the user defined (AD.Define): one to four scalar operands (A, B, C, D), the
    // definition's number in CustomRules as Instruction.Number. Its rule-table entry is the definition's own
    // (RuleTable.Of), not one per operation.
    Call,

    // Reads of the user's objects (see ValueKind.Object) through an accessor: a LambdaExpression in Trace.DataReads whose
    // parameters stand for the operands. Read: operand A the object, Instruction.B the read. ReadAt: operands A the
    // object (a sequence) and B an integer (an index), Instruction.C the read. The result has the read's kind; never
    // differentiated (data, like Op.Data, but reached through an object that a loop or an index chooses).
    Read, ReadAt,
}
