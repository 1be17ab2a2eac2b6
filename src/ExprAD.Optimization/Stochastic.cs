using System.Diagnostics;

namespace ExprAD.Optimization;

/// <summary>
/// Minibatch minimisers of f(x, batch) over a data set of samples: plain or momentum SGD, Adam, and stochastic
/// meta-descent (SMD) with exact Hessian-vector products. f receives each batch as a plain array of samples and is
/// expected to be a sum or a mean over it. Every epoch visits the samples in a fresh order drawn from
/// <see cref="StochasticOptions.Seed"/> (<see cref="StochasticOptions"/>), so a seed fixes the whole run.
/// </summary>
/// <remarks>
/// The result's <see cref="MinimizeResult.X"/> is the last iterate; its <see cref="MinimizeResult.Value"/> and
/// <see cref="MinimizeResult.GradientNorm"/> come from one evaluation of f on the whole data set at that point, made at the
/// end of the run (a step's own loss is that of its batch). <see cref="MinimizeResult.Iterations"/> counts steps,
/// <see cref="MinimizeResult.Evaluations"/> calls of f (one per step, plus the final one). A run allocates its workspace
/// once and nothing per step (beyond what a progress handler does).
/// </remarks>
public static class Stochastic
{
    /// <summary>
    /// Stochastic gradient descent: x ← x − η g on each batch's gradient g, or with heavy-ball momentum m &gt; 0
    /// (<see cref="StochasticOptions.Momentum"/>): u ← m u − η g, x ← x + u.
    /// </summary>
    /// <typeparam name="TSample">The samples' type.</typeparam>
    /// <param name="f">f(x, batch) and its gradient with respect to x, e.g. from <see cref="AD.Gradient{TData}(System.Linq.Expressions.Expression{Func{double[], TData, double}}, ADOptions?)"/>.</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="samples">The data set (not changed).</param>
    /// <param name="options">Batches, epochs, seed and rates; <see cref="StochasticOptions.Default"/> when null.</param>
    /// <returns>The final point, with f and its gradient norm over the whole data set there.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/>, <paramref name="x0"/> or <paramref name="samples"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="samples"/> is empty; <paramref name="x0"/>, or f or its gradient on the first batch, is not finite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static MinimizeResult Sgd<TSample>(GradientFunc<TSample[]> f, double[] x0, TSample[] samples, StochasticOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        var o = Check(x0, samples, options);
        var rule = new SgdRule<TSample>(f, x0.Length, o);
        return Run(ref rule, x0, samples, o, "SGD");
    }

    /// <summary>
    /// Adam (Kingma &amp; Ba 2015): x ← x − η m̂ / (sqrt(v̂) + ε) with bias-corrected moving averages m̂ of the gradient and v̂
    /// of its elementwise square (<see cref="StochasticOptions.Beta1"/>, <see cref="StochasticOptions.Beta2"/>,
    /// <see cref="StochasticOptions.Epsilon"/>).
    /// </summary>
    /// <typeparam name="TSample">The samples' type.</typeparam>
    /// <param name="f">f(x, batch) and its gradient with respect to x.</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="samples">The data set (not changed).</param>
    /// <param name="options">Batches, epochs, seed and rates; <see cref="StochasticOptions.Default"/> when null.</param>
    /// <returns>The final point, with f and its gradient norm over the whole data set there.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/>, <paramref name="x0"/> or <paramref name="samples"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="samples"/> is empty; <paramref name="x0"/>, or f or its gradient on the first batch, is not finite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static MinimizeResult Adam<TSample>(GradientFunc<TSample[]> f, double[] x0, TSample[] samples, StochasticOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        var o = Check(x0, samples, options);
        var rule = new AdamRule<TSample>(f, x0.Length, o);
        return Run(ref rule, x0, samples, o, "Adam");
    }

    /// <summary>
    /// Stochastic meta-descent (Schraudolph 2002): gradient steps with a gain per parameter, adapted by the exact
    /// Hessian-vector product of each batch: p ← p ⊙ max(½, 1 − μ g ⊙ v), x ← x − p ⊙ g, v ← λ v − p ⊙ (g + λ H v), where
    /// v (starting at 0) tracks how x depends on the log gains, and g and H v are computed at x on the batch in one call.
    /// Gains start at <see cref="StochasticOptions.InitialGain"/> (default <see cref="StochasticOptions.LearningRate"/>);
    /// μ is <see cref="StochasticOptions.MetaRate"/>, λ <see cref="StochasticOptions.Decay"/>.
    /// </summary>
    /// <remarks><see cref="MinimizeResult.HessianEvaluations"/> counts the steps' Hessian-vector products.</remarks>
    /// <typeparam name="TSample">The samples' type.</typeparam>
    /// <param name="f">f(x, batch), its gradient and Hessian-vector product with respect to x, e.g. from <see cref="AD.HessianVector{TData}(System.Linq.Expressions.Expression{Func{double[], TData, double}}, ADOptions?)"/>.</param>
    /// <param name="x0">The starting point (not changed).</param>
    /// <param name="samples">The data set (not changed).</param>
    /// <param name="options">Batches, epochs, seed and rates; <see cref="StochasticOptions.Default"/> when null.</param>
    /// <returns>The final point, with f and its gradient norm over the whole data set there.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="f"/>, <paramref name="x0"/> or <paramref name="samples"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="samples"/> is empty; <paramref name="x0"/>, or f or its gradient on the first batch, is not finite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static MinimizeResult Smd<TSample>(HessianVectorFunc<TSample[]> f, double[] x0, TSample[] samples, StochasticOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        var o = Check(x0, samples, options);
        var rule = new SmdRule<TSample>(f, x0.Length, o);
        return Run(ref rule, x0, samples, o, "SMD");
    }

    private static StochasticOptions Check<TSample>(double[] x0, TSample[] samples, StochasticOptions? options)
    {
        ArgumentNullException.ThrowIfNull(x0);
        ArgumentNullException.ThrowIfNull(samples);
        for (int i = 0; i < x0.Length; i++)
            if (!double.IsFinite(x0[i])) throw new ArgumentException($"x0[{i}] is {x0[i]}: the starting point must be finite.", nameof(x0));
        if (samples.Length == 0) throw new ArgumentException("There are no samples.", nameof(samples));
        var o = options ?? StochasticOptions.Default;
        o.Check();
        return o;
    }

    /// <summary>
    /// The epochs and steps every driver shares. A batch loss or gradient that is not finite ends the run
    /// (<see cref="StopReason.Diverged"/>) at the point the last step started from, where f on its batch was finite; so does
    /// a step that would leave x not finite. On the very first batch it is the caller's bad input instead.
    /// <c>before</c> holds the point the last step started from.
    /// </summary>
    private static MinimizeResult Run<TSample, TRule>(ref TRule rule, double[] x0, TSample[] samples, StochasticOptions o, string name)
        where TRule : struct, IStochasticRule<TSample>
    {
        var clock = Stopwatch.StartNew();
        int n = x0.Length;
        var x = (double[])x0.Clone();
        var before = new double[n];
        var batches = new Minibatches<TSample>(samples, o.BatchSize, o.Seed);
        int steps = 0, evaluations = 0;
        var reason = StopReason.EpochsCompleted;
        for (int epoch = 1; epoch <= o.Epochs && reason == StopReason.EpochsCompleted; epoch++)
        {
            batches.Shuffle();
            double lossSum = 0;
            int count = batches.Count, done = 0;
            for (int b = 0; b < count; b++)
            {
                if (o.Cancellation.IsCancellationRequested) { reason = StopReason.Cancelled; break; }
                double loss = rule.Evaluate(x, batches.Batch(b));
                evaluations++;
                var g = rule.Gradient;
                if (!double.IsFinite(loss) || !Vectors.AllFinite(g))
                {
                    if (steps == 0) RunMonitor.CheckStart(loss, g);
                    before.CopyTo(x);
                    reason = StopReason.Diverged;
                    break;
                }
                x.CopyTo(before);
                double stepLength = rule.Update(x);
                if (!Vectors.AllFinite(x))
                {
                    before.CopyTo(x);
                    reason = StopReason.Diverged;
                    break;
                }
                steps++;
                done++;
                lossSum += loss;
                o.Progress?.Report(new IterationReport(steps, loss, Vectors.NormInf(g), stepLength, evaluations, clock.Elapsed));
            }
            if (reason == StopReason.EpochsCompleted) o.EpochProgress?.Report(new EpochReport(epoch, steps, lossSum / done, clock.Elapsed));
        }
        var gradient = new double[n];
        double value = rule.Full(x, samples, gradient);
        evaluations++;
        double gradientNorm = Vectors.NormInf(gradient);
        string words = reason switch
        {
            StopReason.EpochsCompleted => $"{name}: all {o.Epochs} epochs ran ({steps} steps)",
            StopReason.Cancelled => $"{name}: cancelled after {steps} steps",
            _ => $"{name}: diverged after {steps} steps (f or its gradient on a batch, or the next point, was not finite); X is where the last step with finite values started",
        };
        return new MinimizeResult
        {
            X = x,
            Value = value,
            GradientNorm = gradientNorm,
            Iterations = steps,
            Evaluations = evaluations,
            HessianEvaluations = rule.HessianEvaluations,
            StopReason = reason,
            Reason = $"{words}; on all samples f = {value:G6}, gradient norm {gradientNorm:G3}",
            Elapsed = clock.Elapsed,
        };
    }
}

/// <summary>One stochastic update rule with its state; structs, so the driver's calls are direct.</summary>
internal interface IStochasticRule<TSample>
{
    /// <summary>f on <paramref name="batch"/> at <paramref name="x"/>; its gradient (and whatever else the rule needs) is kept for <see cref="Update"/>.</summary>
    double Evaluate(ReadOnlySpan<double> x, TSample[] batch);

    /// <summary>The gradient of the last <see cref="Evaluate"/>.</summary>
    ReadOnlySpan<double> Gradient { get; }

    /// <summary>Moves x by the rule, from the last evaluation; returns the step's Euclidean length.</summary>
    double Update(Span<double> x);

    /// <summary>f and its gradient on all samples (no state changes).</summary>
    double Full(ReadOnlySpan<double> x, TSample[] samples, Span<double> gradient);

    /// <summary>Hessian-vector products so far.</summary>
    int HessianEvaluations { get; }
}

internal readonly struct SgdRule<TSample>(GradientFunc<TSample[]> f, int n, StochasticOptions o) : IStochasticRule<TSample>
{
    private readonly double[] _gradient = new double[n];
    private readonly double[] _velocity = new double[n];
    private readonly double _rate = o.LearningRate, _momentum = o.Momentum;

    public double Evaluate(ReadOnlySpan<double> x, TSample[] batch) => f(x, batch, _gradient);
    public ReadOnlySpan<double> Gradient => _gradient;
    public int HessianEvaluations => 0;
    public double Full(ReadOnlySpan<double> x, TSample[] samples, Span<double> gradient) => f(x, samples, gradient);

    public double Update(Span<double> x)
    {
        double squares = 0;
        for (int i = 0; i < x.Length; i++)
        {
            // With momentum 0 the velocity is just the step −η g.
            double step = _velocity[i] = _momentum * _velocity[i] - _rate * _gradient[i];
            x[i] += step;
            squares += step * step;
        }
        return Math.Sqrt(squares);
    }
}

internal struct AdamRule<TSample>(GradientFunc<TSample[]> f, int n, StochasticOptions o) : IStochasticRule<TSample>
{
    private readonly double[] _gradient = new double[n];
    private readonly double[] _first = new double[n], _second = new double[n];
    // β1^t and β2^t for the bias corrections, t the number of updates so far.
    private double _beta1Power = 1, _beta2Power = 1;

    public readonly double Evaluate(ReadOnlySpan<double> x, TSample[] batch) => f(x, batch, _gradient);
    public readonly ReadOnlySpan<double> Gradient => _gradient;
    public readonly int HessianEvaluations => 0;
    public readonly double Full(ReadOnlySpan<double> x, TSample[] samples, Span<double> gradient) => f(x, samples, gradient);

    public double Update(Span<double> x)
    {
        double beta1 = o.Beta1, beta2 = o.Beta2, rate = o.LearningRate, epsilon = o.Epsilon;
        _beta1Power *= beta1;
        _beta2Power *= beta2;
        double correct1 = 1 / (1 - _beta1Power), correct2 = 1 / (1 - _beta2Power);
        double squares = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double g = _gradient[i];
            _first[i] = beta1 * _first[i] + (1 - beta1) * g;
            _second[i] = beta2 * _second[i] + (1 - beta2) * g * g;
            double step = -rate * (_first[i] * correct1) / (Math.Sqrt(_second[i] * correct2) + epsilon);
            x[i] += step;
            squares += step * step;
        }
        return Math.Sqrt(squares);
    }
}

internal struct SmdRule<TSample>(HessianVectorFunc<TSample[]> f, int n, StochasticOptions o) : IStochasticRule<TSample>
{
    private readonly double[] _gradient = new double[n];
    private readonly double[] _product = new double[n];
    // v: the sensitivity of x to the log gains, 0 at the start; zero: the direction of the final, gradient-only call.
    private readonly double[] _trace = new double[n], _zero = new double[n];
    private readonly double[] _gains = Filled(n, o.InitialGain ?? o.LearningRate);
    private int _products;

    private static double[] Filled(int n, double value)
    {
        var a = new double[n];
        Array.Fill(a, value);
        return a;
    }

    public double Evaluate(ReadOnlySpan<double> x, TSample[] batch)
    {
        _products++;
        return f(x, batch, _trace, _gradient, _product);
    }

    public readonly ReadOnlySpan<double> Gradient => _gradient;
    public readonly int HessianEvaluations => _products;
    public readonly double Full(ReadOnlySpan<double> x, TSample[] samples, Span<double> gradient) => f(x, samples, _zero, gradient, _product);

    public readonly double Update(Span<double> x)
    {
        double mu = o.MetaRate, lambda = o.Decay;
        double squares = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double g = _gradient[i];
            // The gain update reads v_t (the trace H v was multiplied with), before v moves on.
            double p = _gains[i] *= Math.Max(0.5, 1 - mu * g * _trace[i]);
            double step = -p * g;
            x[i] += step;
            squares += step * step;
            _trace[i] = lambda * _trace[i] - p * (g + lambda * _product[i]);
        }
        return Math.Sqrt(squares);
    }
}
