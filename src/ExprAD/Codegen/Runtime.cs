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

    /// <summary>Adds <paramref name="value"/> into <c>span[index]</c> without a bounds check: a loop's range check has covered it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddUnchecked(Span<double> span, int index, double value) => Unsafe.Add(ref MemoryMarshal.GetReference(span), index) += value;

    /// <summary>
    /// Adds <paramref name="value"/> into <c>array[index]</c> without a bounds check (one address computation, where
    /// <c>array[index] += value</c> in an expression tree checks the index twice): a loop's range check has covered it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddToUnchecked(double[] array, int index, double value) => Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(array), index) += value;

    /// <summary>
    /// Before a loop reading <c>span[from .. from + count - 1]</c>: throws what the first read out of range would, so the
    /// reads themselves need no check.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CheckRange(ReadOnlySpan<double> span, int from, int count, string argument)
    {
        if (count > 0 && (from < 0 || (long)from + count > span.Length)) ThrowIndex(argument, from < 0 ? from : Math.Max(from, span.Length), span.Length);
    }

    /// <summary>Before a loop adding into <c>span[from .. from + count - 1]</c>: see the read-only overload.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CheckRange(Span<double> span, int from, int count, string argument) => CheckRange((ReadOnlySpan<double>)span, from, count, argument);

    /// <summary>
    /// Before a loop reading <c>array[from .. from + count - 1]</c> of a data array: throws what the first read out of range
    /// would. Typed (not <see cref="Array"/>), so that the length is one load without an overflow check.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CheckRange<T>(T[] array, int from, int count)
    {
        if (count > 0 && (from < 0 || (long)from + count > array.Length)) ThrowDataIndex(from < 0 ? from : Math.Max(from, array.Length), array.Length);
    }

    /// <summary>
    /// The count of <c>Enumerable.Range(start, count)</c>, checked as LINQ checks it: <see cref="ArgumentOutOfRangeException"/>
    /// naming <c>count</c> unless <paramref name="count"/> &gt;= 0 and <paramref name="start"/> + <paramref name="count"/> - 1 &lt;= int.MaxValue.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int RangeCount(int start, int count)
    {
        if (count < 0 || (long)start + count - 1 > int.MaxValue) ThrowRangeCount(start, count);
        return count;
    }

    private static void ThrowRangeCount(int start, int count) =>
        throw new ArgumentOutOfRangeException(nameof(count), count,
            $"Enumerable.Range({start}, {count}): the count must not be negative, and start + count - 1 must not exceed int.MaxValue.");

    /// <summary>The number of elements an average divides by; <see cref="InvalidOperationException"/> when it is 0, as LINQ's Average throws.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double NonEmpty(double count)
    {
        if (count == 0) ThrowNoElements();
        return count;
    }

    /// <summary>The number of elements an average divides by; <see cref="InvalidOperationException"/> when it is 0, as LINQ's Average throws.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NonEmpty(int count)
    {
        if (count == 0) ThrowNoElements();
        return count;
    }

    /// <summary>LINQ's exception for Max, Min and Average of a sequence without elements.</summary>
    public static void ThrowNoElements() => throw new InvalidOperationException("Sequence contains no elements");

    /// <summary>
    /// True when element <paramref name="value"/> replaces the maximum so far (<paramref name="best"/>; none yet when
    /// <paramref name="found"/> is false) as LINQ's <c>Max</c> over doubles scans: the first element, then any element while
    /// the maximum is NaN (NaN is kept only when every element is NaN, and then the last one), then only a larger one (the
    /// first maximum on ties).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TakesMax(double value, double best, bool found) => !found || value > best || double.IsNaN(best);

    /// <summary>
    /// True when element <paramref name="value"/> replaces the minimum so far as LINQ's <c>Min</c> over doubles scans: the
    /// first element, then a smaller one (the first minimum on ties), or the first NaN, which is then kept (the minimum of a
    /// sequence holding NaN is NaN).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TakesMin(double value, double best, bool found) => !found || value < best || double.IsNaN(value) && !double.IsNaN(best);

    /// <summary>Throws when an output (the gradient, a Jacobian) shares memory with the point: it is accumulated while the point is still read.</summary>
    public static void CheckNoOverlap(ReadOnlySpan<double> x, Span<double> output, string argument)
    {
        if (x.Overlaps(output)) throw new ArgumentException($"`{argument}` must not share memory with `x`.", argument);
    }

    /// <summary>An element of a data array, with a bounds check whose message says what was read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Element(double[] array, int index)
    {
        if ((uint)index >= (uint)array.Length) ThrowDataIndex(index, array.Length);
        return array[index];
    }

    /// <summary>An element of an integer data array (an index, a count), with a bounds check whose message says what was read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Element(int[] array, int index)
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

    // The throw helpers carry no NoInlining: the JIT then looks into them, sees that they only throw, keeps them out of
    // line anyway, and knows the call does not return, so values live around a check stay in registers.
    private static void ThrowDataIndex(int index, int length) =>
        throw new IndexOutOfRangeException($"The function reads element {index} of a data array of length {length}.");

    /// <summary>Zeroes <c>span[from..]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ClearFrom(Span<double> span, int from)
    {
        if (span.Length > from) span[from..].Clear();
    }

    /// <summary>
    /// Zeroes columns <paramref name="from"/>.. of every row of a row-major matrix with <paramref name="rows"/> rows of
    /// <paramref name="columns"/> entries (whose length the prologue has checked): the entries a Jacobian's outputs do not cover.
    /// </summary>
    public static void ClearColumnsFrom(Span<double> matrix, int rows, int columns, int from)
    {
        if (from >= columns) return;
        for (int r = 0; r < rows; r++) matrix.Slice(r * columns + from, columns - from).Clear();
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

    // Workspaces of kernels with tapes: a per-thread stack (a data read may call another kernel on the same
    // thread), each holding that kernel's tapes by id. Grown on first use, then reused: no allocation per call.
    [ThreadStatic] private static Workspace[]? _workspaces;
    [ThreadStatic] private static int _workspaceDepth;

    /// <summary>The bytes of scratch arrays this thread's workspaces hold between calls (for tests and diagnostics).</summary>
    internal static long RetainedWorkspaceBytes => _workspaces?.Sum(w => w?.Bytes ?? 0) ?? 0;

    /// <summary>Takes this thread's next workspace.</summary>
    public static Workspace RentWorkspace()
    {
        var workspaces = _workspaces ??= new Workspace[4];
        if (_workspaceDepth == workspaces.Length) Array.Resize(ref _workspaces, workspaces.Length * 2);
        return _workspaces![_workspaceDepth++] ??= new Workspace();
    }

    /// <summary>
    /// Gives back the workspace taken by the matching <see cref="RentWorkspace"/>, keeping at most
    /// <paramref name="retainBytes"/> of its arrays for the thread's next call (see <see cref="ADOptions.RetainWorkspace"/>).
    /// </summary>
    public static void ReturnWorkspace(Workspace workspace, long retainBytes)
    {
        _workspaceDepth--;
        if (workspace.Bytes > retainBytes) workspace.Trim(retainBytes);
    }

    /// <summary>
    /// Tape <paramref name="id"/> of <paramref name="workspace"/>, holding at least the states of a fold of <paramref name="count"/>
    /// iterations that keeps <paramref name="states"/> values every <paramref name="interval"/> iterations (grown when too short).
    /// </summary>
    public static double[] Tape(Workspace workspace, int id, int count, int interval, int states)
    {
        long length = (Math.Max(count, 0) + (long)interval - 1) / interval * states;
        if (length > Array.MaxLength) throw new OutOfMemoryException($"A fold of {count} iterations needs a tape of {length} values; use ADOptions.CheckpointInterval to keep fewer.");
        ref var tape = ref Slot(workspace, id);
        if (tape is null || tape.Length < length) workspace.Replace(ref tape, new double[Math.Max(length, Math.Min(Array.MaxLength, 2L * (tape?.Length ?? 0)))]);
        return tape!;
    }

    /// <summary>The workspace's array slot <paramref name="id"/> (tapes and buffers share the ids), the slot table grown to hold it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref double[]? Slot(Workspace workspace, int id)
    {
        if (id >= workspace.Tapes.Length) Grow(workspace, id);
        return ref workspace.Tapes[id].Array;
    }

    // Out of line: taken once per slot table size, so the common path above stays small enough to inline.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Grow(Workspace workspace, int id) => Array.Resize(ref workspace.Tapes, Math.Max(id + 1, workspace.Tapes.Length * 2));

    /// <summary>Buffer <paramref name="id"/> of <paramref name="workspace"/>: an array of exactly <paramref name="length"/> elements (reallocated when the length changes).</summary>
    public static double[] Buffer(Workspace workspace, int id, int length)
    {
        ref var buffer = ref Slot(workspace, id);
        if (buffer is null || buffer.Length != Math.Max(length, 0)) workspace.Replace(ref buffer, new double[Math.Max(length, 0)]);
        return buffer!;
    }

    /// <summary>Buffer <paramref name="id"/>, <paramref name="length"/> zeros.</summary>
    public static double[] ZeroBuffer(Workspace workspace, int id, int length)
    {
        var buffer = Buffer(workspace, id, length);
        buffer.AsSpan().Clear();
        return buffer;
    }

    /// <summary>Buffer <paramref name="id"/> as it is (for a later chunk of the kernel that filled it).</summary>
    public static double[] ExistingBuffer(Workspace workspace, int id) => workspace.Tapes[id].Array!;

    /// <summary>Buffer <paramref name="id"/> holding a copy of <paramref name="initial"/>: a fold's own array state.</summary>
    public static double[] StateBuffer(Workspace workspace, int id, double[] initial)
    {
        var buffer = Buffer(workspace, id, initial.Length);
        if (!ReferenceEquals(buffer, initial)) initial.AsSpan().CopyTo(buffer);
        return buffer;
    }

    /// <summary>Copies a fold body's next array state into the fold's state buffer; the length must not change.</summary>
    public static void CopyInto(double[] next, double[] state)
    {
        if (next.Length != state.Length)
            throw new InvalidOperationException($"An Aggregate's array state changed length from {state.Length} to {next.Length}.");
        next.AsSpan().CopyTo(state);
    }

    /// <summary>Writes an array state into a tape at <paramref name="offset"/>.</summary>
    public static void Store(double[] tape, int offset, double[] state) => state.AsSpan().CopyTo(tape.AsSpan(offset));

    /// <summary>Buffer <paramref name="id"/> loaded with <paramref name="length"/> values of a tape from <paramref name="offset"/>: a taped array state.</summary>
    public static double[] Load(Workspace workspace, int id, double[] tape, int offset, int length)
    {
        var buffer = Buffer(workspace, id, length);
        tape.AsSpan(offset, length).CopyTo(buffer);
        return buffer;
    }

    /// <summary>Elements <paramref name="start"/> .. <paramref name="start"/> + <paramref name="length"/> - 1 of a span (a direction's block of a Hessian block).</summary>
    public static Span<double> Slice(Span<double> span, int start, int length) => span.Slice(start, length);

    /// <summary>A slice of a read-only span (one direction of a block of directions).</summary>
    public static ReadOnlySpan<double> SliceReadOnly(ReadOnlySpan<double> span, int start, int length) => span.Slice(start, length);

    /// <summary>Copies a function's array result into the caller's span, which must have its length.</summary>
    public static void CopyOut(double[] result, Span<double> values) => CopyOutTo(result, values, "values");

    /// <summary>Copies an array of run-time length into the span <paramref name="argument"/>, which must have its length.</summary>
    public static void CopyOutTo(double[] result, Span<double> values, string argument)
    {
        if (values.Length != result.Length) ThrowWrongLength(argument, values.Length, result.Length, atLeast: false);
        result.CopyTo(values);
    }

    /// <summary>Adds <paramref name="value"/> into <c>array[index]</c>, with a bounds check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddTo(double[] array, int index, double value)
    {
        if ((uint)index >= (uint)array.Length) ThrowDataIndex(index, array.Length);
        array[index] += value;
    }

    /// <summary>
    /// Runs a sum outlined for parallel loops over iterations [<paramref name="start"/>, <paramref name="start"/> +
    /// <paramref name="count"/>): on all cores in a fixed number of blocks, reduced in block order, when
    /// <paramref name="count"/> is at least <paramref name="threshold"/>; otherwise on the calling thread. The sums go
    /// to <paramref name="frame"/>[<paramref name="resultOffset"/> ..]; when <paramref name="scatters"/>, the adjoints
    /// of the elements the body reads are added into <paramref name="gradient"/>. In parallel, the exception rethrown is
    /// the first one the sequential loop would have thrown, and nothing is added into the gradient. The blocks' private
    /// sums are kept for the thread's next call only up to <paramref name="retainBytes"/>.
    /// </summary>
    /// <typeparam name="TData">The data argument's type (object when the kernel has none).</typeparam>
    public static void RunSum<TData>(RegionWorker<TData> worker, object[] constants, ReadOnlySpan<double> x, TData data, Span<double> gradient,
        double[] frame, int resultOffset, int resultCount, int start, int count, int threshold, bool scatters, long retainBytes) =>
        SumJob<TData>.Run(worker, constants, x, data, gradient, frame, resultOffset, resultCount, start, count, threshold, scatters, retainBytes);

    private static void ThrowWrongLength(string argument, int actual, int expected, bool atLeast) =>
        throw Errors.Error.WrongLength(argument, actual, expected, atLeast);

    private static void ThrowIndex(string argument, int index, int length) =>
        throw new ArgumentException($"The function reads `{argument}[{index}]`, but `{argument}` has length {length}.", argument);

    private static void ThrowNull(string argument) => throw new ArgumentNullException(argument);
}

/// <summary>Scratch memory of one running kernel: the tapes of its folds and the arrays of its maps, by id. Used by generated code only.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class Workspace
{
    // Each array in a struct of its own: a reference to an element of a double[][] costs a type check (array
    // covariance) on every call; a reference to a field of a struct element does not.
    internal Slot[] Tapes = new Slot[4];

    /// <summary>The bytes of the arrays held now.</summary>
    internal long Bytes { get; private set; }

    internal struct Slot
    {
        public double[]? Array;
    }

    /// <summary>Puts <paramref name="array"/> in a slot in place of what it held, keeping <see cref="Bytes"/> up to date.</summary>
    internal void Replace(ref double[]? slot, double[] array)
    {
        Bytes += 8L * (array.Length - (slot?.Length ?? 0));
        slot = array;
    }

    /// <summary>Lets go of the largest arrays until at most <paramref name="retainBytes"/> are held.</summary>
    internal void Trim(long retainBytes)
    {
        var held = Enumerable.Range(0, Tapes.Length).Where(k => Tapes[k].Array is not null).OrderByDescending(k => Tapes[k].Array!.Length);
        foreach (var k in held)
        {
            if (Bytes <= retainBytes) break;
            Bytes -= 8L * Tapes[k].Array!.Length;
            Tapes[k].Array = null;
        }
    }
}
