using System.Linq.Expressions;
using System.Reflection;

namespace ExprAD.Generators.Tests;

/// <summary>
/// The runtime side of registration: a module whose initializer has not run yet is initialized when ExprAD meets one of its
/// [Differentiable] methods; a method marked but never registered (the generator not referenced) gets a message saying so;
/// and <see cref="DifferentiableRegistry.Register"/> checks what it is given.
/// </summary>
[TestFixture]
public class RegistrationTests
{
    private const string Source = """
        using System;
        using ExprAD;
        namespace N;
        public static partial class H
        {
            [Differentiable] public static double Square(double z) => z * z;
            [Differentiable] public static double Cube(double z) => z * Square(z);
            public static double Plain(double z, double w) => z * w;
        }
        """;

    private static Expression<Func<double, double>> Calling(MethodInfo method)
    {
        var z = Expression.Parameter(typeof(double), "z");
        return Expression.Lambda<Func<double, double>>(Expression.Add(Expression.Call(method, z), z), z);
    }

    [Test]
    public void A_module_not_yet_initialized_is_initialized_when_its_method_is_met()
    {
        var assembly = GeneratorHarness.GenerateAndLoad(Source).Run.Load(initialize: false);
        var cube = GeneratorHarness.Method(assembly, "N.H", "Cube");
        Assert.That(DifferentiableRegistry.IsRegistered(cube), Is.False, "nothing of the module has run");
        var d = AD.Derivative(Calling(cube));
        Assert.That(d(2), Is.EqualTo(3 * 4 + 1));
        Assert.That(DifferentiableRegistry.IsRegistered(cube), Is.True);
    }

    [Test]
    public void A_marked_method_without_the_generator_says_to_reference_it()
    {
        var assembly = GeneratorHarness.Generate(Source, withGenerator: false).Load();
        var square = GeneratorHarness.Method(assembly, "N.H", "Square");
        var e = Assert.Throws<NotSupportedException>(() => AD.Derivative(Calling(square)))!;
        Assert.That(e.Message, Does.Contain("no derivative rule for `H.Square(Double)`; it is marked [Differentiable], but no body was registered for it: reference the ExprAD.Generators analyzer"));
    }

    [Test]
    public void Register_checks_its_arguments()
    {
        var assembly = GeneratorHarness.Generate(Source, withGenerator: false).Load();
        var plain = GeneratorHarness.Method(assembly, "N.H", "Plain");
        Expression<Func<double, double, double>> body = (z, w) => z * w;
        Expression<Func<double, double>> wrongArity = z => z;
        Expression<Func<double, double, double>> other = (z, w) => w * z;
        Assert.Throws<ArgumentNullException>(() => DifferentiableRegistry.Register(null!, body));
        Assert.Throws<ArgumentNullException>(() => DifferentiableRegistry.Register(plain, null!));
        Assert.Throws<ArgumentException>(() => DifferentiableRegistry.Register(plain, wrongArity));
        Assert.Throws<ArgumentException>(() => DifferentiableRegistry.Register(typeof(string).GetMethod(nameof(string.Trim), Type.EmptyTypes)!, wrongArity));
        // The first body stands; the same body again is harmless, another one is refused (kernels compiled with the first exist).
        DifferentiableRegistry.Register(plain, body);
        DifferentiableRegistry.Register(plain, body);
        Assert.Throws<InvalidOperationException>(() => DifferentiableRegistry.Register(plain, other));
        // A registered method without the attribute is inlined all the same.
        var w = Expression.Parameter(typeof(double[]), "x");
        var call = Expression.Lambda<Func<double[], double>>(
            Expression.Call(plain, Expression.ArrayIndex(w, Expression.Constant(0)), Expression.ArrayIndex(w, Expression.Constant(1))), w);
        double[] x = [3, 5], gradient = new double[2];
        Assert.That(AD.Gradient(call)(x, gradient), Is.EqualTo(15));
        Assert.That(gradient, Is.EqualTo(new[] { 5.0, 3.0 }));
    }

    [Test]
    public void Registration_and_lookup_from_many_threads_agree()
    {
        // Threads race to meet the methods of a module whose initializer has not run: each must find the bodies.
        var assembly = GeneratorHarness.GenerateAndLoad(Source).Run.Load(initialize: false);
        var cube = GeneratorHarness.Method(assembly, "N.H", "Cube");
        var results = new double[64];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => results[i] = AD.Derivative(Calling(cube))(i));
        for (int i = 0; i < results.Length; i++) Assert.That(results[i], Is.EqualTo(3.0 * i * i + 1));
    }
}
