using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace System.Runtime.CompilerServices
{
    // Records and init accessors need this type, which netstandard2.0 does not have.
    internal static class IsExternalInit { }
}

namespace ExprAD.Generators
{
    /// <summary>
    /// An array compared by its elements. The incremental pipeline compares the models of successive runs to skip work that
    /// did not change, and an array field would make every model new.
    /// </summary>
    internal readonly struct EquatableArray<T>(T[]? items) : IEquatable<EquatableArray<T>>, IEnumerable<T>
    {
        private readonly T[]? _items = items;

        public int Length => _items?.Length ?? 0;

        public bool Equals(EquatableArray<T> other) => (_items ?? []).SequenceEqual(other._items ?? []);

        public override bool Equals(object? obj) => obj is EquatableArray<T> other && Equals(other);

        public override int GetHashCode()
        {
            int hash = 17;
            foreach (var item in _items ?? []) hash = hash * 31 + (item?.GetHashCode() ?? 0);
            return hash;
        }

        public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)(_items ?? [])).GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>A source location as values (a <see cref="Location"/> holds its syntax tree, which changes on every edit).</summary>
    internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan Lines)
    {
        public static LocationInfo From(Location location) =>
            new(location.SourceTree?.FilePath ?? "", location.SourceSpan, location.GetLineSpan().Span);

        public static LocationInfo From(SyntaxNode node) => From(node.GetLocation());

        public Location ToLocation() => Location.Create(FilePath, Span, Lines);
    }

    /// <summary>A diagnostic as values: its descriptor's id, message arguments and location.</summary>
    internal sealed record DiagnosticInfo(string Id, EquatableArray<string> Arguments, LocationInfo Location)
    {
        public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, SyntaxNode node, params string[] arguments) =>
            new(descriptor.Id, new EquatableArray<string>(arguments), LocationInfo.From(node));

        public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, Location location, params string[] arguments) =>
            new(descriptor.Id, new EquatableArray<string>(arguments), LocationInfo.From(location));

        public Diagnostic ToDiagnostic() =>
            Diagnostic.Create(Diagnostics.ById(Id), Location.ToLocation(), Arguments.Cast<object>().ToArray());
    }

    /// <summary>A call from one [Differentiable] method of the compilation to another (the edges of the recursion check).</summary>
    internal sealed record CallInfo(string CalleeId, string CalleeName, LocationInfo Location);

    /// <summary>
    /// What the generator makes of one [Differentiable] method: the source that registers its body (null when it has errors),
    /// the errors, and the calls it makes to other [Differentiable] methods of the compilation.
    /// </summary>
    internal sealed record MethodModel(
        string Id, string DisplayName, string HintName, string? Source,
        EquatableArray<DiagnosticInfo> Diagnostics, EquatableArray<CallInfo> Calls);
}
