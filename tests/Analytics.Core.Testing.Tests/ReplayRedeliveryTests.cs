using Analytics.Replay;

namespace Analytics.Core.Testing.Tests;

/// <summary>A scenario's <c>redeliveryFraction</c>, <c>consolidateBisectedFailures</c> and <c>retryDelayMs</c> (<see cref="EmulatorScenario"/>): taken, defaulted and range-checked by name.</summary>
public class ReplayRedeliveryTests
{
    [Fact]
    public void RedeliveryFraction_IsTaken_AndIsZeroWhenAbsent()
    {
        Assert.Equal(0.25, ScenarioLoader.Parse("""{"redeliveryFraction":0.25,"handler":{"kind":"sample"}}"""u8).Scenario.RedeliveryFraction);
        Assert.Equal(0, ScenarioLoader.Parse("""{"handler":{"kind":"sample"}}"""u8).Scenario.RedeliveryFraction);
    }

    [Fact]
    public void ConsolidateBisectedFailures_IsTaken_AndIsFalseWhenAbsent_AndABadValueIsNamed()
    {
        Assert.True(ScenarioLoader.Parse("""{"consolidateBisectedFailures":true,"handler":{"kind":"sample"}}"""u8).Scenario.ConsolidateBisectedFailures);
        Assert.False(ScenarioLoader.Parse("""{"handler":{"kind":"sample"}}"""u8).Scenario.ConsolidateBisectedFailures);
        ScenarioException error = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse("""{"consolidateBisectedFailures":"yes","handler":{"kind":"sample"}}"""u8));
        Assert.Equal("$.consolidateBisectedFailures", error.Field);
    }

    [Fact]
    public void EventStringEscaping_IsTaken_AndIsMinimalWhenAbsent_AndABadValueIsNamed()
    {
        Assert.Equal(EventStringEscaping.AllNonAscii, ScenarioLoader.Parse("""{"eventStringEscaping":"allNonAscii","handler":{"kind":"sample"}}"""u8).Scenario.EventStringEscaping);
        Assert.Equal(EventStringEscaping.Minimal, ScenarioLoader.Parse("""{"eventStringEscaping":"minimal","handler":{"kind":"sample"}}"""u8).Scenario.EventStringEscaping);
        Assert.Equal(EventStringEscaping.Minimal, ScenarioLoader.Parse("""{"handler":{"kind":"sample"}}"""u8).Scenario.EventStringEscaping);
        ScenarioException error = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse("""{"eventStringEscaping":"AllNonAscii","handler":{"kind":"sample"}}"""u8));
        Assert.Equal("$.eventStringEscaping", error.Field);
    }

    [Theory]
    [InlineData("0.75")]
    [InlineData("-0.1")]
    [InlineData("1")]
    public void RedeliveryFraction_OutOfRange_IsABadScenario_NamingTheField(string value)
    {
        ScenarioException error = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(System.Text.Encoding.UTF8.GetBytes("{\"redeliveryFraction\":" + value + ",\"handler\":{\"kind\":\"sample\"}}")));
        Assert.Equal("$.redeliveryFraction", error.Field);
        Assert.Contains("from 0", error.Reason, StringComparison.Ordinal);
        Assert.Contains("0.5", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void RetryDelayMs_IsTaken_AndIsZeroWhenAbsent()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(7500), ScenarioLoader.Parse("""{"retryDelayMs":7500,"handler":{"kind":"sample"}}"""u8).Scenario.RetryDelay);
        Assert.Equal(TimeSpan.Zero, ScenarioLoader.Parse("""{"handler":{"kind":"sample"}}"""u8).Scenario.RetryDelay);
    }

    // 1e300 would overflow TimeSpan: named as out of range, not an OverflowException. A fraction (0.00001, under a
    // tick) read as no wait at all, where the library waits whole milliseconds: refused.
    [Theory]
    [InlineData("0.00001")]
    [InlineData("7.5")]
    [InlineData("-1")]
    [InlineData("3600001")]
    [InlineData("1e300")]
    public void RetryDelayMs_OutOfRange_IsABadScenario_NamingTheField(string value)
    {
        ScenarioException error = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(System.Text.Encoding.UTF8.GetBytes("{\"retryDelayMs\":" + value + ",\"handler\":{\"kind\":\"sample\"}}")));
        Assert.Equal("$.retryDelayMs", error.Field);
        Assert.Contains("a whole number of milliseconds from 0 to 3600000", error.Reason, StringComparison.Ordinal);
    }
}
