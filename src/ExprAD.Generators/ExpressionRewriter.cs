using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using static Microsoft.CodeAnalysis.CSharp.SyntaxFactory;

namespace ExprAD.Generators
{
    /// <summary>What a local (or a reassigned parameter) stands for at a point of the method.</summary>
    internal enum BindingKind
    {
        /// <summary>Its value: an expression substituted at each use, or the name of a let-bound lambda parameter.</summary>
        Value,
        /// <summary>Inside a loop that adds into it: what this iteration has added so far (null: nothing). Reading it is an error.</summary>
        Accumulator,
        /// <summary>A for loop's index: the name of the sum's lambda parameter. Assigning it is an error.</summary>
        LoopIndex,
    }

    /// <summary>A local's binding; <see cref="Value"/> is null when nothing is assigned yet (or added, for an accumulator).</summary>
    internal sealed record Binding(BindingKind Kind, ExpressionSyntax? Value, ITypeSymbol Type);

    /// <summary>
    /// Rewrites one expression of a [Differentiable] method into text valid anywhere: locals replaced by what they are bound to,
    /// types and static members fully qualified, constants written as literals, extension methods called in their static form,
    /// and the parameters of the user's lambdas renamed so that nothing substituted into them can be captured by them.
    /// Expression kinds an expression tree cannot hold were reported before (<see cref="MethodChecker"/>).
    /// </summary>
    internal sealed class ExpressionRewriter(RewriteContext context, ImmutableDictionary<ISymbol, Binding> env) : CSharpSyntaxRewriter
    {
        private SemanticModel Model => context.Model;

        /// <summary>The rewritten <paramref name="expression"/>, with its type before any implicit conversion.</summary>
        public static (ExpressionSyntax Syntax, ITypeSymbol? Type) Rewrite(RewriteContext context, ImmutableDictionary<ISymbol, Binding> env, ExpressionSyntax expression) =>
            ((ExpressionSyntax)new ExpressionRewriter(context, env).Visit(expression)!, context.Model.GetTypeInfo(expression).Type);

        public override SyntaxNode? VisitIdentifierName(IdentifierNameSyntax node)
        {
            var symbol = Model.GetSymbolInfo(node).Symbol;
            switch (symbol)
            {
                case ILocalSymbol or IParameterSymbol when env.TryGetValue(symbol, out var binding):
                    if (binding.Kind == BindingKind.Accumulator)
                        throw Error(Diagnostics.UnsupportedLoop, node, $"its body reads `{node.Identifier.ValueText}`, which it adds to");
                    if (binding.Value is null)
                        throw Error(Diagnostics.UnsupportedStatement, node, $"`{node.Identifier.ValueText}` is read where it may not be assigned");
                    return RewriteContext.Parenthesize(binding.Value);
                case IParameterSymbol parameter when context.Renamed.TryGetValue(parameter, out var name):
                    return RewriteContext.Name(name).WithTriviaFrom(node);
                case IParameterSymbol:
                    return node;
                case ILocalSymbol:
                    throw Error(Diagnostics.UnsupportedStatement, node, $"`{node.Identifier.ValueText}` is read where it may not be assigned");
                case IFieldSymbol field when ConstantOf(field) is { } literal:
                    return literal;
                case ITypeSymbol type:
                    return RewriteContext.TypeName(type).WithTriviaFrom(node);
                case INamespaceSymbol ns:
                    return ParseName(ns.ToDisplayString(RewriteContext.Qualified)).WithTriviaFrom(node);
                case IMethodSymbol { IsStatic: true, MethodKind: MethodKind.Ordinary } or IFieldSymbol { IsStatic: true } or IPropertySymbol { IsStatic: true }:
                    // A static member named without its type (inside its class, or through `using static`).
                    return MemberAccessExpression(SyntaxKind.SimpleMemberAccessExpression, RewriteContext.TypeName(symbol.ContainingType), node.WithoutTrivia()).WithTriviaFrom(node);
                default:
                    return node;
            }
        }

        public override SyntaxNode? VisitGenericName(GenericNameSyntax node)
        {
            var symbol = Model.GetSymbolInfo(node).Symbol;
            if (symbol is ITypeSymbol type) return RewriteContext.TypeName(type).WithTriviaFrom(node);
            var visited = node.WithTypeArgumentList((TypeArgumentListSyntax)Visit(node.TypeArgumentList)!);
            return symbol is IMethodSymbol { IsStatic: true, MethodKind: MethodKind.Ordinary } method
                ? MemberAccessExpression(SyntaxKind.SimpleMemberAccessExpression, RewriteContext.TypeName(method.ContainingType), visited.WithoutTrivia()).WithTriviaFrom(node)
                : visited;
        }

        public override SyntaxNode? VisitQualifiedName(QualifiedNameSyntax node) => QualifiedOrNull(node) ?? base.VisitQualifiedName(node);

        public override SyntaxNode? VisitAliasQualifiedName(AliasQualifiedNameSyntax node) => QualifiedOrNull(node) ?? base.VisitAliasQualifiedName(node);

        private SyntaxNode? QualifiedOrNull(ExpressionSyntax node) => Model.GetSymbolInfo(node).Symbol switch
        {
            ITypeSymbol type => RewriteContext.TypeName(type).WithTriviaFrom(node),
            INamespaceSymbol ns => ParseName(ns.ToDisplayString(RewriteContext.Qualified)).WithTriviaFrom(node),
            _ => null,
        };

        // The name after the dot is resolved from what is before it: it is left as written (only its type arguments are visited).
        public override SyntaxNode? VisitMemberAccessExpression(MemberAccessExpressionSyntax node)
        {
            if (QualifiedOrNull(node) is { } qualified) return qualified;
            if (Model.GetSymbolInfo(node).Symbol is IFieldSymbol field && ConstantOf(field) is { } literal) return literal;
            return node.Update((ExpressionSyntax)Visit(node.Expression)!, node.OperatorToken, VisitTypeArguments(node.Name));
        }

        private SimpleNameSyntax VisitTypeArguments(SimpleNameSyntax name) =>
            name is GenericNameSyntax generic ? generic.WithTypeArgumentList((TypeArgumentListSyntax)Visit(generic.TypeArgumentList)!) : name;

        // An argument's name refers to the callee's parameter, not to anything of this method.
        public override SyntaxNode? VisitNameColon(NameColonSyntax node) => node;

        public override SyntaxNode? VisitNameEquals(NameEqualsSyntax node) => node;

        public override SyntaxNode? VisitInvocationExpression(InvocationExpressionSyntax node)
        {
            if (node.Expression is IdentifierNameSyntax { Identifier.ValueText: "nameof" } && Model.GetConstantValue(node) is { HasValue: true, Value: string text })
                return RewriteContext.Literal(text);
            // An extension method in its static form: the generated file imports nothing, so `x.Sum()` would not bind there.
            if (Model.GetSymbolInfo(node).Symbol is IMethodSymbol { ReducedFrom: not null } method && node.Expression is MemberAccessExpressionSyntax access)
            {
                var receiver = Argument((ExpressionSyntax)Visit(access.Expression)!);
                var target = MemberAccessExpression(SyntaxKind.SimpleMemberAccessExpression, RewriteContext.TypeName(method.ContainingType), VisitTypeArguments(access.Name));
                var arguments = node.ArgumentList.Arguments.Select(a => (ArgumentSyntax)Visit(a)!).Prepend(receiver);
                return InvocationExpression(target, ArgumentList(SeparatedList(arguments))).WithTriviaFrom(node);
            }
            return base.VisitInvocationExpression(node);
        }

        public override SyntaxNode? VisitSimpleLambdaExpression(SimpleLambdaExpressionSyntax node) =>
            node.WithParameter(Renamed(node.Parameter)).WithBody((CSharpSyntaxNode)Visit(node.Body)!);

        public override SyntaxNode? VisitParenthesizedLambdaExpression(ParenthesizedLambdaExpressionSyntax node) =>
            node.WithParameterList(node.ParameterList.WithParameters(SeparatedList(node.ParameterList.Parameters.Select(Renamed))))
                .WithBody((CSharpSyntaxNode)Visit(node.Body)!);

        // A lambda parameter gets a name of its own: a local substituted into the lambda's body may mention a variable of the
        // same name (a method parameter the lambda parameter shadows), which the lambda would otherwise capture.
        private ParameterSyntax Renamed(ParameterSyntax parameter)
        {
            var symbol = Model.GetDeclaredSymbol(parameter);
            if (symbol is null) return parameter;
            if (!context.Renamed.TryGetValue(symbol, out var name))
                context.Renamed.Add(symbol, name = context.NewName(parameter.Identifier.ValueText));
            var type = parameter.Type is null ? null : (TypeSyntax)Visit(parameter.Type)!;
            return parameter.WithIdentifier(RewriteContext.Identifier(name).WithTriviaFrom(parameter.Identifier)).WithType(type);
        }

        /// <summary>A constant field as a literal (enums excepted: their literal would lose the type).</summary>
        private static ExpressionSyntax? ConstantOf(IFieldSymbol field) =>
            field.IsConst && field.Type.TypeKind != TypeKind.Enum && RewriteContext.Literal(field.ConstantValue) is { } literal
                ? RewriteContext.Parenthesize(literal)
                : null;

        private static RewriteException Error(DiagnosticDescriptor descriptor, SyntaxNode node, string why) =>
            new(DiagnosticInfo.Create(descriptor, node, descriptor == Diagnostics.UnsupportedLoop ? [why] : [node.ToString(), why]));
    }
}
