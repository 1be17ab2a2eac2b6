using System.Linq.Expressions;
using System.Reflection;
using ExprAD.Caching;
using ExprAD.Codegen;
using ExprAD.Frontend;
using ExprAD.IR;
using ExprAD.Passes;
using ExprAD.Transforms;

namespace ExprAD.Tests;

/// <summary>What code generation makes of a gradient: the lowered expression tree, for tests that look at how a loop was emitted.</summary>
internal static class LoweredKernels
{
    /// <summary>The gradient kernel of <paramref name="f"/> as <see cref="AD.Gradient(Expression{Func{double[], double}}, ADOptions?)"/> lowers it, before IL.</summary>
    public static Expression Gradient(Expression<Func<double[], double>> f, ADOptions? options = null)
    {
        options ??= ADOptions.Default;
        var source = SingleIterationLoops.Apply(ExpressionTranslator.Translate(f, [ParameterRole.Array], StructuralKey.Of(f, "test").Constants));
        var inputs = source.Inputs().Select(v => source[v]).ToArray();
        var trace = AD.AfterReverse(ReverseMode.Apply(source, (b, _) => b.Constant(1.0)), options);
        return TraceLowering.Lower<GradientKernel>(trace, LoweringPlans.Gradient(trace, inputs) with { Options = options },
            chunk => KernelCompiler.Compile(chunk).Kernel);
    }

    /// <summary>The calls in <paramref name="tree"/> of methods that <paramref name="counts"/> accepts.</summary>
    public static int Calls(Expression tree, Func<MethodInfo, bool> counts)
    {
        var counter = new CallCounter(counts);
        counter.Visit(tree);
        return counter.Calls;
    }

    private sealed class CallCounter(Func<MethodInfo, bool> counts) : ExpressionVisitor
    {
        public int Calls;

        protected override Expression VisitMethodCall(MethodCallExpression node)
        {
            if (counts(node.Method)) Calls++;
            return base.VisitMethodCall(node);
        }
    }
}
