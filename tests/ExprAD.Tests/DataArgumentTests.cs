using System.Linq.Expressions;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// AD.Gradient&lt;TData&gt;: members of the data argument (fields and properties of type double, int and bool,
/// arrays and jagged arrays indexed by constants, and any inactive sub-expression) are read at call time and never
/// differentiated. Gradients are checked against central finite differences computed here from a plain C# copy of
/// each function.
/// </summary>
[TestFixture]
public class DataArgumentTests
{
    public sealed class Sample
    {
        public double Scale = 2;
        public int Count = 3;
        public bool UseSquare = true;
        public double[] Weights = { 0.5, -1.5, 2.0 };
        public double[][] Table = { new[] { 1.0, 4.0 }, new[] { -2.0, 0.25 } };
        public double Offset { get; set; } = 0.75;
        public int Power { get; set; } = 2;
        public Sample? Inner;
        public double Half => Scale / 2;
        public float Ratio = 1.5f;
        public long Big = 5;
        public short Small = 4;

        public double Bias(int k) => k * Offset;
    }

    private static readonly Expression<Func<double[], Sample, double>> Model = (w, d) =>
        d.Scale * w[0] * w[0]
        + d.Count * w[1]
        + (d.UseSquare ? w[2] * w[2] : w[2])
        + d.Weights[0] * w[0] * w[1] + d.Weights[2] * Math.Sin(w[2])
        + d.Table[1][0] * w[1] * w[2] + d.Table[0][1] * Math.Exp(0.1 * w[0])
        + d.Offset
        + Math.Pow(w[1], d.Power);

    private static double ModelByHand(double[] w, Sample d) =>
        d.Scale * w[0] * w[0]
        + d.Count * w[1]
        + (d.UseSquare ? w[2] * w[2] : w[2])
        + d.Weights[0] * w[0] * w[1] + d.Weights[2] * Math.Sin(w[2])
        + d.Table[1][0] * w[1] * w[2] + d.Table[0][1] * Math.Exp(0.1 * w[0])
        + d.Offset
        + Math.Pow(w[1], d.Power);

    /// <summary>Central differences of <paramref name="f"/> at <paramref name="w"/>.</summary>
    private static double[] FiniteDifferences(Func<double[], double> f, double[] w)
    {
        var gradient = new double[w.Length];
        for (int i = 0; i < w.Length; i++)
        {
            double h = 1e-6 * Math.Max(1, Math.Abs(w[i]));
            var plus = (double[])w.Clone();
            var minus = (double[])w.Clone();
            plus[i] += h;
            minus[i] -= h;
            gradient[i] = (f(plus) - f(minus)) / (2 * h);
        }
        return gradient;
    }

    private static void AssertGradient(double[] actual, double[] expected, string context)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length));
        for (int i = 0; i < actual.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(1e-6 * Math.Max(1, Math.Abs(expected[i]))), $"{context}: ∂/∂w[{i}]");
    }

    [Test]
    public void GradientMatchesFiniteDifferences()
    {
        var g = AD.Gradient(Model);
        var data = new Sample();
        var w = new[] { 0.7, -1.2, 0.4 };
        var gradient = new double[3];
        double value = g(w, data, gradient);
        Assert.That(value, Is.EqualTo(ModelByHand(w, data)).Within(1e-12));
        AssertGradient(gradient, FiniteDifferences(v => ModelByHand(v, data), w), "defaults");
    }

    [Test]
    public void MembersAreReadAtCallTimeWhenTheDataObjectIsMutated()
    {
        var g = AD.Gradient(Model);
        var data = new Sample();
        var w = new[] { 0.7, -1.2, 0.4 };
        var gradient = new double[3];
        g(w, data, gradient);
        var before = (double[])gradient.Clone();

        data.Scale = -3;             // double field
        data.Count = 10;             // int field
        data.UseSquare = false;      // bool field picks the other branch
        data.Weights[0] = 4;         // array element
        data.Weights = new[] { 1.0, 1.0, -7.0 }; // the array itself replaced
        data.Table[1][0] = 9;        // jagged array element
        data.Offset = 100;           // property
        data.Power = 3;              // int property used as an exponent

        double value = g(w, data, gradient);
        Assert.That(value, Is.EqualTo(ModelByHand(w, data)).Within(1e-12));
        AssertGradient(gradient, FiniteDifferences(v => ModelByHand(v, data), w), "after mutation");
        Assert.That(gradient, Is.Not.EqualTo(before), "the mutation must change the gradient");
    }

    [Test]
    public void EachCallUsesTheDataObjectItIsGiven()
    {
        var g = AD.Gradient(Model);
        var first = new Sample();
        var second = new Sample { Scale = 5, Count = -1, UseSquare = false, Power = 4 };
        var w = new[] { -0.3, 0.9, 1.1 };
        var gradient = new double[3];
        for (int round = 0; round < 3; round++)
        {
            foreach (var data in new[] { first, second })
            {
                double value = g(w, data, gradient);
                Assert.That(value, Is.EqualTo(ModelByHand(w, data)).Within(1e-12));
                AssertGradient(gradient, FiniteDifferences(v => ModelByHand(v, data), w), $"round {round}");
            }
        }
    }

    [Test]
    public void InactiveSubExpressionsOfDataAreEvaluatedAtCallTime()
    {
        // Method calls, computed properties, nested objects and conversions on data are fine: they read no variable.
        var g = AD.Gradient<Sample>((w, d) =>
            Math.Sqrt(d.Scale * d.Count) * w[0]
            + d.Bias(2) * w[1]
            + d.Inner!.Weights[1] * w[0] * w[1]
            + d.Half * w[1] * w[1]
            + (d.Weights.Length > 2 ? d.Weights[2] : 0) * w[0]);
        var data = new Sample { Inner = new Sample() };
        Func<double[], double> byHand = w =>
            Math.Sqrt(data.Scale * data.Count) * w[0]
            + data.Bias(2) * w[1]
            + data.Inner!.Weights[1] * w[0] * w[1]
            + data.Half * w[1] * w[1]
            + (data.Weights.Length > 2 ? data.Weights[2] : 0) * w[0];
        var w = new[] { 1.5, -0.5 };
        var gradient = new double[2];
        Assert.That(g(w, data, gradient), Is.EqualTo(byHand(w)).Within(1e-12));
        AssertGradient(gradient, FiniteDifferences(byHand, w), "defaults");

        data.Inner.Weights[1] = 10;
        data.Offset = -2;
        data.Scale = 8;
        Assert.That(g(w, data, gradient), Is.EqualTo(byHand(w)).Within(1e-12));
        AssertGradient(gradient, FiniteDifferences(byHand, w), "after mutation");
    }

    [Test]
    public void NarrowAndWideNumericMembersAreConverted()
    {
        var g = AD.Gradient<Sample>((w, d) => d.Ratio * w[0] + d.Big * w[1] + d.Small * w[0] * w[1]);
        var data = new Sample();
        var gradient = new double[2];
        g(new[] { 2.0, 3.0 }, data, gradient);
        Assert.That(gradient, Is.EqualTo(new[] { 1.5 + 4 * 3.0, 5 + 4 * 2.0 }));
        data.Ratio = 0.25f;
        data.Big = -1;
        data.Small = 0;
        g(new[] { 2.0, 3.0 }, data, gradient);
        Assert.That(gradient, Is.EqualTo(new[] { 0.25, -1.0 }));
    }

    [Test]
    public void DataMayBeADoubleArray()
    {
        var g = AD.Gradient<double[]>((w, d) => d[0] * w[0] * w[0] + d[1] * w[1]);
        var data = new[] { 3.0, -2.0 };
        var gradient = new double[2];
        Assert.That(g(new[] { 2.0, 5.0 }, data, gradient), Is.EqualTo(12 - 10));
        Assert.That(gradient, Is.EqualTo(new[] { 12.0, -2.0 }));
        data[0] = 1;
        g(new[] { 2.0, 5.0 }, data, gradient);
        Assert.That(gradient, Is.EqualTo(new[] { 4.0, -2.0 }));
    }

    [Test]
    public void DataMayBeAJaggedArray()
    {
        var g = AD.Gradient<double[][]>((w, d) => d[0][1] * w[0] + d[1][0] * w[0] * w[1]);
        var data = new[] { new[] { 0.0, 2.0 }, new[] { 3.0 } };
        var gradient = new double[2];
        g(new[] { 1.0, 4.0 }, data, gradient);
        Assert.That(gradient, Is.EqualTo(new[] { 2 + 12.0, 3.0 }));
        data[1] = new[] { -1.0 };
        g(new[] { 1.0, 4.0 }, data, gradient);
        Assert.That(gradient, Is.EqualTo(new[] { 2 - 4.0, -1.0 }));
    }

    [Test]
    public void DataMayBeAScalar()
    {
        var g = AD.Gradient<double>((w, s) => s * Math.Sin(w[0]));
        var gradient = new double[1];
        Assert.That(g(new[] { 0.3 }, 4, gradient), Is.EqualTo(4 * Math.Sin(0.3)).Within(1e-15));
        Assert.That(gradient[0], Is.EqualTo(4 * Math.Cos(0.3)).Within(1e-15));
        g(new[] { 0.3 }, -1, gradient);
        Assert.That(gradient[0], Is.EqualTo(-Math.Cos(0.3)).Within(1e-15));
    }

    [Test]
    public void DataAndCapturedValuesTogether()
    {
        double captured = 10;
        var g = AD.Gradient<Sample>((w, d) => captured * d.Scale * w[0]);
        var data = new Sample();
        var gradient = new double[1];
        g(new[] { 1.0 }, data, gradient);
        Assert.That(gradient[0], Is.EqualTo(20));
        captured = 1;
        data.Scale = 7;
        g(new[] { 1.0 }, data, gradient);
        Assert.That(gradient[0], Is.EqualTo(7));
    }

    [Test]
    public void OneCompiledShapeServesManyDataObjectsWithoutMixingThem()
    {
        // Same lambda twice: the cached kernel reads whichever data object each call passes.
        var g1 = AD.Gradient<Sample>((w, d) => d.Weights[1] * w[0]);
        var g2 = AD.Gradient<Sample>((w, d) => d.Weights[1] * w[0]);
        var a = new Sample { Weights = new[] { 0.0, 2.0 } };
        var b = new Sample { Weights = new[] { 0.0, -3.0 } };
        var gradient = new double[1];
        g1(new[] { 1.0 }, b, gradient);
        Assert.That(gradient[0], Is.EqualTo(-3));
        g2(new[] { 1.0 }, a, gradient);
        Assert.That(gradient[0], Is.EqualTo(2));
    }

    public sealed class Overloads
    {
        public double Get(int i) => 10 * i;
        public double Get(double v) => 100 * v;
    }

    [Test]
    public void OverloadedDataMethodsWithEqualLookingArgumentsAreDistinctReads()
    {
        // d.Get(1) and d.Get(1.0) print alike ("d.Get(1)") but call different overloads: 10 and 100.
        var g = AD.Gradient<Overloads>((w, d) => d.Get(1) * w[0] + d.Get(1.0) * w[1]);
        var gradient = new double[2];
        double value = g(new[] { 1.0, 1.0 }, new Overloads(), gradient);
        Assert.That(gradient, Is.EqualTo(new[] { 10.0, 100.0 }));
        Assert.That(value, Is.EqualTo(110));
    }

    [Test]
    public void StaticMembersOfTypesWithTheSameNameAreDistinctReads()
    {
        // First.Config.Scale and Second.Config.Scale are different fields of two types both named Config.
        First.Config.Scale = 2;
        Second.Config.Scale = 5;
        var g = AD.Gradient<Sample>((w, d) => First.Config.Scale * w[0] + Second.Config.Scale * w[1] + d.Scale);
        var gradient = new double[2];
        double value = g(new[] { 1.0, 1.0 }, new Sample(), gradient);
        Assert.That(gradient, Is.EqualTo(new[] { 2.0, 5.0 }));
        Assert.That(value, Is.EqualTo(2 + 5 + 2));
    }

    [Test]
    public void StaticMembersOfTypesWithTheSameNameAreDistinctReadsWithoutData()
    {
        First.Config.Scale = 2;
        Second.Config.Scale = 5;
        var g = AD.Gradient(x => First.Config.Scale * x[0] + Second.Config.Scale * x[1]);
        var gradient = new double[2];
        g(new[] { 1.0, 1.0 }, gradient);
        Assert.That(gradient, Is.EqualTo(new[] { 2.0, 5.0 }));
    }

    public static class First
    {
        public static class Config
        {
            public static double Scale = 2;
        }
    }

    public static class Second
    {
        public static class Config
        {
            public static double Scale = 5;
        }
    }
}
