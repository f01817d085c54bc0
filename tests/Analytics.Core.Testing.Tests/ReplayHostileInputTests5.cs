using System.Text;
using Analytics.Replay;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Found by a review (2026-12-07, s66) of replay's input files as a careless operator and a hostile author would give
/// them: a template path the file APIs cannot take and a template path that is a directory.
/// </summary>
public class ReplayHostileInputTests5
{
    /// <summary>A NUL in the scenario's template path: an ArgumentException from the file APIs, a stack trace with exit 1.</summary>
    [Fact]
    public void ATemplatePathWithANul_Exits2_NamingTheTemplate()
    {
        string json = """{"template":"t\u0000.yaml","handler":{"kind":"sample"}}""";

        ScenarioException error = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(Encoding.UTF8.GetBytes(json), Path.GetTempPath()));

        Assert.Equal("$.template", error.Field);
        Assert.Contains("NUL", error.Reason, StringComparison.Ordinal);
    }

    /// <summary>A template path that is a directory ("" or "."): reported as "Access to the path is denied".</summary>
    [Theory]
    [InlineData("")]
    [InlineData(".")]
    public void ATemplatePathThatIsADirectory_IsNamedADirectory(string template)
    {
        string json = "{\"template\":\"" + template + "\",\"handler\":{\"kind\":\"sample\"}}";

        ScenarioException error = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(Encoding.UTF8.GetBytes(json), Path.GetTempPath()));

        Assert.Equal("$.template", error.Field);
        Assert.Contains("is a directory; give the SAM template's YAML file", error.Reason, StringComparison.Ordinal);
    }
}
