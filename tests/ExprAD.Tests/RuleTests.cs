using System.Collections.Immutable;
using System.Linq.Expressions;
using ExprAD.Caching;
using ExprAD.Frontend;
using ExprAD.IR;
using ExprAD.Rules;
using ExprAD.Tests.Oracles;
using ExprAD.Transforms;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// One row per primitive of the rule table: the lambda as C# writes it, the same function as a
/// plain delegate (the reference value, never compiled by ExprAD), and points inside its domain
/// away from kinks and jumps. Every row is checked in both modes against Richardson finite
/// differences, which know nothing of ExprAD's rules; a wrong partial in the rule table shows up
/// as a disagreement of order one, far above the oracle's ~1e-10 error.
/// </summary>
/// <remarks>
/// The conventions at non-smooth points (Abs'(0), ties of Max and Min, steps, Clamp at its
/// bounds) and the zero derivative through an untaken branch cannot be checked by finite
/// differences; they have their own explicit tests at the end of this file.
/// </remarks>
[TestFixture]
public sealed class RuleTests
{
    /// <summary>A row of the table. <see cref="Arity"/> is the number of array elements the lambda reads.</summary>
    public sealed record Row(string Name, Expression<Func<double[], double>> Lambda, Func<double[], double> Plain, double[][] Points)
    {
        public int Arity => Points[0].Length;
        public override string ToString() => Name;
    }

    private static double[] P(params double[] x) => x;

    private static readonly double[] Table = [2, 3, 5];
    private static readonly double[][] Jagged = [[1], [1, 2, 3, 4], [7, 8, 9]];
    private static readonly List<(double Y, double[] X)> Objects = [(2, [1]), (-1.5, [1, 2, 3, 4]), (0.5, [7, 8, 9])];

    private static Row R(string name, Expression<Func<double[], double>> lambda, Func<double[], double> plain, params double[][] points) =>
        new(name, lambda, plain, points);

    /// <summary>
    /// The table. Points keep [x - 2e-3·max(1,|x|), x + 2e-3·max(1,|x|)] (the finite-difference stencil)
    /// inside the domain and away from kinks, jumps and ties.
    /// </summary>
    public static readonly Row[] Rows =
    [
        // Arithmetic operators.
        R("negate", x => -x[0], x => -x[0], P(1.5), P(-0.3), P(0)),
        R("unary plus", x => +x[0], x => +x[0], P(1.5), P(-0.3)),
        R("add", x => x[0] + x[1], x => x[0] + x[1], P(1.5, -2.25), P(0.1, 3)),
        R("subtract", x => x[0] - x[1], x => x[0] - x[1], P(1.5, -2.25), P(0.1, 3)),
        R("multiply", x => x[0] * x[1], x => x[0] * x[1], P(1.5, -2.25), P(0.1, 3), P(0, 4)),
        R("multiply by itself", x => x[0] * x[0], x => x[0] * x[0], P(1.5), P(-0.7)),
        R("divide", x => x[0] / x[1], x => x[0] / x[1], P(1.5, -2.25), P(-0.7, 0.4), P(3, 7)),
        // a % b = a - b·trunc(a/b): partials (1, -trunc(a/b)) away from multiples of b.
        R("remainder", x => x[0] % x[1], x => x[0] % x[1], P(5.3, 2.1), P(-5.3, 2.1), P(7.7, -3.2), P(0.5, 3)),
        R("constant pi", x => Math.PI * x[0], x => Math.PI * x[0], P(0.3), P(-2)),
        R("constant e", x => Math.Pow(Math.E, x[0]), x => Math.Pow(Math.E, x[0]), P(0.3), P(-2)),

        // Conversions: Math.Sign returns int (int -> double is inserted), (int) truncates.
        R("sign", x => Math.Sign(x[0]), x => Math.Sign(x[0]), P(1.5), P(-0.3)),
        R("sign times x", x => Math.Sign(x[0]) * x[0], x => Math.Sign(x[0]) * x[0], P(1.5), P(-0.3)),

        // Data arrays at computed indices (element, row of a jagged array, its length): no derivative of their own.
        R("data element and row length", x => Table[(int)Math.Floor(x[1])] * x[0] + Jagged[(int)Math.Floor(x[1])].Length * x[1],
            x => Table[(int)Math.Floor(x[1])] * x[0] + Jagged[(int)Math.Floor(x[1])].Length * x[1], P(1.5, 0.5), P(-0.7, 2.5)),
        // Reads of objects: an element of a list at a computed index (a struct's members read in place), and a loop over the list (its count).
        R("object element and list count", x => Objects[(int)Math.Floor(x[1])].Y * x[0] + Objects[(int)Math.Floor(x[1])].X.Length * x[1] + Objects.Sum(o => o.Y * x[0]),
            x => Objects[(int)Math.Floor(x[1])].Y * x[0] + Objects[(int)Math.Floor(x[1])].X.Length * x[1] + Objects.Sum(o => o.Y * x[0]), P(1.5, 0.5), P(-0.7, 2.5)),
        // Checks LINQ makes: Enumerable.Range's count (a run-time count is checked when the loop runs) and Average's division by a non-zero count.
        R("range count", x => Enumerable.Range(1, 2 + (int)Math.Abs(x[0])).Sum(i => x[0] * i),
            x => Enumerable.Range(1, 2 + (int)Math.Abs(x[0])).Sum(i => x[0] * i), P(1.5), P(-0.3)),
        R("average count", x => new[] { x[0], x[0] * x[0] }.Where(v => v > 0).Average(),
            x => new[] { x[0], x[0] * x[0] }.Where(v => v > 0).Average(), P(1.5), P(-0.3)),
        R("int cast", x => (int)(x[0] * 10) * x[0], x => (int)(x[0] * 10) * x[0], P(0.537), P(-1.234)),

        // Trigonometric functions.
        R("sin", x => Math.Sin(x[0]), x => Math.Sin(x[0]), P(0.3), P(-1.2), P(2.5), P(10)),
        R("cos", x => Math.Cos(x[0]), x => Math.Cos(x[0]), P(0.3), P(-1.2), P(2.5), P(10)),
        R("tan", x => Math.Tan(x[0]), x => Math.Tan(x[0]), P(0.3), P(-1.2), P(1.3), P(4)),
        R("asin", x => Math.Asin(x[0]), x => Math.Asin(x[0]), P(-0.9), P(0), P(0.5), P(0.95)),
        R("acos", x => Math.Acos(x[0]), x => Math.Acos(x[0]), P(-0.9), P(0), P(0.5), P(0.95)),
        R("atan", x => Math.Atan(x[0]), x => Math.Atan(x[0]), P(-3), P(0), P(0.7), P(20)),
        // atan2(y, x): all four quadrants and the positive y axis (x = 0), away from the cut y = 0, x < 0.
        R("atan2", x => Math.Atan2(x[0], x[1]), x => Math.Atan2(x[0], x[1]),
            P(1, 2), P(-1, 2), P(1, -2), P(-1, -2), P(2, 0)),

        // Hyperbolic functions.
        R("sinh", x => Math.Sinh(x[0]), x => Math.Sinh(x[0]), P(-2), P(0), P(1.5)),
        R("cosh", x => Math.Cosh(x[0]), x => Math.Cosh(x[0]), P(-2), P(0), P(1.5)),
        R("tanh", x => Math.Tanh(x[0]), x => Math.Tanh(x[0]), P(-2), P(0), P(0.5), P(3)),
        R("asinh", x => Math.Asinh(x[0]), x => Math.Asinh(x[0]), P(-3), P(0), P(0.5), P(1e3)),
        R("acosh", x => Math.Acosh(x[0]), x => Math.Acosh(x[0]), P(1.5), P(2), P(10), P(1e3)),
        R("atanh", x => Math.Atanh(x[0]), x => Math.Atanh(x[0]), P(-0.9), P(0), P(0.5)),

        // Exponentials and logarithms.
        R("exp", x => Math.Exp(x[0]), x => Math.Exp(x[0]), P(-3), P(0), P(1.5), P(5)),
        R("log", x => Math.Log(x[0]), x => Math.Log(x[0]), P(0.1), P(1), P(2.5), P(100)),
        R("log with base", x => Math.Log(x[0], x[1]), x => Math.Log(x[0], x[1]), P(2.5, 3), P(0.5, 10), P(7, 0.5)),
        R("log10", x => Math.Log10(x[0]), x => Math.Log10(x[0]), P(0.1), P(1), P(2.5), P(100)),
        R("log2", x => Math.Log2(x[0]), x => Math.Log2(x[0]), P(0.1), P(1), P(2.5), P(100)),
        R("sqrt", x => Math.Sqrt(x[0]), x => Math.Sqrt(x[0]), P(0.1), P(1), P(2.5), P(100)),
        R("cbrt", x => Math.Cbrt(x[0]), x => Math.Cbrt(x[0]), P(-8), P(-0.5), P(0.3), P(27)),
        R("pow", x => Math.Pow(x[0], x[1]), x => Math.Pow(x[0], x[1]), P(1.5, 2.5), P(0.5, -1.5), P(3, 0.5)),
        // A constant exponent: the base may be negative (d/dq = y ln p would be NaN, but q is not active).
        R("pow constant exponent", x => Math.Pow(x[0], 3.0), x => Math.Pow(x[0], 3.0), P(-1.5), P(0.5), P(2)),
        R("pow constant base", x => Math.Pow(2.0, x[0]), x => Math.Pow(2.0, x[0]), P(-1), P(0.5), P(3)),
        // Small integer exponents (2 to 8) differentiate by multiplications, others by Math.Pow.
        R("pow integer exponents", x => Math.Pow(x[0], 2.0) + Math.Pow(x[1], 8.0) + Math.Pow(x[0], 9.0) + Math.Pow(x[1], 2.5),
            x => Math.Pow(x[0], 2.0) + Math.Pow(x[1], 8.0) + Math.Pow(x[0], 9.0) + Math.Pow(x[1], 2.5), P(-1.1, 0.9), P(0.5, 1.3)),

        // Piecewise functions, away from their kinks and ties.
        R("abs", x => Math.Abs(x[0]), x => Math.Abs(x[0]), P(-1.5), P(0.7)),
        R("max", x => Math.Max(x[0], x[1]), x => Math.Max(x[0], x[1]), P(1, 2), P(2, 1), P(-1, -3)),
        R("min", x => Math.Min(x[0], x[1]), x => Math.Min(x[0], x[1]), P(1, 2), P(2, 1), P(-1, -3)),
        R("clamp", x => Math.Clamp(x[0], x[1], x[2]), x => Math.Clamp(x[0], x[1], x[2]),
            P(0.5, 0, 1), P(-0.5, 0, 1), P(1.5, 0, 1), P(0.3, -1, 2)),
        R("fused multiply-add", x => Math.FusedMultiplyAdd(x[0], x[1], x[2]), x => Math.FusedMultiplyAdd(x[0], x[1], x[2]),
            P(1.5, -2, 0.25), P(0.1, 3, -7)),
        R("floor", x => Math.Floor(x[0]) + x[0], x => Math.Floor(x[0]) + x[0], P(1.3), P(-2.7)),
        R("ceiling", x => Math.Ceiling(x[0]) + x[0], x => Math.Ceiling(x[0]) + x[0], P(1.3), P(-2.7)),
        R("round", x => Math.Round(x[0]) + x[0], x => Math.Round(x[0]) + x[0], P(1.3), P(2.7), P(-0.2)),
        R("truncate", x => Math.Truncate(x[0]) + x[0], x => Math.Truncate(x[0]) + x[0], P(1.3), P(-2.7)),

        // Comparisons and logic select a branch; the derivative is that of the branch taken.
        R("less than", x => x[0] < x[1] ? x[0] * x[1] : x[0] - x[1], x => x[0] < x[1] ? x[0] * x[1] : x[0] - x[1], P(1, 2), P(2, 1)),
        R("less or equal", x => x[0] <= x[1] ? x[0] * x[1] : x[0] - x[1], x => x[0] <= x[1] ? x[0] * x[1] : x[0] - x[1], P(1, 2), P(2, 1)),
        R("greater than", x => x[0] > x[1] ? x[0] * x[1] : x[0] - x[1], x => x[0] > x[1] ? x[0] * x[1] : x[0] - x[1], P(1, 2), P(2, 1)),
        R("greater or equal", x => x[0] >= x[1] ? x[0] * x[1] : x[0] - x[1], x => x[0] >= x[1] ? x[0] * x[1] : x[0] - x[1], P(1, 2), P(2, 1)),
        R("equal", x => x[0] == 1.0 ? 0.0 : x[0] * x[1], x => x[0] == 1.0 ? 0.0 : x[0] * x[1], P(2, 3), P(-1, 0.5)),
        R("not equal", x => x[0] != 1.0 ? x[0] * x[1] : 0.0, x => x[0] != 1.0 ? x[0] * x[1] : 0.0, P(2, 3), P(-1, 0.5)),
        R("and", x => x[0] > 0 && x[1] > 0 ? x[0] * x[1] : x[0] + x[1], x => x[0] > 0 && x[1] > 0 ? x[0] * x[1] : x[0] + x[1],
            P(1, 2), P(1, -2), P(-1, 2)),
        R("or", x => x[0] > 0 || x[1] > 0 ? x[0] * x[1] : x[0] + x[1], x => x[0] > 0 || x[1] > 0 ? x[0] * x[1] : x[0] + x[1],
            P(1, -2), P(-1, -2), P(-1, 2)),
        R("not", x => !(x[0] > x[1]) ? Math.Sin(x[0]) : x[1] * x[1], x => !(x[0] > x[1]) ? Math.Sin(x[0]) : x[1] * x[1], P(1, 2), P(2, 1)),
    ];

    private static IEnumerable<TestCaseData> Cases() => Rows.Select(r => new TestCaseData(r).SetArgDisplayNames(r.Name));

    private static string At(double[] x) => "(" + string.Join(", ", x.Select(v => v.ToString("R"))) + ")";

    private static double[] Unit(int n, int i)
    {
        var e = new double[n];
        e[i] = 1;
        return e;
    }

    /// <summary>
    /// The compiled value must be bit-for-bit the value of the plain C# function: codegen calls the
    /// same Math methods in the same order, and the builder only applies exact identities.
    /// </summary>
    [TestCaseSource(nameof(Cases))]
    public void Value_EqualsPlainCSharp(Row row)
    {
        var gradient = AD.Gradient(row.Lambda);
        var jvp = AD.Jvp(row.Lambda);
        using (Assert.EnterMultipleScope())
        {
            foreach (var x in row.Points)
            {
                double expected = row.Plain(x);
                Assert.That(gradient(x, new double[x.Length]), Is.EqualTo(expected), $"{row.Name}: AD.Gradient value at {At(x)}");
                Assert.That(jvp(x, Unit(x.Length, 0), out _), Is.EqualTo(expected), $"{row.Name}: AD.Jvp value at {At(x)}");
            }
        }
    }

    /// <summary>Reverse mode (AD.Gradient) against the finite-difference oracle, every partial at every point.</summary>
    [TestCaseSource(nameof(Cases))]
    public void Reverse_MatchesFiniteDifferences(Row row)
    {
        var gradient = AD.Gradient(row.Lambda);
        using (Assert.EnterMultipleScope())
        {
            foreach (var x in row.Points)
            {
                var g = new double[x.Length];
                gradient(x, g);
                for (int i = 0; i < x.Length; i++)
                {
                    var fd = FiniteDifferences.Partial(row.Plain, x, i);
                    Assert.That(g[i], Is.EqualTo(fd.Value).Within(FiniteDifferences.Tolerance(fd)),
                        $"{row.Name}: reverse ∂f/∂x[{i}] at {At(x)}; finite differences give {fd}");
                }
            }
        }
    }

    /// <summary>
    /// Forward mode (AD.Jvp) against the oracle: along each unit direction (one partial each), and
    /// along a dense direction, where the result must be the dot product of the partials.
    /// </summary>
    [TestCaseSource(nameof(Cases))]
    public void Forward_MatchesFiniteDifferences(Row row)
    {
        var jvp = AD.Jvp(row.Lambda);
        using (Assert.EnterMultipleScope())
        {
            foreach (var x in row.Points)
            {
                var fd = FiniteDifferences.Gradient(row.Plain, x);
                for (int i = 0; i < x.Length; i++)
                {
                    jvp(x, Unit(x.Length, i), out double d);
                    Assert.That(d, Is.EqualTo(fd[i].Value).Within(FiniteDifferences.Tolerance(fd[i])),
                        $"{row.Name}: forward ∂f/∂x[{i}] at {At(x)}; finite differences give {fd[i]}");
                }
                var v = Enumerable.Range(0, x.Length).Select(i => 0.5 - 0.75 * i).ToArray();
                jvp(x, v, out double dv);
                double expected = 0, tolerance = 0;
                for (int i = 0; i < x.Length; i++)
                {
                    expected += fd[i].Value * v[i];
                    tolerance += FiniteDifferences.Tolerance(fd[i]) * Math.Abs(v[i]);
                }
                Assert.That(dv, Is.EqualTo(expected).Within(tolerance + 1e-12),
                    $"{row.Name}: forward ∇f·v at {At(x)} with v = {At(v)}");
            }
        }
    }

    /// <summary>
    /// Forward and reverse mode evaluate the same local partials, in a different order at most, so
    /// they agree to a few ulps: much tighter than either agrees with finite differences.
    /// </summary>
    [TestCaseSource(nameof(Cases))]
    public void ForwardAndReverse_Agree(Row row)
    {
        var gradient = AD.Gradient(row.Lambda);
        var jvp = AD.Jvp(row.Lambda);
        using (Assert.EnterMultipleScope())
        {
            foreach (var x in row.Points)
            {
                var g = new double[x.Length];
                gradient(x, g);
                for (int i = 0; i < x.Length; i++)
                {
                    jvp(x, Unit(x.Length, i), out double d);
                    Assert.That(FiniteDifferences.Close(d, g[i], 1e-14, floor: 1e-300), Is.True,
                        $"{row.Name}: at {At(x)} forward gives {d:R}, reverse gives {g[i]:R} for ∂f/∂x[{i}]");
                }
            }
        }
    }

    /// <summary>
    /// The scalar entry points on the same function: AD.Derivative (forward) for one argument, and the
    /// reverse-mode AD.Gradient overloads for one to three scalar arguments.
    /// </summary>
    [TestCaseSource(nameof(Cases))]
    public void ScalarEntryPoints_MatchFiniteDifferences(Row row)
    {
        var scalar = ScalarForm(row.Lambda, row.Arity);
        using (Assert.EnterMultipleScope())
        {
            foreach (var x in row.Points)
            {
                var fd = FiniteDifferences.Gradient(row.Plain, x);
                double value = row.Plain(x);
                double[] partials;
                double computed;
                switch (row.Arity)
                {
                    case 1:
                    {
                        var f = (Expression<Func<double, double>>)scalar;
                        double derivative = AD.Derivative(f)(x[0]);
                        Assert.That(derivative, Is.EqualTo(fd[0].Value).Within(FiniteDifferences.Tolerance(fd[0])),
                            $"{row.Name}: AD.Derivative at {At(x)}; finite differences give {fd[0]}");
                        var r = AD.Gradient(f)(x[0]);
                        (computed, partials) = (r.Value, [r.D1]);
                        break;
                    }
                    case 2:
                    {
                        var r = AD.Gradient((Expression<Func<double, double, double>>)scalar)(x[0], x[1]);
                        (computed, partials) = (r.Value, [r.D1, r.D2]);
                        break;
                    }
                    default:
                    {
                        var r = AD.Gradient((Expression<Func<double, double, double, double>>)scalar)(x[0], x[1], x[2]);
                        (computed, partials) = (r.Value, [r.D1, r.D2, r.D3]);
                        break;
                    }
                }
                Assert.That(computed, Is.EqualTo(value), $"{row.Name}: scalar AD.Gradient value at {At(x)}");
                for (int i = 0; i < x.Length; i++)
                    Assert.That(partials[i], Is.EqualTo(fd[i].Value).Within(FiniteDifferences.Tolerance(fd[i])),
                        $"{row.Name}: scalar AD.Gradient D{i + 1} at {At(x)}; finite differences give {fd[i]}");
            }
        }
    }

    /// <summary>
    /// Every operation of the rule table that a lambda can produce has a row (MaskedMul is only ever
    /// emitted by the reverse transform). Adding an operation without a row fails here.
    /// </summary>
    [Test]
    public void EveryPrimitive_HasARow()
    {
        var covered = new HashSet<Op>();
        foreach (var row in Rows)
        {
            var (_, constants) = StructuralKey.Of(row.Lambda, "rule-coverage");
            var trace = ExpressionTranslator.Translate(row.Lambda, [ParameterRole.Array], constants);
            foreach (var ins in trace.Instructions) covered.Add(ins.Op);
        }
        var missing = RuleTable.All.Select(p => p.Op).Where(op => op != Op.MaskedMul && !covered.Contains(op)).ToList();
        Assert.That(missing, Is.Empty, "operations of the rule table with no row in RuleTests.Rows");
    }

    /// <summary>
    /// The derivative of Math.Pow(p, k) for a constant integer k from 2 to 8 is k p^(k-1) by multiplications: the gradient's
    /// trace calls Math.Pow only for the value (and for other exponents).
    /// </summary>
    [Test]
    public void PowWithASmallIntegerExponentDifferentiatesWithoutCallingPow()
    {
        Expression<Func<double[], double>> lambda = x => Math.Pow(x[0], 4.0) + Math.Pow(x[1], 2.5);
        var (_, constants) = StructuralKey.Of(lambda, "pow-derivative");
        var source = ExpressionTranslator.Translate(lambda, [ParameterRole.Array], constants);
        var gradient = ReverseMode.Apply(source, (b, _) => b.Constant(1.0));
        Assert.That(source.Instructions.Count(i => i.Op == Op.Pow), Is.EqualTo(2));
        Assert.That(gradient.Instructions.Count(i => i.Op == Op.Pow), Is.EqualTo(3), "the two values and x[1]^1.5");
        var g = new double[2];
        AD.Gradient(lambda)([1.5, 2.0], g);
        Assert.That(g[0], Is.EqualTo(4 * 1.5 * 1.5 * 1.5).Within(1e-15 * 13.5));
        Assert.That(g[1], Is.EqualTo(2.5 * Math.Pow(2.0, 1.5)).Within(1e-15 * 7.1));
    }

    /// <summary>Rewrites x => ... x[i] ... into (x0, x1, ...) => ... xi ..., for the scalar entry points.</summary>
    private static LambdaExpression ScalarForm(Expression<Func<double[], double>> lambda, int arity)
    {
        var scalars = Enumerable.Range(0, arity).Select(i => Expression.Parameter(typeof(double), "x" + i)).ToArray();
        var body = new ElementsToScalars(lambda.Parameters[0], scalars).Visit(lambda.Body)!;
        var type = arity switch
        {
            1 => typeof(Func<double, double>),
            2 => typeof(Func<double, double, double>),
            3 => typeof(Func<double, double, double, double>),
            _ => throw new ArgumentOutOfRangeException(nameof(arity)),
        };
        return Expression.Lambda(type, body, scalars);
    }

    private sealed class ElementsToScalars(ParameterExpression array, ParameterExpression[] scalars) : ExpressionVisitor
    {
        protected override Expression VisitBinary(BinaryExpression node) =>
            node.NodeType == ExpressionType.ArrayIndex && node.Left == array && node.Right is ConstantExpression { Value: int i }
                ? scalars[i]
                : base.VisitBinary(node);
    }

    // ---------------------------------------------------------------------------------------------
    // Conventions at non-smooth points. Finite differences are meaningless here; the expected values
    // are the documented conventions. Each is checked in reverse mode (AD.Gradient), in forward mode
    // (AD.Jvp along unit directions) and, for one argument, with AD.Derivative.
    // ---------------------------------------------------------------------------------------------

    /// <summary>The gradient by reverse mode and the partials by forward mode, at x.</summary>
    private static (double[] Reverse, double[] Forward, double ReverseValue, double ForwardValue) BothModes(
        Expression<Func<double[], double>> f, double[] x)
    {
        var g = new double[x.Length];
        double reverseValue = AD.Gradient(f)(x, g);
        var jvp = AD.Jvp(f);
        var forward = new double[x.Length];
        double forwardValue = 0;
        for (int i = 0; i < x.Length; i++) forwardValue = jvp(x, Unit(x.Length, i), out forward[i]);
        return (g, forward, reverseValue, forwardValue);
    }

    private static void AssertGradient(Expression<Func<double[], double>> f, double[] x, double[] expected, string what)
    {
        var (reverse, forward, _, _) = BothModes(f, x);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(reverse, Is.EqualTo(expected), $"{what}: reverse mode at {At(x)}");
            Assert.That(forward, Is.EqualTo(expected), $"{what}: forward mode at {At(x)}");
        }
    }

    [Test]
    public void Abs_HasDerivativeZeroAtZero()
    {
        AssertGradient(x => Math.Abs(x[0]), [0.0], [0.0], "Abs'(0)");
        AssertGradient(x => Math.Abs(x[0]), [-0.0], [0.0], "Abs'(-0)");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(AD.Derivative(x => Math.Abs(x))(0.0), Is.EqualTo(0.0), "AD.Derivative Abs'(0)");
            Assert.That(AD.Gradient((double x) => Math.Abs(x))(0.0).D1, Is.EqualTo(0.0), "scalar AD.Gradient Abs'(0)");
        }
        // Either side of zero the slope is ±1: the convention is only at the kink.
        AssertGradient(x => Math.Abs(x[0]), [1e-300], [1.0], "Abs' just above 0");
        AssertGradient(x => Math.Abs(x[0]), [-1e-300], [-1.0], "Abs' just below 0");
    }

    [Test]
    public void MaxAndMin_SendTheDerivativeToTheFirstArgumentOnTies()
    {
        AssertGradient(x => Math.Max(x[0], x[1]), [1.0, 1.0], [1.0, 0.0], "Max(x0, x1) tie");
        AssertGradient(x => Math.Max(x[1], x[0]), [1.0, 1.0], [0.0, 1.0], "Max(x1, x0) tie (first argument is x1)");
        AssertGradient(x => Math.Min(x[0], x[1]), [1.0, 1.0], [1.0, 0.0], "Min(x0, x1) tie");
        AssertGradient(x => Math.Min(x[1], x[0]), [-2.0, -2.0], [0.0, 1.0], "Min(x1, x0) tie (first argument is x1)");
        // A tie of a value with itself: the derivative is still 1 in total, not 2 and not 0.
        AssertGradient(x => Math.Max(x[0], x[0]), [3.0], [1.0], "Max(x0, x0)");
    }

    [Test]
    public void Steps_HaveDerivativeZeroAtTheirJumps()
    {
        AssertGradient(x => Math.Floor(x[0]), [2.0], [0.0], "Floor'(2)");
        AssertGradient(x => Math.Ceiling(x[0]), [-3.0], [0.0], "Ceiling'(-3)");
        AssertGradient(x => Math.Round(x[0]), [2.5], [0.0], "Round'(2.5)");
        AssertGradient(x => Math.Truncate(x[0]), [-1.0], [0.0], "Truncate'(-1)");
        AssertGradient(x => Math.Sign(x[0]), [0.0], [0.0], "Sign'(0)");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(AD.Derivative(x => Math.Floor(x))(2.0), Is.EqualTo(0.0), "AD.Derivative Floor'(2)");
            Assert.That(AD.Derivative(x => Math.Floor(x) * x)(2.0), Is.EqualTo(2.0), "AD.Derivative (Floor(x)·x)'(2) = Floor(2)");
        }
    }

    [Test]
    public void Clamp_PassesTheDerivativeOfXInsideAndOfTheActiveBoundOutside()
    {
        Expression<Func<double[], double>> clamp = x => Math.Clamp(x[0], x[1], x[2]);
        AssertGradient(clamp, [0.5, 0.0, 1.0], [1.0, 0.0, 0.0], "inside");
        AssertGradient(clamp, [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], "at the lower bound (inclusive)");
        AssertGradient(clamp, [1.0, 0.0, 1.0], [1.0, 0.0, 0.0], "at the upper bound (inclusive)");
        AssertGradient(clamp, [-0.5, 0.0, 1.0], [0.0, 1.0, 0.0], "below");
        AssertGradient(clamp, [1.5, 0.0, 1.0], [0.0, 0.0, 1.0], "above");
        AssertGradient(clamp, [2.0, 2.0, 2.0], [1.0, 0.0, 0.0], "lo = hi = x");
    }

    /// <summary>
    /// Max, Min and Clamp pass the derivative of the argument they select only, like the equivalent
    /// ?: does. Near x = 0, max(cbrt x, 1) is the constant 1, so its derivative is 0 (finite
    /// differences agree), even though cbrt'(0) = ∞ in the argument that is not selected: the
    /// unselected argument must contribute nothing, not 0 · ∞ = NaN.
    /// </summary>
    [Test]
    public void MaxMinClamp_IgnoreTheUnselectedArgument()
    {
        var cases = new (string Name, Expression<Func<double[], double>> F, Func<double[], double> Plain, Expression<Func<double, double>> Scalar)[]
        {
            ("cbrt x >= 1 ? cbrt x : 1 (the ?: form, for comparison)", x => Math.Cbrt(x[0]) >= 1.0 ? Math.Cbrt(x[0]) : 1.0,
                x => Math.Cbrt(x[0]) >= 1.0 ? Math.Cbrt(x[0]) : 1.0, x => Math.Cbrt(x) >= 1.0 ? Math.Cbrt(x) : 1.0),
            ("max(cbrt x, 1)", x => Math.Max(Math.Cbrt(x[0]), 1.0), x => Math.Max(Math.Cbrt(x[0]), 1.0), x => Math.Max(Math.Cbrt(x), 1.0)),
            ("max(1, cbrt x)", x => Math.Max(1.0, Math.Cbrt(x[0])), x => Math.Max(1.0, Math.Cbrt(x[0])), x => Math.Max(1.0, Math.Cbrt(x))),
            ("min(cbrt x, -1)", x => Math.Min(Math.Cbrt(x[0]), -1.0), x => Math.Min(Math.Cbrt(x[0]), -1.0), x => Math.Min(Math.Cbrt(x), -1.0)),
            ("clamp(cbrt x, 1, 2)", x => Math.Clamp(Math.Cbrt(x[0]), 1.0, 2.0), x => Math.Clamp(Math.Cbrt(x[0]), 1.0, 2.0), x => Math.Clamp(Math.Cbrt(x), 1.0, 2.0)),
        };
        using (Assert.EnterMultipleScope())
        {
            foreach (var (name, f, plain, scalar) in cases)
            {
                var fd = FiniteDifferences.Partial(plain, [0.0], 0);
                Assert.That(fd.Value, Is.EqualTo(0.0), $"{name}: finite differences (the function is constant near 0)");
                var (reverse, forward, _, _) = BothModes(f, [0.0]);
                Assert.That(reverse[0], Is.EqualTo(fd.Value), $"{name}: reverse mode at 0");
                Assert.That(forward[0], Is.EqualTo(fd.Value), $"{name}: forward mode at 0");
                Assert.That(AD.Derivative(scalar)(0.0), Is.EqualTo(fd.Value), $"{name}: AD.Derivative at 0");
            }
        }
    }

    /// <summary>
    /// p^q at p = 0, q = 2 (as in x[0] * x[0] written Math.Pow(x[0], x[1]) with x[1] = 2): both partials
    /// exist and are 0, since f(p, 2) = p² and f(0, q) = 0 for every q > 0; the finite-difference oracle,
    /// which only moves along the axes, agrees. The rule d/dq = y · ln p gives 0 · (-∞) = NaN there
    /// (JAX and PyTorch special-case p = 0 to return 0). In forward mode the NaN partial is then
    /// multiplied by the direction's zero q-component, so even the Jvp along e0 (∂f/∂p, which
    /// reverse mode gets right) comes out NaN.
    /// </summary>
    [Test]
    public void Pow_AtZeroBase_HasFinitePartials()
    {
        Func<double[], double> plain = x => Math.Pow(x[0], x[1]);
        double[] at = [0.0, 2.0];
        var fd = FiniteDifferences.Gradient(plain, at);
        var (reverse, forward, _, _) = BothModes(x => Math.Pow(x[0], x[1]), at);
        using (Assert.EnterMultipleScope())
        {
            for (int i = 0; i < 2; i++)
            {
                Assert.That(fd[i].Value, Is.EqualTo(0.0), $"finite differences for ∂f/∂x[{i}] (the oracle itself)");
                Assert.That(reverse[i], Is.EqualTo(fd[i].Value).Within(FiniteDifferences.Tolerance(fd[i])), $"reverse ∂f/∂x[{i}] at (0, 2)");
                Assert.That(forward[i], Is.EqualTo(fd[i].Value).Within(FiniteDifferences.Tolerance(fd[i])), $"forward ∂f/∂x[{i}] at (0, 2)");
            }
        }
    }

    /// <summary>
    /// x > 0 ? ln x : 0 at x = 0 and x = -1: the branch taken is the constant, so the derivative is
    /// exactly 0, even though ln'(0) = ∞ and ln(-1) = NaN in the untaken branch (0 · ∞ must not leak).
    /// </summary>
    [Test]
    public void UntakenBranch_ContributesExactlyZero([Values(0.0, -1.0)] double at)
    {
        Expression<Func<double[], double>> f = x => x[0] > 0 ? Math.Log(x[0]) : 0.0;
        var (reverse, forward, reverseValue, forwardValue) = BothModes(f, [at]);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(reverse[0], Is.EqualTo(0.0), $"reverse mode at {at}");
            Assert.That(forward[0], Is.EqualTo(0.0), $"forward mode at {at}");
            Assert.That(reverseValue, Is.EqualTo(0.0), $"reverse-mode value at {at}");
            Assert.That(forwardValue, Is.EqualTo(0.0), $"forward-mode value at {at}");
            Assert.That(AD.Derivative(x => x > 0 ? Math.Log(x) : 0.0)(at), Is.EqualTo(0.0), $"AD.Derivative at {at}");
            Assert.That(AD.Derivative(x => x > 0 ? Math.Log(x) : 0.0, order: 2)(at), Is.EqualTo(0.0), $"AD.Derivative order 2 at {at}");
            Assert.That(AD.Gradient((double x) => x > 0 ? Math.Log(x) : 0.0)(at).D1, Is.EqualTo(0.0), $"scalar AD.Gradient at {at}");
        }
        // And where the branch is taken, the derivative is ln'(x) = 1/x.
        AssertGradient(f, [2.0], [0.5], "taken branch at 2");
    }

    /// <summary>
    /// The untaken branch's infinite or NaN partial stays out even when the select's adjoint is not
    /// a constant (it is multiplied by another input) and when the branch goes through more operations.
    /// </summary>
    [Test]
    public void UntakenBranch_ContributesExactlyZero_ThroughLongerChains()
    {
        AssertGradient(x => x[1] * (x[0] > 0 ? Math.Log(x[0]) : 0.0), [0.0, 3.0], [0.0, 0.0], "x1 · (x0 > 0 ? ln x0 : 0) at x0 = 0");
        AssertGradient(x => x[0] > 0 ? 2 * Math.Sqrt(x[0]) + x[1] : x[1], [0.0, 3.0], [0.0, 1.0], "x0 > 0 ? 2 sqrt x0 + x1 : x1 at x0 = 0");
        AssertGradient(x => x[0] > 0 ? Math.Exp(Math.Log(x[0]) * x[1]) : x[1], [-1.0, 3.0], [0.0, 1.0], "x0 > 0 ? exp(ln x0 · x1) : x1 at x0 = -1");
        AssertGradient(x => x[0] <= 0 ? x[0] * x[0] : Math.Sqrt(x[0]), [0.0], [0.0], "x0 ≤ 0 ? x0² : sqrt x0 at 0");
    }
}
