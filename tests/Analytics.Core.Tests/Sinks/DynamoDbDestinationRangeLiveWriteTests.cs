using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core.Tests;

/// <summary>
/// The destination redrive's ranges (<c>dr</c>) under live writes (dynalite): a live write keeps them as the item holds
/// them when its put is made, also after it lost a race and read the item again, and never adds or drops one.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class DynamoDbDestinationRangeLiveWriteTests(LocalServersFixture servers)
{
    private const long WindowStartMs = 1_714_565_100_000 - (1_714_565_100_000 % 60_000);

    [Fact]
    public async Task ALiveWriteThatLosesARace_KeepsTheRangesTheWinnerWrote()
    {
        string table = await servers.CreateTableAsync("dr-live");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var destination = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table })
        {
            DestinationRedrive = new DestinationRedriveEvent(
                new Dictionary<string, string[]> { ["k0"] = [TestEvents.Seq(10), TestEvents.Seq(20)] },
                new Dictionary<string, string> { ["k0"] = TestEvents.Seq(10) }),
        };
        await destination.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(10, "k0", 1), Record(20, "k0", 2)]), CancellationToken.None);
        Assert.Equal([$"{TestEvents.Seq(10)}:{TestEvents.Seq(20)}"], Ranges(await ItemAsync(dynamoDb, table), "k0"));

        // A rival write (another redrive's) lands between the live write's read and its put: it adds a range of k1.
        using var live = new ScriptedDynamoDbClient(servers.DynamoDbUrl);
        int rivals = 0;
        live.BeforePut = async _ =>
        {
            if (Interlocked.Increment(ref rivals) == 1)
            {
                Dictionary<string, AttributeValue> item = await ItemAsync(dynamoDb, table);
                await dynamoDb.UpdateItemAsync(new UpdateItemRequest
                {
                    TableName = table,
                    Key = new() { ["pk"] = item["pk"], ["sk"] = item["sk"] },
                    UpdateExpression = "SET dr.#s.k1 = :r, ver = ver + :one",
                    ExpressionAttributeNames = new() { ["#s"] = TestEvents.ShardId },
                    ExpressionAttributeValues = new()
                    {
                        [":r"] = new AttributeValue { L = [new AttributeValue { S = TestEvents.Seq(5) + ":" + TestEvents.Seq(5) }] },
                        [":one"] = new AttributeValue { N = "1" },
                    },
                });
            }
        };
        var sink = new DynamoDbAggregateSink(live, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        await sink.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(20, "k0", 2), Record(30, "k0", 3)]), CancellationToken.None);

        Dictionary<string, AttributeValue> after = await ItemAsync(dynamoDb, table);
        Assert.Equal(1, sink.Conflicts);
        Assert.Equal(("3", "6"), (after["count"].N, after["sum"].N));
        Assert.Equal([$"{TestEvents.Seq(10)}:{TestEvents.Seq(20)}"], Ranges(after, "k0"));
        Assert.Equal([$"{TestEvents.Seq(5)}:{TestEvents.Seq(5)}"], Ranges(after, "k1"));
    }

    private static string[] Ranges(Dictionary<string, AttributeValue> item, string key) =>
        [.. item["dr"].M[TestEvents.ShardId].M[key].L.Select(e => e.S)];

    private static ShardRecord Record(int sequence, string partitionKey, double value) =>
        new(TestEvents.Seq(sequence), [new TestSample("m", [], WindowStartMs + 1_000, value)], partitionKey);

    private static async Task<Dictionary<string, AttributeValue>> ItemAsync(IAmazonDynamoDB dynamoDb, string table) =>
        Assert.Single((await dynamoDb.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items);
}
