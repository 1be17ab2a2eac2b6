namespace ExprAD.Generators.Tests;

public class ScratchTests
{
    [Test]
    public void Print()
    {
        var (run, asm) = GeneratorHarness.GenerateAndLoad("""
            using System;
            using System.Linq;
            using ExprAD;
            namespace N;
            public static partial class H
            {
                private const double Half = 0.5;
                [Differentiable] public static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));
                [Differentiable] static double Soft(double z)
                {
                    var t = Math.Exp(z);
                    var u = t * t;
                    if (z > 30) return z;
                    double s = 0;
                    for (int i = 0; i < 3; i++) { var w = i * t; s += w * w; }
                    if (u > 2) s *= Half; else s += 1;
                    return Math.Log(1 + t) + s + u + Sigmoid(z);
                }
            }
            """);
        TestContext.Out.WriteLine(run.Text);
        var body = GeneratorHarness.Registered(asm, "N.H", "Soft");
        TestContext.Out.WriteLine(body);
        var method = GeneratorHarness.Method(asm, "N.H", "Soft");
        var f = System.Linq.Expressions.Expression.Parameter(typeof(double), "q");
        var lambda = System.Linq.Expressions.Expression.Lambda<Func<double, double>>(System.Linq.Expressions.Expression.Call(method, f), f);
        var d = AD.Derivative(lambda);
        foreach (var x in new[] { -1.0, 0.3, 2.0, 40 })
        {
            double h = 1e-6;
            double fd = ((double)method.Invoke(null, [x + h])! - (double)method.Invoke(null, [x - h])!) / (2 * h);
            TestContext.Out.WriteLine($"{x}: {d(x)} vs {fd}; value {((Func<double,double>)body.Compile())(x)} vs {method.Invoke(null, [x])}");
        }
        TestContext.Out.WriteLine(AD.Trace(lambda));
    }
}
