using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.S3;
using Amazon.S3.Model;

namespace Analytics.Core.Tests;

/// <summary>
/// The marker an <see cref="S3SpillSink"/> writes beside its spill objects (dynalite and s3rver): a spill with pairs
/// whose outcome is unknown writes or merges it with the highest sequence number and the windows of those pairs only;
/// a spill whose pairs are all decided leaves none.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class SpillMarkerWriteTests(LocalServersFixture servers)
{
    private const string Shard = TestEvents.ShardId;
    private const long W0Ms = 1_714_564_800_000; // 2024-05-01T12:00:00Z
    private const string W0 = "2024-05-01T12:00:00.000Z";
    private const string W1 = "2024-05-01T12:01:00.000Z";
    private const string W2 = "2024-05-01T12:02:00.000Z";
    private const string MarkerKey = "spill/metrics/" + Shard + "/unresolved.marker";
    private static readonly AwsRetryOptions s_fastRetry = AwsRetryOptions.Default with { MaxAttempts = 2, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(2) };

    /// <summary>
    /// The put of W1's item failed without an answer (outcome unknown), W0's was throttled (decided, not applied): the
    /// marker lists W1 only, with W1's highest sequence number (13), not the batch's (14). A later spill whose unknown
    /// samples are all lower (5) adds its window and keeps 13.
    /// </summary>
    [Fact]
    public async Task ASpillWithUnknownPairs_WritesTheirWindowsAndHighestSequence_AndALaterSpillMergesIntoIt()
    {
        string table = await servers.CreateTableAsync("marker");
        string bucket = await servers.CreateBucketAsync("marker");
        using AmazonS3Client s3 = servers.CreateS3Client();
        using var dynamoDb = new ScriptedDynamoDbClient(servers.DynamoDbUrl)
        {
            BeforePut = put => Task.FromException(put.Item["sk"].S == W1 ? ScriptedDynamoDbClient.ServerError() : ScriptedDynamoDbClient.Throttling("ThrottlingException")),
        };
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fastRetry });
        var spill = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = bucket }, sink);
        AggregateBatch batch = ShardStream.Build(Shard, [Record(10, "k0", W0Ms), Record(11, "k0", W0Ms + 60_000), Record(13, "k1", W0Ms + 60_000), Record(14, "k1", W0Ms)]);
        await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => sink.WriteAsync(batch, CancellationToken.None)); // every put given up

        Assert.True(await spill.WriteAsync(Spill(batch, 10), CancellationToken.None));

        // The spill itself: W0 decided, W1 unknown (else the marker below would prove nothing).
        using (JsonDocument spilled = await ReadJsonAsync(s3, bucket, "spill/metrics/" + Shard + "/" + TestEvents.Seq(10) + ".json"))
        {
            Assert.Equal(
                [(W0, false), (W1, true)],
                spilled.RootElement.GetProperty("pairs").EnumerateArray().Select(p => (p.GetProperty("sk").GetString()!, p.GetProperty("outcomeUnknown").GetBoolean())).Order());
        }

        Assert.Equal(TestEvents.Seq(13) + " " + W1, await ReadMarkerAsync(s3, bucket));

        // A spill without a table to read: every pair unknown.
        var blind = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = bucket }, null);
        AggregateBatch later = ShardStream.Build(Shard, [Record(5, "k2", W0Ms + 120_000)]);
        Assert.True(await blind.WriteAsync(Spill(later, 5), CancellationToken.None));

        Assert.Equal(TestEvents.Seq(13) + " " + W1 + "," + W2, await ReadMarkerAsync(s3, bucket));
    }

    /// <summary>The items could be read and no put was ambiguous: every pair is decided, the spill object is written and no marker is.</summary>
    [Fact]
    public async Task ASpillWhosePairsAreAllDecided_WritesNoMarker()
    {
        string table = await servers.CreateTableAsync("marker");
        string bucket = await servers.CreateBucketAsync("marker");
        using AmazonS3Client s3 = servers.CreateS3Client();
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        var spill = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = bucket }, sink);
        AggregateBatch batch = ShardStream.Build(Shard, [Record(10, "k0", W0Ms), Record(11, "k1", W0Ms + 60_000)]);

        Assert.True(await spill.WriteAsync(Spill(batch, 10), CancellationToken.None));

        ListObjectsV2Response listed = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = "spill/" });
        Assert.Equal(["spill/metrics/" + Shard + "/" + TestEvents.Seq(10) + ".json"], listed.S3Objects.Select(o => o.Key));
    }

    /// <summary>Every pair of the batch, as the pipeline spills a batch none of whose pairs was confirmed.</summary>
    private static SpillBatch Spill(AggregateBatch batch, int spillId)
    {
        var names = new Dictionary<int, (string, string)>();
        return new SpillBatch(batch, TestEvents.Seq(spillId), [.. Enumerable.Range(0, batch.Count).Select(i => new SpilledPair(i, batch.GetSamples(i, names)))]);
    }

    /// <summary>The marker as "last window,window,..."; it is stored as JSON (its key has no extension to tell a reader).</summary>
    private static async Task<string> ReadMarkerAsync(IAmazonS3 s3, string bucket)
    {
        GetObjectMetadataResponse metadata = await s3.GetObjectMetadataAsync(bucket, MarkerKey);
        Assert.Equal("application/json", metadata.Headers.ContentType);
        using JsonDocument marker = await ReadJsonAsync(s3, bucket, MarkerKey);
        JsonElement root = marker.RootElement;
        Assert.Equal("analytics.core.spill-marker/1", root.GetProperty("format").GetString());
        return root.GetProperty("last").GetString() + " " + string.Join(",", root.GetProperty("windows").EnumerateArray().Select(w => w.GetString()).Order(StringComparer.Ordinal));
    }

    private static async Task<JsonDocument> ReadJsonAsync(IAmazonS3 s3, string bucket, string key)
    {
        using GetObjectResponse got = await s3.GetObjectAsync(bucket, key);
        using var body = new MemoryStream();
        await got.ResponseStream.CopyToAsync(body);
        return JsonDocument.Parse(body.ToArray());
    }

    private static ShardRecord Record(int sequence, string partitionKey, long windowMs) =>
        new(TestEvents.Seq(sequence), [new TestSample("m", [], windowMs + 1_000, 1)], partitionKey);
}
