namespace ExprAD.Optimization.LineSearch;

/// <summary>
/// Armijo backtracking (Nocedal and Wright, Algorithm 3.1 with the safeguarded quadratic interpolation of section 3.5):
/// from a first step α, while f(x + α d) &gt; f(x) + c1 α g'd, α becomes the minimiser of the quadratic through f(x),
/// g'd and f(x + α d), kept within [α/10, α/2]; a trial where f is not finite divides α by 4.
/// </summary>
internal static class Backtracking
{
    /// <summary>The most trial points of one search.</summary>
    public const int MaxTrials = 60;

    private const double C1 = 1e-4;

    /// <summary>
    /// Searches along <paramref name="d"/> from <paramref name="x"/> (f = <paramref name="f0"/>, directional derivative
    /// <paramref name="slope0"/> &lt; 0) from step <paramref name="step"/>; the accepted point is left in
    /// <see cref="LineSearchWork.AcceptedX"/> etc. unless the status is <see cref="LineSearchStatus.Failed"/>.
    /// </summary>
    public static LineSearchStatus Search<TObjective>(ref TObjective f, RunMonitor monitor, LineSearchWork w,
        ReadOnlySpan<double> x, double f0, double slope0, ReadOnlySpan<double> d, double step)
        where TObjective : struct, IGradientObjective
    {
        double stp = step;
        // The best trial that lowered f without sufficient decrease, kept in case the search ends without one.
        double bestStep = 0, bestValue = f0;
        w.Trials = w.NonFiniteTrials = 0;
        for (int trial = 0; trial < MaxTrials && monitor.CanEvaluate; trial++)
        {
            Vectors.Step(w.X, x, stp, d);
            // A step too small to change x cannot lower f: stop rather than evaluate the same point again.
            if (w.X.AsSpan().SequenceEqual(x)) break;
            double fp = f.Evaluate(w.X, w.G);
            monitor.Evaluations++;
            w.Trials++;
            if (!double.IsFinite(fp) || !Vectors.AllFinite(w.G))
            {
                w.NonFiniteTrials++;
                stp *= 0.25;
                continue;
            }
            if (fp <= f0 + C1 * stp * slope0)
            {
                w.AcceptedX = w.X;
                w.AcceptedG = w.G;
                w.AcceptedValue = fp;
                w.AcceptedStep = stp;
                return LineSearchStatus.Satisfied;
            }
            if (fp < bestValue)
            {
                w.KeepTrialAsBest();
                bestStep = stp;
                bestValue = fp;
            }
            // The quadratic q(α) = f0 + slope0 α + c α² with q(stp) = fp has its minimum at -slope0 stp² / (2 (fp - f0 - slope0 stp)).
            double next = -slope0 * stp * stp / (2 * (fp - f0 - slope0 * stp));
            stp = Math.Clamp(next, 0.1 * stp, 0.5 * stp);
        }
        if (bestStep == 0) return LineSearchStatus.Failed;
        w.AcceptedX = w.BestX;
        w.AcceptedG = w.BestG;
        w.AcceptedValue = bestValue;
        w.AcceptedStep = bestStep;
        return LineSearchStatus.Decrease;
    }
}
