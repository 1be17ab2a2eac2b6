namespace ExprAD;

/// <summary>Which compiler turned a lowered trace into IL.</summary>
public enum CompilerKind
{
    /// <summary>FastExpressionCompiler (the fast path).</summary>
    FastExpressionCompiler,
    /// <summary><c>System.Linq.Expressions.LambdaExpression.Compile</c>, used when FastExpressionCompiler declines a tree.</summary>
    SystemLinqExpressions,
}

/// <summary>Facts about how an ExprAD delegate was produced; see <see cref="AD.GetCompilationInfo"/>.</summary>
public sealed class CompilationInfo
{
    internal CompilationInfo(CompilerKind compiler, int traceLength, int sourceTraceLength, TimeSpan compileTime)
    {
        Compiler = compiler;
        TraceLength = traceLength;
        SourceTraceLength = sourceTraceLength;
        CompileTime = compileTime;
    }

    /// <summary>The compiler that produced the delegate's code.</summary>
    public CompilerKind Compiler { get; }

    /// <summary>Instructions in the compiled (derivative) trace, after simplification and dead-code elimination.</summary>
    public int TraceLength { get; }

    /// <summary>Instructions in the trace of the original function.</summary>
    public int SourceTraceLength { get; }

    /// <summary>Time spent from the lambda to the compiled delegate (translation, transforms, lowering, IL compilation).</summary>
    public TimeSpan CompileTime { get; }

    /// <inheritdoc />
    public override string ToString() =>
        $"{Compiler}, {SourceTraceLength} -> {TraceLength} instructions, compiled in {CompileTime.TotalMilliseconds:F1} ms";
}
