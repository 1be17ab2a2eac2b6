using System.Linq.Expressions;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>Methods ExprAD cannot look into (compiled C#), taught to it with AD.Define in the tests below.</summary>
public static class OpaqueMath
{
    /// <summary>log(1 + e^a), written so that ExprAD sees only a method call.</summary>
    public static double Softplus(double a) => a > 30 ? a + Math.Log(1 + Math.Exp(-a)) : Math.Log(1 + Math.Exp(a));

    /// <summary>√(a² + b²).</summary>
    public static double Hypot(double a, double b) => Math.Sqrt(a * a + b * b);

    /// <summary>a b + c, through a method.</summary>
    public static double Fma3(double a, double b, double c) => a * b + c;

    /// <summary>a b c d.</summary>
    public static double Product4(double a, double b, double c, double d) => a * b * c * d;

    /// <summary>Defined twice by a test (first wrongly): a³.</summary>
    public static double Cube(double a) => a * a * a;

    /// <summary>Never defined: its calls are rejected with a message.</summary>
    public static double Undefined(double a) => a;

    /// <summary>Defined concurrently by the thread-safety test, one method per thread: a k-th power of sorts.</summary>
    public static double Scaled0(double a) => 1 * a * a;
    public static double Scaled1(double a) => 2 * a * a;
    public static double Scaled2(double a) => 3 * a * a;
    public static double Scaled3(double a) => 4 * a * a;
}

/// <summary>
/// Custom derivative rules (AD.Define): the method is called for the value, the partials (expressions of the arguments
/// and the result) give the derivative, in forward and reverse mode and again at second order, against closed forms
/// and finite differences; redefinition, thread-safety and the errors.
/// </summary>
[TestFixture]
public class CustomRuleTests
{
    [OneTimeSetUp]
    public void DefineTheRules()
    {
        AD.Define((double a) => OpaqueMath.Softplus(a), (a, y) => 1 / (1 + Math.Exp(-a)));
        AD.Define((double a, double b) => OpaqueMath.Hypot(a, b), (a, b, y) => a / y, (a, b, y) => b / y);
        AD.Define((double a, double b, double c) => OpaqueMath.Fma3(a, b, c), (a, b, c, y) => b, (a, b, c, y) => a, (a, b, c, y) => 1);
        AD.Define((double a, double b, double c, double d) => OpaqueMath.Product4(a, b, c, d),
            (a, b, c, d, y) => b * c * d, (a, b, c, d, y) => a * c * d, (a, b, c, d, y) => a * b * d, (a, b, c, d, y) => a * b * c);
    }

    private static double Sigmoid(double t) => 1 / (1 + Math.Exp(-t));

    [Test]
    public void OneArgumentInBothModesAndAtSecondOrder()
    {
        // f(x) = softplus(x²): f' = 2x σ(x²), f'' = 2 σ(x²) + 4x² σ(x²)(1 - σ(x²)).
        Expression<Func<double, double>> f = x => OpaqueMath.Softplus(x * x);
        foreach (double x in new[] { -1.3, 0.0, 0.4, 2.0 })
        {
            double s = Sigmoid(x * x);
            Assert.That(AD.Derivative(f)(x), Is.EqualTo(2 * x * s).Within(1e-14));
            Assert.That(AD.Derivative(f, 2)(x), Is.EqualTo(2 * s + 4 * x * x * s * (1 - s)).Within(1e-13));
        }
        // Third order, a call on a constant and one on x (repeated forward mode through the partials):
        // the third derivative of softplus(x) softplus(1.5) is s (1 - s)(1 - 2 s) softplus(1.5), s = sigmoid(x).
        var third = AD.Derivative(x => OpaqueMath.Softplus(x) * OpaqueMath.Softplus(1.5), 3);
        double s3 = Sigmoid(0.7);
        Assert.That(third(0.7), Is.EqualTo(s3 * (1 - s3) * (1 - 2 * s3) * Math.Log(1 + Math.Exp(1.5))).Within(1e-13));
        // A call on a constant in code Taylor mode covers otherwise: (softplus(1.5) sin x)''' = -softplus(1.5) cos x.
        Assert.That(AD.Derivative(x => OpaqueMath.Softplus(1.5) * Math.Sin(x), 3)(0.7), Is.EqualTo(-Math.Log(1 + Math.Exp(1.5)) * Math.Cos(0.7)).Within(1e-14));
        // Reverse mode and forward over reverse on an array function.
        Expression<Func<double[], double>> g = x => OpaqueMath.Softplus(x[0] * x[1]) + Enumerable.Range(0, x.Length).Sum(i => OpaqueMath.Softplus(x[i]));
        var point = new[] { 0.3, -0.8, 1.1 };
        var gradient = new double[3];
        double value = AD.Gradient(g)(point, gradient);
        Assert.That(value, Is.EqualTo(g.Compile()(point)).Within(1e-15));
        Assert.That(gradient[0], Is.EqualTo(point[1] * Sigmoid(point[0] * point[1]) + Sigmoid(point[0])).Within(1e-14));
        Assert.That(gradient[2], Is.EqualTo(Sigmoid(point[2])).Within(1e-14));
        AssertHessianMatchesDifferences(g, point);
    }

    [Test]
    public void TwoThreeAndFourArguments()
    {
        Expression<Func<double[], double>> f = x => OpaqueMath.Hypot(x[0], x[1]) * OpaqueMath.Fma3(x[1], x[2], x[0])
            + OpaqueMath.Product4(x[0], x[1], x[2], x[3]) + OpaqueMath.Hypot(OpaqueMath.Fma3(x[3], x[3], 1), x[2]);
        var point = new[] { 0.7, -1.2, 0.5, 1.9 };
        var gradient = new double[4];
        double value = AD.Gradient(f)(point, gradient);
        Assert.That(value, Is.EqualTo(f.Compile()(point)).Within(1e-14));
        var compiled = f.Compile();
        for (int j = 0; j < 4; j++)
        {
            var plus = (double[])point.Clone();
            var minus = (double[])point.Clone();
            plus[j] += 1e-6;
            minus[j] -= 1e-6;
            Assert.That(gradient[j], Is.EqualTo((compiled(plus) - compiled(minus)) / 2e-6).Within(1e-7), $"∂f/∂x{j}");
        }
        // Forward mode agrees with reverse mode.
        var direction = new[] { 0.3, 0.1, -0.7, 0.2 };
        double directional = 0;
        AD.Jvp(f)(point, direction, out directional);
        Assert.That(directional, Is.EqualTo(gradient.Zip(direction).Sum(p => p.First * p.Second)).Within(1e-12));
        AssertHessianMatchesDifferences(f, point);
    }

    /// <summary>The dense Hessian (forward over reverse) against central differences of the gradient, and symmetric.</summary>
    private static void AssertHessianMatchesDifferences(Expression<Func<double[], double>> f, double[] point)
    {
        int n = point.Length;
        var h = new double[n * n];
        AD.Hessian(f)(point, new double[n], h);
        var gradient = AD.Gradient(f);
        for (int j = 0; j < n; j++)
        {
            var plus = (double[])point.Clone();
            var minus = (double[])point.Clone();
            plus[j] += 1e-5;
            minus[j] -= 1e-5;
            var gp = new double[n];
            var gm = new double[n];
            gradient(plus, gp);
            gradient(minus, gm);
            for (int i = 0; i < n; i++)
            {
                Assert.That(h[i * n + j], Is.EqualTo((gp[i] - gm[i]) / 2e-5).Within(1e-6 * Math.Max(1, Math.Abs(h[i * n + j]))), $"H[{i},{j}]");
                Assert.That(h[i * n + j], Is.EqualTo(h[j * n + i]).Within(1e-12), "symmetric");
            }
        }
    }

    [Test]
    public void ALaterDefinitionTakesEffectForLambdasCompiledAfterIt()
    {
        Expression<Func<double, double>> f = x => OpaqueMath.Cube(x);
        AD.Define((double a) => OpaqueMath.Cube(a), (a, y) => 2 * a * a); // wrong on purpose
        var before = AD.Derivative(f);
        Assert.That(before(2.0), Is.EqualTo(8.0));
        AD.Define((double a) => OpaqueMath.Cube(a), (a, y) => 3 * y / a);
        var after = AD.Derivative(f);
        Assert.That(after(2.0), Is.EqualTo(12.0), "the same lambda instance, compiled again, takes the new definition");
        Assert.That(AD.Derivative(x => OpaqueMath.Cube(x))(2.0), Is.EqualTo(12.0), "a new lambda of the same shape too");
        Assert.That(before(2.0), Is.EqualTo(8.0), "a delegate compiled earlier keeps its definition");
    }

    [Test]
    public void DefinitionsFromManyThreadsAtOnce()
    {
        Expression<Func<double, double>>[] calls = [a => OpaqueMath.Scaled0(a), a => OpaqueMath.Scaled1(a), a => OpaqueMath.Scaled2(a), a => OpaqueMath.Scaled3(a)];
        var results = new double[calls.Length];
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 4 }, k =>
        {
            int m = k % calls.Length;
            double scale = m + 1;
            AD.Define(calls[m], (a, y) => 2 * scale * a); // each thread defines its method (again) and compiles with it; scale is read now
            results[m] = AD.Derivative(calls[m])(1.5);
        });
        for (int m = 0; m < calls.Length; m++) Assert.That(results[m], Is.EqualTo(2 * (m + 1) * 1.5), $"Scaled{m}");
    }

    [Test]
    public void BadDefinitionsAndUndefinedMethodsAreRejectedByName()
    {
        var notACall = Assert.Throws<ArgumentException>(() => AD.Define((double a) => a * 2, (a, y) => 2))!;
        Assert.That(notACall.ParamName, Is.EqualTo("call"));
        var math = Assert.Throws<ArgumentException>(() => AD.Define((double a) => Math.Sin(a), (a, y) => Math.Cos(a)))!;
        Assert.That(math.Message, Does.Contain("Math.Sin"));
        double[] table = [3.0];
        var closure = Assert.Throws<ArgumentException>(() => AD.Define((double a) => OpaqueMath.Undefined(a), (a, y) => table[0]))!;
        Assert.That(closure.ParamName, Is.EqualTo("derivative"), "an array read at call time cannot go into other lambdas' code");
        var undefined = Assert.Throws<NotSupportedException>(() => AD.Derivative(x => OpaqueMath.Undefined(x) * x))!;
        Assert.That(undefined.Message, Does.Contain("OpaqueMath.Undefined"));
    }
}
