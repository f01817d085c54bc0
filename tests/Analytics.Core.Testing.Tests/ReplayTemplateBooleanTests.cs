using Analytics.Core.Tests;
using Analytics.Replay;
using Analytics.Replay.Incident;

namespace Analytics.Core.Testing.Tests;

/// <summary>A template's Kinesis event read as sam deploy reads its booleans (found by a review, 2026-12-07, s66).</summary>
public class ReplayTemplateBooleanTests
{
    private static readonly string s_template = File.ReadAllText(Path.Combine(RepoPaths.Root, "samples", "Analytics.SampleLambda", "template.yaml")).Replace("\r\n", "\n", StringComparison.Ordinal);

    private static string WithEnabled(string value) =>
        s_template.Replace("            StartingPosition: LATEST\n", $"            StartingPosition: LATEST\n            Enabled: {value}\n", StringComparison.Ordinal);

    /// <summary>YAML 1.1's false (sam deploy's reader) disables the mapping: the run went on as if it were enabled.</summary>
    [Theory]
    [InlineData("no")]
    [InlineData("off")]
    [InlineData("FALSE")]
    [InlineData("No")]
    [InlineData("OFF")]
    [InlineData("false")]
    [InlineData("\"false\"")]
    public void ADisabledMapping_InAnySpellingSamDeployReads_IsRefused(string value)
    {
        ScenarioException error = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(WithEnabled(value), "t.yaml"));

        Assert.Contains("Properties.Events.Stream.Properties.Enabled: the mapping is disabled", error.Reason, StringComparison.Ordinal);
    }

    /// <summary>A value the template's deployment decides (a parameter, a condition) is not known here: it ran as enabled.</summary>
    [Theory]
    [InlineData("!Ref EnableIt", "'EnableIt' is not true or false")]
    [InlineData("!If [IsProd, true, false]", "a list is not true or false")]
    [InlineData("maybe", "'maybe' is not true or false")]
    [InlineData("'no'", "'no' is not true or false")]
    public void AnEnabledThatIsNotABoolean_IsRefused_NamingIt(string value, string reason)
    {
        ScenarioException error = Assert.Throws<ScenarioException>(() => SamTemplate.Parse(WithEnabled(value), "t.yaml"));

        Assert.Contains("Properties.Events.Stream.Properties.Enabled: " + reason, error.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("yes")]
    [InlineData("on")]
    [InlineData("TRUE")]
    [InlineData("true")]
    public void AnEnabledMapping_InAnySpellingSamDeployReads_IsRead(string value)
    {
        Assert.Equal(100, SamTemplate.Parse(WithEnabled(value), "t.yaml").Mapping.BatchSize);
    }
}
