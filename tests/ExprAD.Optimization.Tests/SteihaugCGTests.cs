using static ExprAD.Optimization.Tests.NewtonTestSupport;

namespace ExprAD.Optimization.Tests;

/// <summary>The truncated CG solver on its own, with dense matrices; the model value is checked by direct evaluation.</summary>
public class SteihaugCGTests
{
    /// <summary>A row-major dense matrix as an operator, counting its products.</summary>
    internal struct Dense(double[] a, int n) : IHessianOperator
    {
        public int Products;

        public void Multiply(ReadOnlySpan<double> v, Span<double> hv)
        {
            Products++;
            for (int i = 0; i < n; i++)
            {
                double s = 0;
                for (int j = 0; j < n; j++) s += a[i * n + j] * v[j];
                hv[i] = s;
            }
        }
    }

    /// <summary>gᵀp + ½ pᵀAp, written out.</summary>
    private static double Model(double[] a, double[] g, double[] p)
    {
        int n = g.Length;
        double value = 0;
        for (int i = 0; i < n; i++)
        {
            value += g[i] * p[i];
            for (int j = 0; j < n; j++) value += 0.5 * p[i] * a[i * n + j] * p[j];
        }
        return value;
    }

    private static double Norm(double[] p) => Math.Sqrt(p.Sum(e => e * e));

    [Test]
    public void InsideTheRegionItSolvesTheNewtonEquationInAtMostNProducts()
    {
        const int n = 7;
        var a = SpdMatrix(n, seed: 9);
        var g = Enumerable.Range(0, n).Select(i => Math.Cos(3.0 * i)).ToArray();
        var h = new Dense(a, n);
        var p = new double[n];
        var exit = SteihaugCG.Solve(ref h, new IdentityPreconditioner(), g, 1e6, 1e-12, n, p, new SteihaugCG.Workspace(n), out int products, out double predicted, out double norm);
        Assert.That(exit, Is.EqualTo(SteihaugExit.Converged).Or.EqualTo(SteihaugExit.MaxIterations));
        Assert.That(products, Is.LessThanOrEqualTo(n));
        Assert.That(h.Products, Is.EqualTo(products));
        Assert.That(p, Is.EqualTo(Solve(a, g.Select(e => -e).ToArray())).Within(1e-9));
        Assert.That(predicted, Is.EqualTo(-Model(a, g, p)).Within(1e-12));
        Assert.That(norm, Is.EqualTo(Norm(p)).Within(1e-12));
    }

    [Test]
    public void AStepThatWouldLeaveTheRegionStopsOnItsBoundary()
    {
        const int n = 5;
        var a = SpdMatrix(n, seed: 2);
        var g = Enumerable.Repeat(1.0, n).ToArray();
        var h = new Dense(a, n);
        var p = new double[n];
        var exit = SteihaugCG.Solve(ref h, new IdentityPreconditioner(), g, 0.01, 1e-12, 100, p, new SteihaugCG.Workspace(n), out _, out double predicted, out double norm);
        Assert.That(exit, Is.EqualTo(SteihaugExit.Boundary));
        Assert.That(Norm(p), Is.EqualTo(0.01).Within(1e-14));
        Assert.That(norm, Is.EqualTo(0.01));
        Assert.That(predicted, Is.EqualTo(-Model(a, g, p)).Within(1e-15));
        Assert.That(predicted, Is.GreaterThan(0));
    }

    [Test]
    public void NegativeCurvatureIsFollowedToTheBoundary()
    {
        // H = diag(2, −1): the Newton point (−g₁/2, g₂) is a saddle of the model. The solver must end on the boundary with
        // a model value below that of the Cauchy point, not at the saddle.
        double[] a = [2, 0, 0, -1];
        double[] g = [1, 1];
        var h = new Dense(a, 2);
        var p = new double[2];
        var exit = SteihaugCG.Solve(ref h, new IdentityPreconditioner(), g, 3, 1e-12, 10, p, new SteihaugCG.Workspace(2), out _, out double predicted, out _);
        Assert.That(exit, Is.EqualTo(SteihaugExit.NegativeCurvature));
        Assert.That(Norm(p), Is.EqualTo(3).Within(1e-12));
        Assert.That(predicted, Is.EqualTo(-Model(a, g, p)).Within(1e-12));
        // The saddle's model value is −¼ + ½ = +0.25; the boundary step goes far below.
        Assert.That(Model(a, g, p), Is.LessThan(-2));
    }

    [Test]
    public void WithADiagonalPreconditionerTheRegionIsMeasuredInItsNorm()
    {
        // M = diag(100, 1): |p|_M = sqrt(100 p₁² + p₂²) = Δ at the boundary.
        const int n = 2;
        double[] a = [100, 1, 1, 1];
        double[] g = [10, 1];
        double[] m = [100, 1];
        var h = new Dense(a, n);
        var p = new double[n];
        var exit = SteihaugCG.Solve(ref h, new DiagonalPreconditioner(m), g, 0.5, 1e-12, 10, p, new SteihaugCG.Workspace(n), out _, out _, out double norm);
        Assert.That(exit, Is.EqualTo(SteihaugExit.Boundary));
        Assert.That(Math.Sqrt(100 * p[0] * p[0] + p[1] * p[1]), Is.EqualTo(0.5).Within(1e-12));
        Assert.That(norm, Is.EqualTo(0.5));
        // Unbounded, the preconditioned solve gives the Newton step.
        var exact = SteihaugCG.Solve(ref h, new DiagonalPreconditioner(m), g, 1e6, 1e-14, 10, p, new SteihaugCG.Workspace(n), out int products, out _, out _);
        Assert.That(exact, Is.EqualTo(SteihaugExit.Converged));
        Assert.That(p, Is.EqualTo(Solve(a, [-10, -1])).Within(1e-12));
        Assert.That(products, Is.LessThanOrEqualTo(2));
    }
}
