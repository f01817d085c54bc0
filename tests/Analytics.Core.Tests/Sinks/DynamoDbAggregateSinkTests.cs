using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Xunit.Abstractions;
using static Analytics.Core.Tests.StoredItems;

namespace Analytics.Core.Tests;

[Collection(LocalServersCollection.Name)]
public sealed class DynamoDbAggregateSinkTests(LocalServersFixture servers, ITestOutputHelper output)
{
    private const string Shard = "shardId-000000000000";

    [Fact]
    public async Task WriteAsync_SameBatchTwice_TableEqualsOneApplication()
    {
        string table = await servers.CreateTableAsync("agg");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        ShardRecord[] records = ShardStream.Generate(seed: 1, count: 120);

        AggregateBatch first = ShardStream.Build(Shard, records);
        await sink.WriteAsync(first, CancellationToken.None);
        AggregateBatch again = ShardStream.Build(Shard, records);
        await sink.WriteAsync(again, CancellationToken.None);

        Assert.Null(ShardStream.Checkpoint(first));
        Assert.Null(ShardStream.Checkpoint(again));
        await ShardStream.AssertTableAsync(client, table, ShardStream.Expect((Shard, records)));
    }

    [Fact]
    public async Task WriteAsync_SinkOptionsDisagreeWithTheProcessors_UsesTheBatchsOptions()
    {
        // The sink keeps its default Aggregator options while the pipeline runs another sketch accuracy.
        AggregatorOptions pipeline = AggregatorOptions.Default with { RelativeAccuracy = 0.02 };
        string table = await servers.CreateTableAsync("agg");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        ShardRecord[] records = ShardStream.Generate(seed: 8, count: 60);

        AggregateBatch first = ShardStream.Build(Shard, records[..40], pipeline);
        await sink.WriteAsync(first, CancellationToken.None);
        AggregateBatch second = ShardStream.Build(Shard, records[20..], pipeline);
        await sink.WriteAsync(second, CancellationToken.None);

        Assert.Null(ShardStream.Checkpoint(first));
        Assert.Null(ShardStream.Checkpoint(second));
        await ShardStream.AssertTableAsync(client, table, ShardStream.Expect((Shard, records)), pipeline);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(99)]
    public async Task WriteAsync_RedeliveredFromCheckpointInTheMiddle_TableEqualsOneApplication(int checkpoint)
    {
        string table = await servers.CreateTableAsync("agg");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        ShardRecord[] records = ShardStream.Generate(seed: 2, count: 100);

        await sink.WriteAsync(ShardStream.Build(Shard, records), CancellationToken.None);
        // Lambda re-delivers from the checkpoint: records before it are gone, records after it arrive again,
        // followed by new ones.
        ShardRecord[] more = ShardStream.Generate(seed: 3, count: 30).Select((r, i) => r with { SequenceNumber = After(records[^1].SequenceNumber, i + 1) }).ToArray();
        AggregateBatch redelivered = ShardStream.Build(Shard, records[checkpoint..].Concat(more));
        await sink.WriteAsync(redelivered, CancellationToken.None);

        Assert.Null(ShardStream.Checkpoint(redelivered));
        await ShardStream.AssertTableAsync(client, table, ShardStream.Expect((Shard, [.. records, .. more])));
    }

    [Fact]
    public async Task WriteAsync_BisectedHalvesAfterPartlyAppliedWhole_TableEqualsOneApplication()
    {
        string table = await servers.CreateTableAsync("agg");
        ShardRecord[] records = ShardStream.Generate(seed: 4, count: 150);

        // The whole batch fails part way: the downstream stops answering after a few writes and the invocation
        // times out (a function error, so Lambda bisects).
        await using (var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed: 4))
        {
            using AmazonDynamoDBClient flaky = servers.CreateDynamoDbClient(proxy.Url, timeout: TimeSpan.FromSeconds(30));
            var failing = new DynamoDbAggregateSink(flaky, DynamoDbAggregateSinkOptions.Default with { TableName = table, MaxConcurrency = 4 });
            proxy.DieAfter(12);
            AggregateBatch whole = ShardStream.Build(Shard, records);
            using var cts = new CancellationTokenSource();
            Task write = failing.WriteAsync(whole, cts.Token);
            while (proxy.Held < 4)
            {
                await Task.Delay(20);
            }

            await cts.CancelAsync();
            await write.WaitAsync(TimeSpan.FromSeconds(20));
            int durable = Enumerable.Range(0, whole.Count).Count(whole.IsDurable);
            output.WriteLine($"whole batch: {durable} of {whole.Count} pairs durable before the failure");
            Assert.InRange(durable, 1, whole.Count - 1);
        }

        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        AggregateBatch firstHalf = ShardStream.Build(Shard, records[..75]);
        await sink.WriteAsync(firstHalf, CancellationToken.None);
        AggregateBatch secondHalf = ShardStream.Build(Shard, records[75..]);
        await sink.WriteAsync(secondHalf, CancellationToken.None);

        Assert.Null(ShardStream.Checkpoint(firstHalf));
        Assert.Null(ShardStream.Checkpoint(secondHalf));
        await ShardStream.AssertTableAsync(client, table, ShardStream.Expect((Shard, records)));
    }

    [Fact]
    public async Task WriteAsync_TwoShardsOnTheSameItemsConcurrently_Converge()
    {
        string table = await servers.CreateTableAsync("agg");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        ShardRecord[] a = ShardStream.Generate(seed: 5, count: 200, shardOrdinal: 0);
        ShardRecord[] b = ShardStream.Generate(seed: 6, count: 200, shardOrdinal: 1);

        async Task DeliverAsync(string shard, ShardRecord[] records)
        {
            for (int i = 0; i < records.Length; i += 25)
            {
                AggregateBatch batch = ShardStream.Build(shard, records[i..Math.Min(records.Length, i + 25)]);
                await sink.WriteAsync(batch, CancellationToken.None);
                Assert.Null(ShardStream.Checkpoint(batch));
            }
        }

        await Task.WhenAll(Task.Run(() => DeliverAsync("shardId-000000000001", a)), Task.Run(() => DeliverAsync("shardId-000000000002", b)));

        output.WriteLine($"version conflicts resolved by re-reading: {sink.Conflicts}");
        await ShardStream.AssertTableAsync(client, table, ShardStream.Expect(("shardId-000000000001", a), ("shardId-000000000002", b)));
    }

    [Fact]
    public async Task WriteAsync_NewThenUpdatedItem_HasTheDocumentedLayout()
    {
        string table = await servers.CreateTableAsync("agg");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        KeyValuePair<string, string>[] dims = [new("region", "eu|west=1"), new("az", "a\\b")];
        long start = 1_714_564_860_000; // 2024-05-01T12:01:00Z
        ShardRecord[] records =
        [
            new("49590338271490256608559692538361571095921575989136588898", [new("req|count", dims, start + 5, 2.5)]),
            new("49590338271490256608559692538361571095921575989136588899", [new("req|count", dims, start + 59_999, 4)]),
        ];

        await sink.WriteAsync(ShardStream.Build(Shard, records[..1]), CancellationToken.None);
        Dictionary<string, AttributeValue> created = await GetOnlyItemAsync(client, table);
        await sink.WriteAsync(ShardStream.Build(Shard, records), CancellationToken.None);
        Dictionary<string, AttributeValue> updated = await GetOnlyItemAsync(client, table);

        Assert.Equal("req\\|count|az=a\\\\b|region=eu\\|west\\=1", updated["pk"].S);
        Assert.Equal("2024-05-01T12:01:00.000Z", updated["sk"].S);
        Assert.Equal("2024-05-01T12:01:00.000Z", updated["windowStart"].S);
        Assert.Equal("2024-05-01T12:02:00.000Z", updated["windowEnd"].S);
        Assert.Equal("req|count", updated["metric"].S);
        Assert.Equal(dims.OrderBy(d => d.Key), updated["dimensions"].M.Select(d => new KeyValuePair<string, string>(d.Key, d.Value.S)).OrderBy(d => d.Key));
        Assert.Equal(("1", "2.5", "2.5", "2.5"), (created["count"].N, created["sum"].N, created["min"].N, created["max"].N));
        Assert.Equal(("2", "6.5", "2.5", "4"), (updated["count"].N, updated["sum"].N, updated["min"].N, updated["max"].N));
        Assert.Equal("1", created["ver"].N);
        Assert.Equal("2", updated["ver"].N);
        Assert.Equal(records[0].SequenceNumber, created["wk"].M[Shard].M["pk-0"].S);
        Assert.Equal(records[1].SequenceNumber, updated["wk"].M[Shard].M["pk-0"].S);
        Assert.False(updated.ContainsKey("wm"));
        Assert.NotNull(updated["sketch"].B);
    }

    [Fact]
    public async Task WriteAsync_SeriesWithoutDimensions_StoresNoDimensionsMap()
    {
        string table = await servers.CreateTableAsync("agg");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        await sink.WriteAsync(ShardStream.Build(Shard, [new ShardRecord("1", [new TestSample("up", [], 1_714_564_800_000, 1)])]), CancellationToken.None);
        Dictionary<string, AttributeValue> item = await GetOnlyItemAsync(client, table);

        Assert.Equal("up", item["pk"].S);
        Assert.False(item.ContainsKey("dimensions"));
    }

    [Fact]
    public async Task WriteAsync_OverflowedSumAndCollapsedSketch_AreFlaggedInTheItem()
    {
        var options = AggregatorOptions.Default with { MaxBins = 16 };
        string table = await servers.CreateTableAsync("agg");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        TestSample[] samples = [.. Enumerable.Range(0, 40).Select(i => new TestSample("m", [], 1_714_564_800_000, Math.Pow(1.05, i))), new TestSample("m", [], 1_714_564_800_000, 1.7e308), new TestSample("m", [], 1_714_564_800_000, 1.7e308)];
        AggregateBatch batch = ShardStream.Build(Shard, [new ShardRecord("1", samples)], options);

        await sink.WriteAsync(batch, CancellationToken.None);
        Dictionary<string, AttributeValue> item = await GetOnlyItemAsync(client, table);

        Assert.True(item["sumOverflowed"].BOOL);
        Assert.True(item["quantilesCollapsed"].BOOL);
        Assert.False(item.ContainsKey("sum")); // double.MaxValue is past DynamoDB's number range
        var stored = new MetricAggregate(options);
        Assert.True(stored.TryReadFrom(item["sketch"].B.ToArray(), out _));
        Assert.True(stored.SumOverflowed && stored.IsCollapsed);
    }

    /// <summary>
    /// The top of DynamoDB's number range: the local server takes any magnitude below 1E+126, so the readable copies of a
    /// value just below it are written (they were left out from 9.99E+125 on), and one at 1E+126 is left out.
    /// </summary>
    [Theory]
    [InlineData(9.995e125, "9.995E+125")]
    [InlineData(-9.99999999999999e125, "-9.99999999999999E+125")]
    [InlineData(1e126, null)]
    public async Task WriteAsync_ValuesAtTheTopOfDynamoDbsRange_AreReadableExactlyWhenTheServerTakesThem(double value, string? expected)
    {
        string table = await servers.CreateTableAsync("agg");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        await sink.WriteAsync(ShardStream.Build(Shard, [new ShardRecord("1", [new TestSample("m", [], 1_714_564_800_000, value)])]), CancellationToken.None);
        Dictionary<string, AttributeValue> item = await GetOnlyItemAsync(client, table);

        // The server answers a number in its own normal form (all the digits of 9.995E+125): compared as the number it is.
        double? Read(string name) => item.TryGetValue(name, out AttributeValue? v) ? double.Parse(v.N, System.Globalization.CultureInfo.InvariantCulture) : null;
        double? written = expected is null ? null : double.Parse(expected, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal((written, written), (Read("sum"), Read("max")));
    }

    [Fact]
    public async Task WriteAsync_MissingTable_ThrowsAndMarksNothing()
    {
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = "no-such-table" });
        AggregateBatch batch = ShardStream.Build(Shard, ShardStream.Generate(seed: 7, count: 10));

        await Assert.ThrowsAsync<ResourceNotFoundException>(() => sink.WriteAsync(batch, CancellationToken.None));

        Assert.Equal(0, ShardStream.Checkpoint(batch));
    }

    private static string After(string sequenceNumber, int offset) =>
        (System.Numerics.BigInteger.Parse(sequenceNumber, CultureInfo.InvariantCulture) + (offset * 1000)).ToString(CultureInfo.InvariantCulture);
}
