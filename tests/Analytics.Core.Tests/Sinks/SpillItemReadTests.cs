using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core.Tests;

/// <summary>
/// The consistent read a spill makes of its items (<c>DynamoDbAggregateSink.ReadForSpillAsync</c>, dynalite): every key
/// is answered, with the stored item or null for an item that does not exist, across BatchGetItem's 100-key chunks; a
/// key that could not be read is absent, never reported as a missing item (the spill would then call its samples decided).
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class SpillItemReadTests(LocalServersFixture servers)
{
    private const long WindowStartMs = 1_714_565_100_000 - (1_714_565_100_000 % 60_000);

    [Fact]
    public async Task EveryKey_IsAnswered_WithItsItemOrNull_AcrossChunksOfAHundred()
    {
        string table = await servers.CreateTableAsync("spill-read");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        // Three stored items (metrics s0..s2, counts 1..3), and 147 keys of items that do not exist: 150 keys, two chunks.
        var records = new List<ShardRecord>();
        for (int m = 0; m < 3; m++)
        {
            for (int n = 0; n <= m; n++)
            {
                records.Add(new ShardRecord(TestEvents.Seq(records.Count + 1), [new TestSample("s" + m.ToString(CultureInfo.InvariantCulture), [], WindowStartMs + 1_000, 1)], "k"));
            }
        }

        AggregateBatch stored = ShardStream.Build(TestEvents.ShardId, records);
        await sink.WriteAsync(stored, CancellationToken.None);
        var keys = new List<PairKey>();
        for (int i = 0; i < 150; i++)
        {
            string metric = (i % 50 == 7 ? "s" : "absent-") + (i % 50 == 7 ? (i / 50).ToString(CultureInfo.InvariantCulture) : i.ToString(CultureInfo.InvariantCulture));
            keys.Add(Key(metric));
        }

        Dictionary<(string Pk, string Sk), Dictionary<string, AttributeValue>?> read = await sink.ReadForSpillAsync(keys, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(150, read.Count);
        foreach (PairKey key in keys)
        {
            Assert.True(read.TryGetValue((key.Pk, key.Sk), out Dictionary<string, AttributeValue>? item), key.Pk);
            if (key.Pk.StartsWith("absent-", StringComparison.Ordinal))
            {
                Assert.Null(item);
            }
            else
            {
                Assert.NotNull(item);
                Assert.Equal(key.Pk, item["pk"].S);
                Assert.Equal((int.Parse(key.Pk[1..], CultureInfo.InvariantCulture) + 1).ToString(CultureInfo.InvariantCulture), item["count"].N);
            }
        }
    }

    [Fact]
    public async Task KeysThatCannotBeRead_AreAbsent_NotReportedAsMissingItems()
    {
        string table = await servers.CreateTableAsync("spill-read");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None with { Throttle = 1 }, seed: 3);
        using AmazonDynamoDBClient throttled = servers.CreateDynamoDbClient(proxy.Url);
        AwsRetryOptions retry = AwsRetryOptions.Default with { MaxAttempts = 2, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(2) };
        var sink = new DynamoDbAggregateSink(throttled, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = retry });

        Dictionary<(string Pk, string Sk), Dictionary<string, AttributeValue>?> read = await sink.ReadForSpillAsync([Key("a"), Key("b")], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Empty(read);
        Assert.Equal(2, proxy.Throttled);
    }

    [Fact]
    public async Task ACancelledRead_SendsNothing_AndAnswersNoKey()
    {
        string table = await servers.CreateTableAsync("spill-read");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed: 3);
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient(proxy.Url);
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        Dictionary<(string Pk, string Sk), Dictionary<string, AttributeValue>?> read = await sink.ReadForSpillAsync([Key("a")], new CancellationToken(canceled: true)).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Empty(read);
        Assert.Equal(0, proxy.Requests);
    }

    /// <summary>The key of metric <paramref name="metric"/>'s item in the test window, as the sink computes it.</summary>
    private static PairKey Key(string metric) =>
        PairKey.From(ShardStream.Build(TestEvents.ShardId, [new ShardRecord(TestEvents.Seq(1), [new TestSample(metric, [], WindowStartMs + 1_000, 1)], "k")]), 0);
}
