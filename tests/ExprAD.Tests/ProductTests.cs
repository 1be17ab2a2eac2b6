using System.Linq.Expressions;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Jacobian-vector (forward) and vector-Jacobian (reverse) products of vector-valued functions: against central
/// differences of the lambda compiled by <c>Expression.Compile()</c>, and against each other (uᵀ (J v) = (uᵀ J) v).
/// </summary>
[TestFixture]
public class ProductTests
{
    private static readonly Expression<Func<double[], double[]>> Outputs = x => new[]
    {
        Math.Sin(x[0]) * x[1],
        Enumerable.Range(0, x.Length).Sum(i => x[i] * x[i] * (i + 1)),
        Enumerable.Range(0, x.Length).Aggregate(1.0, (s, i) => s * 0.5 + Math.Exp(0.1 * x[i] * s)),
    };

    private static readonly double[] Point = [0.3, -0.7, 1.1, 0.4];
    private static readonly double[] Direction = [0.5, 1.0, -0.25, 2.0];
    private static readonly double[] Weights = [1.5, -0.5, 2.0];

    private static double[] CentralDifference(Func<double[], double[]> f, double[] x, double[] v, double h = 1e-6)
    {
        var plus = f(x.Select((e, k) => e + h * v[k]).ToArray());
        var minus = f(x.Select((e, k) => e - h * v[k]).ToArray());
        return plus.Select((p, k) => (p - minus[k]) / (2 * h)).ToArray();
    }

    [Test]
    public void JvpMatchesCentralDifferences()
    {
        var f = Outputs.Compile();
        var values = new double[3];
        var jv = new double[3];
        AD.Jvp(Outputs)(Point, Direction, values, jv);
        Assert.That(values, Is.EqualTo(f(Point)).Within(1e-14));
        var expected = CentralDifference(f, Point, Direction);
        for (int k = 0; k < 3; k++) Assert.That(jv[k], Is.EqualTo(expected[k]).Within(1e-7 * Math.Max(1, Math.Abs(expected[k]))), $"jv[{k}]");
    }

    [Test]
    public void VjpAgreesWithJvp()
    {
        var values = new double[3];
        var uj = new double[4];
        AD.Vjp(Outputs)(Point, Weights, values, uj);
        var jv = new double[3];
        var e = new double[4];
        for (int j = 0; j < 4; j++)
        {
            Array.Clear(e);
            e[j] = 1;
            AD.Jvp(Outputs)(Point, e, values, jv);
            double expected = Weights.Select((u, k) => u * jv[k]).Sum();
            Assert.That(uj[j], Is.EqualTo(expected).Within(1e-12 * Math.Max(1, Math.Abs(expected))), $"(uᵀJ)[{j}]");
        }
    }

    [Test]
    public void JvpOfAnArrayOfRunTimeLength()
    {
        Expression<Func<double[], double[]>> map = x => x.Select((v, i) => Math.Sin(v) * x[(i + 1) % x.Length]).ToArray();
        var f = map.Compile();
        var values = new double[4];
        var jv = new double[4];
        AD.Jvp(map)(Point, Direction, values, jv);
        Assert.That(values, Is.EqualTo(f(Point)).Within(1e-14));
        var expected = CentralDifference(f, Point, Direction);
        for (int k = 0; k < 4; k++) Assert.That(jv[k], Is.EqualTo(expected[k]).Within(1e-7), $"jv[{k}]");
    }

    [Test]
    public void VjpOfAnArrayOfRunTimeLengthAgreesWithJvp()
    {
        Expression<Func<double[], double[]>> map = x => x.Select((v, i) => Math.Sin(v) * x[(i + 1) % x.Length] + v * v).ToArray();
        double[] u = [0.5, -1.0, 2.0, 0.25];
        var values = new double[4];
        var uj = new double[4];
        AD.Vjp(map)(Point, u, values, uj);
        Assert.That(values, Is.EqualTo(map.Compile()(Point)).Within(1e-14));
        var jv = new double[4];
        var e = new double[4];
        for (int j = 0; j < 4; j++)
        {
            Array.Clear(e);
            e[j] = 1;
            AD.Jvp(map)(Point, e, values, jv);
            double expected = u.Select((w, k) => w * jv[k]).Sum();
            Assert.That(uj[j], Is.EqualTo(expected).Within(1e-12 * Math.Max(1, Math.Abs(expected))), $"(uᵀJ)[{j}]");
        }
        Assert.That(Assert.Throws<ArgumentException>(() => AD.Vjp(map)(Point, [1.0, 2.0, 3.0, 4.0, 5.0], values, uj))!.ParamName, Is.EqualTo("u"));
        Assert.That(Assert.Throws<ArgumentException>(() => AD.Vjp(map)(Point, [1.0, 2.0], values, uj))!.ParamName, Is.EqualTo("u"));
    }

    [Test]
    public void DataOverloadsAndLengthChecks()
    {
        Expression<Func<double[], double[], double[]>> scaled = (x, d) => new[] { d[0] * x[0] * x[1], d[1] * Math.Exp(x[1]) };
        var values = new double[2];
        var jv = new double[2];
        var uj = new double[2];
        double[] data = [2.0, 3.0];
        double[] x = [0.5, -0.2];
        AD.Jvp(scaled)(x, data, [1.0, 0.0], values, jv);
        Assert.That(jv[0], Is.EqualTo(2 * x[1]).Within(1e-15));
        Assert.That(jv[1], Is.EqualTo(0.0));
        AD.Vjp(scaled)(x, data, [0.0, 1.0], values, uj);
        Assert.That(uj[1], Is.EqualTo(3 * Math.Exp(x[1])).Within(1e-14));
        Assert.That(uj[0], Is.EqualTo(0.0));
        var ex = Assert.Throws<ArgumentException>(() => AD.Vjp(scaled)(x, data, [1.0], values, uj));
        Assert.That(ex!.ParamName, Is.EqualTo("u"));
        ex = Assert.Throws<ArgumentException>(() => AD.Jvp(scaled)(x, data, [1.0], values, jv));
        Assert.That(ex!.ParamName, Is.EqualTo("v"));
    }
}
