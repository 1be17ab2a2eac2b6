using ExprAD.Optimization;
using ExprAD.Optimization.Tests;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.Optimization;

namespace ExprAD.Benchmarks;

/// <summary>The minimisers compared on the Moré–Garbow–Hillstrom problems (issue 11 section 2).</summary>
public enum Method
{
    /// <summary>ExprAD.Optimization's <see cref="Minimize.Lbfgs(GradientFunc, double[], MinimizeOptions?)"/>, history 10.</summary>
    ExprADLbfgs,
    /// <summary>MathNet.Numerics 5.0.0's <see cref="LimitedMemoryBfgsMinimizer"/>, memory 10, fed by the ExprAD gradient.</summary>
    MathNetLbfgs,
    /// <summary>MathNet.Numerics 5.0.0's <see cref="BfgsMinimizer"/> (dense inverse Hessian), fed by the ExprAD gradient.</summary>
    MathNetBfgs,
}

/// <summary>How one run ended.</summary>
/// <param name="Solved">A point with gradient infinity norm at most 1e-6 was reached.</param>
/// <param name="Value">f at the last point (for MathNet: at the first point that solved the problem, or its last point).</param>
/// <param name="GradientNorm">The gradient's infinity norm there.</param>
/// <param name="Iterations">Iterations (MathNet: as it reports them; unknown, -1, when the run was stopped from the objective).</param>
/// <param name="Evaluations">Calls of the gradient function.</param>
/// <param name="Note">Why it stopped.</param>
public readonly record struct RunOutcome(bool Solved, double Value, double GradientNorm, int Iterations, int Evaluations, string Note);

/// <summary>
/// One run of each method on a problem. MathNet is given <c>ObjectiveFunction.Gradient</c> over a wrapper that copies
/// its vector into the ExprAD gradient's span and the gradient into a new MathNet vector (it keeps each one), and counts
/// the calls. MathNet's own test is a relative gradient (|g_i| max(|x_i|, 1) / max(|f|, 1) &lt; tolerance, and the
/// Euclidean norm in L-BFGS's loop), not |g|∞ &lt;= 1e-6; so that both sides answer the same question, the wrapper stops
/// a MathNet run (by an exception the runner catches) at the first evaluation whose gradient has |g|∞ &lt;= 1e-6, even one
/// inside a line search, and its evaluations and time are counted up to there: a count as favourable to MathNet as
/// can be. Its own tolerances are the 1e-6 (gradient), 0 (parameter and function progress), and its iteration
/// limit 100,000.
/// </summary>
public static class MinimizerRuns
{
    /// <summary>The criterion: |g|∞ &lt;= this.</summary>
    public const double Tolerance = 1e-6;

    /// <summary>L-BFGS history (ExprAD) and memory (MathNet).</summary>
    public const int History = 10;

    /// <summary>The largest n MathNet's dense BFGS is run at (its n x n inverse Hessian at n = 10,000 would be 800 MB, updated at O(n²) per iteration).</summary>
    public const int MaxBfgsSize = 1_000;

    private sealed class SolvedException : Exception;

    /// <summary>Runs <paramref name="method"/> on <paramref name="problem"/> with its compiled <paramref name="gradient"/>.</summary>
    public static RunOutcome Run(Method method, MoreGarbowHillstrom.Problem problem, GradientFunc gradient) => method switch
    {
        Method.ExprADLbfgs => RunExprAD(problem, gradient),
        _ => RunMathNet(method, problem, gradient),
    };

    private static RunOutcome RunExprAD(MoreGarbowHillstrom.Problem problem, GradientFunc gradient)
    {
        var result = Minimize.Lbfgs(gradient, problem.Start, new MinimizeOptions { GradientTolerance = Tolerance, History = History });
        return new RunOutcome(result.GradientNorm <= Tolerance, result.Value, result.GradientNorm, result.Iterations, result.Evaluations, result.StopReason.ToString());
    }

    private static RunOutcome RunMathNet(Method method, MoreGarbowHillstrom.Problem problem, GradientFunc gradient)
    {
        int n = problem.N, evaluations = 0;
        double value = double.NaN, norm = double.NaN;
        // MathNet's BFGS wraps any exception from a line search into its own, so the flag, not the exception type, says
        // whether the run was stopped because it had solved the problem.
        bool solved = false;
        var objective = ObjectiveFunction.Gradient(v =>
        {
            double[] x = v.AsArray() ?? v.ToArray();
            var g = new double[n];
            double f = gradient(x, g);
            evaluations++;
            value = f;
            norm = 0;
            foreach (var e in g) norm = Math.Max(norm, Math.Abs(e));
            if (norm <= Tolerance)
            {
                solved = true;
                throw new SolvedException();
            }
            return (f, Vector<double>.Build.Dense(g));
        });
        var start = Vector<double>.Build.DenseOfArray((double[])problem.Start.Clone());
        try
        {
            MinimizationResult result = method == Method.MathNetLbfgs
                ? new LimitedMemoryBfgsMinimizer(Tolerance, 0, 0, History, 100_000).FindMinimum(objective, start)
                : new BfgsMinimizer(Tolerance, 0, 0, 100_000).FindMinimum(objective, start);
            // Stopped by its own criteria before any evaluation had |g|∞ <= 1e-6.
            return new RunOutcome(false, value, norm, result.Iterations, evaluations, $"its {result.ReasonForExit} test");
        }
        catch (Exception) when (solved)
        {
            return new RunOutcome(true, value, norm, -1, evaluations, "reached |g| <= 1e-6");
        }
        catch (Exception e) when (e is OptimizationException or ArgumentException)
        {
            return new RunOutcome(false, value, norm, -1, evaluations, $"{e.GetType().Name}: {e.Message}");
        }
    }
}
