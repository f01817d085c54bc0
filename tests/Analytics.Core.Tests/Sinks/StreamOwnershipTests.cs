using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using static Analytics.Core.Tests.StoredItems;

namespace Analytics.Core.Tests;

/// <summary>
/// One table serves one stream. The watermarks are per shard id, and every stream's shard ids start at
/// <c>shardId-000000000000</c>: a second stream writing the same series to the table would be judged by the first's
/// watermarks, and a record of it at or below them skipped as already applied. Each item records its stream; a write
/// from another is refused with an error that names both, nothing is marked durable, the item stays as it was.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class StreamOwnershipTests(LocalServersFixture servers)
{
    private const string Shard = "shardId-000000000000";
    private const long WindowMs = 1_714_564_800_000; // 2024-05-01T12:00:00Z
    private const string OtherStream = "arn:aws:kinesis:eu-west-1:210987654321:stream/metrics";
    private const string Five = "49590338271490256608559692538361571095921575989136588905";
    private const string Three = "49590338271490256608559692538361571095921575989136588903";
    private const string Seven = "49590338271490256608559692538361571095921575989136588907";

    [Fact]
    public async Task TwoStreamsOneTable_TheOtherStreamsWrite_IsRefusedNamingBoth_AndNothingIsMarked()
    {
        string table = await servers.CreateTableAsync("streams");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        // Same shard id, partition key and series in two streams; the other stream's record has the lower number.
        await sink.WriteAsync(Batch(ShardStream.StreamArn, Record(Five, 10)), CancellationToken.None);
        AggregateBatch other = Batch(OtherStream, Record(Three, 5));
        InvalidOperationException e = await Assert.ThrowsAsync<InvalidOperationException>(() => sink.WriteAsync(other, CancellationToken.None));

        Assert.StartsWith("This batch's stream " + OtherStream + " is not stream " + ShardStream.StreamArn + ", which table '" + table + "'", e.Message, StringComparison.Ordinal);
        // The log line keeps the error's first 300 characters, with its type: both streams are within them, before the
        // table's name, which may be an ARN of up to 1,024 characters (the streams were after it).
        Assert.True(e.GetType().FullName!.Length + 2 + e.Message.IndexOf(ShardStream.StreamArn, StringComparison.Ordinal) + ShardStream.StreamArn.Length <= BatchSummary.MaxErrorLength);
        Assert.Contains("One stream per table", e.Message, StringComparison.Ordinal);
        // How many items were left, of which shard, and why one table cannot serve two streams.
        Assert.Contains("1 aggregate item(s) of shard " + Shard + " were not written. The watermarks are kept per shard id, which repeats across streams", e.Message, StringComparison.Ordinal);
        Assert.Contains(table, e.Message, StringComparison.Ordinal);
        Assert.False(other.IsDurable(0));
        Dictionary<string, AttributeValue> item = await GetOnlyItemAsync(client, table);
        Assert.Equal(("1", "10", "1", ShardStream.StreamArn), (item["count"].N, item["sum"].N, item["ver"].N, item["stream"].S));
    }

    /// <summary>An enhanced fan-out consumer's ARN names the same stream: its records are the stream's, deduplicated as any.</summary>
    [Fact]
    public async Task AConsumerArnOfTheSameStream_IsTheSameStream()
    {
        string table = await servers.CreateTableAsync("streams");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        string consumer = ShardStream.StreamArn + "/consumer/analytics:1714564800";

        await sink.WriteAsync(Batch(ShardStream.StreamArn, Record(Five, 10)), CancellationToken.None);
        await sink.WriteAsync(Batch(consumer, Record(Five, 10), Record(Seven, 1)), CancellationToken.None); // a re-delivery and one new record

        Dictionary<string, AttributeValue> item = await GetOnlyItemAsync(client, table);
        Assert.Equal(("2", "11", ShardStream.StreamArn), (item["count"].N, item["sum"].N, item["stream"].S));
    }

    /// <summary>An item written without a stream (before the attribute existed) belongs to the first stream that writes it.</summary>
    [Fact]
    public async Task AnItemWithoutAStream_BelongsToTheFirstStreamThatWritesIt()
    {
        string table = await servers.CreateTableAsync("streams");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        await sink.WriteAsync(Batch(null, Record(Three, 5)), CancellationToken.None);
        Assert.False((await GetOnlyItemAsync(client, table)).ContainsKey("stream"));
        await sink.WriteAsync(Batch(OtherStream, Record(Five, 10)), CancellationToken.None);
        Assert.Equal(OtherStream, (await GetOnlyItemAsync(client, table))["stream"].S);

        await Assert.ThrowsAsync<InvalidOperationException>(() => sink.WriteAsync(Batch(ShardStream.StreamArn, Record(Seven, 1)), CancellationToken.None));
        Assert.Equal("15", (await GetOnlyItemAsync(client, table))["sum"].N);
    }

    [Fact]
    public async Task AStreamAttributeThatIsNotAString_IsRefusedAsInvalidData()
    {
        string table = await servers.CreateTableAsync("streams");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        await sink.WriteAsync(Batch(ShardStream.StreamArn, Record(Three, 5)), CancellationToken.None);
        Dictionary<string, AttributeValue> stored = await GetOnlyItemAsync(client, table);
        await client.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = table,
            Key = new() { ["pk"] = stored["pk"], ["sk"] = stored["sk"] },
            UpdateExpression = "SET #s = :v",
            ExpressionAttributeNames = new() { ["#s"] = "stream" },
            ExpressionAttributeValues = new() { [":v"] = new AttributeValue { N = "1" } },
        });

        AggregateBatch batch = Batch(ShardStream.StreamArn, Record(Five, 10));
        InvalidDataException e = await Assert.ThrowsAsync<InvalidDataException>(() => sink.WriteAsync(batch, CancellationToken.None));
        Assert.Equal("The stored aggregate item's 'stream' attribute is not a string.", e.Message);
        Assert.False(batch.IsDurable(0));
    }

    /// <summary>
    /// The refused pairs age and are spilled: the spill keeps every sample of them, not only those past the other
    /// stream's watermarks (which would drop this stream's lower sequence numbers, and count the spill as made).
    /// </summary>
    [Fact]
    public async Task AnotherStreamsRefusedPairs_AreSpilledWhole()
    {
        string table = await servers.CreateTableAsync("streams");
        string bucket = await servers.CreateBucketAsync("streams");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        await sink.WriteAsync(Batch(ShardStream.StreamArn, Record(Five, 10)), CancellationToken.None);
        AggregateBatch other = Batch(OtherStream, Record(Three, 5));
        await Assert.ThrowsAsync<InvalidOperationException>(() => sink.WriteAsync(other, CancellationToken.None));

        var names = new Dictionary<int, (string, string)>();
        var spill = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = bucket }, sink);
        Assert.True(await spill.WriteAsync(new SpillBatch(other, Three, [new SpilledPair(0, other.GetSamples(0, names))]), CancellationToken.None));

        ListObjectsV2Response listed = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
        S3Object spilled = Assert.Single(listed.S3Objects ?? []); // none: the spill dropped the sample and counted itself made
        using GetObjectResponse got = await s3.GetObjectAsync(bucket, spilled.Key);
        using var body = new MemoryStream();
        await got.ResponseStream.CopyToAsync(body);
        using JsonDocument document = JsonDocument.Parse(body.ToArray());
        JsonElement sample = Assert.Single(Assert.Single(document.RootElement.GetProperty("pairs").EnumerateArray()).GetProperty("samples").EnumerateArray());
        Assert.Equal((Three, 5.0), (sample[0].GetString(), sample[2].GetDouble()));
    }

    [Theory]
    [InlineData("arn:aws:kinesis:us-east-1:123456789012:stream/metrics", "arn:aws:kinesis:us-east-1:123456789012:stream/metrics")]
    [InlineData("arn:aws:kinesis:us-east-1:123456789012:stream/metrics/consumer/c:1714564800", "arn:aws:kinesis:us-east-1:123456789012:stream/metrics")]
    [InlineData("not-an-arn", "not-an-arn")]
    [InlineData("arn:aws:dynamodb:us-east-1:123456789012:table/metrics/stream/2024-01-01T00:00:00.000", "arn:aws:dynamodb:us-east-1:123456789012:table/metrics/stream/2024-01-01T00:00:00.000")]
    [InlineData("", null)]
    [InlineData(null, null)]
    public void StreamOf_DropsAConsumerPart_AndKeepsAnyOtherShape(string? arn, string? stream) =>
        Assert.Equal(stream, DynamoDbItem.StreamOf(arn));

    private static ShardRecord Record(string sequenceNumber, double value) =>
        new(sequenceNumber, [new TestSample("m", [], WindowMs, value)], "k");

    private static AggregateBatch Batch(string? streamArn, params ShardRecord[] records)
    {
        AggregateBatch batch = ShardStream.Build(Shard, records);
        batch.SetSource(Shard, streamArn);
        return batch;
    }
}
