using ExprAD.Optimization.LineSearch;

namespace ExprAD.Optimization;

public static partial class Minimize
{
    /// <summary>
    /// Steepest descent with Armijo backtracking (sufficient decrease c1 = 1e-4, safeguarded quadratic interpolation).
    /// The first trial step moves x by a distance of 1; later ones expect the same first-order decrease as the last
    /// accepted step (Nocedal and Wright, (3.60)), doubled when that step was accepted at once.
    /// </summary>
    /// <param name="f">f and its gradient, e.g. from <see cref="AD.Gradient(System.Linq.Expressions.Expression{Func{double[], double}}, ADOptions?)"/>.</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="options">Stopping criteria and progress reporting; <see cref="MinimizeOptions.Default"/> when null.</param>
    /// <returns>The last point, why the run stopped, and its counts.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> or <paramref name="x0"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x0"/> has a non-finite element, or f or its gradient is not finite at it.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static MinimizeResult GradientDescent(GradientFunc f, double[] x0, MinimizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(x0);
        return GradientDescentCore(new GradientObjective(f), x0, options);
    }

    /// <summary><see cref="GradientDescent(GradientFunc, double[], MinimizeOptions?)"/> for an objective with data.</summary>
    /// <param name="f">f and its gradient, e.g. from <see cref="AD.Gradient{TData}(System.Linq.Expressions.Expression{Func{double[], TData, double}}, ADOptions?)"/>.</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="data">Passed to every call of <paramref name="f"/>.</param>
    /// <param name="options">Stopping criteria and progress reporting; <see cref="MinimizeOptions.Default"/> when null.</param>
    /// <returns>The last point, why the run stopped, and its counts.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> or <paramref name="x0"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x0"/> has a non-finite element, or f or its gradient is not finite at it.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static MinimizeResult GradientDescent<TData>(GradientFunc<TData> f, double[] x0, TData data, MinimizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(x0);
        return GradientDescentCore(new GradientObjective<TData>(f, data), x0, options);
    }

    /// <summary>
    /// Limited-memory BFGS: the two-loop recursion over the last <see cref="MinimizeOptions.History"/> correction pairs,
    /// initial inverse Hessian γI with γ = s'y/y'y of the newest pair, pairs with s'y &lt;= ε|s||y| skipped, and the
    /// strong-Wolfe line search of Moré and Thuente (1994) with c1 = 1e-4, c2 = 0.9 and a first trial step of 1. The first
    /// iteration (steepest descent) tries the step that moves no coordinate by more than 1 and searches more exactly
    /// (c2 = 0.1). A failed line search restarts once from steepest descent when history was in use; a second failure,
    /// or two searches in a row that lower f without meeting the Wolfe conditions (rounding), end the run with
    /// <see cref="StopReason.LineSearchFailed"/>.
    /// </summary>
    /// <param name="f">f and its gradient, e.g. from <see cref="AD.Gradient(System.Linq.Expressions.Expression{Func{double[], double}}, ADOptions?)"/>.</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="options">Stopping criteria, history size and progress reporting; <see cref="MinimizeOptions.Default"/> when null.</param>
    /// <returns>The last point, why the run stopped, and its counts.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> or <paramref name="x0"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x0"/> has a non-finite element, or f or its gradient is not finite at it.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (<see cref="MinimizeOptions.History"/> below 1, for example).</exception>
    public static MinimizeResult Lbfgs(GradientFunc f, double[] x0, MinimizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(x0);
        return LbfgsCore(new GradientObjective(f), x0, options);
    }

    /// <summary><see cref="Lbfgs(GradientFunc, double[], MinimizeOptions?)"/> for an objective with data.</summary>
    /// <param name="f">f and its gradient, e.g. from <see cref="AD.Gradient{TData}(System.Linq.Expressions.Expression{Func{double[], TData, double}}, ADOptions?)"/>.</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="data">Passed to every call of <paramref name="f"/>.</param>
    /// <param name="options">Stopping criteria, history size and progress reporting; <see cref="MinimizeOptions.Default"/> when null.</param>
    /// <returns>The last point, why the run stopped, and its counts.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/> or <paramref name="x0"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x0"/> has a non-finite element, or f or its gradient is not finite at it.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (<see cref="MinimizeOptions.History"/> below 1, for example).</exception>
    public static MinimizeResult Lbfgs<TData>(GradientFunc<TData> f, double[] x0, TData data, MinimizeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(x0);
        return LbfgsCore(new GradientObjective<TData>(f, data), x0, options);
    }

    private static MinimizeResult GradientDescentCore<TObjective>(TObjective f, double[] x0, MinimizeOptions? options)
        where TObjective : struct, IGradientObjective
    {
        int n = x0.Length;
        var monitor = new RunMonitor(options, n, x0);
        double[] x = (double[])x0.Clone(), g = new double[n], d = new double[n];
        var work = new LineSearchWork(n);
        double value = f.Evaluate(x, g);
        monitor.Evaluations++;
        RunMonitor.CheckStart(value, g);
        double gradientNorm = Vectors.NormInf(g);
        if (monitor.Start(value, gradientNorm, out var reason)) return monitor.Result(x, value, gradientNorm, reason);

        double previousStep = 0, previousSlope = 0;
        bool acceptedAtOnce = false;
        while (true)
        {
            for (int i = 0; i < n; i++) d[i] = -g[i];
            double slope = -Vectors.Dot(g, g);
            double step = previousStep == 0 ? 1 / Math.Sqrt(-slope) : previousStep * previousSlope / slope * (acceptedAtOnce ? 2 : 1);
            var status = Backtracking.Search(ref f, monitor, work, x, value, slope, d, step);
            if (status == LineSearchStatus.Failed)
                return Stopped(monitor, work, x, value, gradientNorm);
            acceptedAtOnce = work.AcceptedStep == step;
            previousStep = work.AcceptedStep;
            previousSlope = slope;
            double previous = value, length = work.AcceptedStep * Math.Sqrt(-slope);
            value = work.AcceptedValue;
            work.TakeAccepted(ref x, ref g);
            gradientNorm = Vectors.NormInf(g);
            if (monitor.Iterated(previous, value, gradientNorm, length, out reason)) return monitor.Result(x, value, gradientNorm, reason);
        }
    }

    /// <summary>
    /// L-BFGS with the line search's curvature constant c2 given (<see cref="MoreThuente.C2"/> in the public methods; the
    /// tests pass a small one for a nearly exact line search, under which L-BFGS with History &gt;= n ends on a quadratic
    /// in n iterations).
    /// </summary>
    internal static MinimizeResult LbfgsCore<TObjective>(TObjective f, double[] x0, MinimizeOptions? options, double curvature = MoreThuente.C2)
        where TObjective : struct, IGradientObjective
    {
        int n = x0.Length;
        var monitor = new RunMonitor(options, n, x0);
        if (monitor.Options.History < 1) throw new ArgumentOutOfRangeException(nameof(options), "History must be at least 1.");
        double[] x = (double[])x0.Clone(), g = new double[n], d = new double[n];
        var work = new LineSearchWork(n);
        var history = new LbfgsHistory(monitor.Options.History, n);
        double value = f.Evaluate(x, g);
        monitor.Evaluations++;
        RunMonitor.CheckStart(value, g);
        double gradientNorm = Vectors.NormInf(g);
        if (monitor.Start(value, gradientNorm, out var reason)) return monitor.Result(x, value, gradientNorm, reason);

        // The length of the last step in x: after a restart from steepest descent, the first trial moves this far again.
        double lastLength = 0;
        bool restarted = false;
        while (true)
        {
            history.Direction(g, d);
            double slope = Vectors.Dot(g, d);
            if (!(slope < 0))
            {
                // Rounding made -Hg no descent direction: the pairs are no longer trustworthy.
                history.Clear();
                history.Direction(g, d);
                slope = Vectors.Dot(g, d);
            }
            // With pairs, H is scaled to the curvature (γ), so the unit step is the natural first trial. Without, d = -g
            // carries the scale of f instead: the first iteration's trial moves no coordinate by more than 1, and after a
            // restart the trial moves x as far as the last step did. A steepest-descent search also asks for a nearly
            // exact minimiser along d (c2 = 0.1): the pair it gives sets γ, the scale of every later direction.
            bool steepest = history.Count == 0;
            double step = !steepest ? 1 : monitor.Iterations == 0 ? 1 / Vectors.NormInf(g) : lastLength / Math.Sqrt(-slope);
            var status = MoreThuente.Search(ref f, monitor, work, x, value, slope, d, step, steepest ? Math.Min(SteepestCurvature, curvature) : curvature);
            if (status == LineSearchStatus.Failed)
            {
                if (!steepest && !restarted && monitor.CanEvaluate)
                {
                    history.Clear();
                    restarted = true;
                    continue;
                }
                return Stopped(monitor, work, x, value, gradientNorm);
            }
            history.Add(x, work.AcceptedX, g, work.AcceptedG);
            double previous = value;
            lastLength = work.AcceptedStep * Vectors.Norm2(d);
            value = work.AcceptedValue;
            work.TakeAccepted(ref x, ref g);
            gradientNorm = Vectors.NormInf(g);
            if (monitor.Iterated(previous, value, gradientNorm, lastLength, out reason)) return monitor.Result(x, value, gradientNorm, reason);
            if (status == LineSearchStatus.Decrease)
            {
                // f went down but no step met the Wolfe conditions: near the resolution of f, rounding decides the
                // trials. Steepest descent gets one more try; a second such search in a row ends the run, rather than
                // spending MaxTrials evaluations per iteration on changes of f at the rounding level.
                if (restarted || steepest)
                    return monitor.Result(x, value, gradientNorm, StopReason.LineSearchFailed,
                        work.NonFiniteTrials > 0
                            ? $"no step satisfied the Wolfe conditions ({work.NonFiniteTrials} of {work.Trials} trial points had a non-finite f or gradient; the best lowered f by {previous - value:G3})"
                            : $"no step satisfied the Wolfe conditions (the best of {work.Trials} trial points lowered f by {previous - value:G3}, at the rounding level of f)");
                history.Clear();
                restarted = true;
            }
            else restarted = false;
        }
    }

    /// <summary>
    /// The curvature constant c2 of L-BFGS's steepest-descent line searches (the first iteration and restarts). Measured
    /// on the Moré–Garbow–Hillstrom problems of the tests (bench/README.md, "Optimisers against MathNet"): 738
    /// evaluations in all with 0.1 and a first trial of 1/|g|∞, 875 with c2 = 0.9 and a first move of length 1.
    /// </summary>
    private const double SteepestCurvature = 0.1;

    /// <summary>The result after a line search that lowered nothing: out of evaluations, or failed.</summary>
    private static MinimizeResult Stopped(RunMonitor monitor, LineSearchWork work, double[] x, double value, double gradientNorm) =>
        monitor.CanEvaluate
            ? monitor.Result(x, value, gradientNorm, StopReason.LineSearchFailed, work.Failure())
            : monitor.Result(x, value, gradientNorm, StopReason.MaxEvaluations);
}
