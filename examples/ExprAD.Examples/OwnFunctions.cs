// Your own functions inside the lambdas ExprAD differentiates: [Differentiable] methods, whose bodies the ExprAD.Generators
// source generator (referenced by this project as an analyzer) registers at build time, and expression-valued helpers
// invoked with Invoke. ExprAD inlines both where they are called.
using System.Linq.Expressions;
using ExprAD;

namespace ExprAD.Examples;

/// <summary>The "Your own functions" example of README.md: a logistic regression written with helpers.</summary>
public static partial class OwnFunctions
{
    /// <summary>The logistic function.</summary>
    [Differentiable]
    public static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

    /// <summary>The mean negative log-likelihood of the labels: loops become sums, the helper is inlined.</summary>
    [Differentiable]
    public static double Loss(double[] w, Dataset d)
    {
        double total = 0;
        for (int i = 0; i < d.Y.Length; i++)
        {
            double z = 0;
            for (int j = 0; j < w.Length; j++) z += w[j] * d.X[i][j];
            var p = Sigmoid(d.Y[i] * z);
            total -= Math.Log(p);
        }
        return total / d.Y.Length;
    }

    /// <summary>An expression-valued helper: log(1 + e^z).</summary>
    public static readonly Expression<Func<double, double>> Softplus = z => Math.Log(1 + Math.Exp(z));

    /// <summary>Runs the example.</summary>
    public static void Run()
    {
        Console.WriteLine();
        const string title = "Your own functions: [Differentiable] helpers and expression-valued helpers";
        Console.WriteLine(title);
        Console.WriteLine(new string('-', title.Length));

        var sigmoid = AD.Gradient(x => Sigmoid(x[0] * x[1]));
        double[] point = [0.5, -2], gradient = new double[2];
        double s = sigmoid(point, gradient);
        Console.WriteLine($"  Sigmoid(x0 x1) at (0.5, -2) = {s:F6}, gradient = [{gradient[0]:F6}, {gradient[1]:F6}]" +
                          $" (closed form σ(1-σ)·(x1, x0) = [{s * (1 - s) * -2:F6}, {s * (1 - s) * 0.5:F6}])");

        // Labels from a known separating direction, then gradient descent on the loss written with helpers.
        var random = new Random(1);
        var data = new Dataset { X = new double[200][], Y = new double[200] };
        for (int i = 0; i < 200; i++)
        {
            data.X[i] = [1, random.NextDouble() * 4 - 2, random.NextDouble() * 4 - 2];
            data.Y[i] = 0.5 + 2 * data.X[i][1] - data.X[i][2] + random.NextDouble() - 0.5 > 0 ? 1 : -1;
        }
        var loss = AD.Gradient<Dataset>((w, d) => Loss(w, d));
        var weights = new double[3];
        var g = new double[3];
        for (int step = 0; step <= 200; step++)
        {
            double value = loss(weights, data, g);
            if (step % 50 == 0) Console.WriteLine($"  gradient descent step {step,3}: loss = {value:F5}, w = [{string.Join(", ", weights.Select(v => v.ToString("F3")))}]");
            for (int k = 0; k < 3; k++) weights[k] -= 1.0 * g[k];
        }

        var softplus = AD.Derivative(x => Softplus.Invoke(x) - Softplus.Invoke(-x));
        Console.WriteLine($"  d/dx [softplus(x) - softplus(-x)] at 0.3 = {softplus(0.3):F6} (it is x, so 1); Softplus.Invoke(0.3) outside a lambda = {Softplus.Invoke(0.3):F6}");
    }
}
