using NUnit.Framework;
using ExprAD.Examples;

namespace ExprAD.Tests;

/// <summary>
/// The hyperparameter-optimisation example (examples/ExprAD.Examples/Hyperparameters.cs) at reduced size: the
/// hypergradient through the whole training run agrees with central differences of that run, and gradient steps on
/// log λ lower the validation loss.
/// </summary>
[TestFixture]
public class HyperparameterExampleTests
{
    [Test]
    public void HypergradientMatchesDifferencesAndTuningLowersTheValidationLoss()
    {
        var data = Path.Combine(AppContext.BaseDirectory, "data", "breast_cancer.csv");
        Assert.That(File.Exists(data), $"the example's data is copied next to the tests: {data}");
        var problem = Hyperparameters.Load(data, train: 40, valid: 80, steps: 20, rate: 0.5);
        var (h, loss, _, difference) = Hyperparameters.Tune(problem, h0: Math.Log(0.3), iterations: 4, step: 20.0);
        // The first gradient computed by Tune is at h0: compare through a fresh call.
        var g = new double[1];
        AD.Gradient(Hyperparameters.ValidationLoss)([h[0]], problem, g);
        Assert.That(g[0], Is.EqualTo(difference).Within(1e-6 * Math.Max(1e-3, Math.Abs(difference))), "AD against central differences of the whole run");
        Assert.That(loss[^1], Is.LessThan(loss[0]), "tuning lowers the validation loss");
        for (int k = 1; k < loss.Length; k++) Assert.That(loss[k], Is.LessThanOrEqualTo(loss[k - 1] + 1e-12), $"step {k}");
    }
}
