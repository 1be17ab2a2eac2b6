using System.Linq.Expressions;
using System.Reflection;
using ExprAD.IR;

namespace ExprAD.Frontend;

/// <summary>
/// How the CLR types a lambda reads map to the IR: numbers (the kinds of <see cref="ValueKind"/>), data arrays, the
/// user's objects, and the sequences loops run over (arrays, <see cref="List{T}"/>, <see cref="IReadOnlyList{T}"/>,
/// <see cref="IList{T}"/>).
/// </summary>
internal static class DataTypes
{
    /// <summary>The kind of a number type the IR computes with (<c>double</c>, <c>int</c>, <c>bool</c>), or null.</summary>
    public static ValueKind? KindOf(Type type) =>
        type == typeof(double) ? ValueKind.Scalar :
        type == typeof(int) ? ValueKind.Integer :
        type == typeof(bool) ? ValueKind.Boolean : null;

    /// <summary>The kind of a data array type (<c>double[]</c>, <c>double[][]</c>, <c>int[]</c>), or null.</summary>
    public static ValueKind? DataArrayKind(Type type) =>
        type == typeof(double[]) ? ValueKind.Array : type == typeof(double[][]) ? ValueKind.Jagged : type == typeof(int[]) ? ValueKind.IntegerArray : null;

    /// <summary>
    /// True for the type of an object: neither a number (of any numeric type) nor a data array. The user's classes, structs
    /// and records, lists, arrays of other elements, strings. No such value is ever active: the only active values are
    /// <c>double</c>s and <c>double[]</c>s, so an object is data wherever it comes from (the data argument, a closure, an
    /// element of a loop over data).
    /// </summary>
    public static bool IsObjectType(Type type) =>
        type != typeof(void) && !type.IsPrimitive && type != typeof(decimal) && DataArrayKind(type) is null && !type.IsPointer && !type.IsByRef;

    /// <summary>
    /// A call-time value read through <paramref name="accessor"/> as the IR holds it, with its kind: numbers as
    /// <c>double</c>, <c>int</c> or <c>bool</c> (other numeric types converted to the nearest: <c>float</c>, <c>long</c>,
    /// <c>decimal</c> to <c>double</c>, the small integer types to <c>int</c>), data arrays as they are, objects as they
    /// are (<see cref="ValueKind.Object"/>). Null for a type that is none of these (<c>double?</c>, pointers).
    /// </summary>
    public static (Expression Accessor, ValueKind Kind)? CallTimeValue(Expression accessor)
    {
        var type = accessor.Type;
        if (KindOf(type) is { } kind) return (accessor, kind);
        if (type == typeof(float) || type == typeof(long) || type == typeof(decimal)) return (Expression.Convert(accessor, typeof(double)), ValueKind.Scalar);
        if (type == typeof(short) || type == typeof(byte) || type == typeof(sbyte) || type == typeof(ushort) || type == typeof(char))
            return (Expression.Convert(accessor, typeof(int)), ValueKind.Integer);
        if (DataArrayKind(type) is { } arrayKind) return (accessor, arrayKind);
        if (IsObjectType(type) && Nullable.GetUnderlyingType(type) is null) return (accessor, ValueKind.Object);
        return null;
    }

    /// <summary>
    /// The element type of a sequence a loop runs over: a one-dimensional array <c>T[]</c>, <see cref="List{T}"/> (or a class
    /// deriving from it), <see cref="IReadOnlyList{T}"/> or <see cref="IList{T}"/>; null for any other type (an
    /// <see cref="IEnumerable{T}"/> has no count or indexer to run a loop with).
    /// </summary>
    public static Type? ElementType(Type sequence) =>
        sequence.IsSZArray ? sequence.GetElementType() : ListType(sequence)?.GetGenericArguments()[0];

    /// <summary>The list type whose indexer and count read <paramref name="type"/>: itself, or the <see cref="List{T}"/> it derives from; null for a type that is no list.</summary>
    private static Type? ListType(Type type)
    {
        if (type.IsInterface)
            return type.IsGenericType && type.GetGenericTypeDefinition() is var definition && (definition == typeof(IReadOnlyList<>) || definition == typeof(IList<>)) ? type : null;
        for (var t = type; t is not null; t = t.BaseType)
            if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(List<>)) return t;
        return null;
    }

    /// <summary>Element <paramref name="index"/> of a sequence (see <see cref="ElementType"/>), read as C# reads it: the array element, or the list's indexer.</summary>
    public static Expression ElementAt(Expression sequence, Expression index) =>
        sequence.Type.IsSZArray ? Expression.ArrayIndex(sequence, index) : Expression.Call(sequence, Indexer(sequence.Type), index);

    /// <summary>The number of elements of a sequence (see <see cref="ElementType"/>): its length or count.</summary>
    public static Expression CountOf(Expression sequence)
    {
        if (sequence.Type.IsSZArray) return Expression.ArrayLength(sequence);
        var list = ListType(sequence.Type)!;
        var element = list.GetGenericArguments()[0];
        // An interface's Count is declared on the collection interface it extends.
        var declaring = list.GetGenericTypeDefinition() == typeof(IReadOnlyList<>) ? typeof(IReadOnlyCollection<>).MakeGenericType(element)
            : list.GetGenericTypeDefinition() == typeof(IList<>) ? typeof(ICollection<>).MakeGenericType(element) : list;
        return Expression.Property(sequence, declaring.GetProperty("Count")!);
    }

    /// <summary>
    /// When <paramref name="node"/> reads one element of a sequence (<c>s[i]</c> on an array, or a list's indexer, as the C#
    /// compiler writes it in an expression tree), the sequence and the index.
    /// </summary>
    public static bool IsElementAccess(Expression node, out Expression sequence, out Expression index)
    {
        (sequence, index) = node switch
        {
            BinaryExpression { NodeType: ExpressionType.ArrayIndex } element when element.Left.Type.IsSZArray => (element.Left, element.Right),
            MethodCallExpression { Object: { } list, Arguments: [var at] } call when IsList(list.Type) && call.Method == Indexer(list.Type) => (list, at),
            IndexExpression { Object: { } list, Arguments: [var at] } indexed when IsList(list.Type) && indexed.Indexer?.GetMethod == Indexer(list.Type) => (list, at),
            _ => (null!, null!),
        };
        return sequence is not null;
    }

    private static bool IsList(Type type) => !type.IsArray && ListType(type) is not null;

    /// <summary>The getter of the indexer of a list type (see <see cref="ListType"/>).</summary>
    private static MethodInfo Indexer(Type type) => ListType(type)!.GetProperty("Item")!.GetMethod!;

    /// <summary>A type as C# writes it: <c>IEnumerable&lt;Row&gt;</c>, <c>Row[]</c>, <c>Double</c>.</summary>
    public static string Name(Type type)
    {
        if (type.IsArray) return Name(type.GetElementType()!) + "[" + new string(',', type.GetArrayRank() - 1) + "]";
        if (!type.IsGenericType) return type.Name;
        var name = type.Name;
        int tick = name.IndexOf('`');
        return (tick >= 0 ? name[..tick] : name) + "<" + string.Join(", ", type.GetGenericArguments().Select(Name)) + ">";
    }
}
