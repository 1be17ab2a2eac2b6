using System.Linq;
using Microsoft.CodeAnalysis;

namespace ExprAD.Generators
{
    /// <summary>The build errors of the [Differentiable] generator, EXPRAD001 to EXPRAD006.</summary>
    internal static class Diagnostics
    {
        private const string Category = "ExprAD";

        /// <summary>A statement that has no expression form.</summary>
        public static readonly DiagnosticDescriptor UnsupportedStatement = Error(
            "EXPRAD001", "Statement not supported in a [Differentiable] method",
            "`{0}` cannot be turned into an expression: {1}");

        /// <summary>An expression an expression tree cannot hold.</summary>
        public static readonly DiagnosticDescriptor UnsupportedExpression = Error(
            "EXPRAD002", "Expression not supported in a [Differentiable] method",
            "`{0}` cannot be part of an expression tree: {1}");

        /// <summary>Direct or mutual recursion among [Differentiable] methods.</summary>
        public static readonly DiagnosticDescriptor Recursion = Error(
            "EXPRAD003", "Recursive [Differentiable] method",
            "[Differentiable] method `{0}` is recursive ({1}): ExprAD inlines a [Differentiable] method where it is called, so it cannot call itself, directly or through other [Differentiable] methods");

        /// <summary>A method whose signature or kind cannot be registered.</summary>
        public static readonly DiagnosticDescriptor UnsupportedMethod = Error(
            "EXPRAD004", "Method cannot be [Differentiable]",
            "[Differentiable] method `{0}` {1}");

        /// <summary>A <c>for</c> loop that is not a sum over a range.</summary>
        public static readonly DiagnosticDescriptor UnsupportedLoop = Error(
            "EXPRAD005", "Loop not supported in a [Differentiable] method",
            "This for loop cannot become a sum: {0}; write `for (int i = a; i < b; i++) s += ...;` with `s` a double local declared before the loop");

        /// <summary>A member the generated code cannot reach.</summary>
        public static readonly DiagnosticDescriptor Inaccessible = Error(
            "EXPRAD006", "Member not accessible to the generated code",
            "`{0}` is not accessible outside `{1}`, where the code ExprAD generates for `{2}` is: make it internal or public, or declare `{1}` partial (and the types that contain it, none of them private or protected)");

        // Every diagnostic is a build error of category Category.
        private static DiagnosticDescriptor Error(string id, string title, string message) =>
            new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

        private static readonly DiagnosticDescriptor[] All =
            [UnsupportedStatement, UnsupportedExpression, Recursion, UnsupportedMethod, UnsupportedLoop, Inaccessible];

        public static DiagnosticDescriptor ById(string id) => All.First(d => d.Id == id);
    }
}
