using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;

namespace ExprAD.Generators.Tests;

/// <summary>
/// Every build error of the generator, with its location: the source of each case marks where each error must be, with
/// <c>/*@*/</c> for the error the test is about or <c>/*!EXPRADnnn*/</c> for another (markers are removed before compiling), so
/// that the expected line and column are where the marker was. The user's code is valid C# in every case (the compiler reports
/// nothing), and a method with an error is not registered.
/// </summary>
[TestFixture]
public partial class DiagnosticTests
{
    private const string Header = "using System;\nusing System.Linq;\nusing ExprAD;\nnamespace N;\n";

    [GeneratedRegex(@"/\*(@|!EXPRAD\d{3})\*/")]
    private static partial Regex Marker();

    /// <summary>Runs the generator on <paramref name="members"/> (inside `public static partial class H`, unless a whole
    /// source is given) and checks that exactly the marked places have the marked diagnostics.</summary>
    private static GeneratorHarness.Run Expect(string id, string members, bool wholeSource = false)
    {
        var source = Header + (wholeSource ? members : "public static partial class H\n{\n" + members + "\n}\n");
        var expected = new List<string>();
        var text = new System.Text.StringBuilder();
        int line = 1, column = 1, at = 0;
        foreach (Match marker in Marker().Matches(source))
        {
            Advance(source[at..marker.Index]);
            expected.Add($"{(marker.Groups[1].Value == "@" ? id : marker.Groups[1].Value[1..])} {line}:{column}");
            at = marker.Index + marker.Length;
        }
        Advance(source[at..]);
        void Advance(string part)
        {
            text.Append(part);
            foreach (char c in part)
                if (c == '\n') { line++; column = 1; }
                else column++;
        }
        var run = GeneratorHarness.Generate(text.ToString());
        Assert.That(run.CompilerErrors, Is.Empty, () => "the user's code should compile: " + string.Join("\n", run.CompilerErrors));
        Assert.That(run.Positions, Is.EquivalentTo(expected), () => string.Join("\n", run.Reported));
        Assert.That(run.Reported.All(d => d.Severity == DiagnosticSeverity.Error), Is.True);
        return run;
    }

    private static string Message(GeneratorHarness.Run run, int k = 0) => run.Reported[k].GetMessage(System.Globalization.CultureInfo.InvariantCulture);

    private static IEnumerable<string> Messages(GeneratorHarness.Run run) => run.Reported.Select(d => d.GetMessage(System.Globalization.CultureInfo.InvariantCulture));

    [TestCase("/*@*/while (x > 1) x /= 2;", "a while loop; use a for loop over a range")]
    [TestCase("/*@*/foreach (var v in new[] { 1.0 }) x += v;", "a foreach loop")]
    [TestCase("/*@*/switch (x) { case 1: return 2; }", "a switch statement; write if/else")]
    [TestCase("/*@*/try { x = 1; } finally { }", "a try statement")]
    [TestCase("/*@*/Console.WriteLine(x);", "only assignments to locals can be statements")]
    [TestCase("/*@*/double Twice(double v) => 2 * v;", "a local function")]
    [TestCase("if (x > 1) /*@*/throw new ArgumentException();", "a throw statement")]
    public void EXPRAD001_unsupported_statements(string statement, string why)
    {
        var run = Expect("EXPRAD001", $"[Differentiable] static double F(double x)\n{{\n    {statement}\n    return x;\n}}");
        Assert.That(Message(run), Does.Contain("cannot be turned into an expression").And.Contain(why));
        Assert.That(run.Generated, Is.Empty);
    }

    [Test]
    public void EXPRAD001_assigning_an_array_element()
    {
        var run = Expect("EXPRAD001", "[Differentiable] static double F(double[] a)\n{\n    /*@*/a[0] = 1;\n    return a[0];\n}");
        Assert.That(Message(run), Does.Contain("`a[0] = 1`").And.Contain("only locals can be assigned, not `a[0]`"));
    }

    [Test]
    public void EXPRAD002_every_expression_an_expression_tree_cannot_hold_is_reported()
    {
        var run = Expect("EXPRAD002", """
            [Differentiable] static double F(double x, double[] a, string? s)
            {
                double y = 0;
                var b = /*@*/x switch { > 0 => 1.0, _ => 2.0 };
                var c = /*@*/x is > 0 and < 1 ? 1.0 : 0.0;
                var d = /*@*/s?.Length ?? 0;
                var e = a[/*@*/^1];
                var f = /*@*/(x, x).Item1;
                double[] g = /*@*/[1.0, 2.0];
                Func<double, double> h = /*@*/v => { return v; };
                var k = (/*@*/y = x) + 1;
                var m = double.TryParse(s, /*@*/out /*@*/var parsed) ? parsed : 0;
                var n = /*@*/Local(x) + a.Select(/*@*/Math.Sqrt).Sum() + a.Select(/*@*/Twice).Sum() + nameof(Twice).Length;
                return b + c + d + e + f + g[0] + h(1) + k + m + n + (x > 0 ? x : /*@*/throw new ArgumentException());
                /*!EXPRAD001*/static double Local(double v) => v;
            }
            static double Twice(double v) => 2 * v;
            """);
        Assert.That(Messages(run), Has.Some.Contains("`x switch { > 0 => 1.0, _ => 2.0 }` cannot be part of an expression tree: a switch expression; write `?:`"));
        Assert.That(Messages(run), Has.Some.Contains("a call of the local function `Local`"));
        Assert.That(Messages(run), Has.Some.Contains("a ref, out or in argument"));
        Assert.That(Messages(run), Has.Some.Contains("`Twice` cannot be part of an expression tree: a method used as a delegate; write a lambda"));
        Assert.That(run.Generated, Is.Empty);
    }

    [Test]
    public void EXPRAD003_direct_recursion()
    {
        var run = Expect("EXPRAD003", "[Differentiable] static double Halve(double x) => x > 1 ? /*@*/Halve(x / 2) : x;");
        Assert.That(Message(run), Is.EqualTo(
            "[Differentiable] method `H.Halve` is recursive (H.Halve -> H.Halve): ExprAD inlines a [Differentiable] method where it is called, so it cannot call itself, directly or through other [Differentiable] methods"));
        Assert.That(run.Generated, Is.Empty);
    }

    [Test]
    public void EXPRAD003_mutual_recursion_is_reported_on_every_method_of_the_cycle()
    {
        var run = Expect("EXPRAD003", """
            [Differentiable] static double A(double x) => x < 0 ? x : /*@*/B(x - 1);
            [Differentiable] static double B(double x) => 2 * /*@*/C(x);
            [Differentiable] static double C(double x) => H.Other.Plain(x) + /*@*/A(x);
            [Differentiable] static double Caller(double x) => A(x) + 1;
            public static partial class Other
            {
                [Differentiable] public static double Plain(double x) => x * x;
            }
            """);
        Assert.That(Messages(run), Has.Some.Contains("(H.A -> H.B -> H.C -> H.A)"));
        Assert.That(Messages(run), Has.Some.Contains("(H.C -> H.A -> H.B -> H.C)"));
        // Methods off the cycle are registered: the one that calls into it, and the one the cycle calls.
        Assert.That(run.Generated, Has.Count.EqualTo(2));
        Assert.That(run.Text, Does.Contain("GetMethod(\"Caller\"").And.Contain("GetMethod(\"Plain\""));
    }

    [TestCase("[Differentiable] public double /*@*/F(double x) => x;", "is not static")]
    [TestCase("[Differentiable] public static T /*@*/F<T>(T x) => x;", "is generic")]
    [TestCase("[Differentiable] public static double /*@*/F(ref double x) => x;", "has the ref, out or in parameter `x`")]
    [TestCase("[Differentiable] public static void /*@*/F(double x) { }", "returns nothing")]
    [TestCase("[Differentiable] public static double /*@*/F(ReadOnlySpan<double> x) => x[0];", "which an expression tree cannot hold")]
    public void EXPRAD004_methods_that_cannot_be_registered(string member, string why)
    {
        var run = Expect("EXPRAD004", "public partial class H\n{\n" + member + "\n}\n", wholeSource: true);
        Assert.That(Message(run), Does.StartWith("[Differentiable] method `H.F` ").And.Contain(why));
    }

    [Test]
    public void EXPRAD004_a_method_of_a_generic_type()
    {
        var run = Expect("EXPRAD004", "public static partial class G<T>\n{\n[Differentiable] public static double /*@*/F(double x) => x;\n}\n", wholeSource: true);
        Assert.That(Message(run), Does.Contain("is in the generic type `G`"));
    }

    [TestCase("for (int i = 0; i < n; /*@*/i += 2) s += i;", "it must step by one")]
    [TestCase("for (int i = 0; /*@*/i != n; i++) s += i;", "its condition must compare the index with a bound")]
    [TestCase("for (int i = 0; i < /*@*/2.5; i++) s += i;", "its bound is not an int")]
    [TestCase("for (int i = 0; i < n; i++) s += /*@*/s * i;", "its body reads `s`, which it adds to")]
    [TestCase("for (int i = 0; i < n; i++) /*@*/s = i;", "does more than add to `s`")]
    [TestCase("for (int i = 0; i < n; i++) { /*@*/if (i > 2) return s; s += i; }", "its body returns")]
    [TestCase("for (int i = 0; i < n; i++) { /*@*/i++; s += i; }", "its body assigns the index `i`")]
    [TestCase("for (int i = 0; i < (int)/*@*/s; i++) s += i;", "its bound reads `s`")]
    [TestCase("/*@*/for (int i = 0, j = 1; i < n; i++) s += j;", "it must declare one int index")]
    [TestCase("for (int i = 0; i < n; i++) /*@*/count += 1;", "it adds into `count`, which is not a double")]
    public void EXPRAD005_loops_that_are_not_sums(string loop, string why)
    {
        var run = Expect("EXPRAD005", $"[Differentiable] static double F(int n)\n{{\n    double s = 0;\n    int count = 0;\n    {loop}\n    return s + count;\n}}");
        Assert.That(Message(run), Does.StartWith("This for loop cannot become a sum: ").And.Contain(why));
        Assert.That(run.Generated, Is.Empty);
    }

    [Test]
    public void EXPRAD006_a_private_member_of_a_class_that_is_not_partial()
    {
        var run = Expect("EXPRAD006", """
            public static class Model
            {
                private static double Scale = 2;
                private static double Twice(double v) => 2 * v;
                private const double Rate = 0.5;
                [Differentiable] public static double F(double x) => /*@*/Scale * /*@*/Twice(x) + Rate;
            }
            """, wholeSource: true);
        Assert.That(Message(run), Is.EqualTo(
            "`Model.Scale` is not accessible outside `Model`, where the code ExprAD generates for `Model.F` is: make it internal or public, or declare `Model` partial (and the types that contain it, none of them private or protected)"));
    }

    [Test]
    public void A_private_nested_type_is_reached_from_the_generated_code_only_when_partial()
    {
        // Private types cannot hold the module initializer: the registration goes outside, where a private member is out of reach.
        Expect("EXPRAD006", """
            public partial class Outer
            {
                private partial class Inner
                {
                    private static double Scale = 2;
                    [Differentiable] public static double /*@*/F(double x) => /*@*/Scale * x;
                }
            }
            public static class Plain
            {
                private sealed class Secret { public double V = 1; }
                [Differentiable] private static double G(double x, Secret /*@*/s) => x * s./*@*/V;
            }
            """, wholeSource: true);
    }

    [Test]
    public void EXPRAD004_a_local_function()
    {
        var run = Expect("EXPRAD004", """
            [Differentiable] static double F(double x)
            {
                return /*!EXPRAD002*/Twice(x);
                /*!EXPRAD001*/[Differentiable] static double /*@*/Twice(double v) => 2 * v;
            }
            """);
        Assert.That(Messages(run), Has.Some.Contains("is a local function"));
    }
}
