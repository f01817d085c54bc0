using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using static Analytics.Core.Tests.StoredItems;

namespace Analytics.Core.Tests;

/// <summary>
/// A stored item whose watermarks, redrive marks or sketch the sink cannot trust is refused: the write throws
/// <see cref="InvalidDataException"/> with a message that names the shard and what is wrong, nothing is marked durable,
/// and the item stays as it was. The item is written by the sink, then broken by hand on the real local server.
/// </summary>
[Collection(LocalServersCollection.Second)]
public sealed class StoredItemRefusalTests(LocalServersFixture servers)
{
    private const string Shard = "shardId-000000000003";
    private const long WindowMs = 1_714_564_800_000; // 2024-05-01T12:00:00Z
    private const string First = "49590338271490256608559692538361571095921575989136588898";
    private const string Second = "49590338271490256608559692538361571095921575989136589000";
    private const string Third = "49590338271490256608559692538361571095921575989136589100";

    [Theory]
    [InlineData("wm-not-digits", "The stored watermark of shard", "is not a sequence number.")]
    [InlineData("wk-not-a-map", "The stored partition-key watermarks of shard", "are not a map.")]
    [InlineData("wk-mark-not-digits", "A stored partition-key watermark of shard", "is not a sequence number.")]
    [InlineData("rk-not-a-map", "The stored redrive marks of shard", "are not a map.")]
    [InlineData("rk-mark-a-number", "A stored redrive mark of shard", "is not a sequence number.")]
    [InlineData("rk-mark-not-digits", "A stored redrive mark of shard", "is not a sequence number.")]
    [InlineData("rk-mark-too-long", "A stored redrive mark of shard", "is not a sequence number.")]
    [InlineData("wm-leading-zero", "The stored watermark of shard", "is not a sequence number.")]
    [InlineData("wk-mark-leading-zero", "A stored partition-key watermark of shard", "is not a sequence number.")]
    [InlineData("rk-mark-leading-zero", "A stored redrive mark of shard", "is not a sequence number.")]
    public async Task WriteAsync_StoredMarkNotTrusted_ThrowsNamingTheShardAndTheMark(string corruption, string what, string wrong)
    {
        InvalidDataException e = await RefusedAsync(corruption);

        Assert.Contains(what + " " + Shard + " " + wrong, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sketch-missing", "The stored aggregate item has no 'sketch' attribute.")]
    [InlineData("sketch-not-an-aggregate", "The stored aggregate item's 'sketch' is not a valid aggregate.")]
    public async Task WriteAsync_StoredSketchMissingOrInvalid_ThrowsNamingTheAttribute(string corruption, string message)
    {
        InvalidDataException e = await RefusedAsync(corruption);

        Assert.Equal(message, e.Message);
    }

    /// <summary>
    /// The longest sequence number the library accepts (<see cref="SequenceNumber.MaxDigits"/> digits) is a valid redrive
    /// mark: it is read, not refused, and the key's records at or below it are not applied again while another key's are.
    /// </summary>
    [Fact]
    public async Task WriteAsync_RedriveMarkOfTheLongestSequenceNumber_IsHonoured()
    {
        string table = await servers.CreateTableAsync("refuse");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        await sink.WriteAsync(ShardStream.Build(Shard, [Record(First, 1, "pk-0")]), CancellationToken.None);
        await SetAsync(client, table, "rk", Map((Shard, Map(("pk-0", S(new string('9', SequenceNumber.MaxDigits)))))));

        AggregateBatch batch = ShardStream.Build(Shard, [Record(Second, 10, "pk-0"), Record(Third, 100, "pk-1")]);
        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.Null(ShardStream.Checkpoint(batch));
        Dictionary<string, AttributeValue> item = await GetOnlyItemAsync(client, table);
        Assert.Equal(("2", "101"), (item["count"].N, item["sum"].N)); // the first record and pk-1's; pk-0's second is under the mark
        Assert.Equal("2", item["ver"].N);
    }

    private async Task<InvalidDataException> RefusedAsync(string corruption)
    {
        string table = await servers.CreateTableAsync("refuse");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        await sink.WriteAsync(ShardStream.Build(Shard, [Record(First, 1, "pk-0")]), CancellationToken.None);

        switch (corruption)
        {
            case "wm-not-digits":
                await SetAsync(client, table, "wm", Map((Shard, S("12a"))));
                break;
            case "wk-not-a-map":
                await SetAsync(client, table, "wk", Map((Shard, S(First))));
                break;
            case "wk-mark-not-digits":
                await SetAsync(client, table, "wk", Map((Shard, Map(("pk-0", S(First + "x"))))));
                break;
            case "rk-not-a-map":
                await SetAsync(client, table, "rk", Map((Shard, S(First))));
                break;
            case "rk-mark-a-number":
                await SetAsync(client, table, "rk", Map((Shard, Map(("pk-0", new AttributeValue { N = "5" })))));
                break;
            case "rk-mark-not-digits":
                await SetAsync(client, table, "rk", Map((Shard, Map(("pk-0", S("-5"))))));
                break;
            case "rk-mark-too-long":
                await SetAsync(client, table, "rk", Map((Shard, Map(("pk-0", S(new string('1', SequenceNumber.MaxDigits + 1)))))));
                break;
            case "wm-leading-zero":
                // Compared by length first, a leading zero would make it pass every record of the shard: all skipped.
                await SetAsync(client, table, "wm", Map((Shard, S("0" + First))));
                break;
            case "wk-mark-leading-zero":
                await SetAsync(client, table, "wk", Map((Shard, Map(("pk-0", S("0" + First))))));
                break;
            case "rk-mark-leading-zero":
                await SetAsync(client, table, "rk", Map((Shard, Map(("pk-0", S("00"))))));
                break;
            case "sketch-missing":
                await client.UpdateItemAsync(new UpdateItemRequest { TableName = table, Key = await KeyAsync(client, table), UpdateExpression = "REMOVE sketch" });
                break;
            case "sketch-not-an-aggregate":
                await SetAsync(client, table, "sketch", new AttributeValue { B = new MemoryStream([1, 2, 3]) });
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(corruption), corruption, null);
        }

        Dictionary<string, AttributeValue> before = await GetOnlyItemAsync(client, table);
        AggregateBatch batch = ShardStream.Build(Shard, [Record(Second, 10, "pk-0")]);

        InvalidDataException e = await Assert.ThrowsAsync<InvalidDataException>(() => sink.WriteAsync(batch, CancellationToken.None));

        Assert.Equal(0, ShardStream.Checkpoint(batch));
        Dictionary<string, AttributeValue> after = await GetOnlyItemAsync(client, table);
        Assert.Equal((before["ver"].N, before["count"].N), (after["ver"].N, after["count"].N));
        return e;
    }

    private static ShardRecord Record(string sequenceNumber, double value, string partitionKey) =>
        new(sequenceNumber, [new TestSample("m", [], WindowMs, value)], partitionKey);

    private static async Task SetAsync(IAmazonDynamoDB client, string table, string attribute, AttributeValue value) =>
        await client.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = table,
            Key = await KeyAsync(client, table),
            UpdateExpression = "SET #a = :v",
            ExpressionAttributeNames = new() { ["#a"] = attribute },
            ExpressionAttributeValues = new() { [":v"] = value },
        });

    private static async Task<Dictionary<string, AttributeValue>> KeyAsync(IAmazonDynamoDB client, string table)
    {
        Dictionary<string, AttributeValue> item = await GetOnlyItemAsync(client, table);
        return new() { ["pk"] = item["pk"], ["sk"] = item["sk"] };
    }
}
