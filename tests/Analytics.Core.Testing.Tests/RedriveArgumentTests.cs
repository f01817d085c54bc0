using Analytics.Core.Tests;
using Analytics.Tools;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// <c>redrive</c> arguments out of range, caught when parsed: one <c>error:</c> line naming the flag, exit 2, nothing
/// taken or read. A <c>--min-age-minutes</c> past a few thousand years (a slip of the keyboard) passed the parser,
/// took the table's lease, and stopped with "ArgumentOutOfRangeException: The added or subtracted value results in an
/// un-representable DateTime. (Parameter 't')", exit 1, naming no flag.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveArgumentTests(LocalServersFixture servers)
{
    [Theory]
    [InlineData("2000000000")]
    [InlineData("525601")]
    public async Task AMinimumAgeBeyondAYear_IsABadArgumentNamingTheFlag(string minutes)
    {
        string table = await servers.CreateTableAsync("args");
        string bucket = await servers.CreateBucketAsync("spill");
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int exit = await ToolsCommand.RunAsync(
            ["redrive", "--table", table, "--spill-bucket", bucket, "--min-age-minutes", minutes, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            stderr);

        Assert.Equal(2, exit);
        Assert.Equal(string.Empty, stdout.ToString());
        Assert.StartsWith("error: --min-age-minutes must be a whole number from 0 to 525600 (a year)", stderr.ToString(), StringComparison.Ordinal);
    }

    /// <summary>A year exactly is still accepted: the run goes on and finds nothing to do.</summary>
    [Fact]
    public async Task AMinimumAgeOfAYear_IsAccepted()
    {
        string table = await servers.CreateTableAsync("args");
        string bucket = await servers.CreateBucketAsync("spill");
        var stdout = new StringWriter();

        int exit = await ToolsCommand.RunAsync(
            ["redrive", "--table", table, "--spill-bucket", bucket, "--min-age-minutes", "525600", "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            TextWriter.Null);

        Assert.Equal(0, exit);
        Assert.Contains("redrive: done, nothing left", stdout.ToString(), StringComparison.Ordinal);
    }
}
