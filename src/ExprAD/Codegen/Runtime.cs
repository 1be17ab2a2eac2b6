using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ExprAD.Codegen;

/// <summary>
/// Helpers that generated code calls: span access (expression trees cannot index spans
/// directly) and argument checks. Public only because compiled delegates must be able to call
/// them; not part of the supported API.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class Runtime
{
    /// <summary>Reads <c>span[index]</c> without a bounds check: the generated prologue has checked the length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Read(ReadOnlySpan<double> span, int index) => Unsafe.Add(ref MemoryMarshal.GetReference(span), index);

    /// <summary>Writes <c>span[index]</c> without a bounds check: the generated prologue has checked the length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(Span<double> span, int index, double value) => Unsafe.Add(ref MemoryMarshal.GetReference(span), index) = value;

    /// <summary>Reads <c>span[index]</c> for an index computed at run time, with a bounds check that names the argument.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double ReadChecked(ReadOnlySpan<double> span, int index, string argument)
    {
        if ((uint)index >= (uint)span.Length) ThrowIndex(argument, index, span.Length);
        return Unsafe.Add(ref MemoryMarshal.GetReference(span), index);
    }

    /// <summary>Adds <paramref name="value"/> into <c>span[index]</c>, with a bounds check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddChecked(Span<double> span, int index, double value, string argument)
    {
        if ((uint)index >= (uint)span.Length) ThrowIndex(argument, index, span.Length);
        Unsafe.Add(ref MemoryMarshal.GetReference(span), index) += value;
    }

    /// <summary>Throws when the gradient shares memory with the point: the gradient is accumulated while the point is still read.</summary>
    public static void CheckNoOverlap(ReadOnlySpan<double> x, Span<double> gradient)
    {
        if (x.Overlaps(gradient)) throw new ArgumentException("`gradient` must not share memory with `x`.", "gradient");
    }

    /// <summary>An element of a data array, with a bounds check whose message says what was read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Element(double[] array, int index)
    {
        if ((uint)index >= (uint)array.Length) ThrowDataIndex(index, array.Length);
        return array[index];
    }

    /// <summary>A row of a jagged data array, with a bounds check whose message says what was read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double[] Row(double[][] array, int index)
    {
        if ((uint)index >= (uint)array.Length) ThrowDataIndex(index, array.Length);
        return array[index];
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDataIndex(int index, int length) =>
        throw new IndexOutOfRangeException($"The function reads element {index} of a data array of length {length}.");

    /// <summary>Zeroes <c>span[from..]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ClearFrom(Span<double> span, int from)
    {
        if (span.Length > from) span[from..].Clear();
    }

    /// <summary>Throws unless <paramref name="span"/> has at least <paramref name="length"/> elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CheckAtLeast(ReadOnlySpan<double> span, int length, string argument)
    {
        if (span.Length < length) ThrowWrongLength(argument, span.Length, length, atLeast: true);
    }

    /// <summary>Throws unless <paramref name="span"/> has exactly <paramref name="length"/> elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CheckExactly(ReadOnlySpan<double> span, int length, string argument)
    {
        if (span.Length != length) ThrowWrongLength(argument, span.Length, length, atLeast: false);
    }

    /// <summary>Throws unless <paramref name="span"/> has exactly <paramref name="length"/> elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CheckExactly(Span<double> span, int length, string argument)
    {
        if (span.Length != length) ThrowWrongLength(argument, span.Length, length, atLeast: false);
    }

    /// <summary>Length of a span.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Length(ReadOnlySpan<double> span) => span.Length;

    /// <summary>Throws <see cref="ArgumentNullException"/> when the data argument is null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CheckNotNull(object? value, string argument)
    {
        if (value is null) ThrowNull(argument);
    }

    // Spill buffers of chunked kernels: a per-thread stack, so that a kernel whose data read calls
    // another kernel on the same thread gets a buffer of its own. Grown on first use, then reused.
    [ThreadStatic] private static double[][]? _spillBuffers;
    [ThreadStatic] private static int _spillDepth;

    /// <summary>Takes this thread's next spill buffer, with at least <paramref name="length"/> slots.</summary>
    public static double[] RentSpill(int length)
    {
        var buffers = _spillBuffers ??= new double[4][];
        if (_spillDepth == buffers.Length) Array.Resize(ref _spillBuffers, buffers.Length * 2);
        ref var buffer = ref _spillBuffers![_spillDepth++];
        if (buffer is null || buffer.Length < length) buffer = new double[length];
        return buffer;
    }

    /// <summary>Gives back the buffer taken by the matching <see cref="RentSpill"/>.</summary>
    public static void ReturnSpill(double[] buffer) => _spillDepth--;

    /// <summary>
    /// Runs a sum outlined for parallel loops over iterations [<paramref name="start"/>, <paramref name="start"/> +
    /// <paramref name="count"/>): on all cores in a fixed number of blocks, reduced in block order, when
    /// <paramref name="count"/> is at least <paramref name="threshold"/>; otherwise on the calling thread. The sums go
    /// to <paramref name="frame"/>[<paramref name="resultOffset"/> ..]; when <paramref name="scatters"/>, the adjoints
    /// of the elements the body reads are added into <paramref name="gradient"/>. In parallel, the exception rethrown is
    /// the first one the sequential loop would have thrown, and nothing is added into the gradient.
    /// </summary>
    /// <typeparam name="TData">The data argument's type (object when the kernel has none).</typeparam>
    public static void RunSum<TData>(RegionWorker<TData> worker, object[] constants, ReadOnlySpan<double> x, TData data, Span<double> gradient,
        double[] frame, int resultOffset, int resultCount, int start, int count, int threshold, bool scatters) =>
        SumJob<TData>.Run(worker, constants, x, data, gradient, frame, resultOffset, resultCount, start, count, threshold, scatters);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowWrongLength(string argument, int actual, int expected, bool atLeast) =>
        throw Errors.Error.WrongLength(argument, actual, expected, atLeast);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowIndex(string argument, int index, int length) =>
        throw new ArgumentException($"The function reads `{argument}[{index}]`, but `{argument}` has length {length}.", argument);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNull(string argument) => throw new ArgumentNullException(argument);
}
