using System.Linq.Expressions;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Argument checks of the entry points and of the compiled delegates: wrong span lengths raise
/// <see cref="ArgumentException"/> naming the argument (ParamName and message) and the expected length,
/// and nothing is written when a check fails.
/// </summary>
[TestFixture]
public class ArgumentCheckTests
{
    public sealed class Data
    {
        public double Scale = 2;
    }

    public struct ValueData
    {
        public double Scale;
    }

    private static void AssertNames(ArgumentException e, string argument, int expectedLength)
    {
        Assert.Multiple(() =>
        {
            Assert.That(e.ParamName, Is.EqualTo(argument));
            // ArgumentException appends " (Parameter 'name')" by itself; the library's own text must name it too.
            var text = e.Message;
            int suffix = text.IndexOf(" (Parameter '", StringComparison.Ordinal);
            if (suffix >= 0) text = text[..suffix];
            Assert.That(text, Does.Match($@"\b{argument}\b"), "the message names the argument");
            Assert.That(text, Does.Match($@"\b{expectedLength}\b"), "the message gives the expected length");
        });
    }

    // ---- GradientFunc ----

    [Test]
    public void GradientRejectsTooShortX()
    {
        var g = AD.Gradient(x => x[0] * x[6]); // needs x.Length >= 7
        var gradient = new double[] { 42, 42 };
        var e = Assert.Throws<ArgumentException>(() => g(new double[2], gradient));
        AssertNames(e!, "x", 7);
        Assert.That(gradient, Is.EqualTo(new[] { 42.0, 42.0 }), "nothing written when a check fails");
    }

    [Test]
    public void GradientRejectsEmptyXWhenAnElementIsRead()
    {
        var g = AD.Gradient(x => x[0]);
        var e = Assert.Throws<ArgumentException>(() => g(ReadOnlySpan<double>.Empty, Span<double>.Empty));
        AssertNames(e!, "x", 1);
    }

    [TestCase(2)]
    [TestCase(4)]
    [TestCase(0)]
    public void GradientRejectsGradientOfOtherLengthThanX(int gradientLength)
    {
        var g = AD.Gradient(x => x[0] * x[1] * x[2]);
        var gradient = Enumerable.Repeat(42.0, gradientLength).ToArray();
        var e = Assert.Throws<ArgumentException>(() => g(new double[] { 1, 2, 3 }, gradient));
        AssertNames(e!, "gradient", 3);
        Assert.That(gradient, Is.All.EqualTo(42.0), "nothing written when a check fails");
    }

    [Test]
    public void GradientAcceptsLongerXAndZeroesEntriesTheFunctionDoesNotRead()
    {
        var g = AD.Gradient(x => x[1] * x[3]);
        var gradient = Enumerable.Repeat(42.0, 6).ToArray();
        double value = g(new double[] { 9, 2, 9, 5, 9, 9 }, gradient);
        Assert.That(value, Is.EqualTo(10));
        Assert.That(gradient, Is.EqualTo(new[] { 0.0, 5, 0, 2, 0, 0 }));
    }

    [Test]
    public void GradientOfAConstantAcceptsEmptySpans()
    {
        var g = AD.Gradient((double[] x) => 3.0);
        Assert.That(g(ReadOnlySpan<double>.Empty, Span<double>.Empty), Is.EqualTo(3));
        var gradient = new double[] { 42, 42 };
        Assert.That(g(new double[2], gradient), Is.EqualTo(3));
        Assert.That(gradient, Is.EqualTo(new[] { 0.0, 0.0 }));
    }

    // ---- GradientFunc<TData> ----

    [Test]
    public void DataGradientRejectsTooShortX()
    {
        var g = AD.Gradient<Data>((w, d) => d.Scale * w[4]);
        var e = Assert.Throws<ArgumentException>(() => g(new double[3], new Data(), new double[3]));
        AssertNames(e!, "x", 5);
    }

    [Test]
    public void DataGradientRejectsGradientOfOtherLengthThanX()
    {
        var g = AD.Gradient<Data>((w, d) => d.Scale * w[0]);
        var e = Assert.Throws<ArgumentException>(() => g(new double[3], new Data(), new double[1]));
        AssertNames(e!, "gradient", 3);
    }

    [Test]
    public void DataGradientRejectsNullData()
    {
        var g = AD.Gradient<Data>((w, d) => d.Scale * w[0]);
        var gradient = new double[] { 42 };
        Assert.Throws<ArgumentNullException>(() => g(new double[] { 1 }, null!, gradient));
        Assert.That(gradient[0], Is.EqualTo(42), "nothing written when a check fails");
    }

    [Test]
    public void NullDataIsReportedUnderTheDelegatesParameterName()
    {
        // The caller of GradientFunc<TData> passes `data`; the lambda's own parameter name (here `d`) is not part of the call.
        var g = AD.Gradient<Data>((w, d) => d.Scale * w[0]);
        var e = Assert.Throws<ArgumentNullException>(() => g(new double[] { 1 }, null!, new double[1]));
        Assert.That(e!.ParamName, Is.EqualTo("data"));
    }

    [Test]
    public void NullDataArrayIsRejected()
    {
        var g = AD.Gradient<double[]>((w, d) => d[0] * w[0]);
        Assert.Throws<ArgumentNullException>(() => g(new double[] { 1 }, null!, new double[1]));
    }

    [Test]
    public void ValueTypeDataNeedsNoNullCheck()
    {
        var g = AD.Gradient<ValueData>((w, d) => d.Scale * w[0]);
        var gradient = new double[1];
        Assert.That(g(new double[] { 2 }, default, gradient), Is.EqualTo(0));
        Assert.That(g(new double[] { 2 }, new ValueData { Scale = 3 }, gradient), Is.EqualTo(6));
        Assert.That(gradient[0], Is.EqualTo(3));
    }

    // ---- DirectionalDerivativeFunc ----

    [Test]
    public void JvpRejectsTooShortX()
    {
        var jvp = AD.Jvp(x => x[2]);
        var e = Assert.Throws<ArgumentException>(() => jvp(new double[2], new double[2], out _));
        AssertNames(e!, "x", 3);
    }

    [TestCase(2)]
    [TestCase(4)]
    public void JvpRejectsDirectionOfOtherLengthThanX(int directionLength)
    {
        var jvp = AD.Jvp(x => x[0] * x[1]);
        var e = Assert.Throws<ArgumentException>(() => jvp(new double[3], new double[directionLength], out _));
        AssertNames(e!, "direction", 3);
    }

    [Test]
    public void JvpAcceptsLongerXWithDirectionOfTheSameLength()
    {
        var jvp = AD.Jvp(x => x[0] * x[1]);
        double value = jvp(new double[] { 2, 3, 100 }, new double[] { 1, 1, 100 }, out double d);
        Assert.That(value, Is.EqualTo(6));
        Assert.That(d, Is.EqualTo(5));
    }

    // ---- Null lambdas and orders ----

    public static IEnumerable<TestCaseData> NullLambdaRequests()
    {
        yield return new TestCaseData(new TestDelegate(() => AD.Derivative(null!))).SetName("Derivative(null)");
        yield return new TestCaseData(new TestDelegate(() => AD.Derivative(null!, 2))).SetName("Derivative(null, 2)");
        yield return new TestCaseData(new TestDelegate(() => AD.Gradient((Expression<Func<double[], double>>)null!))).SetName("Gradient(array null)");
        yield return new TestCaseData(new TestDelegate(() => AD.Gradient<Data>(null!))).SetName("Gradient<TData>(null)");
        yield return new TestCaseData(new TestDelegate(() => AD.Jvp(null!))).SetName("Jvp(null)");
        yield return new TestCaseData(new TestDelegate(() => AD.Gradient((Expression<Func<double, double>>)null!))).SetName("Gradient(1 scalar null)");
        yield return new TestCaseData(new TestDelegate(() => AD.Gradient((Expression<Func<double, double, double>>)null!))).SetName("Gradient(2 scalars null)");
        yield return new TestCaseData(new TestDelegate(() => AD.Gradient((Expression<Func<double, double, double, double>>)null!))).SetName("Gradient(3 scalars null)");
        yield return new TestCaseData(new TestDelegate(() => AD.Gradient((Expression<Func<double, double, double, double, double>>)null!))).SetName("Gradient(4 scalars null)");
        yield return new TestCaseData(new TestDelegate(() => AD.Trace(null!))).SetName("Trace(null)");
    }

    [TestCaseSource(nameof(NullLambdaRequests))]
    public void NullLambdaIsRejected(TestDelegate request)
    {
        var e = Assert.Throws<ArgumentNullException>(request);
        Assert.That(e!.ParamName, Is.EqualTo("f"));
    }

    [TestCase(0)]
    [TestCase(-1)]
    [TestCase(int.MinValue)]
    public void DerivativeOrderBelowOneIsRejected(int order)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => AD.Derivative(x => x * x, order));
        Assert.That(e!.ParamName, Is.EqualTo("order"));
        Assert.That(e.ActualValue, Is.EqualTo(order));
    }

    [Test]
    public void NullLambdaIsCheckedBeforeTheOrder()
    {
        Assert.Throws<ArgumentNullException>(() => AD.Derivative(null!, 0));
    }

    // ---- EvaluationTrace ----

    private static EvaluationTrace TwoInputTrace() => AD.Trace((Expression<Func<double, double, double>>)((a, b) => a * b));

    [Test]
    public void TraceEvaluateRejectsWrongPointLength()
    {
        var e = Assert.Throws<ArgumentException>(() => TwoInputTrace().Evaluate(1));
        AssertNames(e!, "point", 2);
        Assert.Throws<ArgumentException>(() => TwoInputTrace().Evaluate(1, 2, 3));
    }

    [Test]
    public void ForwardTableRejectsWrongLengths()
    {
        var trace = TwoInputTrace();
        AssertNames(Assert.Throws<ArgumentException>(() => trace.ForwardTable([1], [1, 0]))!, "point", 2);
        AssertNames(Assert.Throws<ArgumentException>(() => trace.ForwardTable([1, 2], [1]))!, "direction", 2);
    }

    [Test]
    public void ReverseTableRejectsWrongPointLength()
    {
        AssertNames(Assert.Throws<ArgumentException>(() => TwoInputTrace().ReverseTable([1, 2, 3]))!, "point", 2);
    }

    [Test]
    public void TraceTablesRejectNullArrays()
    {
        var trace = TwoInputTrace();
        Assert.Multiple(() =>
        {
            Assert.That(Assert.Throws<ArgumentNullException>(() => trace.Evaluate(null!))!.ParamName, Is.EqualTo("point"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => trace.ForwardTable(null!, [1, 0]))!.ParamName, Is.EqualTo("point"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => trace.ForwardTable([1, 2], null!))!.ParamName, Is.EqualTo("direction"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => trace.ReverseTable(null!))!.ParamName, Is.EqualTo("point"));
        });
    }

    [Test]
    public void TraceRejectsLambdaNotReturningDouble()
    {
        var e = Assert.Throws<ArgumentException>(() => AD.Trace((Expression<Func<double, int>>)(x => (int)x)));
        Assert.That(e!.ParamName, Is.EqualTo("f"));
        Assert.That(e.Message, Does.Contain("double"));
    }

    [Test]
    public void TraceRejectsTwoDataParameters()
    {
        var e = Assert.Throws<ArgumentException>(() => AD.Trace((Expression<Func<double[], Data, Data, double>>)((x, a, b) => a.Scale * b.Scale * x[0])));
        Assert.That(e!.ParamName, Is.EqualTo("f"));
    }

    [Test]
    public void GetCompilationInfoOfAnyOtherDelegateIsNull()
    {
        Func<double, double> plain = Math.Sin;
        Assert.That(AD.GetCompilationInfo(plain), Is.Null);
        Assert.That(AD.GetCompilationInfo(new Func<double, double>(x => x)), Is.Null);
    }
}
