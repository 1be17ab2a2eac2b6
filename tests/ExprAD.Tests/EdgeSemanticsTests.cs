using System.Linq.Expressions;
using ExprAD.Tests.Oracles;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// C#'s semantics at the edges (issue 8, part 1): Enumerable.Range's checks and its last element, the evaluation order
/// of ?:, &amp;&amp; and ||, LINQ's Max and Min with NaN and infinities, constants of every static type, int[] data read at
/// computed indices, and error messages that run no user code. The oracle for values is the same lambda compiled by
/// System.Linq.Expressions (plain C# semantics); derivatives are checked against central finite differences.
/// </summary>
[TestFixture, Category("Reliability")]
public class EdgeSemanticsTests
{
    public sealed class Inner
    {
        public double S = 3;
        public double Twice() => 2 * S;
    }

    public sealed class Data
    {
        public int Start;
        public int Count;
        public double[] Y = [];
        public int[] Idx = [];
        public Inner? Inner;
        public bool Flag;
        public int Reads;

        /// <summary>A property with a visible effect: counts how often it is evaluated.</summary>
        public double Counted
        {
            get
            {
                Reads++;
                return 2;
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // (a) Enumerable.Range as LINQ defines it.
    // ---------------------------------------------------------------------------------------------------------------

    private static readonly Expression<Func<double[], Data, double>>[] RangeShapes =
    [
        (x, d) => Enumerable.Range(d.Start, d.Count).Sum(i => x[0] * i),
        (x, d) => Enumerable.Range(d.Start, d.Count).Select(i => x[0] * i).ToArray().Sum(),
        (x, d) => Enumerable.Range(d.Start, d.Count).Aggregate(0.0, (s, i) => s + x[0] * i),
        (x, d) => Enumerable.Range(d.Start, d.Count).Select((i, k) => x[0] * k).Max(),
        (x, d) => Enumerable.Range(0, 3).Sum(j => Enumerable.Range(d.Start, d.Count + j).Sum(i => x[0] * i)),
    ];

    private static IEnumerable<TestCaseData> RangeCases() =>
        RangeShapes.Select((f, k) => new TestCaseData(f).SetArgDisplayNames($"shape {k}"));

    [TestCaseSource(nameof(RangeCases))]
    public void ANegativeCountThrowsLinqsExceptionAtCallTime(Expression<Func<double[], Data, double>> f)
    {
        // Compiling must not throw: the count is only known at call time.
        var gradient = AD.Gradient(f);
        var value = AD.Value(f);
        var data = new Data { Start = 0, Count = -5 };
        var g = new double[1];
        using (Assert.EnterMultipleScope())
        {
            Assert.That(() => f.Compile()([1.0], data), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("count"), "LINQ itself");
            Assert.That(() => gradient([1.0], data, g), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("count"));
            Assert.That(() => value([1.0], data), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("count"));
        }
    }

    /// <summary>
    /// Ranges near the ends of int: LINQ throws for those past int.MaxValue and runs every iteration of those that end at
    /// it; ExprAD does what LINQ does, case by case (the nested shape lengthens its inner ranges by up to 2).
    /// </summary>
    [TestCaseSource(nameof(RangeCases))]
    public void RangesNearIntMaxValueDoWhatLinqDoes(Expression<Func<double[], Data, double>> f)
    {
        var gradient = AD.Gradient(f);
        var plain = f.Compile();
        var g = new double[1];
        int ran = 0, threw = 0;
        using (Assert.EnterMultipleScope())
        {
            foreach (var (start, count) in new[] { (int.MaxValue, 2), (int.MaxValue - 1, 4), (2, int.MaxValue), (int.MaxValue - 1, 2),
                         (int.MaxValue, 1), (int.MaxValue - 4, 3), (int.MaxValue - 6, 5), (int.MinValue, 3) })
            {
                var data = new Data { Start = start, Count = count };
                double expected;
                try { expected = plain([1.5], data); }
                catch (ArgumentOutOfRangeException)
                {
                    threw++;
                    Assert.That(() => gradient([1.5], data, g), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("count"),
                        $"Range({start}, {count})");
                    continue;
                }
                ran++;
                Assert.That(gradient([1.5], data, g), Is.EqualTo(expected), $"value of Range({start}, {count})");
                Assert.That(g[0], Is.EqualTo(expected / 1.5).Within(Math.Abs(expected) * 1e-15), $"gradient of Range({start}, {count})");
            }
        }
        Assert.That((ran, threw), Is.GreaterThanOrEqualTo((3, 3)), "both kinds of case were tried");
    }

    // ---------------------------------------------------------------------------------------------------------------
    // (b) ?:, && and || evaluate only what C# evaluates.
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>An idiom, the data it is tried with, and the points.</summary>
    public sealed record Idiom(string Name, Expression<Func<double[], Data, double>> F, Data[] Data, double[][] Points);

    public static readonly Idiom[] Idioms =
    [
        new("i < d.Y.Length ? d.Y[i] * x[i] : 0.0",
            (x, d) => Enumerable.Range(0, x.Length).Sum(i => i < d.Y.Length ? d.Y[i] * x[i] * x[i] : 0.0),
            [new Data { Y = [] }, new Data { Y = [2.0] }, new Data { Y = [1.5, -2, 3, 4, 5] }], [[0.5, -1.25, 2], [0.3]]),
        new("i < x.Length ? x[i] * x[i] : 1.0",
            (x, d) => Enumerable.Range(0, 3).Sum(i => i < x.Length ? x[i] * x[i] : 1.0),
            [new Data()], [[], [0.5], [0.5, -1.25], [0.5, -1.25, 2, 7]]),
        new("d.Inner != null ? w[0] * d.Inner.S : w[0]",
            (w, d) => d.Inner != null ? w[0] * d.Inner.S : w[0],
            [new Data(), new Data { Inner = new Inner { S = 2.5 } }], [[0.5], [-3]]),
        new("i < d.Y.Length && d.Y[i] > 0 ? x[i] : 0.0",
            (x, d) => Enumerable.Range(0, x.Length).Sum(i => i < d.Y.Length && d.Y[i] > 0 ? x[i] * x[i] : 0.0),
            [new Data { Y = [] }, new Data { Y = [1, -1] }, new Data { Y = [1, -1, 2, 0.5] }], [[0.5, -1.25, 2]]),
        new("i >= d.Y.Length || d.Y[i] > 0 ? x[i] : -x[i]",
            (x, d) => Enumerable.Range(0, x.Length).Sum(i => i >= d.Y.Length || d.Y[i] > 0 ? Math.Sin(x[i]) : -x[i]),
            [new Data { Y = [] }, new Data { Y = [1, -1] }], [[0.5, -1.25, 2]]),
        new("a method on data in a branch",
            (w, d) => d.Inner == null ? w[0] * w[0] : w[0] * d.Inner.Twice(),
            [new Data(), new Data { Inner = new Inner() }], [[0.5], [-3]]),
        new("an integer division in a branch",
            (w, d) => d.Count != 0 && 12 / d.Count > 2 ? w[0] * (12 / d.Count) : w[0],
            [new Data { Count = 0 }, new Data { Count = 3 }, new Data { Count = 5 }], [[0.5]]),
        new("a checked Range in a branch",
            (w, d) => d.Count >= 0 ? Enumerable.Range(0, d.Count).Sum(i => w[0] * i) : w[0],
            [new Data { Count = -1 }, new Data { Count = 4 }], [[0.5]]),
        new("a data array in a branch of a map",
            (x, d) => Enumerable.Range(0, x.Length).Select(i => i < d.Y.Length ? d.Y[i] * x[i] : x[i]).ToArray().Sum(v => v * v),
            [new Data { Y = [] }, new Data { Y = [3] }], [[0.5, -1.25, 2]]),
        new("an element of x read at a computed index in a fold's step",
            (x, d) => Enumerable.Range(0, 4).Aggregate(1.0, (s, i) => i < x.Length ? s * x[i] + 1 : s),
            [new Data()], [[], [0.5, 2], [0.5, -1.25, 2, 3, 4]]),
        new("a branch reading a fold's small-array state at a computed index",
            (x, d) => Enumerable.Range(0, x.Length).Aggregate(new[] { 1.0, 0.0 }, (s, t) => new[] { t < d.Y.Length ? s[t % 2] * d.Y[t] + x[t] : s[0] * x[t], s[1] + s[0] })[1],
            [new Data { Y = [] }, new Data { Y = [0.5, -1] }], [[0.5, -1.25, 2]]),
        new("int[] indices in a branch",
            (x, d) => Enumerable.Range(0, 3).Sum(i => i < d.Idx.Length && d.Idx[i] < x.Length ? x[d.Idx[i]] * x[i] : 0.0),
            [new Data { Idx = [] }, new Data { Idx = [2, 7, 0] }], [[0.5, -1.25, 2]]),
    ];

    private static IEnumerable<TestCaseData> IdiomCases() => Idioms.Select(i => new TestCaseData(i).SetArgDisplayNames(i.Name));

    [TestCaseSource(nameof(IdiomCases))]
    public void IdiomsEvaluateAsCSharpAndDifferentiateCorrectly(Idiom idiom)
    {
        var plain = idiom.F.Compile();
        var gradient = AD.Gradient(idiom.F);
        var value = AD.Value(idiom.F);
        using var scope = Assert.EnterMultipleScope();
        foreach (var data in idiom.Data)
            foreach (var x in idiom.Points)
            {
                double expected = plain(x, data);
                var g = new double[x.Length];
                Assert.That(gradient(x, data, g), Is.EqualTo(expected), $"gradient's value at [{string.Join(", ", x)}]");
                Assert.That(value(x, data), Is.EqualTo(expected), "AD.Value");
                for (int i = 0; i < x.Length; i++)
                {
                    var fd = FiniteDifferences.Partial(p => plain(p, data), x, i);
                    Assert.That(FiniteDifferences.Agrees(g[i], fd), Is.True, $"∂f/∂x[{i}] at [{string.Join(", ", x)}]: {g[i]:R}, finite differences {fd}");
                }
            }
    }

    [Test]
    public void ABranchNotTakenIsNeverEvaluated()
    {
        Expression<Func<double[], Data, double>> f = (w, d) => d.Flag ? w[0] * d.Counted : w[0] * w[0];
        var gradient = AD.Gradient(f);
        var g = new double[1];
        var data = new Data { Flag = false };
        for (int k = 0; k < 3; k++) gradient([1.5], data, g);
        Assert.That(data.Reads, Is.Zero, "the property of the branch not taken was read");
        data.Flag = true;
        gradient([1.5], data, g);
        Assert.That(data.Reads, Is.GreaterThan(0), "the branch taken reads it");
        Assert.That(g[0], Is.EqualTo(2.0));
    }

    /// <summary>
    /// A branch whose element reads the condition has read already (C# writes a node per occurrence) cannot fail, so it is
    /// computed eagerly: the Huber loss below has no branch region, computes LINQ's value bit for bit, and differentiates
    /// as the two pieces do. A branch reading an element the condition did not read stays lazy and does not throw where
    /// C# would not (the last i of a neighbour difference, and a data array shorter than x).
    /// </summary>
    [Test]
    public void ABranchRereadingTheConditionsElementsIsComputedEagerly()
    {
        Expression<Func<double[], double[], double>> huber = (x, t) => Enumerable.Range(0, x.Length).Sum(i =>
            Math.Abs(x[i] - t[i]) <= 0.5 ? 0.5 * (x[i] - t[i]) * (x[i] - t[i]) : 0.5 * (Math.Abs(x[i] - t[i]) - 0.25));
        Assert.That(BranchRegions(huber), Is.Zero, "the pieces reread x[i] and t[i] only");
        var random = new Random(23);
        var x = Enumerable.Range(0, 37).Select(_ => 3 * random.NextDouble() - 1.5).ToArray();
        var t = Enumerable.Range(0, 37).Select(_ => random.NextDouble() - 0.5).ToArray();
        var gradient = AD.Gradient(huber);
        var g = new double[x.Length];
        Assert.That(gradient(x, t, g), Is.EqualTo(huber.Compile()(x, t)), "LINQ's value");
        for (int i = 0; i < x.Length; i++)
        {
            double r = x[i] - t[i];
            Assert.That(g[i], Is.EqualTo(Math.Abs(r) <= 0.5 ? r : 0.5 * Math.Sign(r)).Within(1e-15), $"∂/∂x[{i}]");
        }

        Expression<Func<double[], double[], double>> neighbours = (x, t) => Enumerable.Range(0, x.Length).Sum(i =>
            x[i] > 0 ? (i + 1 < x.Length ? x[i + 1] - x[i] : 0) : (i < t.Length ? t[i] * x[i] : x[i]));
        Assert.That(BranchRegions(neighbours), Is.GreaterThanOrEqualTo(2), "x[i + 1] and t[i] are not read by their conditions");
        var shortData = t[..5];
        Assert.That(AD.Gradient(neighbours)(x, shortData, g), Is.EqualTo(neighbours.Compile()(x, shortData)), "no read beyond the arrays");
    }

    /// <summary>The branch regions of the translated trace, at any depth.</summary>
    private static int BranchRegions(LambdaExpression f)
    {
        var trace = ExprAD.Frontend.ExpressionTranslator.Translate(f, [ExprAD.IR.ParameterRole.Array, ExprAD.IR.ParameterRole.Data],
            ExprAD.Caching.StructuralKey.Of(f, "test").Constants);
        static int Count(ExprAD.IR.Trace t) => t.Regions.Sum(r => (r.Branch ? 1 : 0) + Count(r.Body));
        return Count(trace);
    }

    [Test]
    public void TheRightOfAndAlsoAndOrElseIsOnlyEvaluatedWhenReached()
    {
        Expression<Func<double[], Data, double>> f = (w, d) => (d.Flag && d.Counted > 1) || (!d.Flag && d.Inner != null && d.Inner.S > 0) ? w[0] : -w[0];
        var gradient = AD.Gradient(f);
        var g = new double[1];
        var data = new Data { Flag = false, Inner = null };
        Assert.That(gradient([2.0], data, g), Is.EqualTo(-2.0));
        Assert.That(data.Reads, Is.Zero);
        data.Inner = new Inner { S = 1 };
        Assert.That(gradient([2.0], data, g), Is.EqualTo(2.0));
        Assert.That(g[0], Is.EqualTo(1.0));
    }

    [Test]
    public void ForwardModeAndJacobiansKeepTheEvaluationOrderToo()
    {
        Expression<Func<double[], double>> f = x => Enumerable.Range(0, 3).Sum(i => i < x.Length ? x[i] * x[i] : 1.0);
        var jvp = AD.Jvp(f);
        Assert.That(jvp([0.5, 2], [1, 1], out double d), Is.EqualTo(1 + 0.25 + 4));
        Assert.That(d, Is.EqualTo(1 + 4));
        Expression<Func<double[], double[]>> v = x => new[] { x.Length > 1 ? x[x.Length - 1] * x[0] : x[0], Enumerable.Range(0, 4).Sum(i => i < x.Length ? x[i] : 0.0) };
        var jacobian = AD.Jacobian(v);
        var values = new double[2];
        var j = new double[2];
        jacobian([3.0], values, j);
        Assert.That(values, Is.EqualTo(new[] { 3.0, 3.0 }));
        Assert.That(j, Is.EqualTo(new[] { 1.0, 1.0 }));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // (c) Max and Min as LINQ computes them, the derivative to the element LINQ returns.
    // ---------------------------------------------------------------------------------------------------------------

    private static readonly double[][] Sequences =
    [
        [1, double.NaN, 3], [double.NaN, double.NaN], [double.NaN, 2, double.NaN, 5], [double.NaN, 4, 1],
        [double.NegativeInfinity, double.NegativeInfinity], [double.PositiveInfinity, 1, double.PositiveInfinity],
        [0.0, -0.0], [-0.0, 0.0], [2, 5, 5, 1, 1], [double.NaN], [5], [3, double.NegativeInfinity, double.NaN, 7],
    ];

    /// <summary>The position LINQ's Max (Min) of doubles returns, by its documented scan: a test-side reimplementation.</summary>
    private static int LinqPosition(double[] v, bool max)
    {
        int at = 0;
        if (max)
        {
            // The first element, replaced while it is NaN, then only by a larger one.
            for (int k = 1; k < v.Length; k++)
                if (double.IsNaN(v[at]) || v[k] > v[at]) at = k;
        }
        else
        {
            // The first NaN wins; otherwise the first smallest.
            for (int k = 0; k < v.Length; k++)
            {
                if (double.IsNaN(v[k])) return k;
                if (v[k] < v[at]) at = k;
            }
        }
        return at;
    }

    private static readonly (string Name, Expression<Func<double[], double>> F, bool Max, double Scale)[] Extrema =
    [
        ("x.Max()", x => x.Max(), true, 1), ("x.Min()", x => x.Min(), false, 1),
        ("x.Max(v => 2 * v)", x => x.Max(v => 2 * v), true, 2), ("x.Select(v => -v).Min()", x => x.Select(v => -v).Min(), false, -1),
        ("Range(0, n).Max(i => x[i])", x => Enumerable.Range(0, x.Length).Max(i => x[i]), true, 1),
        ("Range(0, n).Min(i => 3 * x[i])", x => Enumerable.Range(0, x.Length).Min(i => 3 * x[i]), false, 3),
    ];

    private static IEnumerable<TestCaseData> ExtremumCases() => Extrema.Select(e => new TestCaseData(e.F, e.Max, e.Scale).SetArgDisplayNames(e.Name));

    [TestCaseSource(nameof(ExtremumCases))]
    public void MaxAndMinAreLinqsWithNaNAndInfinities(Expression<Func<double[], double>> f, bool max, double scale)
    {
        var gradient = AD.Gradient(f);
        var plain = f.Compile();
        using var scope = Assert.EnterMultipleScope();
        foreach (var x in Sequences)
        {
            // -v and 2v keep the order; -v reverses it: the element chosen is the one LINQ chooses among the scaled values.
            var scaled = x.Select(v => scale * v).ToArray();
            double expected = plain(x);
            var g = new double[x.Length];
            double actual = gradient(x, g);
            Assert.That(BitConverter.DoubleToInt64Bits(actual), Is.EqualTo(BitConverter.DoubleToInt64Bits(expected)), $"value over [{string.Join(", ", x)}]: {actual:R}, LINQ {expected:R}");
            int at = LinqPosition(scaled, max);
            var expectedGradient = new double[x.Length];
            expectedGradient[at] = scale;
            Assert.That(g, Is.EqualTo(expectedGradient), $"gradient over [{string.Join(", ", x)}]: to element {at}");
        }
    }

    [Test]
    public void MaxMinAndAverageOfNothingThrowAsLinqDoes()
    {
        Expression<Func<double[], double>>[] shapes =
        [
            x => x.Max(), x => x.Min(), x => x.Average(), x => x.Where(v => v > 10).Max(), x => x.Where(v => v > 10).Average(),
            x => Enumerable.Range(0, x.Length - 2).Min(i => x[i]),
        ];
        using var scope = Assert.EnterMultipleScope();
        foreach (var f in shapes)
        {
            var gradient = AD.Gradient(f);
            double[] x = f.Body.ToString().Contains("Range") ? [1, 2] : f.Body.ToString().Contains("Where") ? [1, 2] : [];
            Assert.That(() => f.Compile()(x), Throws.InvalidOperationException, $"LINQ: {f}");
            Assert.That(() => gradient(x, new double[x.Length]), Throws.InvalidOperationException, f.ToString());
        }
    }

    [Test]
    public void MaskedMaxIgnoresExcludedElementsEvenWhenTheyAreNaN()
    {
        Expression<Func<double[], double>> f = x => x.Where(v => !(v > 100)).Max();
        var gradient = AD.Gradient(f);
        var plain = f.Compile();
        foreach (var x in new double[][] { [200, double.NaN, 3], [double.NaN, 200, double.NaN], [1, 150, 7] })
        {
            var g = new double[x.Length];
            Assert.That(BitConverter.DoubleToInt64Bits(gradient(x, g)), Is.EqualTo(BitConverter.DoubleToInt64Bits(plain(x))), string.Join(", ", x));
        }
    }

    [Test]
    public void MathMaxAndMinFoldsGiveCSharpsValueAndTheDerivativeOfTheElementReturned()
    {
        Expression<Func<double[], double>> max = x => x.Aggregate(double.NegativeInfinity, (m, v) => Math.Max(m, v));
        Expression<Func<double[], double>> min = x => x.Aggregate(double.PositiveInfinity, (m, v) => Math.Min(m, v));
        using var scope = Assert.EnterMultipleScope();
        foreach (var (f, isMax) in new[] { (max, true), (min, false) })
        {
            var gradient = AD.Gradient(f);
            var plain = f.Compile();
            foreach (var x in Sequences)
            {
                var g = new double[x.Length];
                double expected = plain(x);
                Assert.That(BitConverter.DoubleToInt64Bits(gradient(x, g)), Is.EqualTo(BitConverter.DoubleToInt64Bits(expected)), $"{f} over [{string.Join(", ", x)}]");
                // Math.Max and Math.Min return a NaN operand, so the fold returns the first NaN and keeps it. Otherwise the
                // derivative goes to the strict extremum, the earlier operand (the accumulator) on ties: ExprAD's documented
                // convention; the seed (-1) when no element beats it.
                int at = -1;
                double kept = isMax ? double.NegativeInfinity : double.PositiveInfinity;
                for (int k = 0; k < x.Length; k++)
                    if (!double.IsNaN(kept) && (double.IsNaN(x[k]) || (isMax ? x[k] > kept : x[k] < kept))) (at, kept) = (k, x[k]);
                var expectedGradient = new double[x.Length];
                if (at >= 0) expectedGradient[at] = 1;
                Assert.That(g, Is.EqualTo(expectedGradient), $"{f} over [{string.Join(", ", x)}]: the derivative goes to element {at}");
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // (d) Constants of every static type: the cache key and the kernel agree.
    // ---------------------------------------------------------------------------------------------------------------

    [Test]
    public void ConstantsTypedObjectOrNullableAreReadAtCallTimeAndServeEveryLambdaOfTheirShape()
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression<Func<double[], double>> Make(object value, Type type) => Expression.Lambda<Func<double[], double>>(
            Expression.Multiply(Expression.ArrayIndex(x, Expression.Constant(0)), Expression.Convert(Expression.Constant(value, type), typeof(double))), x);
        using var scope = Assert.EnterMultipleScope();
        foreach (var type in new[] { typeof(object), typeof(double?), typeof(IComparable) })
            foreach (var c in new[] { 2.5, 3.5, -1.0 })
                // The second instance of each shape is served from the cache: its kernel must read this instance's constant.
                for (int instance = 0; instance < 2; instance++)
                {
                    var g = new double[1];
                    Assert.That(AD.Gradient(Make(c, type))([2.0], g), Is.EqualTo(2 * c), $"{type.Name} constant {c}, instance {instance}");
                    Assert.That(g[0], Is.EqualTo(c));
                }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // (e) int[] data read at computed indices.
    // ---------------------------------------------------------------------------------------------------------------

    private static readonly Expression<Func<double[], Data, double>>[] IntArrayShapes =
    [
        (x, d) => Enumerable.Range(0, d.Idx.Length).Sum(i => x[d.Idx[i]] * x[d.Idx[i]] * (i + 1)),
        (x, d) => d.Idx.Sum(j => Math.Sin(x[j])),
        (x, d) => d.Idx.Select((j, k) => x[j] * k).Max(),
        (x, d) => d.Idx.Zip(d.Y, (j, y) => x[j] * y).Sum() + d.Idx.Aggregate(0.0, (s, j) => s * 0.5 + x[j]),
        (x, d) => Enumerable.Range(0, x.Length).Sum(i => x[i] * d.Idx.Length + d.Idx[i % d.Idx.Length]),
    ];

    private static IEnumerable<TestCaseData> IntArrayCases() =>
        IntArrayShapes.Select((f, k) => new TestCaseData(f).SetArgDisplayNames($"shape {k}"));

    [TestCaseSource(nameof(IntArrayCases))]
    public void IntArraysOfDataAreReadAtComputedIndicesAndNeverDifferentiated(Expression<Func<double[], Data, double>> f)
    {
        var gradient = AD.Gradient(f);
        var plain = f.Compile();
        var data = new Data { Idx = [2, 0, 2, 1], Y = [1.5, -2, 0.25, 4] };
        double[] x = [0.5, -1.25, 2];
        var g = new double[3];
        Assert.That(gradient(x, data, g), Is.EqualTo(plain(x, data)).Within(1e-14).Percent);
        using var scope = Assert.EnterMultipleScope();
        for (int i = 0; i < x.Length; i++)
        {
            var fd = FiniteDifferences.Partial(p => plain(p, data), x, i);
            Assert.That(FiniteDifferences.Agrees(g[i], fd), Is.True, $"∂f/∂x[{i}]: {g[i]:R}, finite differences {fd}");
        }
    }

    [Test]
    public void AnIntArrayIndexOutOfRangeThrowsNamingTheRead()
    {
        Expression<Func<double[], Data, double>> f = (x, d) => Enumerable.Range(0, 3).Sum(i => x[0] * d.Idx[i]);
        var gradient = AD.Gradient(f);
        Assert.That(() => gradient([1.0], new Data { Idx = [1, 2] }, new double[1]), Throws.TypeOf<IndexOutOfRangeException>().With.Message.Contains("element 2"));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // (f) Error messages run no user code.
    // ---------------------------------------------------------------------------------------------------------------

    private sealed class Hostile
    {
        public double Value(double v) => v;
        public override string ToString() => throw new InvalidOperationException("user code ran while building an error message");
    }

    [Test]
    public void AnErrorMessageNeverCallsTheUsersToString()
    {
        // The object itself a constant of the tree (as the Expression API builds it), so that printing the tree would call its ToString.
        var x = Expression.Parameter(typeof(double[]), "x");
        var call = Expression.Call(Expression.Constant(new Hostile()), typeof(Hostile).GetMethod(nameof(Hostile.Value))!, Expression.ArrayIndex(x, Expression.Constant(0)));
        var f = Expression.Lambda<Func<double[], double>>(Expression.Multiply(call, Expression.Constant(2.0)), x);
        Assert.That(() => AD.Gradient(f), Throws.TypeOf<NotSupportedException>()
            .With.Message.Contains("value(ExprAD.Tests.EdgeSemanticsTests+Hostile).Value(x[0])"));
    }
}
