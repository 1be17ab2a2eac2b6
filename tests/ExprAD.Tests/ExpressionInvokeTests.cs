using System.Linq.Expressions;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Expression-valued helpers invoked with <see cref="ExpressionInvoke"/>: inlined inside lambdas (read from a static field, a
/// captured variable or a property, with one to four arguments, nested, shared), part of the cache key (another expression in
/// the same field gives another kernel), rejected with a message where they cannot be read or recurse, and evaluated by a
/// compiled delegate outside lambdas, from many threads at once.
/// </summary>
[TestFixture]
public class ExpressionInvokeTests
{
    private static readonly Expression<Func<double, double>> Softplus = z => Math.Log(1 + Math.Exp(z));
    private static readonly Expression<Func<double, double, double>> Product = (a, b) => a * b;
    private static readonly Expression<Func<double, double, double, double>> Affine = (a, b, c) => a * b + c;
    private static readonly Expression<Func<double, double, double, double, double>> Dot2 = (a, b, c, d) => a * c + b * d;
    private static readonly Expression<Func<double, double>> Square = z => z * z;
    private static readonly Expression<Func<double, double>> SquarePlusOne = z => Square.Invoke(z) + 1;
    private static Expression<Func<double, double>> s_mutable = z => 2 * z;
    private static Expression<Func<double, double>>? s_null = null;
    private static Expression<Func<double, double>> s_recursive = z => z;

    private static Expression<Func<double, double>> SquareProperty => Square;

    public sealed class Holder
    {
        public Expression<Func<double, double>> F = z => z;
    }

    private static double Sigma(double z) => 1 / (1 + Math.Exp(-z));

    [Test]
    public void A_static_field_helper_is_inlined()
    {
        var g = AD.Gradient(x => Softplus.Invoke(x[0]) + Softplus.Invoke(x[0] * x[1]));
        double[] x = [0.4, -1.5], gradient = new double[2];
        double y = g(x, gradient);
        Assert.That(y, Is.EqualTo(Math.Log(1 + Math.Exp(0.4)) + Math.Log(1 + Math.Exp(-0.6))).Within(1e-14));
        Assert.That(gradient[0], Is.EqualTo(Sigma(0.4) + Sigma(-0.6) * x[1]).Within(1e-14));
        Assert.That(gradient[1], Is.EqualTo(Sigma(-0.6) * x[0]).Within(1e-14));
    }

    [Test]
    public void Helpers_of_two_three_and_four_arguments()
    {
        var g = AD.Gradient(x => Product.Invoke(x[0], x[1]) + Affine.Invoke(x[0], x[1], x[2]) + Dot2.Invoke(x[0], x[1], x[2], x[3]));
        double[] x = [2, 3, 5, 7], gradient = new double[4];
        Assert.That(g(x, gradient), Is.EqualTo(6 + 11 + (10 + 21)));
        // ∂/∂x0 = x1 + x1 + x2, ∂/∂x1 = x0 + x0 + x3, ∂/∂x2 = 1 + x0, ∂/∂x3 = x1.
        Assert.That(gradient, Is.EqualTo(new double[] { 3 + 3 + 5, 2 + 2 + 7, 1 + 2, 3 }));
    }

    [Test]
    public void A_helper_invoking_a_helper_and_a_property_and_a_captured_variable()
    {
        Expression<Func<double, double>> local = z => Math.Sin(z);
        var d = AD.Derivative(x => SquarePlusOne.Invoke(x) + SquareProperty.Invoke(x) + local.Invoke(x));
        Assert.That(d(1.5), Is.EqualTo(2 * 1.5 + 2 * 1.5 + Math.Cos(1.5)).Within(1e-15));
    }

    [Test]
    public void The_expression_read_is_part_of_the_cache_key()
    {
        // The same lambda (one call site) with another expression captured, and a field assigned another expression, each
        // give the derivative of the expression they read.
        static Func<double, double> Twice(Expression<Func<double, double>> f) => AD.Derivative(x => 2 * f.Invoke(x));
        Assert.That(Twice(z => z * z)(3), Is.EqualTo(12));
        Assert.That(Twice(z => z * z * z)(3), Is.EqualTo(54));
        static Func<double, double> FromField() => AD.Derivative(x => s_mutable.Invoke(x));
        s_mutable = z => 2 * z;
        Assert.That(FromField()(3), Is.EqualTo(2));
        s_mutable = z => z * z;
        Assert.That(FromField()(3), Is.EqualTo(6));
    }

    [Test]
    public void A_shared_argument_is_computed_once()
    {
        // Square reads its argument twice; exp(x0) is traced once.
        var trace = AD.Trace((Expression<Func<double[], double>>)(x => Square.Invoke(Math.Exp(x[0])))).ToString();
        Assert.That(trace.Split("exp").Length - 1, Is.EqualTo(1), trace);
    }

    [Test]
    public void An_expression_that_cannot_be_read_is_reported()
    {
        var fromData = Assert.Throws<NotSupportedException>(() => AD.Gradient<Holder>((x, h) => h.F.Invoke(x[0])))!;
        Assert.That(fromData.Message, Does.Contain("h.F").And.Contain("must be a field, a property or a captured variable"));
        var isNull = Assert.Throws<NotSupportedException>(() => AD.Derivative(x => s_null!.Invoke(x)))!;
        Assert.That(isNull.Message, Does.Contain("the expression invoked is null"));
    }

    [Test]
    public void A_recursive_helper_is_reported()
    {
        s_recursive = z => s_recursive.Invoke(z) + 1;
        var e = Assert.Throws<NotSupportedException>(() => AD.Derivative(x => s_recursive.Invoke(x)))!;
        Assert.That(e.Message, Does.Contain("calls itself"));
    }

    [Test]
    public void Outside_a_lambda_invoke_runs_the_expression()
    {
        Assert.That(Softplus.Invoke(2.0), Is.EqualTo(Math.Log(1 + Math.Exp(2.0))));
        Assert.That(Dot2.Invoke(1, 2, 3, 4), Is.EqualTo(11));
        Assert.That(SquarePlusOne.Invoke(3), Is.EqualTo(10));
        Assert.Throws<ArgumentNullException>(() => s_null!.Invoke(1));
    }

    [Test]
    public void Outside_a_lambda_invoke_is_thread_safe()
    {
        // A fresh instance, so that its delegate is compiled while the threads race for it.
        Expression<Func<double, double, double>> f = (a, b) => Math.Sqrt(a * a + b * b);
        var results = new double[2000];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => results[i] = f.Invoke(3 * i, 4 * i));
        for (int i = 0; i < results.Length; i++) Assert.That(results[i], Is.EqualTo(5.0 * i));
    }
}
