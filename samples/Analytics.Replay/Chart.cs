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
        ScottPlot.Plottables.Scatter age = plot.Add.ScatterLine(seconds, data.IteratorAgeSeconds);
        age.LegendText = "IteratorAge (s, Lambda's metric, max over shards)";
        age.LineWidth = 2;
        ScottPlot.Plottables.Scatter oldest = plot.Add.ScatterLine(seconds, data.OldestUnprocessedSeconds);
        oldest.LegendText = "oldest unprocessed record (s)";
        oldest.LinePattern = LinePattern.Dashed;
        ScottPlot.Plottables.Scatter concurrency = plot.Add.ScatterLine(seconds, data.Concurrency);
        concurrency.LegendText = "concurrent invocations (right axis)";
        concurrency.Axes.YAxis = plot.Axes.Right;
        plot.Axes.SetLimitsY(0, Math.Max(1, data.Concurrency.DefaultIfEmpty(0).Max()) * 1.25, plot.Axes.Right);
        plot.Axes.SetLimitsY(0, Math.Max(1, data.OldestUnprocessedSeconds.Concat(data.IteratorAgeSeconds).DefaultIfEmpty(0).Max()) * 1.1, plot.Axes.Left);
        plot.Axes.Left.Label.Text = "age (s)";
        plot.Axes.Right.Label.Text = "concurrent invocations";
        plot.Axes.Bottom.Label.Text = "virtual time (s)";
        plot.Title($"{scenario.Stream.ShardCount} shard(s), ParallelizationFactor {scenario.Mapping.ParallelizationFactor}, seed {scenario.Seed}");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 1200, 600);
    }
}
