using System.Collections.Immutable;
using System.Linq.Expressions;
using ExprAD.Caching;
using ExprAD.Codegen;
using ExprAD.Frontend;
using ExprAD.IR;
using ExprAD.Passes;
using ExprAD.Transforms;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Long traces are compiled in chunks that pass values through a spill buffer. Lowering the same
/// gradient trace in chunks of a few instructions and in one block must give bit-identical
/// results, including values of every kind (scalars, integers, booleans) that cross chunk
/// boundaries, and a chunked kernel must allocate nothing once warm.
/// </summary>
[TestFixture]
public class ChunkedCodegenTests
{
    // Mixes kinds: integer conversions, comparisons and selects whose operands are defined
    // chunks earlier than their uses when the chunk size is small.
    private static readonly Expression<Func<double[], double>> Mixed = x =>
        (x[0] > x[1] ? Math.Sin(x[0] * x[1]) : Math.Cos(x[2])) * (int)(x[3] * 3) +
        Math.Max(x[1], x[2]) * Math.Exp(-x[0] * x[0]) + (x[2] < 0.5 && x[3] > 0.1 ? x[3] * x[3] : x[1]) +
        Math.Log(1 + x[0] * x[0]) * Math.Tanh(x[3] - x[1]) / (2 + Math.Cos(x[2] * x[0]));

    /// <summary>The kernel as one block and in chunks of <paramref name="chunkSize"/> instructions (asserted to be more than one).</summary>
    private static (GradientKernel Whole, GradientKernel Chunked) WholeAndChunked(Expression<Func<double[], double>> f, int chunkSize)
    {
        var whole = Compile(f, 1_000_000, out _);
        var chunked = Compile(f, chunkSize, out int chunks);
        Assert.That(chunks, Is.GreaterThan(1), "the small chunk size really splits the trace");
        return (whole, chunked);
    }

    private static GradientKernel Compile(Expression<Func<double[], double>> f, int chunkSize, out int chunks)
    {
        var (_, constants) = StructuralKey.Of(f, "chunk-test");
        var source = ExpressionTranslator.Translate(f, [ParameterRole.Array], constants);
        var inputs = source.Inputs().Select(v => source[v]).ToArray();
        var trace = DeadCodeElimination.Apply(ReverseMode.Apply(source, (b, _) => b.Constant(1.0)));
        TraceVerifier.Verify(trace);
        int compiled = 0;
        // Chunks are compiled on background threads too (ChunkCompiler).
        var lowered = TraceLowering.Lower<GradientKernel>(trace, LoweringPlans.Gradient(trace, inputs), chunk =>
        {
            Interlocked.Increment(ref compiled);
            return KernelCompiler.Compile(chunk).Kernel;
        }, chunkSize);
        chunks = compiled;
        return KernelCompiler.Compile(lowered).Kernel;
    }

    [TestCase(1)]
    [TestCase(3)]
    [TestCase(7)]
    [TestCase(20)]
    public void ChunkedKernelEqualsOneBlockBitForBit(int chunkSize)
    {
        var whole = Compile(Mixed, 1_000_000, out int wholeChunks);
        var chunked = Compile(Mixed, chunkSize, out int chunks);
        Assert.That(wholeChunks, Is.EqualTo(0), "a trace below the chunk size is one block");
        Assert.That(chunks, Is.GreaterThan(1), "the small chunk size really splits the trace");

        var random = new Random(17);
        for (int trial = 0; trial < 200; trial++)
        {
            var x = Enumerable.Range(0, 4).Select(_ => random.NextDouble() * 2 - 0.5).ToArray();
            var expected = new double[4];
            var actual = new double[4];
            double y0 = whole([], x, expected);
            double y1 = chunked([], x, actual);
            Assert.That(BitConverter.DoubleToInt64Bits(y1), Is.EqualTo(BitConverter.DoubleToInt64Bits(y0)), $"value at [{string.Join(", ", x)}]");
            Assert.That(actual, Is.EqualTo(expected), $"gradient at [{string.Join(", ", x)}]");
        }
    }

    // A fold with a tape and a checkpointed one: the tapes live in the kernel's workspace, which chunks share.
    private static readonly double[] Drive = [0.3, -0.2, 0.9, 0.4, -0.7, 0.1, 0.5];
    private static readonly Expression<Func<double[], double>> Folded = x => Enumerable.Range(0, Drive.Length).Aggregate(new[] { x[0], 0.0 },
        (s, t) => new[] { Math.Tanh(x[1] * s[0] + x[2] * Drive[t]), s[1] + s[0] * x[3] }, s => s[1] * s[0])
        + Enumerable.Range(0, 3).Aggregate(x[3], (s, t) => Math.Sin(s * x[0] + t));

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(5)]
    public void ChunkedFoldKernelEqualsOneBlockBitForBit(int chunkSize)
    {
        var (whole, chunked) = WholeAndChunked(Folded, chunkSize);
        var random = new Random(5);
        for (int trial = 0; trial < 50; trial++)
        {
            var x = Enumerable.Range(0, 4).Select(_ => random.NextDouble() * 2 - 1).ToArray();
            var expected = new double[4];
            var actual = new double[4];
            Assert.That(chunked([], x, actual), Is.EqualTo(whole([], x, expected)));
            Assert.That(actual, Is.EqualTo(expected), $"gradient at [{string.Join(", ", x)}]");
        }
    }

    // Many outputs (4,200 adjoints and the value): a chunked kernel writes them in one loop (BulkOutputs). With a loop over x the gradient is accumulated
    // (cleared first, adjoints added), without one it is written; some entries are constants (x[k] * c has adjoint c).
    private static Expression<Func<double[], double>> ManyOutputs(bool withLoop)
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        var sin = typeof(Math).GetMethod(nameof(Math.Sin), [typeof(double)])!;
        Expression sum = Expression.Constant(0.5);
        for (int i = 0; i < 4200; i++)
        {
            var xi = Expression.ArrayIndex(x, Expression.Constant(i));
            sum = Expression.Add(sum, i % 3 == 0 ? Expression.Multiply(xi, Expression.Constant(1.0 + i)) : Expression.Call(sin, Expression.Multiply(xi, xi)));
        }
        if (withLoop)
        {
            Expression<Func<double[], double>> squares = v => v.Sum(e => e * e);
            sum = Expression.Add(sum, Expression.Invoke(squares, x));
        }
        return Expression.Lambda<Func<double[], double>>(sum, x);
    }

    [TestCase(false, 300)]
    [TestCase(true, 300)]
    public void ManyOutputsAreWrittenInBulkBitForBit(bool withLoop, int chunkSize)
    {
        var f = ManyOutputs(withLoop);
        var (whole, chunked) = WholeAndChunked(f, chunkSize);
        var random = new Random(3);
        for (int trial = 0; trial < 5; trial++)
        {
            var x = Enumerable.Range(0, 4202).Select(_ => random.NextDouble() * 2 - 1).ToArray();
            var expected = Enumerable.Repeat(double.NaN, 4202).ToArray();
            var actual = Enumerable.Repeat(double.NaN, 4202).ToArray();
            Assert.That(chunked([], x, actual), Is.EqualTo(whole([], x, expected)));
            Assert.That(actual, Is.EqualTo(expected), "every entry, those never read (cleared) included");
            Assert.That(actual[3], Is.EqualTo(4.0 + (withLoop ? 2 * x[3] : 0)), "a constant adjoint");
        }
    }

    /// <summary>A long function returning a map's array: the chunked kernel reads the array from the workspace (not from the spill buffer).</summary>
    [Test]
    public void LongFunctionReturningAMapsArrayIsChunkedCorrectly()
    {
        Expression<Func<double[], double, double[]>> template = (x, s) => Enumerable.Range(0, 5).Select(i => x[i] * s + i).ToArray();
        var x = template.Parameters[0];
        Expression sum = Expression.Constant(0.0);
        for (int i = 0; i < 2500; i++)
            sum = Expression.Add(sum, Expression.Call(typeof(Math).GetMethod(nameof(Math.Sin), [typeof(double)])!,
                Expression.Multiply(Expression.ArrayIndex(x, Expression.Constant(i % 5)), Expression.Constant(1.0 + i % 3))));
        var body = new ReplaceParameter(template.Parameters[1], sum).Visit(template.Body);
        var f = Expression.Lambda<Func<double[], double[]>>(body, x);
        var values = AD.Value(f);
        Assert.That(AD.GetCompilationInfo(values)!.TraceLength, Is.GreaterThan(TraceLowering.DefaultChunkSize), "long enough to be chunked");
        var point = new[] { 0.1, -0.4, 0.7, 0.2, 1.3 };
        var result = new double[5];
        values(point, result);
        Assert.That(result, Is.EqualTo(f.Compile()(point)).Within(1e-9));
    }

    private sealed class ReplaceParameter(ParameterExpression from, Expression to) : ExpressionVisitor
    {
        protected override Expression VisitParameter(ParameterExpression node) => node == from ? to : node;
    }

    [Test]
    public void LongTraceThroughThePublicApiIsChunkedCorrectAndAllocationFree()
    {
        // 3,000 terms give a gradient trace of several chunks.
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression sum = Expression.Constant(0.0);
        for (int i = 0; i < 3000; i++)
        {
            var a = Expression.ArrayIndex(x, Expression.Constant(i % 7));
            var b = Expression.ArrayIndex(x, Expression.Constant((i + 3) % 7));
            sum = Expression.Add(sum, Expression.Multiply(Expression.Constant(1.0 + i % 5), Expression.Call(typeof(Math).GetMethod(nameof(Math.Sin), [typeof(double)])!, Expression.Multiply(a, b))));
        }
        var f = Expression.Lambda<Func<double[], double>>(sum, x);
        var gradient = AD.Gradient(f);
        Assert.That(AD.GetCompilationInfo(gradient)!.TraceLength, Is.GreaterThan(2 * TraceLowering.DefaultChunkSize));

        var point = Enumerable.Range(0, 7).Select(i => 0.1 * i + 0.05).ToArray();
        var g = new double[7];
        double value = gradient(point, g);

        // Independent oracle: the same sum evaluated and differentiated by hand.
        double expectedValue = 0;
        var expected = new double[7];
        for (int i = 0; i < 3000; i++)
        {
            int p = i % 7, q = (i + 3) % 7;
            double c = 1.0 + i % 5;
            expectedValue += c * Math.Sin(point[p] * point[q]);
            expected[p] += c * Math.Cos(point[p] * point[q]) * point[q];
            expected[q] += c * Math.Cos(point[p] * point[q]) * point[p];
        }
        Assert.That(value, Is.EqualTo(expectedValue).Within(1e-9 * Math.Abs(expectedValue)));
        for (int k = 0; k < 7; k++) Assert.That(g[k], Is.EqualTo(expected[k]).Within(1e-9 * (1 + Math.Abs(expected[k]))), $"∂f/∂x[{k}]");

        Assert.That(AllocationTests.Measure(() =>
        {
            double sum = 0;
            for (int call = 0; call < 1000; call++) sum += gradient(point, g);
            return sum;
        }), Is.Zero, "a chunked kernel allocates nothing once warm");
    }
}
