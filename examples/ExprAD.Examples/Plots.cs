using ScottPlot;

namespace ExprAD.Examples;

/// <summary>One curve of a line chart: its legend text and its points.</summary>
/// <param name="Label">The legend text.</param>
/// <param name="X">The abscissae.</param>
/// <param name="Y">The ordinates (same length as <paramref name="X"/>).</param>
public sealed record Series(string Label, double[] X, double[] Y);

/// <summary>The PNG plots of the learning examples, drawn with ScottPlot 5.</summary>
public static class Plots
{
    private const int Width = 900, Height = 560;

    /// <summary>The folder the examples write their plots into when none is given: <c>output/</c> under the current directory.</summary>
    public static string DefaultFolder => Path.Combine(Directory.GetCurrentDirectory(), "output");

    /// <summary>Creates <paramref name="folder"/> if missing and returns its full path.</summary>
    public static string Prepare(string folder)
    {
        Directory.CreateDirectory(folder);
        return Path.GetFullPath(folder);
    }

    /// <summary>
    /// Draws curves on one chart and writes it as a PNG. With <paramref name="logY"/>, the ordinates are drawn as their
    /// base-10 logarithms with the axis labelled in powers of ten (ScottPlot 5 has no logarithmic axis of its own);
    /// points that are not positive are left out then.
    /// </summary>
    /// <returns>The path written.</returns>
    public static string Lines(string path, string title, string xLabel, string yLabel, bool logY, params Series[] series)
    {
        var plot = new Plot();
        foreach (var s in series)
        {
            var kept = Enumerable.Range(0, s.X.Length).Where(i => double.IsFinite(s.Y[i]) && (!logY || s.Y[i] > 0)).ToArray();
            var xs = kept.Select(i => s.X[i]).ToArray();
            var ys = kept.Select(i => logY ? Math.Log10(s.Y[i]) : s.Y[i]).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = s.Label;
            line.MarkerSize = xs.Length > 60 ? 0 : 4;
            line.LineWidth = 2;
        }
        if (logY)
        {
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
                IntegerTicksOnly = true,
                LabelFormatter = y => $"1e{y:0}",
            };
            plot.Grid.MajorLineColor = Colors.Black.WithOpacity(0.15);
            plot.Grid.MinorLineColor = Colors.Black.WithOpacity(0.05);
            plot.Grid.MinorLineWidth = 1;
        }
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, Width, Height);
        return path;
    }

    /// <summary>
    /// Draws grey-scale images (values in [0, 1], row 0 at the top) side by side with their captions, and writes them as one PNG.
    /// </summary>
    /// <returns>The path written.</returns>
    public static string Images(string path, params (string Caption, double[,] Pixels)[] images)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(images.Length);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        for (int k = 0; k < images.Length; k++)
        {
            var plot = multiplot.GetPlot(k);
            var heatmap = plot.Add.Heatmap(images[k].Pixels);
            heatmap.Colormap = new ScottPlot.Colormaps.Grayscale();
            heatmap.ManualRange = new ScottPlot.Range(0, 1);
            plot.Title(images[k].Caption);
            // No ticks, frame or grid around a picture; the top axis stays, as it carries the title.
            plot.HideGrid();
            plot.Axes.Left.IsVisible = plot.Axes.Right.IsVisible = plot.Axes.Bottom.IsVisible = false;
            plot.Axes.Top.FrameLineStyle.Width = 0;
            plot.Axes.SquareUnits();
        }
        int side = 420;
        multiplot.SavePng(path, side * images.Length, side + 40);
        return path;
    }
}
