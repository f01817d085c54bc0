using Analytics.Core.Tests;
using Analytics.Tools;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The careless operator: both redrive commands against a table name that does not exist, on the local DynamoDB and S3
/// servers. With nothing in the bucket a redrive touches no item, so without a check it reported "nothing left" and
/// exited 0: the mistake went unseen until the next outage. Each command now says so in one line and exits 1.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveOperatorMistakeTests(LocalServersFixture servers)
{
    [Theory]
    [InlineData("redrive")]
    [InlineData("redrive-failures")]
    public async Task ATableThatDoesNotExist_IsOneErrorLine_AndExitOne(string command)
    {
        string bucket = await servers.CreateBucketAsync("empty");
        string table = "no-such-table-" + Guid.NewGuid().ToString("N")[..8];
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int exit = await ToolsCommand.RunAsync(
            [command, "--bucket", bucket, "--table", table, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            stderr);

        Assert.Equal(1, exit);
        string[] lines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string line = Assert.Single(lines);
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.Contains(table, line, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stdout.ToString());
    }
}
