using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core.Tests;

/// <summary>
/// A switch to <see cref="DynamoDbAggregateSinkOptions.PerShardWatermarkOnly"/> (with ParallelizationFactor 1, the
/// remedy docs/dynamodb.md gives for items that reach the key bound) while the shard's lanes stood at different records,
/// on the local DynamoDB server. The per-shard write judged every record by the highest watermark of any key, so a
/// record of a key that lagged, re-delivered after the switch, was taken for applied: lost, its pair marked durable,
/// nothing reported. Each key is now judged by its own marks.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class PerShardWatermarkSwitchTests(LocalServersFixture servers)
{
    private const long WindowMs = 1_714_564_800_000; // 2024-05-01T12:00:00Z

    /// <summary>
    /// Lanes of keys a and b write the item; key c's record 30 is refused by the key bound (2), loudly, and left for
    /// re-delivery; key a, already in the item, goes on to record 40. After the switch Lambda resumes at 30: [30 c, 40 a],
    /// then 50 c. Every record once.
    /// </summary>
    [Fact]
    public async Task ARecordTheKeyBoundRefused_IsAppliedOnceAfterTheSwitch()
    {
        string table = await servers.CreateTableAsync("pershard");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var perKey = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, MaxPartitionKeysPerItem = 2 });
        await perKey.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(10, "a", 1)]), CancellationToken.None);
        await perKey.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(20, "b", 2)]), CancellationToken.None);
        AggregateBatch refused = ShardStream.Build(TestEvents.ShardId, [Record(30, "c", 4)]);
        await Assert.ThrowsAsync<InvalidOperationException>(() => perKey.WriteAsync(refused, CancellationToken.None));
        Assert.False(refused.IsDurable(0));
        await perKey.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(40, "a", 8)]), CancellationToken.None);

        var perShard = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, PerShardWatermarkOnly = true });
        AggregateBatch redelivered = ShardStream.Build(TestEvents.ShardId, [Record(30, "c", 4), Record(40, "a", 8)]);
        await perShard.WriteAsync(redelivered, CancellationToken.None);
        await perShard.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(50, "c", 16)]), CancellationToken.None);
        // A re-delivery of the whole run after the switch changes nothing.
        await perShard.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(30, "c", 4), Record(40, "a", 8), Record(50, "c", 16)]), CancellationToken.None);

        Assert.True(redelivered.IsDurable(0));
        Assert.Equal((5L, 31.0), await CountAndSumAsync(client, table));
    }

    /// <summary>Without the bound: key a's lane ran ahead (20, 40) while key b's stood after 10; after the switch [30 b, 40 a].</summary>
    [Fact]
    public async Task ALaggingLanesRecord_IsAppliedOnceAfterTheSwitch()
    {
        string table = await servers.CreateTableAsync("pershard2");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var perKey = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        await perKey.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(10, "b", 1)]), CancellationToken.None);
        await perKey.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(20, "a", 2), Record(40, "a", 4)]), CancellationToken.None);

        var perShard = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, PerShardWatermarkOnly = true });
        await perShard.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(30, "b", 8), Record(40, "a", 4)]), CancellationToken.None);
        await perShard.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(30, "b", 8), Record(40, "a", 4)]), CancellationToken.None);

        Assert.Equal((4L, 15.0), await CountAndSumAsync(client, table));
    }

    private static ShardRecord Record(int n, string key, double value) =>
        new("49590338271490256608559692538361571095921575989136500" + n.ToString("000", CultureInfo.InvariantCulture), [new TestSample("latency", [], WindowMs + 1_000, value)], key);

    private static async Task<(long Count, double Sum)> CountAndSumAsync(AmazonDynamoDBClient client, string table)
    {
        Dictionary<string, AttributeValue> item = Assert.Single((await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items);
        return (long.Parse(item["count"].N, CultureInfo.InvariantCulture), double.Parse(item["sum"].N, CultureInfo.InvariantCulture));
    }
}
