using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Core.Tests;
using Analytics.Tools;
using static Analytics.Core.Testing.Tests.RedriveObjects;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// <c>redrive --table</c> given another function's table, whose items are all of another stream, on the local servers.
/// The per-item stream check sees only items that exist: the other table has no item of these series, so the spill was
/// merged into it and deleted, and the destination object applied into it and marked done, both "done, nothing left",
/// exit 0: the samples left their own table for good. Now the objects are left, with a line naming the table and both
/// streams, nothing written, exit 1; a table that holds items of the objects' stream, or none at all, is still redriven.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveWrongTableTests(LocalServersFixture servers)
{
    private const string OtherStream = "arn:aws:kinesis:us-east-1:123456789012:stream/other";

    [Fact]
    public async Task ASpillIntoATableOfAnotherStream_IsLeft_NotMergedAndDeleted()
    {
        string table = await OtherFunctionsTableAsync();
        string spill = await servers.CreateBucketAsync("spill");
        using AmazonS3Client s3 = servers.CreateS3Client();
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = spill, Key = SpillKey(0), ContentBody = SpillBody(0, "a", "k", [1]), UseChunkEncoding = false });

        (int exit, string stdout, string stderr) = await RunAsync(["--table", table, "--spill-bucket", spill]);

        Assert.Equal((1, string.Empty), (exit, stderr));
        Assert.Contains($"left {SpillKey(0)}: table '{table}' holds items of stream {OtherStream}, and the object is of stream arn:aws:kinesis:us-east-1:123456789012:stream/s", stdout, StringComparison.Ordinal);
        Assert.Equal(1, (await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = spill, Prefix = "spill/" })).KeyCount);
        Assert.Null(await ItemAsync(table, "a"));
    }

    [Fact]
    public async Task ADestinationObjectIntoATableOfAnotherStream_IsLeft_NotApplied()
    {
        string table = await OtherFunctionsTableAsync();
        string spill = await servers.CreateBucketAsync("spill");
        string failure = await servers.CreateBucketAsync("failure");
        using AmazonS3Client s3 = servers.CreateS3Client();
        string key = DestinationKey(0, "o");
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = failure, Key = key, ContentBody = InvocationRecord(0, [Record(0, 1, "k", "a", 1)]), UseChunkEncoding = false });

        (int exit, string stdout, string stderr) = await RunAsync(["--table", table, "--spill-bucket", spill, "--failure-bucket", failure]);

        Assert.Equal((1, string.Empty), (exit, stderr));
        string line = Assert.Single(stdout.Split('\n'), l => l.StartsWith($"object {key} ", StringComparison.Ordinal));
        Assert.Contains($"applied=0 alreadyApplied=0 undecided=0 left=0 error: table '{table}' holds items of stream {OtherStream}, and the object is of stream arn:aws:kinesis:us-east-1:123456789012:stream/s", line, StringComparison.Ordinal);
        Assert.Null(await ItemAsync(table, "a"));
        Assert.Equal(0, (await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = failure, Prefix = "redrive/" })).KeyCount);
    }

    /// <summary>The same spill into a table that holds an item of its own stream (of another series) is applied and deleted.</summary>
    [Fact]
    public async Task ASpillIntoATableOfItsOwnStream_IsApplied()
    {
        string table = await servers.CreateTableAsync("own");
        string seed = await servers.CreateBucketAsync("seed");
        using AmazonS3Client s3 = servers.CreateS3Client();
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = seed, Key = SpillKey(1), ContentBody = SpillBody(1, "b", "k", [5]), UseChunkEncoding = false });
        Assert.Equal(0, (await RunAsync(["--table", table, "--spill-bucket", seed])).Exit);
        string spill = await servers.CreateBucketAsync("spill");
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = spill, Key = SpillKey(0), ContentBody = SpillBody(0, "a", "k", [1]), UseChunkEncoding = false });

        (int exit, string stdout, _) = await RunAsync(["--table", table, "--spill-bucket", spill]);

        Assert.Equal(0, exit);
        Assert.Contains("redrive: done, nothing left", stdout, StringComparison.Ordinal);
        Assert.NotNull(await ItemAsync(table, "a"));
    }

    /// <summary>A table another function's spill redrive wrote: one item, series "b", of stream <c>other</c>.</summary>
    private async Task<string> OtherFunctionsTableAsync()
    {
        string table = await servers.CreateTableAsync("other");
        string bucket = await servers.CreateBucketAsync("otherspill");
        using AmazonS3Client s3 = servers.CreateS3Client();
        string body = SpillBody(0, "b", "k", [5]).Replace("stream/s\"", "stream/other\"", StringComparison.Ordinal);
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = SpillKey(0).Replace("spill/s/", "spill/other/", StringComparison.Ordinal), ContentBody = body, UseChunkEncoding = false });
        (int exit, _, _) = await RunAsync(["--table", table, "--spill-bucket", bucket]);
        Assert.Equal(0, exit);
        Dictionary<string, AttributeValue>? item = await ItemAsync(table, "b");
        Assert.Equal(OtherStream, item?["stream"].S);
        return table;
    }

    private async Task<Dictionary<string, AttributeValue>?> ItemAsync(string table, string metric)
    {
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        QueryResponse found = await dynamoDb.QueryAsync(new QueryRequest
        {
            TableName = table,
            KeyConditionExpression = "pk = :pk",
            ExpressionAttributeValues = new Dictionary<string, AttributeValue> { [":pk"] = new AttributeValue { S = Series(metric) } },
            ConsistentRead = true,
        });
        return found.Items is { Count: > 0 } items ? items[0] : null;
    }

    private async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = await ToolsCommand.RunAsync(
            ["redrive", .. args, "--min-age-minutes", "0", "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }
}
