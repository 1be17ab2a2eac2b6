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
/// <see cref="SingleIterationLoops"/> (a one-element array as a <c>let</c>) and <see cref="CrossLoopSharing"/> (costly
/// elementwise values that several loops over one range recompute, computed once in a map): same values bit for bit,
/// gradients against hand-written ones and finite differences, and the work they save counted in the lowered code.
/// </summary>
[TestFixture]
public class CrossLoopSharingTests
{
    /// <summary>The Moré–Garbow–Hillstrom trigonometric function: Σ cos x_j bound to c by a one-element array.</summary>
    private static readonly Expression<Func<double[], double>> Trigonometric = x =>
        new[] { Enumerable.Range(0, x.Length).Sum(j => Math.Cos(x[j])) }.Sum(c =>
            Enumerable.Range(0, x.Length).Sum(i => Math.Pow(x.Length - c + (i + 1) * (1 - Math.Cos(x[i])) - Math.Sin(x[i]), 2)));

    private static double[] Point(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => random.NextDouble() * 4 - 2).ToArray();
    }

    /// <summary>The gradient pipeline of <paramref name="f"/> up to the sharing pass: its source trace, and the trace after reverse mode and loop fusion.</summary>
    private static (Trace Source, Trace Fused) SourceAndFused(Expression<Func<double[], double>> f)
    {
        var source = SingleIterationLoops.Apply(ExpressionTranslator.Translate(f, [ParameterRole.Array], StructuralKey.Of(f, "test").Constants));
        return (source, DeadCodeElimination.Apply(LoopFusion.Apply(DeadCodeElimination.Apply(ReverseMode.Apply(source, (b, _) => b.Constant(1.0))))));
    }

    private static int TrigonometricCalls(Expression tree) =>
        LoweredKernels.Calls(tree, m => m.DeclaringType == typeof(Math) && m.Name is nameof(Math.Sin) or nameof(Math.Cos) or nameof(Math.SinCos)
            || m.DeclaringType == typeof(ExactMath) && m.Name.Contains("And"));

    [Test]
    public void TheTrigonometricGradientComputesEachSineAndCosineOnce()
    {
        // Without sharing: cos in the primal sum, sin and cos in the fused primal-adjoint loop, sin in the first sum's adjoint.
        // With it: one map computes both (one call where sine and cosine come from one call, two elsewhere).
        int expected = ExactMath.Available ? 1 : 2;
        Assert.That(TrigonometricCalls(LoweredKernels.Gradient(Trigonometric)), Is.EqualTo(expected));

        foreach (int n in new[] { 0, 1, 2, 7, 40 })
        {
            var x = Point(n, n);
            var gradient = new double[n];
            double value = AD.Gradient(Trigonometric)(x, gradient);
            Assert.That(value, Is.EqualTo(Trigonometric.Compile()(x)).Within(0).Ulps);
            // Hand-written: r_i = n - Σ cos x_j + (i + 1)(1 - cos x_i) - sin x_i, ∂f/∂x_k = 2 r_k ((k + 1) sin x_k - cos x_k) + 2 (Σ r) sin x_k.
            double sumCos = x.Sum(Math.Cos);
            var r = Enumerable.Range(0, n).Select(i => n - sumCos + (i + 1) * (1 - Math.Cos(x[i])) - Math.Sin(x[i])).ToArray();
            for (int k = 0; k < n; k++)
            {
                double g = 2 * r[k] * ((k + 1) * Math.Sin(x[k]) - Math.Cos(x[k])) + 2 * r.Sum() * Math.Sin(x[k]);
                Assert.That(gradient[k], Is.EqualTo(g).Within(1e-10 * (1 + Math.Abs(g))), $"n = {n}, k = {k}");
            }
        }
    }

    [Test]
    public void SharingKeepsEveryBitOfTheGradient()
    {
        // The gradient lowered from the trace before and after the pass: the same operations on the same operands.
        foreach (var f in new[] { Trigonometric, ValueNeededBetweenLoops })
        {
            var (source, fused) = SourceAndFused(f);
            var inputs = source.Inputs().Select(v => source[v]).ToArray();
            var shared = DeadCodeElimination.Apply(CrossLoopSharing.Apply(fused));
            Assert.That(shared.Instructions.Count(i => i.Op == Op.Map), Is.GreaterThan(fused.Instructions.Count(i => i.Op == Op.Map)), f.ToString());
            GradientKernel Compile(Trace trace) => TraceLowering.Lower<GradientKernel>(trace, LoweringPlans.Gradient(trace, inputs) with { Options = ADOptions.Default },
                chunk => KernelCompiler.Compile(chunk).Kernel).Compile();
            var (before, after) = (Compile(fused), Compile(shared));
            var constants = StructuralKey.Of(f, "test").Constants.ToArray();
            foreach (int n in new[] { 0, 3, 64 })
            {
                var x = Point(n, 100 + n);
                double[] g1 = new double[n], g2 = new double[n];
                Assert.That(BitConverter.DoubleToInt64Bits(after(constants, x, g2)), Is.EqualTo(BitConverter.DoubleToInt64Bits(before(constants, x, g1))));
                Assert.That(g2.Select(BitConverter.DoubleToInt64Bits), Is.EqualTo(g1.Select(BitConverter.DoubleToInt64Bits)));
            }
        }
    }

    /// <summary>exp(x_i + m) needs m = Σ x_j / n, known only after the first loop: its map goes before the second one.</summary>
    private static readonly Expression<Func<double[], double>> ValueNeededBetweenLoops = x =>
        new[] { Enumerable.Range(0, x.Length).Sum(j => x[j]) / x.Length }.Sum(m =>
            Math.Log(Enumerable.Range(0, x.Length).Sum(i => Math.Exp(x[i] - m))) + Enumerable.Range(0, x.Length).Sum(i => Math.Exp(x[i] - m) * x[i]));

    [Test]
    public void AValueOfLaterOperandsIsComputedWhereTheyAreReady()
    {
        var tree = LoweredKernels.Gradient(ValueNeededBetweenLoops);
        Assert.That(LoweredKernels.Calls(tree, m => m.DeclaringType == typeof(Math) && m.Name == nameof(Math.Exp)), Is.EqualTo(1));
        var f = ValueNeededBetweenLoops.Compile();
        foreach (int n in new[] { 1, 2, 9 })
        {
            var x = Point(n, 7 * n);
            var gradient = new double[n];
            Assert.That(AD.Gradient(ValueNeededBetweenLoops)(x, gradient), Is.EqualTo(f(x)).Within(0).Ulps);
            for (int k = 0; k < n; k++)
            {
                const double h = 1e-6;
                var (up, down) = ((double[])x.Clone(), (double[])x.Clone());
                up[k] += h; down[k] -= h;
                Assert.That(gradient[k], Is.EqualTo((f(up) - f(down)) / (2 * h)).Within(1e-6 * (1 + Math.Abs(gradient[k]))), $"n = {n}, k = {k}");
            }
        }
    }

    [Test]
    public void LoopsInsideASharingLoopShareToo()
    {
        // Three loops over r share exp(x[r]); the second one's body holds the trigonometric pattern over j, whose loops
        // share sin and cos of x[j] (r + 1) among themselves.
        Expression<Func<double[], double>> f = x => new[] { Enumerable.Range(0, x.Length).Sum(r => Math.Exp(x[r])) }.Sum(s =>
            Enumerable.Range(0, x.Length).Sum(r => Math.Exp(x[r]) * s
                + new[] { Enumerable.Range(0, x.Length).Sum(j => Math.Cos(x[j] * (r + 1))) }.Sum(c =>
                    Enumerable.Range(0, x.Length).Sum(j => Math.Pow(c - Math.Sin(x[j] * (r + 1)), 2)))));
        var tree = LoweredKernels.Gradient(f);
        Assert.That(LoweredKernels.Calls(tree, m => m.DeclaringType == typeof(Math) && m.Name == nameof(Math.Exp)), Is.EqualTo(1));
        Assert.That(TrigonometricCalls(tree), Is.EqualTo(ExactMath.Available ? 1 : 2));
        var g = f.Compile();
        foreach (int n in new[] { 1, 4 })
        {
            var x = Point(n, 30 + n).Select(v => v / 4).ToArray();
            var gradient = new double[n];
            Assert.That(AD.Gradient(f)(x, gradient), Is.EqualTo(g(x)).Within(0).Ulps);
            for (int k = 0; k < n; k++)
            {
                const double h = 1e-6;
                var (up, down) = ((double[])x.Clone(), (double[])x.Clone());
                up[k] += h; down[k] -= h;
                Assert.That(gradient[k], Is.EqualTo((g(up) - g(down)) / (2 * h)).Within(1e-6 * (1 + Math.Abs(gradient[k]))), $"n = {n}, k = {k}");
            }
        }
    }

    [Test]
    public void AValueAMapStoresIsReadFromItsArray()
    {
        // A map of exponentials, read at computed indices (so no loop can take it in): its adjoint loop recomputed e^x_i
        // and now reads the map's array instead, without a map added.
        Expression<Func<double[], double[]>> exponentials = x => x.Select(v => Math.Exp(v)).ToArray();
        Expression<Func<double[], double[], double>> use = (x, e) => Enumerable.Range(0, x.Length).Sum(j => e[(3 * j) % x.Length] * (j + 1.0) + x[j] * x[j]);
        var w = Expression.Parameter(typeof(double[]), "x");
        var f = Expression.Lambda<Func<double[], double>>(Expression.Invoke(use, w, Expression.Invoke(exponentials, w)), w);
        var tree = LoweredKernels.Gradient(f);
        Assert.That(LoweredKernels.Calls(tree, m => m.DeclaringType == typeof(Math) && m.Name == nameof(Math.Exp)), Is.EqualTo(1));
        var (_, fused) = SourceAndFused(f);
        Assert.That(CrossLoopSharing.Apply(fused).Instructions.Count(i => i.Op == Op.Map), Is.EqualTo(fused.Instructions.Count(i => i.Op == Op.Map)),
            "no map added");
        var x = Point(11, 5);
        var gradient = new double[x.Length];
        Assert.That(AD.Gradient(f)(x, gradient), Is.EqualTo(f.Compile()(x)).Within(0).Ulps);
        var expected = x.Select(v => 2 * v).ToArray();
        for (int j = 0; j < x.Length; j++) expected[3 * j % x.Length] += Math.Exp(x[3 * j % x.Length]) * (j + 1.0);
        for (int i = 0; i < x.Length; i++)
            Assert.That(gradient[i], Is.EqualTo(expected[i]).Within(1e-13 * (1 + Math.Abs(expected[i]))), $"x[{i}]");
    }

    [Test]
    public void ValuesInsideABranchOrOverDataStayInTheirLoops()
    {
        // exp(d[i] x[i]) reads data and sits behind a condition in one loop: computed where C# computes it, so twice here.
        Expression<Func<double[], double[], double>> f = (x, d) =>
            Enumerable.Range(0, x.Length).Sum(i => Math.Exp(d[i] * x[i])) * Enumerable.Range(0, x.Length).Sum(i => x[i] > 0 ? Math.Exp(d[i] * x[i]) : 0.0);
        var g = AD.Gradient(f);
        var x = new[] { 0.5, -0.25, 1.0 };
        var d = new[] { 1.0, 2.0, -1.0 };
        var gradient = new double[3];
        Assert.That(g(x, d, gradient), Is.EqualTo(f.Compile()(x, d)).Within(0).Ulps);
        Assert.Throws<IndexOutOfRangeException>(() => g(x, [1.0, 2.0], gradient), "d shorter than x: C#'s exception, from the first loop");
    }

    [Test]
    public void AOneElementArrayBindsAValueWithItsBits()
    {
        // A sum of one term t is 0.0 + t: -0.0 becomes +0.0, as in C#; Average starts from the term itself.
        Expression<Func<double[], double>> sum = x => new[] { -0.0 * x[0] }.Sum(c => c);
        Expression<Func<double[], double>> average = x => new[] { -0.0 * x[0] }.Average(c => c);
        Expression<Func<double[], double>> nested = x => new[] { x[0] * x[1] }.Sum(p => new[] { Math.Sin(p) }.Sum(s => s * s + p));
        foreach (var f in new[] { sum, average, nested })
        {
            var x = new[] { 1.5, -2.0 };
            var gradient = new double[2];
            Assert.That(BitConverter.DoubleToInt64Bits(AD.Gradient(f)(x, gradient)), Is.EqualTo(BitConverter.DoubleToInt64Bits(f.Compile()(x))), f.ToString());
            var source = SingleIterationLoops.Apply(ExpressionTranslator.Translate(f, [ParameterRole.Array], StructuralKey.Of(f, "test").Constants));
            Assert.That(source.Instructions.Count(i => i.Op == Op.Sum), Is.Zero, "every single-iteration sum written out");
        }
        var g = new double[2];
        AD.Gradient(nested)([1.5, -2.0], g);
        double p = 1.5 * -2.0, dp = 2 * Math.Sin(p) * Math.Cos(p) + 1;
        Assert.That(g, Is.EqualTo(new[] { dp * -2.0, dp * 1.5 }).Within(1e-14));
    }
}
