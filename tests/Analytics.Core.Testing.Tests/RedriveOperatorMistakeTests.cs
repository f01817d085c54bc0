using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Core.Tests;
using Analytics.Tools;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// <c>redrive</c> attacked on the local DynamoDB and S3 servers. The careless operator: a table name that does not
/// exist. With nothing in the buckets a redrive touches no item, so without a check it reported "nothing left" and
/// exited 0: the mistake went unseen until the next outage. It now says so in one line and exits 1. The hostile object
/// in the on-failure destination: reported, never applied, never a trace, never a byte of it on a report line.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveOperatorMistakeTests(LocalServersFixture servers)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ATableThatDoesNotExist_IsOneErrorLine_AndExitOne(bool withFailureBucket)
    {
        string bucket = await servers.CreateBucketAsync("empty");
        string table = "no-such-table-" + Guid.NewGuid().ToString("N")[..8];
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        string[] failures = withFailureBucket ? ["--failure-bucket", bucket] : [];

        int exit = await ToolsCommand.RunAsync(
            ["redrive", "--spill-bucket", bucket, .. failures, "--table", table, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            stderr);

        Assert.Equal(1, exit);
        string[] lines = stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string line = Assert.Single(lines);
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.Contains(table, line, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stdout.ToString());
    }

    /// <summary>
    /// A hostile or broken object in the on-failure destination (not JSON, nested past any reader's depth, no payload,
    /// a payload whose record has no sequence number): each is reported on its own line with the reason, none stops
    /// the run or the others, nothing is applied, and the command exits 1. No exception reaches the operator.
    /// </summary>
    [Fact]
    public async Task HostileDestinationObjects_AreEachReported_NothingApplied_ExitOne()
    {
        string table = await servers.CreateTableAsync("hostile");
        string bucket = await servers.CreateBucketAsync("hostile");
        string spill = await servers.CreateBucketAsync("spill");
        using AmazonS3Client s3 = servers.CreateS3Client();
        const string Prefix = "aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/shardId-000000000000/2025/01/01/";
        (string Name, string Body)[] objects =
        [
            ("garbage", "\u0001 not json"),
            ("deep", new string('[', 100_000)),
            ("no-payload", """{"requestContext":{"condition":"RetryAttemptsExhausted"},"KinesisBatchInfo":{"shardId":"shardId-000000000000"}}"""),
            ("bad-record", """{"requestContext":{"condition":"RetryAttemptsExhausted"},"KinesisBatchInfo":{"shardId":"shardId-000000000000","startSequenceNumber":"1","endSequenceNumber":"1","batchSize":1},"payload":"{\"Records\":[{\"kinesis\":{\"data\":\"!!!\"}}]}"}"""),
        ];
        foreach ((string name, string body) in objects)
        {
            await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = Prefix + name, ContentBody = body });
        }

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = await ToolsCommand.RunAsync(
            ["redrive", "--spill-bucket", spill, "--failure-bucket", bucket, "--table", table, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            stderr);

        Assert.Equal(1, exit);
        Assert.Equal(string.Empty, stderr.ToString());
        string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach ((string name, _) in objects)
        {
            string line = Assert.Single(lines, l => l.StartsWith($"object {Prefix}{name} ", StringComparison.Ordinal));
            Assert.Contains("applied=0 ", line, StringComparison.Ordinal);
            Assert.Contains(" error: ", line, StringComparison.Ordinal);
        }

        Assert.Contains("destination: 4 object(s): 0 complete", stdout.ToString(), StringComparison.Ordinal);
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        Assert.Equal(0, (await dynamoDb.ScanAsync(new ScanRequest { TableName = table })).Count);
    }

    /// <summary>
    /// The hostile object whose first byte is the first letter of a secret: no output line may carry it. The JSON
    /// reader's message names the byte (<c>'Q' is an invalid start of a value</c>); the report gives its offset and the
    /// kind of error instead. Nothing else the command prints here has the letter Q.
    /// </summary>
    [Fact]
    public async Task ADestinationObjectThatIsNotJson_IsReportedByOffset_AndNoByteOfItReachesTheOutput()
    {
        string table = await servers.CreateTableAsync("secret");
        string bucket = await servers.CreateBucketAsync("secret");
        string spill = await servers.CreateBucketAsync("spill");
        using AmazonS3Client s3 = servers.CreateS3Client();
        const string Key = "aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/shardId-000000000000/2025/01/01/secret";
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = Key, ContentBody = "Q7-the-secret", UseChunkEncoding = false });

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = await ToolsCommand.RunAsync(
            ["redrive", "--spill-bucket", spill, "--failure-bucket", bucket, "--table", table, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            stderr);

        Assert.Equal(1, exit);
        string output = stdout.ToString() + stderr.ToString();
        Assert.Contains($"object {Key} shard=unknown records=0 applied=0 alreadyApplied=0 undecided=0 left=0 error: not JSON: invalid JSON at byte 0 of 13", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Q", output, StringComparison.Ordinal);
        Assert.DoesNotContain("0x51", output, StringComparison.OrdinalIgnoreCase);
    }
}
