using System.Linq.Expressions;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Long written-out sums of terms of one shape are rolled into loops (Frontend/Rerolling.cs). The oracles: the lambda's own
/// <c>Compile()</c> for values (bit for bit: the loop adds the same numbers in the same order), and for derivatives the
/// same sum written so that it does not roll (every other term with its factors the other way round, which computes the
/// same numbers), compiled as straight-line code.
/// </summary>
[TestFixture]
public class RerollingTests
{
    private static readonly ParameterExpression X = Expression.Parameter(typeof(double[]), "x");

    private static Expression Read(int i) => Expression.ArrayIndex(X, Expression.Constant(i));

    private static Expression Chain(int terms, Func<int, Expression> term)
    {
        Expression sum = term(0);
        for (int i = 1; i < terms; i++) sum = Expression.Add(sum, term(i));
        return sum;
    }

    private static Expression<Func<double[], double>> Lambda(Expression body) => Expression.Lambda<Func<double[], double>>(body, X);

    /// <summary>a × b, or b × a for odd <paramref name="i"/> when <paramref name="alternate"/> (which keeps the sum from rolling).</summary>
    private static Expression Product(int i, bool alternate, Expression a, Expression b) =>
        alternate && i % 2 == 1 ? Expression.Multiply(b, a) : Expression.Multiply(a, b);

    private static double[] Point(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => random.NextDouble() * 4 - 2).ToArray();
    }

    private static void AssertSameGradient(Expression<Func<double[], double>> rolled, Expression<Func<double[], double>> straight, double[] x)
    {
        var g1 = new double[x.Length];
        var g2 = new double[x.Length];
        double v1 = AD.Gradient(rolled)(x, g1);
        double v2 = AD.Gradient(straight)(x, g2);
        Assert.Multiple(() =>
        {
            Assert.That(BitConverter.DoubleToInt64Bits(v1), Is.EqualTo(BitConverter.DoubleToInt64Bits(rolled.Compile()(x))), "value as C# computes it");
            Assert.That(v1, Is.EqualTo(v2));
            for (int i = 0; i < x.Length; i++) Assert.That(g1[i], Is.EqualTo(g2[i]).Within(1e-12).Percent, $"gradient[{i}]");
            Assert.That(AD.GetCompilationInfo(AD.Gradient(rolled))!.SourceTraceLength, Is.LessThan(100), "rolled into a loop");
            Assert.That(AD.GetCompilationInfo(AD.Gradient(straight))!.SourceTraceLength, Is.GreaterThan(x.Length), "the oracle stays straight-line");
        });
    }

    [Test]
    public void WeightedSumRollsAndKeepsValueAndGradient()
    {
        const int n = 3000;
        Expression Term(int i, bool alternate) => Product(i, alternate, Read(i), Expression.Constant(1.0 + 1e-3 * i));
        var x = Point(n, 1);
        AssertSameGradient(Lambda(Expression.Add(Chain(n, i => Term(i, false)), Expression.Constant(0.5))),
            Lambda(Expression.Add(Chain(n, i => Term(i, true)), Expression.Constant(0.5))), x);
        var g = new double[n];
        AD.Gradient(Lambda(Chain(n, i => Term(i, false))))(x, g);
        Assert.That(g, Is.EqualTo(Enumerable.Range(0, n).Select(i => 1.0 + 1e-3 * i).ToArray()), "∂/∂x[i] is the weight, exactly");
    }

    [Test]
    public void NonlinearTermsWithShiftedAndPermutedIndices()
    {
        // Rosenbrock written out (indices i and i + 1), plus a sum over a permutation (indices read from a table).
        const int n = 400;
        var permutation = Enumerable.Range(0, n).Select(i => i * 7 % n).ToArray();
        Expression Rosen(int i, bool alternate)
        {
            var a = Expression.Subtract(Expression.Constant(1.0), Read(i));
            var b = Expression.Subtract(Read(i + 1), Expression.Multiply(Read(i), Read(i)));
            Expression first = Expression.Multiply(a, a), second = Expression.Multiply(Expression.Constant(100.0), Expression.Multiply(b, b));
            return alternate && i % 2 == 1 ? Expression.Add(second, first) : Expression.Add(first, second);
        }
        Expression Permuted(int i, bool alternate) =>
            Product(i, alternate, Expression.Call(typeof(Math).GetMethod(nameof(Math.Sin))!, Read(permutation[i])), Read(i));
        var x = Point(n, 2);
        AssertSameGradient(Lambda(Chain(n - 1, i => Rosen(i, false))), Lambda(Chain(n - 1, i => Rosen(i, true))), x);
        AssertSameGradient(Lambda(Chain(n, i => Permuted(i, false))), Lambda(Chain(n, i => Permuted(i, true))), x);
    }

    [Test]
    public void SumOfNegativeZerosIsNegativeZeroAsInCSharp()
    {
        // -0.0 + -0.0 is -0.0: a loop that started its sum at +0.0 would return +0.0.
        var f = Lambda(Chain(500, i => Expression.Multiply(Read(i), Expression.Constant(1.0 + i))));
        var x = Enumerable.Repeat(-0.0, 500).ToArray();
        double value = AD.Gradient(f)(x, new double[500]);
        Assert.That(double.IsNegative(value), Is.True);
        Assert.That(double.IsNegative(AD.Value(f)(x)), Is.True);
    }

    [Test]
    public void TermsAfterTheRunAndShortRunsStayAsWritten()
    {
        // 200 rolled terms, then terms of other shapes; and a chain whose shape changes after 127 terms (not rolled).
        Expression Mixed(int i) => i < 200 ? Expression.Multiply(Read(i % 50), Expression.Constant(i * 0.01))
            : Expression.Call(typeof(Math).GetMethod(nameof(Math.Exp))!, Expression.Multiply(Read(i % 50), Expression.Constant(0.001 * i)));
        Expression Short(int i) => i < 127 ? Expression.Multiply(Read(i % 50), Expression.Constant(i * 0.01)) : Expression.Divide(Read(i % 50), Expression.Constant((double)i));
        var x = Point(50, 3);
        foreach (var (f, rolls) in new[] { (Lambda(Chain(260, Mixed)), true), (Lambda(Chain(300, Short)), false) })
        {
            var g = new double[50];
            double value = AD.Gradient(f)(x, g);
            Assert.That(value, Is.EqualTo(f.Compile()(x)));
            CheckAgainstFiniteDifferences(f, x, g);
            Assert.That(AD.GetCompilationInfo(AD.Gradient(f))!.SourceTraceLength < 400, Is.EqualTo(rolls), "200 terms rolled: about 4 instructions per term left");
        }
    }

    [Test]
    public void ConstantsWhoseValueMattersMustBeEqualToRoll()
    {
        // The exponent differs between terms: x^2 must keep its rule (2x, defined for x < 0), so nothing rolls.
        var pow = typeof(Math).GetMethod(nameof(Math.Pow))!;
        var f = Lambda(Chain(300, i => Expression.Call(pow, Read(i % 10), Expression.Constant(2.0 + i % 3))));
        var x = Point(10, 4);
        var g = new double[10];
        Assert.That(AD.Gradient(f)(x, g), Is.EqualTo(f.Compile()(x)));
        CheckAgainstFiniteDifferences(f, x, g);
        Assert.That(AD.GetCompilationInfo(AD.Gradient(f))!.SourceTraceLength, Is.GreaterThan(300));
    }

    public sealed class Weights
    {
        public double[] W = [];
    }

    [Test]
    public void RolledSumsReadDataAndEnclosingLoopVariables()
    {
        const int n = 300;
        var d = Expression.Parameter(typeof(Weights), "d");
        var j = Expression.Parameter(typeof(int), "j");
        var w = Expression.Field(d, nameof(Weights.W));
        // Σ_j x[j] · (Σ_i d.W[i] · x[i] · c_i): the inner written-out sum reads the data and the outer loop's variable.
        var inner = Chain(n, i => Expression.Multiply(Expression.Multiply(Expression.ArrayIndex(w, Expression.Constant(i)), Read(i)), Expression.Constant(0.5 + i)));
        var outer = Expression.Call(typeof(Enumerable), nameof(Enumerable.Sum), [typeof(int)],
            Expression.Call(typeof(Enumerable).GetMethod(nameof(Enumerable.Range))!, Expression.Constant(0), Expression.Constant(3)),
            Expression.Lambda<Func<int, double>>(Expression.Multiply(Expression.ArrayIndex(X, j), Expression.Multiply(inner, Expression.Convert(j, typeof(double)))), j));
        var f = Expression.Lambda<Func<double[], Weights, double>>(outer, X, d);
        var data = new Weights { W = Point(n, 5) };
        var x = Point(n, 6);
        var g = new double[n];
        double value = AD.Gradient(f)(x, data, g);
        Assert.That(value, Is.EqualTo(f.Compile()(x, data)).Within(1e-12).Percent);
        // ∂/∂x[k] = [k < 3] k · S + (x[1] + 2 x[2]) · W[k] · c_k, with S the inner sum.
        double s = Enumerable.Range(0, n).Sum(i => data.W[i] * x[i] * (0.5 + i));
        for (int k = 0; k < n; k++)
        {
            double expected = (k < 3 ? k * s : 0) + (x[1] + 2 * x[2]) * data.W[k] * (0.5 + k);
            Assert.That(g[k], Is.EqualTo(expected).Within(1e-9).Percent, $"gradient[{k}]");
        }
        Assert.That(() => AD.Gradient(f)(x, new Weights { W = new double[10] }, g), Throws.InstanceOf<IndexOutOfRangeException>().Or.InstanceOf<ArgumentException>());
    }

    [Test]
    public void TooShortAnInputIsReportedNotReadPastItsEnd()
    {
        var f = Lambda(Chain(300, i => Expression.Multiply(Read(i), Expression.Constant(1.0 + i))));
        Assert.That(() => AD.Gradient(f)(new double[299], new double[299]), Throws.InstanceOf<ArgumentException>().With.Message.Contains("x"));
        Assert.That(() => AD.Value(f)(new double[10]), Throws.InstanceOf<ArgumentException>().With.Message.Contains("x"));
    }

    [Test]
    public void SameShapeWithOtherConstantsIsAnotherKernel()
    {
        // The tables are baked into the kernel; the cache key holds every constant, so other weights compile again.
        var x = Point(300, 7);
        for (int round = 0; round < 3; round++)
        {
            var f = Lambda(Chain(300, i => Expression.Multiply(Read(i), Expression.Constant(round + 0.001 * i))));
            var g = new double[300];
            Assert.That(AD.Gradient(f)(x, g), Is.EqualTo(f.Compile()(x)));
            Assert.That(g[299], Is.EqualTo(round + 0.299));
        }
    }

    [Test]
    public void JacobianRowsRollToo()
    {
        const int n = 200;
        Expression Row(int r, bool alternate) => Chain(n, i => Product(i, alternate, Read(i), Expression.Constant(r + 1.0 / (i + 1))));
        var rolled = Expression.Lambda<Func<double[], double[]>>(Expression.NewArrayInit(typeof(double), Row(0, false), Row(1, false)), X);
        var straight = Expression.Lambda<Func<double[], double[]>>(Expression.NewArrayInit(typeof(double), Row(0, true), Row(1, true)), X);
        var x = Point(n, 8);
        var (v1, j1, v2, j2) = (new double[2], new double[2 * n], new double[2], new double[2 * n]);
        AD.Jacobian(rolled)(x, v1, j1);
        AD.Jacobian(straight)(x, v2, j2);
        Assert.That(v1, Is.EqualTo(rolled.Compile()(x)));
        Assert.That(j1, Is.EqualTo(j2));
        Assert.That(AD.GetCompilationInfo(AD.Jacobian(rolled))!.SourceTraceLength, Is.LessThan(100));
    }

    private static void CheckAgainstFiniteDifferences(Expression<Func<double[], double>> f, double[] x, double[] gradient)
    {
        var plain = f.Compile();
        for (int k = 0; k < x.Length; k++)
        {
            var up = (double[])x.Clone();
            var down = (double[])x.Clone();
            double h = 1e-6 * Math.Max(1, Math.Abs(x[k]));
            up[k] += h;
            down[k] -= h;
            Assert.That(gradient[k], Is.EqualTo((plain(up) - plain(down)) / (2 * h)).Within(1e-6 + 1e-5 * Math.Abs(gradient[k])), $"gradient[{k}]");
        }
    }
}
