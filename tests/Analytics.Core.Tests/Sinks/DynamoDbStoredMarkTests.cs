using System.Globalization;
using System.Text.RegularExpressions;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core.Tests;

/// <summary>
/// How the sink reads the marks an item already holds (key watermarks <c>wk</c>, redrive marks <c>rk</c>) when it
/// decides what to apply and which marks to write, in both modes (per key, and
/// <see cref="DynamoDbAggregateSinkOptions.PerShardWatermarkOnly"/>); and the item size bound at its exact edge.
/// Marks are planted with plain UpdateItem calls, as a redrive or an older writer would leave them.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class DynamoDbStoredMarkTests(LocalServersFixture servers)
{
    private const string Shard = "shardId-000000000005";

    [Fact]
    public async Task PerShardOnly_AfterPerKeyWrites_SplitsAtTheHighestKeyWatermark()
    {
        string table = await servers.CreateTableAsync("marks");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        ShardRecord[] records = ShardStream.Generate(seed: 51, count: 30);
        await PerKeySink(client, table).WriteAsync(ShardStream.Build(Shard, records[..20]), CancellationToken.None);

        AggregateBatch batch = ShardStream.Build(Shard, records);
        await PerShardSink(client, table).WriteAsync(batch, CancellationToken.None);

        Assert.Null(ShardStream.Checkpoint(batch));
        await AssertCountsAsync(client, table, Truth(records, skip: (_, _) => false));
    }

    [Fact]
    public async Task PerShardOnly_RedriveMarkAboveTheKeyWatermark_RecordsUpToItAreNotApplied()
    {
        string table = await servers.CreateTableAsync("marks");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        ShardRecord[] records = ShardStream.Generate(seed: 52, count: 40);
        await PerKeySink(client, table).WriteAsync(ShardStream.Build(Shard, records[..20]), CancellationToken.None);
        HashSet<string> marked = await SetOnEveryItemAsync(client, table, "rk", records[29].SequenceNumber);

        AggregateBatch batch = ShardStream.Build(Shard, records);
        await PerShardSink(client, table).WriteAsync(batch, CancellationToken.None);

        // A redrive applied records up to 29 to the items it marked: records 20..29 must not reach those items again.
        Assert.Null(ShardStream.Checkpoint(batch));
        await AssertCountsAsync(client, table, Truth(records, skip: (i, id) => i is >= 20 and < 30 && marked.Contains(id)));
    }

    [Fact]
    public async Task PerKey_RedriveMarkBelowTheKeyWatermark_DoesNotLowerIt()
    {
        string table = await servers.CreateTableAsync("marks");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        ShardRecord[] records = ShardStream.Generate(seed: 53, count: 30);
        DynamoDbAggregateSink sink = PerKeySink(client, table);
        await sink.WriteAsync(ShardStream.Build(Shard, records[..20]), CancellationToken.None);
        await SetOnEveryItemAsync(client, table, "rk", records[5].SequenceNumber);

        AggregateBatch batch = ShardStream.Build(Shard, records);
        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.Null(ShardStream.Checkpoint(batch));
        await ShardStream.AssertTableAsync(client, table, ShardStream.Expect((Shard, records)));
    }

    [Fact]
    public async Task PerKey_KeyWhoseRecordsTheRedriveAppliedUpToItsLast_KeepsItsOwnWatermark()
    {
        string table = await servers.CreateTableAsync("marks");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        DynamoDbAggregateSink sink = PerKeySink(client, table);
        ShardRecord[] records = [.. ShardStream.Generate(seed: 54, count: 3).Select((r, i) => r with
        {
            PartitionKey = i == 1 ? "device-b" : "device-a",
            Samples = [new TestSample("m", [], 1_714_564_800_000 + i, 10 + i)],
        })];
        await sink.WriteAsync(ShardStream.Build(Shard, records[..1]), CancellationToken.None);
        await client.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = table,
            Key = new() { ["pk"] = new AttributeValue { S = "m" }, ["sk"] = new AttributeValue { S = "2024-05-01T12:00:00.000Z" } },
            UpdateExpression = "SET rk = :rk",
            ExpressionAttributeValues = new() { [":rk"] = Marks(("device-a", records[2].SequenceNumber)) },
        });

        // device-a's records end exactly at its redrive mark: nothing of it is applied, and its wk stays where the live
        // writes left it (wk says what live writes applied; rk keeps the rest). device-b is new.
        AggregateBatch batch = ShardStream.Build(Shard, records);
        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.Null(ShardStream.Checkpoint(batch));
        ScanResponse scan = await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true });
        Dictionary<string, AttributeValue> item = Assert.Single(scan.Items);
        Assert.Equal(("2", "21"), (item["count"].N, item["sum"].N));
        Dictionary<string, string> wk = item["wk"].M[Shard].M.ToDictionary(m => m.Key, m => m.Value.S, StringComparer.Ordinal);
        Assert.Equal(
            new Dictionary<string, string>(StringComparer.Ordinal) { ["device-a"] = records[0].SequenceNumber, ["device-b"] = records[1].SequenceNumber },
            wk);
        Assert.Equal(records[2].SequenceNumber, item["rk"].M[Shard].M["device-a"].S);
    }

    [Fact]
    public async Task ItemOfExactlyTheSizeBound_IsWritten_OneByteMoreIsNot()
    {
        string table = await servers.CreateTableAsync("marks");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        DynamoDbAggregateSink sink = PerKeySink(client, table);
        ShardRecord[] records = [.. ShardStream.Generate(seed: 55, count: 2).Select((r, i) => r with { Samples = [new TestSample("m", [], 1_714_564_800_000 + i, 1 + i)] })];
        await sink.WriteAsync(ShardStream.Build(Shard, records[..1]), CancellationToken.None);

        // Pad the item with another shard's key watermark (kept by every write) until the next item is too big, and
        // read from the error how big it would be.
        const int Probe = 360_000;
        await PadAsync(client, table, Probe);
        AggregateBatch tooBig = ShardStream.Build(Shard, records);
        InvalidOperationException e = await Assert.ThrowsAsync<InvalidOperationException>(() => sink.WriteAsync(tooBig, CancellationToken.None));
        Assert.False(tooBig.IsDurable(0));
        int size = int.Parse(Regex.Match(e.Message, @"or (\d+) bytes \(at most (\d+)\)").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.Contains($"(at most {DynamoDbItem.MaxItemBytes})", e.Message, StringComparison.Ordinal);
        Assert.True(size > DynamoDbItem.MaxItemBytes);

        // One byte more than the bound is refused; exactly the bound is written.
        await PadAsync(client, table, Probe - (size - DynamoDbItem.MaxItemBytes) + 1);
        AggregateBatch oneOver = ShardStream.Build(Shard, records);
        e = await Assert.ThrowsAsync<InvalidOperationException>(() => sink.WriteAsync(oneOver, CancellationToken.None));
        Assert.Contains($"or {DynamoDbItem.MaxItemBytes + 1} bytes", e.Message, StringComparison.Ordinal);

        await PadAsync(client, table, Probe - (size - DynamoDbItem.MaxItemBytes));
        AggregateBatch atBound = ShardStream.Build(Shard, records);
        await sink.WriteAsync(atBound, CancellationToken.None);

        Assert.True(atBound.IsDurable(0));
        Assert.Equal(2, sink.CapacityExceeded);
        ScanResponse scan = await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true });
        Assert.Equal("2", Assert.Single(scan.Items)["count"].N);
    }

    private static DynamoDbAggregateSink PerKeySink(IAmazonDynamoDB client, string table) =>
        new(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });

    private static DynamoDbAggregateSink PerShardSink(IAmazonDynamoDB client, string table) =>
        new(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, PerShardWatermarkOnly = true });

    private static AttributeValue Marks(params (string Key, string Sequence)[] marks) =>
        new() { M = new() { [Shard] = new AttributeValue { M = marks.ToDictionary(m => m.Key, m => new AttributeValue { S = m.Sequence }, StringComparer.Ordinal) } } };

    private static async Task PadAsync(IAmazonDynamoDB client, string table, int bytes)
    {
        await client.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = table,
            Key = new() { ["pk"] = new AttributeValue { S = "m" }, ["sk"] = new AttributeValue { S = "2024-05-01T12:00:00.000Z" } },
            UpdateExpression = "SET wk.#other = :pad",
            ExpressionAttributeNames = new() { ["#other"] = "shardId-000000000099" },
            ExpressionAttributeValues = new() { [":pad"] = new AttributeValue { M = new() { [new string('x', bytes)] = new AttributeValue { S = "1" } } } },
        });
    }

    /// <summary>Sets the map <paramref name="attribute"/> to {shard: {pk-0: mark}} on every item; returns their identities.</summary>
    private static async Task<HashSet<string>> SetOnEveryItemAsync(IAmazonDynamoDB client, string table, string attribute, string mark)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        ScanResponse scan = await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true });
        foreach (Dictionary<string, AttributeValue> item in scan.Items)
        {
            await client.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = table,
                Key = new() { ["pk"] = item["pk"], ["sk"] = item["sk"] },
                UpdateExpression = "SET #a = :m",
                ExpressionAttributeNames = new() { ["#a"] = attribute },
                ExpressionAttributeValues = new() { [":m"] = Marks(("pk-0", mark)) },
            });
            ids.Add(Identity(item));
        }

        Assert.NotEmpty(ids);
        return ids;
    }

    /// <summary>Per item identity, the samples each record contributes once, except where <paramref name="skip"/> says.</summary>
    private static Dictionary<string, List<double>> Truth(ShardRecord[] records, Func<int, string, bool> skip)
    {
        var truth = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        for (int i = 0; i < records.Length; i++)
        {
            foreach (TestSample s in records[i].Samples)
            {
                string id = ShardStream.Identity(s.Metric, s.Dimensions, s.TimestampMs - (s.TimestampMs % 60_000));
                if (!skip(i, id))
                {
                    (truth.TryGetValue(id, out List<double>? values) ? values : truth[id] = []).Add(s.Value);
                }
            }
        }

        return truth;
    }

    private static string Identity(Dictionary<string, AttributeValue> item)
    {
        IEnumerable<KeyValuePair<string, string>> dims = item.TryGetValue("dimensions", out AttributeValue? d) && d.M is not null
            ? d.M.Select(x => new KeyValuePair<string, string>(x.Key, x.Value.S))
            : [];
        return ShardStream.Identity(item["metric"].S, dims, DateTimeOffset.Parse(item["windowStart"].S, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds());
    }

    /// <summary>Each item holds exactly the count and sum of its expected samples (the per-shard mode writes no wk).</summary>
    private static async Task AssertCountsAsync(IAmazonDynamoDB client, string table, Dictionary<string, List<double>> truth)
    {
        ScanResponse scan = await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true });
        var seen = scan.Items.ToDictionary(Identity, item => (Count: long.Parse(item["count"].N, CultureInfo.InvariantCulture), Sum: double.Parse(item["sum"].N, CultureInfo.InvariantCulture)), StringComparer.Ordinal);
        Assert.Equal(truth.Keys.Order(StringComparer.Ordinal), seen.Keys.Order(StringComparer.Ordinal));
        foreach ((string id, List<double> values) in truth)
        {
            Assert.Equal(values.Count, seen[id].Count);
            Assert.Equal(values.Sum(), seen[id].Sum, 1e-9 * values.Sum());
        }
    }
}
