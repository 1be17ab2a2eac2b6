using System.Globalization;
using System.Linq.Expressions;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// The worked example of Baydin and Pearlmutter, "Automatic Differentiation of Algorithms for Machine
/// Learning": f(x1, x2) = ln x1 + x1 x2 - sin x2 at (x1, x2) = (2, 5). Table 1 (forward mode with
/// ẋ1 = 1, ẋ2 = 0) gives y = 11.652 and ẏ = ∂y/∂x1 = 5.5; Table 2 (reverse mode) gives x̄1 = 5.5 and
/// x̄2 = 1.716. Our trace numbers its working variables in visiting order (v3 = v1 + v2, v4 = sin v0),
/// which differs from the paper's numbering; the values are the paper's.
/// </summary>
[TestFixture]
public class PaperTableTests
{
    private static readonly Expression<Func<double, double, double>> Paper =
        (x1, x2) => Math.Log(x1) + x1 * x2 - Math.Sin(x2);

    private static readonly Expression<Func<double[], double>> PaperArray =
        x => Math.Log(x[0]) + x[0] * x[1] - Math.Sin(x[1]);

    // The paper's numbers, to the four decimals it prints them with.
    private const double PaperY = 11.6521;
    private const double PaperDyDx1 = 5.5;
    private const double PaperDyDx2 = 1.7163;
    private const double FourDecimals = 0.5e-4;

    // The same quantities from their closed forms: y = ln 2 + 10 - sin 5, ∂y/∂x1 = 1/x1 + x2, ∂y/∂x2 = x1 - cos x2.
    private static readonly double ExactY = Math.Log(2) + 2 * 5 - Math.Sin(5);
    private const double ExactDyDx1 = 1.0 / 2 + 5;
    private static readonly double ExactDyDx2 = 2 - Math.Cos(5);

    [Test]
    public void ClosedFormsAgreeWithThePaper()
    {
        // Guards the constants below against typos: the paper's rounded numbers are the closed forms to 4 dp.
        Assert.That(ExactY, Is.EqualTo(PaperY).Within(FourDecimals));
        Assert.That(ExactDyDx1, Is.EqualTo(PaperDyDx1).Within(FourDecimals));
        Assert.That(ExactDyDx2, Is.EqualTo(PaperDyDx2).Within(FourDecimals));
    }

    [Test]
    public void GradientOfArrayFormGivesTable2Adjoints()
    {
        var gradientOf = AD.Gradient(PaperArray);
        var gradient = new double[2];
        double y = gradientOf(new double[] { 2, 5 }, gradient);
        Assert.Multiple(() =>
        {
            Assert.That(y, Is.EqualTo(PaperY).Within(FourDecimals));
            Assert.That(gradient[0], Is.EqualTo(PaperDyDx1).Within(FourDecimals), "x̄1");
            Assert.That(gradient[1], Is.EqualTo(PaperDyDx2).Within(FourDecimals), "x̄2");
            Assert.That(y, Is.EqualTo(ExactY).Within(1e-12));
            Assert.That(gradient[0], Is.EqualTo(ExactDyDx1).Within(1e-12));
            Assert.That(gradient[1], Is.EqualTo(ExactDyDx2).Within(1e-12));
        });
    }

    [Test]
    public void TwoScalarGradientOverloadGivesTable2Adjoints()
    {
        var (value, d1, d2) = AD.Gradient(Paper)(2, 5);
        Assert.Multiple(() =>
        {
            Assert.That(value, Is.EqualTo(PaperY).Within(FourDecimals));
            Assert.That(d1, Is.EqualTo(PaperDyDx1).Within(FourDecimals));
            Assert.That(d2, Is.EqualTo(PaperDyDx2).Within(FourDecimals));
            Assert.That(value, Is.EqualTo(ExactY).Within(1e-12));
            Assert.That(d1, Is.EqualTo(ExactDyDx1).Within(1e-12));
            Assert.That(d2, Is.EqualTo(ExactDyDx2).Within(1e-12));
        });
    }

    [Test]
    public void JvpWithPaperSeedGivesTable1Tangent()
    {
        var jvp = AD.Jvp(PaperArray);
        double y = jvp(new double[] { 2, 5 }, new double[] { 1, 0 }, out double dy);
        Assert.Multiple(() =>
        {
            Assert.That(y, Is.EqualTo(PaperY).Within(FourDecimals));
            Assert.That(dy, Is.EqualTo(PaperDyDx1).Within(FourDecimals), "ẏ with ẋ1 = 1, ẋ2 = 0");
            Assert.That(dy, Is.EqualTo(ExactDyDx1).Within(1e-12));
        });
    }

    [Test]
    public void JvpWithOtherSeedsGivesOtherPartialAndLinearCombinations()
    {
        var jvp = AD.Jvp(PaperArray);
        jvp(new double[] { 2, 5 }, new double[] { 0, 1 }, out double dx2);
        jvp(new double[] { 2, 5 }, new double[] { 3, -2 }, out double combination);
        Assert.Multiple(() =>
        {
            Assert.That(dx2, Is.EqualTo(PaperDyDx2).Within(FourDecimals));
            Assert.That(combination, Is.EqualTo(3 * ExactDyDx1 - 2 * ExactDyDx2).Within(1e-12));
        });
    }

    [Test]
    public void EvaluationTraceHasThePapersShape()
    {
        var trace = AD.Trace(Paper);
        Assert.Multiple(() =>
        {
            // Table 1: inputs v-1, v0; working variables v1 .. v5 (ln, ×, +, sin, -).
            Assert.That(trace.InputCount, Is.EqualTo(2));
            Assert.That(trace.WorkingVariableCount, Is.EqualTo(5));
            Assert.That(trace.InputNames, Is.EqualTo(new[] { "x1", "x2" }));
            Assert.That(trace.Evaluate(2, 5), Is.EqualTo(PaperY).Within(FourDecimals));
            Assert.That(trace.Evaluate(2, 5), Is.EqualTo(ExactY).Within(1e-12));
        });
    }

    [Test]
    public void ArrayFormTraceNamesItsInputsByElement()
    {
        var trace = AD.Trace(PaperArray);
        Assert.Multiple(() =>
        {
            Assert.That(trace.InputCount, Is.EqualTo(2));
            Assert.That(trace.WorkingVariableCount, Is.EqualTo(5));
            Assert.That(trace.InputNames, Is.EqualTo(new[] { "x[0]", "x[1]" }));
            Assert.That(trace.Evaluate(2, 5), Is.EqualTo(ExactY).Within(1e-12));
        });
    }

    // The golden texts below were checked line by line against the paper: v1 = ln 2 = 0.6931, v2 = 2 × 5 = 10,
    // v3 = 10.6931, v4 = sin 5 = -0.9589, v5 = y = 11.6521; tangents v̇1 = 1 × 1/2 = 0.5, v̇2 = 1 × 5 + 0 × 2 = 5,
    // v̇3 = 5.5, v̇4 = 0 × cos 5 = 0, ẏ = 5.5; adjoints v̄0 = -cos 5 + 2 = 1.7163, v̄-1 = 5 + 0.5 = 5.5.

    [Test]
    public void TraceListingIsGolden()
    {
        const string expected = """
        v-1  = x1
        v0   = x2
        v1   = ln v-1
        v2   = v-1 × v0
        v3   = v1 + v2
        v4   = sin v0
        v5   = v3 - v4
        y    = v5
        """;
        Assert.That(AD.Trace(Paper).ToString(), Is.EqualTo(expected.ReplaceLineEndings()));
    }

    [Test]
    public void ArrayFormListingDiffersOnlyInInputNames()
    {
        var scalar = AD.Trace(Paper).ToString();
        var array = AD.Trace(PaperArray).ToString();
        Assert.That(array, Is.EqualTo(scalar.Replace("= x1", "= x[0]").Replace("= x2", "= x[1]")));
    }

    [Test]
    public void ForwardTableIsGoldenTable1()
    {
        const string expected = """
        Forward primal trace                             Forward tangent trace
        v-1  = x1                           = 2.0000     v̇-1  = ẋ1                           = 1.0000
        v0   = x2                           = 5.0000     v̇0   = ẋ2                           = 0.0000
        v1   = ln v-1                       = 0.6931     v̇1   = v̇-1 × 0.5000                 = 0.5000
        v2   = v-1 × v0                     = 10.0000    v̇2   = v̇-1 × 5.0000 + v̇0 × 2.0000   = 5.0000
        v3   = v1 + v2                      = 10.6931    v̇3   = v̇1 + v̇2                      = 5.5000
        v4   = sin v0                       = -0.9589    v̇4   = v̇0 × 0.2837                  = 0.0000
        v5   = v3 - v4                      = 11.6521    v̇5   = v̇3 - v̇4                      = 5.5000
        y    = v5                           = 11.6521    ẏ    = v̇5                           = 5.5000
        """;
        Assert.That(AD.Trace(Paper).ForwardTable([2, 5], [1, 0]), Is.EqualTo(expected.ReplaceLineEndings()));
    }

    [Test]
    public void ReverseTableIsGoldenTable2()
    {
        const string expected = """
        Forward primal trace
        v-1  = x1                           = 2.0000
        v0   = x2                           = 5.0000
        v1   = ln v-1                       = 0.6931
        v2   = v-1 × v0                     = 10.0000
        v3   = v1 + v2                      = 10.6931
        v4   = sin v0                       = -0.9589
        v5   = v3 - v4                      = 11.6521
        y    = v5                           = 11.6521

        Reverse adjoint trace
        v̄5   = ȳ                            = 1.0000
        v̄3   = v̄5 × 1.0000                  = 1.0000
        v̄4   = v̄5 × -1.0000                 = -1.0000
        v̄0   = v̄4 × 0.2837                  = -0.2837
        v̄1   = v̄3 × 1.0000                  = 1.0000
        v̄2   = v̄3 × 1.0000                  = 1.0000
        v̄-1  = v̄2 × 5.0000                  = 5.0000
        v̄0   = v̄0 + v̄2 × 2.0000             = 1.7163
        v̄-1  = v̄-1 + v̄1 × 0.5000            = 5.5000
        x̄1   = v̄-1                          = 5.5000
        x̄2   = v̄0                           = 1.7163
        """;
        Assert.That(AD.Trace(Paper).ReverseTable([2, 5]), Is.EqualTo(expected.ReplaceLineEndings()));
    }

    [Test]
    public void ForwardTableWithSecondSeedEndsWithDyDx2()
    {
        var lines = AD.Trace(Paper).ForwardTable([2, 5], [0, 1]).ReplaceLineEndings("\n").Split('\n');
        Assert.That(lines[^1], Does.EndWith("= " + PaperDyDx2.ToString("F4", CultureInfo.InvariantCulture)));
        Assert.That(lines[^1], Does.Contain("ẏ"));
    }

    [Test]
    public void TablesPrintThePapersNumbersOnTheirLastLines()
    {
        // Independent of the golden layout: the last number of each table is the paper's result.
        var trace = AD.Trace(Paper);
        var forward = trace.ForwardTable([2, 5], [1, 0]).ReplaceLineEndings("\n").Split('\n');
        var reverse = trace.ReverseTable([2, 5]).ReplaceLineEndings("\n").Split('\n');
        Assert.Multiple(() =>
        {
            Assert.That(LastNumber(forward[^1]), Is.EqualTo(PaperDyDx1).Within(FourDecimals));
            Assert.That(LastNumber(reverse[^2]), Is.EqualTo(PaperDyDx1).Within(FourDecimals), reverse[^2]);
            Assert.That(LastNumber(reverse[^1]), Is.EqualTo(PaperDyDx2).Within(FourDecimals), reverse[^1]);
            Assert.That(reverse[^2], Does.StartWith("x̄1"));
            Assert.That(reverse[^1], Does.StartWith("x̄2"));
        });
    }

    private static double LastNumber(string line) =>
        double.Parse(line[(line.LastIndexOf('=') + 1)..].Trim(), CultureInfo.InvariantCulture);
}
