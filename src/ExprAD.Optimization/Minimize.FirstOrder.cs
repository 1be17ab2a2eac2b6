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
    /// strong-Wolfe line search of Moré and Thuente (1994) with c1 = 1e-4, c2 = 0.9 and a first trial step of 1. Before
    /// the first iteration one more evaluation, a step along -g that moves no coordinate by more than 1e-7, gives the
    /// first pair (a forward difference of the gradient): the first direction is then -γg with γ the inverse curvature
    /// of f along g, and its search is more exact (c2 = 0.2), as are searches from steepest descent. When that pair fails
    /// the curvature test, or the change of f over the step shows a kink (it does not match the trapezoid rule), it is
    /// not used and the first trial of steepest descent moves no coordinate by more than 1. A failed line
    /// search restarts once from steepest descent when history was in use; a second failure, or two searches in a row
    /// that lower f without meeting the Wolfe conditions (rounding), end the run with
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

        // The first pair: without one the first direction -g carries the scale of f, not of x, and no first trial step
        // suits every problem. A short step h along -g and the gradient there give s = -hg, y ≈ -h H g, and with them
        // γ = s'y/y'y = g'Hg/g'H²g (for a quadratic exactly), the inverse curvature along g; the pair then stays in the
        // history like any other. h moves no coordinate by more than ProbeLength, well above the rounding of x and short
        // enough for y to be the curvature at x0. The pair is stored only if f is smooth over the step: the change of f
        // must match the trapezoid rule ½(g + g₊)'s (for smooth f the error is O(h³), below rounding) within
        // ProbeMismatch of g's, beyond the rounding of f. A start on a kink of the gradient as computed (max, abs: the
        // softplus log(1 + e^z) written as max(z, 0) + log(1 + e^-|z|), at z = 0) fails it: there y measures the jump,
        // not the curvature (γ came out 2.6e-7, a curvature of 4e6, on the logistic example at w = 0). The curvature test of Add rejects a pair
        // along which f is not convex, or not finite. Without a pair, the first iteration is steepest descent.
        if (monitor.CanEvaluate)
        {
            double h = ProbeLength / gradientNorm;
            Vectors.Step(work.X, x, -h, g);
            double probeValue = f.Evaluate(work.X, work.G);
            monitor.Evaluations++;
            // g's and g₊'s with s = -hg.
            double firstOrder = -h * Vectors.Dot(g, g), probeFirstOrder = -h * Vectors.Dot(work.G, g);
            double mismatch = Math.Abs(probeValue - value - 0.5 * (firstOrder + probeFirstOrder));
            if (mismatch <= ProbeMismatch * Math.Abs(firstOrder) + 4 * MachineEpsilon * Math.Abs(value))
                history.Add(x, work.X, g, work.G);
        }

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
            // restart the trial moves x as far as the last step did. The first iteration's search and steepest-descent
            // searches also ask for a more nearly exact minimiser along d (c2 = FirstCurvature): the pair they give sets
            // γ, the scale of the next directions, and the first direction rests on a single difference pair only.
            bool steepest = history.Count == 0;
            double step = !steepest ? 1 : monitor.Iterations == 0 ? 1 / Vectors.NormInf(g) : lastLength / Math.Sqrt(-slope);
            double c2 = steepest || monitor.Iterations == 0 ? Math.Min(FirstCurvature, curvature) : curvature;
            var status = MoreThuente.Search(ref f, monitor, work, x, value, slope, d, step, c2);
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
    /// The curvature constant c2 of L-BFGS's first line search and its steepest-descent ones (restarts). Measured on the
    /// Moré–Garbow–Hillstrom problems of the tests (bench/README.md, "Optimisers against MathNet"): with the first pair
    /// from <see cref="ProbeLength"/>, 0.2 takes 728 evaluations in all and 45 on discrete boundary value n = 10, 0.1
    /// takes 730 and 50 there, 0.3 takes 762; c2 = 0.9 (a loose search) gave 875 in the first version.
    /// </summary>
    private const double FirstCurvature = 0.2;

    /// <summary>
    /// How far the step giving L-BFGS's first pair moves the largest coordinate. Any length from 1.5e-8 (√ε) to 6e-6 gave
    /// the same counts within a few evaluations on the Moré–Garbow–Hillstrom problems (725-742 in all); the count on
    /// trigonometric n = 1,000 is the most sensitive (54-67), and 1e-7 is among the lengths where it is lowest.
    /// </summary>
    private const double ProbeLength = 1e-7;

    /// <summary>
    /// How far (relative to the first-order change g's) the change of f over the first pair's step may differ from the
    /// trapezoid rule before the pair is taken for a step over a kink and not used. Smooth f differs by O(h³) (nothing
    /// at h = 1e-7); across the kink of the logistic example's softplus at w = 0 the difference was 0.25.
    /// </summary>
    private const double ProbeMismatch = 0.1;

    /// <summary>The spacing of doubles at 1 (2^-52): the rounding of f, relative to |f|, allowed in the probe's check.</summary>
    private const double MachineEpsilon = 2.220446049250313e-16;

    /// <summary>The result after a line search that lowered nothing: out of evaluations, or failed.</summary>
    private static MinimizeResult Stopped(RunMonitor monitor, LineSearchWork work, double[] x, double value, double gradientNorm) =>
        monitor.CanEvaluate
            ? monitor.Result(x, value, gradientNorm, StopReason.LineSearchFailed, work.Failure())
            : monitor.Result(x, value, gradientNorm, StopReason.MaxEvaluations);
}
