using System.Collections.Concurrent;
using ExprAD.Tests.Oracles;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Properties checked on random programs with loops (<see cref="RandomLoopProgram"/>: range and array sums,
/// Select, Where, Zip, Max, Min, Average, Aggregate with scalar and array states, nested three levels), each at
/// two points:
/// (a) reverse mode (AD.Gradient) and forward mode (AD.Jvp with unit directions) give the same partials to 1e-10 relative;
/// (b) both match Richardson finite differences of the lambda run by LINQ; a partial is skipped only when the
///     estimate itself is unreliable (<see cref="FiniteDifferences.IsReliable"/> false: a kink or jump of a Where,
///     Max, Min or a conditional on active values inside the stencil), and a batch fails when more than <see cref="MaxSkippedFraction"/> of its partials are skipped;
/// (c) the values from AD.Value, AD.Gradient and AD.Jvp are bit for bit the value of the same lambda compiled by
///     LambdaExpression.Compile(), which runs the LINQ operators: Sum and Average add in index order, folds step in
///     order, Max and Min keep the first extremum, and ExprAD's loops must do the same operations in the same order,
///     so nothing weaker than equality is justified. Equality is of the bits, so the sign of a zero counts: it is
///     part of the value (Atan2(±0, -1) = ±π). LINQ's Sum starts at +0.0, so a Where mask that adds +0.0 for a dropped
///     element changes nothing; LINQ's Average over an enumerator starts at its first element, so the average of
///     -0.0 values is -0.0, and ExprAD's must be too;
/// (d) for programs with a fold, the value and gradient with CheckpointInterval 2 and 3 are bit-identical to the
///     plain ones (recomputed states replay the same operations);
/// (e) the value and gradient with vector loops are bit-identical to those with scalar loops only, also inside the
///     workers of parallel loops.
/// </summary>
/// <remarks>
/// Every program comes from a seed printed in failure messages together with the lambda and its data arrays, so
/// a failure is reproduced by <see cref="RandomLoopProgram.Generate"/>. 10 batches × 40 programs = 400 programs per run.
/// </remarks>
[TestFixture]
public sealed class LoopPropertyTests
{
    private const int Batches = 10;
    private const int PerBatch = 40;
    private const int FirstSeed = 31_700_000;

    /// <summary>The largest fraction of partials of a batch whose finite-difference estimate may be unreliable.</summary>
    private const double MaxSkippedFraction = 0.05;

    public static IEnumerable<int> BatchNumbers => Enumerable.Range(0, Batches);

    // Programs are kept across the tests of a run so that each LINQ delegate is compiled once.
    private static readonly ConcurrentDictionary<int, RandomLoopProgram> Programs = new();

    private static IEnumerable<RandomLoopProgram> Batch(int batch) =>
        Enumerable.Range(FirstSeed + batch * PerBatch, PerBatch).Select(seed => Programs.GetOrAdd(seed, RandomLoopProgram.Generate));

    private static string At(double[] x) => "(" + string.Join(", ", x.Select(v => v.ToString("R"))) + ")";

    private static double[] Unit(int n, int i)
    {
        var e = new double[n];
        e[i] = 1;
        return e;
    }

    private static string Bits(double v) => $"{v:R} (0x{BitConverter.DoubleToInt64Bits(v):x16})";

    /// <summary>
    /// Every partial of every program of <paramref name="batch"/> at two points: the program, the point, the gradient there
    /// (reverse mode), the partial's index, and forward mode's value of that partial (computed when asked).
    /// </summary>
    private static IEnumerable<(RandomLoopProgram Program, double[] X, double[] Gradient, int I, Func<double> Forward)> Partials(int batch)
    {
        foreach (var program in Batch(batch))
        {
            var gradient = AD.Gradient(program.Lambda);
            var jvp = AD.Jvp(program.Lambda);
            foreach (var x in program.Points(2))
            {
                var g = new double[x.Length];
                gradient(x, g);
                for (int i = 0; i < x.Length; i++)
                {
                    var direction = Unit(x.Length, i);
                    yield return (program, x, g, i, () => { jvp(x, direction, out double d); return d; });
                }
            }
        }
    }

    /// <summary>(a) Reverse and forward mode agree on every partial.</summary>
    [TestCaseSource(nameof(BatchNumbers))]
    public void ReverseMode_EqualsForwardMode(int batch)
    {
        using var scope = Assert.EnterMultipleScope();
        foreach (var (program, x, g, i, forward) in Partials(batch))
        {
            double d = forward();
            Assert.That(FiniteDifferences.Close(g[i], d, 1e-10), Is.True, () =>
                $"∂f/∂x[{i}] at {At(x)}: reverse {g[i]:R}, forward {d:R}\n{program}");
        }
    }

    /// <summary>(b) Both modes match finite differences wherever the estimate is reliable, and it is reliable almost everywhere.</summary>
    [TestCaseSource(nameof(BatchNumbers))]
    public void BothModes_MatchFiniteDifferences(int batch)
    {
        int partials = 0;
        var skipped = new List<string>();
        using (Assert.EnterMultipleScope())
        {
            foreach (var (program, x, g, i, forward) in Partials(batch))
            {
                partials++;
                var fd = FiniteDifferences.Partial(program.Linq, x, i);
                if (!FiniteDifferences.IsReliable(fd))
                {
                    skipped.Add($"seed {program.Seed}, ∂f/∂x[{i}] at {At(x)}: {fd}");
                    continue;
                }
                double d = forward();
                Assert.That(FiniteDifferences.Agrees(g[i], fd), Is.True, () =>
                    $"reverse ∂f/∂x[{i}] = {g[i]:R} at {At(x)}; finite differences give {fd}\n{program}");
                Assert.That(FiniteDifferences.Agrees(d, fd), Is.True, () =>
                    $"forward ∂f/∂x[{i}] = {d:R} at {At(x)}; finite differences give {fd}\n{program}");
            }
        }
        Assert.That(skipped.Count, Is.LessThanOrEqualTo(MaxSkippedFraction * partials), () =>
            $"{skipped.Count} of {partials} partials had an unreliable finite-difference estimate:\n  " + string.Join("\n  ", skipped));
    }

    /// <summary>(c) The value of every compiled form equals LambdaExpression.Compile()'s value bit for bit.</summary>
    [TestCaseSource(nameof(BatchNumbers))]
    public void Value_EqualsSystemLinqCompileBitForBit(int batch)
    {
        using var scope = Assert.EnterMultipleScope();
        foreach (var program in Batch(batch))
        {
            var value = AD.Value(program.Lambda);
            var gradient = AD.Gradient(program.Lambda);
            var jvp = AD.Jvp(program.Lambda);
            foreach (var x in program.Points(2))
            {
                double expected = program.Linq(x);
                Assert.That(double.IsFinite(expected), Is.True, () => $"the generator made a program whose value is {expected} at {At(x)}\n{program}");
                double viaValue = value(x);
                double viaGradient = gradient(x, new double[x.Length]);
                double viaJvp = jvp(x, Unit(x.Length, 0), out _);
                Assert.That(BitConverter.DoubleToInt64Bits(viaValue), Is.EqualTo(BitConverter.DoubleToInt64Bits(expected)), () =>
                    $"AD.Value {Bits(viaValue)} at {At(x)}, LINQ {Bits(expected)}\n{program}");
                Assert.That(BitConverter.DoubleToInt64Bits(viaGradient), Is.EqualTo(BitConverter.DoubleToInt64Bits(expected)), () =>
                    $"AD.Gradient value {Bits(viaGradient)} at {At(x)}, LINQ {Bits(expected)}\n{program}");
                Assert.That(BitConverter.DoubleToInt64Bits(viaJvp), Is.EqualTo(BitConverter.DoubleToInt64Bits(expected)), () =>
                    $"AD.Jvp value {Bits(viaJvp)} at {At(x)}, LINQ {Bits(expected)}\n{program}");
            }
        }
    }

    /// <summary>(d) Checkpointing every 2nd or 3rd fold state changes not a single bit of the value or the gradient.</summary>
    [TestCaseSource(nameof(BatchNumbers))]
    public void Checkpointing_IsBitIdentical(int batch)
    {
        using var scope = Assert.EnterMultipleScope();
        foreach (var program in Batch(batch).Where(p => p.HasFold))
        {
            var plain = AD.Gradient(program.Lambda);
            foreach (int interval in new[] { 2, 3 })
                AssertSameBits(program, plain, AD.Gradient(program.Lambda, new ADOptions { CheckpointInterval = interval }),
                    $"interval {interval}", "without checkpoints");
        }
    }

    /// <summary>
    /// (e) Vector loops (<see cref="ADOptions.VectorLoops"/>, on by default) change not a single bit of the value or the
    /// gradient: each element of an elementwise loop undergoes the same operations in the same order four at a time.
    /// </summary>
    [TestCaseSource(nameof(BatchNumbers))]
    public void VectorLoops_AreBitIdentical(int batch)
    {
        using var scope = Assert.EnterMultipleScope();
        var scalarOnly = new ADOptions { VectorLoops = false };
        var parallel = new ADOptions { ParallelLoops = true, ParallelThreshold = 1 };
        foreach (var program in Batch(batch))
        {
            AssertSameBits(program, AD.Gradient(program.Lambda, scalarOnly), AD.Gradient(program.Lambda), "vector loops", "scalar loops");
            // The same in the workers of parallel loops (every outermost sum outlined).
            AssertSameBits(program, AD.Gradient(program.Lambda, parallel with { VectorLoops = false }), AD.Gradient(program.Lambda, parallel),
                "vector loops in parallel workers", "scalar loops in parallel workers");
        }
    }

    /// <summary>At two points of <paramref name="program"/>, <paramref name="other"/>'s value and gradient equal <paramref name="reference"/>'s bit for bit.</summary>
    private static void AssertSameBits(RandomLoopProgram program, GradientFunc reference, GradientFunc other, string otherName, string referenceName)
    {
        foreach (var x in program.Points(2))
        {
            var expected = new double[x.Length];
            var actual = new double[x.Length];
            double value = reference(x, expected);
            double again = other(x, actual);
            Assert.That(BitConverter.DoubleToInt64Bits(again), Is.EqualTo(BitConverter.DoubleToInt64Bits(value)), () =>
                $"{otherName}: value {Bits(again)} at {At(x)}, {referenceName} {Bits(value)}\n{program}");
            for (int i = 0; i < x.Length; i++)
                Assert.That(BitConverter.DoubleToInt64Bits(actual[i]), Is.EqualTo(BitConverter.DoubleToInt64Bits(expected[i])), () =>
                    $"{otherName}: ∂f/∂x[{i}] {Bits(actual[i])} at {At(x)}, {referenceName} {Bits(expected[i])}\n{program}");
        }
    }

    /// <summary>The generator itself covers what the properties are about: every loop form, nesting both ways, long and empty loops.</summary>
    [Test]
    public void Generator_CoversEveryLoopFormAndNesting()
    {
        var programs = Enumerable.Range(0, Batches).SelectMany(Batch).ToList();
        int With(string feature) => programs.Count(p => p.Features.Contains(feature));
        using (Assert.EnterMultipleScope())
        {
            foreach (var feature in new[]
                     {
                         "sum", "fold", "scalar fold", "array fold", "result selector", "computed seed", "where", "active mask",
                         "masked extremum or average", "zip", "extremum", "average", "array source", "data source", "to array",
                         "select with index", "computed index", "data index", "conditional", "active conditional", "invoke",
                         "sum in sum", "fold in sum", "sum in fold", "fold in fold", "sum in sum in fold", "zero trips", "long loop", "trip count from a loop index",
                     })
                Assert.That(With(feature), Is.GreaterThanOrEqualTo(3), $"programs with {feature}");
            Assert.That(With("fold"), Is.GreaterThan(programs.Count / 3), "programs with a fold");
            Assert.That(programs.Count(p => p.Features.Any(f => f.Contains(" in "))), Is.GreaterThan(programs.Count / 4), "programs with nested loops");
            Assert.That(programs.Select(p => p.InputCount).Distinct().Order(), Is.EqualTo(new[] { 1, 2, 3, 4, 5, 6 }), "input counts");
        }
    }
}
