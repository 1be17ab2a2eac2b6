using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using ExprAD.Caching;
using ExprAD.Frontend;
using ExprAD.IR;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// AD.Jacobian of vector-valued lambdas <c>x => new[] { e1, ..., em }</c>: values against the lambda compiled by
/// System.Linq.Expressions, entries against central finite differences computed here, rows against AD.Gradient of each
/// output on its own; both modes (the shape decides, and the choice itself is checked), loops with computed indices
/// (reverse mode scatter-adds into the right row), data, argument checks, rejected bodies, chunked code and allocation.
/// </summary>
[TestFixture]
public class JacobianTests
{
    public sealed class Camera
    {
        public double Scale = 1.5;
        public double[] Offset = { 0.25, -2 };
    }

    /// <summary>Central differences, step h relative to the coordinate: error O(h²) ≈ 1e-10 relative here.</summary>
    private static double[] CentralDifferences(Func<double[], double[]> f, double[] x, int m)
    {
        var jacobian = new double[m * x.Length];
        for (int j = 0; j < x.Length; j++)
        {
            double h = 1e-5 * Math.Max(1, Math.Abs(x[j]));
            var plus = (double[])x.Clone();
            var minus = (double[])x.Clone();
            plus[j] += h;
            minus[j] -= h;
            double[] up = f(plus), down = f(minus);
            for (int k = 0; k < m; k++) jacobian[k * x.Length + j] = (up[k] - down[k]) / (2 * h);
        }
        return jacobian;
    }

    private static void AssertClose(double[] actual, double[] expected, double tolerance, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what + ": length");
        for (int i = 0; i < expected.Length; i++)
            Assert.That(Math.Abs(actual[i] - expected[i]) / Math.Max(1, Math.Abs(expected[i])), Is.LessThanOrEqualTo(tolerance),
                $"{what}[{i}]: {actual[i]} vs {expected[i]}");
    }

    private static int[]? ForwardColumns(LambdaExpression f, params ParameterRole[] roles)
    {
        var (_, constants) = StructuralKey.Of(f, "any");
        return AD.JacobianForwardColumns(ExpressionTranslator.Translate(f, [.. roles], constants));
    }

    /// <summary>Checks values and every entry against the lambda run as plain .NET code.</summary>
    private static void CheckAgainstFiniteDifferences(Expression<Func<double[], double[]>> f, double[] x)
    {
        var plain = f.Compile();
        int m = plain(x).Length;
        var jacobianOf = AD.Jacobian(f);
        var values = new double[m];
        var jacobian = Enumerable.Repeat(double.NaN, m * x.Length).ToArray(); // every entry must be written
        jacobianOf(x, values, jacobian);
        AssertClose(values, plain(x), 1e-14, "values");
        AssertClose(jacobian, CentralDifferences(plain, x, m), 1e-6, "jacobian");
    }

    // R^2 -> R^3: two elements read, three outputs, so forward mode, one direction per element.
    private static readonly Expression<Func<double[], double[]>> Tall = x => new[]
    {
        x[0] * x[1],
        Math.Sin(x[0]) + x[1] * x[1],
        Math.Exp(x[0] / x[1]) - Math.Log(x[1]),
    };

    // R^4 -> R^2: four elements read, two outputs, so reverse mode, one sweep per output.
    private static readonly Expression<Func<double[], double[]>> Wide = x => new[]
    {
        x[0] * x[1] * Math.Cos(x[2]) + Math.Sqrt(x[3]),
        Math.Atan2(x[3], x[0]) + x[2] * x[2] * x[1],
    };

    [Test]
    public void TheShapeChoosesTheMode()
    {
        Assert.That(ForwardColumns(Tall, ParameterRole.Array), Is.EqualTo(new[] { 0, 1 }), "2 elements read <= 3 outputs: forward");
        Assert.That(ForwardColumns(Wide, ParameterRole.Array), Is.Null, "4 elements read > 2 outputs: reverse");
        Expression<Func<double[], double[]>> square = x => new[] { x[0] * x[2], x[2] - x[0] };
        Assert.That(ForwardColumns(square, ParameterRole.Array), Is.EqualTo(new[] { 0, 2 }), "a tie goes to forward");
        Expression<Func<double[], double[]>> loop = x => new[] { x.Sum(v => v * v), x[0], x[1] };
        Assert.That(ForwardColumns(loop, ParameterRole.Array), Is.Null, "computed indices: reverse");
    }

    [Test]
    public void ForwardModeShapeMatchesFiniteDifferences() => CheckAgainstFiniteDifferences(Tall, [0.7, 1.3]);

    [Test]
    public void ReverseModeShapeMatchesFiniteDifferences() => CheckAgainstFiniteDifferences(Wide, [0.7, -1.3, 0.4, 2.2]);

    [Test]
    public void ColumnsOfElementsNotReadAreZero()
    {
        // Forward (2 read, 2 outputs) and reverse (3 read, 2 outputs), each with x longer than the elements read.
        Expression<Func<double[], double[]>> forward = x => new[] { x[2] * x[2], x[0] - x[2] };
        Expression<Func<double[], double[]>> reverse = x => new[] { x[2] * x[4], x[0] - x[2] };
        CheckAgainstFiniteDifferences(forward, [1, 2, 3, 4, 5]);
        CheckAgainstFiniteDifferences(reverse, [1, 2, 3, 4, 5, 6]);
    }

    [Test]
    public void SharedWorkAndConditionalsMatchFiniteDifferences()
    {
        // Outputs share r = |x|² and branch on it (both branches are traced; the derivative is the taken one's).
        Expression<Func<double[], double[]>> f = x => new[]
        {
            x[0] * x[0] + x[1] * x[1] + x[2] * x[2] > 1 ? Math.Sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]) : 1 + x[0],
            Math.Max(x[0], x[1]) * (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]),
        };
        CheckAgainstFiniteDifferences(f, [0.9, -0.8, 0.3]);
        CheckAgainstFiniteDifferences(f, [0.2, 0.1, 0.3]);
    }

    private static readonly Expression<Func<double[], double>>[] Rows =
    [
        x => x[0] * x[1] * Math.Cos(x[2]) + Math.Sqrt(x[3]),
        x => Math.Atan2(x[3], x[0]) + x[2] * x[2] * x[1],
        x => Math.Tanh(x[1] - x[3]) * x[0],
    ];

    /// <summary>x => new[] { Rows[0](x), ..., Rows[m-1](x) } (invoked lambdas are inlined), so each row also exists alone.</summary>
    private static Expression<Func<double[], double[]>> Stack(IReadOnlyList<Expression<Func<double[], double>>> rows)
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        return Expression.Lambda<Func<double[], double[]>>(
            Expression.NewArrayInit(typeof(double), rows.Select(r => Expression.Invoke(r, x))), x);
    }

    [TestCase(1, TestName = "one output (reverse)")]
    [TestCase(3, TestName = "three outputs (reverse)")]
    public void RowsAgreeWithGradient(int m)
    {
        var x = new[] { 0.6, 1.7, -0.4, 2.5, 9.0 };
        var values = new double[m];
        var jacobian = new double[m * x.Length];
        AD.Jacobian(Stack(Rows[..m]))(x, values, jacobian);
        for (int k = 0; k < m; k++)
        {
            var gradient = new double[x.Length];
            double y = AD.Gradient(Rows[k])(x, gradient);
            Assert.That(values[k], Is.EqualTo(y).Within(1e-15), $"value {k}");
            AssertClose(jacobian[(k * x.Length)..((k + 1) * x.Length)], gradient, 1e-13, $"row {k}");
        }
    }

    [Test]
    public void ForwardRowsAgreeWithGradient()
    {
        // Six copies of the rows over four elements: 4 <= 6, forward mode, checked against reverse-mode gradients.
        var rows = Rows.Concat(Rows).ToArray();
        var f = Stack(rows);
        Assert.That(ForwardColumns(f, ParameterRole.Array), Is.Not.Null);
        var x = new[] { 0.6, 1.7, -0.4, 2.5 };
        var values = new double[rows.Length];
        var jacobian = new double[rows.Length * x.Length];
        AD.Jacobian(f)(x, values, jacobian);
        for (int k = 0; k < rows.Length; k++)
        {
            var gradient = new double[x.Length];
            Assert.That(values[k], Is.EqualTo(AD.Gradient(rows[k])(x, gradient)).Within(1e-15), $"value {k}");
            AssertClose(jacobian[(k * x.Length)..((k + 1) * x.Length)], gradient, 1e-13, $"row {k}");
        }
    }

    [Test]
    public void LoopsWithComputedIndicesAddIntoTheirOwnRow()
    {
        // Every output reads x inside a loop; reverse mode's scatter-adds must land in row k, not row 0.
        Expression<Func<double[], double[]>> f = x => new[]
        {
            Enumerable.Range(0, x.Length).Sum(i => x[i] * x[i] * (i + 1)),
            x[0] * x.Sum(v => Math.Sin(v)),
            Enumerable.Range(0, x.Length - 1).Sum(i => x[i + 1] * x[i]) + x[2],
        };
        var x = new[] { 0.3, -1.1, 0.8, 1.9, -0.5 };
        CheckAgainstFiniteDifferences(f, x);
        Expression<Func<double[], double>>[] rows =
        [
            x => Enumerable.Range(0, x.Length).Sum(i => x[i] * x[i] * (i + 1)),
            x => x[0] * x.Sum(v => Math.Sin(v)),
            x => Enumerable.Range(0, x.Length - 1).Sum(i => x[i + 1] * x[i]) + x[2],
        ];
        var jacobian = new double[3 * x.Length];
        AD.Jacobian(f)(x, new double[3], jacobian);
        for (int k = 0; k < 3; k++)
        {
            var gradient = new double[x.Length];
            AD.Gradient(rows[k])(x, gradient);
            AssertClose(jacobian[(k * x.Length)..((k + 1) * x.Length)], gradient, 1e-13, $"row {k}");
        }
    }

    [Test]
    public void AComputedIndexOutsideALoopAddsIntoItsRow()
    {
        // x[(int)x[0]] is an element at a computed index read at the top level: reverse mode, scatter-added into row 1.
        Expression<Func<double[], double[]>> f = x => new[] { x[1] * x[3], x[(int)x[0]] * x[(int)x[0]] + x[1] };
        Assert.That(ForwardColumns(f, ParameterRole.Array), Is.Null);
        CheckAgainstFiniteDifferences(f, [2.3, 0.5, -1.25, 4.0]);
    }

    [Test]
    public void ConstantOutputsHaveZeroRowsAndNoOutputsIsEmpty()
    {
        var x = new[] { 1.5, -2.0 };
        var values = new double[2];
        var jacobian = Enumerable.Repeat(7.0, 4).ToArray();
        AD.Jacobian(p => new[] { 3.0, Math.PI })(x, values, jacobian);
        Assert.That(values, Is.EqualTo(new[] { 3.0, Math.PI }));
        Assert.That(jacobian, Is.EqualTo(new double[4]));
        var none = AD.Jacobian(p => new double[] { });
        none(x, Span<double>.Empty, Span<double>.Empty);
        Assert.Throws<ArgumentException>(() => none(x, new double[1], Span<double>.Empty));
    }

    [Test]
    public void ArraysComputedInTheLambdaAreVectorFunctionsToo()
    {
        // An Aggregate's array state (a fold: reverse mode sweeps it once per output) and a choice between arrays.
        Expression<Func<double[], double[]>> fold = x => x.Aggregate(new[] { 0.0, 1.0 }, (s, v) => new[] { s[0] + v * v, s[1] * Math.Sin(v) });
        Expression<Func<double[], double[]>> choice = x => x[0] > 0 ? new[] { x[0] * x[1], x[2] } : new[] { x[2], x[0] - x[1] };
        CheckAgainstFiniteDifferences(fold, [0.4, -1.2, 0.9, 2.0]);
        CheckAgainstFiniteDifferences(choice, [0.4, -1.2, 0.9]);
        CheckAgainstFiniteDifferences(choice, [-0.4, -1.2, 0.9]);
    }

    [Test]
    public void LoopJacobianOverwritesWhatTheSpanHeld()
    {
        Expression<Func<double[], double[]>> f = x => new[] { x.Sum(v => v * v), x[1] };
        var x = new[] { 1.0, 2.0, 3.0 };
        var jacobian = Enumerable.Repeat(99.0, 6).ToArray();
        AD.Jacobian(f)(x, new double[2], jacobian);
        Assert.That(jacobian, Is.EqualTo(new[] { 2.0, 4.0, 6.0, 0.0, 1.0, 0.0 }));
    }

    [Test]
    public void DataIsReadAtCallTimeAndNotDifferentiated()
    {
        Expression<Func<double[], Camera, double[]>> f = (x, c) => new[]
        {
            c.Scale * x[0] / x[2] + c.Offset[0],
            c.Scale * x[1] / x[2] + c.Offset[1],
        };
        var jacobianOf = AD.Jacobian(f);
        var x = new[] { 0.5, -1.5, 4.0 };
        foreach (var camera in new[] { new Camera(), new Camera { Scale = -3, Offset = [7, 8] } })
        {
            var plain = f.Compile();
            var values = new double[2];
            var jacobian = new double[6];
            jacobianOf(x, camera, values, jacobian);
            AssertClose(values, plain(x, camera), 1e-15, "values");
            AssertClose(jacobian, CentralDifferences(p => plain(p, camera), x, 2), 1e-6, "jacobian");
        }
    }

    [Test]
    public void VectorValueMatchesThePlainLambda()
    {
        var x = new[] { 0.7, -1.3, 0.4, 2.2 };
        var values = new double[2];
        AD.Value(Wide)(x, values);
        AssertClose(values, Wide.Compile()(x), 1e-15, "values");
        Expression<Func<double[], Camera, double[]>> g = (p, c) => new[] { c.Scale * p[0], c.Offset[1] - p[1], p.Sum(v => v) };
        var three = new double[3];
        AD.Value(g)(x, new Camera(), three);
        AssertClose(three, g.Compile()(x, new Camera()), 1e-15, "data values");
    }

    [Test]
    public void WrongLengthsThrowNamingTheArgumentAndTheExpectedLength()
    {
        var forward = AD.Jacobian(Tall);
        var reverse = AD.Jacobian(Wide);
        var x4 = new double[] { 1, 2, 3, 4 };
        var e = Assert.Throws<ArgumentException>(() => reverse(x4, new double[3], new double[8]))!;
        Assert.That(e.ParamName, Is.EqualTo("values"));
        Assert.That(e.Message, Does.Contain("expected 2"));
        e = Assert.Throws<ArgumentException>(() => reverse(x4, new double[2], new double[7]))!;
        Assert.That(e.ParamName, Is.EqualTo("jacobian"));
        Assert.That(e.Message, Does.Contain("expected 8"));
        e = Assert.Throws<ArgumentException>(() => reverse(new double[] { 1, 2, 3 }, new double[2], new double[6]))!;
        Assert.That(e.ParamName, Is.EqualTo("x"));
        Assert.That(e.Message, Does.Contain("at least 4"));
        e = Assert.Throws<ArgumentException>(() => forward(new double[] { 1, 2 }, new double[3], new double[5]))!;
        Assert.That(e.ParamName, Is.EqualTo("jacobian"));
        Assert.That(e.Message, Does.Contain("expected 6"));
        var vector = AD.Value(Wide);
        e = Assert.Throws<ArgumentException>(() => vector(x4, new double[1]))!;
        Assert.That(e.ParamName, Is.EqualTo("values"));
        Assert.That(e.Message, Does.Contain("expected 2"));
    }

    [Test]
    public void TheJacobianOfALoopMustNotOverlapX()
    {
        var g = AD.Jacobian(x => new[] { x.Sum(v => v * v) });
        var buffer = new double[] { 1, 2, 3, 4, 5, 6 };
        var e = Assert.Throws<ArgumentException>(() => g(buffer.AsSpan(0, 3), new double[1], buffer.AsSpan(2, 3)))!;
        Assert.That(e.ParamName, Is.EqualTo("jacobian"));
    }

    [Test]
    public void AnArrayBodyThatIsNotAnInitializerIsRejectedAndQuoted()
    {
        var e = Assert.Throws<NotSupportedException>(() => AD.Jacobian(x => x))!;
        Assert.That(e.Message, Does.Contain("`x`").And.Contain("new[]"));
        e = Assert.Throws<NotSupportedException>(() => AD.Jacobian(x => x.Select(v => v * 2).ToArray()))!;
        Assert.That(e.Message, Does.Contain("x.Select(v => (v * 2)).ToArray()").And.Contain("run-time length"));
        e = Assert.Throws<NotSupportedException>(() => AD.Jacobian<Camera>((x, c) => c.Offset))!;
        Assert.That(e.Message, Does.Contain("c.Offset"));
        // An array of run-time length is a valid value (zeros here), copied out whole.
        var zeros = AD.Value(x => new double[x.Length]);
        var values = new[] { 1.0, 2.0 };
        zeros([3.0, 4.0], values);
        Assert.That(values, Is.EqualTo(new[] { 0.0, 0.0 }));
        Assert.Throws<ArgumentException>(() => zeros([3.0, 4.0, 5.0], values));
        // An element that cannot be differentiated is quoted as usual.
        e = Assert.Throws<NotSupportedException>(() => AD.Jacobian(x => new[] { x[0], double.Parse(x[1].ToString()) }))!;
        Assert.That(e.Message, Does.Contain("ToString()"));
    }

    [Test]
    public void LongTracesAreCompiledInChunks()
    {
        // Three outputs of 400 products each: a derived trace of several thousand instructions, lowered in chunks.
        var x = Expression.Parameter(typeof(double[]), "x");
        // Odd terms have their factors the other way round: terms of one shape would be rolled into a loop (Rerolling).
        Expression Term(int k, int i) => Product(i % 2 == 1,
            Expression.ArrayIndex(x, Expression.Constant((i * (k + 2)) % 7)),
            Expression.Call(typeof(Math).GetMethod(nameof(Math.Sin))!, Expression.ArrayIndex(x, Expression.Constant((i + k) % 7))));
        static Expression Product(bool swap, Expression a, Expression b) => swap ? Expression.Multiply(b, a) : Expression.Multiply(a, b);
        var rows = Enumerable.Range(0, 3).Select(k => Enumerable.Range(0, 400).Select(i => Term(k, i)).Aggregate(Expression.Add)).ToArray();
        var f = Expression.Lambda<Func<double[], double[]>>(Expression.NewArrayInit(typeof(double), rows), x);
        var jacobianOf = AD.Jacobian(f);
        Assert.That(AD.GetCompilationInfo(jacobianOf)!.TraceLength, Is.GreaterThan(Codegen.TraceLowering.DefaultChunkSize), "long enough to be chunked");
        CheckAgainstFiniteDifferences(f, [0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7]);
    }

    [Test]
    public void ConcurrentCallsGetTheirOwnResults()
    {
        var jacobianOf = AD.Jacobian(Wide);
        var plain = Wide.Compile();
        var failures = 0;
        Parallel.For(0, 2000, i =>
        {
            var x = new[] { 0.5 + i * 1e-3, -1.0, 0.3, 1.0 + i * 1e-3 };
            var values = new double[2];
            var jacobian = new double[8];
            jacobianOf(x, values, jacobian);
            var expected = plain(x);
            if (values[0] != expected[0] || values[1] != expected[1] || jacobian[3] != 0.5 / Math.Sqrt(x[3])) Interlocked.Increment(ref failures);
        });
        Assert.That(failures, Is.Zero);
    }

    private const int Calls = 10_000;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static double CallJacobian(JacobianFunc f, double[] x, double[] values, double[] jacobian)
    {
        double sum = 0;
        for (int i = 0; i < Calls; i++)
        {
            f(x, values, jacobian);
            sum += values[0] + jacobian[1];
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static double CallDataJacobian(JacobianFunc<Camera> f, double[] x, Camera c, double[] values, double[] jacobian)
    {
        double sum = 0;
        for (int i = 0; i < Calls; i++)
        {
            f(x, c, values, jacobian);
            sum += values[0] + jacobian[1];
        }
        return sum;
    }


    [Test, NonParallelizable]
    public void SteadyStateCallsAllocateNothing()
    {
        var x = new[] { 0.7, -1.3, 0.4, 2.2, 0.9 };
        var (two, three, six, ten) = (new double[2], new double[3], new double[6], new double[10]);
        var forward = AD.Jacobian(Tall);
        var shortX = x[..2];
        Assert.That(AllocationTests.Measure(() => CallJacobian(forward, shortX, three, six)), Is.Zero, "forward");
        var reverse = AD.Jacobian(Wide);
        Assert.That(AllocationTests.Measure(() => CallJacobian(reverse, x, two, ten)), Is.Zero, "reverse");
        var loops = AD.Jacobian(p => new[] { p.Sum(v => v * v), p[0] * p.Sum(v => Math.Sin(v)) });
        Assert.That(AllocationTests.Measure(() => CallJacobian(loops, x, two, ten)), Is.Zero, "loops");
        var camera = AD.Jacobian<Camera>((p, c) => new[] { c.Scale * p[0] / p[2] + c.Offset[0], c.Scale * p[1] / p[2] + c.Offset[1] });
        var data = new Camera();
        Assert.That(AllocationTests.Measure(() => CallDataJacobian(camera, x, data, two, ten)), Is.Zero, "data");
    }
}
