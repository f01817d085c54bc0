using Analytics.Tools;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// <c>redrive</c>'s values that are not what a flag takes: one <c>error:</c> line naming the flag, then the help hint,
/// exit 2, before anything is read (no server is needed: the endpoints are never reached).
/// </summary>
public sealed class RedriveOptionTests
{
    private static readonly string[] s_required = ["redrive", "--table", "aggregates", "--spill-bucket", "spill", "--dynamodb-endpoint", "http://127.0.0.1:9", "--s3-endpoint", "http://127.0.0.1:9"];

    /// <summary>
    /// Values that do not parse as a whole number in range. The first five died with an unhandled exception and a stack
    /// trace, exit 134 (found by review): the range validators read the value of an option that had not parsed.
    /// </summary>
    [Theory]
    [InlineData("--window-seconds", "abc", "1 to 3600")]
    [InlineData("--window-seconds", "60s", "1 to 3600")]
    [InlineData("--max-keys-per-item", "1e3", "1 to 10000")]
    [InlineData("--min-age-minutes", "", "0 to 525600")]
    [InlineData("--min-age-minutes", "99999999999", "0 to 525600")]
    [InlineData("--window-seconds", "0", "1 to 3600")]
    [InlineData("--window-seconds", "3601", "1 to 3600")]
    [InlineData("--max-keys-per-item", "10001", "1 to 10000")]
    [InlineData("--max-pairs", "0", "1 to 10000000")]
    [InlineData("--max-pairs", "10000001", "1 to 10000000")]
    [InlineData("--min-age-minutes", "-1", "0 to 525600")]
    public async Task ANumberOutOfItsRangeOrNotANumber_IsOneErrorNamingTheFlag_Exit2(string flag, string value, string range)
    {
        (int exit, string stdout, string stderr) = await RunAsync([.. s_required, flag, value]);

        Assert.Equal((2, string.Empty), (exit, stdout));
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith($"error: {flag} must be a whole number from {range}", lines[0], StringComparison.Ordinal);
        Assert.EndsWith($"not '{value}'", lines[0], StringComparison.Ordinal);
        Assert.Equal("see 'analytics-tools redrive --help'", lines[1]);
    }

    /// <summary>An empty name reached the SDK, whose message named a request property, the same for every bucket flag (found by review).</summary>
    [Theory]
    [InlineData("--table")]
    [InlineData("--spill-bucket")]
    [InlineData("--failure-bucket")]
    [InlineData("--quarantine-bucket")]
    public async Task AnEmptyName_IsOneErrorNamingTheFlag_Exit2(string flag)
    {
        int at = Array.IndexOf(s_required, flag);
        string[] args = at < 0 ? [.. s_required, flag, " "] : [.. s_required[..(at + 1)], " ", .. s_required[(at + 2)..]];
        (int exit, string stdout, string stderr) = await RunAsync(args);

        Assert.Equal((2, string.Empty), (exit, stdout));
        Assert.Equal($"error: {flag} must not be empty", stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)[0]);
    }

    /// <summary>
    /// A table name DynamoDB refuses, in every table command: one error line with the sink's rule, exit 2, before any
    /// request (found by review: <c>query</c> and <c>create-table</c> sent it, and DynamoDB's refusal ended them with 1).
    /// </summary>
    [Theory]
    [InlineData("query", "a")]
    [InlineData("create-table", "s3://metrics")]
    [InlineData("redrive", "metrics table")]
    public async Task ATableNameDynamoDbRefuses_IsOneErrorNamingTheFlag_Exit2(string command, string name)
    {
        string[] args = command == "redrive"
            ? [.. s_required[..2], name, .. s_required[3..]]
            : [command, "--dynamodb-endpoint", "http://127.0.0.1:9", "--table", name];

        (int exit, string stdout, string stderr) = await RunAsync(args);

        Assert.Equal((2, string.Empty), (exit, stdout));
        Assert.Equal(
            [$"error: --table '{name}' is not a DynamoDB table name: give the table's name alone (3 to 255 letters, digits, '_', '-', '.') or its ARN, without spaces.", $"see 'analytics-tools {command} --help'"],
            stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = await ToolsCommand.RunAsync(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString().Replace("\r", string.Empty, StringComparison.Ordinal));
    }
}
