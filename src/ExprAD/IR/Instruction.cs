using ExprAD.Rules;

namespace ExprAD.IR;

/// <summary>
/// One SSA instruction. It defines exactly one value, whose identity is the instruction's
/// position in its trace. Operands (<see cref="A"/>, <see cref="B"/>, <see cref="C"/>) are
/// earlier positions; how many are used is the arity of <see cref="Op"/>.
/// For <see cref="Op.Input"/>, <see cref="A"/> is the lambda parameter position and <see cref="B"/>
/// the element index (-1 for a scalar parameter). For <see cref="Op.Data"/>, <see cref="A"/>
/// indexes <see cref="Trace.DataReads"/>, as <see cref="B"/> does for <see cref="Op.Read"/> and <see cref="C"/> for
/// <see cref="Op.ReadAt"/>. For <see cref="Op.Const"/>, <see cref="Number"/> is the value.
/// </summary>
/// <remarks>Equality compares constants by bit pattern so that hash-consing keeps 0.0 and -0.0 apart.</remarks>
internal readonly struct Instruction : IEquatable<Instruction>
{
    public Instruction(Op op, ValueKind kind, int a = -1, int b = -1, int c = -1, double number = 0, int d = -1)
    {
        Op = op; Kind = kind; A = a; B = b; C = c; Number = number; D = d;
    }

    public Op Op { get; }
    public ValueKind Kind { get; }
    public int A { get; }
    public int B { get; }
    public int C { get; }

    /// <summary>The fourth operand, used only by <see cref="Op.Call"/> (-1 otherwise).</summary>
    public int D { get; }
    public double Number { get; }

    /// <summary>Number of value operands (0 to 4). A region's captured values are further uses, listed in its <see cref="Region"/>.</summary>
    public int Arity => Op switch
    {
        Op.Call => D >= 0 ? 4 : C >= 0 ? 3 : B >= 0 ? 2 : 1,
        Op.Const or Op.Input or Op.Data or Op.LoopIndex or Op.Capture or Op.State or Op.TapedState or Op.InputLength => 0,
        Op.Sum or Op.Fold or Op.Map or Op.ArgMax or Op.ArgMin or Op.ScatterAdd => 2,
        Op.Project or Op.InputAt or Op.ZeroArray => 1,
        Op.ArrayAdd => 3,
        _ => RuleTable.Get(Op).Arity,
    };

    /// <summary>True for loops: instructions with a body (<see cref="C"/> indexes the trace's regions).</summary>
    public bool IsRegion => Op is Op.Sum or Op.Fold or Op.Map or Op.ArgMax or Op.ArgMin;

    /// <summary>True for loops whose several results are read with <see cref="Op.Project"/> (sums, folds and maps).</summary>
    public bool HasTupleResult => Op is Op.Sum or Op.Fold or Op.Map;

    /// <summary>True for leaves: instructions without value operands.</summary>
    public bool IsLeaf => Arity == 0;

    /// <summary>The value operand at position <paramref name="k"/> (0-based, below <see cref="Arity"/>).</summary>
    public Value Operand(int k) => new(k switch { 0 => A, 1 => B, 2 => C, 3 => D, _ => throw new ArgumentOutOfRangeException(nameof(k)) });

    /// <summary>The same instruction with its operands renamed through <paramref name="map"/>.</summary>
    public Instruction WithOperands(Func<Value, Value> map)
    {
        int arity = Arity;
        return new Instruction(Op, Kind,
            arity > 0 ? map(new Value(A)).Index : A,
            arity > 1 ? map(new Value(B)).Index : B,
            arity > 2 ? map(new Value(C)).Index : C,
            Number,
            arity > 3 ? map(new Value(D)).Index : D);
    }

    public bool Equals(Instruction other) =>
        Op == other.Op && Kind == other.Kind && A == other.A && B == other.B && C == other.C && D == other.D &&
        BitConverter.DoubleToInt64Bits(Number) == BitConverter.DoubleToInt64Bits(other.Number);

    public override bool Equals(object? obj) => obj is Instruction other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Op, Kind, A, B, C, D, BitConverter.DoubleToInt64Bits(Number));
}
