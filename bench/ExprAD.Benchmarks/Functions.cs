using System.Linq.Expressions;
using System.Reflection;

namespace ExprAD.Benchmarks;

/// <summary>The benchmarked functions as expression trees (built with the Expression API, constant indices) and by hand.</summary>
public static class Functions
{
    private static readonly MethodInfo Tanh = typeof(Math).GetMethod(nameof(Math.Tanh), [typeof(double)])!;

    private static Expression At(ParameterExpression x, int i) => Expression.ArrayIndex(x, Expression.Constant(i));

    // ---------------------------------------------------------------- paper function

    /// <summary>f(x1, x2) = ln x1 + x1 x2 - sin x2 (Baydin and Pearlmutter), on the double[] form.</summary>
    public static readonly Expression<Func<double[], double>> Paper = x => Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]);

    public static double PaperValue(ReadOnlySpan<double> x) => Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]);

    public static double PaperGradient(ReadOnlySpan<double> x, Span<double> g)
    {
        double x1 = x[0], x2 = x[1];
        g[0] = 1.0 / x1 + x2;
        g[1] = x1 - Math.Cos(x2);
        return Math.Log(x1) + x1 * x2 - Math.Sin(x2);
    }

    // ---------------------------------------------------------------- Rosenbrock

    /// <summary>sum_{i&lt;n-1} 100 (x[i+1] - x[i] x[i])^2 + (1 - x[i])^2, unrolled with constant indices, summed left to right.</summary>
    public static Expression<Func<double[], double>> Rosenbrock(int n)
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression? sum = null;
        for (int i = 0; i < n - 1; i++)
        {
            var xi = At(x, i);
            var a = Expression.Subtract(At(x, i + 1), Expression.Multiply(xi, xi));
            var b = Expression.Subtract(Expression.Constant(1.0), xi);
            var term = Expression.Add(
                Expression.Multiply(Expression.Constant(100.0), Expression.Multiply(a, a)),
                Expression.Multiply(b, b));
            sum = sum is null ? term : Expression.Add(sum, term);
        }
        return Expression.Lambda<Func<double[], double>>(sum ?? Expression.Constant(0.0), x);
    }

    public static double RosenbrockValue(ReadOnlySpan<double> x)
    {
        double f = 0;
        for (int i = 0; i < x.Length - 1; i++)
        {
            double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
            f += 100 * (a * a) + b * b;
        }
        return f;
    }

    /// <summary>The gradient with the g[i+1] contribution carried in a register to the next step (no g.Clear(), no read-modify-write of g).</summary>
    public static double RosenbrockGradient(ReadOnlySpan<double> x, Span<double> g)
    {
        double f = 0, carry = 0;
        int n = x.Length;
        for (int i = 0; i < n - 1; i++)
        {
            double xi = x[i], a = x[i + 1] - xi * xi, b = 1 - xi;
            f += 100 * (a * a) + b * b;
            g[i] = carry - 400 * a * xi - 2 * b;
            carry = 200 * a;
        }
        if (n > 0) g[n - 1] = carry;
        return f;
    }

    /// <summary>The textbook form: clear g, then accumulate both contributions of every term into it.</summary>
    public static double RosenbrockGradientAccumulating(ReadOnlySpan<double> x, Span<double> g)
    {
        double f = 0;
        g.Clear();
        for (int i = 0; i < x.Length - 1; i++)
        {
            double xi = x[i], a = x[i + 1] - xi * xi, b = 1 - xi;
            f += 100 * (a * a) + b * b;
            g[i] += -400 * a * xi - 2 * b;
            g[i + 1] += 200 * a;
        }
        return f;
    }

    // ---------------------------------------------------------------- MLP

    public const int In = 5, Hidden = 20, Out = 4;
    public const int W1 = 0, B1 = W1 + Hidden * In, W2 = B1 + Hidden, B2 = W2 + Out * Hidden, Weights = B2 + Out; // 204

    /// <summary>The data argument of the MLP loss: one input vector and its target, read at call time.</summary>
    public sealed class MlpData
    {
        public double[] Input = new double[In];
        public double[] Target = new double[Out];
    }

    /// <summary>
    /// Loss of a 5 -> 20 (tanh) -> 4 (linear) network: sum_k (y_k - t_k)^2, weights w[0..203] with
    /// constant indices. With <paramref name="baked"/> the input and target are constants in the tree;
    /// otherwise they are read from the data argument.
    /// </summary>
    public static LambdaExpression Mlp(MlpData sample, bool baked)
    {
        var w = Expression.Parameter(typeof(double[]), "w");
        var d = Expression.Parameter(typeof(MlpData), "d");
        Expression Input(int i) => baked ? Expression.Constant(sample.Input[i])
            : Expression.ArrayIndex(Expression.Field(d, nameof(MlpData.Input)), Expression.Constant(i));
        Expression Target(int k) => baked ? Expression.Constant(sample.Target[k])
            : Expression.ArrayIndex(Expression.Field(d, nameof(MlpData.Target)), Expression.Constant(k));

        var h = new Expression[Hidden];
        for (int j = 0; j < Hidden; j++)
        {
            Expression a = At(w, B1 + j);
            for (int i = 0; i < In; i++) a = Expression.Add(a, Expression.Multiply(At(w, W1 + j * In + i), Input(i)));
            h[j] = Expression.Call(Tanh, a);
        }
        Expression? loss = null;
        for (int k = 0; k < Out; k++)
        {
            Expression y = At(w, B2 + k);
            for (int j = 0; j < Hidden; j++) y = Expression.Add(y, Expression.Multiply(At(w, W2 + k * Hidden + j), h[j]));
            var e = Expression.Subtract(y, Target(k));
            var sq = Expression.Multiply(e, e);
            loss = loss is null ? sq : Expression.Add(loss, sq);
        }
        return baked ? Expression.Lambda<Func<double[], double>>(loss!, w) : Expression.Lambda<Func<double[], MlpData, double>>(loss!, w, d);
    }

    public static double MlpValue(ReadOnlySpan<double> w, MlpData d)
    {
        Span<double> h = stackalloc double[Hidden];
        var x = d.Input;
        for (int j = 0; j < Hidden; j++)
        {
            double a = w[B1 + j];
            for (int i = 0; i < In; i++) a += w[W1 + j * In + i] * x[i];
            h[j] = Math.Tanh(a);
        }
        double loss = 0;
        for (int k = 0; k < Out; k++)
        {
            double y = w[B2 + k];
            for (int j = 0; j < Hidden; j++) y += w[W2 + k * Hidden + j] * h[j];
            double e = y - d.Target[k];
            loss += e * e;
        }
        return loss;
    }

    /// <summary>Hand-written backpropagation: forward pass keeping h, then adjoints layer by layer.</summary>
    public static double MlpGradient(ReadOnlySpan<double> w, MlpData d, Span<double> g)
    {
        Span<double> h = stackalloc double[Hidden];
        Span<double> dh = stackalloc double[Hidden];
        var x = d.Input;
        for (int j = 0; j < Hidden; j++)
        {
            double a = w[B1 + j];
            for (int i = 0; i < In; i++) a += w[W1 + j * In + i] * x[i];
            h[j] = Math.Tanh(a);
        }
        dh.Clear();
        double loss = 0;
        for (int k = 0; k < Out; k++)
        {
            double y = w[B2 + k];
            for (int j = 0; j < Hidden; j++) y += w[W2 + k * Hidden + j] * h[j];
            double e = y - d.Target[k];
            loss += e * e;
            double dy = 2 * e;
            g[B2 + k] = dy;
            for (int j = 0; j < Hidden; j++)
            {
                g[W2 + k * Hidden + j] = dy * h[j];
                dh[j] += dy * w[W2 + k * Hidden + j];
            }
        }
        for (int j = 0; j < Hidden; j++)
        {
            double da = dh[j] * (1 - h[j] * h[j]);
            g[B1 + j] = da;
            for (int i = 0; i < In; i++) g[W1 + j * In + i] = da * x[i];
        }
        return loss;
    }

    public static MlpData MlpSample() => new()
    {
        Input = [0.5, -1.2, 0.3, 2.0, -0.7],
        Target = [0.1, -0.4, 0.8, 0.0],
    };

    public static double[] MlpWeights()
    {
        var random = new Random(42);
        var w = new double[Weights];
        for (int i = 0; i < w.Length; i++) w[i] = (random.NextDouble() - 0.5) * 0.6;
        return w;
    }

    // ---------------------------------------------------------------- chains for compile time

    /// <summary>
    /// A chain of <paramref name="ops"/> operations, acc = acc * x[i % 16] + x[(i + 1) % 16], as a
    /// left-deep tree (every step depends on the previous one, so nothing can be shared or folded).
    /// </summary>
    public static (ParameterExpression X, Expression Body) Chain(int ops)
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression acc = At(x, 0);
        for (int i = 0; i < ops / 2; i++)
            acc = Expression.Add(Expression.Multiply(acc, At(x, i % 16)), At(x, (i + 1) % 16));
        return (x, acc);
    }

    /// <summary>
    /// About <paramref name="ops"/> operations as a balanced tree (depth ~log2 ops): the sum of
    /// ops/3 leaves x[a] * (x[b] + c_i) with distinct constants c_i, so that nothing is shared.
    /// </summary>
    public static (ParameterExpression X, Expression Body) Balanced(int ops)
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression Build(int lo, int hi) => hi - lo == 1
            ? Expression.Multiply(At(x, lo % 16), Expression.Add(At(x, (lo + 1 + lo / 16) % 16), Expression.Constant(1.0 + lo * 1e-7)))
            : Expression.Add(Build(lo, (lo + hi) / 2), Build((lo + hi) / 2, hi));
        return (x, Build(0, Math.Max(1, ops / 3)));
    }

    public static double[] Point(int n, int seed = 1)
    {
        var random = new Random(seed);
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = 0.5 + random.NextDouble();
        return x;
    }

    /// <summary>Throws unless the two gradients agree to a relative 1e-12 (they should agree to the last bits).</summary>
    public static void Check(string what, double v1, ReadOnlySpan<double> g1, double v2, ReadOnlySpan<double> g2)
    {
        static bool Close(double a, double b) => Math.Abs(a - b) <= 1e-12 * Math.Max(1, Math.Max(Math.Abs(a), Math.Abs(b)));
        if (!Close(v1, v2)) throw new InvalidOperationException($"{what}: values differ, {v1} vs {v2}");
        if (g1.Length != g2.Length) throw new InvalidOperationException($"{what}: gradient lengths differ");
        for (int i = 0; i < g1.Length; i++)
            if (!Close(g1[i], g2[i])) throw new InvalidOperationException($"{what}: gradient[{i}] differs, {g1[i]} vs {g2[i]}");
    }
}
