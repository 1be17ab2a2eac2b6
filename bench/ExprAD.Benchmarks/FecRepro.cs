using System.Linq.Expressions;
using FastExpressionCompiler;

namespace ExprAD.Benchmarks;

/// <summary>
/// `--fec-repro`: FastExpressionCompiler 6.0.0 sometimes declines a block with thousands of
/// variables (reason ParameterIsNotVariableNorInPassedParameters) and accepts the same shape on
/// the next try. ExprAD then falls back to System.Linq.Expressions, which is correct but slower;
/// reverse-mode kernels of long traces have that many locals (the tape), so their compile time
/// varies from run to run.
/// </summary>
public static class FecRepro
{
    public static void Run()
    {
        foreach (var k in new[] { 1_000, 5_000, 10_000, 50_000 })
        {
            int failed = 0, tries = 20;
            for (int r = 0; r < tries; r++)
            {
                var p = Expression.Parameter(typeof(double), "p");
                var vars = Enumerable.Range(0, k).Select(i => Expression.Variable(typeof(double), "v" + i)).ToArray();
                var body = vars.Select(v => (Expression)Expression.Assign(v, Expression.Add(p, Expression.Constant(1.0)))).ToList();
                body.Add(vars[^1]);
                var lambda = Expression.Lambda<Func<double, double>>(Expression.Block(typeof(double), vars, body), p);
                try
                {
                    if (lambda.CompileFast(ifFastFailedReturnNull: true, flags: CompilerFlags.ThrowOnNotSupportedExpression) is null) failed++;
                }
                catch (NotSupportedExpressionException e) when (e.Reason == ExpressionCompiler.Result.ParameterIsNotVariableNorInPassedParameters)
                {
                    failed++;
                }
            }
            Console.WriteLine($"block with {k,6} variables: FastExpressionCompiler declined {failed} of {tries} compilations");
        }
    }
}
