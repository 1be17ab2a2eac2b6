using System.Globalization;
using System.Linq.Expressions;
using ExprAD.Optimization;

namespace ExprAD.Examples;

/// <summary>One patient of breast_cancer.csv: the 30 standardised features and the label, +1 benign, −1 malignant.</summary>
public sealed record Patient(double[] Features, double Label);

/// <summary>One minimiser's run in <see cref="LogisticNewton.Run"/>: the result and the loss after each iteration against the work so far.</summary>
/// <param name="Name">The minimiser.</param>
/// <param name="Result">Its result.</param>
/// <param name="Evaluations">Calls of f plus Hessian-vector products after each iteration (iteration 0 first).</param>
/// <param name="Losses">The loss after each iteration.</param>
public sealed record MinimiserRun(string Name, MinimizeResult Result, double[] Evaluations, double[] Losses);

/// <summary>What <see cref="LogisticNewton.Run"/> measured.</summary>
/// <param name="Newton">Newton-CG.</param>
/// <param name="Lbfgs">L-BFGS.</param>
/// <param name="GradientDescent">Gradient descent.</param>
/// <param name="TrainingAccuracy">The accuracy of Newton-CG's weights on the patients they were fitted to.</param>
/// <param name="Plot">The PNG written.</param>
public sealed record LogisticResult(MinimiserRun Newton, MinimiserRun Lbfgs, MinimiserRun GradientDescent, double TrainingAccuracy, string Plot);

/// <summary>
/// L2-regularised logistic regression on the Wisconsin breast cancer data set, minimised three ways: Newton-CG with exact
/// Hessian-vector products (forward over reverse, <see cref="AD.HessianVector{TData}(Expression{Func{double[], TData, double}}, ADOptions?)"/>),
/// L-BFGS and gradient descent, all from zero weights to the same gradient tolerance.
/// </summary>
public static partial class LogisticNewton
{
    /// <summary>The weight of the L2 term (½ L2 |w|², the bias not included): it keeps the minimum finite on nearly separable data.</summary>
    public const double L2 = 1e-3;

    /// <summary>log(1 + e^z), written so that it neither overflows for large z nor loses digits for very negative z.</summary>
    [Differentiable]
    public static double Softplus(double z) => Math.Max(z, 0) + Math.Log(1 + Math.Exp(-Math.Abs(z)));

    /// <summary>
    /// The mean logistic loss plus ½ L2 |w|². The weights are one weight per feature, then the bias (the last element).
    /// </summary>
    public static readonly Expression<Func<double[], Patient[], double>> Loss = (w, patients) =>
        patients.Sum(p => Softplus(-p.Label * (w[w.Length - 1] + Enumerable.Range(0, w.Length - 1).Sum(j => w[j] * p.Features[j])))) / patients.Length
        + 0.5 * L2 * Enumerable.Range(0, w.Length - 1).Sum(j => w[j] * w[j]);

    /// <summary>
    /// Reads breast_cancer.csv (first line <c>569,30,malignant,benign</c>, then 30 features and a label 0 = malignant,
    /// 1 = benign per line) and standardises each feature to mean 0 and standard deviation 1.
    /// </summary>
    public static Patient[] Load(string path)
    {
        var rows = File.ReadLines(path).Skip(1)
            .Select(line => line.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray())
            .ToArray();
        int features = rows[0].Length - 1;
        var mean = Enumerable.Range(0, features).Select(j => rows.Average(r => r[j])).ToArray();
        var deviation = Enumerable.Range(0, features).Select(j => Math.Sqrt(rows.Average(r => (r[j] - mean[j]) * (r[j] - mean[j])))).ToArray();
        return rows.Select(r => new Patient(
            Enumerable.Range(0, features).Select(j => (r[j] - mean[j]) / deviation[j]).ToArray(),
            r[features] == 1 ? 1 : -1)).ToArray();
    }

    /// <summary>
    /// Fits the first <paramref name="patients"/> patients (all 569 by default) with Newton-CG, L-BFGS and gradient descent
    /// (at most <paramref name="descentIterations"/> iterations), prints their progress, and plots loss − best loss against
    /// calls of f into <paramref name="outputFolder"/>.
    /// </summary>
    public static LogisticResult Run(string dataFolder, string outputFolder, int patients = 569, int descentIterations = 2000)
    {
        string folder = Plots.Prepare(outputFolder);
        var data = Load(Path.Combine(dataFolder, "breast_cancer.csv"))[..patients];
        int n = data[0].Features.Length + 1;
        Console.WriteLine($"  {data.Length} patients, {n - 1} standardised features and a bias; loss = mean log(1 + exp(-y w·x)) + ½·{L2}·|w|²");

        int products = 0;   // Hessian-vector products of the run in progress
        MinimiserRun Fit(string name, Func<MinimizeOptions, MinimizeResult> minimise, int printEvery)
        {
            var evaluations = new List<double>();
            var losses = new List<double>();
            var result = minimise(new MinimizeOptions
            {
                GradientTolerance = 1e-8,
                MaxIterations = descentIterations,
                Progress = new Reporter<IterationReport>(r =>
                {
                    evaluations.Add(r.Evaluations + products);
                    losses.Add(r.Value);
                    if (r.Iteration % printEvery == 0)
                        Console.WriteLine($"  {name,-16} iteration {r.Iteration,4}: loss {r.Value:F10}, |∇|∞ {r.GradientNorm:0.0E+00}, {r.Evaluations,4} calls of f" + (name == "Newton-CG" ? $", {products,3} Hv" : ""));
                }),
            });
            Console.WriteLine($"  {name}: {result.Reason}; {result.Iterations} iterations, {result.Evaluations} calls of f" +
                (result.HessianEvaluations > 0 ? $", {result.HessianEvaluations} Hessian-vector products" : "") + $", {result.Elapsed.TotalMilliseconds:F0} ms");
            return new MinimiserRun(name, result, evaluations.ToArray(), losses.ToArray());
        }

        var gradient = AD.Gradient(Loss);
        // The work axis counts a Hessian-vector product like a call of f (it costs about two gradients), so Newton-CG is
        // charged for its inner CG iterations; the wrapper counts them as the minimiser asks for them.
        var hessianVector = AD.HessianVector(Loss);
        HessianVectorFunc<Patient[]> countedHv = (x, d, v, g, hv) => { products++; return hessianVector(x, d, v, g, hv); };
        var newton = Fit("Newton-CG", o => Minimize.NewtonCG(countedHv, gradient, new double[n], data, o), printEvery: 1);
        products = 0;
        var lbfgs = Fit("L-BFGS", o => Minimize.Lbfgs(gradient, new double[n], data, o), printEvery: 10);
        var descent = Fit("gradient descent", o => Minimize.GradientDescent(gradient, new double[n], data, o), printEvery: 250);

        var w = newton.Result.X;
        double accuracy = data.Count(p => Math.Sign(w[n - 1] + w[..(n - 1)].Zip(p.Features, (a, b) => a * b).Sum()) == p.Label) / (double)data.Length;
        Console.WriteLine($"  training accuracy of the fitted model: {accuracy:P1}");

        // Below ~1e-15 relative, the gap is rounding; the floor keeps the log plot readable.
        double best = new[] { newton, lbfgs, descent }.Min(r => r.Result.Value);
        Series Gap(MinimiserRun run) => new(run.Name, run.Evaluations, run.Losses.Select(v => Math.Max(v - best, 1e-15)).ToArray());
        string plot = Plots.Lines(Path.Combine(folder, "logistic-newton.png"), "Logistic regression (breast cancer): loss - best loss",
            "calls of f (value and gradient) + Hessian-vector products", "loss - best", logY: true, Gap(newton), Gap(lbfgs), Gap(descent));
        Console.WriteLine($"  wrote {plot}");
        return new LogisticResult(newton, lbfgs, descent, accuracy, plot);
    }
}
