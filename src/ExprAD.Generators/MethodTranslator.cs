using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ExprAD.Generators
{
    /// <summary>
    /// One [Differentiable] method to its <see cref="MethodModel"/>: the checks on its signature and body, the rewriting of the
    /// body into an expression, and the source that registers that expression with ExprAD when the module loads.
    /// </summary>
    internal static class MethodTranslator
    {
        public static MethodModel Translate(GeneratorAttributeSyntaxContext context, CancellationToken cancellation)
        {
            var method = (IMethodSymbol)context.TargetSymbol;
            var id = method.GetDocumentationCommentId() ?? method.ToDisplayString();
            var display = method.ContainingType.Name + "." + method.Name;
            var hint = HintName(method, id);
            var diagnostics = new List<DiagnosticInfo>();
            var location = context.TargetNode switch
            {
                MethodDeclarationSyntax declared => declared.Identifier.GetLocation(),
                LocalFunctionStatementSyntax local => local.Identifier.GetLocation(),
                var node => node.GetLocation(),
            };

            MethodModel Result(string? source, IEnumerable<CallInfo> calls) =>
                new(id, display, hint, source, new EquatableArray<DiagnosticInfo>(diagnostics.ToArray()), new EquatableArray<CallInfo>(calls.ToArray()));

            if (context.TargetNode is LocalFunctionStatementSyntax)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.UnsupportedMethod, location, display, "is a local function (make it a static method of a class)"));
                return Result(null, []);
            }
            if (SignatureProblem(method) is { } problem)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.UnsupportedMethod, location, display, problem));
                return Result(null, []);
            }
            // The body, from the declaration that has one (the implementation of a partial method).
            var implementation = (method.PartialImplementationPart ?? method).DeclaringSyntaxReferences
                .Select(r => r.GetSyntax(cancellation)).OfType<MethodDeclarationSyntax>().FirstOrDefault(m => m.Body is not null || m.ExpressionBody is not null);
            if (implementation is null)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.UnsupportedMethod, location, display, "has no body"));
                return Result(null, []);
            }
            var model = implementation.SyntaxTree == context.SemanticModel.SyntaxTree
                ? context.SemanticModel
                : context.SemanticModel.Compilation.GetSemanticModel(implementation.SyntaxTree);
            CSharpSyntaxNode body = (CSharpSyntaxNode?)implementation.Body ?? implementation.ExpressionBody!.Expression;
            // Code that does not compile yet (while it is being typed) is the compiler's to report: symbols may be missing.
            if (HasErrors(model, implementation)) return Result(null, []);

            bool inside = CanGenerateInside(method.ContainingType);
            var attribute = (INamedTypeSymbol)context.Attributes[0].AttributeClass!;
            if (!inside)
            {
                // Outside the method's types, the registration names them and the types of the parameters (typeof(...)).
                var compilation = model.Compilation;
                foreach (var (type, where) in method.Parameters.Select(p => (p.Type, p.Locations.FirstOrDefault() ?? location))
                             .Prepend((method.ReturnType, location)).Prepend((method.ContainingType, location)))
                    if (type is not ITypeParameterSymbol && !compilation.IsSymbolAccessibleWithin(type, compilation.Assembly))
                        diagnostics.Add(DiagnosticInfo.Create(Diagnostics.Inaccessible, where, type.ToDisplayString(), method.ContainingType.Name, display));
            }
            var checker = new MethodChecker(model, attribute, method, inside);
            checker.Check(body);
            diagnostics.AddRange(checker.Diagnostics);
            if (diagnostics.Count > 0) return Result(null, checker.Calls);
            cancellation.ThrowIfCancellationRequested();
            try
            {
                var rewriter = new StatementRewriter(new RewriteContext(model, method));
                var expression = rewriter.Rewrite(body);
                return Result(SourceWriter.Write(method, inside, expression), checker.Calls);
            }
            catch (RewriteException e)
            {
                diagnostics.Add(e.Diagnostic);
                return Result(null, checker.Calls);
            }

        }

        private static bool HasErrors(SemanticModel model, SyntaxNode node) =>
            model.GetDiagnostics(node.Span).Any(d => d.Severity == DiagnosticSeverity.Error);

        private static string? SignatureProblem(IMethodSymbol method)
        {
            if (!method.IsStatic) return "is not static (an instance method's body reads the object it is called on)";
            if (method.IsGenericMethod) return "is generic";
            for (var type = method.ContainingType; type is not null; type = type.ContainingType)
                if (type.IsGenericType) return $"is in the generic type `{type.Name}`";
            if (method.ReturnsVoid) return "returns nothing";
            if (method.ReturnsByRef || method.ReturnsByRefReadonly) return "returns by reference";
            if (method.ReturnType.IsRefLikeType || method.ReturnType.TypeKind == TypeKind.Pointer) return $"returns a `{method.ReturnType.Name}`, which an expression tree cannot hold";
            if (method.IsAsync) return "is async";
            if (method.Parameters.Length > 16) return "has more than 16 parameters";
            foreach (var p in method.Parameters)
            {
                if (p.RefKind != RefKind.None) return $"has the ref, out or in parameter `{p.Name}`";
                if (p.Type.IsRefLikeType || p.Type.TypeKind == TypeKind.Pointer) return $"has the parameter `{p.Name}` of type `{p.Type.Name}`, which an expression tree cannot hold";
            }
            return null;
        }

        /// <summary>
        /// True when the registration can be generated inside the method's type (so that it reaches private members): the type
        /// and every type containing it are partial, and none is private or protected (a module initializer must be reachable
        /// from the whole module).
        /// </summary>
        private static bool CanGenerateInside(INamedTypeSymbol type)
        {
            for (var t = type; t is not null; t = t.ContainingType)
            {
                if (t.DeclaredAccessibility is not (Accessibility.Public or Accessibility.Internal or Accessibility.ProtectedOrInternal)) return false;
                bool partial = t.DeclaringSyntaxReferences.Any(r => r.GetSyntax() is TypeDeclarationSyntax d && d.Modifiers.Any(SyntaxKind.PartialKeyword));
                if (!partial) return false;
            }
            return true;
        }

        private static string HintName(IMethodSymbol method, string id)
        {
            var name = new StringBuilder();
            foreach (char c in method.ContainingType.ToDisplayString() + "." + method.Name)
                name.Append(char.IsLetterOrDigit(c) || c == '.' || c == '_' ? c : '_');
            return name + "." + SourceWriter.Hash(id) + ".g.cs";
        }
    }
}
