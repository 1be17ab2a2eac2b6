using System.Linq.Expressions;
using System.Reflection;
using System.Text;
using ExprAD.Tests.Oracles;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Properties checked on random expression DAGs built with the System.Linq.Expressions API:
/// (a) reverse mode (AD.Gradient) and forward mode (AD.Jvp) give the same partials to ~1e-10;
/// (b) both match Richardson finite differences; (c) the compiled value is bit-for-bit the value
/// of the same lambda compiled by LambdaExpression.Compile() (ExprAD never reassociates and only
/// applies exact IEEE identities, so nothing weaker than equality is justified).
/// </summary>
/// <remarks>
/// Every DAG comes from <c>new Random(seed)</c> with a seed printed in failure messages together
/// with a listing of the DAG (one node a line, shared nodes named once), so a failure can be
/// reproduced with <see cref="RandomDag.Generate"/>. 8 batches × 50 DAGs = 400 DAGs per run.
/// </remarks>
[TestFixture]
public sealed class PropertyTests
{
    private const int Batches = 8;
    private const int PerBatch = 50;

    public static IEnumerable<int> BatchNumbers => Enumerable.Range(0, Batches);

    private static IEnumerable<RandomDag> Batch(int batch) =>
        Enumerable.Range(batch * PerBatch, PerBatch).Select(i => RandomDag.Generate(20_240_000 + i));

    private static string At(double[] x) => "(" + string.Join(", ", x.Select(v => v.ToString("R"))) + ")";

    private static double[] Unit(int n, int i)
    {
        var e = new double[n];
        e[i] = 1;
        return e;
    }

    /// <summary>(a) Reverse and forward mode agree on every partial, and on a dense direction (∇f·v).</summary>
    [TestCaseSource(nameof(BatchNumbers))]
    public void ReverseMode_EqualsForwardMode(int batch)
    {
        using var scope = Assert.EnterMultipleScope();
        foreach (var dag in Batch(batch))
        {
            var gradient = AD.Gradient(dag.Lambda);
            var jvp = AD.Jvp(dag.Lambda);
            foreach (var x in dag.Points(2))
            {
                var g = new double[x.Length];
                gradient(x, g);
                double dot = 0, scale = 0;
                for (int i = 0; i < x.Length; i++)
                {
                    jvp(x, Unit(x.Length, i), out double d);
                    Assert.That(FiniteDifferences.Close(g[i], d, 1e-10), Is.True,
                        $"∂f/∂x[{i}] at {At(x)}: reverse {g[i]:R}, forward {d:R}\n{dag}");
                    double v = Direction(i);
                    dot += g[i] * v;
                    scale += Math.Abs(g[i] * v);
                }
                var direction = Enumerable.Range(0, x.Length).Select(Direction).ToArray();
                jvp(x, direction, out double dv);
                // Summing the products can cancel: the tolerance is relative to the sum of magnitudes.
                Assert.That(dv, Is.EqualTo(dot).Within(1e-10 * Math.Max(1, scale)),
                    $"∇f·v at {At(x)} with v = {At(direction)}: forward {dv:R}, reverse-gradient dot v {dot:R}\n{dag}");
            }
        }
    }

    private static double Direction(int i) => i % 2 == 0 ? 0.5 + 0.25 * i : -1.0 + 0.125 * i;

    /// <summary>(b) Both modes match finite differences, at points where finite differences are trustworthy.</summary>
    [TestCaseSource(nameof(BatchNumbers))]
    public void BothModes_MatchFiniteDifferences(int batch)
    {
        using var scope = Assert.EnterMultipleScope();
        foreach (var dag in Batch(batch))
        {
            var gradient = AD.Gradient(dag.Lambda);
            var jvp = AD.Jvp(dag.Lambda);
            var plain = dag.Lambda.Compile();
            var (x, fd) = dag.SmoothPoint(plain);
            if (fd is null)
            {
                Assert.Fail($"no point where finite differences are reliable (every candidate had a kink or jump within the stencil)\n{dag}");
                continue;
            }
            var g = new double[x.Length];
            gradient(x, g);
            for (int i = 0; i < x.Length; i++)
            {
                jvp(x, Unit(x.Length, i), out double d);
                Assert.That(g[i], Is.EqualTo(fd[i].Value).Within(FiniteDifferences.Tolerance(fd[i])),
                    $"reverse ∂f/∂x[{i}] at {At(x)}; finite differences give {fd[i]}\n{dag}");
                Assert.That(d, Is.EqualTo(fd[i].Value).Within(FiniteDifferences.Tolerance(fd[i])),
                    $"forward ∂f/∂x[{i}] at {At(x)}; finite differences give {fd[i]}\n{dag}");
            }
        }
    }

    /// <summary>(c) The value returned by both modes equals LambdaExpression.Compile()'s value exactly.</summary>
    [TestCaseSource(nameof(BatchNumbers))]
    public void Value_EqualsSystemLinqCompile(int batch)
    {
        using var scope = Assert.EnterMultipleScope();
        foreach (var dag in Batch(batch))
        {
            var reference = dag.Lambda.Compile();
            var gradient = AD.Gradient(dag.Lambda);
            var jvp = AD.Jvp(dag.Lambda);
            foreach (var x in dag.Points(3))
            {
                double expected = reference(x);
                double viaGradient = gradient(x, new double[x.Length]);
                double viaJvp = jvp(x, Unit(x.Length, 0), out _);
                Assert.That(viaGradient, Is.EqualTo(expected), $"AD.Gradient value at {At(x)}\n{dag}");
                Assert.That(viaJvp, Is.EqualTo(expected), $"AD.Jvp value at {At(x)}\n{dag}");
            }
        }
    }

    /// <summary>The generator itself: DAGs really share nodes, and cover conditionals and every input count 2..6.</summary>
    [Test]
    public void Generator_ProducesSharedNodesConditionalsAndAllInputCounts()
    {
        var dags = Enumerable.Range(0, Batches).SelectMany(Batch).ToList();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(dags.Count(d => d.SharedNodes > 0), Is.GreaterThan(dags.Count / 2), "DAGs with a node used more than once");
            Assert.That(dags.Count(d => d.Conditionals > 0), Is.GreaterThan(dags.Count / 4), "DAGs with a conditional");
            Assert.That(dags.Select(d => d.InputCount).Distinct().Order(), Is.EqualTo(new[] { 2, 3, 4, 5, 6 }), "input counts");
        }
    }

    /// <summary>
    /// A random expression DAG over x[0..k-1]: operations restricted to safe domains (logarithms of
    /// 1 + a², divisions by 1 + b², exponentials of bounded values), shared subexpressions (an
    /// operand is any earlier node, so nodes get several parents), structurally equal but distinct
    /// subtrees (hash-consing must merge them), conditionals and constants.
    /// </summary>
    internal sealed class RandomDag
    {
        private static readonly MethodInfo Sin = Math1(nameof(Math.Sin)), Cos = Math1(nameof(Math.Cos)),
            Tanh = Math1(nameof(Math.Tanh)), Atan = Math1(nameof(Math.Atan)), Asinh = Math1(nameof(Math.Asinh)),
            Exp = Math1(nameof(Math.Exp)), Log = Math1(nameof(Math.Log)), Sqrt = Math1(nameof(Math.Sqrt)),
            Cbrt = Math1(nameof(Math.Cbrt)), Abs = Math1(nameof(Math.Abs)), Sinh = Math1(nameof(Math.Sinh)),
            Pow = Math2(nameof(Math.Pow)), Atan2 = Math2(nameof(Math.Atan2)), LogBase = Math2(nameof(Math.Log)),
            Max = Math2(nameof(Math.Max)), Min = Math2(nameof(Math.Min)),
            Clamp = typeof(Math).GetMethod(nameof(Math.Clamp), [typeof(double), typeof(double), typeof(double)])!,
            Fma = typeof(Math).GetMethod(nameof(Math.FusedMultiplyAdd), [typeof(double), typeof(double), typeof(double)])!;

        private static MethodInfo Math1(string name) => typeof(Math).GetMethod(name, [typeof(double)])!;
        private static MethodInfo Math2(string name) => typeof(Math).GetMethod(name, [typeof(double), typeof(double)])!;

        private readonly List<string> _lines = new();

        private RandomDag(int seed) => Seed = seed;

        public int Seed { get; }
        public int InputCount { get; private set; }
        public Expression<Func<double[], double>> Lambda { get; private set; } = null!;

        /// <summary>Nodes that are operands of more than one parent.</summary>
        public int SharedNodes { get; private set; }

        public int Conditionals { get; private set; }

        /// <summary>The seed and the listing, one node a line, for failure messages.</summary>
        public override string ToString() =>
            $"DAG seed {Seed} (reproduce with PropertyTests.RandomDag.Generate({Seed})), {InputCount} inputs:\n  " + string.Join("\n  ", _lines);

        /// <summary>Deterministic points in [-1.5, 1.5]^k for this DAG.</summary>
        public IEnumerable<double[]> Points(int count)
        {
            var rng = new Random(Seed ^ 0x5eed);
            for (int p = 0; p < count; p++)
                yield return Enumerable.Range(0, InputCount).Select(_ => Math.Round(rng.NextDouble() * 3 - 1.5, 3)).ToArray();
        }

        /// <summary>
        /// A point where finite differences are reliable for every partial (no kink or jump inside the
        /// stencil, finite value), and the estimates there; null estimates if none of 20 candidates is.
        /// </summary>
        public (double[] Point, FiniteDifferences.Estimate[]? Estimates) SmoothPoint(Func<double[], double> plain)
        {
            double[] x = [];
            foreach (var candidate in Points(20))
            {
                x = candidate;
                if (!double.IsFinite(plain(x))) continue;
                var fd = FiniteDifferences.Gradient(plain, x);
                if (fd.All(e => FiniteDifferences.IsReliable(e))) return (x, fd);
            }
            return (x, null);
        }

        private sealed record Node(Expression Expression, string Name)
        {
            public int Uses;
        }

        public static RandomDag Generate(int seed)
        {
            var dag = new RandomDag(seed);
            var rng = new Random(seed);
            var x = Expression.Parameter(typeof(double[]), "x");
            int inputs = dag.InputCount = rng.Next(2, 7);
            var pool = new List<Node>();
            var elements = new Expression[inputs];
            for (int i = 0; i < inputs; i++)
            {
                elements[i] = Expression.ArrayIndex(x, Expression.Constant(i));
                pool.Add(new Node(elements[i], $"x[{i}]"));
            }

            double Constant() => Math.Round(rng.NextDouble() * 4 - 2, 2) is var c && c != 0 ? c : 0.5;
            Expression One() => Expression.Constant(1.0);
            Expression Square(Expression e) => Expression.Multiply(e, e);
            Expression OnePlusSquare(Expression e) => Expression.Add(One(), Square(e));

            // An operand: any earlier node, recent ones more likely (deeper DAGs). Input elements are
            // sometimes re-read through a fresh x[i] node, which the frontend must merge with the old one.
            Node Pick()
            {
                int k = pool.Count - 1 - (int)(pool.Count * Math.Pow(rng.NextDouble(), 2));
                var node = pool[Math.Clamp(k, 0, pool.Count - 1)];
                node.Uses++;
                if (node.Expression.NodeType == ExpressionType.ArrayIndex && rng.Next(3) == 0)
                {
                    int i = (int)((ConstantExpression)((BinaryExpression)node.Expression).Right).Value!;
                    return new Node(Expression.ArrayIndex(x, Expression.Constant(i)), node.Name);
                }
                return node;
            }

            static (Expression, string) N(Expression e, string text) => (e, text);

            int operations = rng.Next(3, 16);
            for (int step = 0; step < operations; step++)
            {
                Expression e;
                string text;
                int kind = rng.Next(27);
                if (kind <= 2)
                {
                    var (a, b) = (Pick(), Pick());
                    (e, text) = kind switch
                    {
                        0 => N(Expression.Add(a.Expression, b.Expression), $"{a.Name} + {b.Name}"),
                        1 => N(Expression.Subtract(a.Expression, b.Expression), $"{a.Name} - {b.Name}"),
                        _ => N(Expression.Multiply(a.Expression, b.Expression), $"{a.Name} * {b.Name}"),
                    };
                }
                else if (kind <= 16)
                {
                    var a = Pick();
                    double power = rng.Next(2, 4), factor = Constant();
                    (e, text) = kind switch
                    {
                        3 => N(Expression.Call(Sin, a.Expression), $"sin({a.Name})"),
                        4 => N(Expression.Call(Cos, a.Expression), $"cos({a.Name})"),
                        5 => N(Expression.Call(Tanh, a.Expression), $"tanh({a.Name})"),
                        6 => N(Expression.Call(Atan, a.Expression), $"atan({a.Name})"),
                        7 => N(Expression.Call(Asinh, a.Expression), $"asinh({a.Name})"),
                        8 => N(Expression.Call(Exp, Expression.Call(Sin, a.Expression)), $"exp(sin({a.Name}))"),
                        9 => N(Expression.Call(Log, OnePlusSquare(a.Expression)), $"log(1 + {a.Name}*{a.Name})"),
                        10 => N(Expression.Call(Sqrt, OnePlusSquare(a.Expression)), $"sqrt(1 + {a.Name}*{a.Name})"),
                        11 => N(Expression.Call(Cbrt, OnePlusSquare(a.Expression)), $"cbrt(1 + {a.Name}*{a.Name})"),
                        12 => N(Expression.Negate(a.Expression), $"-{a.Name}"),
                        13 => N(Expression.Call(Sinh, Expression.Call(Tanh, a.Expression)), $"sinh(tanh({a.Name}))"),
                        14 => N(Expression.Call(Pow, a.Expression, Expression.Constant(power)), $"pow({a.Name}, {power})"),
                        15 => N(Expression.Call(Abs, a.Expression), $"abs({a.Name})"),
                        _ => N(Expression.Multiply(a.Expression, Expression.Constant(factor)), $"{a.Name} * {factor}"),
                    };
                }
                else if (kind <= 23)
                {
                    var (a, b) = (Pick(), Pick());
                    (e, text) = kind switch
                    {
                        17 => N(Expression.Divide(a.Expression, OnePlusSquare(b.Expression)), $"{a.Name} / (1 + {b.Name}*{b.Name})"),
                        18 => N(Expression.Call(Pow, OnePlusSquare(a.Expression), Expression.Call(Sin, b.Expression)), $"pow(1 + {a.Name}*{a.Name}, sin({b.Name}))"),
                        19 => N(Expression.Call(Atan2, a.Expression, OnePlusSquare(b.Expression)), $"atan2({a.Name}, 1 + {b.Name}*{b.Name})"),
                        20 => N(Expression.Call(LogBase, OnePlusSquare(a.Expression), Expression.Add(Expression.Constant(2.0), Square(b.Expression))),
                            $"log(1 + {a.Name}*{a.Name}, 2 + {b.Name}*{b.Name})"),
                        21 => N(Expression.Call(Max, a.Expression, b.Expression), $"max({a.Name}, {b.Name})"),
                        22 => N(Expression.Call(Min, a.Expression, b.Expression), $"min({a.Name}, {b.Name})"),
                        _ => N(Expression.Call(Sqrt, Expression.Add(OnePlusSquare(a.Expression), Square(b.Expression))),
                            $"sqrt(1 + {a.Name}*{a.Name} + {b.Name}*{b.Name})"),
                    };
                }
                else if (kind == 24)
                {
                    var (a, b, c) = (Pick(), Pick(), Pick());
                    (e, text) = rng.Next(2) == 0
                        ? (Expression.Call(Fma, a.Expression, b.Expression, c.Expression), $"fma({a.Name}, {b.Name}, {c.Name})")
                        : (Expression.Call(Clamp, a.Expression, b.Expression, Expression.Add(b.Expression, OnePlusSquare(c.Expression))),
                            $"clamp({a.Name}, {b.Name}, {b.Name} + 1 + {c.Name}*{c.Name})");
                }
                else if (kind == 25)
                {
                    // A conditional: comparisons, combined with && / || / ! or against a constant.
                    var (a, b, t, f) = (Pick(), Pick(), Pick(), Pick());
                    double threshold = Constant();
                    (Expression test, string testText) = rng.Next(5) switch
                    {
                        0 => N(Expression.GreaterThan(a.Expression, b.Expression), $"{a.Name} > {b.Name}"),
                        1 => N(Expression.LessThanOrEqual(a.Expression, Expression.Constant(threshold)), $"{a.Name} <= {threshold}"),
                        2 => N(Expression.AndAlso(Expression.LessThan(a.Expression, b.Expression), Expression.GreaterThan(b.Expression, Expression.Constant(threshold))),
                            $"{a.Name} < {b.Name} && {b.Name} > {threshold}"),
                        3 => N(Expression.OrElse(Expression.GreaterThanOrEqual(a.Expression, Expression.Constant(threshold)), Expression.LessThan(b.Expression, a.Expression)),
                            $"{a.Name} >= {threshold} || {b.Name} < {a.Name}"),
                        _ => N(Expression.Not(Expression.GreaterThan(a.Expression, b.Expression)), $"!({a.Name} > {b.Name})"),
                    };
                    e = Expression.Condition(test, t.Expression, f.Expression);
                    text = $"{testText} ? {t.Name} : {f.Name}";
                    dag.Conditionals++;
                }
                else
                {
                    // A structurally equal copy of an existing operation node: a fresh Expression object,
                    // the same operands. Hash-consing must turn it into the same value.
                    var candidates = pool.Where(n => n.Expression is BinaryExpression { NodeType: not ExpressionType.ArrayIndex } or MethodCallExpression).ToList();
                    if (candidates.Count == 0) { step--; continue; }
                    var original = candidates[rng.Next(candidates.Count)];
                    original.Uses++;
                    e = original.Expression switch
                    {
                        BinaryExpression bin => Expression.MakeBinary(bin.NodeType, bin.Left, bin.Right),
                        MethodCallExpression call => Expression.Call(call.Method, call.Arguments),
                        _ => throw new InvalidOperationException(),
                    };
                    text = $"copy of {original.Name}";
                }
                var node = new Node(e, "n" + pool.Count);
                dag._lines.Add($"{node.Name} = {text}");
                pool.Add(node);
            }

            // The result: the last node plus every other node no one uses, so that the whole DAG is live.
            var sinks = pool.Skip(inputs).Where(n => n.Uses == 0).ToList();
            var body = sinks.Select(n => n.Expression).Aggregate(Expression.Add);
            dag._lines.Add("return " + string.Join(" + ", sinks.Select(n => n.Name)));
            dag.SharedNodes = pool.Count(n => n.Uses > 1);
            dag.Lambda = Expression.Lambda<Func<double[], double>>(body, x);
            return dag;
        }
    }
}
