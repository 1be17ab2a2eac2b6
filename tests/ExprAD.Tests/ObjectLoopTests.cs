using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using ExprAD.Caching;
using ExprAD.Frontend;
using ExprAD.IR;
using ExprAD.Passes;
using ExprAD.Tests.Oracles;
using ExprAD.Transforms;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// LINQ over the user's objects: arrays, <see cref="List{T}"/>, <see cref="IReadOnlyList{T}"/> and <see cref="IList{T}"/> of
/// classes, structs and records, whose members (fields and properties: double, int, bool, double[], nested objects) are data
/// read at call time. Three oracles that share no code with ExprAD's: the same program over double[][] (the same trace
/// but for its reads, so equal bit for bit), LINQ's own value (the compiled lambda, bit for bit: the loops add in LINQ's
/// order), and central finite differences of LINQ's value.
/// </summary>
[TestFixture]
public class ObjectLoopTests
{
    public sealed record Row(double Y, double[] X);

    public sealed class Detail
    {
        public double Scale;
        public double[] Offsets = [];
    }

    public sealed class Sample
    {
        public double Y;
        public double[] X = [];
        public int Count;
        public bool Skip;
        public Detail Detail = new();
        public double Weight { get; set; } = 1;
        public float Ratio;
    }

    /// <summary>A large struct (64 bytes): its elements are read in place.</summary>
    public struct Point
    {
        public double Y;
        public double[] X;
        public int K;
        public bool On;
        public double P1, P2, P3, P4, P5;
    }

    public readonly record struct Pair(double A, double B);

    public sealed class Group
    {
        public List<Sample> Members = [];
        public double Weight;
    }

    /// <summary>A class deriving from a list: looped over through the list's indexer and count.</summary>
    public sealed class RowCollection : List<Row>;

    public sealed class Dataset
    {
        public double[][] X = [];
        public double[] Y = [];
        public Row[] Rows = [];
        public List<Row> RowList = [];
        public IReadOnlyList<Row> RowView = [];
        public IList<Row> RowIList = [];
        public Point[] Points = [];
        public List<Point> PointList = [];
        public Sample[] Samples = [];
        public Pair[] Pairs = [];
        public Group[] Groups = [];
        public List<double> Values = [];
        public RowCollection Collection = [];
        public IEnumerable<Row> Items => Rows;
    }

    /// <summary>One data set in every form: row i is (Y[i], X[i]) wherever it appears.</summary>
    public static Dataset Make(int rows, int features, int seed)
    {
        var random = new Random(seed);
        var x = Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, features).Select(_ => random.NextDouble() - 0.5).ToArray()).ToArray();
        var y = Enumerable.Range(0, rows).Select(_ => random.Next(2) * 2.0 - 1).ToArray();
        var samples = Enumerable.Range(0, rows).Select(i => new Sample
        {
            Y = y[i], X = x[i], Count = i % 4, Skip = i % 3 == 1, Weight = 0.5 + random.NextDouble(), Ratio = (float)random.NextDouble(),
            Detail = new Detail { Scale = random.NextDouble() - 0.5, Offsets = x[(i + 1) % rows] },
        }).ToArray();
        var rowArray = Enumerable.Range(0, rows).Select(i => new Row(y[i], x[i])).ToArray();
        return new Dataset
        {
            X = x, Y = y, Rows = rowArray, RowList = [.. rowArray], RowView = rowArray.ToList(), RowIList = rowArray.ToList(),
            Points = Enumerable.Range(0, rows).Select(i => new Point { Y = y[i], X = x[i], K = i % 3, On = i % 2 == 0, P5 = i }).ToArray(),
            PointList = Enumerable.Range(0, rows).Select(i => new Point { Y = y[i], X = x[i], K = i % 3, On = i % 2 == 0 }).ToList(),
            Samples = samples,
            Pairs = Enumerable.Range(0, rows).Select(i => new Pair(y[i], x[i][0])).ToArray(),
            Groups = Enumerable.Range(0, 3).Select(g => new Group { Weight = g + 0.5, Members = samples.Where((_, i) => i % 3 == g).ToList() }).ToArray(),
            Values = [.. y.Select((v, i) => v * x[i][0])],
            Collection = [.. rowArray],
        };
    }

    private static double[] Point0(int n) => Enumerable.Range(0, n).Select(j => 0.3 * Math.Sin(j + 1)).ToArray();

    /// <summary>The logistic loss of the issue over double[][], the baseline the object forms must equal bit for bit.</summary>
    private static readonly Expression<Func<double[], Dataset, double>> Jagged = (w, d) =>
        Enumerable.Range(0, d.Y.Length).Sum(i => Math.Log(1 + Math.Exp(-d.Y[i] * d.X[i].Select((v, j) => w[j] * v).Sum())));

    public static IEnumerable<TestCaseData> LogisticForms()
    {
        TestCaseData Form(string name, Expression<Func<double[], Dataset, double>> f) => new TestCaseData(f).SetName("Logistic loss over " + name);
        yield return Form("Row[] (a record)", (w, d) => d.Rows.Sum(r => Math.Log(1 + Math.Exp(-r.Y * r.X.Select((v, j) => w[j] * v).Sum()))));
        yield return Form("List<Row>", (w, d) => d.RowList.Sum(r => Math.Log(1 + Math.Exp(-r.Y * r.X.Select((v, j) => w[j] * v).Sum()))));
        yield return Form("IReadOnlyList<Row>", (w, d) => d.RowView.Sum(r => Math.Log(1 + Math.Exp(-r.Y * r.X.Select((v, j) => w[j] * v).Sum()))));
        yield return Form("IList<Row>", (w, d) => d.RowIList.Sum(r => Math.Log(1 + Math.Exp(-r.Y * r.X.Select((v, j) => w[j] * v).Sum()))));
        yield return Form("Point[] (a struct)", (w, d) => d.Points.Sum(r => Math.Log(1 + Math.Exp(-r.Y * r.X.Select((v, j) => w[j] * v).Sum()))));
        yield return Form("List<Point>", (w, d) => d.PointList.Sum(r => Math.Log(1 + Math.Exp(-r.Y * r.X.Select((v, j) => w[j] * v).Sum()))));
        yield return Form("Sample[] (a class with properties)", (w, d) => d.Samples.Sum(r => Math.Log(1 + Math.Exp(-r.Y * r.X.Select((v, j) => w[j] * v).Sum()))));
        yield return Form("double[][] zipped with double[]", (w, d) => d.X.Zip(d.Y, (x, y) => Math.Log(1 + Math.Exp(-y * x.Select((v, j) => w[j] * v).Sum()))).Sum());
        yield return Form("rows read by index", (w, d) => Enumerable.Range(0, d.RowList.Count).Sum(i => Math.Log(1 + Math.Exp(-d.RowList[i].Y * d.RowList[i].X.Select((v, j) => w[j] * v).Sum()))));
    }

    [TestCaseSource(nameof(LogisticForms))]
    public void LogisticLossEqualsTheJaggedArrayFormAndLinq(Expression<Func<double[], Dataset, double>> f)
    {
        var data = Make(40, 5, 7);
        var w = Point0(5);
        var linq = f.Compile();
        var value = AD.Value(f);
        var gradient = AD.Gradient(f);
        var baseline = AD.Gradient(Jagged);
        var g = new double[5];
        var expected = new double[5];
        double y = gradient(w, data, g);
        Assert.Multiple(() =>
        {
            Assert.That(y, Is.EqualTo(linq(w, data)), "the gradient's value is LINQ's, bit for bit");
            Assert.That(value(w, data), Is.EqualTo(linq(w, data)), "AD.Value is LINQ's, bit for bit");
            Assert.That(y, Is.EqualTo(baseline(w, data, expected)), "the value over double[][]");
            Assert.That(g, Is.EqualTo(expected), "the gradient over double[][], bit for bit");
        });
        var differences = FiniteDifferences.Gradient(p => linq(p, data), w);
        for (int j = 0; j < w.Length; j++)
            Assert.That(FiniteDifferences.Agrees(g[j], differences[j]), $"∂/∂w[{j}] = {g[j]:R}, finite differences {differences[j]}");
        Assert.That(AD.GetCompilationInfo(gradient)!.SourceTraceLength, Is.LessThan(25), "a loop, not unrolled over the rows");
    }

    public static IEnumerable<TestCaseData> Operators()
    {
        TestCaseData Case(string name, Expression<Func<double[], Dataset, double>> f) => new TestCaseData(f).SetName(name);
        yield return Case("Where over records", (w, d) => d.Rows.Where(r => r.Y > 0).Sum(r => r.X[0] * w[0] + r.X[1] * w[1] * w[1]));
        yield return Case("Where with an active condition", (w, d) => d.Rows.Where(r => r.X[0] * w[0] > 0).Sum(r => r.X[1] * w[1]));
        yield return Case("Zip of two arrays of objects", (w, d) => d.Rows.Zip(d.Samples, (r, s) => r.Y * s.Weight * Math.Sin(w[0] * s.X[0] + r.X[1])).Sum());
        yield return Case("Zip with the active array", (w, d) => d.Rows.Sum(r => Math.Tanh(r.X.Zip(w, (a, b) => a * b).Sum())));
        yield return Case("Count with a predicate", (w, d) => w[0] * w[1] * d.Samples.Count(s => s.Weight > 1));
        yield return Case("Count after Where, active", (w, d) => w[0] * d.Rows.Where(r => r.X[0] * w[1] > 0.01).Count());
        yield return Case("Count of a list without predicate", (w, d) => w[0] * d.RowList.Select(r => r.Y * w[1]).Count());
        yield return Case("Average", (w, d) => d.Samples.Average(s => s.Weight * Math.Exp(w[0] * s.Y)));
        yield return Case("Average of integers", (w, d) => w[0] * d.Samples.Average(s => s.Count));
        yield return Case("Max", (w, d) => d.Rows.Max(r => r.Y * w[0] + r.X[1] * w[1]));
        yield return Case("Min over a list", (w, d) => d.RowList.Min(r => r.X[2] * w[2] - r.Y * w[1]));
        yield return Case("Aggregate", (w, d) => d.Rows.Aggregate(0.0, (acc, r) => acc * (0.5 + 0.1 * w[0]) + r.Y * r.X[0] * w[1]));
        yield return Case("Aggregate with a result selector", (w, d) => d.Samples.Aggregate(1.0, (acc, s) => acc + s.Weight * w[0] * w[0], acc => Math.Log(acc)));
        yield return Case("int and bool members", (w, d) => d.Samples.Sum(s => s.Skip ? 0.0 : s.Count * w[s.Count] * s.Y));
        yield return Case("float member", (w, d) => d.Samples.Sum(s => s.Ratio * w[0] * w[0]));
        yield return Case("nested object and its array", (w, d) => d.Samples.Sum(s => s.Detail.Scale * s.Detail.Offsets.Select((o, j) => o * w[j]).Sum()));
        yield return Case("Select to an object, then its members", (w, d) => d.Samples.Select(s => s.Detail).Sum(t => t.Scale * w[0] * t.Offsets.Length));
        yield return Case("nested loops over lists of objects", (w, d) => d.Groups.Sum(g => g.Weight * g.Members.Sum(m => m.Y * Math.Tanh(m.X.Zip(w, (a, b) => a * b).Sum()))));
        yield return Case("struct members, int and bool", (w, d) => d.Points.Sum(p => p.On ? p.Y * w[p.K] : p.X[p.K] * w[0] * w[1]));
        yield return Case("List of structs", (w, d) => d.PointList.Where(p => p.On).Sum(p => p.Y * w[p.K] * w[p.K]));
        yield return Case("record struct", (w, d) => d.Pairs.Sum(p => Math.Pow(p.A * w[0] + p.B * w[1] - 0.1, 2)));
        yield return Case("list of doubles", (w, d) => d.Values.Sum(v => v * w[0] * w[1]) + d.Values.Max(v => v * w[2]));
        yield return Case("jagged array as the source", (w, d) => d.X.Sum(row => Math.Exp(row.Zip(w, (a, b) => a * b).Sum())));
        yield return Case("element by index inside a range loop", (w, d) => Enumerable.Range(0, d.Samples.Length).Sum(i => d.Samples[i].Weight * w[i % 3] * d.Samples[i].X[i % 5]));
        yield return Case("a list member of an element by index", (w, d) => Enumerable.Range(0, d.Groups.Length).Sum(i => d.Groups[i].Members.Sum(m => m.Y * w[i])));
        yield return Case("Select of elements by index", (w, d) => Enumerable.Range(0, d.Rows.Length).Select(i => d.Rows[i]).Sum(r => r.Y * r.X[2] * w[2]));
        yield return Case("an enum-like int member compared", (w, d) => d.Points.Where(p => p.K == 2).Sum(p => p.X[1] * w[3]));
        yield return Case("a class deriving from List", (w, d) => d.Collection.Sum(r => r.Y * w[0] * w[1]) + Enumerable.Range(0, 3).Sum(i => d.Collection[i].X[1] * w[i]));
        yield return Case("a list's element by index", (w, d) => Enumerable.Range(0, 5).Sum(j => d.RowList[j + 1].X[j] * w[j]));
        yield return Case("ToArray of a map over objects", (w, d) => d.Rows.Select(r => r.Y * w[0]).ToArray().Sum(v => v * v));
        yield return Case("a data method of the element", (w, d) => d.Samples.Sum(s => s.X.Sum() * w[0] + s.Detail.Offsets.Max() * w[1]));
        yield return Case("the element in a branch that reads a member", (w, d) => d.Samples.Sum(s => s.Detail != null && s.Detail.Scale > 0 ? s.Detail.Scale * w[0] : w[1]));
    }

    [TestCaseSource(nameof(Operators))]
    public void OperatorsOverObjectsGiveLinqsValueAndTheDerivativeOfIt(Expression<Func<double[], Dataset, double>> f)
    {
        var data = Make(30, 5, 11);
        var w = Point0(5);
        var linq = f.Compile();
        var g = new double[5];
        double y = AD.Gradient(f)(w, data, g);
        Assert.That(y, Is.EqualTo(linq(w, data)), "the value is LINQ's, bit for bit");
        Assert.That(AD.Value(f)(w, data), Is.EqualTo(linq(w, data)), "AD.Value too");
        var differences = FiniteDifferences.Gradient(p => linq(p, data), w);
        for (int j = 0; j < w.Length; j++)
            Assert.That(FiniteDifferences.Agrees(g[j], differences[j], relative: 1e-7), $"∂/∂w[{j}] = {g[j]:R}, finite differences {differences[j]}");
    }

    [Test]
    public void ReadsHappenAtCallTime()
    {
        Expression<Func<double[], Dataset, double>> f = (w, d) => d.RowList.Sum(r => r.Y * r.X[0] * w[0]) + d.Points.Sum(p => p.Y * w[1]);
        var data = Make(6, 2, 3);
        var gradient = AD.Gradient(f);
        var g = new double[2];
        double before = gradient([1, 1], data, g);
        data.RowList.Add(new Row(2, [3, 0]));
        data.RowList[0] = new Row(10, data.RowList[0].X);
        data.Points[1].Y = 5;
        double after = gradient([1, 1], data, g);
        Assert.That(after, Is.EqualTo(f.Compile()([1, 1], data)));
        Assert.That(after, Is.Not.EqualTo(before));
        Assert.That(g[0], Is.EqualTo(data.RowList.Sum(r => r.Y * r.X[0])));
    }

    [Test]
    public void ACapturedListIsDataToo()
    {
        var rows = Make(8, 3, 5).RowList;
        var derivative = AD.Derivative(t => rows.Sum(r => r.Y * Math.Sin(t * r.X[0])), order: 3);
        double t0 = 0.7;
        // d³/dt³ Y sin(t a) = -Y a³ cos(t a).
        double expected = rows.Sum(r => -r.Y * Math.Pow(r.X[0], 3) * Math.Cos(t0 * r.X[0]));
        Assert.That(derivative(t0), Is.EqualTo(expected).Within(1e-12));
    }

    [Test]
    public void TracesThroughObjectsKeepTheirInvariants()
    {
        Expression<Func<double[], Dataset, double>> f = (w, d) =>
            d.Groups.Sum(g => g.Weight * g.Members.Where(m => !m.Skip).Sum(m => m.Y * Math.Exp(m.X.Zip(w, (a, b) => a * b).Sum())))
            + d.Points.Max(p => p.X[p.K] * w[0]) + d.RowView.Aggregate(0.0, (a, r) => a * w[1] + r.Y);
        var (_, constants) = StructuralKey.Of(f, "any");
        var source = ExpressionTranslator.Translate(f, [ParameterRole.Array, ParameterRole.Data], constants);
        TraceVerifier.Verify(source);
        Assert.That(source.ToString(), Does.Contain("read "), "elements are reads of the objects");
        var reverse = ReverseMode.Apply(source, (b, _) => b.Constant(1.0));
        TraceVerifier.Verify(reverse);
        TraceVerifier.Verify(ForwardMode.Apply(DeadCodeElimination.Apply(reverse), 1, (b, _, _) => b.Constant(1.0)));
    }

    [Test]
    public void AWrittenOutSumOverElementsRollsIntoALoopOfReads()
    {
        // w[0] * d.Rows[0].Y + w[1] * d.Rows[1].Y + ... as a generator would write it: rolled into one loop reading d.Rows[k].
        const int n = 300;
        var w = Expression.Parameter(typeof(double[]), "w");
        var d = Expression.Parameter(typeof(Dataset), "d");
        Expression Term(int k) => Expression.Multiply(Expression.ArrayIndex(w, Expression.Constant(k)),
            Expression.Property(Expression.ArrayIndex(Expression.Field(d, nameof(Dataset.Rows)), Expression.Constant(k)), nameof(Row.Y)));
        var body = Term(0);
        for (int k = 1; k < n; k++) body = Expression.Add(body, Term(k));
        var f = Expression.Lambda<Func<double[], Dataset, double>>(body, w, d);
        var data = Make(n, 1, 4);
        var point = Point0(n);
        var gradient = AD.Gradient(f);
        var g = new double[n];
        Assert.That(gradient(point, data, g), Is.EqualTo(f.Compile()(point, data)));
        Assert.That(g, Is.EqualTo(data.Rows.Select(r => r.Y).ToArray()));
        Assert.That(AD.GetCompilationInfo(gradient)!.SourceTraceLength, Is.LessThan(50), "rolled");
    }

    [Test]
    public void ParallelLoopsOverObjects()
    {
        Expression<Func<double[], Dataset, double>> f = (w, d) => d.Samples.Sum(s => s.Weight * Math.Log(1 + Math.Exp(-s.Y * s.X.Select((v, j) => w[j] * v).Sum())));
        var data = Make(5000, 5, 9);
        var w = Point0(5);
        var parallel = AD.Gradient(f, new ADOptions { ParallelLoops = true });
        var serial = AD.Gradient(f);
        var (gp, gs) = (new double[5], new double[5]);
        Assert.That(parallel(w, data, gp), Is.EqualTo(serial(w, data, gs)).Within(1e-12 * 5000));
        Assert.That(gp, Is.EqualTo(gs).Within(1e-10));
    }

    [Test]
    public void SecondOrderOverObjectsEqualsTheJaggedForm()
    {
        Expression<Func<double[], Dataset, double>> f = (w, d) => d.RowList.Sum(r => Math.Log(1 + Math.Exp(-r.Y * r.X.Select((v, j) => w[j] * v).Sum())));
        var data = Make(25, 4, 8);
        var w = Point0(4);
        var (h, expected) = (new double[16], new double[16]);
        AD.Hessian(f)(w, data, new double[4], h);
        AD.Hessian(Jagged)(w, data, new double[4], expected);
        Assert.That(h, Is.EqualTo(expected));
    }

    [Test]
    public void TheDataArgumentMayBeTheSequenceItself()
    {
        var rows = Make(12, 3, 6).RowList;
        Expression<Func<double[], List<Row>, double>> f = (w, d) => d.Sum(r => r == null ? 0.0 : r.Y * Math.Exp(r.X.Zip(w, (a, b) => a * b).Sum()));
        rows[3] = null!; // a null element, skipped by the guard: its members are read only when C# would read them
        var g = new double[3];
        double y = AD.Gradient(f)(Point0(3), rows, g);
        Assert.That(y, Is.EqualTo(f.Compile()(Point0(3), rows)));
        var differences = FiniteDifferences.Gradient(p => f.Compile()(p, rows), Point0(3));
        for (int j = 0; j < 3; j++) Assert.That(FiniteDifferences.Agrees(g[j], differences[j]), $"∂/∂w[{j}]");
        Expression<Func<double[], List<Row>, double>> unguarded = (w, d) => d.Sum(r => r.Y * w[0]);
        Assert.Throws<NullReferenceException>(() => AD.Gradient(unguarded)(Point0(3), rows, g), "as C# throws");
    }

    [Test]
    public void WhereRunsLaterStagesOnlyForTheElementsItKeeps()
    {
        var data = Make(9, 3, 13);
        data.Rows[4] = null!;
        data.RowList[0] = null!;
        var w = Point0(3);
        foreach (var f in new Expression<Func<double[], Dataset, double>>[]
        {
            (w, d) => d.Rows.Where(r => r != null).Sum(r => r.Y * Math.Exp(r.X[1] * w[1])),
            (w, d) => d.RowList.Where(r => r != null).Where(r => r.Y > 0).Max(r => r.X[0] * w[0] + r.X[2] * w[2]),
            (w, d) => d.Rows.Where(r => r != null).Select(r => r.X[2]).Aggregate(1.0, (a, v) => a * (1 + v * w[2])),
            (w, d) => d.RowList.Count(r => r != null && r.X[0] * w[0] > 0) * w[1],
            (w, d) => Enumerable.Range(-2, 6).Where(i => i >= 0).Sum(i => w[i % 3] * d.Rows[i].Y),
        })
        {
            var linq = f.Compile();
            var g = new double[3];
            Assert.That(AD.Gradient(f)(w, data, g), Is.EqualTo(linq(w, data)), f.ToString());
            var differences = FiniteDifferences.Gradient(p => linq(p, data), w);
            for (int j = 0; j < 3; j++) Assert.That(FiniteDifferences.Agrees(g[j], differences[j]), $"{f}: ∂/∂w[{j}]");
        }
    }

    [Test]
    public void JacobianAndTraceOverObjects()
    {
        Expression<Func<double[], Row[], double[]>> residuals = (w, rows) => new[]
        {
            rows.Sum(r => r.Y * r.X[0] * w[0] * w[1]),
            rows.Where(r => r.Y > 0).Average(r => Math.Sin(r.X[1] * w[1])),
        };
        var rows = Make(10, 2, 12).Rows;
        var (values, jacobian) = (new double[2], new double[4]);
        AD.Jacobian(residuals)([0.3, -0.7], rows, values, jacobian);
        var plain = residuals.Compile();
        Assert.That(values, Is.EqualTo(plain([0.3, -0.7], rows)));
        for (int j = 0; j < 2; j++)
        {
            var column = FiniteDifferences.Gradient(p => plain(p, rows)[0], [0.3, -0.7])[j];
            Assert.That(FiniteDifferences.Agrees(jacobian[j], column), $"J[0,{j}]");
        }
        var printed = AD.Trace((Expression<Func<double[], Row[], double>>)((w, rows) => rows.Sum(r => r.Y * r.X[0] * w[0] * w[1]))).ToString();
        Assert.That(printed, Does.Contain("s[k].Y"), "the trace shows what is read from each element");
    }

    /// <summary>An edge of a graph: x[To] - x[From] weighted.</summary>
    public sealed record Edge(int From, int To, double Weight);

    [Test]
    public void SparseHessianPatternFollowsIndicesHeldInObjects()
    {
        Expression<Func<double[], List<Edge>, double>> energy = (x, edges) =>
            edges.Sum(e => e.Weight * Math.Pow(x[e.To] - x[e.From], 2) + Math.Exp(0.1 * x[e.From]));
        var edges = new List<Edge> { new(0, 4, 1), new(1, 2, 2), new(2, 6, 0.5), new(3, 0, 3), new(5, 1, 1.5) };
        const int n = 7;
        var sparse = AD.SparseHessian(energy);
        var pattern = sparse.Pattern(n, edges);
        var linked = edges.SelectMany(e => new[] { (e.From, e.To), (e.To, e.From) }).ToHashSet();
        var entries = new List<(int, int)>();
        for (int i = 0; i < n; i++)
            for (int k = pattern.RowPointers[i]; k < pattern.RowPointers[i + 1]; k++) entries.Add((i, pattern.ColumnIndices[k]));
        var expected = new List<(int, int)>();
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (i == j || linked.Contains((i, j))) expected.Add((i, j));
        Assert.That(entries, Is.EquivalentTo(expected));
        var x = new[] { 0.4, -1.0, 2.2, 0.1, -0.3, 1.7, 0.9 };
        var values = new double[pattern.NonZeros];
        var gradient = new double[n];
        var h = new double[n * n];
        double value = sparse.Evaluate(x, edges, gradient, values);
        Assert.That(value, Is.EqualTo(AD.Hessian(energy)(x, edges, new double[n], h)));
        for (int i = 0; i < n; i++)
            for (int k = pattern.RowPointers[i]; k < pattern.RowPointers[i + 1]; k++)
                Assert.That(values[k], Is.EqualTo(h[i * n + pattern.ColumnIndices[k]]).Within(1e-12), $"H[{i},{pattern.ColumnIndices[k]}]");
    }

    [Test]
    public void SparseJacobianThroughAMapOverObjects()
    {
        Expression<Func<double[], Edge[], double[]>> residuals = (x, edges) => edges.Select(e => e.Weight * (x[e.To] - x[e.From] * x[e.From])).ToArray();
        var edges = new[] { new Edge(0, 1, 1), new Edge(1, 2, 2), new Edge(3, 2, 0.5) };
        var pattern = AD.SparseJacobian(residuals).Pattern(4, edges);
        Assert.That(pattern.NonZeros, Is.EqualTo(6), "each residual reads two elements");
        Assert.That(pattern.ColumnIndices[..2], Is.EqualTo(new[] { 0, 1 }));
    }
}

/// <summary>What cannot be looped over or read is reported by name, never as a missing derivative rule of LINQ's.</summary>
[TestFixture]
public class ObjectLoopErrorTests
{
    private static double Similarity(ObjectLoopTests.Row a, ObjectLoopTests.Sample b) => a.Y * b.Y;

    public static IEnumerable<TestCaseData> Cases()
    {
        TestCaseData Case(string name, Expression<Func<double[], ObjectLoopTests.Dataset, double>> f, params string[] why) =>
            new TestCaseData(f, why).SetName(name);
        yield return Case("an IEnumerable", (w, d) => d.Items.Sum(r => r.Y * w[0]),
            "Cannot differentiate `d.Items.Sum(r => (r.Y * w[0]))`: cannot loop over `d.Items` of type `IEnumerable<Row>`: loops run over arrays, lists and `Enumerable.Range`.");
        yield return Case("an IEnumerable of data alone", (w, d) => w[0] * d.Items.Sum(r => r.Y), "cannot loop over `d.Items` of type `IEnumerable<Row>`");
        yield return Case("an IEnumerable zipped with", (w, d) => d.Rows.Zip(d.Items, (a, b) => a.Y * b.Y * w[0]).Sum(), "cannot loop over `d.Items` of type `IEnumerable<Row>`");
        yield return Case("an operator that is not a stage", (w, d) => d.Rows.OrderBy(r => r.Y).Sum(r => r.Y * w[0]),
            "cannot loop over `d.Rows.OrderBy(r => r.Y)` of type `IOrderedEnumerable<Row>`");
        yield return Case("a map over an IEnumerable", (w, d) => d.Items.Select(r => r.Y * w[0]).ToArray().Sum(), "cannot loop over `d.Items`");
        yield return Case("an object computed from active values", (w, d) => d.Rows.Select(r => new ObjectLoopTests.Row(r.Y * w[0], r.X)).Sum(r => r.Y),
            "Cannot differentiate `new Row((r.Y * w[0]), r.X)`: an object computed from active values cannot be read");
        yield return Case("a member of an active value", (w, d) => new ObjectLoopTests.Row(w[0], d.Y).Y, "the member `Y` is read from an active value");
        yield return Case("a sum of integers", (w, d) => w[0] * d.Samples.Sum(s => s.Count), "`Sum` of values of type `Int32` is not supported");
        yield return Case("a method of two elements", (w, d) => d.Rows.Zip(d.Samples, (r, s) => Similarity(r, s) * w[0]).Sum(),
            "Cannot differentiate `Similarity(r, s)`: it reads two loop elements at once");
    }

    [TestCaseSource(nameof(Cases))]
    public void IsReportedByName(Expression<Func<double[], ObjectLoopTests.Dataset, double>> f, string[] why)
    {
        var e = Assert.Throws<NotSupportedException>(() => AD.Gradient(f))!;
        foreach (var part in why) Assert.That(e.Message, Does.Contain(part));
        Assert.That(e.Message, Does.Not.Contain("no derivative rule"));
    }
}

/// <summary>Loops over objects allocate nothing per call, whatever the sequence (see <see cref="AllocationTests.Measure"/>).</summary>
[TestFixture, NonParallelizable]
public class ObjectLoopAllocationTests
{
    public static IEnumerable<TestCaseData> Loops()
    {
        TestCaseData Case(string name, Expression<Func<double[], ObjectLoopTests.Dataset, double>> f) => new TestCaseData(f).SetName(name);
        yield return Case("records in an array", (w, d) => d.Rows.Sum(r => Math.Log(1 + Math.Exp(-r.Y * r.X.Select((v, j) => w[j] * v).Sum()))));
        yield return Case("a List", (w, d) => d.RowList.Where(r => r.Y > 0).Sum(r => r.X.Zip(w, (a, b) => a * b).Sum()));
        yield return Case("an IReadOnlyList", (w, d) => d.RowView.Max(r => r.X[0] * w[0]) + d.RowView.Average(r => r.Y * w[1]));
        yield return Case("structs", (w, d) => d.Points.Aggregate(0.0, (a, p) => a * 0.5 + p.Y * w[p.K]) + d.PointList.Count(p => p.X[0] * w[1] > 0));
        yield return Case("nested lists", (w, d) => d.Groups.Sum(g => g.Weight * g.Members.Sum(m => m.Detail.Scale * m.X.Select((v, j) => w[j] * v).Sum())));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static double Call(GradientFunc<ObjectLoopTests.Dataset> g, double[] w, ObjectLoopTests.Dataset d, double[] gradient)
    {
        double sum = 0;
        for (int i = 0; i < 200; i++) sum += g(w, d, gradient) + gradient[0];
        return sum;
    }

    [TestCaseSource(nameof(Loops))]
    public void GradientAllocatesNothing(Expression<Func<double[], ObjectLoopTests.Dataset, double>> f)
    {
        var g = AD.Gradient(f);
        var data = ObjectLoopTests.Make(20, 5, 2);
        var w = new[] { 0.1, -0.2, 0.3, 0.05, 0.4 };
        var gradient = new double[5];
        Assert.That(AllocationTests.Measure(() => Call(g, w, data, gradient)), Is.Zero);
    }
}
