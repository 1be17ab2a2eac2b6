using System.Collections.Concurrent;
using System.Linq.Expressions;
using ExprAD.Caching;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Many threads compiling (through the cache) and calling derivative delegates at once.
/// Failures are collected from the worker threads and asserted on the test thread.
/// </summary>
[TestFixture, NonParallelizable]
public class ConcurrencyTests
{
    private const int Workers = 8;

    private static ParallelOptions Options => new() { MaxDegreeOfParallelism = Workers };

    private static void Check(ConcurrentQueue<string> failures, bool ok, string what)
    {
        if (!ok) failures.Enqueue(what);
    }

    private static bool Close(double actual, double expected) =>
        Math.Abs(actual - expected) <= 1e-12 * Math.Max(1, Math.Abs(expected));

    [Test]
    public void ManyThreadsRequestAndCallSeveralShapesAtOnce()
    {
        var failures = new ConcurrentQueue<string>();
        const int iterations = Workers * 250;
        Parallel.For(0, iterations, Options, () => (Gradient: new double[3], X: new double[3]), (i, _, local) =>
        {
            var (gradient, x) = local;
            double k = 1 + i % 17; // captured per iteration: each request gets its own closure
            x[0] = 0.1 + (i % 7) * 0.3;
            x[1] = -1 + (i % 5) * 0.5;
            x[2] = 0.5 + (i % 3);
            switch (i % 5)
            {
                case 0:
                {
                    var g = AD.Gradient(v => k * v[0] * v[1] + Math.Sin(v[2]));
                    double y = g(x, gradient);
                    Check(failures, Close(y, k * x[0] * x[1] + Math.Sin(x[2])), $"shape 0 value, i = {i}");
                    Check(failures, Close(gradient[0], k * x[1]) && Close(gradient[1], k * x[0]) && Close(gradient[2], Math.Cos(x[2])),
                        $"shape 0 gradient, i = {i}");
                    break;
                }
                case 1:
                {
                    var g = AD.Gradient(v => Math.Exp(k * v[0]) / (1 + v[2] * v[2]));
                    double y = g(x, gradient);
                    double d = 1 + x[2] * x[2];
                    Check(failures, Close(y, Math.Exp(k * x[0]) / d), $"shape 1 value, i = {i}");
                    Check(failures, Close(gradient[0], k * Math.Exp(k * x[0]) / d) && gradient[1] == 0 &&
                        Close(gradient[2], -Math.Exp(k * x[0]) * 2 * x[2] / (d * d)), $"shape 1 gradient, i = {i}");
                    break;
                }
                case 2:
                {
                    var jvp = AD.Jvp(v => k * Math.Log(v[2]) + v[0] * v[0]);
                    double y = jvp(x, new double[] { 1, 1, 1 }, out double dy);
                    Check(failures, Close(y, k * Math.Log(x[2]) + x[0] * x[0]), $"shape 2 value, i = {i}");
                    Check(failures, Close(dy, k / x[2] + 2 * x[0]), $"shape 2 jvp, i = {i}");
                    break;
                }
                case 3:
                {
                    var derivative = AD.Derivative(t => k * Math.Cos(t) * t);
                    double t0 = x[0];
                    Check(failures, Close(derivative(t0), k * (Math.Cos(t0) - t0 * Math.Sin(t0))), $"shape 3 derivative, i = {i}");
                    break;
                }
                default:
                {
                    var g = AD.Gradient((double a, double b) => k * a * a * b);
                    var (value, da, db) = g(x[0], x[1]);
                    Check(failures, Close(value, k * x[0] * x[0] * x[1]) && Close(da, 2 * k * x[0] * x[1]) && Close(db, k * x[0] * x[0]),
                        $"shape 4, i = {i}");
                    break;
                }
            }
            return local;
        }, _ => { });
        Assert.That(failures, Is.Empty, string.Join("; ", failures.Take(10)));
    }

    [Test]
    public void OneSharedDelegateCalledFromManyThreads()
    {
        var g = AD.Gradient(x => x[0] * x[1] * x[2] + Math.Tanh(x[3]) - x[0] / x[3]);
        var failures = new ConcurrentQueue<string>();
        Parallel.For(0, Workers, Options, worker =>
        {
            var x = new double[4];
            var gradient = new double[4];
            for (int n = 0; n < 20_000; n++)
            {
                x[0] = worker + 1;
                x[1] = n % 13 - 6;
                x[2] = 0.5 * (n % 7);
                x[3] = 1 + n % 11;
                double y = g(x, gradient);
                bool ok = Close(y, x[0] * x[1] * x[2] + Math.Tanh(x[3]) - x[0] / x[3])
                    && Close(gradient[0], x[1] * x[2] - 1 / x[3])
                    && Close(gradient[1], x[0] * x[2])
                    && Close(gradient[2], x[0] * x[1])
                    && Close(gradient[3], 1 - Math.Tanh(x[3]) * Math.Tanh(x[3]) + x[0] / (x[3] * x[3]));
                if (!ok) { failures.Enqueue($"worker {worker}, n = {n}"); return; }
            }
        });
        Assert.That(failures, Is.Empty, string.Join("; ", failures));
    }

    [Test]
    public void OneSharedDataDelegateCalledFromManyThreadsWithTheirOwnData()
    {
        var g = AD.Gradient<double[]>((x, d) => d[0] * x[0] * x[0] + d[1] * x[1]);
        var failures = new ConcurrentQueue<string>();
        Parallel.For(0, Workers, Options, worker =>
        {
            var data = new double[] { worker, -worker };
            var x = new double[2];
            var gradient = new double[2];
            for (int n = 0; n < 20_000; n++)
            {
                x[0] = n % 9;
                x[1] = n % 4;
                data[0] = worker + n % 3; // each thread mutates only its own data
                double y = g(x, data, gradient);
                bool ok = y == data[0] * x[0] * x[0] + data[1] * x[1]
                    && gradient[0] == 2 * data[0] * x[0]
                    && gradient[1] == data[1];
                if (!ok) { failures.Enqueue($"worker {worker}, n = {n}"); return; }
            }
        });
        Assert.That(failures, Is.Empty, string.Join("; ", failures));
    }

    [Test]
    public void ConcurrentFirstRequestsOfANewShapeCompileItOnce()
    {
        // A shape no other test uses (a constant unique to this run), requested by 8 threads released together.
        double unique = 1 + Random.Shared.NextDouble();
        var x = Expression.Parameter(typeof(double[]), "x");
        var body = Expression.Multiply(Expression.Constant(unique), Expression.Call(typeof(Math).GetMethod(nameof(Math.Atan), [typeof(double)])!,
            Expression.ArrayIndex(x, Expression.Constant(0))));
        var lambda = Expression.Lambda<Func<double[], double>>(body, x);

        long misses0 = KernelCache.Misses, hits0 = KernelCache.Hits;
        var results = new GradientFunc?[Workers];
        var errors = new ConcurrentQueue<Exception>();
        using var start = new Barrier(Workers);
        var threads = Enumerable.Range(0, Workers).Select(w => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                results[w] = AD.Gradient(lambda);
            }
            catch (Exception e) { errors.Enqueue(e); }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.That(errors, Is.Empty);
        Assert.Multiple(() =>
        {
            Assert.That(KernelCache.Misses - misses0, Is.EqualTo(1), "compiled exactly once");
            Assert.That(KernelCache.Hits - hits0, Is.EqualTo(Workers - 1));
            var info = AD.GetCompilationInfo(results[0]!);
            Assert.That(info, Is.Not.Null);
            Assert.That(results.Select(r => AD.GetCompilationInfo(r!)), Is.All.SameAs(info));
        });
        var gradient = new double[1];
        foreach (var r in results)
        {
            Assert.That(r!(new double[] { 2 }, gradient), Is.EqualTo(unique * Math.Atan(2)).Within(1e-15));
            Assert.That(gradient[0], Is.EqualTo(unique / 5).Within(1e-15));
        }
    }

    [Test]
    public void CapturedVariableChangedByAnotherThreadIsSeenAtCallTime()
    {
        double k = 1;
        var g = AD.Gradient(x => k * x[0]);
        var gradient = new double[1];
        var writer = new Thread(() => k = 42);
        writer.Start();
        writer.Join();
        g(new double[] { 1 }, gradient);
        Assert.That(gradient[0], Is.EqualTo(42));
    }
}
