using System.Linq.Expressions;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// AD.Derivative applies forward mode <c>order</c> times to the trace, so f'' .. f'''' are exact
/// derivatives of derivative code, not finite differences. Each function here comes with its
/// first four derivatives in closed form (derived by hand and checked symbolically with SymPy), so
/// the reference is independent of ExprAD and of finite differences (whose error grows quickly
/// with the order).
/// </summary>
[TestFixture]
public sealed class DerivativeOrderTests
{
    /// <summary>A function and its derivatives of order 1..4 as plain C#.</summary>
    public sealed record Case(string Name, Expression<Func<double, double>> F, Func<double, double>[] Derivatives, double[] Points)
    {
        public override string ToString() => Name;
    }

    private static readonly double[] Everywhere = [-2.3, -0.7, 0.0, 0.4, 1.0, 2.9];
    private static readonly double[] Positive = [0.3, 1.0, 2.5, 10.0];

    public static readonly Case[] Cases =
    [
        new("sin x · x", x => Math.Sin(x) * x,
        [
            x => Math.Cos(x) * x + Math.Sin(x),
            x => -Math.Sin(x) * x + 2 * Math.Cos(x),
            x => -Math.Cos(x) * x - 3 * Math.Sin(x),
            x => Math.Sin(x) * x - 4 * Math.Cos(x),
        ], Everywhere),

        new("exp(2x)", x => Math.Exp(2 * x),
        [
            x => 2 * Math.Exp(2 * x),
            x => 4 * Math.Exp(2 * x),
            x => 8 * Math.Exp(2 * x),
            x => 16 * Math.Exp(2 * x),
        ], Everywhere),

        // x^5 by Math.Pow with a constant exponent: the base may be negative or zero (the exponent is
        // not active, so no ln x appears), and at 0 the derivatives are exact zeros, not NaN.
        new("x^5 by Math.Pow", x => Math.Pow(x, 5.0),
        [
            x => 5 * x * x * x * x,
            x => 20 * x * x * x,
            x => 60 * x * x,
            x => 120 * x,
        ], Everywhere),

        // The same polynomial as a product: forward-over-forward through Mul only.
        new("x^5 by products", x => x * x * x * x * x,
        [
            x => 5 * x * x * x * x,
            x => 20 * x * x * x,
            x => 60 * x * x,
            x => 120 * x,
        ], Everywhere),

        // d^n/dx^n ln x = (-1)^(n-1) (n-1)! / x^n.
        new("ln x", x => Math.Log(x),
        [
            x => 1 / x,
            x => -1 / (x * x),
            x => 2 / (x * x * x),
            x => -6 / (x * x * x * x),
        ], Positive),

        new("1 / (1 + x²)", x => 1 / (1 + x * x),
        [
            x => -2 * x / Math.Pow(1 + x * x, 2),
            x => (6 * x * x - 2) / Math.Pow(1 + x * x, 3),
            x => 24 * x * (1 - x * x) / Math.Pow(1 + x * x, 4),
            x => 24 * (5 * Math.Pow(x, 4) - 10 * x * x + 1) / Math.Pow(1 + x * x, 5),
        ], Everywhere),

        // With t = tanh x: tanh' = 1 - t², tanh'' = -2t(1 - t²), tanh''' = -2(1 - t²)(1 - 3t²), tanh'''' = 8t(1 - t²)(2 - 3t²).
        new("tanh x", x => Math.Tanh(x),
        [
            x => 1 - Math.Tanh(x) * Math.Tanh(x),
            x => -2 * Math.Tanh(x) * (1 - Math.Tanh(x) * Math.Tanh(x)),
            x => -2 * (1 - Math.Tanh(x) * Math.Tanh(x)) * (1 - 3 * Math.Tanh(x) * Math.Tanh(x)),
            x => 8 * Math.Tanh(x) * (1 - Math.Tanh(x) * Math.Tanh(x)) * (2 - 3 * Math.Tanh(x) * Math.Tanh(x)),
        ], Everywhere),
    ];

    private static IEnumerable<TestCaseData> Orders() =>
        from c in Cases
        from order in Enumerable.Range(1, 4)
        select new TestCaseData(c, order).SetArgDisplayNames(c.Name, "order " + order);

    /// <summary>
    /// f^(order) at every point, to 1e-11 relative (floor 1): each order adds a layer of derivative
    /// code evaluated in floating point, a few ulps each, while a wrong rule is wrong by O(1).
    /// </summary>
    [TestCaseSource(nameof(Orders))]
    public void Derivative_MatchesClosedForm(Case c, int order)
    {
        var derivative = AD.Derivative(c.F, order);
        using (Assert.EnterMultipleScope())
        {
            foreach (var x in c.Points)
            {
                double expected = c.Derivatives[order - 1](x);
                Assert.That(derivative(x), Is.EqualTo(expected).Within(1e-11 * Math.Max(1, Math.Abs(expected))),
                    $"{c.Name}: derivative of order {order} at x = {x:R}");
            }
        }
    }

    /// <summary>
    /// Zeros of x^5's derivatives at 0 are exact: forward mode never forms 0 · ∞ or ln 0 for a
    /// constant exponent, and the product form has only products of zeros.
    /// </summary>
    [Test]
    public void PowerAtZero_HasExactZeroDerivatives([Values(1, 2, 3, 4)] int order)
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(AD.Derivative(x => Math.Pow(x, 5.0), order)(0.0), Is.EqualTo(0.0), "Math.Pow(x, 5)");
            Assert.That(AD.Derivative(x => x * x * x * x * x, order)(0.0), Is.EqualTo(0.0), "x·x·x·x·x");
        }
    }

    /// <summary>The fifth derivative of x^5 is the constant 120 everywhere (including 0, where Math.Pow(0, 0) = 1).</summary>
    [Test]
    public void FifthDerivativeOfX5_IsConstant([Values(-1.5, 0.0, 2.0)] double x)
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(AD.Derivative(t => Math.Pow(t, 5.0), 5)(x), Is.EqualTo(120.0), "Math.Pow(x, 5)");
            Assert.That(AD.Derivative(t => t * t * t * t * t, 5)(x), Is.EqualTo(120.0), "x·x·x·x·x");
            Assert.That(AD.Derivative(t => t * t * t * t * t, 6)(x), Is.EqualTo(0.0), "sixth derivative of x·x·x·x·x");
        }
    }
}
