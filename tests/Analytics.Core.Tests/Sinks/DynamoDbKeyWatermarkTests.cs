using System.Globalization;
using System.Numerics;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core.Tests;

/// <summary>
/// The per-(shard, partition key) watermark against the local DynamoDB server: concurrent batches of one shard, the
/// bound on keys per item and on item size, and items of the previous layout (one watermark per shard).
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class DynamoDbKeyWatermarkTests(LocalServersFixture servers)
{
    private const string Shard = "shardId-000000000000";
    private const long WindowMs = 1_714_564_800_000; // 2024-05-01T12:00:00Z

    private static readonly BigInteger s_base = BigInteger.Parse("49590338271490256608559692538361571095921575989136588898", CultureInfo.InvariantCulture);

    [Fact]
    public async Task ConcurrentBatchesOfOneShard_LaterBatchWrittenFirst_BothAreApplied()
    {
        // Keys a and b interleave in sequence order; Lambda may run a's batch and b's batch at once (ParallelizationFactor
        // above 1) and b's may land first. A per-shard watermark would then skip a's records.
        string table = await servers.CreateTableAsync("agg");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        ShardRecord[] all = Enumerable.Range(0, 20).Select(i => Record(i, i % 2 == 0 ? "a" : "b", value: i + 1)).ToArray();
        ShardRecord[] a = all.Where(r => r.PartitionKey == "a").ToArray();
        ShardRecord[] b = all.Where(r => r.PartitionKey == "b").ToArray();

        await sink.WriteAsync(ShardStream.Build(Shard, b), CancellationToken.None);
        await sink.WriteAsync(ShardStream.Build(Shard, a), CancellationToken.None);

        // Then both are re-delivered, a's with one more record: only that record is new.
        ShardRecord extra = Record(21, "a", value: 100);
        await sink.WriteAsync(ShardStream.Build(Shard, [.. a, extra]), CancellationToken.None);
        await sink.WriteAsync(ShardStream.Build(Shard, b), CancellationToken.None);

        await ShardStream.AssertTableAsync(client, table, ShardStream.Expect((Shard, [.. all, extra])));
    }

    [Fact]
    public async Task AnItemAtTheKeyBound_WithLongestKeys_IsStoredUnder400KB_AndOneKeyMoreIsReported()
    {
        string table = await servers.CreateTableAsync("agg");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        int bound = DynamoDbAggregateSinkOptions.Default.MaxPartitionKeysPerItem;
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        // The default bound, every key of the longest length Kinesis allows (256 characters), one series and window.
        ShardRecord[] records = Enumerable.Range(0, bound).Select(i => Record(i, LongKey(i), value: i)).ToArray();
        AggregateBatch full = ShardStream.Build(Shard, records);
        await sink.WriteAsync(full, CancellationToken.None);
        Assert.True(full.IsDurable(0));

        // Read back from the server: every watermark is there, and the item is under DynamoDB's 400 KB with its margin.
        Dictionary<string, AttributeValue> item = await OnlyItemAsync(client, table);
        Assert.Equal(bound, item["wk"].M[Shard].M.Count);
        int size = DynamoDbItem.Size(item);
        Assert.InRange(size, 256 * bound, DynamoDbItem.MaxItemBytes);

        // One key more: not written, the pair stays unmarked (re-delivered), and the sink throws a reason that names
        // the bound but no series or key.
        ShardRecord another = Record(bound, LongKey(bound), value: -1);
        AggregateBatch over = ShardStream.Build(Shard, [another]);
        InvalidOperationException e = await Assert.ThrowsAsync<InvalidOperationException>(() => sink.WriteAsync(over, CancellationToken.None));
        Assert.Contains("MaxPartitionKeysPerItem is " + bound.ToString(CultureInfo.InvariantCulture), e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(LongKey(bound), e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("m|", e.Message, StringComparison.Ordinal);
        Assert.False(over.IsDurable(0));
        Assert.Equal(1, ShardStream.Checkpoint(over) is null ? 0 : 1);
        Assert.Equal(item["ver"].N, (await OnlyItemAsync(client, table))["ver"].N);
        Assert.Equal(1, sink.CapacityExceeded);
    }

    [Fact]
    public async Task AnItemPastTheSizeBound_IsNotWritten_AndIsReported()
    {
        string table = await servers.CreateTableAsync("agg");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, MaxPartitionKeysPerItem = 10_000 });

        // 256-character keys: about 313 bytes of watermark each, so 1,200 of them pass 350 KB before the key bound.
        ShardRecord[] records = Enumerable.Range(0, 1_200).Select(i => Record(i, LongKey(i), value: i)).ToArray();
        AggregateBatch batch = ShardStream.Build(Shard, records);
        InvalidOperationException e = await Assert.ThrowsAsync<InvalidOperationException>(() => sink.WriteAsync(batch, CancellationToken.None));
        Assert.Contains("at most " + DynamoDbItem.MaxItemBytes.ToString(CultureInfo.InvariantCulture), e.Message, StringComparison.Ordinal);
        Assert.False(batch.IsDurable(0));
        Assert.Equal(0, await ShardStream.CountItemsAsync(client, table));
    }

    [Fact]
    public async Task PerShardWatermarkOnly_RandomKeysPastTheBound_AreWrittenOnce()
    {
        // The choice for ParallelizationFactor 1 with random keys per record: one watermark per shard, no key bound.
        string table = await servers.CreateTableAsync("agg");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, MaxPartitionKeysPerItem = 10, PerShardWatermarkOnly = true });
        ShardRecord[] records = Enumerable.Range(0, 300).Select(i => Record(i, Guid.NewGuid().ToString(), value: i)).ToArray();

        await sink.WriteAsync(ShardStream.Build(Shard, records[..200]), CancellationToken.None);
        await sink.WriteAsync(ShardStream.Build(Shard, records[100..]), CancellationToken.None); // overlapping re-delivery

        Dictionary<string, AttributeValue> item = await OnlyItemAsync(client, table);
        Assert.Equal("300", item["count"].N);
        Assert.Equal(Enumerable.Range(0, 300).Sum().ToString(CultureInfo.InvariantCulture), item["sum"].N);
        Assert.Equal(records[^1].SequenceNumber, item["wm"].M[Shard].S);
        Assert.False(item.ContainsKey("wk"));
    }

    /// <summary>
    /// With one watermark per shard the floor never falls: a batch whose records are all at or below it (another lane's,
    /// at ParallelizationFactor above 1) applies nothing and writes nothing; one that straddles it applies only what is
    /// above and raises it. The spill redrive's floor entries rely on this: once a spilled put landed, no later write
    /// finds the floor below the spill's range (docs/failure-modes.md).
    /// </summary>
    [Fact]
    public async Task PerShardWatermarkOnly_TheFloorNeverFalls()
    {
        string table = await servers.CreateTableAsync("agg");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, PerShardWatermarkOnly = true });
        ShardRecord first = Record(30, "k0", value: 1), highest = Record(35, "k4", value: 10_000);
        await sink.WriteAsync(ShardStream.Build(Shard, [first]), CancellationToken.None);

        await sink.WriteAsync(ShardStream.Build(Shard, [Record(20, "k1", value: 10), Record(25, "k2", value: 100)]), CancellationToken.None);
        Dictionary<string, AttributeValue> below = await OnlyItemAsync(client, table);
        await sink.WriteAsync(ShardStream.Build(Shard, [Record(28, "k3", value: 1_000), highest]), CancellationToken.None);
        Dictionary<string, AttributeValue> straddling = await OnlyItemAsync(client, table);

        Assert.Equal(("1", "1", first.SequenceNumber), (below["ver"].N, below["count"].N, below["wm"].M[Shard].S));
        Assert.Equal(("2", "10001", highest.SequenceNumber), (straddling["count"].N, straddling["sum"].N, straddling["wm"].M[Shard].S));
    }

    [Fact]
    public async Task AnItemOfThePreviousLayout_ItsShardWatermarkStaysTheFloor()
    {
        // The previous layout kept only wm[shard]: everything of the shard up to it is applied.
        string table = await servers.CreateTableAsync("agg");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        ShardRecord[] records = Enumerable.Range(0, 10).Select(i => Record(i, "k" + (i % 3), value: i + 1)).ToArray();
        var old = new MetricAggregate(AggregatorOptions.Default);
        foreach (ShardRecord r in records[..6])
        {
            old.Add(r.Samples[0].Value);
        }

        var sketch = new System.Buffers.ArrayBufferWriter<byte>();
        old.WriteTo(sketch);
        await client.PutItemAsync(new PutItemRequest
        {
            TableName = table,
            Item = new()
            {
                ["pk"] = new() { S = "m" },
                ["sk"] = new() { S = "2024-05-01T12:00:00.000Z" },
                ["metric"] = new() { S = "m" },
                ["windowStart"] = new() { S = "2024-05-01T12:00:00.000Z" },
                ["windowEnd"] = new() { S = "2024-05-01T12:01:00.000Z" },
                ["count"] = new() { N = "6" },
                ["sketch"] = new() { B = new MemoryStream(sketch.WrittenSpan.ToArray()) },
                ["wm"] = new() { M = new() { [Shard] = new() { S = records[5].SequenceNumber } } },
                ["ver"] = new() { N = "3" },
            },
        });

        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        AggregateBatch redelivered = ShardStream.Build(Shard, records[3..]);
        await sink.WriteAsync(redelivered, CancellationToken.None);

        Dictionary<string, AttributeValue> item = await OnlyItemAsync(client, table);
        double[] values = records.Select(r => r.Samples[0].Value).ToArray();
        Assert.Equal(values.Length.ToString(CultureInfo.InvariantCulture), item["count"].N);
        Assert.Equal(values.Sum().ToString(CultureInfo.InvariantCulture), item["sum"].N);
        Assert.Equal(records[5].SequenceNumber, item["wm"].M[Shard].S);
        Assert.Equal("4", item["ver"].N);

        // The keys past the floor got their own watermarks.
        Dictionary<string, string> wk = item["wk"].M[Shard].M.ToDictionary(x => x.Key, x => x.Value.S);
        Assert.Equal(new Dictionary<string, string> { ["k0"] = records[9].SequenceNumber, ["k1"] = records[7].SequenceNumber, ["k2"] = records[8].SequenceNumber }, wk);
    }

    private static ShardRecord Record(int index, string partitionKey, double value) =>
        new((s_base + (index * 7)).ToString(CultureInfo.InvariantCulture), [new TestSample("m", [], WindowMs + index, value)], partitionKey);

    private static string LongKey(int i) => i.ToString("D6", CultureInfo.InvariantCulture).PadRight(256, 'k');

    private static async Task<Dictionary<string, AttributeValue>> OnlyItemAsync(IAmazonDynamoDB client, string table) =>
        Assert.Single((await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items);
}
