namespace ExprAD.Optimization.LineSearch;

/// <summary>How a line search ended.</summary>
internal enum LineSearchStatus
{
    /// <summary>The accepted step satisfies the strong Wolfe conditions (or, for backtracking, the Armijo condition).</summary>
    Satisfied,
    /// <summary>
    /// The conditions were not met (rounding, an interval too small, too many trials, the evaluation budget spent), but the
    /// best trial lowered f: the step to it is taken.
    /// </summary>
    Decrease,
    /// <summary>No trial lowered f.</summary>
    Failed,
}

/// <summary>
/// The trial points of a line search along d from x: the current trial (<see cref="X"/>, <see cref="G"/>) and the best
/// point so far (<see cref="BestX"/>, <see cref="BestG"/>). Allocated once per run; a trial that becomes the best swaps
/// buffers instead of copying.
/// </summary>
internal sealed class LineSearchWork(int n)
{
    public double[] X = new double[n], G = new double[n], BestX = new double[n], BestG = new double[n];

    /// <summary>After a search: the accepted point, its gradient, f there and the step length along d.</summary>
    public double[] AcceptedX = null!, AcceptedG = null!;
    public double AcceptedValue, AcceptedStep;

    /// <summary>Trial points of the last search, and how many of them had a non-finite f or gradient.</summary>
    public int Trials, NonFiniteTrials;

    /// <summary>The trial point becomes the best point (their buffers are exchanged).</summary>
    public void KeepTrialAsBest() => (X, G, BestX, BestG) = (BestX, BestG, X, G);

    /// <summary>
    /// Exchanges the accepted point and gradient with <paramref name="x"/> and <paramref name="g"/>: afterwards they hold
    /// the accepted point and the old buffers serve as trial buffers.
    /// </summary>
    public void TakeAccepted(ref double[] x, ref double[] g)
    {
        if (ReferenceEquals(AcceptedX, X)) { (x, X) = (X, x); (g, G) = (G, g); }
        else { (x, BestX) = (BestX, x); (g, BestG) = (BestG, g); }
        AcceptedX = AcceptedG = null!;
    }

    /// <summary>Why the last search failed, in words.</summary>
    public string Failure() => NonFiniteTrials > 0
        ? $"{NonFiniteTrials} of its {Trials} trial points had a non-finite f or gradient, and none of the others lowered f"
        : $"none of its {Trials} trial points lowered f";
}

/// <summary>
/// The line search of Moré and Thuente (1994), "Line search algorithms with guaranteed sufficient decrease", ACM TOMS 20:
/// it finds a step α &gt; 0 along a descent direction d with
/// f(x + α d) &lt;= f(x) + c1 α g'd (sufficient decrease) and |g(x + α d)'d| &lt;= c2 |g'd| (curvature), by the paper's
/// interval updates on the bracket [stx, sty] and its safeguarded cubic/quadratic/secant steps.
/// </summary>
/// <remarks>
/// Invariants (the paper's): stx is the best step so far (lowest value of ψ(α) = f(α) - f(0) - c1 α f'(0) while in
/// stage 1, of f afterwards), so f(stx) &lt;= f(0) always; once bracketed, the interval between stx and sty contains a
/// step satisfying the conditions; the derivative at stx points toward sty, (sty - stx)·f'(stx) &lt; 0.
/// A trial point where f or its gradient is not finite is not interpolated: the step is halved toward stx and the
/// largest allowed step lowered below it, so that no later trial returns there.
/// </remarks>
internal static class MoreThuente
{
    /// <summary>The most trial points of one search (the non-finite back-offs included).</summary>
    public const int MaxTrials = 50;

    /// <summary>The sufficient-decrease constant c1.</summary>
    public const double C1 = 1e-4;
    /// <summary>The curvature constant c2 of L-BFGS (a loose search: the unit step is usually accepted at once).</summary>
    public const double C2 = 0.9;
    // The relative width of the bracket below which the search stops, and the step bounds.
    private const double XTol = 1e-15, StepMin = 1e-20, StepMax = 1e20;
    // Before a bracket is found, the next trial lies in [stp + 1.1 (stp - stx), stp + 4 (stp - stx)].
    private const double ExtrapolateLow = 1.1, ExtrapolateHigh = 4.0;

    /// <summary>
    /// Searches along <paramref name="d"/> from <paramref name="x"/> (f = <paramref name="f0"/>, directional derivative
    /// <paramref name="slope0"/> &lt; 0), starting with step <paramref name="step"/>. The accepted point is left in
    /// <see cref="LineSearchWork.AcceptedX"/> etc. unless the status is <see cref="LineSearchStatus.Failed"/>.
    /// <paramref name="curvature"/> is c2 (a small value makes the search nearly exact).
    /// </summary>
    public static LineSearchStatus Search<TObjective>(ref TObjective f, RunMonitor monitor, LineSearchWork w,
        ReadOnlySpan<double> x, double f0, double slope0, ReadOnlySpan<double> d, double step, double curvature = C2)
        where TObjective : struct, IGradientObjective
    {
        bool bracketed = false, stage1 = true;
        double decreaseSlope = C1 * slope0;
        double width = StepMax - StepMin, previousWidth = 2 * width;
        // stx: the best step; sty: the other end of the interval. Both start at 0.
        double stx = 0, fx = f0, gx = slope0, sty = 0, fy = f0, gy = slope0;
        double maxStep = StepMax;
        double stp = Math.Clamp(step, StepMin, StepMax);
        double lower = 0, upper = stp + ExtrapolateHigh * stp;
        // Whether the best point's buffers hold a trial (stx > 0).
        bool haveBest = false;
        w.Trials = w.NonFiniteTrials = 0;

        for (int trial = 0; ; trial++)
        {
            if (trial >= MaxTrials || !monitor.CanEvaluate) return Finish(w, haveBest, stx, fx);
            Vectors.Step(w.X, x, stp, d);
            double fp = f.Evaluate(w.X, w.G);
            monitor.Evaluations++;
            w.Trials++;
            double gp = Vectors.Dot(w.G, d);
            if (!double.IsFinite(fp) || !double.IsFinite(gp))
            {
                w.NonFiniteTrials++;
                // Back off toward the best point: f is undefined (or overflows) here, so no interpolation can use it.
                if (stp > stx) maxStep = stp;
                stp = stx + 0.5 * (stp - stx);
                if (Math.Abs(stp - stx) <= XTol * stp) return Finish(w, haveBest, stx, fx);
                continue;
            }

            double sufficient = f0 + stp * decreaseSlope;
            if (fp <= sufficient && Math.Abs(gp) <= -curvature * slope0)
            {
                w.AcceptedX = w.X;
                w.AcceptedG = w.G;
                w.AcceptedValue = fp;
                w.AcceptedStep = stp;
                return LineSearchStatus.Satisfied;
            }
            // The paper's failure tests: rounding prevents progress, the bracket is too small, or a bound was reached.
            if ((bracketed && (stp <= lower || stp >= upper)) || (bracketed && upper - lower <= XTol * upper)
                || (stp >= maxStep && fp <= sufficient && gp <= decreaseSlope) || (stp <= StepMin && (fp > sufficient || gp >= decreaseSlope)))
            {
                if (fp < fx) { w.KeepTrialAsBest(); haveBest = true; stx = stp; fx = fp; }
                return Finish(w, haveBest, stx, fx);
            }

            // Stage 2 starts once a step has sufficient decrease and a non-negative derivative.
            if (stage1 && fp <= sufficient && gp >= Math.Min(C1, curvature) * slope0) stage1 = false;

            bool newBest;
            if (stage1 && fp <= fx && fp > sufficient)
            {
                // Stage 1 works on the modified function ψ(α) = f(α) - c1 α f'(0), whose values at the ends are shifted.
                double fxm = fx - stx * decreaseSlope, fym = fy - sty * decreaseSlope, fpm = fp - stp * decreaseSlope;
                double gxm = gx - decreaseSlope, gym = gy - decreaseSlope, gpm = gp - decreaseSlope;
                newBest = Step(ref stx, ref fxm, ref gxm, ref sty, ref fym, ref gym, ref stp, fpm, gpm, ref bracketed, lower, upper);
                fx = fxm + stx * decreaseSlope; fy = fym + sty * decreaseSlope;
                gx = gxm + decreaseSlope; gy = gym + decreaseSlope;
            }
            else
            {
                newBest = Step(ref stx, ref fx, ref gx, ref sty, ref fy, ref gy, ref stp, fp, gp, ref bracketed, lower, upper);
            }
            if (newBest) { w.KeepTrialAsBest(); haveBest = true; }

            // A bisection when the bracket did not shrink enough over two steps (the paper's factor 0.66).
            if (bracketed)
            {
                if (Math.Abs(sty - stx) >= 0.66 * previousWidth) stp = stx + 0.5 * (sty - stx);
                previousWidth = width;
                width = Math.Abs(sty - stx);
                lower = Math.Min(stx, sty);
                upper = Math.Max(stx, sty);
            }
            else
            {
                lower = stp + ExtrapolateLow * (stp - stx);
                upper = stp + ExtrapolateHigh * (stp - stx);
            }
            stp = Math.Clamp(stp, StepMin, StepMax);
            // A step at or beyond a point where f was not finite is pulled back halfway to the best point.
            if (stp >= maxStep) stp = stx + 0.5 * (maxStep - stx);
            // No further progress is possible (the paper then evaluates stx again; its buffers already hold it).
            if (bracketed && (stp <= lower || stp >= upper || upper - lower <= XTol * upper)) return Finish(w, haveBest, stx, fx);
        }
    }

    private static LineSearchStatus Finish(LineSearchWork w, bool haveBest, double stx, double fx)
    {
        if (!haveBest) return LineSearchStatus.Failed;
        w.AcceptedX = w.BestX;
        w.AcceptedG = w.BestG;
        w.AcceptedValue = fx;
        w.AcceptedStep = stx;
        return LineSearchStatus.Decrease;
    }

    /// <summary>
    /// One safeguarded step of the paper (section 4, and MINPACK-2's dcstep that implements it): from the interval ends
    /// (stx, fx, dx), (sty, fy, dy) and the trial (stp, fp, dp), updates the interval and returns the next trial in
    /// <paramref name="stp"/>, kept within [<paramref name="min"/>, <paramref name="max"/>] while unbracketed. Returns
    /// true when the trial became stx (the best point).
    /// </summary>
    internal static bool Step(ref double stx, ref double fx, ref double dx, ref double sty, ref double fy, ref double dy,
        ref double stp, double fp, double dp, ref bool bracketed, double min, double max)
    {
        double sign = dp * Math.Sign(dx);
        double next;
        if (fp > fx)
        {
            // Case 1, a higher value: the minimiser is bracketed. Cubic step unless it lies farther from stx than the
            // quadratic one, then their average.
            double cubic = CubicMinimiser(stx, fx, dx, stp, fp, dp, clampToBound: false, min, max);
            double quadratic = stx + dx / ((fx - fp) / (stp - stx) + dx) / 2 * (stp - stx);
            next = Math.Abs(cubic - stx) < Math.Abs(quadratic - stx) ? cubic : cubic + (quadratic - cubic) / 2;
            bracketed = true;
        }
        else if (sign < 0)
        {
            // Case 2, derivatives of opposite sign: bracketed; the step (cubic or secant) farther from stp.
            double cubic = CubicMinimiser(stp, fp, dp, stx, fx, dx, clampToBound: false, min, max);
            double secant = stp + dp / (dp - dx) * (stx - stp);
            next = Math.Abs(cubic - stp) > Math.Abs(secant - stp) ? cubic : secant;
            bracketed = true;
        }
        else if (Math.Abs(dp) < Math.Abs(dx))
        {
            // Case 3, same sign and the derivative shrinks: the cubic may have no minimiser beyond stp, then a bound.
            double cubic = CubicMinimiser(stp, fp, dp, stx, fx, dx, clampToBound: true, min, max);
            double secant = stp + dp / (dp - dx) * (stx - stp);
            if (bracketed)
            {
                next = Math.Abs(cubic - stp) < Math.Abs(secant - stp) ? cubic : secant;
                // Stay within two thirds of the way to sty, so that the bracket shrinks.
                next = stp > stx ? Math.Min(stp + 0.66 * (sty - stp), next) : Math.Max(stp + 0.66 * (sty - stp), next);
            }
            else
            {
                next = Math.Abs(cubic - stp) > Math.Abs(secant - stp) ? cubic : secant;
                next = Math.Clamp(next, min, max);
            }
        }
        else
        {
            // Case 4, same sign and the derivative does not shrink: the cubic through stp and sty, or a bound.
            if (bracketed) next = CubicMinimiser(stp, fp, dp, sty, fy, dy, clampToBound: false, min, max);
            else next = stp > stx ? max : min;
        }

        bool newBest = false;
        if (fp > fx)
        {
            sty = stp; fy = fp; dy = dp;
        }
        else
        {
            if (sign < 0) { sty = stx; fy = fx; dy = dx; }
            stx = stp; fx = fp; dx = dp;
            newBest = true;
        }
        stp = next;
        return newBest;
    }

    /// <summary>
    /// The minimiser of the cubic interpolating values and derivatives at a and b, computed in the scaled form of the paper
    /// to avoid overflow. With <paramref name="clampToBound"/>, a cubic without a minimiser in the direction from b to a
    /// (or a zero curvature term) gives the bound on that side instead.
    /// </summary>
    private static double CubicMinimiser(double a, double fa, double da, double b, double fb, double db, bool clampToBound, double min, double max)
    {
        double theta = 3 * (fb - fa) / (a - b) + db + da;
        double s = Math.Max(Math.Abs(theta), Math.Max(Math.Abs(da), Math.Abs(db)));
        double discriminant = (theta / s) * (theta / s) - (db / s) * (da / s);
        double gamma = s * Math.Sqrt(Math.Max(0, discriminant));
        if (a > b) gamma = -gamma;
        double p = (gamma - da) + theta;
        double q = clampToBound ? (gamma + (db - da)) + gamma : ((gamma - da) + gamma) + db;
        double r = p / q;
        if (clampToBound && !(r < 0 && gamma != 0)) return a > b ? max : min;
        return a + r * (b - a);
    }
}
