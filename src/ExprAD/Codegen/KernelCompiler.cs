using System.Diagnostics;
using System.Linq.Expressions;
using FastExpressionCompiler;

namespace ExprAD.Codegen;

/// <summary>Compiles lowered lambdas: FastExpressionCompiler first, System.Linq.Expressions when it declines.</summary>
internal static class KernelCompiler
{
    public static (TDelegate Kernel, CompilerKind Compiler, TimeSpan Elapsed) Compile<TDelegate>(Expression<TDelegate> lambda)
        where TDelegate : Delegate
    {
        var clock = Stopwatch.StartNew();
        // CompileFast(true) returns null instead of silently falling back, so the fallback is known and recorded.
        var fast = lambda.CompileFast(ifFastFailedReturnNull: true);
        if (fast is not null) return (fast, CompilerKind.FastExpressionCompiler, clock.Elapsed);
        var slow = lambda.Compile();
        return (slow, CompilerKind.SystemLinqExpressions, clock.Elapsed);
    }
}
