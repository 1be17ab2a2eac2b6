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
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Math.Asin(t / 2) * Math.Acos(t / 3) + Math.Asinh(t) - Math.Acosh(2 + t * t) + Math.Atanh(t / 4)))
            .SetArgDisplayNames("inverse trigonometric and hyperbolic");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Math.Sinh(t) * Math.Cosh(2 * t) + Math.Cbrt(3 + t) + Math.Log10(2 + t) * Math.Log2(3 + t) + Math.Pow(2 + t, 1.7) + Math.Pow(1.5 + t, t)))
            .SetArgDisplayNames("sinh cosh cbrt log10 log2 pow");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => (t > 0.1 ? Math.Exp(t) : Math.Cos(t)) + Math.Max(t, 0.5 * t * t) - Math.Abs(t - 0.3) * Math.Min(Math.Sin(t), t)))
            .SetArgDisplayNames("branches, max, min, abs");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Enumerable.Range(1, 6).Sum(k => Math.Pow(t, k) / k) * Math.Exp(-t)))
            .SetArgDisplayNames("a sum");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Enumerable.Range(0, 5).Aggregate(t, (s, k) => Math.Sin(s) * t + k)))
            .SetArgDisplayNames("a fold");
        yield return new TestCaseData((Expression<Func<double, double>>)(t => Enumerable.Range(0, 4).Sum(i => Enumerable.Range(0, i + 1).Aggregate(1.0, (p, k) => p * (t + k)) / (1 + i))))
            .SetArgDisplayNames("folds inside a sum");
    }

    /// <summary>
    /// Taylor mode (which these cover: no fallback) equals forward mode applied <c>order</c> times to the trace, evaluated
    /// by the trace interpreter: an oracle that shares no code with the Taylor recurrences.
    /// </summary>
    [TestCaseSource(nameof(Mixed))]
    public void EqualsRepeatedForwardMode(Expression<Func<double, double>> f)
    {
        var (_, constants) = ExprAD.Caching.StructuralKey.Of(f, "taylor-test");
        var source = ExprAD.Frontend.ExpressionTranslator.Translate(f, [ExprAD.IR.ParameterRole.Scalar], constants);
        foreach (int order in new[] { 2, 3, 5, 7 })
        {
            Assert.That(ExprAD.Transforms.TaylorMode.Apply(source, order), Is.Not.Null, "covered by Taylor mode");
            var trace = source;
            for (int k = 0; k < order; k++)
            {
                var forward = ExprAD.Transforms.ForwardMode.Apply(trace, 1, (b, _, _) => b.Constant(1.0));
                trace = forward.WithOutputs([forward.Outputs[1]]);
            }
            foreach (double x in new[] { -0.4, 0.2, 0.9 })
            {
                double taylor = AD.Derivative(f, order)(x);
                var values = ExprAD.IR.TraceInterpreter.Run(trace, _ => x, constants.ToArray());
                double forward = values[trace.Outputs[0].Index];
                Assert.That(taylor, Is.EqualTo(forward).Within(1e-9 * Math.Max(1, Math.Abs(forward))), $"order {order} at {x}");
            }
        }
    }

    /// <summary>Order 20 through a loop, against the closed form: the 20th derivative of Σ_{k=0}^{30} x^k / k! is Σ_{k=20}^{30} x^(k-20) / (k-20)!.</summary>
    [Test]
    public void Order20ThroughALoopMatchesTheClosedForm()
    {
        Expression<Func<double, double>> f = t => Enumerable.Range(0, 31).Sum(k => Math.Pow(t, k) / Enumerable.Range(1, k).Aggregate(1.0, (p, j) => p * j));
        const double x = 0.7;
        double expected = Enumerable.Range(20, 11).Sum(k => Math.Pow(x, k - 20) / Factorial(k - 20));
        Assert.That(AD.Derivative(f, 20)(x), Is.EqualTo(expected).Within(1e-10 * expected));
        // The derived code grows about quadratically with the order (coefficient convolutions), not exponentially.
        var (_, constants) = ExprAD.Caching.StructuralKey.Of(f, "taylor-test");
        var source = ExprAD.Frontend.ExpressionTranslator.Translate(f, [ExprAD.IR.ParameterRole.Scalar], constants);
        static int Total(ExprAD.IR.Trace t) => t.Count + t.Regions.Sum(r => Total(r.Body));
        int Length(int order) => Total(ExprAD.Passes.DeadCodeElimination.Apply(ExprAD.Transforms.TaylorMode.Apply(source, order)!));
        TestContext.Out.WriteLine($"trace length at orders 5, 10, 20: {Length(5)}, {Length(10)}, {Length(20)}");
        Assert.That(Length(20), Is.LessThan(5 * Length(10)), "doubling the order at most about quadruples the code");
    }
}
