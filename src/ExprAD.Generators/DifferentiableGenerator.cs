using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace ExprAD.Generators
{
    /// <summary>
    /// The [Differentiable] source generator: for each static method marked <c>ExprAD.DifferentiableAttribute</c>, it rewrites the
    /// body into an expression (locals substituted or bound once, if/else as <c>?:</c>, for loops as sums) and emits a module
    /// initializer that registers that expression with ExprAD, which then inlines calls of the method in the lambdas it
    /// differentiates. Bodies it cannot rewrite, and recursion among such methods, are build errors (EXPRAD001..EXPRAD006).
    /// </summary>
    [Generator(LanguageNames.CSharp)]
    public sealed class DifferentiableGenerator : IIncrementalGenerator
    {
        private const string AttributeName = "ExprAD.DifferentiableAttribute";

        /// <inheritdoc />
        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            var methods = context.SyntaxProvider.ForAttributeWithMetadataName(AttributeName,
                static (node, _) => node is MethodDeclarationSyntax or LocalFunctionStatementSyntax,
                static (attributed, cancellation) => MethodTranslator.Translate(attributed, cancellation));
            // Recursion is a property of all the methods together: they are looked at as one set.
            context.RegisterSourceOutput(methods.Collect(), static (output, all) => Emit(output, all));
        }

        private static void Emit(SourceProductionContext output, ImmutableArray<MethodModel> all)
        {
            var byId = new Dictionary<string, MethodModel>();
            foreach (var model in all)
                if (!byId.ContainsKey(model.Id)) byId.Add(model.Id, model);
            var cycles = Cycles(byId);
            foreach (var model in byId.Values)
            {
                foreach (var diagnostic in model.Diagnostics) output.ReportDiagnostic(diagnostic.ToDiagnostic());
                if (cycles.TryGetValue(model.Id, out var cycle))
                {
                    // Reported at the call that starts the cycle, in every method on it.
                    var call = model.Calls.First(c => c.CalleeId == cycle[1]);
                    var path = string.Join(" -> ", cycle.Select(id => byId[id].DisplayName));
                    output.ReportDiagnostic(Diagnostic.Create(Diagnostics.Recursion, call.Location.ToLocation(), model.DisplayName, path));
                    continue;
                }
                if (model.Source is { } source) output.AddSource(model.HintName, source);
            }
        }

        /// <summary>
        /// For each method on a cycle of calls, a shortest such cycle (the method first and last), found breadth-first from the
        /// method's callees back to it.
        /// </summary>
        private static Dictionary<string, List<string>> Cycles(Dictionary<string, MethodModel> byId)
        {
            var callees = byId.ToDictionary(p => p.Key, p => p.Value.Calls.Select(c => c.CalleeId).Where(byId.ContainsKey).Distinct().ToList());
            var cycles = new Dictionary<string, List<string>>();
            foreach (var start in callees.Keys)
            {
                var previous = new Dictionary<string, string>();
                var queue = new Queue<string>();
                foreach (var callee in callees[start])
                {
                    previous[callee] = start;
                    queue.Enqueue(callee);
                }
                while (queue.Count > 0 && !previous.ContainsKey(start))
                {
                    var node = queue.Dequeue();
                    foreach (var callee in callees[node])
                    {
                        if (previous.ContainsKey(callee)) continue;
                        previous[callee] = node;
                        queue.Enqueue(callee);
                    }
                }
                if (!previous.ContainsKey(start)) continue;
                var path = new List<string> { start };
                for (var node = previous[start]; node != start; node = previous[node]) path.Insert(1, node);
                path.Add(start);
                cycles[start] = path;
            }
            return cycles;
        }
    }
}
