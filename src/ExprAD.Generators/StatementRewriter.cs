using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;
using static Microsoft.CodeAnalysis.CSharp.SyntaxFactory;

namespace ExprAD.Generators
{
    /// <summary>
    /// Turns the body of a [Differentiable] method into one expression by running its statements symbolically:
    /// <list type="bullet">
    /// <item>a local is bound to the expression it is assigned (an assignment rebinds it) and substituted where it is read; one
    /// read more than once whose value is not a mere name or literal is bound once instead, as the parameter of a lambda
    /// invoked with the value (<c>ExpressionInvoke.Invoke((double t) =&gt; rest, value)</c>, which ExprAD inlines with the
    /// value computed once), so that the tree does not grow with each use;</item>
    /// <item><c>if</c>/<c>else</c> with returns becomes <c>?:</c> over the rest of the method on each side; without returns, the
    /// locals it assigns become <c>c ? assigned : before</c>;</item>
    /// <item><c>for (int i = a; i &lt; b; i++) s += e;</c> becomes <c>s + Enumerable.Range(a, b - a).Sum(i =&gt; e)</c> (a loop
    /// adding into several locals gives one sum for each; loops nest).</item>
    /// </list>
    /// </summary>
    internal sealed class StatementRewriter
    {
        private readonly RewriteContext _context;
        private readonly ITypeSymbol _returnType;
        private readonly ITypeSymbol _double;
        // The symbol each identifier of the method refers to, for counting the reads of a local (asked once per identifier).
        private readonly Dictionary<SyntaxNode, ISymbol?> _references = new();
        private readonly Dictionary<StatementSyntax, Dictionary<ISymbol, int>> _readsByStatement = new();

        /// <summary>Statements still to run, innermost first; a block is opened when it is reached.</summary>
        private sealed class Rest(StatementSyntax head, Rest? tail)
        {
            public StatementSyntax Head { get; } = head;
            public Rest? Tail { get; } = tail;

            public IEnumerable<StatementSyntax> All()
            {
                for (var r = this; r is not null; r = r.Tail) yield return r.Head;
            }
        }

        public StatementRewriter(RewriteContext context)
        {
            _context = context;
            _returnType = context.Method.ReturnType;
            _double = context.Model.Compilation.GetSpecialType(SpecialType.System_Double);
        }

        private SemanticModel Model => _context.Model;

        /// <summary>The body of the method as one expression of its return type.</summary>
        public ExpressionSyntax Rewrite(CSharpSyntaxNode body)
        {
            var env = ImmutableDictionary.Create<ISymbol, Binding>(SymbolEqualityComparer.Default);
            if (body is ExpressionSyntax expression) return Return(expression, env);
            return Function(Prepend(((BlockSyntax)body).Statements, null), env, body);
        }

        private ExpressionSyntax Return(ExpressionSyntax expression, ImmutableDictionary<ISymbol, Binding> env)
        {
            var (syntax, type) = ExpressionRewriter.Rewrite(_context, env, expression);
            return RewriteContext.Convert(syntax, type, _returnType);
        }

        /// <summary>The value the method returns when it runs <paramref name="rest"/> from <paramref name="env"/>.</summary>
        private ExpressionSyntax Function(Rest? rest, ImmutableDictionary<ISymbol, Binding> env, SyntaxNode where)
        {
            while (true)
            {
                if (rest is null) throw Error(Diagnostics.UnsupportedStatement, where, "not every path returns a value");
                var statement = rest.Head;
                rest = rest.Tail;
                switch (statement)
                {
                    case BlockSyntax block:
                        rest = Prepend(block.Statements, rest);
                        continue;
                    case EmptyStatementSyntax:
                        continue;
                    case ReturnStatementSyntax { Expression: { } value }:
                        return Return(value, env);
                    case IfStatementSyntax choice when MayReturn(choice.Statement) || MayReturn(choice.Else?.Statement):
                    {
                        // Each side runs the rest of the method after its branch; a branch that always returns never reaches it.
                        var condition = Expression(choice.Condition, env).Syntax;
                        var whenTrue = Function(new Rest(choice.Statement, rest), env, choice);
                        var whenFalse = Function(choice.Else is null ? rest : new Rest(choice.Else.Statement, rest), env, choice);
                        return ConditionalExpression(RewriteContext.Parenthesize(condition), RewriteContext.Parenthesize(whenTrue), RewriteContext.Parenthesize(whenFalse));
                    }
                    default:
                    {
                        var before = env;
                        env = Step(statement, env);
                        var shared = env.Where(p => p.Value.Kind == BindingKind.Value && p.Value.Value is { } v && !RewriteContext.IsAtomic(v)
                                && (!before.TryGetValue(p.Key, out var old) || !ReferenceEquals(old, p.Value))
                                && IsNameable(p.Value.Type) && Reads(p.Key, rest) > 1)
                            // In declaration order, not the dictionary's: the same source must give the same text.
                            .Select(p => p.Key).OrderBy(k => k.Locations.FirstOrDefault()?.SourceSpan.Start ?? 0).ToList();
                        if (shared.Count > 0) return Let(shared, 0, env, rest, where);
                        continue;
                    }
                }
            }
        }

        /// <summary>
        /// The rest of the method with <paramref name="shared"/>[k..] bound once each:
        /// <c>ExpressionInvoke.Invoke((T t) =&gt; rest, value)</c>, which ExprAD inlines, computing the value once.
        /// </summary>
        private ExpressionSyntax Let(List<ISymbol> shared, int k, ImmutableDictionary<ISymbol, Binding> env, Rest? rest, SyntaxNode where)
        {
            var symbol = shared[k];
            var binding = env[symbol];
            var name = _context.NewName(symbol.Name);
            env = env.SetItem(symbol, binding with { Value = RewriteContext.Name(name) });
            var body = k + 1 < shared.Count ? Let(shared, k + 1, env, rest, where) : Function(rest, env, where);
            return Let(name, binding.Type, binding.Value!, _returnType, body);
        }

        /// <summary><c>ExpressionInvoke.Invoke&lt;T, R&gt;((T name) =&gt; body, value)</c>: <paramref name="body"/> with <paramref name="name"/> bound to the value.</summary>
        internal ExpressionSyntax Let(string name, ITypeSymbol type, ExpressionSyntax value, ITypeSymbol resultType, ExpressionSyntax body)
        {
            var invoke = MemberAccessExpression(SyntaxKind.SimpleMemberAccessExpression, ParseName("global::ExprAD.ExpressionInvoke"),
                GenericName(Identifier("Invoke"), TypeArgumentList(SeparatedList([RewriteContext.TypeName(type), RewriteContext.TypeName(resultType)]))));
            var lambda = ParenthesizedLambdaExpression(
                ParameterList(SingletonSeparatedList(Parameter(RewriteContext.Identifier(name)).WithType(RewriteContext.TypeName(type)))), body);
            return InvocationExpression(invoke, ArgumentList(SeparatedList([Argument(lambda), Argument(value)])));
        }

        /// <summary>Runs a statement that does not return: the bindings after it.</summary>
        private ImmutableDictionary<ISymbol, Binding> Step(StatementSyntax statement, ImmutableDictionary<ISymbol, Binding> env)
        {
            switch (statement)
            {
                case BlockSyntax block:
                    foreach (var inner in block.Statements) env = Step(inner, env);
                    return env;
                case EmptyStatementSyntax:
                    return env;
                case LocalDeclarationStatementSyntax declaration:
                    foreach (var variable in declaration.Declaration.Variables)
                    {
                        var local = (ILocalSymbol)Model.GetDeclaredSymbol(variable)!;
                        ExpressionSyntax? value = null;
                        if (variable.Initializer is { } initializer)
                        {
                            var (syntax, type) = Expression(initializer.Value, env);
                            value = RewriteContext.Convert(syntax, type, local.Type);
                        }
                        env = env.SetItem(local, new Binding(BindingKind.Value, value, local.Type));
                    }
                    return env;
                case ExpressionStatementSyntax { Expression: var expression }:
                    return Assign(expression, env);
                case IfStatementSyntax choice:
                {
                    if (MayReturn(choice.Statement) || MayReturn(choice.Else?.Statement))
                        throw Error(Diagnostics.UnsupportedLoop, choice, "its body returns");
                    var condition = Expression(choice.Condition, env).Syntax;
                    var whenTrue = Step(choice.Statement, env);
                    var whenFalse = choice.Else is null ? env : Step(choice.Else.Statement, env);
                    return Merge(condition, env, whenTrue, whenFalse);
                }
                case ForStatementSyntax loop:
                    return new LoopRewriter(this, loop).Rewrite(env);
                case ReturnStatementSyntax:
                    throw Error(Diagnostics.UnsupportedLoop, statement, "its body returns");
                default:
                    throw Error(Diagnostics.UnsupportedStatement, statement, "this kind of statement is not supported");
            }
        }

        /// <summary>An assignment, compound assignment, increment or decrement of a local (or of a parameter, which is one too).</summary>
        private ImmutableDictionary<ISymbol, Binding> Assign(ExpressionSyntax expression, ImmutableDictionary<ISymbol, Binding> env)
        {
            var (target, right, op) = expression switch
            {
                AssignmentExpressionSyntax a => (a.Left, a.Right, a.Kind()),
                PostfixUnaryExpressionSyntax u => (u.Operand, null, u.IsKind(SyntaxKind.PostIncrementExpression) ? SyntaxKind.AddAssignmentExpression : SyntaxKind.SubtractAssignmentExpression),
                PrefixUnaryExpressionSyntax u => (u.Operand, null, u.IsKind(SyntaxKind.PreIncrementExpression) ? SyntaxKind.AddAssignmentExpression : SyntaxKind.SubtractAssignmentExpression),
                _ => (null!, null, SyntaxKind.None),
            };
            if (target is null || op == SyntaxKind.None)
                throw Error(Diagnostics.UnsupportedStatement, expression, "only assignments to locals can be statements");
            var symbol = Model.GetSymbolInfo(target).Symbol;
            if (target is not IdentifierNameSyntax || symbol is not (ILocalSymbol or IParameterSymbol { ContainingSymbol: IMethodSymbol { MethodKind: MethodKind.Ordinary } }))
                throw Error(Diagnostics.UnsupportedStatement, expression, $"only locals can be assigned, not `{target}`");
            var type = symbol is ILocalSymbol l ? l.Type : ((IParameterSymbol)symbol).Type;
            if (!env.TryGetValue(symbol, out var binding))
                binding = new Binding(BindingKind.Value, RewriteContext.Name(symbol.Name), type);
            var (value, valueType) = right is null ? (ParseExpression("1"), Model.Compilation.GetSpecialType(SpecialType.System_Int32)) : Expression(right, env);
            switch (binding.Kind)
            {
                case BindingKind.LoopIndex:
                    throw Error(Diagnostics.UnsupportedLoop, expression, $"its body assigns the index `{target}`");
                case BindingKind.Accumulator when op is SyntaxKind.AddAssignmentExpression or SyntaxKind.SubtractAssignmentExpression:
                    return env.SetItem(symbol, binding with { Value = Add(binding.Value, ToDouble(value, valueType), op == SyntaxKind.SubtractAssignmentExpression) });
                case BindingKind.Accumulator:
                    throw Error(Diagnostics.UnsupportedLoop, expression, $"`{expression}` does more than add to `{target}` (write `{target} += ...` or `{target} -= ...`)");
            }
            if (op == SyntaxKind.SimpleAssignmentExpression)
                return env.SetItem(symbol, binding with { Value = RewriteContext.Convert(value, valueType, type) });
            if (binding.Value is null) throw Error(Diagnostics.UnsupportedStatement, expression, $"`{target}` is read where it may not be assigned");
            var binary = op switch
            {
                SyntaxKind.AddAssignmentExpression => SyntaxKind.AddExpression,
                SyntaxKind.SubtractAssignmentExpression => SyntaxKind.SubtractExpression,
                SyntaxKind.MultiplyAssignmentExpression => SyntaxKind.MultiplyExpression,
                SyntaxKind.DivideAssignmentExpression => SyntaxKind.DivideExpression,
                SyntaxKind.ModuloAssignmentExpression => SyntaxKind.ModuloExpression,
                SyntaxKind.AndAssignmentExpression => SyntaxKind.BitwiseAndExpression,
                SyntaxKind.OrAssignmentExpression => SyntaxKind.BitwiseOrExpression,
                SyntaxKind.ExclusiveOrAssignmentExpression => SyntaxKind.ExclusiveOrExpression,
                SyntaxKind.LeftShiftAssignmentExpression => SyntaxKind.LeftShiftExpression,
                SyntaxKind.RightShiftAssignmentExpression => SyntaxKind.RightShiftExpression,
                SyntaxKind.CoalesceAssignmentExpression => SyntaxKind.CoalesceExpression,
                _ => throw Error(Diagnostics.UnsupportedStatement, expression, "this kind of assignment is not supported"),
            };
            ExpressionSyntax combined = BinaryExpression(binary, RewriteContext.Parenthesize(binding.Value), RewriteContext.Parenthesize(value));
            // `b += 1` on a byte, `k += 0.5` on an int: C# converts the result back to the local's type.
            bool converts = right is null
                ? type.SpecialType is not (SpecialType.System_Int32 or SpecialType.System_Int64 or SpecialType.System_UInt32 or SpecialType.System_UInt64
                    or SpecialType.System_Double or SpecialType.System_Single or SpecialType.System_Decimal)
                : Model.GetOperation(expression) is ICompoundAssignmentOperation { OutConversion.IsIdentity: false };
            if (converts) combined = ParenthesizedExpression(CastExpression(RewriteContext.TypeName(type), ParenthesizedExpression(combined)));
            return env.SetItem(symbol, binding with { Value = combined });
        }

        /// <summary>After an <c>if</c> without returns: each local a branch changed is <c>c ? value on the true side : value on the false side</c>.</summary>
        private static ImmutableDictionary<ISymbol, Binding> Merge(ExpressionSyntax condition, ImmutableDictionary<ISymbol, Binding> before,
            ImmutableDictionary<ISymbol, Binding> whenTrue, ImmutableDictionary<ISymbol, Binding> whenFalse)
        {
            var env = before;
            foreach (var pair in before)
            {
                var (t, f) = (whenTrue[pair.Key], whenFalse[pair.Key]);
                if (ReferenceEquals(t.Value, f.Value)) continue;
                ExpressionSyntax? merged;
                if (pair.Value.Kind == BindingKind.Accumulator)
                    merged = ConditionalExpression(RewriteContext.Parenthesize(condition), RewriteContext.Parenthesize(t.Value ?? Zero), RewriteContext.Parenthesize(f.Value ?? Zero));
                else
                    merged = t.Value is null || f.Value is null ? null
                        : ConditionalExpression(RewriteContext.Parenthesize(condition), RewriteContext.Parenthesize(t.Value), RewriteContext.Parenthesize(f.Value));
                env = env.SetItem(pair.Key, pair.Value with { Value = merged is null ? null : ParenthesizedExpression(merged) });
            }
            return env;
        }

        internal static readonly ExpressionSyntax Zero = ParseExpression("0D");

        /// <summary><paramref name="sum"/> plus (or minus) <paramref name="term"/>, where a null sum is nothing added yet.</summary>
        internal static ExpressionSyntax Add(ExpressionSyntax? sum, ExpressionSyntax term, bool subtract = false) =>
            sum is null || IsZero(sum)
                ? (subtract ? ParenthesizedExpression(PrefixUnaryExpression(SyntaxKind.UnaryMinusExpression, RewriteContext.Parenthesize(term))) : term)
                : BinaryExpression(subtract ? SyntaxKind.SubtractExpression : SyntaxKind.AddExpression, RewriteContext.Parenthesize(sum), RewriteContext.Parenthesize(term));

        // A local set to zero before a loop adds into it: the sum alone is its value (Enumerable.Sum starts from zero too).
        private static bool IsZero(ExpressionSyntax e) => e switch
        {
            ParenthesizedExpressionSyntax p => IsZero(p.Expression),
            CastExpressionSyntax c => IsZero(c.Expression),
            LiteralExpressionSyntax { Token.Value: var v } => v is 0 or 0L or 0D or 0F && !(v is double d && double.IsNegativeInfinity(1 / d)),
            _ => false,
        };

        internal ExpressionSyntax ToDouble(ExpressionSyntax value, ITypeSymbol? type) => RewriteContext.Convert(value, type, _double);

        internal ITypeSymbol Double => _double;

        internal RewriteContext Context => _context;

        internal (ExpressionSyntax Syntax, ITypeSymbol? Type) Expression(ExpressionSyntax expression, ImmutableDictionary<ISymbol, Binding> env) =>
            ExpressionRewriter.Rewrite(_context, env, expression);

        internal ImmutableDictionary<ISymbol, Binding> Run(StatementSyntax statement, ImmutableDictionary<ISymbol, Binding> env) => Step(statement, env);

        private static bool MayReturn(StatementSyntax? statement) =>
            statement is not null && statement.DescendantNodesAndSelf(n => n is not AnonymousFunctionExpressionSyntax).OfType<ReturnStatementSyntax>().Any();

        internal static bool IsNameable(ITypeSymbol type) =>
            !type.IsAnonymousType && type.TypeKind is not (TypeKind.Error or TypeKind.Pointer or TypeKind.Dynamic) && !type.IsRefLikeType &&
            !(type is INamedTypeSymbol { IsTupleType: true }) && !(type is IArrayTypeSymbol { ElementType: var e } && !IsNameable(e));

        /// <summary>
        /// How often the statements of <paramref name="rest"/> read the value <paramref name="symbol"/> has now (written reads: one
        /// inside a loop counts once). Counting stops at a statement of the rest that assigns the local anew, whose own read of
        /// the old value (a compound assignment, a loop adding into it) is the last.
        /// </summary>
        private int Reads(ISymbol symbol, Rest? rest) => Reads(symbol, rest?.All() ?? []);

        /// <summary>As <see cref="Reads(ISymbol, Rest?)"/>, over a list of statements.</summary>
        internal int Reads(ISymbol symbol, IEnumerable<StatementSyntax> statements)
        {
            int count = 0;
            foreach (var head in statements)
            {
                // A loop that adds into the local reads it once, after the loop, however many statements of its body add.
                if (head is ForStatementSyntax loop && loop.Statement.DescendantNodesAndSelf().Select(AssignedBy)
                        .Any(t => t is not null && SymbolEqualityComparer.Default.Equals(Referenced(t), symbol)))
                    return count + 1;
                // A compound assignment's target counts as a read (of the value it replaces); a simple one's does not.
                count += ReadsIn(symbol, head);
                if (head is ExpressionStatementSyntax { Expression: var e } && AssignedBy(e) is { } target && SymbolEqualityComparer.Default.Equals(Referenced(target), symbol))
                    return count;
            }
            return count;
        }

        /// <summary>How often <paramref name="node"/> reads <paramref name="symbol"/>, as written.</summary>
        internal int ReadsIn(ISymbol symbol, SyntaxNode node)
        {
            if (node is not StatementSyntax statement) return node.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>().Count(n => SymbolEqualityComparer.Default.Equals(Referenced(n), symbol));
            if (!_readsByStatement.TryGetValue(statement, out var reads))
            {
                reads = new Dictionary<ISymbol, int>(SymbolEqualityComparer.Default);
                foreach (var name in statement.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>())
                    if (Referenced(name) is ILocalSymbol or IParameterSymbol && !IsAssignmentTarget(name))
                        reads[Referenced(name)!] = reads.TryGetValue(Referenced(name)!, out var n) ? n + 1 : 1;
                _readsByStatement[statement] = reads;
            }
            return reads.TryGetValue(symbol, out var k) ? k : 0;
        }

        private ISymbol? Referenced(SyntaxNode name)
        {
            if (!_references.TryGetValue(name, out var symbol)) _references[name] = symbol = Model.GetSymbolInfo(name).Symbol;
            return symbol;
        }

        /// <summary>The local an assignment, increment or decrement writes, if the node is one.</summary>
        internal static ExpressionSyntax? AssignedBy(SyntaxNode node) => node switch
        {
            AssignmentExpressionSyntax a => a.Left,
            PostfixUnaryExpressionSyntax u when u.IsKind(SyntaxKind.PostIncrementExpression) || u.IsKind(SyntaxKind.PostDecrementExpression) => u.Operand,
            PrefixUnaryExpressionSyntax u when u.IsKind(SyntaxKind.PreIncrementExpression) || u.IsKind(SyntaxKind.PreDecrementExpression) => u.Operand,
            _ => null,
        };

        // The target of a simple assignment is written, not read (a compound one's is both: counted by Reads as one read).
        private static bool IsAssignmentTarget(SyntaxNode name) =>
            name.Parent is AssignmentExpressionSyntax { RawKind: (int)SyntaxKind.SimpleAssignmentExpression } a && a.Left == name;

        private static Rest? Prepend(SyntaxList<StatementSyntax> statements, Rest? rest)
        {
            for (int i = statements.Count - 1; i >= 0; i--) rest = new Rest(statements[i], rest);
            return rest;
        }

        internal static RewriteException Error(DiagnosticDescriptor descriptor, SyntaxNode node, string why) =>
            new(DiagnosticInfo.Create(descriptor, node, descriptor == Diagnostics.UnsupportedLoop ? [why] : [FirstLine(node), why]));

        private static string FirstLine(SyntaxNode node)
        {
            var text = node.ToString();
            int end = text.IndexOfAny(['\r', '\n']);
            return end < 0 ? text : text.Substring(0, end).TrimEnd() + " ...";
        }
    }
}
