using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using static Microsoft.CodeAnalysis.CSharp.SyntaxFactory;

namespace ExprAD.Generators
{
    /// <summary>
    /// <c>for (int i = a; i &lt; b; i++) { ... s += e; ... }</c> as sums: each local declared before the loop that the body adds
    /// into (an accumulator) becomes <c>s + Enumerable.Range(a, count).Sum((int i) =&gt; what one iteration adds)</c>. The body
    /// runs symbolically with the index bound to the sum's lambda parameter and each accumulator to what the iteration has added
    /// so far, so that locals of the body, <c>if</c>s (<c>c ? added : 0</c>) and inner loops (a nested sum) work inside it.
    /// </summary>
    internal sealed class LoopRewriter(StatementRewriter owner, ForStatementSyntax loop)
    {
        private SemanticModel Model => owner.Context.Model;

        public ImmutableDictionary<ISymbol, Binding> Rewrite(ImmutableDictionary<ISymbol, Binding> env)
        {
            if (loop.Declaration is not { Variables.Count: 1 } declaration || declaration.Variables[0].Initializer is not { } initializer || loop.Initializers.Count > 0)
                throw Problem(loop, "it must declare one int index, as in `for (int i = a; ...)`");
            var variable = declaration.Variables[0];
            var index = (ILocalSymbol)Model.GetDeclaredSymbol(variable)!;
            if (index.Type.SpecialType != SpecialType.System_Int32) throw Problem(loop.Declaration, $"its index `{index.Name}` is not an int");
            var (bound, inclusive) = Bound(index);
            if (!IsStep(index)) throw Problem(loop.Incrementors.Count > 0 ? loop.Incrementors[0] : loop, $"it must step by one (`{index.Name}++`)");

            // The locals the body changes that live on after the loop: what the loop computes.
            var accumulators = loop.Statement.DescendantNodesAndSelf()
                .Select(StatementRewriter.AssignedBy)
                .Where(target => target is not null)
                .Select(target => (Target: target!, Symbol: Model.GetSymbolInfo(target!).Symbol))
                .Where(t => t.Symbol is not null && env.TryGetValue(t.Symbol, out var b) && b.Kind != BindingKind.LoopIndex)
                .ToList();
            var distinct = accumulators.Select(a => a.Symbol!).Distinct(SymbolEqualityComparer.Default).ToList();
            foreach (var (target, symbol) in accumulators)
                if (env[symbol!].Type.SpecialType != SpecialType.System_Double)
                    throw Problem(target, $"it adds into `{target}`, which is not a double");
            foreach (var name in bound.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>())
                if (Model.GetSymbolInfo(name).Symbol is { } read && distinct.Contains(read, SymbolEqualityComparer.Default))
                    throw Problem(name, $"its bound reads `{name}`, which the loop changes");

            var (start, _) = owner.Expression(initializer.Value, env);
            var (end, _) = owner.Expression(bound, env);
            var count = Count(start, end, inclusive, bound);
            if (distinct.Count == 0) return env; // the loop changes nothing the method reads afterwards

            var indexName = owner.Context.NewName(index.Name);
            var inside = env.SetItem(index, new Binding(BindingKind.LoopIndex, RewriteContext.Name(indexName), index.Type));
            foreach (var symbol in distinct) inside = inside.SetItem(symbol, new Binding(BindingKind.Accumulator, null, env[symbol].Type));
            var (after, shared) = RunBody(inside);

            foreach (var symbol in distinct)
            {
                if (after[symbol].Value is not { } added) continue;
                // What one iteration adds, with the locals of the body it reads bound once around it (innermost last).
                for (int k = shared.Count - 1; k >= 0; k--)
                    if (added.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>().Any(n => n.Identifier.ValueText == shared[k].Name))
                        added = owner.Let(shared[k].Name, shared[k].Type, shared[k].Value, owner.Double, added);
                var range = Call("Range", Argument(start), Argument(count));
                var selector = ParenthesizedLambdaExpression(
                    ParameterList(SingletonSeparatedList(Parameter(RewriteContext.Identifier(indexName)).WithType(PredefinedType(Token(SyntaxKind.IntKeyword))))),
                    added);
                var sum = Call("Sum", Argument(range), Argument(selector));
                var current = env[symbol];
                if (current.Kind == BindingKind.Value && current.Value is null)
                    throw Problem(loop, $"it adds into `{symbol.Name}` before `{symbol.Name}` is assigned");
                env = env.SetItem(symbol, current with { Value = StatementRewriter.Add(current.Value, sum) });
            }
            return env;
        }

        /// <summary>
        /// Runs the body once symbolically. A local of the body (declared at its top, so computed in every iteration, as C# does)
        /// that a statement at the top leaves bound to more than a name, and that the statements after it read more than once,
        /// is bound to a new name, returned with its value to be bound once around what the iteration adds; every other local
        /// is substituted.
        /// </summary>
        private (ImmutableDictionary<ISymbol, Binding> After, List<(string Name, ITypeSymbol Type, ExpressionSyntax Value)> Shared) RunBody(ImmutableDictionary<ISymbol, Binding> env)
        {
            var shared = new List<(string, ITypeSymbol, ExpressionSyntax)>();
            var statements = loop.Statement is BlockSyntax block ? block.Statements.ToList() : [loop.Statement];
            var locals = statements.OfType<LocalDeclarationStatementSyntax>().SelectMany(d => d.Declaration.Variables)
                .Select(v => (ILocalSymbol)Model.GetDeclaredSymbol(v)!).ToList();
            for (int k = 0; k < statements.Count; k++)
            {
                var before = env;
                env = owner.Run(statements[k], env);
                foreach (var local in locals)
                {
                    if (!env.TryGetValue(local, out var binding) || before.TryGetValue(local, out var old) && ReferenceEquals(old, binding)) continue;
                    if (binding.Value is not { } value || RewriteContext.IsAtomic(value) || !StatementRewriter.IsNameable(local.Type)
                        || owner.Reads(local, statements.Skip(k + 1)) < 2) continue;
                    var name = owner.Context.NewName(local.Name);
                    shared.Add((name, local.Type, value));
                    env = env.SetItem(local, binding with { Value = RewriteContext.Name(name) });
                }
            }
            return (env, shared);
        }

        private static InvocationExpressionSyntax Call(string method, params ArgumentSyntax[] arguments) =>
            InvocationExpression(MemberAccessExpression(SyntaxKind.SimpleMemberAccessExpression, ParseName("global::System.Linq.Enumerable"), IdentifierName(method)),
                ArgumentList(SeparatedList(arguments)));

        /// <summary>The bound the index is compared with, and whether it is included (<c>i &lt;= b</c>).</summary>
        private (ExpressionSyntax Bound, bool Inclusive) Bound(ILocalSymbol index)
        {
            bool IsIndex(ExpressionSyntax e) => e is IdentifierNameSyntax && SymbolEqualityComparer.Default.Equals(Model.GetSymbolInfo(e).Symbol, index);
            var (bound, inclusive) = loop.Condition switch
            {
                BinaryExpressionSyntax { RawKind: (int)SyntaxKind.LessThanExpression } b when IsIndex(b.Left) => (b.Right, false),
                BinaryExpressionSyntax { RawKind: (int)SyntaxKind.LessThanOrEqualExpression } b when IsIndex(b.Left) => (b.Right, true),
                BinaryExpressionSyntax { RawKind: (int)SyntaxKind.GreaterThanExpression } b when IsIndex(b.Right) => (b.Left, false),
                BinaryExpressionSyntax { RawKind: (int)SyntaxKind.GreaterThanOrEqualExpression } b when IsIndex(b.Right) => (b.Left, true),
                _ => (null!, false),
            };
            if (bound is null) throw Problem((SyntaxNode?)loop.Condition ?? loop, $"its condition must compare the index with a bound, as in `{index.Name} < n`");
            if (bound.DescendantNodesAndSelf().Any(n => n is ExpressionSyntax e && IsIndex(e)))
                throw Problem(bound, $"its bound depends on the index `{index.Name}`");
            if (Model.GetTypeInfo(bound).Type?.SpecialType != SpecialType.System_Int32)
                throw Problem(bound, "its bound is not an int");
            return (bound, inclusive);
        }

        private bool IsStep(ILocalSymbol index)
        {
            if (loop.Incrementors.Count != 1) return false;
            var step = loop.Incrementors[0];
            bool IsIndex(ExpressionSyntax e) => e is IdentifierNameSyntax && SymbolEqualityComparer.Default.Equals(Model.GetSymbolInfo(e).Symbol, index);
            static bool IsOne(ExpressionSyntax e) => e is LiteralExpressionSyntax { Token.Value: 1 };
            return step switch
            {
                PostfixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.PostIncrementExpression } u => IsIndex(u.Operand),
                PrefixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.PreIncrementExpression } u => IsIndex(u.Operand),
                AssignmentExpressionSyntax { RawKind: (int)SyntaxKind.AddAssignmentExpression } a => IsIndex(a.Left) && IsOne(a.Right),
                AssignmentExpressionSyntax { RawKind: (int)SyntaxKind.SimpleAssignmentExpression, Right: BinaryExpressionSyntax { RawKind: (int)SyntaxKind.AddExpression } add } a =>
                    IsIndex(a.Left) && (IsIndex(add.Left) && IsOne(add.Right) || IsOne(add.Left) && IsIndex(add.Right)),
                _ => false,
            };
        }

        /// <summary>
        /// How many times the loop runs: <c>b - a</c> (plus one for <c>&lt;=</c>), or none when that is negative, as the C# loop
        /// (Enumerable.Range throws on a negative count). Written plainly when it cannot be negative: from 0 to a length or count,
        /// or between literals.
        /// </summary>
        private ExpressionSyntax Count(ExpressionSyntax start, ExpressionSyntax end, bool inclusive, ExpressionSyntax originalEnd)
        {
            int? a = Model.GetConstantValue(loop.Declaration!.Variables[0].Initializer!.Value) is { HasValue: true, Value: int va } ? va : null;
            int? b = Model.GetConstantValue(originalEnd) is { HasValue: true, Value: int vb } ? vb : null;
            if (a is { } x && b is { } y)
            {
                long n = System.Math.Max(0L, (long)y - x + (inclusive ? 1 : 0));
                return ParseExpression(n.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            bool lengthLike = originalEnd is MemberAccessExpressionSyntax { Name.Identifier.ValueText: "Length" or "Count" };
            if (a == 0 && lengthLike && !inclusive) return end;
            var difference = a == 0 ? RewriteContext.Parenthesize(end)
                : BinaryExpression(SyntaxKind.SubtractExpression, RewriteContext.Parenthesize(end), RewriteContext.Parenthesize(start));
            var positive = BinaryExpression(inclusive ? SyntaxKind.GreaterThanOrEqualExpression : SyntaxKind.GreaterThanExpression,
                RewriteContext.Parenthesize(end), RewriteContext.Parenthesize(start));
            ExpressionSyntax n1 = inclusive ? BinaryExpression(SyntaxKind.AddExpression, RewriteContext.Parenthesize(difference), ParseExpression("1")) : difference;
            return ParenthesizedExpression(ConditionalExpression(positive, n1, ParseExpression("0")));
        }

        private static RewriteException Problem(SyntaxNode node, string why) => StatementRewriter.Error(Diagnostics.UnsupportedLoop, node, why);
    }
}
