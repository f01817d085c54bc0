using Analytics.Replay;

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
}
