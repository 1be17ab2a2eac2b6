using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ExprAD.Generators
{
    /// <summary>
    /// The checks made on a [Differentiable] method's body before it is rewritten: every statement and expression kind that has
    /// no expression-tree form (each reported where it is, so that one build lists them all), members the generated code could
    /// not reach, and the calls to other [Differentiable] methods of the compilation (for the recursion check).
    /// </summary>
    internal sealed class MethodChecker
    {
        private readonly SemanticModel _model;
        private readonly INamedTypeSymbol _attribute;
        private readonly string _methodName;
        // Where the generated code is when it is outside the method's type (null when it is inside: everything is accessible).
        private readonly INamedTypeSymbol? _outsideOf;

        public List<DiagnosticInfo> Diagnostics { get; } = new();

        public List<CallInfo> Calls { get; } = new();

        public MethodChecker(SemanticModel model, INamedTypeSymbol attribute, IMethodSymbol method, bool generatedInside)
        {
            _model = model;
            _attribute = attribute;
            _methodName = method.ContainingType.Name + "." + method.Name;
            _outsideOf = generatedInside ? null : method.ContainingType;
        }

        public void Check(SyntaxNode body)
        {
            // A lambda with a statement body is reported itself; what is inside it is not looked at.
            foreach (var node in body.DescendantNodesAndSelf(n => n is not AnonymousFunctionExpressionSyntax { Block: not null }))
            {
                if (node is StatementSyntax statement && StatementProblem(statement) is { } why)
                    Report(Generators.Diagnostics.UnsupportedStatement, statement, FirstLine(statement), why);
                else if (node is ExpressionSyntax expression && ExpressionProblem(expression) is { } problem)
                    Report(Generators.Diagnostics.UnsupportedExpression, expression, expression.ToString(), problem);
                else if (node is ArgumentSyntax { RefKindKeyword.RawKind: not 0 } argument)
                    Report(Generators.Diagnostics.UnsupportedExpression, argument, argument.ToString(), "a ref, out or in argument");
                if (node is SimpleNameSyntax name && node.Parent is not (NameColonSyntax or NameEqualsSyntax)) CheckReference(name);
                else if (node is BaseObjectCreationExpressionSyntax creation) CheckReference(creation);
            }
        }

        private static string? StatementProblem(StatementSyntax statement) => statement switch
        {
            BlockSyntax or IfStatementSyntax or ReturnStatementSyntax or ForStatementSyntax or EmptyStatementSyntax => null,
            LocalDeclarationStatementSyntax { UsingKeyword.RawKind: not 0 } => "a using declaration",
            LocalDeclarationStatementSyntax local when local.Declaration.Type is RefTypeSyntax => "a ref local",
            LocalDeclarationStatementSyntax => null,
            ExpressionStatementSyntax { Expression: AssignmentExpressionSyntax or PostfixUnaryExpressionSyntax or PrefixUnaryExpressionSyntax } => null,
            ExpressionStatementSyntax => "only assignments to locals can be statements (a call made for its effects has none on the result)",
            WhileStatementSyntax or DoStatementSyntax => "a while loop; use a for loop over a range, or LINQ (`Enumerable.Range(a, n).Sum(i => ...)`)",
            ForEachStatementSyntax or ForEachVariableStatementSyntax => "a foreach loop; use a for loop over a range, or LINQ (`xs.Sum(v => ...)`)",
            SwitchStatementSyntax => "a switch statement; write if/else",
            BreakStatementSyntax or ContinueStatementSyntax or GotoStatementSyntax or LabeledStatementSyntax =>
                "a jump; a loop runs over its whole range (write the condition into what it adds)",
            ThrowStatementSyntax => "a throw statement",
            TryStatementSyntax => "a try statement",
            YieldStatementSyntax => "an iterator",
            LocalFunctionStatementSyntax => "a local function; make it a static method (marked [Differentiable] to be differentiated)",
            UsingStatementSyntax => "a using statement",
            LockStatementSyntax => "a lock statement",
            _ => "this kind of statement is not supported",
        };

        private string? ExpressionProblem(ExpressionSyntax expression)
        {
            switch (expression)
            {
                case AssignmentExpressionSyntax when expression.Parent is ExpressionStatementSyntax || IsIncrementor(expression)
                    || expression.Parent is InitializerExpressionSyntax { RawKind: (int)SyntaxKind.ObjectInitializerExpression }:
                    return null;
                case PostfixUnaryExpressionSyntax or PrefixUnaryExpressionSyntax
                    when expression.RawKind is (int)SyntaxKind.PostIncrementExpression or (int)SyntaxKind.PostDecrementExpression
                        or (int)SyntaxKind.PreIncrementExpression or (int)SyntaxKind.PreDecrementExpression:
                    return expression.Parent is ExpressionStatementSyntax || IsIncrementor(expression) ? null : "an increment inside an expression; write it as a statement of its own";
                case AssignmentExpressionSyntax:
                    return "an assignment inside an expression; assign in a statement of its own";
                case SwitchExpressionSyntax: return "a switch expression; write `?:`";
                case IsPatternExpressionSyntax: return "a pattern (`is ...`); write a comparison";
                case ThrowExpressionSyntax: return "a throw expression";
                case ConditionalAccessExpressionSyntax: return "the null-conditional operator `?.`; test for null with `?:`";
                case TupleExpressionSyntax: return "a tuple";
                case RangeExpressionSyntax: return "a range (`..`)";
                case PrefixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.IndexExpression }: return "an index from the end (`^`); write `a[a.Length - k]`";
                case CollectionExpressionSyntax: return "a collection expression; write `new[] { ... }`";
                case WithExpressionSyntax: return "a `with` expression";
                case AwaitExpressionSyntax: return "await";
                case AnonymousMethodExpressionSyntax: return "an anonymous method; write a lambda";
                case AnonymousFunctionExpressionSyntax { Block: not null }: return "a lambda with a statement body; write an expression-bodied lambda";
                case AnonymousFunctionExpressionSyntax { AsyncKeyword.RawKind: not 0 }: return "an async lambda";
                case QueryExpressionSyntax: return "query syntax; write the method calls (`.Select(...)`, `.Sum(...)`)";
                case DeclarationExpressionSyntax: return "a declaration inside an expression";
                case StackAllocArrayCreationExpressionSyntax or ImplicitStackAllocArrayCreationExpressionSyntax: return "stackalloc";
                case RefExpressionSyntax or MakeRefExpressionSyntax or RefValueExpressionSyntax or RefTypeExpressionSyntax: return "a ref expression";
                case PrefixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.AddressOfExpression or (int)SyntaxKind.PointerIndirectionExpression }:
                case MemberAccessExpressionSyntax { RawKind: (int)SyntaxKind.PointerMemberAccessExpression }:
                    return "a pointer operation";
                case IdentifierNameSyntax or GenericNameSyntax or MemberAccessExpressionSyntax when IsMethodGroup(expression):
                    return "a method used as a delegate; write a lambda that calls it (`v => F(v)`), which ExprAD can look into";
                case InvocationExpressionSyntax invocation when _model.GetSymbolInfo(invocation).Symbol is IMethodSymbol { MethodKind: MethodKind.LocalFunction } local:
                    return $"a call of the local function `{local.Name}`; make it a static method (marked [Differentiable] to be differentiated)";
                default:
                    return null;
            }
        }

        /// <summary>True for a method named other than to be called: a method group converted to a delegate.</summary>
        private bool IsMethodGroup(ExpressionSyntax expression)
        {
            // The name inside `C.F` is looked at as part of the member access.
            if (expression.Parent is MemberAccessExpressionSyntax outer && outer.Name == expression) return false;
            if (expression.Parent is InvocationExpressionSyntax call && call.Expression == expression) return false;
            return _model.GetSymbolInfo(expression).Symbol is IMethodSymbol { MethodKind: MethodKind.Ordinary or MethodKind.ReducedExtension or MethodKind.LocalFunction }
                && !expression.Ancestors().Any(a => a is InvocationExpressionSyntax { Expression: IdentifierNameSyntax { Identifier.ValueText: "nameof" } });
        }

        private static bool IsIncrementor(SyntaxNode node) => node.Parent is ForStatementSyntax loop && loop.Incrementors.Contains(node);

        private void CheckReference(SyntaxNode node)
        {
            var symbol = _model.GetSymbolInfo(node).Symbol;
            if (symbol is IMethodSymbol method && IsDifferentiable(method))
            {
                var callee = method.OriginalDefinition;
                if (callee.GetDocumentationCommentId() is { } id)
                    Calls.Add(new CallInfo(id, callee.ContainingType.Name + "." + callee.Name, LocationInfo.From(node.Parent is InvocationExpressionSyntax or MemberAccessExpressionSyntax ? node.Parent : node)));
            }
            if (_outsideOf is null || symbol is null or ILocalSymbol or IParameterSymbol or INamespaceSymbol or IRangeVariableSymbol or ILabelSymbol) return;
            // Constants are written as literals (RewriteContext.Literal), so a private one is fine.
            if (symbol is IFieldSymbol { IsConst: true } field && field.Type.TypeKind != TypeKind.Enum) return;
            var compilation = _model.Compilation;
            if (symbol is ITypeSymbol { TypeKind: TypeKind.TypeParameter }) return;
            if (!compilation.IsSymbolAccessibleWithin(symbol, compilation.Assembly))
                Report(Generators.Diagnostics.Inaccessible, node, DisplayName(symbol), _outsideOf.Name, _methodName);
        }

        private bool IsDifferentiable(IMethodSymbol method) =>
            SymbolEqualityComparer.Default.Equals(method.OriginalDefinition.ContainingAssembly, _model.Compilation.Assembly) &&
            method.OriginalDefinition.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, _attribute));

        private static string DisplayName(ISymbol symbol) =>
            symbol is IMethodSymbol { MethodKind: MethodKind.Constructor } constructor ? "new " + constructor.ContainingType.Name + "(...)"
            : symbol.ContainingType is { } type ? type.Name + "." + symbol.Name : symbol.Name;

        private static string FirstLine(SyntaxNode node)
        {
            var text = node.ToString();
            int end = text.IndexOfAny(['\r', '\n']);
            return end < 0 ? text : text.Substring(0, end).TrimEnd() + " ...";
        }

        private void Report(DiagnosticDescriptor descriptor, SyntaxNode node, params string[] arguments) =>
            Diagnostics.Add(DiagnosticInfo.Create(descriptor, node, arguments));
    }
}
