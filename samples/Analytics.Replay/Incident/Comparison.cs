using System.Globalization;
using System.Text;
using ScottPlot;

namespace Analytics.Replay.Incident;

/// <summary>The comparison of several runs: one table (Markdown, for stdout and the README) and one chart of their iterator age.</summary>
internal static class Comparison
{
    public static string Table(IReadOnlyList<(string Name, ReplayResult Result)> runs)
    {
        var text = new StringBuilder();
        text.AppendLine("| scenario | load | virtual time | IteratorAge max | IteratorAge p99 | invocations | errors | timeouts | records given up (on-failure destination) | records processed | lost | double counted | poison quarantined | DynamoDB requests / 1,000 records | WCU / 1,000 records |");
        text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach ((string name, ReplayResult result) in runs)
        {
            Analytics.Core.Testing.EmulationSummary s = result.Summary;
            IncidentFigures f = result.Figures ?? throw new InvalidOperationException($"{name}: the comparison needs the sample or naive handler.");
            Verdict v = f.Verdict;
            double per1000 = s.RecordsOut == 0 ? double.NaN : 1000.0 / s.RecordsOut;
            text.Append(CultureInfo.InvariantCulture, $"| {name} | {Load(result.Loaded.Scenario)} | {Duration(result.Loaded.Scenario.DurationSeconds)} | {Age(v.MaxIteratorAgeMs)} | {Age(v.P99IteratorAgeMs)} | {N(s.Invocations)} | {N(s.Errors)} | {N(s.Timeouts)} | {GivenUp(result.Loaded.Scenario, s)} | {N(s.RecordsOut)} of {N(s.RecordsIn)} | {(v.Checked ? N(v.Lost) : "not checked")} | {(v.Checked ? N(v.Doubled) : "not checked")} | {N(v.PoisonQuarantined)} of {N(v.Poison)} |");
            text.Append(CultureInfo.InvariantCulture, $" {Ratio(f.DynamoDbRequests * per1000)} | {Ratio(f.WriteCapacityUnits * per1000)} |");
            text.AppendLine();
        }

        return text.ToString();
    }

    public static void Draw(IReadOnlyList<(string Name, ReplayResult Result)> runs, string path)
    {
        var plot = new Plot();
        double top = 1;
        foreach ((string name, ReplayResult result) in runs)
        {
            IReadOnlyList<double> perBucket = result.Figures?.IteratorAgePerBucket ?? [];
            double[] bucketEnds = Enumerable.Range(1, perBucket.Count).Select(b => b * IncidentLedger.BucketSeconds / 60.0).ToArray();

            // A bucket in which no invocation ended has no point (NaN), not an age of 0.
            (double[] minutes, double[] ageMinutes) = Chart.Points(bucketEnds, [.. perBucket.Select(s => s / 60.0)]);
            ScottPlot.Plottables.Scatter line = plot.Add.ScatterLine(minutes, ageMinutes);
            line.LegendText = name;
            line.LineWidth = 2;
            line.MarkerSize = 4; // a run with a single reading still shows it
            top = Math.Max(top, ageMinutes.DefaultIfEmpty(0).Max());
        }

        plot.Axes.SetLimitsY(0, top * 1.1);
        plot.Axes.Left.Label.Text = "IteratorAge, highest per 10 s (min)";
        plot.Axes.Bottom.Label.Text = "virtual time (min)";
        plot.Title("The incident in the emulator: iterator age, before and after");
        plot.ShowLegend(Alignment.UpperLeft);
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        plot.SavePng(path, 1200, 600);
    }

    /// <summary>
    /// Records Lambda gave up on: sent to the destination, or dropped when the mapping has none (then said so, since a
    /// bare 0 under a destination's heading read as if the run had one).
    /// </summary>
    private static string GivenUp(Analytics.Core.Testing.EmulatorScenario scenario, Analytics.Core.Testing.EmulationSummary s) =>
        scenario.Mapping.OnFailure == Analytics.Core.Testing.OnFailureDestination.None
            ? N(s.RecordsToDestination) + " (no destination: dropped)"
            : N(s.RecordsToDestination);

    private static string Load(Analytics.Core.Testing.EmulatorScenario scenario) => string.Create(
        CultureInfo.InvariantCulture,
        $"{scenario.Stream.ShardCount} shards, {scenario.Producers.Sum(p => p.RatePerSecond):N0} records/s");

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Ratio(double value) => double.IsNaN(value) ? "n/a" : value.ToString("N1", CultureInfo.InvariantCulture);

    private static string Duration(int seconds) => seconds % 60 == 0
        ? string.Create(CultureInfo.InvariantCulture, $"{seconds / 60} min")
        : string.Create(CultureInfo.InvariantCulture, $"{seconds} s");

    private static string Age(long ms) => ms >= 60_000
        ? string.Create(CultureInfo.InvariantCulture, $"{ms / 60_000.0:F1} min")
        : string.Create(CultureInfo.InvariantCulture, $"{ms / 1000.0:F1} s");
}
