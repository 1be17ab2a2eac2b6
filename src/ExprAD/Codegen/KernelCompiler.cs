using System.Linq.Expressions;
using FastExpressionCompiler;

namespace ExprAD.Codegen;

/// <summary>Compiles lowered lambdas: FastExpressionCompiler first, System.Linq.Expressions when it declines.</summary>
internal static class KernelCompiler
{
    public static (TDelegate Kernel, CompilerKind Compiler) Compile<TDelegate>(Expression<TDelegate> lambda)
        where TDelegate : Delegate
    {
        var (kernel, compiler) = Compile((LambdaExpression)lambda);
        return ((TDelegate)kernel, compiler);
    }

    public static (Delegate Kernel, CompilerKind Compiler) Compile(LambdaExpression lambda)
    {
        // CompileFast(true) returns null instead of silently falling back, so the fallback is known and recorded.
        var fast = lambda.CompileFast(ifFastFailedReturnNull: true);
        return fast is not null ? (fast, CompilerKind.FastExpressionCompiler) : (lambda.Compile(), CompilerKind.SystemLinqExpressions);
    }
}
