using Analytics.Replay;
using SkiaSharp;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The chart's IteratorAge is Lambda's metric: a value for each second in which an invocation ended, none for a second
/// in which none did. A retry storm (each try 25 s long) was drawn at 0 between its tries, as if it had recovered (review).
/// </summary>
public sealed class ReplayChartTests
{
    [Fact]
    public void ASecondWithoutAnEndedInvocation_HasNoAge_AndTheChartDrawsNoPointThere()
    {
        EmulatorScenario scenario = Emulate.Texts("poison") with { DurationSeconds = 120, Function = new() { TimeoutSeconds = 60 } };
        EmulationRecording recording = Emulate.Scripted(scenario, new ScriptRule(ScriptAction.SleepMs, "poison", Ms: 25_000), new ScriptRule(ScriptAction.Raise, "poison"));
        var perSecond = new ReplayRun.PerSecond(scenario.DurationSeconds);
        foreach (ShardSecond second in recording.Seconds)
        {
            perSecond.OnSecond(second);
        }

        // Independently: the seconds in which an invocation ended, and the highest age of those that did.
        var ended = recording.Invocations.GroupBy(i => (int)(i.EndMs / 1000)).ToDictionary(g => g.Key, g => g.Max(i => i.IteratorAgeMs) / 1000.0);
        Assert.InRange(ended.Count, 3, 10); // a try every 25 s
        for (int s = 0; s < scenario.DurationSeconds; s++)
        {
            if (ended.TryGetValue(s, out double age))
            {
                Assert.Equal(age, perSecond.IteratorAgeSeconds[s]);
            }
            else
            {
                Assert.True(double.IsNaN(perSecond.IteratorAgeSeconds[s]), $"second {s}: {perSecond.IteratorAgeSeconds[s]}");
            }
        }

        double[] seconds = [.. Enumerable.Range(0, scenario.DurationSeconds).Select(s => (double)s)];
        (double[] x, double[] y) = Chart.Points(seconds, perSecond.IteratorAgeSeconds);
        Assert.Equal(ended.Keys.Order().Select(s => (double)s), x);
        Assert.Equal(ended.OrderBy(e => e.Key).Select(e => e.Value), y);
        Assert.All(y, age => Assert.True(age > 0));
    }

    [Theory]
    [InlineData(40)]
    [InlineData(120)]
    public void ARunWithOneReading_StillShowsIt(int duration)
    {
        // The diff review's case: at 40 s one invocation has ended, so IteratorAge has one point, which a line alone
        // does not draw (the chart showed no IteratorAge while the summary said 25 s).
        EmulatorScenario scenario = Emulate.Texts("poison") with { DurationSeconds = duration, Function = new() { TimeoutSeconds = 60 } };
        EmulationRecording recording = Emulate.Scripted(scenario, new ScriptRule(ScriptAction.SleepMs, "poison", Ms: 25_000), new ScriptRule(ScriptAction.Raise, "poison"));
        var perSecond = new ReplayRun.PerSecond(scenario.DurationSeconds);
        foreach (ShardSecond second in recording.Seconds)
        {
            perSecond.OnSecond(second);
        }

        double[] ages = [.. perSecond.IteratorAgeSeconds.Where(a => !double.IsNaN(a))];
        Assert.True(duration != 40 || ages.Length == 1, $"{ages.Length} readings");
        string path = Path.Combine(Path.GetTempPath(), "replay-chart-" + Guid.NewGuid().ToString("N") + ".png");
        try
        {
            Chart.Draw(perSecond, scenario, path);
            using SKBitmap bitmap = SKBitmap.Decode(path);

            // ScottPlot's first series colour (#1F77B4), right of the legend box.
            int drawn = 0;
            for (int x = 620; x < bitmap.Width; x++)
            {
                for (int y = 0; y < bitmap.Height; y++)
                {
                    SKColor c = bitmap.GetPixel(x, y);
                    drawn += Math.Abs(c.Red - 0x1F) < 40 && Math.Abs(c.Green - 0x77) < 40 && Math.Abs(c.Blue - 0xB4) < 40 ? 1 : 0;
                }
            }

            Assert.True(drawn > 0, $"IteratorAge pixels in the plot area: {drawn} (its readings: {string.Join(", ", ages)} s)");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
