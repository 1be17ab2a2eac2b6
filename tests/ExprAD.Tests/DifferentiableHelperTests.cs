using System.Linq.Expressions;
using ExprAD.Tests.Oracles;
using NUnit.Framework;
using static ExprAD.Tests.DifferentiableHelpers;

namespace ExprAD.Tests;

/// <summary>
/// [Differentiable] helpers compiled into this assembly by the generator, used inside lambdas: gradients against closed forms
/// and central differences of the helpers run as plain C#, values against the helpers themselves, work shared between uses
/// computed once, and the message for a method with neither a rule nor [Differentiable].
/// </summary>
[TestFixture]
public class DifferentiableHelperTests
{
    private static void AssertGradient(Expression<Func<double[], double>> f, Func<double[], double> plain, params double[] x)
    {
        var gradient = new double[x.Length];
        double value = AD.Gradient(f)(x, gradient);
        Assert.That(value, Is.EqualTo(plain(x)).Within(1e-12).Percent, "value");
        var estimates = FiniteDifferences.Gradient(plain, x);
        for (int i = 0; i < x.Length; i++)
            Assert.That(FiniteDifferences.Agrees(gradient[i], estimates[i], relative: 1e-7), Is.True, $"∂f/∂x{i}: {gradient[i]:R} vs {estimates[i]}");
    }

    [Test]
    public void Sigmoid_of_a_product_has_the_chain_rule_gradient()
    {
        var g = AD.Gradient(x => Sigmoid(x[0] * x[1]));
        double[] x = [0.7, -1.3], gradient = new double[2];
        double y = g(x, gradient);
        double s = 1 / (1 + Math.Exp(0.7 * 1.3));
        Assert.That(y, Is.EqualTo(s).Within(1e-15));
        Assert.That(gradient[0], Is.EqualTo(s * (1 - s) * x[1]).Within(1e-15));
        Assert.That(gradient[1], Is.EqualTo(s * (1 - s) * x[0]).Within(1e-15));
    }

    [Test]
    public void A_data_argument_helper_with_nested_loops_matches_finite_differences()
    {
        var random = new Random(5);
        var data = new Dataset
        {
            X = Enumerable.Range(0, 40).Select(_ => Enumerable.Range(0, 3).Select(_ => random.NextDouble() * 2 - 1).ToArray()).ToArray(),
            Y = Enumerable.Range(0, 40).Select(_ => random.Next(2) * 2.0 - 1).ToArray(),
        };
        var g = AD.Gradient<Dataset>((w, d) => Loss(w, d));
        double[] w = [0.3, -0.8, 1.1], gradient = new double[3];
        double y = g(w, data, gradient);
        Assert.That(y, Is.EqualTo(Loss(w, data)).Within(1e-12).Percent);
        var estimates = FiniteDifferences.Gradient(v => Loss(v, data), w);
        for (int i = 0; i < 3; i++)
            Assert.That(FiniteDifferences.Agrees(gradient[i], estimates[i], relative: 1e-7), Is.True, $"{gradient[i]:R} vs {estimates[i]}");
        // The data is read at call time: other rows give the other loss.
        data.Y = data.Y.Select(v => -v).ToArray();
        Assert.That(g(w, data, gradient), Is.EqualTo(Loss(w, data)).Within(1e-12).Percent);
    }

    [Test]
    public void Each_statement_form_differentiates_like_the_method_runs()
    {
        AssertGradient(x => Softplus(x[0]) + Softplus(40 * x[1]), x => Softplus(x[0]) + Softplus(40 * x[1]), 0.4, 1.0);
        AssertGradient(x => Piecewise(x[0]) + Piecewise(x[1]) + Piecewise(x[2]), x => Piecewise(x[0]) + Piecewise(x[1]) + Piecewise(x[2]), -0.5, 0.5, 3.0);
        AssertGradient(x => Series(x[0], 5), x => Series(x[0], 5), 0.9);
        AssertGradient(x => Series(x[0], 0) + x[0], x => Series(x[0], 0) + x[0], 0.9);
        AssertGradient(x => Gate(x[0], true) + Gate(x[1], false), x => Gate(x[0], true) + Gate(x[1], false), 1.5, 2.5);
        AssertGradient(x => PositivePart(x, x[0]), x => PositivePart(x, x[0]), 0.1, 0.9, -0.4, 2.0);
        AssertGradient(x => Layered(x[0], x[1]), x => Layered(x[0], x[1]), 0.6, -1.1);
        AssertGradient(x => Shared(x[0] * x[1]), x => Shared(x[0] * x[1]), 0.5, 0.25);
    }

    [Test]
    public void Helpers_called_inside_loops_and_helpers_with_loops_called_twice()
    {
        // Sigmoid inlined into a loop body (its argument reads the loop index); Norm2's loop inlined twice, each copy with
        // a lambda parameter of its own, then scaled inside another loop.
        AssertGradient(x => Enumerable.Range(0, x.Length).Sum(i => Sigmoid(x[i] * i)) + Norm2(x) * Norm2(x),
            x => Enumerable.Range(0, x.Length).Sum(i => Sigmoid(x[i] * i)) + Norm2(x) * Norm2(x), 0.3, -0.7, 1.1);
        AssertGradient(x => Enumerable.Range(1, 3).Sum(k => k * Norm2(x)), x => 6 * Norm2(x), 0.5, 2.0);
    }

    [Test]
    public void A_helper_over_a_data_row_summed_over_the_rows()
    {
        var random = new Random(9);
        var data = new Dataset
        {
            X = Enumerable.Range(0, 25).Select(_ => Enumerable.Range(0, 4).Select(_ => random.NextDouble() - 0.5).ToArray()).ToArray(),
            Y = Enumerable.Range(0, 25).Select(_ => random.Next(2) * 2.0 - 1).ToArray(),
        };
        var g = AD.Gradient<Dataset>((w, d) => Enumerable.Range(0, d.Y.Length).Sum(i => RowLoss(w, d.X[i], d.Y[i])));
        double Plain(double[] w) => Enumerable.Range(0, data.Y.Length).Sum(i => RowLoss(w, data.X[i], data.Y[i]));
        double[] w = [0.5, -1, 2, 0.25], gradient = new double[4];
        Assert.That(g(w, data, gradient), Is.EqualTo(Plain(w)).Within(1e-12).Percent);
        var estimates = FiniteDifferences.Gradient(Plain, w);
        for (int i = 0; i < w.Length; i++)
            Assert.That(FiniteDifferences.Agrees(gradient[i], estimates[i], relative: 1e-7), Is.True, $"{gradient[i]:R} vs {estimates[i]}");
    }

    [Test]
    public void Derivative_and_second_order_go_through_helpers()
    {
        // The Hessian-vector product of Loss-like code through a helper with a loop: forward over reverse.
        var hv = AD.HessianVector(x => Norm2(x) * Sigmoid(x[0]));
        double[] at = [0.4, -0.3], v = [1, 2], hvOut = new double[2], gOut = new double[2];
        hv(at, v, gOut, hvOut);
        double s0 = 1 / (1 + Math.Exp(-0.4)), ds = s0 * (1 - s0), d2s = ds * (1 - 2 * s0), n2 = 0.4 * 0.4 + 0.3 * 0.3;
        // f = n2 σ(x0): H = [[2σ + 4 x0 σ' + n2 σ'', 2 x1 σ'], [2 x1 σ', 2σ]].
        double h00 = 2 * s0 + 4 * 0.4 * ds + n2 * d2s, h01 = 2 * -0.3 * ds, h11 = 2 * s0;
        Assert.That(hvOut[0], Is.EqualTo(h00 * 1 + h01 * 2).Within(1e-14));
        Assert.That(hvOut[1], Is.EqualTo(h01 * 1 + h11 * 2).Within(1e-14));
        // σ' = σ(1 - σ), σ'' = σ(1 - σ)(1 - 2σ).
        var d1 = AD.Derivative(z => Sigmoid(z));
        var d2 = AD.Derivative(z => Sigmoid(z), order: 2);
        foreach (double z in new[] { -2.0, 0.0, 0.7 })
        {
            double s = 1 / (1 + Math.Exp(-z));
            Assert.That(d1(z), Is.EqualTo(s * (1 - s)).Within(1e-15));
            Assert.That(d2(z), Is.EqualTo(s * (1 - s) * (1 - 2 * s)).Within(1e-15));
        }
    }

    [Test]
    public void A_local_read_several_times_is_computed_once()
    {
        // Shared binds e = exp(z) once; the two calls of Sigmoid on the same argument are one computation too.
        var trace = AD.Trace((Expression<Func<double[], double>>)(x => Shared(x[0]) + Sigmoid(x[1]) * Sigmoid(x[1]))).ToString();
        Assert.That(CountOf(trace, "exp"), Is.EqualTo(2), trace);
    }

    [Test]
    public void A_sum_read_several_times_is_one_loop()
    {
        var trace = AD.Trace((Expression<Func<double[], double>>)(x => SquaredNorm2(x))).ToString();
        Assert.That(CountOf(trace, "Σ"), Is.EqualTo(1), trace);
    }

    // A local holding a loop's sum, read twice: the sum is computed once.
    [Differentiable]
    private static double SquaredNorm2(double[] w)
    {
        double s = 0;
        for (int j = 0; j < w.Length; j++) s += w[j] * w[j];
        return s * s + s;
    }

    [Test]
    public void Helpers_run_as_plain_methods_outside_lambdas()
    {
        Assert.That(Piecewise(-2), Is.EqualTo(2));
        Assert.That(Layered(1, 2), Is.EqualTo(Sigmoid(2) + Softplus(Sigmoid(1)) + 8).Within(1e-15));
    }

    [Test]
    public void A_method_with_neither_rule_nor_Differentiable_says_how_to_supply_one()
    {
        var e = Assert.Throws<NotSupportedException>(() => AD.Gradient(x => Unmarked(x[0]) + x[1]))!;
        Assert.That(e.Message, Does.Contain("no derivative rule for `DifferentiableHelpers.Unmarked(Double)`"));
        Assert.That(e.Message, Does.Contain("mark it [Differentiable] (with the ExprAD.Generators analyzer referenced)"));
        Assert.That(e.Message, Does.Contain("AD.Define(...)"));
        // The library's own methods cannot be marked: only a rule is suggested.
        var round = Assert.Throws<NotSupportedException>(() => AD.Gradient(x => Math.Round(x[0], 2)))!;
        Assert.That(round.Message, Does.Contain("AD.Define(...)").And.Not.Contain("[Differentiable]"));
    }

    private static int CountOf(string text, string word)
    {
        int count = 0;
        for (int at = text.IndexOf(word, StringComparison.Ordinal); at >= 0; at = text.IndexOf(word, at + word.Length, StringComparison.Ordinal)) count++;
        return count;
    }
}
