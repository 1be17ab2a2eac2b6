using System.Collections.Immutable;
using System.Linq.Expressions;
using ExprAD.Caching;
using ExprAD.Codegen;
using ExprAD.Frontend;
using ExprAD.IR;
using ExprAD.Passes;
using ExprAD.Rules;
using ExprAD.Transforms;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// <c>Enumerable.Range(a, n).Sum(i => ...)</c> becomes a loop region, never unrolled: checked in
/// both modes against hand-written loops, for nesting, for hoisting of loop-invariant code, for
/// trip counts read at call time (the kernel does not depend on them), and through chunked code.
/// </summary>
[TestFixture]
public class SumRegionTests
{
    private static double[] HandGradient(double x0, double x1, int from, int count, out double value)
    {
        // f = Σ_{i=from}^{from+count-1} sin(x0 i) / i + 0.5 x1² i, written out by hand.
        value = 0;
        var g = new double[2];
        for (int i = from; i < from + count; i++)
        {
            value += Math.Sin(x0 * i) / i + 0.5 * x1 * x1 * i;
            g[0] += Math.Cos(x0 * i);
            g[1] += x1 * i;
        }
        return g;
    }

    [Test]
    public void RangeSumGradientMatchesAHandWrittenLoopInBothModes()
    {
        var reverse = AD.Gradient(x => Enumerable.Range(1, 50).Sum(i => Math.Sin(x[0] * i) / i + 0.5 * x[1] * x[1] * i));
        var forward = AD.Jvp(x => Enumerable.Range(1, 50).Sum(i => Math.Sin(x[0] * i) / i + 0.5 * x[1] * x[1] * i));
        foreach (var (x0, x1) in new[] { (0.3, 0.7), (-1.1, 2.0), (0.0, 0.0) })
        {
            var expected = HandGradient(x0, x1, 1, 50, out double value);
            var g = new double[2];
            Assert.That(reverse([x0, x1], g), Is.EqualTo(value).Within(1e-12 * (1 + Math.Abs(value))));
            Assert.That(g[0], Is.EqualTo(expected[0]).Within(1e-10 * (1 + Math.Abs(expected[0]))));
            Assert.That(g[1], Is.EqualTo(expected[1]).Within(1e-10 * (1 + Math.Abs(expected[1]))));
            forward([x0, x1], [1, -2], out double directional);
            Assert.That(directional, Is.EqualTo(expected[0] - 2 * expected[1]).Within(1e-9 * (1 + Math.Abs(expected[1]))));
        }
    }

    [Test]
    public void TripCountIsReadAtCallTimeAndTheKernelDoesNotDependOnIt()
    {
        int count = 10;
        var gradient = AD.Gradient(x => Enumerable.Range(1, count).Sum(i => Math.Sin(x[0] * i) / i + 0.5 * x[1] * x[1] * i));
        var info = AD.GetCompilationInfo(gradient)!;
        var g = new double[2];
        foreach (var n in new[] { 10, 1000, 0, 3 })
        {
            count = n;
            var expected = HandGradient(0.4, 1.5, 1, n, out double value);
            Assert.That(gradient([0.4, 1.5], g), Is.EqualTo(value).Within(1e-12 * (1 + Math.Abs(value))), $"n = {n}");
            Assert.That(g, Is.EqualTo(expected).Within(1e-9 * (1 + n)), $"n = {n}");
        }
        count = 100_000;
        var again = AD.Gradient(x => Enumerable.Range(1, count).Sum(i => Math.Sin(x[0] * i) / i + 0.5 * x[1] * x[1] * i));
        Assert.That(AD.GetCompilationInfo(again), Is.SameAs(info), "the same kernel serves every trip count");
        Assert.That(info.TraceLength, Is.LessThan(60), "code size does not grow with the trip count");
    }

    [Test]
    public void NestedSumsInBothModesAndSecondDerivatives()
    {
        var gradient = AD.Gradient(x => Enumerable.Range(0, 5).Sum(i => Enumerable.Range(0, 4).Sum(k => x[0] * i * k + Math.Exp(x[1] * k) * i)));
        var g = new double[2];
        double value = gradient([1.2, 0.1], g);
        double v = 0, g0 = 0, g1 = 0;
        for (int i = 0; i < 5; i++)
            for (int k = 0; k < 4; k++)
            {
                v += 1.2 * i * k + Math.Exp(0.1 * k) * i;
                g0 += i * k;
                g1 += k * Math.Exp(0.1 * k) * i;
            }
        Assert.That(value, Is.EqualTo(v).Within(1e-12 * v));
        Assert.That(g[0], Is.EqualTo(g0).Within(1e-12 * g0));
        Assert.That(g[1], Is.EqualTo(g1).Within(1e-12 * g1));

        var second = AD.Derivative(t => Enumerable.Range(0, 10).Sum(i => Math.Pow(t, i)), 2);
        double expected = 0;
        for (int i = 2; i < 10; i++) expected += i * (i - 1) * Math.Pow(1.5, i - 2);
        Assert.That(second(1.5), Is.EqualTo(expected).Within(1e-10 * expected));
    }

    [Test]
    public void LoopInvariantCodeIsComputedOnceOutsideTheLoop()
    {
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, 100).Sum(i => Math.Sin(x[0]) * Math.Exp(x[1]) * i);
        var trace = ExpressionTranslator.Translate(f, [ParameterRole.Array], StructuralKey.Of(f, "test").Constants);
        TraceVerifier.Verify(trace);
        Assert.That(trace.Regions, Has.Length.EqualTo(1));
        var body = trace.Regions[0].Body;
        Assert.That(body.Instructions.Count(ins => ins.Op is Op.Sin or Op.Exp), Is.Zero, "sin and exp are hoisted out of the body");
        Assert.That(trace.Instructions.Count(ins => ins.Op is Op.Sin or Op.Exp), Is.EqualTo(2));
        Assert.That(body.Instructions.Count(ins => ins.Op == Op.Capture), Is.EqualTo(1), "the body captures their product once");
    }

    [Test]
    public void TransformsOfLoopsSatisfyTheTraceInvariants()
    {
        Expression<Func<double[], double>> f = x =>
            Enumerable.Range(0, 7).Sum(i => Enumerable.Range(i, 3).Sum(k => Math.Max(x[0] * k, x[1]) * Math.Sin(x[2] + i))) * x[0] + Math.Cos(x[1]);
        var trace = ExpressionTranslator.Translate(f, [ParameterRole.Array], StructuralKey.Of(f, "test").Constants);
        TraceVerifier.Verify(trace);
        var reverse = DeadCodeElimination.Apply(ReverseMode.Apply(trace, (b, _) => b.Constant(1.0)));
        TraceVerifier.Verify(reverse);
        var forward = DeadCodeElimination.Apply(ForwardMode.Apply(trace, 3, (b, input, d) => input.B == d ? b.Constant(1.0) : null));
        TraceVerifier.Verify(forward);
        var forwardOverReverse = DeadCodeElimination.Apply(ForwardMode.Apply(reverse, 1, (b, input, d) => input.B == 0 ? b.Constant(1.0) : null));
        TraceVerifier.Verify(forwardOverReverse);

        // Forward mode (3 directions, interpreted) and reverse mode (compiled: its trace builds an array, a map of the inner
        // sums, which the interpreter does not evaluate) agree, and both match central differences.
        var point = new[] { 0.3, 0.5, -0.2 };
        double Input(Instruction ins) => point[ins.B];
        var gradient = new double[3];
        AD.Gradient(f)(point, gradient);
        var fw = TraceInterpreter.Run(forward, Input, []);
        for (int k = 0; k < 3; k++)
        {
            double adjoint = gradient[k], tangent = fw[forward.Outputs[1 + k].Index];
            Assert.That(tangent, Is.EqualTo(adjoint).Within(1e-12 * (1 + Math.Abs(adjoint))), $"∂f/∂x[{k}]");
            double h = 1e-6;
            var plus = (double[])point.Clone(); plus[k] += h;
            var minus = (double[])point.Clone(); minus[k] -= h;
            var compiled = f.Compile();
            double fd = (compiled(plus) - compiled(minus)) / (2 * h);
            Assert.That(adjoint, Is.EqualTo(fd).Within(1e-6 * (1 + Math.Abs(fd))), $"∂f/∂x[{k}] against central differences");
        }
    }

    [Test]
    public void ChunkedCodeWithLoopsEqualsOneBlockAndAllocatesNothing()
    {
        Expression<Func<double[], double>> f = x =>
            Enumerable.Range(0, 20).Sum(i => Math.Sin(x[0] * i) * x[1]) + Math.Exp(x[0] * x[1]) +
            Enumerable.Range(3, 9).Sum(i => Enumerable.Range(0, i).Sum(k => Math.Cos(x[1] + k * x[0]))) * Math.Tanh(x[0]);
        var (_, constants) = StructuralKey.Of(f, "test");
        var source = ExpressionTranslator.Translate(f, [ParameterRole.Array], constants);
        var inputs = source.Inputs().Select(v => source[v]).ToArray();
        var trace = DeadCodeElimination.Apply(ReverseMode.Apply(source, (b, _) => b.Constant(1.0)));
        GradientKernel Build(int chunkSize) => KernelCompiler.Compile(TraceLowering.Lower<GradientKernel>(
            trace, LoweringPlans.Gradient(trace, inputs), chunk => KernelCompiler.Compile(chunk).Kernel, chunkSize)).Kernel;
        var whole = Build(1_000_000);
        foreach (var size in new[] { 1, 2, 5 })
        {
            var chunked = Build(size);
            var random = new Random(size);
            for (int trial = 0; trial < 50; trial++)
            {
                double[] x = [random.NextDouble(), random.NextDouble()];
                double[] expected = new double[2], actual = new double[2];
                Assert.That(chunked([], x, actual), Is.EqualTo(whole([], x, expected)));
                Assert.That(actual, Is.EqualTo(expected));
            }
        }

        var gradient = AD.Gradient(f);
        double[] point = [0.1, 0.2], g = new double[2];
        Assert.That(AllocationTests.Measure(() =>
        {
            double sum = 0;
            for (int call = 0; call < 1000; call++) sum += gradient(point, g);
            return sum;
        }), Is.Zero);
    }
}

/// <summary>
/// Loops over the active array: <c>x.Sum(...)</c>, <c>x.Length</c> and computed indices
/// <c>x[i + 1]</c>. Reverse mode scatter-adds the adjoint of each element read into the gradient;
/// indices are bounds-checked with a message that names the argument.
/// </summary>
[TestFixture]
public class ArrayLoopTests
{
    private static double[] Point(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => random.NextDouble() * 2 - 1).ToArray();
    }

    [TestCase(2)]
    [TestCase(7)]
    [TestCase(300)]
    public void RosenbrockAsALoopMatchesTheHandWrittenGradientForAnyLength(int n)
    {
        var gradient = AD.Gradient(x => Enumerable.Range(0, x.Length - 1).Sum(i =>
            100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (1 - x[i]) * (1 - x[i])));
        var jvp = AD.Jvp(x => Enumerable.Range(0, x.Length - 1).Sum(i =>
            100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (1 - x[i]) * (1 - x[i])));
        var x = Point(n, n);
        var expected = new double[n];
        double value = 0;
        for (int i = 0; i < n - 1; i++)
        {
            double t = x[i + 1] - x[i] * x[i];
            value += 100 * t * t + (1 - x[i]) * (1 - x[i]);
            expected[i] += -400 * t * x[i] - 2 * (1 - x[i]);
            expected[i + 1] += 200 * t;
        }
        var g = new double[n];
        Assert.That(gradient(x, g), Is.EqualTo(value).Within(1e-12 * (1 + value)));
        for (int k = 0; k < n; k++) Assert.That(g[k], Is.EqualTo(expected[k]).Within(1e-10 * (1 + Math.Abs(expected[k]))), $"∂f/∂x[{k}]");

        var direction = Point(n, n + 1);
        jvp(x, direction, out double directional);
        double dot = expected.Zip(direction, (p, q) => p * q).Sum();
        Assert.That(directional, Is.EqualTo(dot).Within(1e-9 * (1 + Math.Abs(dot))));
        Assert.That(AD.GetCompilationInfo(gradient)!.SourceTraceLength, Is.LessThan(10), "the loop is not unrolled");
    }

    [Test]
    public void ElementSumsLengthsAndConstantIndicesCombine()
    {
        var gradient = AD.Gradient(x => x.Sum(e => e * e) + x.Sum() * x[0] + x.Length);
        var x = Point(6, 3);
        var g = new double[6];
        double sum = x.Sum(), squares = x.Sum(e => e * e);
        Assert.That(gradient(x, g), Is.EqualTo(squares + sum * x[0] + 6).Within(1e-12));
        Assert.That(g[0], Is.EqualTo(2 * x[0] + x[0] + sum).Within(1e-12));
        for (int k = 1; k < 6; k++) Assert.That(g[k], Is.EqualTo(2 * x[k] + x[0]).Within(1e-12));
    }

    [Test]
    public void BadIndicesAndAliasingAreReportedNotCrashed()
    {
        var reads = AD.Gradient(x => Enumerable.Range(0, 10).Sum(i => x[i]));
        var shortPoint = new double[7];
        var e = Assert.Throws<ArgumentException>(() => reads(shortPoint, new double[7]));
        Assert.That(e!.ParamName, Is.EqualTo("x"));
        Assert.That(e.Message, Does.Contain("x[7]").And.Contain("length 7"));

        var gradient = AD.Gradient(x => x.Sum(v => v * v));
        var point = new double[4];
        var aliased = Assert.Throws<ArgumentException>(() => gradient(point, point));
        Assert.That(aliased!.ParamName, Is.EqualTo("gradient"));
    }

    [Test]
    public void AComputedIndexReadsTheElementAndCarriesItsDerivative()
    {
        // f = x[(int) x[1]]: the index is piecewise constant, so the derivative is 1 at the element read.
        var gradient = AD.Gradient(x => x[(int)x[1]] * 3);
        double[] x = [0.5, 2.7, -4, 8], g = new double[4];
        Assert.That(gradient(x, g), Is.EqualTo(-12));
        Assert.That(g, Is.EqualTo(new[] { 0.0, 0.0, 3.0, 0.0 }));
    }

    [Test]
    public void ArrayLoopKernelsAllocateNothing()
    {
        var gradient = AD.Gradient(x => Enumerable.Range(0, x.Length - 1).Sum(i => Math.Sin(x[i] * x[i + 1])));
        var x = Point(50, 5);
        var g = new double[50];
        Assert.That(AllocationTests.Measure(() =>
        {
            double sum = 0;
            for (int call = 0; call < 1000; call++) sum += gradient(x, g);
            return sum;
        }), Is.Zero);
    }
}

/// <summary>
/// Loops over data: elements of data arrays and rows of jagged ones at loop-dependent indices,
/// and their lengths, read at call time. The first program of the loops issue, the regularised
/// logistic loss, is checked as written against a hand-written loop.
/// </summary>
[TestFixture]
public class DataLoopTests
{
    public sealed class Dataset
    {
        public double[][] X = [];
        public double[] Y = [];
    }

    private static Dataset Make(int rows, int features, int seed)
    {
        var random = new Random(seed);
        return new Dataset
        {
            X = Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, features).Select(_ => random.NextDouble() - 0.5).ToArray()).ToArray(),
            Y = Enumerable.Range(0, rows).Select(_ => random.Next(2) * 2.0 - 1).ToArray(),
        };
    }

    private static double HandLogistic(double[] w, Dataset d, double[] gradient)
    {
        double loss = 0;
        Array.Clear(gradient);
        for (int i = 0; i < d.Y.Length; i++)
        {
            double z = 0;
            for (int j = 0; j < w.Length; j++) z += w[j] * d.X[i][j];
            double margin = -d.Y[i] * z;
            loss += Math.Log(1 + Math.Exp(margin));
            double sigmoid = 1 / (1 + Math.Exp(-margin));
            for (int j = 0; j < w.Length; j++) gradient[j] -= sigmoid * d.Y[i] * d.X[i][j];
        }
        for (int j = 0; j < w.Length; j++)
        {
            loss += 0.01 * w[j] * w[j];
            gradient[j] += 0.02 * w[j];
        }
        return loss;
    }

    [Test]
    public void LogisticRegressionAsWrittenInTheIssue()
    {
        var gradient = AD.Gradient<Dataset>((w, d) => Enumerable.Range(0, d.Y.Length).Sum(i =>
                Math.Log(1 + Math.Exp(-d.Y[i] * Enumerable.Range(0, w.Length).Sum(j => w[j] * d.X[i][j]))))
            + 0.01 * w.Sum(v => v * v));
        foreach (var (rows, features) in new[] { (1, 1), (50, 3), (400, 20) })
        {
            var data = Make(rows, features, rows);
            var w = Enumerable.Range(0, features).Select(j => 0.1 * j - 0.3).ToArray();
            var expected = new double[features];
            double loss = HandLogistic(w, data, expected);
            var g = new double[features];
            Assert.That(gradient(w, data, g), Is.EqualTo(loss).Within(1e-12 * loss), $"{rows} x {features}");
            for (int j = 0; j < features; j++)
                Assert.That(g[j], Is.EqualTo(expected[j]).Within(1e-11 * (1 + Math.Abs(expected[j]))), $"{rows} x {features}, ∂/∂w[{j}]");
        }
        Assert.That(AD.GetCompilationInfo(gradient)!.SourceTraceLength, Is.LessThan(20), "not unrolled over the data");
    }

    [Test]
    public void DataArrayAsTheDataArgumentAndRowLengths()
    {
        var gradient = AD.Gradient<double[][]>((p, rows) => Enumerable.Range(0, rows.Length).Sum(i =>
            Enumerable.Range(0, rows[i].Length).Sum(j => Math.Tanh(p[0] * rows[i][j] + p[1]))));
        double[][] data = [[0.1, 0.5], [-0.3], [0.7, 0.2, -0.9]];
        double p0 = 0.7, p1 = 0.2, value = 0, g0 = 0, g1 = 0;
        foreach (var row in data)
            foreach (var u in row)
            {
                double t = Math.Tanh(p0 * u + p1);
                value += t;
                g0 += (1 - t * t) * u;
                g1 += 1 - t * t;
            }
        var g = new double[2];
        Assert.That(gradient([p0, p1], data, g), Is.EqualTo(value).Within(1e-13));
        Assert.That(g[0], Is.EqualTo(g0).Within(1e-13));
        Assert.That(g[1], Is.EqualTo(g1).Within(1e-13));

        data[1] = [-0.3, 4.0];
        Assert.That(gradient([p0, p1], data, g), Is.EqualTo(value + Math.Tanh(p0 * 4 + p1)).Within(1e-13), "data is read at call time");
    }

    [Test]
    public void AnIndexOutsideADataArrayIsReported()
    {
        var gradient = AD.Gradient<double[]>((p, u) => Enumerable.Range(0, 5).Sum(t => p[0] * u[t]));
        var e = Assert.Throws<IndexOutOfRangeException>(() => gradient([1.0], new double[3], new double[1]));
        Assert.That(e!.Message, Does.Contain("element 3").And.Contain("length 3"));
    }
}

/// <summary>
/// LINQ pipelines fused into one loop: Select (with and without the index), Zip with an array,
/// Where as a mask, ToArray, ending in Sum or Average; in both modes against hand-written loops.
/// </summary>
[TestFixture]
public class PipelineTests
{
    private static readonly double[] Weights = [0.5, -1.25, 2.0, 0.75, -0.1];

    private static void Check(Expression<Func<double[], double>> f, Func<double[], double> plain, double[] x)
    {
        var gradient = AD.Gradient(f);
        var jvp = AD.Jvp(f);
        var g = new double[x.Length];
        double value = gradient(x, g);
        Assert.That(value, Is.EqualTo(plain(x)).Within(1e-12 * (1 + Math.Abs(value))), "value");
        for (int k = 0; k < x.Length; k++)
        {
            // Central differences of the plain C# function (the function is smooth at these points).
            double h = 1e-6;
            var plus = (double[])x.Clone(); plus[k] += h;
            var minus = (double[])x.Clone(); minus[k] -= h;
            double fd = (plain(plus) - plain(minus)) / (2 * h);
            Assert.That(g[k], Is.EqualTo(fd).Within(1e-6 * (1 + Math.Abs(fd))), $"∂f/∂x[{k}]");
            var unit = new double[x.Length];
            unit[k] = 1;
            jvp(x, unit, out double tangent);
            Assert.That(tangent, Is.EqualTo(g[k]).Within(1e-12 * (1 + Math.Abs(g[k]))), $"forward ∂f/∂x[{k}]");
        }
    }

    private static readonly double[] X = [0.3, -0.8, 1.1, 0.4, -0.2];

    [Test] public void SelectThenSum() => Check(x => x.Select(e => e * e).Sum(), x => x.Select(e => e * e).Sum(), X);

    [Test] public void SelectWithIndexThenSum() =>
        Check(x => x.Select((e, i) => e * i).Sum(v => Math.Sin(v)), x => x.Select((e, i) => e * i).Sum(v => Math.Sin(v)), X);

    [Test] public void ZipWithADataArray() =>
        Check(x => x.Zip(Weights, (p, q) => p * q).Sum(), x => x.Zip(Weights, (p, q) => p * q).Sum(), X);

    [Test] public void ZipStopsAtTheShorterArray() =>
        Check(x => x.Zip(new[] { 1.0, 2.0 }, (p, q) => p * q * p).Sum(), x => x.Zip(new[] { 1.0, 2.0 }, (p, q) => p * q * p).Sum(), X);

    [Test] public void WhereIsAMask() =>
        Check(x => x.Where(e => e > 0).Sum(e => e * e * e), x => x.Where(e => e > 0).Sum(e => e * e * e), X);

    [Test] public void AverageWithAndWithoutAMask()
    {
        Check(x => x.Average(e => Math.Exp(e)), x => x.Average(e => Math.Exp(e)), X);
        Check(x => x.Where(e => e < 1).Average(), x => x.Where(e => e < 1).Average(), X);
    }

    [Test] public void RangeSelectToArraySum() =>
        Check(x => Enumerable.Range(1, 4).Select(i => x[i] * i).ToArray().Sum(), x => Enumerable.Range(1, 4).Select(i => x[i] * i).ToArray().Sum(), X);
}

/// <summary>
/// Max and Min over pipelines: a loop finds the index of the extremum (not differentiated), and
/// the element there is read again, so the derivative is that of the element chosen (the first on
/// ties). Log-sum-exp, the GradBench <c>lse</c> problem, is the motivating case.
/// </summary>
[TestFixture]
public class ExtremumTests
{
    private static readonly double[] X = [0.3, -0.8, 1.1, 0.4, -0.2];

    [Test]
    public void LogSumExpWithTheMaxShift()
    {
        var gradient = AD.Gradient(x => x.Max() + Math.Log(x.Sum(v => Math.Exp(v - x.Max()))));
        var g = new double[X.Length];
        double m = X.Max(), sum = X.Sum(v => Math.Exp(v - m));
        Assert.That(gradient(X, g), Is.EqualTo(m + Math.Log(sum)).Within(1e-14));
        for (int k = 0; k < X.Length; k++)
            Assert.That(g[k], Is.EqualTo(Math.Exp(X[k] - m) / sum).Within(1e-14), $"softmax[{k}]");

        // Large inputs: the shift keeps it finite where the naive form overflows.
        double[] big = [1000, 1001, 999];
        var gb = new double[3];
        Assert.That(gradient(big, gb), Is.EqualTo(1001 + Math.Log(Math.Exp(-1) + 1 + Math.Exp(-2))).Within(1e-9));
        Assert.That(gb.Sum(), Is.EqualTo(1).Within(1e-12));
    }

    [Test]
    public void MaxAndMinWithSelectorsMasksAndRangesInBothModes()
    {
        Expression<Func<double[], double>> f = x =>
            x.Select((e, i) => e * (i + 1)).Max() - x.Where(e => e > -0.5).Min(e => e * e) +
            Enumerable.Range(0, x.Length).Max(i => Math.Sin(x[i]) * x[0]);
        Func<double[], double> plain = x =>
            x.Select((e, i) => e * (i + 1)).Max() - x.Where(e => e > -0.5).Min(e => e * e) +
            Enumerable.Range(0, x.Length).Max(i => Math.Sin(x[i]) * x[0]);
        var gradient = AD.Gradient(f);
        var jvp = AD.Jvp(f);
        var g = new double[X.Length];
        Assert.That(gradient(X, g), Is.EqualTo(plain(X)).Within(1e-14));
        for (int k = 0; k < X.Length; k++)
        {
            double h = 1e-7;
            var plus = (double[])X.Clone(); plus[k] += h;
            var minus = (double[])X.Clone(); minus[k] -= h;
            double fd = (plain(plus) - plain(minus)) / (2 * h);
            Assert.That(g[k], Is.EqualTo(fd).Within(1e-6), $"∂f/∂x[{k}]");
            var unit = new double[X.Length];
            unit[k] = 1;
            jvp(X, unit, out double tangent);
            Assert.That(tangent, Is.EqualTo(g[k]).Within(1e-13), $"forward ∂f/∂x[{k}]");
        }
    }

    [Test]
    public void TiesSendTheDerivativeToTheFirstElement()
    {
        var gradient = AD.Gradient(x => x.Max());
        var g = new double[3];
        Assert.That(gradient([2.0, 5.0, 5.0], g), Is.EqualTo(5));
        Assert.That(g, Is.EqualTo(new[] { 0.0, 1.0, 0.0 }));
    }

    [Test]
    public void AverageOverASequenceOfNegativeZerosIsNegativeZeroAsInLinq()
    {
        // LINQ's Average over an enumerator (selector, Select or Range pipeline) starts its sum at the first element, so
        // the average of -0.0 values is -0.0, and Atan2(-0.0, -1) = -π; a sum started at +0.0 would give +π.
        foreach (Expression<Func<double[], double>> f in new Expression<Func<double[], double>>[]
        {
            x => Math.Atan2(x.Average(v => v * 0.0), -1.0),
            x => Math.Atan2(x.Select(v => v * 0.0).Where(v => v < 1).Average(), -1.0),
            x => Math.Atan2(Enumerable.Range(0, 3).Average(i => x[0] * 0.0), -1.0),
            x => Math.Atan2(x.Average(), -1.0),
        })
        {
            double[] x = [-1.0, -0.0];
            double expected = f.Compile()(x);
            Assert.That(AD.Value(f)(x), Is.EqualTo(expected), f.ToString());
            Assert.That(AD.Gradient(f)(x, new double[2]), Is.EqualTo(expected), f.ToString());
            Assert.That(AD.Jvp(f)(x, [1.0, 0.0], out _), Is.EqualTo(expected), f.ToString());
        }
    }

    [Test]
    public void LoopReadsOutOfRangeThrowWhatTheFirstBadReadWouldThoughTheRangeIsCheckedOnceBeforeTheLoop()
    {
        // x[i + 2] for i < n: the loop checks x's range up front and reads without checks.
        int n = 3;
        double[] data = [1, 2, 3];
        var gradient = AD.Gradient(x => Enumerable.Range(0, n).Sum(i => x[i + 2] * data[i]));
        var g = new double[5];
        Assert.That(gradient([0, 0, 1, 1, 1], g), Is.EqualTo(6));
        Assert.That(g, Is.EqualTo(new[] { 0.0, 0, 1, 2, 3 }));
        var tooShort = Assert.Throws<ArgumentException>(() => gradient([0, 0, 1, 1], new double[4]))!;
        Assert.That(tooShort.ParamName, Is.EqualTo("x"));
        Assert.That(tooShort.Message, Does.Contain("x[4]").And.Contain("length 4"));
        n = 4;
        var dataShort = Assert.Throws<IndexOutOfRangeException>(() => gradient([0, 0, 1, 1, 1, 1], new double[6]))!;
        Assert.That(dataShort.Message, Does.Contain("element 3").And.Contain("length 3"));
        n = 0;
        Assert.That(gradient([], []), Is.EqualTo(0.0), "a loop that does not run reads nothing");
    }

    [Test]
    public void AReadInABranchNotTakenDoesNotThrowAsInCSharp()
    {
        // C# evaluates one branch of ?:; ExprAD computes both, so a read in the branch not taken is guarded (index 0).
        Expression<Func<double[], double[], double>> withData = (x, y) =>
            Enumerable.Range(0, y.Length).Sum(i => i == 0 ? x[0] : y[i - 1] * x[i % x.Length]) + (y.Length > 5 ? y[5] * x[1] : x[1]);
        Expression<Func<double[], double>> active = x => Enumerable.Range(0, x.Length).Sum(i => i == 0 ? x[0] : x[i - 1] * x[i]);
        double[] y = [0.5, -1.5, 2.0];
        double[] point = [0.3, -0.8, 1.2];
        double Hand(double[] x) => x[0] + y[0] * x[1] + y[1] * x[2] + x[1];
        double HandActive(double[] x) => x[0] + x[0] * x[1] + x[1] * x[2];

        var g = new double[3];
        Assert.That(AD.Gradient(withData)(point, y, g), Is.EqualTo(withData.Compile()(point, y)).Within(1e-15));
        Assert.That(g, Is.EqualTo(new[] { 1.0, y[0] + 1, y[1] }).Within(1e-15));
        Assert.That(AD.Value(withData)(point, y), Is.EqualTo(Hand(point)).Within(1e-15));
        var ga = new double[3];
        Assert.That(AD.Gradient(active)(point, ga), Is.EqualTo(HandActive(point)).Within(1e-15));
        Assert.That(ga, Is.EqualTo(new[] { 1 + point[1], point[0] + point[2], point[1] }).Within(1e-15));
        AD.Jvp(active)(point, [0, 1, 0], out double d1);
        Assert.That(d1, Is.EqualTo(point[0] + point[2]).Within(1e-15));
        // A read in the branch taken still throws, with its message.
        Expression<Func<double[], double[], double>> taken = (x, z) => z.Length > 1 ? z[3] * x[0] : x[0];
        Assert.Throws<IndexOutOfRangeException>(() => AD.Gradient(taken)(point, y, g));
    }
}

/// <summary>Loop fusion: the primal sum and its adjoint loop become one loop, with the same results.</summary>
[TestFixture]
public class LoopFusionTests
{
    [Test]
    public void ThePrimalSumAndItsAdjointLoopBecomeOneLoopWithTheSameResults()
    {
        Expression<Func<double[], double>> f = x => x.Sum(v => Math.Exp(v) * v) + Math.Sin(x[0]) * Enumerable.Range(0, 3).Sum(i => x[i] * i);
        var (_, constants) = StructuralKey.Of(f, "test");
        var source = ExpressionTranslator.Translate(f, [ParameterRole.Array], constants);
        var reverse = DeadCodeElimination.Apply(ReverseMode.Apply(source, (b, _) => b.Constant(1.0)));
        var fused = DeadCodeElimination.Apply(LoopFusion.Apply(reverse));
        TraceVerifier.Verify(fused);
        int Loops(Trace t) => t.Instructions.Count(i => i.Op == Op.Sum);
        Assert.That(Loops(reverse), Is.EqualTo(4), "two primal sums and two adjoint loops");
        Assert.That(Loops(fused), Is.EqualTo(2), "each adjoint loop joined its primal sum");

        var point = new[] { 0.3, -0.2, 0.9, 0.1 };
        double Input(Instruction ins) => point[ins.B];
        var before = new double[4];
        var after = new double[4];
        var r0 = TraceInterpreter.Run(reverse, Input, [], _ => point.Length, (_, i, v) => before[i] += v);
        var r1 = TraceInterpreter.Run(fused, Input, [], _ => point.Length, (_, i, v) => after[i] += v);
        for (int k = 0; k < reverse.Outputs.Length; k++)
            Assert.That(r1[fused.Outputs[k].Index], Is.EqualTo(r0[reverse.Outputs[k].Index]).Within(1e-14), $"output {k}");
        Assert.That(after, Is.EqualTo(before).Within(1e-14));
    }

    [Test]
    public void ALoopAddingIntoAnAdjointArrayJoinsItsPrimalAndAFoldInBothIsComputedOnce()
    {
        // Σ_i m[(3i) mod n] * fold_t(s' = tanh(s x_i + t)) with m a map: the adjoint loop adds into m's adjoint array
        // (created early so that it can join the primal loop), and the fold of the primal and of the adjoint is one.
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length).Sum(i =>
            Enumerable.Range(0, x.Length).Select(j => Math.Sin(x[j]) * j).ToArray()[(i * 3) % x.Length]
            * Enumerable.Range(0, 4).Aggregate(0.1, (s, t) => Math.Tanh(s * x[i] + t)));
        var (_, constants) = StructuralKey.Of(f, "test");
        var source = ExpressionTranslator.Translate(f, [ParameterRole.Array], constants);
        var fused = DeadCodeElimination.Apply(LoopFusion.Apply(DeadCodeElimination.Apply(ReverseMode.Apply(source, (b, _) => b.Constant(1.0)))));
        TraceVerifier.Verify(fused);
        var outer = fused.Instructions.Where(i => i.Op == Op.Sum).Select(i => fused.Regions[i.C]).ToList();
        Assert.That(outer.Count(r => r.Body.Instructions.Any(i => i.Op == Op.Fold)), Is.EqualTo(1), "one loop over i holds the primal and the adjoint\n" + fused);
        var joint = outer.Single(r => r.Body.Instructions.Any(i => i.Op == Op.Fold));
        Assert.That(joint.Body.Instructions.Count(i => i.Op == Op.Fold && !joint.Body.Regions[i.C].Backward), Is.EqualTo(1),
            "the primal fold and the taped one are the same fold\n" + fused);

        double Hand(double[] x)
        {
            var m = x.Select((v, j) => Math.Sin(v) * j).ToArray();
            double total = 0;
            for (int i = 0; i < x.Length; i++)
            {
                double s = 0.1;
                for (int t = 0; t < 4; t++) s = Math.Tanh(s * x[i] + t);
                total += m[i * 3 % x.Length] * s;
            }
            return total;
        }
        var point = new[] { 0.4, -0.7, 1.1, 0.2, 0.9 };
        var g = new double[point.Length];
        Assert.That(AD.Gradient(f)(point, g), Is.EqualTo(Hand(point)).Within(1e-12));
        for (int k = 0; k < point.Length; k++)
        {
            var fd = Oracles.FiniteDifferences.Partial(Hand, point, k);
            Assert.That(Oracles.FiniteDifferences.Agrees(g[k], fd), $"∂/∂x{k}: {g[k]:R} vs {fd}");
        }
    }

    /// <summary>
    /// A sum in the branch of ?: (or Max) that is not taken gets an adjoint of exact zero; its adjoint loop is then skipped,
    /// so infinite partials inside it (√0, ln 0) cannot make the gradient NaN, nor can they through an array built by a map
    /// that the skipped loop would have added into. In the taken branch the loop runs and gives the true gradient.
    /// </summary>
    [Test]
    public void AnUntakenSumsAdjointLoopIsSkippedAndATakenOneRuns()
    {
        var gradient = AD.Gradient(x => x[0] > 0 ? x[0] : Enumerable.Range(1, x.Length - 1).Sum(i => Math.Sqrt(x[i])));
        var g = new double[3];
        gradient([2.0, 0.0, 4.0], g);
        Assert.That(g, Is.EqualTo(new[] { 1.0, 0.0, 0.0 }));
        gradient([-2.0, 1.0, 4.0], g);
        Assert.That(g, Is.EqualTo(new[] { 0.0, 0.5, 0.25 }));

        // The sum reads an array a map built with √ (infinite slope at 0): when the sum's loop is skipped, the map's adjoint
        // loop multiplies that slope by the adjoint array's zeros, which must stay masked.
        var throughMap = AD.Gradient(x => Math.Max(x[0], Enumerable.Range(0, 2).Sum(j =>
            Enumerable.Range(0, 2).Select(i => Math.Sqrt(x[i + 1])).ToArray()[j] * Enumerable.Range(0, 2).Select(i => Math.Sqrt(x[i + 1])).ToArray()[j])));
        throughMap([5.0, 0.0, 1.0], g);
        Assert.That(g, Is.EqualTo(new[] { 1.0, 0.0, 0.0 }));
        throughMap([-50.0, 4.0, 1.0], g);
        Assert.That(g, Is.EqualTo(new[] { 0.0, 1.0, 1.0 }).Within(1e-15));
    }

    /// <summary>
    /// LINQ operators over arrays the lambda builds: array literals, and the result of an Aggregate (with a
    /// <c>new[] { ... }</c> state or one of run-time length). The value is LINQ's bit for bit (the same additions in the same
    /// order), and the gradient equals forward mode's and central differences.
    /// </summary>
    [TestCaseSource(nameof(BuiltArraySources))]
    public void LinqOperatorsRunOverArraysTheLambdaBuilds(Expression<Func<double[], double>> f)
    {
        var gradient = AD.Gradient(f);
        var jvp = AD.Jvp(f);
        var linq = f.Compile();
        foreach (var x in new[] { new[] { 0.7, -1.3, 2.1 }, new[] { -0.4, 0.9, 1.6 } })
        {
            var g = new double[3];
            double value = gradient(x, g);
            Assert.That(BitConverter.DoubleToInt64Bits(value), Is.EqualTo(BitConverter.DoubleToInt64Bits(linq(x))), "value");
            for (int j = 0; j < 3; j++)
            {
                var e = new double[3];
                e[j] = 1;
                jvp(x, e, out double directional);
                Assert.That(g[j], Is.EqualTo(directional).Within(1e-12 * (1 + Math.Abs(directional))), $"∂/∂x[{j}] against forward mode");
                var fd = Oracles.FiniteDifferences.Partial(linq, x, j);
                Assert.That(Oracles.FiniteDifferences.Agrees(g[j], fd), $"∂/∂x[{j}] {g[j]:R} against central differences {fd}");
            }
        }
    }

    public static IEnumerable<TestCaseData> BuiltArraySources()
    {
        TestCaseData Case(string name, Expression<Func<double[], double>> f) => new TestCaseData(f).SetName(name);
        yield return Case("literal Sum", x => new[] { x[0], x[1] * x[2], 3.0 }.Sum());
        yield return Case("literal Sum with a selector", x => new[] { x[0], Math.Sin(x[1]) }.Sum(v => v * v * x[2]));
        yield return Case("literal Max and Min", x => new[] { x[0], x[1], x[2] * 0.5 }.Max() - new[] { x[0], x[1] }.Min());
        yield return Case("literal Average", x => new[] { x[0], -x[1], x[2] }.Average(v => Math.Exp(v)));
        yield return Case("literal Select with index", x => new[] { x[0], x[1], x[2] }.Select((v, i) => v * (i + 1)).Sum());
        yield return Case("Zip with a literal", x => x.Zip(new[] { 2.0, x[0], -1.0 }, (p, q) => p * q).Sum());
        yield return Case("literal Where", x => new[] { x[0], x[1], x[2] }.Where(v => v > 0).Sum(v => v * x[0]));
        yield return Case("literal built into an array", x => new[] { x[0], x[1] * x[2] }.Select(v => v * 2).ToArray().Sum(v => Math.Cos(v)));
        yield return Case("Aggregate state Sum", x => Enumerable.Range(0, 4).Aggregate(new[] { 0.5, x[0] }, (s, k) => new[] { s[0] * x[1], s[1] + k * x[2] }).Sum());
        yield return Case("Aggregate state Sum with a selector", x =>
            Enumerable.Range(0, 3).Aggregate(new[] { x[0], x[1] }, (s, k) => new[] { Math.Tanh(s[1] + k), s[0] * x[2] }).Sum(v => v * v));
        yield return Case("Aggregate state of run-time length, Max", x =>
            Enumerable.Range(0, 3).Aggregate(new double[x.Length], (s, k) => s.Select((v, i) => v * 0.5 + x[i] * (k + 1)).ToArray()).Max());
        yield return Case("a literal read at a computed index", x =>
            Enumerable.Range(0, 6).Sum(i => new[] { x[0], x[1] * x[2], Math.Exp(x[2]) }[i % 3] * (i + 1)) + new[] { x[0], x[1] }[x[2] > 0 ? 1 : 0]);
        yield return Case("a literal that depends on the loop", x => Enumerable.Range(0, 5).Sum(i => new[] { x[0] * i, x[1], x[2] + i }.Max()));
        yield return Case("a step's state summed inside the step", x =>
            Enumerable.Range(0, 3).Aggregate(new[] { x[0], x[1], x[2] }, (s, k) => new[] { s.Sum() * 0.5, s[0] * s[2], s.Max() })[1]);
    }

    /// <summary>A literal read at a computed index out of its range throws, naming the index and the length.</summary>
    [Test]
    public void ALiteralReadOutOfRangeThrowsWithTheIndexAndLength()
    {
        var gradient = AD.Gradient(x => new[] { x[0], x[1] * 2 }[(int)x[2]]);
        var g = new double[3];
        Assert.That(gradient([3.0, 4.0, 1.0], g), Is.EqualTo(8.0));
        Assert.That(g, Is.EqualTo(new[] { 0.0, 2.0, 0.0 }));
        foreach (var at in new[] { 2.0, -1.0 })
        {
            var e = Assert.Throws<IndexOutOfRangeException>(() => gradient([3.0, 4.0, at], g))!;
            Assert.That(e.Message, Does.Contain($"element {(int)at}").And.Contain("length 2"));
        }
    }
}
