using System.Linq.Expressions;
using System.Reflection;

namespace ExprAD.Generators.Tests;

/// <summary>
/// What the generator makes of each statement form: the expression it writes (checked in the generated source), that the
/// generated source compiles, and that the registered expression computes what the method computes (both run on the same
/// inputs: the method as compiled C#, the expression compiled from its tree).
/// </summary>
[TestFixture]
public class StatementFormTests
{
    private const string Usings = "using System;\nusing System.Linq;\nusing ExprAD;\n";

    /// <summary>Generates a class H holding <paramref name="members"/>, loads it, and returns the generated text and the assembly.</summary>
    private static (string Text, Assembly Assembly) Generate(string members, string modifiers = "public static partial")
    {
        var (run, assembly) = GeneratorHarness.GenerateAndLoad(Usings + "namespace N;\n" + modifiers + " class H\n{\n" + members + "\n}\n");
        return (run.Text, assembly);
    }

    /// <summary>The registered expression of H.<paramref name="name"/> and the method agree on every row of arguments.</summary>
    private static void AgreesWithMethod(Assembly assembly, string name, params object[][] rows)
    {
        var body = GeneratorHarness.Registered(assembly, "N.H", name).Compile();
        var method = GeneratorHarness.Method(assembly, "N.H", name);
        foreach (var row in rows)
        {
            var expected = method.Invoke(null, row);
            var actual = body.DynamicInvoke(row);
            if (expected is double e) Assert.That((double)actual!, Is.EqualTo(e).Within(1e-12).Percent, $"{name}({string.Join(", ", row)})");
            else Assert.That(actual, Is.EqualTo(expected), $"{name}({string.Join(", ", row)})");
        }
    }

    /// <summary>The body of the lambda registered for <paramref name="method"/>, as generated.</summary>
    private static string Body(string text, string method)
    {
        int at = text.IndexOf($"GetMethod(\"{method}\",", StringComparison.Ordinal);
        Assert.That(at, Is.GreaterThanOrEqualTo(0), $"no registration of {method}");
        int start = text.IndexOf(") =>\n", at, StringComparison.Ordinal) + 5;
        int end = text.IndexOf("));\n", start, StringComparison.Ordinal);
        return text[start..end].Trim();
    }

    private static object[][] Doubles(params double[] values) => values.Select(v => new object[] { v }).ToArray();

    [Test]
    public void An_expression_body_is_the_lambda_body()
    {
        var (text, assembly) = Generate("[Differentiable] public static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));");
        Assert.That(text, Does.Contain("(global::System.Linq.Expressions.Expression<global::System.Func<double, double>>)((z) =>"));
        Assert.That(Body(text, "Sigmoid"), Is.EqualTo("1 / (1 + global::System.Math.Exp(-z))"));
        Assert.That(text, Does.Contain("[global::System.Runtime.CompilerServices.ModuleInitializer]"));
        AgreesWithMethod(assembly, "Sigmoid", Doubles(-3, 0, 0.5, 20));
    }

    [Test]
    public void A_local_read_once_is_substituted_with_the_conversion_of_its_declaration()
    {
        var (text, assembly) = Generate("""
            [Differentiable] public static double F(double z)
            {
                double one = 1;
                var t = Math.Sin(z);
                return one / 2 + t;
            }
            """);
        // `one` is a double: substituted as the int literal it was written, `one / 2` would be integer division.
        Assert.That(Body(text, "F"), Is.EqualTo("((double)1) / 2 + global::System.Math.Sin(z)"));
        AgreesWithMethod(assembly, "F", Doubles(0.3, -2));
    }

    [Test]
    public void A_local_read_several_times_is_bound_once()
    {
        var (text, assembly) = Generate("""
            [Differentiable] public static double F(double z)
            {
                var e = Math.Exp(z);
                return e * e + e;
            }
            """);
        Assert.That(Body(text, "F"), Is.EqualTo("global::ExprAD.ExpressionInvoke.Invoke<double, double>((double e) => e * e + e, global::System.Math.Exp(z))"));
        AgreesWithMethod(assembly, "F", Doubles(0.3, -2));
    }

    [Test]
    public void If_else_with_returns_becomes_a_conditional_over_the_rest()
    {
        var (text, assembly) = Generate("""
            [Differentiable] public static double F(double z)
            {
                if (z > 30) return z;
                if (z < -30) { return 0; } else { var y = z * z; return Math.Log(1 + Math.Exp(z)) + y; }
            }
            """);
        Assert.That(Body(text, "F"), Is.EqualTo("(z > 30) ? z : ((z < -30) ? ((double)0) : (global::System.Math.Log(1 + global::System.Math.Exp(z)) + (z * z)))"));
        AgreesWithMethod(assembly, "F", Doubles(-40, -1, 0.5, 40));
    }

    [Test]
    public void If_else_that_assigns_makes_each_local_a_choice()
    {
        var (text, assembly) = Generate("""
            [Differentiable] public static double F(double x)
            {
                double y = x, w = 1;
                if (x < 0) { y = -x; w = 2; }
                else if (x < 1) y = x * x;
                return y * w;
            }
            """);
        Assert.That(Body(text, "F"), Is.EqualTo("((x < 0) ? (-x) : ((x < 1) ? (x * x) : x)) * ((x < 0) ? ((double)2) : ((double)1))"));
        AgreesWithMethod(assembly, "F", Doubles(-2, 0.5, 3));
    }

    [Test]
    public void A_for_loop_adding_into_a_local_becomes_a_sum()
    {
        var (text, assembly) = Generate("""
            [Differentiable] public static double F(double[] x)
            {
                double s = 0;
                for (int i = 0; i < x.Length; i++) s += x[i] * x[i];
                return s;
            }
            """);
        Assert.That(Body(text, "F"), Is.EqualTo("global::System.Linq.Enumerable.Sum(global::System.Linq.Enumerable.Range(0, x.Length), (int i) => x[i] * x[i])"));
        AgreesWithMethod(assembly, "F", [[new[] { 1.0, -2, 3 }], [Array.Empty<double>()]]);
    }

    [Test]
    public void Loop_bounds_count_as_the_loop_runs()
    {
        // From a start other than 0, or to an inclusive bound, the count is b - a (+ 1), and zero when that is negative.
        var (text, assembly) = Generate("""
            [Differentiable] public static double F(double x, int a, int b)
            {
                double s = 1;
                for (int i = a; i <= b; ++i) s += i * x;
                for (int k = 2; k < 5; k += 1) s -= k;
                return s;
            }
            """);
        Assert.That(text, Does.Contain("global::System.Linq.Enumerable.Range(a, (b >= a ? (b - a) + 1 : 0))"));
        Assert.That(text, Does.Contain("global::System.Linq.Enumerable.Range(2, 3)"));
        Assert.That(text, Does.Contain("(int k) => (-((double)k))"), "int contributions are converted: the sum adds doubles");
        AgreesWithMethod(assembly, "F", [[1.5, 2, 5], [1.5, 5, 2], [0.5, -3, -3]]);
    }

    [Test]
    public void Nested_loops_with_locals_and_conditions_inside_become_nested_sums()
    {
        var (text, assembly) = Generate("""
            [Differentiable] public static double F(double[] x, double[][] m)
            {
                double quadratic = 0, positive = 0;
                for (int i = 0; i < x.Length; i++)
                {
                    double row = 0;
                    for (int j = 0; j < x.Length; j++) row += m[i][j] * x[j];
                    quadratic += x[i] * row;
                    if (row > 0) positive += row; else positive -= 0.5 * row;
                }
                return quadratic + positive;
            }
            """);
        // `row`, read three times, is bound once in each sum that reads it (one sum per local the loop adds into).
        const string row = "global::System.Linq.Enumerable.Sum(global::System.Linq.Enumerable.Range(0, x.Length), (int j) => m[i][j] * x[j])";
        Assert.That(Body(text, "F"), Is.EqualTo(
            "global::System.Linq.Enumerable.Sum(global::System.Linq.Enumerable.Range(0, x.Length), (int i) => global::ExprAD.ExpressionInvoke.Invoke<double, double>((double row) => x[i] * row, " + row + ")) + " +
            "global::System.Linq.Enumerable.Sum(global::System.Linq.Enumerable.Range(0, x.Length), (int i) => global::ExprAD.ExpressionInvoke.Invoke<double, double>((double row) => ((row > 0) ? row : (-(0.5 * row))), " + row + "))"));
        double[][] matrix = [[1, -2], [0.5, 3]];
        AgreesWithMethod(assembly, "F", [[new[] { 1.0, 2 }, matrix], [new[] { -1.0, 0.25 }, matrix]]);
    }

    [Test]
    public void Compound_assignments_increments_and_a_reassigned_parameter()
    {
        var (text, assembly) = Generate("""
            [Differentiable] public static double F(double x, int n)
            {
                x = x * 2;
                n++;
                n *= 3;
                double y = x;
                y /= n;
                y -= 0.25;
                int k = 7;
                k /= 2;
                return y * k;
            }
            """);
        Assert.That(Body(text, "F"), Is.EqualTo("(((x * 2) / ((n + 1) * 3)) - 0.25) * (7 / 2)"), "each local read once: all substituted");
        AgreesWithMethod(assembly, "F", [[1.5, 1], [-2.0, 4]]);
    }

    [Test]
    public void Names_are_qualified_constants_written_and_extension_methods_called_statically()
    {
        var (text, assembly) = Generate("""
            private const double Rate = 0.5;
            internal static double Offset = 2;
            [Differentiable] public static double Helper(double z) => z * Rate;
            [Differentiable] public static double F(double[] x) => Helper(x.Sum()) + Offset + Math.PI + x.Select(v => v * v).Sum();
            """);
        Assert.That(text, Does.Contain("global::N.H.Helper(global::System.Linq.Enumerable.Sum(x)) + global::N.H.Offset + 3.141592653589793D"));
        Assert.That(text, Does.Contain("global::System.Linq.Enumerable.Sum(global::System.Linq.Enumerable.Select(x, v => v * v))"));
        Assert.That(Body(text, "Helper"), Is.EqualTo("z * 0.5D"), "a private constant is written as its value");
        AgreesWithMethod(assembly, "F", [[new[] { 1.0, 2, 3 }]]);
    }

    [Test]
    public void Lambda_parameters_are_renamed_so_that_a_substituted_local_is_not_captured()
    {
        // `k` is read in the lambda, and its value reads the parameter `z`, which the lambda's own `z` would capture.
        var (text, assembly) = Generate("""
            [Differentiable] public static double F(double z, double[] xs)
            {
                var k = z * 3;
                return xs.Sum(z => z * k);
            }
            """);
        Assert.That(Body(text, "F"), Is.EqualTo("global::System.Linq.Enumerable.Sum(xs, z_2 => z_2 * (z * 3))"));
        AgreesWithMethod(assembly, "F", [[2.0, new[] { 1.0, 2.0 }]]);
    }

    [Test]
    public void Bool_int_array_and_data_parameters()
    {
        var (_, assembly) = Generate("""
            public sealed class Data { public double Scale = 3; public int[] Index = [1, 0]; }
            [Differentiable] public static double F(double[] w, bool flip, int k, Data d)
            {
                var v = w[d.Index[k]] * d.Scale;
                return flip ? -v : v;
            }
            """);
        var data = Activator.CreateInstance(assembly.GetType("N.H+Data")!)!;
        AgreesWithMethod(assembly, "F", [[new[] { 1.5, 2.5 }, true, 0, data], [new[] { 1.5, 2.5 }, false, 1, data]]);
    }

    [Test]
    public void A_class_that_is_not_partial_gets_a_registration_class_of_its_own()
    {
        var (text, assembly) = Generate("[Differentiable] public static double F(double z) => z * z;", modifiers: "public static");
        Assert.That(text, Does.Contain("namespace ExprAD.Generated"));
        Assert.That(text, Does.Contain("typeof(global::N.H).GetMethod(\"F\""));
        AgreesWithMethod(assembly, "F", Doubles(3));
    }

    [Test]
    public void Partial_types_of_every_kind_reach_private_members()
    {
        var (run, assembly) = GeneratorHarness.GenerateAndLoad(Usings + """
            namespace N;
            public partial class Outer
            {
                internal partial record struct Inner
                {
                    private static double Scale => 2;
                    [Differentiable] private static double F(double z) => Scale * z;
                }
            }
            public sealed partial class Plain
            {
                private static readonly double[] Table = [1, 2];
                [Differentiable] internal static double G(double z) => Table[1] * z;
            }
            """);
        Assert.That(run.Text, Does.Contain("partial record struct Inner").And.Contain("partial class Plain"));
        var f = GeneratorHarness.Registered(assembly, "N.Outer+Inner", "F").Compile();
        Assert.That(f.DynamicInvoke(1.5), Is.EqualTo(3.0));
        var g = GeneratorHarness.Registered(assembly, "N.Plain", "G").Compile();
        Assert.That(g.DynamicInvoke(1.5), Is.EqualTo(3.0));
    }

    [Test]
    public void A_type_declared_in_several_parts_is_reopened_with_their_modifiers()
    {
        var (run, assembly) = GeneratorHarness.GenerateAndLoad(Usings + """
            namespace N;
            public partial class Parts { }
            public static partial class Parts
            {
                [Differentiable] internal static double F(double z) => z / 2;
            }
            public readonly partial struct Value
            {
                [Differentiable] public static double G(double z) => -z;
            }
            """);
        Assert.That(run.Text, Does.Contain("static partial class Parts").And.Contain("readonly partial struct Value"));
        Assert.That(GeneratorHarness.Registered(assembly, "N.Parts", "F").Compile().DynamicInvoke(3.0), Is.EqualTo(1.5));
        Assert.That(GeneratorHarness.Registered(assembly, "N.Value", "G").Compile().DynamicInvoke(3.0), Is.EqualTo(-3.0));
    }

    [Test]
    public void Code_that_does_not_compile_yet_is_left_to_the_compiler()
    {
        // While a method is being typed its symbols are missing: the generator must neither fail nor report anything.
        var run = GeneratorHarness.Generate(Usings + "namespace N;\npublic static partial class H\n{\n" +
            "[Differentiable] public static double F(double z) { var t = Undefined(z); for (int i = 0; i < t; i++) z += i; return q; }\n}\n");
        Assert.That(run.Reported, Is.Empty);
        Assert.That(run.CompilerErrors, Is.Not.Empty);
    }

    [Test]
    public void Overloads_are_registered_each_with_its_own_body()
    {
        var (_, assembly) = Generate("""
            [Differentiable] public static double F(double z) => z + 1;
            [Differentiable] public static double F(double z, double w) => z * w;
            """);
        var type = assembly.GetType("N.H")!;
        var one = type.GetMethod("F", [typeof(double)])!;
        var two = type.GetMethod("F", [typeof(double), typeof(double)])!;
        Assert.That(DifferentiableRegistry.TryGetBody(one, out var b1) && b1!.Compile().DynamicInvoke(2.0) is 3.0, Is.True);
        Assert.That(DifferentiableRegistry.TryGetBody(two, out var b2) && b2!.Compile().DynamicInvoke(2.0, 4.0) is 8.0, Is.True);
    }
}
