using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ExprAD.Codegen;

/// <summary>The vector operations of <see cref="TraceLowering"/>'s elementwise loops. Public only for generated code.</summary>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
public static class VectorRuntime
{
    /// <summary>Elements [index, index + 4) of <paramref name="array"/>, whose range the loop checked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Load(double[] array, int index) =>
        Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(array), (nuint)index);

    /// <summary>Elements [index, index + 4) of <paramref name="span"/>, whose range the loop checked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Load(ReadOnlySpan<double> span, int index) =>
        Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(span), (nuint)index);

    /// <summary>Adds <paramref name="value"/> into elements [index, index + 4) of <paramref name="array"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddInto(double[] array, int index, Vector256<double> value)
    {
        ref double first = ref MemoryMarshal.GetArrayDataReference(array);
        (Vector256.LoadUnsafe(ref first, (nuint)index) + value).StoreUnsafe(ref first, (nuint)index);
    }

    /// <summary>Adds <paramref name="value"/> into elements [index, index + 4) of <paramref name="span"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddInto(Span<double> span, int index, Vector256<double> value)
    {
        ref double first = ref MemoryMarshal.GetReference(span);
        (Vector256.LoadUnsafe(ref first, (nuint)index) + value).StoreUnsafe(ref first, (nuint)index);
    }

    /// <summary>Four copies of <paramref name="value"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Broadcast(double value) => Vector256.Create(value);

    /// <summary>a + b, element by element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Add(Vector256<double> a, Vector256<double> b) => a + b;

    /// <summary>a - b, element by element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Subtract(Vector256<double> a, Vector256<double> b) => a - b;

    /// <summary>a × b, element by element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Multiply(Vector256<double> a, Vector256<double> b) => a * b;

    /// <summary>a / b, element by element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Divide(Vector256<double> a, Vector256<double> b) => a / b;

    /// <summary>The masked product of reverse mode, element by element: 0 where a is zero, a × b elsewhere.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> MaskedMultiply(Vector256<double> a, Vector256<double> b) =>
        Vector256.ConditionalSelect(Vector256.Equals(a, Vector256<double>.Zero), Vector256<double>.Zero, a * b);

    /// <summary>√a, element by element (correctly rounded, as <see cref="Math.Sqrt"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Sqrt(Vector256<double> a) => Vector256.Sqrt(a);

    /// <summary>(index, index + 1, index + 2, index + 3) as doubles: the loop index of four iterations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Indices(int index) => Vector256.Create((double)index) + Vector256.Create(0.0, 1.0, 2.0, 3.0);

    /// <summary>The sum of the four lanes of <paramref name="a"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Sum(Vector256<double> a) => Vector256.Sum(a);

    /// <summary>|a|, element by element (the sign bit cleared, as <see cref="Math.Abs(double)"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Abs(Vector256<double> a) => Vector256.Abs(a);

    /// <summary>max(a, b), element by element, as <see cref="Math.Max(double, double)"/> (NaN if either is; +0 above -0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Max(Vector256<double> a, Vector256<double> b) => Vector256.Max(a, b);

    /// <summary>min(a, b), element by element, as <see cref="Math.Min(double, double)"/> (NaN if either is; -0 below +0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Min(Vector256<double> a, Vector256<double> b) => Vector256.Min(a, b);

    /// <summary>a &lt; b per lane, as a mask (all bits set where true; false where either is NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> LessThan(Vector256<double> a, Vector256<double> b) => Vector256.LessThan(a, b);

    /// <summary>a &lt;= b per lane, as a mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> LessOrEqual(Vector256<double> a, Vector256<double> b) => Vector256.LessThanOrEqual(a, b);

    /// <summary>a &gt; b per lane, as a mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> GreaterThan(Vector256<double> a, Vector256<double> b) => Vector256.GreaterThan(a, b);

    /// <summary>a &gt;= b per lane, as a mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> GreaterOrEqual(Vector256<double> a, Vector256<double> b) => Vector256.GreaterThanOrEqual(a, b);

    /// <summary>a == b per lane, as a mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Equal(Vector256<double> a, Vector256<double> b) => Vector256.Equals(a, b);

    /// <summary>a != b per lane, as a mask (true where either is NaN, as in C#).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> NotEqual(Vector256<double> a, Vector256<double> b) => ~Vector256.Equals(a, b);

    /// <summary>The mask of a constant: all lanes true or all false.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Mask(bool value) => value ? Vector256<double>.AllBitsSet : Vector256<double>.Zero;

    /// <summary>Both masks, per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> And(Vector256<double> a, Vector256<double> b) => a & b;

    /// <summary>Either mask, per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Or(Vector256<double> a, Vector256<double> b) => a | b;

    /// <summary>The mask negated, per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Not(Vector256<double> a) => ~a;

    /// <summary>c ? a : b per lane, c a mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Select(Vector256<double> c, Vector256<double> a, Vector256<double> b) => Vector256.ConditionalSelect(c, a, b);

    /// <summary>-a, element by element: the sign bit flipped, as the scalar negation does (so -(+0) is -0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> Negate(Vector256<double> a) => a ^ Vector256.Create(-0.0);
}
