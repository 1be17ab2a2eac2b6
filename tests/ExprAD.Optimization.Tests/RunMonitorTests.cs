namespace ExprAD.Optimization.Tests;

public class RunMonitorTests
{
    [Test]
    public void AStartingPointThatIsNotFiniteIsNamed()
    {
        var e = Assert.Throws<ArgumentException>(() => new RunMonitor(null, 2, [1, double.NaN]));
        Assert.That(e!.Message, Does.Contain("x0[1]"));
    }

    [Test]
    public void ANonFiniteStartingValueOrGradientIsNamed()
    {
        Assert.That(Assert.Throws<ArgumentException>(() => RunMonitor.CheckStart(double.PositiveInfinity, [0.0]))!.Message, Does.Contain("f(x0)"));
        Assert.That(Assert.Throws<ArgumentException>(() => RunMonitor.CheckStart(1, [0.0, double.NaN]))!.Message, Does.Contain("element 1"));
    }

    [Test]
    public void TheResultSaysWhyItStopped()
    {
        var monitor = new RunMonitor(new MinimizeOptions { MaxIterations = 1 }, 1, [0.0]);
        Assert.That(monitor.Start(5, 1, out _), Is.False);
        Assert.That(monitor.Iterated(5, 4, 1, 0.5, out var reason), Is.True);
        Assert.That(reason, Is.EqualTo(StopReason.MaxIterations));
        var result = monitor.Result([2.0], 4, 1, reason);
        Assert.That(result.Converged, Is.False);
        Assert.That(result.Reason, Does.Contain("1 iterations"));
    }
}
