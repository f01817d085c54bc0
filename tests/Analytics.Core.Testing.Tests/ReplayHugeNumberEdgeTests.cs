namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Review of 6ecf450 (a whole number too large for its field is named as too large). The scenario reader takes comments
/// and trailing commas (ScenarioFile's JsonSourceGenerationOptions: ReadCommentHandling Skip, AllowTrailingCommas), but
/// the fix re-reads the file with JsonDocument's defaults, which refuse both: in such a file the same number is still
/// "a value of another kind". And a whole number too far below the field's range is called "too large".
/// </summary>
public class ReplayHugeNumberEdgeTests
{
    [Theory]
    [InlineData("{\"durationSeconds\":99999999999, // a week is 604800\n\"handler\":{\"kind\":\"sample\"}}", "$.durationSeconds")]
    [InlineData("""{"durationSeconds":99999999999,"handler":{"kind":"sample"},}""", "$.durationSeconds")]
    public void AWholeNumberTooLarge_InAFileTheReaderTakes_IsNotAnotherKindOfValue(string json, string field)
    {
        var error = Assert.Throws<Analytics.Replay.ScenarioException>(() => Analytics.Replay.ScenarioLoader.Parse(System.Text.Encoding.UTF8.GetBytes(json)));
        Assert.Equal(field, error.Field);
        Assert.DoesNotContain("another kind", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AWholeNumberTooSmall_IsNotCalledTooLarge()
    {
        var error = Assert.Throws<Analytics.Replay.ScenarioException>(() => Analytics.Replay.ScenarioLoader.Parse("""{"durationSeconds":-99999999999,"handler":{"kind":"sample"}}"""u8.ToArray()));
        Assert.Equal("$.durationSeconds", error.Field);
        Assert.DoesNotContain("too large", error.Reason, StringComparison.Ordinal);
    }
}
