using System.Globalization;
using System.Linq.Expressions;
using System.Numerics;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Constructs ExprAD cannot differentiate raise <see cref="NotSupportedException"/> with the message
/// "Cannot differentiate `&lt;sub-expression&gt;`: &lt;why&gt;.", quoting the offending sub-expression as
/// <see cref="Expression.ToString"/> prints it. Each case names the offending node by a predicate over the
/// lambda (so the expected quote is computed from the tree, not copied from ExprAD's output) and gives
/// words the reason must contain.
/// </summary>
[TestFixture]
public class UnsupportedConstructTests
{
    public sealed class Polynomial
    {
        public double A = 1, B = 2;
        public double Evaluate(double x) => A + B * x;
    }

    public static class Helpers
    {
        public static double Square(double x) => x * x;
    }

    public sealed class Point(double x)
    {
        public double X { get; } = x;
    }

    public sealed class Weights
    {
        public double[] W = { 1, 2, 3 };
    }

    /// <summary>One row: how to request a derivative, the lambda, which node must be quoted, and words of the reason.</summary>
    public sealed record Case(string Name, Action<LambdaExpression> Request, LambdaExpression Lambda, Func<Expression, bool> Offender, string[] Why)
    {
        public override string ToString() => Name;
    }

    private static Action<LambdaExpression> ArrayGradient => f => AD.Gradient((Expression<Func<double[], double>>)f);
    private static Action<LambdaExpression> ArrayJvp => f => AD.Jvp((Expression<Func<double[], double>>)f);
    private static Action<LambdaExpression> ScalarDerivative => f => AD.Derivative((Expression<Func<double, double>>)f);
    private static Action<LambdaExpression> TwoScalarGradient => f => AD.Gradient((Expression<Func<double, double, double>>)f);
    private static Action<LambdaExpression> WeightsGradient => f => AD.Gradient((Expression<Func<double[], Weights, double>>)f);
    private static Action<LambdaExpression> Tracing => f => AD.Trace(f);

    private static Case Grad(string name, Expression<Func<double[], double>> f, Func<Expression, bool> offender, params string[] why) =>
        new(name, ArrayGradient, f, offender, why);

    private static Func<Expression, bool> Call(string method) => e => e is MethodCallExpression m && m.Method.Name == method;
    private static Func<Expression, bool> Member(string member) => e => e is MemberExpression m && m.Member.Name == member;
    private static Func<Expression, bool> Kind(ExpressionType type) => e => e.NodeType == type;

    public static IEnumerable<Case> Cases()
    {
        Func<double, double> compiled = Math.Exp; // a compiled delegate captured in a closure
        var polynomial = new Polynomial();
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression X(int i) => Expression.ArrayIndex(x, Expression.Constant(i));

        yield return Grad("double.Parse of ToString", v => double.Parse(v[0].ToString()),
            Call(nameof(double.Parse)), "no derivative rule for", "Double.Parse");
        yield return new Case("negative index", ArrayGradient,
            Expression.Lambda<Func<double[], double>>(X(-1), x), Kind(ExpressionType.ArrayIndex), ["index -1 is negative"]);
        // A LINQ operator that is not a loop stage is the sequence looped over, and is named as such.
        yield return Grad("LINQ Sum of Skip", v => v.Skip(1).Sum(), Call(nameof(Enumerable.Sum)),
            "cannot loop over `v.Skip(1)` of type `IEnumerable<Double>`: loops run over arrays, lists and `Enumerable.Range`");
        yield return Grad("LINQ OrderBy then Sum", v => v.OrderBy(e => e).Sum(), Call(nameof(Enumerable.Sum)), "cannot loop over", "IOrderedEnumerable<Double>");
        yield return Grad("LINQ Max of Reverse inside arithmetic", v => Math.Pow(v[0], 2) + v.Reverse().Max(), Call(nameof(Enumerable.Max)),
            "cannot loop over `v.Reverse()`");
        yield return Grad("string length of ToString", v => v[0].ToString().Length, Member(nameof(string.Length)), "Length");
        yield return Grad("string concatenation", v => ("v" + v[0]).Length, Member(nameof(string.Length)), "Length");
        yield return Grad("new object", v => new Point(v[0]).X, Member(nameof(Point.X)), "X");
        yield return Grad("new BCL struct", v => new Complex(v[0], 0).Real, Member(nameof(Complex.Real)), "Real");
        yield return Grad("instance method of a user type", v => polynomial.Evaluate(v[0]),
            Call(nameof(Polynomial.Evaluate)), "no derivative rule for", "Polynomial.Evaluate(Double)");
        yield return Grad("static method of a user type", v => Helpers.Square(v[0]) + 1,
            Call(nameof(Helpers.Square)), "no derivative rule for", "Helpers.Square(Double)");
        yield return Grad("compiled delegate in a closure", v => compiled(v[0]), Kind(ExpressionType.Invoke),
            "only lambda expressions can be invoked", "compiled delegate");
        yield return Grad("Math.Round with digits", v => Math.Round(v[0], 2),
            Call(nameof(Math.Round)), "no derivative rule for", "Math.Round(Double, Int32)");
        yield return Grad("Math.Max of ints in the result", v => Math.Max((int)v[0], 3) * v[1],
            Call(nameof(Math.Max)), "no derivative rule for", "Math.Max(Int32, Int32)");
        yield return Grad("Math.Abs of int", v => Math.Abs((int)v[0]) * v[1],
            Call(nameof(Math.Abs)), "no derivative rule for", "Math.Abs(Int32)");
        yield return Grad("double method CompareTo", v => v[0].CompareTo(1.0),
            Call(nameof(double.CompareTo)), "no derivative rule for", "CompareTo");
        yield return Grad("checked conversion to int", v => checked((int)v[0]) * v[1],
            Kind(ExpressionType.ConvertChecked), "conversion from Double to Int32");
        yield return Grad("checked conversion to long", v => (double)checked((long)v[0]),
            Kind(ExpressionType.ConvertChecked), "Int64");
        yield return Grad("round trip through float", v => (double)(float)v[0],
            e => e.NodeType == ExpressionType.Convert && e.Type == typeof(float), "Single");
        yield return Grad("round trip through long", v => (double)(long)v[0],
            e => e.NodeType == ExpressionType.Convert && e.Type == typeof(long), "Int64");
        yield return Grad("round trip through decimal", v => (double)(decimal)v[0],
            e => e is UnaryExpression { Method: not null }, "op_Explicit");
        yield return Grad("nullable coalesce", v => (double?)v[0] ?? 0, Kind(ExpressionType.Coalesce), "Coalesce");
        yield return Grad("array built in the lambda indexed out of range", v => new[] { v[0], v[1] }[2], Kind(ExpressionType.ArrayIndex),
            "outside the array of 2 elements");
        yield return Grad("type test", v => (object)v[0] is double ? 1 : 0, Kind(ExpressionType.TypeIs), "TypeIs");
        yield return new Case("block", ArrayGradient,
            Expression.Lambda<Func<double[], double>>(Expression.Block(X(0)), x), Kind(ExpressionType.Block), ["Block"]);

        // Other entry points report the same way.
        yield return new Case("Derivative of string length", ScalarDerivative, (Expression<Func<double, double>>)(t => t.ToString().Length),
            Member(nameof(string.Length)), ["Length"]);
        yield return new Case("Derivative of Math.Round with digits", ScalarDerivative, (Expression<Func<double, double>>)(t => Math.Round(t, 1) * t),
            Call(nameof(Math.Round)), ["Math.Round(Double, Int32)"]);
        yield return new Case("two-scalar gradient of a user method", TwoScalarGradient,
            (Expression<Func<double, double, double>>)((a, b) => Helpers.Square(a) * b),
            Call(nameof(Helpers.Square)), ["Helpers.Square(Double)"]);
        yield return new Case("Trace of LINQ", Tracing, (Expression<Func<double[], double>>)(v => v.Skip(1).Sum()),
            Call(nameof(Enumerable.Sum)), ["cannot loop over `v.Skip(1)`"]);
    }

    [TestCaseSource(nameof(Cases))]
    public void ThrowsNotSupportedQuotingTheSubExpression(Case c)
    {
        var offender = Find(c.Lambda.Body, c.Offender);
        Assert.That(offender, Is.Not.Null, "test bug: the predicate matches no node of the lambda");
        var quote = offender!.ToString();

        var e = Assert.Throws<NotSupportedException>(() => c.Request(c.Lambda));
        Assert.Multiple(() =>
        {
            Assert.That(e!.Message, Does.StartWith($"Cannot differentiate `{quote}`: "), "quotes the offending sub-expression");
            foreach (var why in c.Why) Assert.That(e.Message, Does.Contain(why), "says why");
            Assert.That(e.Message, Does.EndWith("."));
        });
    }

    [Test]
    public void TheParseExampleQuotesTheToStringCall()
    {
        // x => double.Parse(x[0].ToString()): the quote must show the ToString call the user wrote.
        var e = Assert.Throws<NotSupportedException>(() => AD.Gradient(v => double.Parse(v[0].ToString())));
        Assert.That(e!.Message, Does.Contain("v[0].ToString()"));
    }

    [Test]
    public void LongSubExpressionsAreQuotedTruncated()
    {
        // A sum of 60 terms has a printed form far longer than 200 characters; the message must stay readable.
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression sum = Expression.ArrayIndex(x, Expression.Constant(0));
        for (int i = 1; i < 60; i++) sum = Expression.Add(sum, Expression.ArrayIndex(x, Expression.Constant(i)));
        var round = Expression.Call(typeof(Math).GetMethod(nameof(Math.Round), [typeof(double), typeof(int)])!, sum, Expression.Constant(2));
        var lambda = Expression.Lambda<Func<double[], double>>(round, x);
        Assert.That(round.ToString().Length, Is.GreaterThan(400), "test premise");

        var e = Assert.Throws<NotSupportedException>(() => AD.Gradient(lambda));
        Assert.Multiple(() =>
        {
            Assert.That(e!.Message, Does.StartWith("Cannot differentiate `" + round.ToString()[..100]));
            Assert.That(e.Message.Length, Is.LessThan(400));
            Assert.That(e.Message, Does.Contain("Math.Round(Double, Int32)"));
        });
    }

    [Test]
    public void UnsupportedLambdaFailsAgainOnEveryRequest()
    {
        for (int i = 0; i < 3; i++)
            Assert.Throws<NotSupportedException>(() => AD.Gradient(v => v.Skip(1).Sum() * v[0]));
    }

    // The counterpart: the same methods are fine on inactive values, which are evaluated, not differentiated.

    [Test]
    public void UnsupportedMethodsOnCapturedValuesAreEvaluatedNotDifferentiated()
    {
        double c = 2.567;
        int k = 1;
        string text = "2.5";
        var g = AD.Gradient(v => Math.Round(c, 2) * v[0] + Math.Max(k, 3) * v[1] + double.Parse(text, CultureInfo.InvariantCulture) * v[2]);
        var gradient = new double[3];
        g(new double[] { 1, 1, 1 }, gradient);
        Assert.That(gradient, Is.EqualTo(new[] { 2.57, 3.0, 2.5 }));
    }

    public static IEnumerable<TestCaseData> ConstantOnlySubExpressions()
    {
        yield return new TestCaseData((Expression<Func<double[], double>>)(v => Math.Round(2.567, 2) * v[0]), 2.57).SetName("Math.Round of a literal");
        yield return new TestCaseData((Expression<Func<double[], double>>)(v => Math.Max(1, 3) * v[0]), 3.0).SetName("Math.Max of int literals");
        yield return new TestCaseData((Expression<Func<double[], double>>)(v => "abcd".Length * v[0]), 4.0).SetName("length of a string literal");
        yield return new TestCaseData((Expression<Func<double[], double>>)(v => new[] { 1.0, 5.0 }[1] * v[0]), 5.0).SetName("element of a literal array");
    }

    [TestCaseSource(nameof(ConstantOnlySubExpressions))]
    public void ConstantOnlySubExpressionsAreEvaluatedNotDifferentiated(Expression<Func<double[], double>> f, double factor)
    {
        // A sub-expression that reads no variable has derivative zero whatever it calls; like a captured value it
        // is only evaluated. (With a captured operand instead of a literal the same call is accepted, see above.)
        var gradient = new double[1];
        double value = AD.Gradient(f)(new double[] { 2 }, gradient);
        Assert.That(value, Is.EqualTo(2 * factor).Within(1e-12));
        Assert.That(gradient[0], Is.EqualTo(factor).Within(1e-12));
    }

    private static Expression? Find(Expression root, Func<Expression, bool> predicate)
    {
        var finder = new Finder(predicate);
        finder.Visit(root);
        return finder.Found;
    }

    /// <summary>The first node in pre-order (outermost first) that satisfies the predicate.</summary>
    private sealed class Finder(Func<Expression, bool> predicate) : ExpressionVisitor
    {
        public Expression? Found { get; private set; }

        public override Expression? Visit(Expression? node)
        {
            if (node is null || Found is not null) return node;
            if (predicate(node)) { Found = node; return node; }
            return base.Visit(node);
        }
    }
}
