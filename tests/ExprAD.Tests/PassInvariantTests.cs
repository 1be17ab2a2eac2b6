using System.Collections.Immutable;
using System.Linq.Expressions;
using ExprAD.Caching;
using ExprAD.Frontend;
using ExprAD.IR;
using ExprAD.Passes;
using ExprAD.Rules;
using ExprAD.Transforms;
using ExprAD.Tests.Oracles;
using NUnit.Framework;
using Trace = ExprAD.IR.Trace;

namespace ExprAD.Tests;

/// <summary>
/// The IR's invariants hold after every stage of every pipeline ExprAD builds: translation,
/// forward mode (one and three directions), reverse mode, dead-code elimination, and the nested
/// transforms (forward over forward for higher derivatives, forward over reverse and reverse over
/// forward for second-order products). TraceVerifier checks SSA order and operand kinds; this file
/// adds what the verifier does not: builder-made traces are hash-consed (no two equal
/// instructions), DCE leaves no dead instruction, is idempotent and preserves output values, and
/// transforms keep the primal value. Then the builder's simplifications, one by one: CSE, constant
/// folding, and the rule that only identities exact for every double (NaN, ±∞, -0 included) are applied.
/// </summary>
[TestFixture]
public sealed class PassInvariantTests
{
    private static (Trace Trace, object[] Constants) Translate(Expression<Func<double[], double>> f)
    {
        var (_, constants) = StructuralKey.Of(f, "any");
        return (ExpressionTranslator.Translate(f, [ParameterRole.Array], constants), constants.ToArray());
    }

    private static double captured = 2.5;

    private static readonly Expression<Func<double, double, double>> Inlined = (a, b) => a * Math.Exp(-b);

    /// <summary>Hand-written lambdas covering every construct of the frontend.</summary>
    private static IEnumerable<(string Name, Expression<Func<double[], double>> F)> Lambdas()
    {
        yield return ("paper f(x1, x2) = ln x1 + x1 x2 - sin x2", x => Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]));
        yield return ("guarded log", x => x[0] > 0 ? Math.Log(x[0]) : 0.0);
        yield return ("nested conditionals and logic", x => x[0] > x[1] && !(x[2] < 0) ? (x[1] > 1 || x[0] == 2 ? x[0] * x[2] : Math.Sqrt(x[2])) : x[1] - x[2]);
        yield return ("max, min, clamp, abs", x => Math.Max(x[0], x[1]) * Math.Min(x[1], x[2]) + Math.Clamp(x[0], x[1], x[2] + 5) - Math.Abs(x[0] - x[2]));
        yield return ("pow, log base, atan2, fma", x => Math.Pow(x[0], x[1]) + Math.Log(x[0], x[1]) + Math.Atan2(x[1], x[0]) + Math.FusedMultiplyAdd(x[0], x[1], x[2]));
        yield return ("steps, sign and casts", x => Math.Floor(x[0]) * x[1] + Math.Sign(x[1]) * x[0] + (int)(x[2] * 3) + Math.Round(x[1]) % 2);
        yield return ("remainder and division", x => x[0] % x[1] / (1 + x[2] * x[2]));
        yield return ("all unary functions", x => Math.Sin(x[0]) + Math.Cos(x[0]) + Math.Tan(x[0]) + Math.Asin(x[1]) + Math.Acos(x[1]) + Math.Atan(x[0])
            + Math.Sinh(x[0]) + Math.Cosh(x[0]) + Math.Tanh(x[0]) + Math.Asinh(x[0]) + Math.Acosh(x[2]) + Math.Atanh(x[1])
            + Math.Exp(x[0]) + Math.Log10(x[2]) + Math.Log2(x[2]) + Math.Cbrt(x[0]) + Math.Ceiling(x[0]) + Math.Truncate(x[0]));
        double local = -1.25;
        yield return ("captured variables and constants", x => captured * x[0] + local * x[1] * Math.PI + Math.E);
        yield return ("sparse indices", x => x[5] * x[0] - x[3]);
        yield return ("inlined lambda, invoked twice", InvokeTwice());
        yield return ("constant function", x => 3.0);
        yield return ("input only", x => x[1]);
    }

    /// <summary>x => Inlined(x[0], x[1]) + Inlined(x[1], x[0]), with Expression.Invoke (C# cannot write it).</summary>
    private static Expression<Func<double[], double>> InvokeTwice()
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression X(int i) => Expression.ArrayIndex(x, Expression.Constant(i));
        return Expression.Lambda<Func<double[], double>>(
            Expression.Add(Expression.Invoke(Inlined, X(0), X(1)), Expression.Invoke(Inlined, X(1), X(0))), x);
    }

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (var (name, f) in Lambdas()) yield return new TestCaseData(f).SetArgDisplayNames(name);
        // 100 of the random DAGs of PropertyTests (conditionals, shared nodes, structurally equal copies).
        for (int i = 0; i < 100; i++)
        {
            var dag = PropertyTests.RandomDag.Generate(20_240_000 + i);
            yield return new TestCaseData(dag.Lambda).SetArgDisplayNames("random DAG seed " + dag.Seed);
        }
    }

    /// <summary>A point in the domain of every lambda above (x[1] in (-1, 1) for asin, x[2] ≥ 1 for acosh).</summary>
    private static readonly double[] Point = [0.7, 0.3, 1.8, -0.4, 1.1, 2.2];

    private static readonly ForwardMode.Seed AllOnes = (b, _, _) => b.Constant(1.0);

    /// <summary>Every stage of every pipeline verifies; builder-made traces are hash-consed; DCE is sound.</summary>
    [TestCaseSource(nameof(Cases))]
    public void EveryStage_KeepsTheInvariants(Expression<Func<double[], double>> f)
    {
        var (source, constants) = Translate(f);
        int inputs = source.Inputs().Length;
        var stages = new List<(string Name, Trace Trace, bool Built)>
        {
            ("translate", source, true),
        };
        void Stage(string name, Trace trace, bool built)
        {
            stages.Add((name, trace, built));
            stages.Add(("DCE after " + name, DeadCodeElimination.Apply(trace), false));
        }

        var forward1 = ForwardMode.Apply(source, 1, AllOnes);
        Stage("forward, 1 direction", forward1, true);
        // Three directions, input element i seeded in direction i mod 3 only (null = not seeded).
        Stage("forward, 3 directions", ForwardMode.Apply(source, 3, (b, input, d) => input.B % 3 == d ? b.Constant(1.0) : null), true);
        var reverse = ReverseMode.Apply(source, (b, _) => b.Constant(1.0));
        Stage("reverse", reverse, true);
        // Forward over forward, as AD.Derivative does for order 2: keep only the tangent, then differentiate again.
        var firstDerivative = DeadCodeElimination.Apply(forward1.WithOutputs([forward1.Outputs[1]]));
        Stage("forward over forward", ForwardMode.Apply(firstDerivative, 1, AllOnes), true);
        // Second-order products: forward over reverse (Hessian-vector) and reverse over forward.
        Stage("forward over reverse", ForwardMode.Apply(DeadCodeElimination.Apply(reverse), 1, AllOnes), true);
        Stage("reverse over forward", ReverseMode.Apply(firstDerivative, (b, _) => b.Constant(1.0)), true);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(forward1.Outputs, Has.Length.EqualTo(2), "forward mode, 1 direction: value and one tangent");
            Assert.That(reverse.Outputs, Has.Length.EqualTo(1 + inputs), "reverse mode: value and one adjoint per input");
            foreach (var (name, trace, built) in stages)
            {
                Assert.That(() => TraceVerifier.Verify(trace), Throws.Nothing, $"TraceVerifier after {name}");
                if (built)
                    Assert.That(Duplicates(trace), Is.Empty, $"after {name}: instructions built twice (hash-consing should share them)\n{trace}");
                else
                    Assert.That(Dead(trace), Is.Empty, $"after {name}: instructions no output depends on\n{trace}");
            }
        }

        // DCE is idempotent and preserves the value of every output; transforms preserve the primal value.
        double value = Run(source, constants)[0];
        using (Assert.EnterMultipleScope())
        {
            for (int s = 1; s < stages.Count; s += 2)
            {
                var (name, before, _) = stages[s];
                var after = stages[s + 1].Trace;
                Assert.That(DeadCodeElimination.Apply(after).Instructions, Is.EqualTo(after.Instructions), $"DCE twice after {name}");
                Assert.That(Run(after, constants).Select(Bits), Is.EqualTo(Run(before, constants).Select(Bits)), $"output values before and after DCE of {name}");
            }
            foreach (var (name, trace) in new[] { ("forward 1", forward1), ("reverse", reverse) })
                Assert.That(Bits(Run(trace, constants)[0]), Is.EqualTo(Bits(value)), $"primal value after {name}");
        }
    }

    /// <summary>The interpreted values of a trace's outputs at <see cref="Point"/>.</summary>
    private static double[] Run(Trace trace, object[] constants)
    {
        var values = TraceInterpreter.Run(trace, ins => Point[ins.B], constants);
        return trace.Outputs.Select(o => values[o.Index]).ToArray();
    }

    /// <summary>Bit pattern, so that -0 differs from +0 and NaN equals NaN.</summary>
    private static long Bits(double d) => BitConverter.DoubleToInt64Bits(d);

    private static List<string> Duplicates(Trace trace) =>
        trace.Instructions.Select((ins, i) => (ins, i)).GroupBy(p => p.ins).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key.Op} at %{string.Join(", %", g.Select(p => p.i))}").ToList();

    private static List<int> Dead(Trace trace)
    {
        var live = new bool[trace.Count];
        foreach (var o in trace.Outputs) live[o.Index] = true;
        for (int i = trace.Count - 1; i >= 0; i--)
        {
            var ins = trace.Instructions[i];
            if (!live[i]) continue;
            for (int k = 0; k < ins.Arity; k++) live[ins.Operand(k).Index] = true;
            // A region (a branch of ?: that could fail is one) also reads what it captures and starts from.
            if (!ins.IsRegion) continue;
            foreach (var v in trace.Regions[ins.C].Captures.Concat(trace.Regions[ins.C].Initial)) live[v.Index] = true;
        }
        return Enumerable.Range(0, trace.Count).Where(i => !live[i]).ToList();
    }

    /// <summary>
    /// Instructions of kind <paramref name="op"/> that some output depends on. The builder may leave
    /// instructions it has just simplified away (-(-x) first builds -x); DCE removes them, and only
    /// what is live reaches compiled code.
    /// </summary>
    private static int Count(Trace trace, Op op) => DeadCodeElimination.Apply(trace).Instructions.Count(ins => ins.Op == op);

    // ---------------------------------------------------------------------------------------------
    // Hash-consing and constant folding.
    // ---------------------------------------------------------------------------------------------

    [Test]
    public void HashConsing_BuildsOneSinForTwoEqualCalls()
    {
        var (trace, _) = Translate(x => Math.Sin(x[0]) + Math.Sin(x[0]));
        var reverse = DeadCodeElimination.Apply(ReverseMode.Apply(trace, (b, _) => b.Constant(1.0)));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Count(trace, Op.Sin), Is.EqualTo(1), $"sin instructions\n{trace}");
            Assert.That(Count(trace, Op.Input), Is.EqualTo(1), $"reads of x[0]\n{trace}");
            Assert.That(Count(trace, Op.Add), Is.EqualTo(1), $"add instructions\n{trace}");
            // The derivative code reuses the one sin, and its partial cos is built once.
            Assert.That(Count(reverse, Op.Sin), Is.EqualTo(1), $"sin instructions in the reverse trace\n{reverse}");
            Assert.That(Count(reverse, Op.Cos), Is.EqualTo(1), $"cos instructions in the reverse trace\n{reverse}");
        }
    }

    /// <summary>Commutative operands are put in canonical order, so a·b and b·a are one product.</summary>
    [Test]
    public void HashConsing_MergesCommutedProducts()
    {
        var (trace, _) = Translate(x => Math.Sin(x[0]) * Math.Cos(x[1]) + Math.Cos(x[1]) * Math.Sin(x[0]));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Count(trace, Op.Sin), Is.EqualTo(1), $"sin\n{trace}");
            Assert.That(Count(trace, Op.Cos), Is.EqualTo(1), $"cos\n{trace}");
            Assert.That(Count(trace, Op.Mul), Is.EqualTo(1), $"products\n{trace}");
        }
    }

    /// <summary>
    /// x[0] * (2.0 + 3.0) holds a constant 5 and no addition. The C# compiler already folds 2.0 + 3.0
    /// in a lambda, so the same tree is also built by hand, with the addition left in, to test ExprAD's folding.
    /// </summary>
    [Test]
    public void ConstantFolding_FoldsConstantSubexpressions()
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        var byHand = Expression.Lambda<Func<double[], double>>(
            Expression.Multiply(Expression.ArrayIndex(x, Expression.Constant(0)), Expression.Add(Expression.Constant(2.0), Expression.Constant(3.0))), x);
        Assert.That(byHand.Body.ToString(), Does.Contain("(2 + 3)"), "the hand-built tree really contains the addition");
        foreach (var (name, f) in new[] { ("C# lambda", (Expression<Func<double[], double>>)(x => x[0] * (2.0 + 3.0))), ("hand-built tree", byHand) })
        {
            var (trace, _) = Translate(f);
            using (Assert.EnterMultipleScope())
            {
                Assert.That(trace.Instructions.Any(ins => ins.Op == Op.Const && ins.Number == 5.0), Is.True, $"{name}: a constant 5\n{trace}");
                Assert.That(Count(trace, Op.Add), Is.Zero, $"{name}: no addition\n{trace}");
                Assert.That(Count(trace, Op.Mul), Is.EqualTo(1), $"{name}: one multiplication\n{trace}");
            }
        }
    }

    /// <summary>Calls on constants are folded with the same Math method, so the folded constant is bit-exact.</summary>
    [Test]
    public void ConstantFolding_FoldsFunctionsOfConstants()
    {
        var (trace, _) = Translate(x => Math.Sin(0.5) * x[0] + Math.Pow(2.0, 0.5));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Count(trace, Op.Sin) + Count(trace, Op.Pow), Is.Zero, $"no sin or pow left\n{trace}");
            Assert.That(trace.Instructions.Any(ins => ins.Op == Op.Const && Bits(ins.Number) == Bits(Math.Sin(0.5))), Is.True, $"sin 0.5 folded exactly\n{trace}");
            Assert.That(trace.Instructions.Any(ins => ins.Op == Op.Const && Bits(ins.Number) == Bits(Math.Sqrt(2.0))), Is.True, $"2^0.5 folded exactly\n{trace}");
        }
    }

    /// <summary>
    /// Folding must not move an exception from call time to compile time (the builder declines to fold
    /// integer division by zero for this reason): a function of constants that throws when called must
    /// compile, and throw the same exception as the plain C# code when called. Built by hand because
    /// the C# compiler rejects 1 / 0 in source.
    /// </summary>
    [Test]
    public void ConstantFolding_NeverMovesAnExceptionToCompileTime()
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        Expression<Func<double[], double>> Times(Expression constant) => Expression.Lambda<Func<double[], double>>(
            Expression.Multiply(Expression.ArrayIndex(x, Expression.Constant(0)), constant.Type == typeof(int) ? Expression.Convert(constant, typeof(double)) : constant), x);
        var cases = new (string Name, Expression<Func<double[], double>> F, Type Thrown)[]
        {
            ("x * (1 / 0) in int", Times(Expression.Divide(Expression.Constant(1), Expression.Constant(0))), typeof(DivideByZeroException)),
            ("x * (1 % 0) in int", Times(Expression.Modulo(Expression.Constant(1), Expression.Constant(0))), typeof(DivideByZeroException)),
            // Math.Clamp throws ArgumentException when min > max.
            ("x * Math.Clamp(1, 2, 0)", Times(Expression.Call(typeof(Math).GetMethod(nameof(Math.Clamp), [typeof(double), typeof(double), typeof(double)])!,
                Expression.Constant(1.0), Expression.Constant(2.0), Expression.Constant(0.0))), typeof(ArgumentException)),
        };
        using (Assert.EnterMultipleScope())
        {
            foreach (var (name, f, thrown) in cases)
            {
                Assert.That(() => f.Compile()([1.0]), Throws.TypeOf(thrown), $"{name}: the plain compiled lambda throws when called");
                GradientFunc? gradient = null;
                Assert.That(() => gradient = AD.Gradient(f), Throws.Nothing, $"{name}: AD.Gradient compiles it");
                if (gradient is not null)
                    Assert.That(() => gradient([1.0], new double[1]), Throws.TypeOf(thrown), $"{name}: and the compiled gradient throws when called");
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Exactness: an identity is applied only when it holds for every double. Each row says which
    // operation must (or must not) survive translation, and the compiled value must equal the plain
    // C# value bit for bit at the inputs where a wrong identity would show: NaN, ±∞, ±0.
    // ---------------------------------------------------------------------------------------------

    internal sealed record Identity(string Name, Expression<Func<double[], double>> F, Func<double[], double> Plain, Op Op, bool Kept)
    {
        public override string ToString() => Name;
    }

    private static Expression<Func<double[], double>> Built(Func<Expression, Expression> body)
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        return Expression.Lambda<Func<double[], double>>(body(Expression.ArrayIndex(x, Expression.Constant(0))), x);
    }

    private static readonly Identity[] Identities =
    [
        // x - x is 0 for finite x but NaN for x = ±∞ or NaN: it must stay a subtraction.
        new("x - x is not folded to 0", x => x[0] - x[0], x => x[0] - x[0], Op.Sub, Kept: true),
        new("x * 1 is x", x => x[0] * 1.0, x => x[0] * 1.0, Op.Mul, Kept: false),
        new("1 * x is x", x => 1.0 * x[0], x => 1.0 * x[0], Op.Mul, Kept: false),
        new("x / 1 is x", x => x[0] / 1.0, x => x[0] / 1.0, Op.Div, Kept: false),
        // 0 * ∞ = NaN and 0 * -1 = -0: not 0.
        new("0 * x is not folded", x => 0.0 * x[0], x => 0.0 * x[0], Op.Mul, Kept: true),
        // -0 + +0 = +0: x + 0 is not x.
        new("x + 0 is not folded", x => x[0] + 0.0, x => x[0] + 0.0, Op.Add, Kept: true),
        // x + (-0) is x for every x, -0 included; built by hand so that the constant is surely -0.
        new("x + (-0) is x", Built(x0 => Expression.Add(x0, Expression.Constant(-0.0))), x => x[0] + -0.0, Op.Add, Kept: false),
        new("x - 0 is x", x => x[0] - 0.0, x => x[0] - 0.0, Op.Sub, Kept: false),
        // x - (-0) = x + 0, which turns -0 into +0: not x.
        new("x - (-0) is not folded", Built(x0 => Expression.Subtract(x0, Expression.Constant(-0.0))), x => x[0] - -0.0, Op.Sub, Kept: true),
        new("-(-x) is x", x => -(-x[0]), x => -(-x[0]), Op.Neg, Kept: false),
        new("x / x is not folded to 1", x => x[0] / x[0], x => x[0] / x[0], Op.Div, Kept: true),
    ];

    private static readonly double[] Specials = [double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0.0, -0.0, 1.5, -2.0];

    // The rows are internal (they name an internal Op), so the test cases carry the row's index.
    public static IEnumerable<TestCaseData> IdentityCases() =>
        Identities.Select((row, i) => new TestCaseData(i).SetArgDisplayNames(row.Name));

    [TestCaseSource(nameof(IdentityCases))]
    public void OnlyExactIdentitiesAreApplied(int index)
    {
        var row = Identities[index];
        var (trace, _) = Translate(row.F);
        var gradient = AD.Gradient(row.F);
        var jvp = AD.Jvp(row.F);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Count(trace, row.Op), row.Kept ? Is.GreaterThan(0) : Is.Zero,
                $"{row.Name}: {row.Op} should {(row.Kept ? "remain" : "be simplified away")}\n{trace}");
            foreach (var v in Specials)
            {
                double expected = row.Plain([v]);
                Assert.That(Bits(gradient([v], new double[1])), Is.EqualTo(Bits(expected)), $"{row.Name}: AD.Gradient value at x = {v:R} (expected {expected:R})");
                Assert.That(Bits(jvp([v], [1.0], out _)), Is.EqualTo(Bits(expected)), $"{row.Name}: AD.Jvp value at x = {v:R} (expected {expected:R})");
            }
        }
    }

    /// <summary>
    /// The builder keeps +0 and -0 apart (they are different constants: 1 / (+0) = +∞, 1 / (-0) = -∞),
    /// and so must everything after it, the kernel cache included: x / 0.0 and x / -0.0 are two
    /// functions, whichever is compiled first. Built by hand so that the -0 constant is certain.
    /// </summary>
    [Test]
    public void SignedZeroConstants_AreDifferentFunctions()
    {
        var positive = Built(x0 => Expression.Divide(x0, Expression.Constant(0.0)));
        var negative = Built(x0 => Expression.Divide(x0, Expression.Constant(-0.0)));
        var g = new double[1];
        double viaPositive = AD.Gradient(positive)([1.0], g);
        double viaNegative = AD.Gradient(negative)([1.0], g);
        double jvpNegative = AD.Jvp(negative)([1.0], [1.0], out _);
        // d/dt (t · c) = c: the derivative of t · 0.0 is +0, of t · -0.0 is -0.
        var t = Expression.Parameter(typeof(double), "t");
        double derivativePositive = AD.Derivative(Expression.Lambda<Func<double, double>>(Expression.Multiply(t, Expression.Constant(0.0)), t))(1.0);
        double derivativeNegative = AD.Derivative(Expression.Lambda<Func<double, double>>(Expression.Multiply(t, Expression.Constant(-0.0)), t))(1.0);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(viaPositive, Is.EqualTo(double.PositiveInfinity), "AD.Gradient of x / 0.0 at 1");
            Assert.That(viaNegative, Is.EqualTo(double.NegativeInfinity), "AD.Gradient of x / -0.0 at 1 (compiled after x / 0.0)");
            Assert.That(jvpNegative, Is.EqualTo(double.NegativeInfinity), "AD.Jvp of x / -0.0 at 1");
            Assert.That(Bits(derivativePositive), Is.EqualTo(Bits(0.0)), "AD.Derivative of t => t * 0.0 is +0");
            Assert.That(Bits(derivativeNegative), Is.EqualTo(Bits(-0.0)), "AD.Derivative of t => t * -0.0 is -0 (compiled after t * 0.0)");
        }
    }

    /// <summary>x - x: value NaN at NaN and ±∞ (checked above), and derivative 1 - 1 = 0 at finite points, in both modes.</summary>
    [Test]
    public void SelfSubtraction_HasDerivativeZeroAndPropagatesNaN()
    {
        Expression<Func<double[], double>> f = x => x[0] - x[0];
        var g = new double[1];
        using (Assert.EnterMultipleScope())
        {
            Assert.That(AD.Gradient(f)([3.0], g), Is.EqualTo(0.0));
            Assert.That(g[0], Is.EqualTo(0.0), "reverse derivative");
            AD.Jvp(f)([3.0], [1.0], out double d);
            Assert.That(d, Is.EqualTo(0.0), "forward derivative");
            Assert.That(AD.Gradient(f)([double.NaN], g), Is.NaN, "value at NaN");
            Assert.That(AD.Gradient(f)([double.PositiveInfinity], g), Is.NaN, "value at +∞");
        }
    }

    /// <summary>x + (-y) becomes x - y (exact for every double), so no negation and no addition is left.</summary>
    [Test]
    public void AddOfNegation_BecomesSubtraction()
    {
        var (trace, _) = Translate(x => x[0] + -x[1]);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Count(trace, Op.Neg), Is.Zero, $"no negation\n{trace}");
            Assert.That(Count(trace, Op.Add), Is.Zero, $"no addition\n{trace}");
            Assert.That(Count(trace, Op.Sub), Is.EqualTo(1), $"one subtraction\n{trace}");
        }
        var g = new double[2];
        double value = AD.Gradient(x => x[0] + -x[1])([1.0, 1.0], g);
        Assert.That(Bits(value), Is.EqualTo(Bits(1.0 + -1.0)), "value of 1 + -1 (+0, not -0)");
        Assert.That(g, Is.EqualTo(new[] { 1.0, -1.0 }), "gradient");
    }

    /// <summary>The reverse trace after DCE, interpreted, still computes the gradient (checked against finite differences).</summary>
    [Test]
    public void ReverseTrace_AfterDce_MatchesFiniteDifferences()
    {
        Expression<Func<double[], double>> f = x => Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]);
        var (source, constants) = Translate(f);
        var reverse = DeadCodeElimination.Apply(ReverseMode.Apply(source, (b, _) => b.Constant(1.0)));
        var outputs = Run(reverse, constants);
        Func<double[], double> plain = x => Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]);
        for (int i = 0; i < 2; i++)
        {
            var fd = FiniteDifferences.Partial(plain, Point, i);
            Assert.That(outputs[1 + i], Is.EqualTo(fd.Value).Within(FiniteDifferences.Tolerance(fd)), $"interpreted adjoint of x[{i}]; finite differences give {fd}");
        }
    }
}
