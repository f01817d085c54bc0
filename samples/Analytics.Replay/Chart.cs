using Analytics.Core.Testing;
using ScottPlot;

namespace Analytics.Replay;

/// <summary>Iterator age and concurrency over virtual time, one picture.</summary>
internal static class Chart
{
    public static void Draw(ReplayRun.PerSecond data, EmulatorScenario scenario, string path)
    {
        double[] seconds = Enumerable.Range(0, data.Concurrency.Length).Select(s => (double)s).ToArray();
        var plot = new Plot();
        // Lambda reports IteratorAge per invocation: seconds in which none ended have no point (drawn as 0 before, a
        // retry storm looked recovered between its retries).
        (double[] ageX, double[] ageY) = Points(seconds, data.IteratorAgeSeconds);
        ScottPlot.Plottables.Scatter age = plot.Add.ScatterLine(ageX, ageY);
        age.LegendText = "IteratorAge (s, Lambda's metric, max over shards, seconds an invocation ended)";
        age.LineWidth = 2;

        // A marker per point: a run whose only reading is one second would otherwise draw nothing (review).
        age.MarkerSize = 5;
        ScottPlot.Plottables.Scatter oldest = plot.Add.ScatterLine(seconds, data.OldestUnprocessedSeconds);
        oldest.LegendText = "oldest unprocessed record (s)";
        oldest.LinePattern = LinePattern.Dashed;
        ScottPlot.Plottables.Scatter concurrency = plot.Add.ScatterLine(seconds, data.Concurrency);
        concurrency.LegendText = "concurrent invocations (right axis)";
        concurrency.Axes.YAxis = plot.Axes.Right;
        plot.Axes.SetLimitsY(0, Math.Max(1, data.Concurrency.DefaultIfEmpty(0).Max()) * 1.25, plot.Axes.Right);
        plot.Axes.SetLimitsY(0, Math.Max(1, data.OldestUnprocessedSeconds.Concat(ageY).DefaultIfEmpty(0).Max()) * 1.1, plot.Axes.Left);
        plot.Axes.Left.Label.Text = "age (s)";
        plot.Axes.Right.Label.Text = "concurrent invocations";
        plot.Axes.Bottom.Label.Text = "virtual time (s)";
        plot.Title($"{scenario.Stream.ShardCount} shard(s), ParallelizationFactor {scenario.Mapping.ParallelizationFactor}, seed {scenario.Seed}");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 1200, 600);
    }

    /// <summary>The (x, y) pairs whose y is a number: NaN marks where there is no value.</summary>
    internal static (double[] X, double[] Y) Points(double[] x, IReadOnlyList<double> y)
    {
        int[] kept = [.. Enumerable.Range(0, Math.Min(x.Length, y.Count)).Where(i => !double.IsNaN(y[i]))];
        return ([.. kept.Select(i => x[i])], [.. kept.Select(i => y[i])]);
    }
}
