namespace ExprAD.Optimization;

/// <summary>
/// What the trust-region Newton loop needs of a second-order model of f: values and gradients at trial points, and
/// products with the Hessian at the current point (the last point passed to <see cref="Accept"/>).
/// </summary>
internal interface INewtonModel : IHessianOperator
{
    /// <summary>f at <paramref name="x"/>, its gradient into <paramref name="gradient"/>; whatever else the model keeps for x is held as the trial state.</summary>
    double Evaluate(ReadOnlySpan<double> x, Span<double> gradient);

    /// <summary>The last evaluated point becomes the current one (the caller has copied it into the array the model multiplies at).</summary>
    void Accept();

    /// <summary>Hessian-vector products or Hessian evaluations so far, as <see cref="MinimizeResult.HessianEvaluations"/> counts them.</summary>
    int HessianEvaluations { get; }

    /// <summary>Writes a positive diagonal preconditioner for the current point and returns true, or returns false when the model has none.</summary>
    bool Diagonal(Span<double> diagonal);
}

/// <summary>
/// The trust-region Newton method (Nocedal &amp; Wright, Algorithm 4.1) with steps from <see cref="SteihaugCG"/>: the ratio
/// ρ of actual to predicted reduction decides acceptance (ρ &gt; 1e-4) and the radius (¼ |p| when ρ &lt; ¼; doubled, up
/// to the maximum, when ρ &gt; ¾ and the step reached the boundary). An iteration is an accepted step; a rejected trial
/// costs an evaluation and shrinks the region.
/// </summary>
internal static class TrustRegion
{
    /// <summary>
    /// Makes |H_ii| (already written into <paramref name="diagonal"/>) a positive definite Jacobi preconditioner: entries
    /// below 1e-8 of the largest, or not finite, become that floor (1 when all are 0).
    /// </summary>
    internal static void FloorPreconditioner(Span<double> diagonal)
    {
        double largest = 0;
        foreach (var d in diagonal) if (d > largest) largest = d;
        double floor = largest > 0 && double.IsFinite(largest) ? 1e-8 * largest : 1;
        for (int i = 0; i < diagonal.Length; i++)
            if (!(diagonal[i] >= floor) || !double.IsFinite(diagonal[i])) diagonal[i] = floor;
    }

    /// <summary>The vectors of one run, allocated once.</summary>
    internal sealed class Workspace(int n)
    {
        /// <summary>The current point; the model multiplies at this array.</summary>
        public readonly double[] X = new double[n];
        public readonly double[] Gradient = new double[n];
        public readonly double[] Trial = new double[n];
        public readonly double[] TrialGradient = new double[n];
        public readonly double[] Step = new double[n];
        public readonly double[] Diagonal = new double[n];
        public readonly SteihaugCG.Workspace CG = new(n);
    }

    private const double AcceptRatio = 1e-4;

    /// <summary>Runs the method from <paramref name="x0"/>; <paramref name="quadraticForcing"/> picks η = min(½, |g|) over min(½, sqrt|g|).</summary>
    public static MinimizeResult Run<TModel>(ref TModel model, Workspace work, RunMonitor monitor, double[] x0, bool quadraticForcing)
        where TModel : struct, INewtonModel
    {
        monitor.Options.CheckTrustRegion();
        // Asks whether the model has a diagonal at all; what it writes now is replaced after the first evaluation.
        if (monitor.Options.JacobiPreconditioner && model.Diagonal(work.Diagonal))
            return Run(ref model, new DiagonalPreconditioner(work.Diagonal), work, monitor, x0, quadraticForcing, refreshDiagonal: true);
        return Run(ref model, new IdentityPreconditioner(), work, monitor, x0, quadraticForcing, refreshDiagonal: false);
    }

    private static MinimizeResult Run<TModel, TPreconditioner>(ref TModel model, TPreconditioner preconditioner, Workspace work, RunMonitor monitor,
        double[] x0, bool quadraticForcing, bool refreshDiagonal)
        where TModel : struct, INewtonModel
        where TPreconditioner : struct, IPreconditioner
    {
        var options = monitor.Options;
        double[] x = work.X, g = work.Gradient, trial = work.Trial, trialGradient = work.TrialGradient, p = work.Step;
        int n = x.Length;
        x0.CopyTo(trial);
        double f = model.Evaluate(trial, trialGradient);
        monitor.Evaluations++;
        RunMonitor.CheckStart(f, trialGradient);
        trial.CopyTo(x);
        trialGradient.CopyTo(g);
        model.Accept();
        if (refreshDiagonal) model.Diagonal(work.Diagonal);
        double gradientNorm = Vectors.NormInf(g);
        if (monitor.Start(f, gradientNorm, out var reason)) return Finish(ref model, monitor, x, f, gradientNorm, reason, null, 0);

        double radius = options.InitialTrustRadius;
        long cgIterations = 0;
        int maxCG = options.MaxCGIterations == 0 ? (int)Math.Min(20L * n, int.MaxValue) : options.MaxCGIterations;
        while (true)
        {
            double g2 = Vectors.Norm2(g);
            double eta = options.ForcingTerm ?? Math.Min(0.5, quadraticForcing ? g2 : Math.Sqrt(g2));
            double tolerance = eta * g2;
            double fTrial, stepLength;
            // Trial steps from x until one is accepted; each rejection shrinks the radius to a quarter of the step.
            while (true)
            {
                if (!monitor.CanEvaluate) return Finish(ref model, monitor, x, f, gradientNorm, StopReason.MaxEvaluations, null, cgIterations);
                if (options.Cancellation.IsCancellationRequested) return Finish(ref model, monitor, x, f, gradientNorm, StopReason.Cancelled, null, cgIterations);
                var exit = SteihaugCG.Solve(ref model, preconditioner, g, radius, tolerance, maxCG, p, work.CG, out int products, out double predicted, out double stepNorm);
                cgIterations += products;
                Vectors.Step(trial, x, 1, p);
                if (trial.AsSpan().SequenceEqual(x))
                    return Finish(ref model, monitor, x, f, gradientNorm, StopReason.LineSearchFailed,
                        $"the trust region shrank to radius {radius:G3}, where the step no longer changes x", cgIterations);
                fTrial = model.Evaluate(trial, trialGradient);
                monitor.Evaluations++;
                double actual = f - fTrial;
                double rho = predicted > 0 ? actual / predicted : double.NaN;
                // At the level of rounding in f the ratio is noise; a step that changes f by no more than that is
                // judged by the gradient instead: accepted when it makes the gradient smaller (the convergence test
                // reads the gradient), so that a minimum where f is large is still reached to the gradient tolerance.
                double noise = 1e-14 * Math.Abs(f);
                if (double.IsFinite(fTrial) && Math.Abs(actual) <= noise && Math.Abs(predicted) <= noise
                    && Vectors.Norm2(trialGradient) < Vectors.Norm2(g)) rho = 1;
                if (!double.IsFinite(fTrial) || !Vectors.AllFinite(trialGradient)) rho = double.NaN;
                if (!(rho >= 0.25)) radius = 0.25 * stepNorm;
                else if (rho > 0.75 && exit is SteihaugExit.Boundary or SteihaugExit.NegativeCurvature)
                    radius = Math.Min(2 * radius, options.MaxTrustRadius);
                if (rho > AcceptRatio)
                {
                    stepLength = Vectors.Norm2(p);
                    break;
                }
            }
            // The model multiplies at work.X, so the accepted point is copied there; the gradients just trade places.
            trial.CopyTo(x);
            (g, trialGradient) = (trialGradient, g);
            model.Accept();
            if (refreshDiagonal) model.Diagonal(work.Diagonal);
            double previous = f;
            f = fTrial;
            gradientNorm = Vectors.NormInf(g);
            if (monitor.Iterated(previous, f, gradientNorm, stepLength, out reason)) return Finish(ref model, monitor, x, f, gradientNorm, reason, null, cgIterations);
        }
    }

    private static MinimizeResult Finish<TModel>(ref TModel model, RunMonitor monitor, double[] x, double f, double gradientNorm, StopReason reason,
        string? detail, long cgIterations)
        where TModel : struct, INewtonModel
    {
        monitor.HessianEvaluations = model.HessianEvaluations;
        return monitor.Result(x, f, gradientNorm, reason, detail) with { CGIterations = (int)Math.Min(cgIterations, int.MaxValue) };
    }
}
