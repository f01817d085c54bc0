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
[Collection(LocalServersCollection.Second)]
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

    /// <summary>
    /// <c>--table</c> mistyped as another, empty table (nothing there to tell whose it is): the destination object is
    /// applied into it and marked done. The marker kept no table, so the run with the right table reported the object
    /// "done by an earlier run" and its records never reached their table, exit 0. The marker now names the table: the
    /// right table's run applies the object (its own watermarks decide), once, and a run after it does nothing again.
    /// </summary>
    [Fact]
    public async Task ADestinationObjectFirstRedrivenIntoAnEmptyWrongTable_IsStillAppliedToTheRightOne_Once()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "right");
        string wrong = await servers.CreateTableAsync("wrong");
        string key = DestinationKey(0, "o");
        await scene.PutDestinationAsync(key, InvocationRecord(0, [Record(0, 1, "k", "a", 1), Record(0, 2, "k", "a", 2)]));
        // The failed attempts applied record 1 to the right table before Lambda gave the batch up.
        Assert.Null((await RedriveTool.ApplyLiveAsync(scene.DynamoDb, scene.S3, scene.Table, scene.Empty, [Record(0, 1, "k", "a", 1)])).ReportedFailure);

        (int wrongExit, string wrongOut, _) = await RunAsync(["--table", wrong, "--spill-bucket", scene.Spill, "--failure-bucket", scene.Failure]);
        (int exit, string stdout, _) = await RunAsync(["--table", scene.Table, "--spill-bucket", scene.Spill, "--failure-bucket", scene.Failure]);
        (int again, string againOut, _) = await RunAsync(["--table", scene.Table, "--spill-bucket", scene.Spill, "--failure-bucket", scene.Failure]);

        Assert.Equal((0, 0, 0), (wrongExit, exit, again));
        Assert.Contains($"object {key} shard={ShardId(0)} records=2 applied=2 alreadyApplied=0 undecided=0 left=0", wrongOut, StringComparison.Ordinal);
        Assert.Contains($"object {key} shard={ShardId(0)} records=2 applied=1 alreadyApplied=1 undecided=0 left=0", stdout, StringComparison.Ordinal);
        Assert.Contains($"an earlier run redrove it into table '{wrong}'", stdout, StringComparison.Ordinal);
        Assert.Contains($"object {key} shard={ShardId(0)} records=2 applied=1 alreadyApplied=1 undecided=0 left=0 (done by an earlier run)", againOut, StringComparison.Ordinal);
        Dictionary<string, AttributeValue> item = await scene.ItemAsync();
        Assert.Equal(("2", "3"), (item["count"].N, item["sum"].N));
    }

    /// <summary>
    /// A batch in both places (spilled, then given up), its destination object redriven first into an empty wrong table
    /// (with a spill bucket without its spill). The right table's run then took the spill for one whose records an
    /// earlier run had applied from the destination, and left it; its destination object stayed held back behind it. Now
    /// the marker of the other table counts for nothing here: the spill is applied, then the object finds it applied, and
    /// the table holds the record once.
    /// </summary>
    [Fact]
    public async Task ABatchInBothPlaces_FirstRedrivenIntoAnEmptyWrongTable_IsAppliedToTheRightOneOnce()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "right");
        string wrong = await servers.CreateTableAsync("wrong");
        string key = DestinationKey(0, "o");
        await scene.PutSpillAsync(SpillKey(0), SpillBody(0, "a", "k", [1]));
        await scene.PutDestinationAsync(key, InvocationRecord(0, [Record(0, 1, "k", "a", 1)]));

        (int wrongExit, _, _) = await RunAsync(["--table", wrong, "--spill-bucket", scene.Empty, "--failure-bucket", scene.Failure]);
        (int exit, string stdout, _) = await RunAsync(["--table", scene.Table, "--spill-bucket", scene.Spill, "--failure-bucket", scene.Failure]);

        Assert.Equal((0, 0), (wrongExit, exit));
        Assert.Contains("spills: 1 spill objects, 1 samples applied, 0 already in the table", stdout, StringComparison.Ordinal);
        Assert.Contains($"object {key} shard={ShardId(0)} records=1 applied=0 alreadyApplied=1 undecided=0 left=0 (an earlier run redrove it into table '{wrong}', not this one)", stdout, StringComparison.Ordinal);
        Assert.Equal(0, await scene.CountAsync(scene.Spill, "spill/"));
        Assert.Equal("1", (await scene.ItemAsync())["count"].N);
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
