using System.Linq.Expressions;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// Derivatives taken inside lambdas (AD.Diff, AD.Grad), differentiated again by the outer request: Siskind and
/// Pearlmutter's perturbation-confusion test, three levels of nesting, gradients inside gradients and Hessians, a
/// gradient-descent step inside an Aggregate, against closed forms and finite differences.
/// </summary>
[TestFixture]
public class NestedDerivativeTests
{
    [Test]
    public void NoPerturbationConfusion()
    {
        // d/dx [x · d/dy (x + y)] = d/dx [x · 1] = 1 everywhere (a confused implementation gives 2).
        var f = AD.Derivative(x => x * AD.Diff(y => x + y, 1.0));
        foreach (double x in new[] { -2.0, 0.0, 0.5, 3.0 }) Assert.That(f(x), Is.EqualTo(1.0));
        // The same with the inner point depending on x: d/dx [x · d/dy (x y)|_{y=x}] = d/dx [x · x] = 2x.
        var g = AD.Derivative(x => x * AD.Diff(y => x * y, x));
        Assert.That(g(1.5), Is.EqualTo(3.0));
    }

    [Test]
    public void ThreeLevels()
    {
        // h(x) = d/dy [ y · d/dz (x y z²) |_{z=y} ] |_{y=x} = d/dy [ y · 2 x y y ] = d/dy [2 x y³] = 6 x y² at y = x: 6 x³.
        Expression<Func<double, double>> h = x => AD.Diff(y => y * AD.Diff(z => x * y * z * z, y), x);
        var value = h.Compile();
        Assert.That(() => value(1.0), Throws.InvalidOperationException.With.Message.Contains("AD.Derivative"), "called outside ExprAD");
        var d0 = AD.Derivative(h, 1);
        // d/dx of h(x) = 6x³ is 18 x², and the value itself through a second-order request: d²/dx² = 36 x.
        foreach (double x in new[] { -1.1, 0.4, 2.0 })
        {
            Assert.That(d0(x), Is.EqualTo(18 * x * x).Within(1e-12 * Math.Max(1, 18 * x * x)));
            Assert.That(AD.Derivative(h, 2)(x), Is.EqualTo(36 * x).Within(1e-11 * Math.Max(1, Math.Abs(36 * x))));
        }
    }

    [Test]
    public void NestedDiffInsideGradientAndHessian()
    {
        // f(x) = x0 · d/dt [sin(t x1)]|_{t = x0} = x0 x1 cos(x0 x1).
        Expression<Func<double[], double>> f = x => x[0] * AD.Diff(t => Math.Sin(t * x[1]), x[0]);
        var point = new[] { 0.7, -1.3 };
        var gradient = new double[2];
        double value = AD.Gradient(f)(point, gradient);
        double u = point[0] * point[1];
        Assert.That(value, Is.EqualTo(u * Math.Cos(u)).Within(1e-15));
        // ∂/∂x0 = x1 cos u - x0 x1² sin u, ∂/∂x1 = x0 cos u - x0² x1 sin u.
        Assert.That(gradient[0], Is.EqualTo(point[1] * Math.Cos(u) - point[0] * point[1] * point[1] * Math.Sin(u)).Within(1e-14));
        Assert.That(gradient[1], Is.EqualTo(point[0] * Math.Cos(u) - point[0] * point[0] * point[1] * Math.Sin(u)).Within(1e-14));
        var h = new double[4];
        AD.Hessian(f)(point, new double[2], h);
        AssertMatchesDifferences(p => { var g = new double[2]; AD.Gradient(f)(p, g); return g; }, point, h);
    }

    [Test]
    public void GradInsideALambda()
    {
        // The gradient of q(v) = Σ v_i² / 2 + v0 v1 at v = x is (x0 + x1, x1 + x0, x2, ...); the outer function is its norm².
        Expression<Func<double[], double>> f = x => AD.Grad(v => 0.5 * v.Sum(e => e * e) + v[0] * v[1], x).Sum(g => g * g);
        var point = new[] { 0.3, -0.7, 1.2, 0.5 };
        var gradient = new double[4];
        double value = AD.Gradient(f)(point, gradient);
        var inner = new[] { point[0] + point[1], point[1] + point[0], point[2], point[3] };
        Assert.That(value, Is.EqualTo(inner.Sum(g => g * g)).Within(1e-14));
        // ∂/∂x0 = 2 (g0 + g1), ∂/∂x1 = 2 (g0 + g1), ∂/∂x2 = 2 g2, ∂/∂x3 = 2 g3.
        Assert.That(gradient, Is.EqualTo(new[] { 2 * (inner[0] + inner[1]), 2 * (inner[0] + inner[1]), 2 * inner[2], 2 * inner[3] }).Within(1e-13));
    }

    public sealed record Directions(double[] V);

    [Test]
    public void DirectionalDerivativeAndHessianVectorProductInsideALambda()
    {
        // f(q) = Σ q_i³ + q0 q1: ∇f·v = Σ 3 q_i² v_i + q1 v0 + q0 v1; H v = (6 q_i v_i) + (v1, v0, 0, ...).
        var v = new[] { 0.5, -1.0, 2.0, 0.25 };
        var point = new[] { 1.2, -0.4, 0.3, 2.0 };
        Expression<Func<double[], Directions, double>> directional = (x, d) => AD.DirectionalDiff(q => q.Sum(e => e * e * e) + q[0] * q[1], x, d.V);
        double expected = point.Zip(v).Sum(p => 3 * p.First * p.First * p.Second) + point[1] * v[0] + point[0] * v[1];
        Assert.That(AD.Value(directional)(point, new Directions(v)), Is.EqualTo(expected).Within(1e-13));
        // H v, summed with weights so that it is one number: Σ_k c_k (H v)_k.
        var c = new[] { 1.0, 2.0, -1.0, 0.5 };
        Expression<Func<double[], Directions, double>> hv = (x, d) =>
            AD.Grad(w => AD.DirectionalDiff(q => q.Sum(e => e * e * e) + q[0] * q[1], w, d.V), x).Select((h, k) => h * (k + 1.0 == 3.0 ? -1.0 : k == 3 ? 0.5 : k + 1.0)).Sum();
        var product = Enumerable.Range(0, 4).Select(k => 6 * point[k] * v[k] + (k == 0 ? v[1] : k == 1 ? v[0] : 0)).ToArray();
        Assert.That(AD.Value(hv)(point, new Directions(v)), Is.EqualTo(product.Zip(c).Sum(p => p.First * p.Second)).Within(1e-12));
    }

    /// <summary>Forward over reverse (a Hessian-vector product) of a function that takes a gradient inside: third derivatives of the inner function.</summary>
    [Test]
    public void HessianVectorProductThroughAnInnerGradient()
    {
        // f(x) = Σ_k c_k (∇q(x))_k with q(v) = Σ v_i⁴ / 4 + v0 v1 v2: ∇q = (v_i³) + (v1 v2, v0 v2, v0 v1).
        // f = Σ c_k x_k³ + c0 x1 x2 + c1 x0 x2 + c2 x0 x1; H = diag(6 c_k x_k) + the cross terms.
        var c = new[] { 1.0, -2.0, 0.5 };
        Expression<Func<double[], double>> f = x => AD.Grad(v => v.Sum(e => e * e * e * e) / 4 + v[0] * v[1] * v[2], x)
            .Select((g, k) => g * (k == 0 ? 1.0 : k == 1 ? -2.0 : 0.5)).Sum();
        var point = new[] { 0.8, -0.3, 1.4 };
        var direction = new[] { 0.2, 1.0, -0.6 };
        var hessian = new double[9];
        for (int k = 0; k < 3; k++) hessian[k * 3 + k] = 6 * c[k] * point[k];
        hessian[0 * 3 + 1] = hessian[1 * 3 + 0] = c[2];
        hessian[0 * 3 + 2] = hessian[2 * 3 + 0] = c[1];
        hessian[1 * 3 + 2] = hessian[2 * 3 + 1] = c[0];
        var hv = new double[3];
        AD.HessianVector(f)(point, direction, new double[3], hv);
        for (int i = 0; i < 3; i++)
            Assert.That(hv[i], Is.EqualTo(Enumerable.Range(0, 3).Sum(j => hessian[i * 3 + j] * direction[j])).Within(1e-12), $"(H v)[{i}]");
    }

    public sealed record Problem(double[] Targets, double Rate);

    [Test]
    public void GradientDescentStepsInsideAnAggregate()
    {
        // Ten steps of gradient descent on L(w) = Σ (w_i - t_i)² + λ Σ w_i², from w = 0, as an Aggregate whose step calls
        // AD.Grad; the outer derivative with respect to λ (x[0]) of the final Σ w against central differences of the run.
        Expression<Func<double[], Problem, double>> run = (x, p) => Enumerable.Range(0, 10)
            .Aggregate(new double[p.Targets.Length], (w, step) => AD.Grad(v => Enumerable.Range(0, v.Length)
                    .Sum(i => (v[i] - p.Targets[i]) * (v[i] - p.Targets[i]) + x[0] * v[i] * v[i]), w)
                .Select((g, i) => w[i] - p.Rate * g).ToArray())
            .Sum();
        var problem = new Problem([1.0, -2.0, 0.5], 0.1);
        var gradient = new double[1];
        double value = AD.Gradient(run)([0.3], problem, gradient);
        // Closed form: each step w ← w - r (2 (w - t) + 2 λ w) = (1 - 2 r (1 + λ)) w + 2 r t.
        double Run(double lambda)
        {
            var w = new double[3];
            for (int s = 0; s < 10; s++) w = w.Select((e, i) => (1 - 2 * problem.Rate * (1 + lambda)) * e + 2 * problem.Rate * problem.Targets[i]).ToArray();
            return w.Sum();
        }
        Assert.That(value, Is.EqualTo(Run(0.3)).Within(1e-12));
        Assert.That(gradient[0], Is.EqualTo((Run(0.3 + 1e-6) - Run(0.3 - 1e-6)) / 2e-6).Within(1e-7));
    }

    private static void AssertMatchesDifferences(Func<double[], double[]> gradient, double[] point, double[] hessian)
    {
        int n = point.Length;
        for (int j = 0; j < n; j++)
        {
            var plus = (double[])point.Clone();
            var minus = (double[])point.Clone();
            plus[j] += 1e-5;
            minus[j] -= 1e-5;
            var (gp, gm) = (gradient(plus), gradient(minus));
            for (int i = 0; i < n; i++)
                Assert.That(hessian[i * n + j], Is.EqualTo((gp[i] - gm[i]) / 2e-5).Within(1e-6 * Math.Max(1, Math.Abs(hessian[i * n + j]))), $"H[{i},{j}]");
        }
    }

    [Test]
    public void CalledOutsideALambdaTheySayWhatToUse()
    {
        Assert.That(() => AD.Diff(x => x * x, 1.0), Throws.InvalidOperationException.With.Message.Contains("AD.Derivative"));
        Assert.That(() => AD.Grad(x => x[0], [1.0]), Throws.InvalidOperationException.With.Message.Contains("AD.Gradient"));
        Func<double, double> compiled = y => y * y;
        var error = Assert.Throws<NotSupportedException>(() => AD.Derivative(x => AD.Diff(compiled, x)))!;
        Assert.That(error.Message, Does.Contain("lambda"));
    }
}
