using Amazon.DynamoDBv2;

namespace Analytics.Core.Tests;

/// <summary>
/// What a write costs in requests, counted at a proxy in front of the local server: the reads take one
/// BatchGetItem per 100 pairs (DynamoDB's limit); a batch already applied costs
/// nothing more: no GetItem, no PutItem.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class DynamoDbRequestCountTests(LocalServersFixture servers)
{
    private const string Shard = "shardId-000000000004";

    [Fact]
    public async Task WriteAsync_199PairsAlreadyApplied_TwoBatchReadsAndNoPut()
    {
        string table = await servers.CreateTableAsync("cost");
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        ShardRecord[] records = ShardStream.DistinctSeries(199);
        AggregateBatch first = ShardStream.Build(Shard, records);
        Assert.Equal(199, first.Count);
        await new DynamoDbAggregateSink(direct, DynamoDbAggregateSinkOptions.Default with { TableName = table, MaxConcurrency = 16 })
            .WriteAsync(first, CancellationToken.None);
        Assert.Null(ShardStream.Checkpoint(first));

        // Lambda delivers the batch again. One worker: the two chunks are read one after the other, so a chunk that
        // stopped the others, or a pair read on its own, would show in the count.
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed: 1);
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient(proxy.Url);
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, MaxConcurrency = 1 });
        AggregateBatch again = ShardStream.Build(Shard, records);
        await sink.WriteAsync(again, CancellationToken.None);

        // BatchGetItem of 100 and of 99 keys find every record applied: no GetItem, no PutItem.
        Assert.Null(ShardStream.Checkpoint(again));
        Assert.Equal(2, proxy.Requests);
        Assert.Equal(0, sink.Retries);
        await ShardStream.AssertTableAsync(direct, table, ShardStream.Expect((Shard, records)));
    }
}
