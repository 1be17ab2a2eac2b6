using System.Linq.Expressions;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace ExprAD.Benchmarks;

/// <summary>
/// Issue 10's target for LINQ over objects: the logistic loss over a <c>Row[]</c> (a record with <c>double Y</c> and
/// <c>double[] X</c>) within 1.1x of the same loop over <c>double[][]</c>, value and gradient, 2,000 rows of 20 features;
/// with the other sequences (a list, a read-only list, an array of structs) and the jagged form written with Zip.
/// Run with <c>dotnet run -c Release --project bench/ExprAD.Benchmarks -- --filter '*ObjectLoops*'</c>.
/// </summary>
[MemoryDiagnoser]
[ThreeLaunches]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class ObjectLoops
{
    /// <summary>One example: its label and its features.</summary>
    public sealed record Row(double Y, double[] X);

    /// <summary>The same as a struct.</summary>
    public struct PointRow
    {
        /// <summary>The label.</summary>
        public double Y;

        /// <summary>The features.</summary>
        public double[] X;
    }

    /// <summary>One data set in every form.</summary>
    public sealed class Data
    {
        /// <summary>Features, one row per example.</summary>
        public double[][] X = [];

        /// <summary>Labels.</summary>
        public double[] Y = [];

        /// <summary>The examples as records.</summary>
        public Row[] Rows = [];

        /// <summary>The same records in a list.</summary>
        public List<Row> RowList = [];

        /// <summary>The same records behind the read-only list interface (a <see cref="List{T}"/> at run time).</summary>
        public IReadOnlyList<Row> RowView = [];

        /// <summary>The examples as structs.</summary>
        public PointRow[] Points = [];
    }

    private static readonly Expression<Func<double[], Data, double>> Jagged = (w, d) =>
        Enumerable.Range(0, d.Y.Length).Sum(i => Math.Log(1 + Math.Exp(-d.Y[i] * d.X[i].Select((v, j) => w[j] * v).Sum())));

    private static readonly Expression<Func<double[], Data, double>> JaggedZip = (w, d) =>
        d.X.Zip(d.Y, (x, y) => Math.Log(1 + Math.Exp(-y * x.Select((v, j) => w[j] * v).Sum()))).Sum();

    private static readonly Expression<Func<double[], Data, double>> Rows = (w, d) =>
        d.Rows.Sum(r => Math.Log(1 + Math.Exp(-r.Y * r.X.Select((v, j) => w[j] * v).Sum())));

    private static readonly Expression<Func<double[], Data, double>> RowList = (w, d) =>
        d.RowList.Sum(r => Math.Log(1 + Math.Exp(-r.Y * r.X.Select((v, j) => w[j] * v).Sum())));

    private static readonly Expression<Func<double[], Data, double>> RowView = (w, d) =>
        d.RowView.Sum(r => Math.Log(1 + Math.Exp(-r.Y * r.X.Select((v, j) => w[j] * v).Sum())));

    private static readonly Expression<Func<double[], Data, double>> Points = (w, d) =>
        d.Points.Sum(r => Math.Log(1 + Math.Exp(-r.Y * r.X.Select((v, j) => w[j] * v).Sum())));

    private Data _data = null!;
    private double[] _w = null!, _g = null!;
    private ValueFunc<Data> _jaggedValue = null!, _rowsValue = null!;
    private GradientFunc<Data> _jagged = null!, _jaggedZip = null!, _rows = null!, _rowList = null!, _rowView = null!, _points = null!;

    [GlobalSetup]
    public void Setup()
    {
        const int rows = 2000, features = 20;
        var random = new Random(1);
        var x = Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, features).Select(_ => random.NextDouble() - 0.5).ToArray()).ToArray();
        var y = Enumerable.Range(0, rows).Select(_ => random.Next(2) * 2.0 - 1).ToArray();
        var records = x.Zip(y, (xi, yi) => new Row(yi, xi)).ToArray();
        _data = new Data
        {
            X = x, Y = y, Rows = records, RowList = [.. records], RowView = records.ToList(),
            Points = x.Zip(y, (xi, yi) => new PointRow { Y = yi, X = xi }).ToArray(),
        };
        _w = Enumerable.Range(0, features).Select(j => 0.1 * Math.Sin(j)).ToArray();
        _g = new double[features];
        _jaggedValue = AD.Value(Jagged);
        _rowsValue = AD.Value(Rows);
        (_jagged, _jaggedZip, _rows, _rowList, _rowView, _points) =
            (AD.Gradient(Jagged), AD.Gradient(JaggedZip), AD.Gradient(Rows), AD.Gradient(RowList), AD.Gradient(RowView), AD.Gradient(Points));
        // Every form computes the same loss and gradient, bit for bit: the traces differ only in how they read the data.
        var expected = new double[features];
        double loss = _jagged(_w, _data, expected);
        foreach (var gradient in new[] { _jaggedZip, _rows, _rowList, _rowView, _points })
        {
            var g = new double[features];
            if (gradient(_w, _data, g) != loss || !g.SequenceEqual(expected) || _rowsValue(_w, _data) != loss || _jaggedValue(_w, _data) != loss)
                throw new InvalidOperationException("The forms disagree.");
        }
    }

    [BenchmarkCategory("value"), Benchmark(Baseline = true, Description = "value, double[][] (Range)")]
    public double JaggedValue() => _jaggedValue(_w, _data);

    [BenchmarkCategory("value"), Benchmark(Description = "value, Row[]")]
    public double RowsValue() => _rowsValue(_w, _data);

    [BenchmarkCategory("gradient"), Benchmark(Baseline = true, Description = "gradient, double[][] (Range)")]
    public double JaggedGradient() => _jagged(_w, _data, _g);

    [BenchmarkCategory("gradient"), Benchmark(Description = "gradient, double[][] zipped with double[]")]
    public double JaggedZipGradient() => _jaggedZip(_w, _data, _g);

    [BenchmarkCategory("gradient"), Benchmark(Description = "gradient, Row[]")]
    public double RowsGradient() => _rows(_w, _data, _g);

    [BenchmarkCategory("gradient"), Benchmark(Description = "gradient, List<Row>")]
    public double RowListGradient() => _rowList(_w, _data, _g);

    [BenchmarkCategory("gradient"), Benchmark(Description = "gradient, IReadOnlyList<Row>")]
    public double RowViewGradient() => _rowView(_w, _data, _g);

    [BenchmarkCategory("gradient"), Benchmark(Description = "gradient, PointRow[] (struct)")]
    public double PointsGradient() => _points(_w, _data, _g);
}

/// <summary>
/// Struct elements are read in place: a sum over 1,000 elements of a 256-byte struct against the same over an 8-byte struct
/// (a copy of each element per read would cost far more than the add), and against a hand-written loop.
/// Run with <c>dotnet run -c Release --project bench/ExprAD.Benchmarks -- --filter '*ObjectStructReads*'</c>.
/// </summary>
[MemoryDiagnoser]
[ThreeLaunches]
public class ObjectStructReads
{
    /// <summary>A struct of 32 doubles, of which the loop reads one.</summary>
    public struct Fat
    {
        /// <summary>The value read.</summary>
        public double Y;
#pragma warning disable CS0649 // padding, never read
        internal double A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, D0;
#pragma warning restore CS0649
    }

    /// <summary>A struct of one double.</summary>
    public struct Thin
    {
        /// <summary>The value read.</summary>
        public double Y;
    }

    /// <summary>The elements in every form.</summary>
    public sealed class Data
    {
        /// <summary>Fat structs.</summary>
        public Fat[] Fats = [];

        /// <summary>The same in a list.</summary>
        public List<Fat> FatList = [];

        /// <summary>Thin structs.</summary>
        public Thin[] Thins = [];
    }

    private Data _data = null!;
    private readonly double[] _w = [1.5];
    private ValueFunc<Data> _fat = null!, _fatList = null!, _thin = null!;

    [GlobalSetup]
    public void Setup()
    {
        _data = new Data { Fats = new Fat[1000], Thins = new Thin[1000] };
        for (int i = 0; i < 1000; i++) _data.Fats[i].Y = _data.Thins[i].Y = Math.Sin(i);
        _data.FatList = [.. _data.Fats];
        _fat = AD.Value<Data>((w, d) => d.Fats.Sum(p => p.Y * w[0]));
        _fatList = AD.Value<Data>((w, d) => d.FatList.Sum(p => p.Y * w[0]));
        _thin = AD.Value<Data>((w, d) => d.Thins.Sum(p => p.Y * w[0]));
        if (_fat(_w, _data) != Hand() || _fatList(_w, _data) != Hand() || _thin(_w, _data) != Hand()) throw new InvalidOperationException("The forms disagree.");
    }

    [Benchmark(Baseline = true, Description = "8-byte struct[]")]
    public double ThinStructs() => _thin(_w, _data);

    [Benchmark(Description = "256-byte struct[]")]
    public double FatStructs() => _fat(_w, _data);

    [Benchmark(Description = "List of 256-byte structs")]
    public double FatStructList() => _fatList(_w, _data);

    [Benchmark(Description = "hand-written loop, 256-byte struct[]")]
    public double Hand()
    {
        double sum = 0;
        var fats = _data.Fats;
        for (int i = 0; i < fats.Length; i++) sum += fats[i].Y * _w[0];
        return sum;
    }
}
