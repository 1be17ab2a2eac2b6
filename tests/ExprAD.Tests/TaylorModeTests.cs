using System.Linq.Expressions;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// AD.Derivative to order 20 by Taylor mode, against closed forms of the n-th derivative, and against repeated forward
/// mode (the path AD.Derivative takes for code Taylor mode does not cover: loops) at low orders.
/// </summary>
[TestFixture]
public class TaylorModeTests
{
    private static double Factorial(int n) => Enumerable.Range(1, n).Aggregate(1.0, (p, k) => p * k);

    public static IEnumerable<TestCaseData> ClosedForms()
    {
        const double x = 0.3;
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Math.Exp(2 * t)), x, Math.Pow(2, 20) * Math.Exp(2 * x)).SetArgDisplayNames("exp(2x)");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Math.Sin(t)), x, Math.Sin(x)).SetArgDisplayNames("sin x");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Math.Cos(3 * t)), x, Math.Pow(3, 20) * Math.Cos(3 * x)).SetArgDisplayNames("cos 3x");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => 1 / (1 - t)), x, Factorial(20) / Math.Pow(1 - x, 21)).SetArgDisplayNames("1/(1-x)");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Math.Log(1 + t)), x, -Factorial(19) / Math.Pow(1 + x, 20)).SetArgDisplayNames("log(1+x)");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Math.Sqrt(1 + t)), x,
            Enumerable.Range(0, 20).Aggregate(1.0, (p, k) => p * (0.5 - k)) * Math.Pow(1 + x, 0.5 - 20)).SetArgDisplayNames("sqrt(1+x)");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Math.Pow(1 + t, -3)), x,
            Enumerable.Range(0, 20).Aggregate(1.0, (p, k) => p * (-3 - k)) * Math.Pow(1 + x, -23)).SetArgDisplayNames("(1+x)^-3");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Math.Pow(t, 22)), x,
            Factorial(22) / 2 * x * x).SetArgDisplayNames("x^22");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => t * Math.Exp(t)), x, (x + 20) * Math.Exp(x)).SetArgDisplayNames("x e^x");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Math.Exp(t) * Math.Sin(t)), x,
            Math.Pow(2, 10) * Math.Exp(x) * Math.Sin(x + 20 * Math.PI / 4)).SetArgDisplayNames("e^x sin x");
    }

    [TestCaseSource(nameof(ClosedForms))]
    public void Order20MatchesTheClosedForm(Expression<Func<double, double>> f, double x, double expected)
    {
        var d20 = AD.Derivative(f, 20);
        Assert.That(d20(x), Is.EqualTo(expected).Within(1e-9 * Math.Abs(expected)));
    }

    public static IEnumerable<TestCaseData> Mixed()
    {
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Math.Tanh(t) * Math.Atan(t * t) / (2 + Math.Cos(t)))).SetArgDisplayNames("tanh atan cos");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Math.Tan(t) + Math.Sqrt(1 + t * t) * Math.Log(2 + t))).SetArgDisplayNames("tan sqrt log");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Math.Pow(2 + Math.Sin(t), 3.0) - Math.Exp(-t * t))).SetArgDisplayNames("pow exp");
    }

    /// <summary>Taylor mode equals forward mode applied repeatedly (forced by hiding the function in a one-iteration loop).</summary>
    [TestCaseSource(nameof(Mixed))]
    public void EqualsRepeatedForwardMode(Expression<Func<double, double>> f)
    {
        // The same function inside Enumerable.Range(0, 1).Sum(...): a loop, which Taylor mode leaves to forward mode.
        var looped = Expression.Lambda<Func<double, double>>(
            Expression.Call(typeof(Enumerable), nameof(Enumerable.Sum), [typeof(int)],
                Expression.Call(typeof(Enumerable), nameof(Enumerable.Range), null, Expression.Constant(0), Expression.Constant(1)),
                Expression.Lambda<Func<int, double>>(f.Body, Expression.Parameter(typeof(int), "k"))),
            f.Parameters);
        foreach (int order in new[] { 2, 3, 5, 7 })
            foreach (double x in new[] { -0.4, 0.2, 0.9 })
            {
                double taylor = AD.Derivative(f, order)(x);
                double forward = AD.Derivative(looped, order)(x);
                Assert.That(taylor, Is.EqualTo(forward).Within(1e-10 * Math.Max(1, Math.Abs(forward))), $"order {order} at {x}");
            }
    }
}
