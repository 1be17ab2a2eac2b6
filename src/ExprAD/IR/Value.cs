namespace ExprAD.IR;

/// <summary>What an SSA value holds. Only <see cref="Scalar"/> values carry derivatives.</summary>
internal enum ValueKind : byte
{
    /// <summary>A double: the only kind that is differentiated.</summary>
    Scalar,
    /// <summary>An int: indices, lengths, results of <c>Math.Sign</c>. Never differentiated.</summary>
    Integer,
    /// <summary>A bool: comparisons and their logic, the conditions of selects.</summary>
    Boolean,
    /// <summary>A data array (<c>double[]</c>), read at call time; never differentiated.</summary>
    Array,
    /// <summary>A jagged data array (<c>double[][]</c>), read at call time; never differentiated.</summary>
    Jagged,
    /// <summary>A data array of integers (<c>int[]</c>: indices, counts), read at call time; its elements are integers.</summary>
    IntegerArray,
    /// <summary>The several results of a region (a loop); read one at a time with <c>Project</c>.</summary>
    Tuple,
    /// <summary>No value: an instruction kept for its effect (adding into the gradient).</summary>
    Effect,
    /// <summary>
    /// One of the user's objects (a class, struct or record instance, or a sequence of them: an array, a list), read at call
    /// time; never differentiated. Its CLR type is the type of the read that defines it (the accessor of an <c>Op.Data</c>,
    /// <c>Op.Read</c> or <c>Op.ReadAt</c>), or of the value a <c>Capture</c> captures: the IR never needs it, code generation
    /// gets it from the expressions it emits.
    /// </summary>
    Object,
}

/// <summary>A reference to the instruction of a trace that defines a value (its position in the trace).</summary>
internal readonly record struct Value(int Index)
{
    public override string ToString() => "%" + Index;
}
