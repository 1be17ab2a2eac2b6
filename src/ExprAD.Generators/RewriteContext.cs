using System;
using System.Collections.Generic;
using System.Globalization;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using static Microsoft.CodeAnalysis.CSharp.SyntaxFactory;

namespace ExprAD.Generators
{
    /// <summary>An error found while rewriting a method: rewriting stops and the method is not registered.</summary>
    internal sealed class RewriteException(DiagnosticInfo diagnostic) : Exception(diagnostic.Id)
    {
        public DiagnosticInfo Diagnostic { get; } = diagnostic;
    }

    /// <summary>What rewriting one method needs: its semantic model and symbol, and the names it may give new variables.</summary>
    internal sealed class RewriteContext
    {
        /// <summary>Fully qualified names (<c>global::N.C</c>), keywords for special types, no nullable annotations: text that means
        /// the same wherever the generated code is and whatever it imports.</summary>
        public static readonly SymbolDisplayFormat Qualified = SymbolDisplayFormat.FullyQualifiedFormat.WithMiscellaneousOptions(
            SymbolDisplayMiscellaneousOptions.EscapeKeywordIdentifiers | SymbolDisplayMiscellaneousOptions.UseSpecialTypes);

        private readonly HashSet<string> _names = new(StringComparer.Ordinal);

        public RewriteContext(SemanticModel model, IMethodSymbol method)
        {
            Model = model;
            Method = method;
            // Every variable of the generated lambda but the method's parameters is named by NewName (let-bound locals, loop
            // indices, the user's lambda parameters), and everything else is qualified or substituted: distinct names are
            // enough for no variable to capture another.
            foreach (var p in method.Parameters) _names.Add(p.Name);
        }

        public SemanticModel Model { get; }

        public IMethodSymbol Method { get; }

        /// <summary>New names of the user's lambda parameters, by parameter.</summary>
        public Dictionary<ISymbol, string> Renamed { get; } = new(SymbolEqualityComparer.Default);

        /// <summary>A name no identifier of the method nor any earlier new name has, <paramref name="wanted"/> when that is free.</summary>
        public string NewName(string wanted)
        {
            if (_names.Add(wanted)) return wanted;
            for (int k = 2; ; k++)
                if (_names.Add(wanted + "_" + k.ToString(CultureInfo.InvariantCulture))) return wanted + "_" + k.ToString(CultureInfo.InvariantCulture);
        }

        public static SyntaxToken Identifier(string name) =>
            SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None ? VerbatimIdentifier(default, "@" + name, name, default) : SyntaxFactory.Identifier(name);

        public static IdentifierNameSyntax Name(string name) => IdentifierName(Identifier(name));

        public static TypeSyntax TypeName(ITypeSymbol type) => ParseTypeName(type.ToDisplayString(Qualified));

        /// <summary><paramref name="expression"/> converted to <paramref name="to"/> when its type <paramref name="from"/> differs: the
        /// conversion C# applies on assignment and return, which substitution would otherwise lose (<c>double t = 1; t / 2</c>).</summary>
        public static ExpressionSyntax Convert(ExpressionSyntax expression, ITypeSymbol? from, ITypeSymbol to) =>
            from is null || SymbolEqualityComparer.Default.Equals(from, to) || to.TypeKind == TypeKind.Error
                ? expression
                : ParenthesizedExpression(CastExpression(TypeName(to), Parenthesize(expression)));

        /// <summary>The expression, in parentheses unless it is a primary expression (which binds tighter than any operator).</summary>
        public static ExpressionSyntax Parenthesize(ExpressionSyntax e) => e switch
        {
            IdentifierNameSyntax or LiteralExpressionSyntax or ParenthesizedExpressionSyntax or InvocationExpressionSyntax
                or ElementAccessExpressionSyntax or AliasQualifiedNameSyntax or GenericNameSyntax => e,
            MemberAccessExpressionSyntax m when m.IsKind(SyntaxKind.SimpleMemberAccessExpression) => e,
            _ => ParenthesizedExpression(e),
        };

        /// <summary>
        /// True for an expression cheap enough to be written at each use (a name, a literal, a member or element of such): a
        /// local bound to anything else and used more than once is bound once, so that the tree does not grow with each use.
        /// </summary>
        public static bool IsAtomic(ExpressionSyntax e) => e switch
        {
            IdentifierNameSyntax or LiteralExpressionSyntax or AliasQualifiedNameSyntax or QualifiedNameSyntax or PredefinedTypeSyntax => true,
            ParenthesizedExpressionSyntax p => IsAtomic(p.Expression),
            CastExpressionSyntax c => IsAtomic(c.Expression),
            PrefixUnaryExpressionSyntax u when u.IsKind(SyntaxKind.UnaryMinusExpression) => u.Operand is LiteralExpressionSyntax,
            MemberAccessExpressionSyntax m => IsAtomic(m.Expression),
            ElementAccessExpressionSyntax a => IsAtomic(a.Expression) && a.ArgumentList.Arguments.Count == 1 && IsAtomic(a.ArgumentList.Arguments[0].Expression),
            _ => false,
        };

        /// <summary>A literal of a constant's value, typed as the constant is (<c>1D</c>, not <c>1</c>, for a double).</summary>
        public static ExpressionSyntax? Literal(object? value)
        {
            var invariant = CultureInfo.InvariantCulture;
            switch (value)
            {
                case double d when double.IsNaN(d): return ParseExpression("global::System.Double.NaN");
                case double d when double.IsPositiveInfinity(d): return ParseExpression("global::System.Double.PositiveInfinity");
                case double d when double.IsNegativeInfinity(d): return ParseExpression("global::System.Double.NegativeInfinity");
                case double d: return Negated(d < 0 || d == 0 && double.IsNegativeInfinity(1 / d), Math.Abs(d).ToString("R", invariant) + "D");
                case float f when float.IsNaN(f) || float.IsInfinity(f): return null;
                case float f: return Negated(f < 0, Math.Abs(f).ToString("R", invariant) + "F");
                case int i when i != int.MinValue: return Negated(i < 0, Math.Abs(i).ToString(invariant));
                case long l when l != long.MinValue: return Negated(l < 0, Math.Abs(l).ToString(invariant) + "L");
                case bool b: return LiteralExpression(b ? SyntaxKind.TrueLiteralExpression : SyntaxKind.FalseLiteralExpression);
                case string s: return LiteralExpression(SyntaxKind.StringLiteralExpression, SyntaxFactory.Literal(s));
                case char c: return LiteralExpression(SyntaxKind.CharacterLiteralExpression, SyntaxFactory.Literal(c));
                default: return null;
            }

            static ExpressionSyntax Negated(bool negative, string text)
            {
                var literal = ParseExpression(text);
                return negative ? ParenthesizedExpression(PrefixUnaryExpression(SyntaxKind.UnaryMinusExpression, literal)) : literal;
            }
        }
    }
}
