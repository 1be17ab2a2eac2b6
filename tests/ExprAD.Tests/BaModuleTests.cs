using ExprAD.GradBench;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// The ba module on a problem whose cameras, points, weights and features all differ (the suite's inputs replicate one of
/// each, and its goldens show only the first two rows, so they cannot tell whether every block is computed and placed):
/// every residual against the README's formulas written out here in plain C#, every Jacobian entry against central
/// differences of that plain code, and the CSR structure entry by entry. One camera has r = 0 (the theta2 = 0 branch).
/// </summary>
[TestFixture]
public class BaModuleTests
{
    private static BaProblem RandomProblem(int n, int m, int p)
    {
        var random = new Random(17);
        double Uniform(double lo, double hi) => lo + (hi - lo) * random.NextDouble();
        var b = new BaProblem
        {
            N = n, M = m, P = p,
            Cameras = new double[11 * n], Points = new double[3 * m], Weights = new double[p], Features = new BaFeature[p],
        };
        for (int c = 0; c < n; c++)
        {
            var cam = b.Cameras.AsSpan(11 * c, 11);
            for (int j = 0; j < 3; j++) cam[j] = c == 1 ? 0 : Uniform(-1, 1); // camera 1: no rotation
            for (int j = 3; j < 6; j++) cam[j] = Uniform(-2, 2);
            cam[6] = Uniform(300, 500);
            cam[7] = Uniform(-10, 10);
            cam[8] = Uniform(-10, 10);
            cam[9] = Uniform(0, 0.1);
            cam[10] = Uniform(0, 0.01);
        }
        // Points in front of the cameras (well away from z = 0 in camera coordinates).
        for (int j = 0; j < m; j++)
        {
            b.Points[3 * j] = Uniform(-1, 1);
            b.Points[3 * j + 1] = Uniform(-1, 1);
            b.Points[3 * j + 2] = Uniform(8, 12);
        }
        for (int i = 0; i < p; i++)
        {
            b.Weights[i] = Uniform(0.2, 1.2);
            b.Features[i] = new BaFeature { U = Uniform(-50, 50), V = Uniform(-50, 50) };
        }
        return b;
    }

    /// <summary>The reprojection error of one observation from parameters q = [cam (11), X (3), w], as the README states it.</summary>
    private static (double, double) PlainResidual(double[] q, BaFeature feat)
    {
        double[] r = [q[0], q[1], q[2]];
        double[] xo = [q[11] - q[3], q[12] - q[4], q[13] - q[5]];
        double theta2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
        var xc = new double[3];
        if (theta2 != 0)
        {
            double theta = Math.Sqrt(theta2), cos = Math.Cos(theta), sin = Math.Sin(theta);
            double[] w = [r[0] / theta, r[1] / theta, r[2] / theta];
            double[] cross = [w[1] * xo[2] - w[2] * xo[1], w[2] * xo[0] - w[0] * xo[2], w[0] * xo[1] - w[1] * xo[0]];
            double dot = w[0] * xo[0] + w[1] * xo[1] + w[2] * xo[2];
            for (int k = 0; k < 3; k++) xc[k] = xo[k] * cos + cross[k] * sin + w[k] * dot * (1 - cos);
        }
        else
        {
            double[] cross = [r[1] * xo[2] - r[2] * xo[1], r[2] * xo[0] - r[0] * xo[2], r[0] * xo[1] - r[1] * xo[0]];
            for (int k = 0; k < 3; k++) xc[k] = xo[k] + cross[k];
        }
        double px = xc[0] / xc[2], py = xc[1] / xc[2];
        double s = px * px + py * py, distortion = 1 + q[9] * s + q[10] * s * s;
        return (q[14] * (px * distortion * q[6] + q[7] - feat.U), q[14] * (py * distortion * q[6] + q[8] - feat.V));
    }

    private static double[] ParametersOf(BaProblem b, int i) =>
        [.. b.Cameras.AsSpan(11 * (i % b.N), 11), .. b.Points.AsSpan(3 * (i % b.M), 3), b.Weights[i]];

    [Test]
    public void EveryResidualMatchesThePlainFormulas()
    {
        var b = RandomProblem(3, 4, 9);
        var objective = new Ba.Objective(b);
        objective.Run();
        for (int i = 0; i < b.P; i++)
        {
            var (x, y) = PlainResidual(ParametersOf(b, i), b.Features[i]);
            Assert.That(objective.ReprojectionErrors[2 * i], Is.EqualTo(x).Within(1e-9 * Math.Max(1, Math.Abs(x))), $"observation {i}, u");
            Assert.That(objective.ReprojectionErrors[2 * i + 1], Is.EqualTo(y).Within(1e-9 * Math.Max(1, Math.Abs(y))), $"observation {i}, v");
            Assert.That(objective.WeightErrors[i], Is.EqualTo(1 - b.Weights[i] * b.Weights[i]).Within(1e-15), $"observation {i}, weight");
        }
    }

    [Test]
    public void EveryJacobianBlockMatchesFiniteDifferencesAndSitsWhereTheCsrSays()
    {
        var b = RandomProblem(3, 4, 9);
        var jacobian = new Ba.Jacobian(b);
        jacobian.Run();
        int pointColumns = 11 * b.N, weightColumns = 11 * b.N + 3 * b.M;
        Assert.That(jacobian.Rows.Length, Is.EqualTo(3 * b.P + 1));
        Assert.That(jacobian.Rows[^1], Is.EqualTo(31 * b.P));
        for (int i = 0; i < b.P; i++)
        {
            var q = ParametersOf(b, i);
            // Columns of the 15 parameters, in order: camera i % n, point i % m, weight i.
            var columns = Enumerable.Range(0, 11).Select(j => 11 * (i % b.N) + j)
                .Concat(Enumerable.Range(0, 3).Select(j => pointColumns + 3 * (i % b.M) + j)).Append(weightColumns + i).ToArray();
            for (int j = 0; j < 15; j++)
            {
                double h = 1e-6 * Math.Max(1, Math.Abs(q[j]));
                var plus = (double[])q.Clone();
                var minus = (double[])q.Clone();
                plus[j] += h;
                minus[j] -= h;
                var (up0, up1) = PlainResidual(plus, b.Features[i]);
                var (down0, down1) = PlainResidual(minus, b.Features[i]);
                double[] expected = [(up0 - down0) / (2 * h), (up1 - down1) / (2 * h)];
                for (int row = 0; row < 2; row++)
                {
                    int start = jacobian.Rows[2 * i + row];
                    Assert.That(jacobian.Rows[2 * i + row + 1] - start, Is.EqualTo(15), $"row {2 * i + row} length");
                    Assert.That(jacobian.Cols[start + j], Is.EqualTo(columns[j]), $"observation {i}, row {row}, entry {j}: column");
                    double actual = jacobian.Vals[start + j];
                    Assert.That(Math.Abs(actual - expected[row]) / Math.Max(1, Math.Abs(expected[row])), Is.LessThanOrEqualTo(1e-5),
                        $"observation {i} (camera {i % b.N}), row {row}, parameter {j}: {actual} vs {expected[row]}");
                }
            }
            int weightRow = jacobian.Rows[2 * b.P + i];
            Assert.That(jacobian.Rows[2 * b.P + i + 1] - weightRow, Is.EqualTo(1));
            Assert.That(jacobian.Cols[weightRow], Is.EqualTo(weightColumns + i));
            Assert.That(jacobian.Vals[weightRow], Is.EqualTo(-2 * b.Weights[i]).Within(1e-15));
        }
    }

    [Test, NonParallelizable]
    public void RunsAllocateNothing()
    {
        // The timed closures of the GradBench module: after warm-up, a run allocates nothing.
        var b = RandomProblem(3, 4, 50);
        var objective = new Ba.Objective(b);
        var jacobian = new Ba.Jacobian(b);
        Assert.That(AllocationTests.Measure(() =>
        {
            for (int run = 0; run < 100; run++)
            {
                objective.Run();
                jacobian.Run();
            }
            return jacobian.Vals[^2] + objective.ReprojectionErrors[^1];
        }), Is.Zero);
    }

    [Test]
    public void ARunRewritesEveryEntry()
    {
        // Whatever the arrays held before, a run leaves exactly what a fresh evaluator computes.
        var b = RandomProblem(2, 3, 5);
        var fresh = new Ba.Jacobian(b);
        fresh.Run();
        var reused = new Ba.Jacobian(b);
        Array.Fill(reused.Vals, double.NaN);
        Array.Fill(reused.Cols, -1);
        Array.Fill(reused.Rows, -1);
        reused.Run();
        Assert.That(reused.Vals, Is.EqualTo(fresh.Vals));
        Assert.That(reused.Cols, Is.EqualTo(fresh.Cols));
        Assert.That(reused.Rows, Is.EqualTo(fresh.Rows));
    }
}
