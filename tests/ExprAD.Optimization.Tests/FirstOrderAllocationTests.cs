using System.Runtime.CompilerServices;

namespace ExprAD.Optimization.Tests;

/// <summary>
/// After warm-up, an iteration of gradient descent or L-BFGS allocates nothing: the bytes the thread allocated between
/// the progress reports of iterations <see cref="From"/> and <see cref="To"/> are zero. The probe reads the counter in
/// the progress handler (which itself allocates nothing), so the run's set-up and result are not counted. As in
/// ExprAD.Tests' AllocationTests.Measure, the fewest bytes of several runs count (a runtime allocation that happens once
/// on whatever thread needs it is forgiven; one made every iteration is not, as it shows in every run).
/// </summary>
[NonParallelizable]
public class FirstOrderAllocationTests
{
    private const int From = 5, To = 45, Runs = 5;

    /// <summary>Records the thread's allocated bytes at two iterations; allocates nothing when told.</summary>
    private sealed class Probe : IProgress<IterationReport>
    {
        public long AtFrom = -1, AtTo = -1;

        public void Report(IterationReport value)
        {
            if (value.Iteration == From) AtFrom = GC.GetAllocatedBytesForCurrentThread();
            else if (value.Iteration == To) AtTo = GC.GetAllocatedBytesForCurrentThread();
        }
    }

    /// <summary>The fewest bytes allocated between the two probed iterations over <see cref="Runs"/> runs, after two warm-up runs.</summary>
    private static long Measure(Func<MinimizeOptions, MinimizeResult> run)
    {
        long fewest = long.MaxValue;
        for (int k = 0; k < Runs + 2; k++)
        {
            var probe = new Probe();
            var result = run(new MinimizeOptions { Progress = probe, MaxIterations = To, GradientTolerance = 0 });
            if (result.Iterations != To || probe.AtFrom < 0 || probe.AtTo < 0) throw new InvalidOperationException($"The run stopped early: {result.Reason}.");
            if (k >= 2) fewest = Math.Min(fewest, probe.AtTo - probe.AtFrom);
        }
        return fewest;
    }

    // The discrete boundary value problem at n = 100 needs thousands of iterations, so 45 are all regular ones.
    private static readonly MoreGarbowHillstrom.Problem Slow = MoreGarbowHillstrom.DiscreteBoundaryValue(100);

    private static readonly Expression<Func<double[], double[], double>> ScaledRosenbrock = (x, scale) =>
        Enumerable.Range(0, x.Length / 2).Sum(i => scale[0] * Math.Pow(x[2 * i + 1] - x[2 * i] * x[2 * i], 2) + Math.Pow(1 - x[2 * i], 2));

    [Test, MethodImpl(MethodImplOptions.NoInlining)]
    public void AnLbfgsIterationAllocatesNothing()
    {
        var gradient = AD.Gradient(Slow.F);
        Assert.That(Measure(o => Minimize.Lbfgs(gradient, Slow.Start, o)), Is.Zero);
    }

    [Test, MethodImpl(MethodImplOptions.NoInlining)]
    public void AGradientDescentIterationAllocatesNothing()
    {
        var gradient = AD.Gradient(Slow.F);
        Assert.That(Measure(o => Minimize.GradientDescent(gradient, Slow.Start, o)), Is.Zero);
    }

    [Test, MethodImpl(MethodImplOptions.NoInlining)]
    public void IterationsOfTheDataOverloadsAllocateNothing()
    {
        var gradient = AD.Gradient(ScaledRosenbrock);
        double[] scale = [100];
        // Gradient descent needs over a thousand iterations on extended Rosenbrock; L-BFGS with this badly scaled
        // copy (factor 1e4) well over 45.
        double[] x0 = MoreGarbowHillstrom.ExtendedRosenbrock(100).Start;
        Assert.That(Measure(o => Minimize.GradientDescent(gradient, x0, scale, o)), Is.Zero);
        double[] steep = [1e4];
        Assert.That(Measure(o => Minimize.Lbfgs(gradient, x0, steep, o)), Is.Zero);
    }
}
