using System.Linq.Expressions;
using NUnit.Framework;
using static ExprAD.Tests.Oracles.FiniteDifferences;

namespace ExprAD.Tests.Oracles;

/// <summary>Checks a lambda's derivatives in both modes against finite differences of an independent, hand-written function.</summary>
internal static class BothModes
{
    /// <summary>
    /// Asserts that reverse mode's value equals <paramref name="hand"/>(x) within <paramref name="relative"/>, and that every
    /// partial, from reverse mode (<see cref="AD.Gradient(Expression{Func{double[], double}}, ADOptions?)"/>) and from forward mode
    /// (<see cref="AD.Jvp"/> along each unit direction), agrees with central differences of <paramref name="hand"/>.
    /// Returns the reverse-mode gradient.
    /// </summary>
    public static double[] AgreeWithFiniteDifferences(Expression<Func<double[], double>> f, Func<double[], double> hand, double[] x,
        double relative, string label = "")
    {
        var g = new double[x.Length];
        Assert.That(AD.Gradient(f)(x, g), Is.EqualTo(hand(x)).Within(RelativeTolerance(hand(x), relative)), label);
        var forward = AD.Jvp(f);
        for (int k = 0; k < x.Length; k++)
        {
            var fd = Partial(hand, x, k);
            Assert.That(Agrees(g[k], fd), $"{label}reverse ∂/∂x{k}: {g[k]:R} vs {fd}");
            var direction = new double[x.Length];
            direction[k] = 1;
            forward(x, direction, out double dk);
            Assert.That(Agrees(dk, fd), $"{label}forward ∂/∂x{k}: {dk:R} vs {fd}");
        }
        return g;
    }
}
