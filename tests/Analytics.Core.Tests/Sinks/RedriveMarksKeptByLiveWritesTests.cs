using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using static Analytics.Core.Tests.StoredItems;

namespace Analytics.Core.Tests;

/// <summary>
/// The redrive marks <c>rk</c> (docs/dynamodb.md) belong to spill redrive: a live write keeps every shard's marks exactly
/// as stored, and an item no redrive touched never gets an <c>rk</c> attribute.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveMarksKeptByLiveWritesTests(LocalServersFixture servers)
{
    private const string Shard = "shardId-000000000004";
    private const string Other = "shardId-000000000005";
    private const long WindowMs = 1_714_564_800_000; // 2024-05-01T12:00:00Z
    private const string First = "49590338271490256608559692538361571095921575989136588898";
    private const string Second = "49590338271490256608559692538361571095921575989136589000";

    [Fact]
    public async Task WriteAsync_LiveWriteOnAnItemWithRedriveMarks_KeepsEveryShardsMarksAsStored()
    {
        string table = await servers.CreateTableAsync("rk-kept");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        await sink.WriteAsync(ShardStream.Build(Shard, [Record(First, 1, "pk-0")]), CancellationToken.None);
        Dictionary<string, AttributeValue> created = await GetOnlyItemAsync(client, table);

        // A redrive marked another key of this shard and a key of another shard; the live key pk-0 has no mark.
        await client.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = table,
            Key = new() { ["pk"] = created["pk"], ["sk"] = created["sk"] },
            UpdateExpression = "SET rk = :rk",
            ExpressionAttributeValues = new()
            {
                [":rk"] = Map(
                    (Shard, Map(("pk-7", S(First)))),
                    (Other, Map(("pk-1", S("42")), ("pk-2", S("43"))))),
            },
        });

        AggregateBatch batch = ShardStream.Build(Shard, [Record(Second, 10, "pk-0")]);
        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.Null(ShardStream.Checkpoint(batch));
        Dictionary<string, AttributeValue> item = await GetOnlyItemAsync(client, table);
        Assert.Equal(("2", "11", "2"), (item["count"].N, item["sum"].N, item["ver"].N)); // the live write was applied
        Assert.Equal(
            [Shard + "/pk-7=" + First, Other + "/pk-1=42", Other + "/pk-2=43"],
            item["rk"].M.SelectMany(shard => shard.Value.M.Select(key => shard.Key + "/" + key.Key + "=" + key.Value.S)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task WriteAsync_NoRedriveEver_StoresNoRedriveMarks()
    {
        string table = await servers.CreateTableAsync("rk-none");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        await sink.WriteAsync(ShardStream.Build(Shard, [Record(First, 1, "pk-0")]), CancellationToken.None);
        await sink.WriteAsync(ShardStream.Build(Shard, [Record(Second, 10, "pk-1")]), CancellationToken.None);

        Dictionary<string, AttributeValue> item = await GetOnlyItemAsync(client, table);
        Assert.Equal("2", item["count"].N);
        Assert.Equal(["count", "max", "metric", "min", "pk", "sk", "sketch", "stream", "sum", "ver", "windowEnd", "windowStart", "wk"], item.Keys.Order(StringComparer.Ordinal));
    }

    private static ShardRecord Record(string sequenceNumber, double value, string partitionKey) =>
        new(sequenceNumber, [new TestSample("m", [], WindowMs, value)], partitionKey);
}
