using System.Linq.Expressions;

namespace ExprAD.Tests;

/// <summary>
/// The 2-D Brusselator on a periodic N x N grid, the benchmark problem of sparse-AD papers: used by the sparse Jacobian
/// tests and, compiled from this same file, by the benchmark <c>BrusselatorJacobian</c> (bench/ExprAD.Benchmarks).
/// </summary>
public static class Brusselator
{
    /// <summary>The grid of a Brusselator residual: side N, diffusion alpha, and a forcing term per grid point.</summary>
    public sealed record Grid(int N, double Alpha, double[] Forcing);

    /// <summary>
    /// du/dt = alpha Δu + B + u²v - (A + 1) u + f, dv/dt = alpha Δv + A u - u²v with A = 3.4, B = 1, the five-point
    /// Laplacian with periodic wrap; x holds u then v (N² each), point (i, j) at i N + j.
    /// </summary>
    public static readonly Expression<Func<double[], Grid, double[]>> Residual = (x, g) => Enumerable.Range(0, 2 * g.N * g.N).Select(k =>
        k < g.N * g.N
            ? g.Alpha * (x[(k / g.N + 1) % g.N * g.N + k % g.N] + x[(k / g.N + g.N - 1) % g.N * g.N + k % g.N]
                         + x[k / g.N * g.N + (k % g.N + 1) % g.N] + x[k / g.N * g.N + (k % g.N + g.N - 1) % g.N] - 4 * x[k])
              + 1 + x[k] * x[k] * x[g.N * g.N + k] - 4.4 * x[k] + g.Forcing[k]
            : g.Alpha * (x[g.N * g.N + (k / g.N - g.N + 1) % g.N * g.N + k % g.N] + x[g.N * g.N + (k / g.N - 1) % g.N * g.N + k % g.N]
                         + x[k / g.N * g.N + (k % g.N + 1) % g.N] + x[k / g.N * g.N + (k % g.N + g.N - 1) % g.N] - 4 * x[k])
              + 3.4 * x[k - g.N * g.N] - x[k - g.N * g.N] * x[k - g.N * g.N] * x[k]).ToArray();
}
