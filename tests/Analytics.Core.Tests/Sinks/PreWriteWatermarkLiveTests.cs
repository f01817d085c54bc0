using System.Net;
using System.Net.Sockets;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests;

/// <summary>
/// What the live DynamoDB sink keeps in <c>pw</c> while its shard has a spill marker (dynalite and s3rver, the marker
/// read through the <see cref="S3SpillSink"/> given the sink): the first write of a key to a marked window after the
/// spill keeps (after, before), later writes keep nothing, and a marker that cannot be read never stops a write.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class PreWriteWatermarkLiveTests(LocalServersFixture servers)
{
    private const string Shard = TestEvents.ShardId;
    private const long W0Ms = 1_714_564_800_000; // 2024-05-01T12:00:00Z
    private const string W0 = "2024-05-01T12:00:00.000Z";
    private const string W1 = "2024-05-01T12:01:00.000Z";

    /// <summary>
    /// The first write after a spill up to sequence 20 keeps, per key it moves, the watermark it found (10 for k0, none for
    /// the new key k1) and the one it leaves; the next write of k0 starts past 20 and keeps nothing more.
    /// </summary>
    [Fact]
    public async Task TheFirstWriteOfEachKeyAfterTheSpill_KeepsAfterAndBefore_TheNextWriteKeepsNothing()
    {
        using Setup s = await SetupAsync();
        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(10, "k0")]), CancellationToken.None);
        await PutMarkerAsync(s, Marker(TestEvents.Seq(20), W0));

        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(30, "k0"), Record(31, "k0"), Record(32, "k1")]), CancellationToken.None);
        string[] afterFirst = await PreWriteAsync(s, W0);
        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(40, "k0")]), CancellationToken.None);

        // Each entry ends with the key's first record in the writing pair: k0's 30, k1's 32 (not the pair's first, 30).
        Assert.Equal(["k0=" + TestEvents.Seq(31) + ":" + TestEvents.Seq(10) + ":" + TestEvents.Seq(30), "k1=" + TestEvents.Seq(32) + "::" + TestEvents.Seq(32)], afterFirst);
        Assert.Equal(afterFirst, await PreWriteAsync(s, W0));
        Assert.Equal("5", (await ItemAsync(s, W0))["count"].N);
    }

    /// <summary>Only items of the marker's windows get entries: a write of the same key to another window keeps nothing there.</summary>
    [Fact]
    public async Task AWindowTheMarkerDoesNotList_GetsNoEntries()
    {
        using Setup s = await SetupAsync();
        await PutMarkerAsync(s, Marker(TestEvents.Seq(20), W1));

        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(30, "k0"), Record(31, "k0", W0Ms + 60_000)]), CancellationToken.None);

        Assert.Empty(await PreWriteAsync(s, W0));
        Assert.Equal(["k0=" + TestEvents.Seq(31) + "::" + TestEvents.Seq(31)], await PreWriteAsync(s, W1));
    }

    /// <summary>Without a marker (no spill with unknown pairs) a write keeps nothing: the item gets no <c>pw</c>.</summary>
    [Fact]
    public async Task NoMarker_NoEntries()
    {
        using Setup s = await SetupAsync();

        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(10, "k0")]), CancellationToken.None);
        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(30, "k0")]), CancellationToken.None);

        Dictionary<string, AttributeValue> item = await ItemAsync(s, W0);
        Assert.Equal("2", item["count"].N);
        Assert.False(item.ContainsKey("pw"));
    }

    /// <summary>A marker object that is not a marker is read as one for every window and every sequence number: keep more, never less.</summary>
    [Fact]
    public async Task AMarkerThatIsNotJson_KeepsEntriesInEveryWindow()
    {
        using Setup s = await SetupAsync();
        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(10, "k0")]), CancellationToken.None);
        await PutMarkerAsync(s, "not a marker");

        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(30, "k0"), Record(31, "k0", W0Ms + 60_000)]), CancellationToken.None);

        Assert.Equal(["k0=" + TestEvents.Seq(30) + ":" + TestEvents.Seq(10) + ":" + TestEvents.Seq(30)], await PreWriteAsync(s, W0));
        Assert.Equal(["k0=" + TestEvents.Seq(31) + "::" + TestEvents.Seq(31)], await PreWriteAsync(s, W1));
    }

    /// <summary>
    /// When the marker cannot be read (S3 refuses connections, or the bucket is gone) the write is made all the same and
    /// keeps nothing: the redrive then reports what that leaves undecided. A bucket that is gone is the bucket's fault,
    /// not S3's: once the write is made, the sink throws S3's error naming it (CarelessOperatorTests).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AMarkerThatCannotBeRead_KeepsNothing_AndTheWriteIsMade(bool closedPort)
    {
        using Setup s = await SetupAsync();
        await PutMarkerAsync(s, Marker(TestEvents.Seq(20), W0));
        using AmazonS3Client unreachable = closedPort ? servers.CreateS3Client(new Uri("http://127.0.0.1:" + LoopbackPorts.Unused())) : servers.CreateS3Client();
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = s.Table });
        _ = new S3SpillSink(unreachable, S3SpillSinkOptions.Default with { BucketName = closedPort ? s.Bucket : "no-such-bucket" }, sink);
        AggregateBatch batch = ShardStream.Build(Shard, [Record(30, "k0")]);

        Exception? thrown = await Xunit.Record.ExceptionAsync(() => sink.WriteAsync(batch, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));

        Assert.Equal(closedPort ? null : "NoSuchBucket", (thrown as Amazon.S3.AmazonS3Exception)?.ErrorCode);
        Assert.Null(ShardStream.Checkpoint(batch));
        Dictionary<string, AttributeValue> item = await ItemAsync(s, W0);
        Assert.Equal("1", item["count"].N);
        Assert.False(item.ContainsKey("pw"));
    }

    /// <summary>
    /// A key written again and again below the marker's last keeps one entry per write, up to
    /// <see cref="DynamoDbItem.MaxPreWriteEntries"/>; the writes past that bound are made and keep nothing.
    /// </summary>
    [Fact]
    public async Task AtMostFourEntriesPerKey_LaterWritesAreMadeWithoutOne()
    {
        using Setup s = await SetupAsync();
        await PutMarkerAsync(s, Marker(TestEvents.Seq(100), W0));

        for (int i = 1; i <= 6; i++)
        {
            await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(i * 10, "k0")]), CancellationToken.None);
        }

        Assert.Equal(4, DynamoDbItem.MaxPreWriteEntries);
        Assert.Equal(
            ["k0=" + string.Join(",", TestEvents.Seq(10) + "::" + TestEvents.Seq(10), TestEvents.Seq(20) + ":" + TestEvents.Seq(10) + ":" + TestEvents.Seq(20), TestEvents.Seq(30) + ":" + TestEvents.Seq(20) + ":" + TestEvents.Seq(30), TestEvents.Seq(40) + ":" + TestEvents.Seq(30) + ":" + TestEvents.Seq(40))],
            await PreWriteAsync(s, W0));
        Assert.Equal("6", (await ItemAsync(s, W0))["count"].N);
    }

    /// <summary>
    /// The entries never stop a write: an item whose 1,100 partition-key watermarks fit the size bound, but not with an
    /// entry for each key as well, is written without any (the redrive then reports those samples undecided).
    /// </summary>
    [Fact]
    public async Task EntriesThatWouldTakeTheItemPastTheSizeBound_AreDropped_AndTheWriteIsMade()
    {
        using Setup s = await SetupAsync();
        var sink = new DynamoDbAggregateSink(s.DynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = s.Table, MaxPartitionKeysPerItem = 10_000 });
        _ = new S3SpillSink(s.S3, S3SpillSinkOptions.Default with { BucketName = s.Bucket }, sink);
        string[] keys = [.. Enumerable.Range(0, 1_100).Select(i => i.ToString("D5", System.Globalization.CultureInfo.InvariantCulture).PadRight(200, 'x'))];
        await sink.WriteAsync(ShardStream.Build(Shard, keys.Select((k, i) => Record(1 + i, k))), CancellationToken.None);
        await PutMarkerAsync(s, Marker(TestEvents.Seq(5_000), W0));
        AggregateBatch batch = ShardStream.Build(Shard, keys.Select((k, i) => Record(2_001 + i, k)));

        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.Null(ShardStream.Checkpoint(batch));
        Dictionary<string, AttributeValue> item = await ItemAsync(s, W0);
        Assert.Equal("2200", item["count"].N);
        Assert.Equal(TestEvents.Seq(3_100), item["wk"].M[Shard].M[keys[^1]].S);
        Assert.False(item.ContainsKey("pw"));
        // The item built again without the entries is still the next version (2 after the first write's 1).
        Assert.Equal("2", item["ver"].N);
    }

    /// <summary>
    /// The size bound is inclusive with the entries as without them: entries that bring the item to exactly
    /// <see cref="DynamoDbItem.MaxItemBytes"/> are kept.
    /// </summary>
    [Fact]
    public async Task EntriesThatTakeTheItemToExactlyTheSizeBound_AreKept()
    {
        using Setup s = await SetupAsync();
        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(10, "k0")]), CancellationToken.None);
        await PutMarkerAsync(s, Marker(TestEvents.Seq(20), W0));

        // Pad the item (another shard's key watermark, which every write keeps) past the bound, and read from the error
        // how big the next item is without its entry.
        const int Probe = 360_000;
        await PadAsync(s, W0, Probe);
        InvalidOperationException e = await Assert.ThrowsAsync<InvalidOperationException>(() => s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(30, "k0")]), CancellationToken.None));
        int withoutEntry = int.Parse(System.Text.RegularExpressions.Regex.Match(e.Message, @"or (\d+) bytes \(at most").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        string entry = TestEvents.Seq(30) + ":" + TestEvents.Seq(10) + ":" + TestEvents.Seq(30);
        int entryBytes = DynamoDbItem.Size(new Dictionary<string, AttributeValue>(StringComparer.Ordinal)
        {
            ["pw"] = new AttributeValue { M = new() { [Shard] = new AttributeValue { M = new() { ["k0"] = new AttributeValue { L = [new AttributeValue { S = entry }] } } } } },
        });

        await PadAsync(s, W0, Probe - (withoutEntry + entryBytes - DynamoDbItem.MaxItemBytes));
        AggregateBatch batch = ShardStream.Build(Shard, [Record(30, "k0")]);
        await s.Sink.WriteAsync(batch, CancellationToken.None);

        Assert.Null(ShardStream.Checkpoint(batch));
        Assert.Equal(["k0=" + entry], await PreWriteAsync(s, W0));
        Dictionary<string, AttributeValue> item = await ItemAsync(s, W0);
        Assert.Equal(DynamoDbItem.MaxItemBytes, DynamoDbItem.Size(item));
        Assert.Equal("2", item["count"].N);
    }

    /// <summary>
    /// With one watermark per shard (<c>PerShardWatermarkOnly</c>) the first write after the spill keeps one entry for the
    /// shard's floor, under the name no partition key has: the floor it found (10), the one it leaves (32, the pair's last
    /// record whichever key holds it) and the pair's first record (30); no entry per key. The next write starts past the
    /// marker's last and keeps nothing more.
    /// </summary>
    [Fact]
    public async Task OneWatermarkPerShard_TheFirstWriteAfterTheSpill_KeepsOneEntryForTheFloor()
    {
        using Setup s = await SetupAsync(perShardWatermarkOnly: true);
        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(10, "k0")]), CancellationToken.None);
        await PutMarkerAsync(s, Marker(TestEvents.Seq(20), W0));

        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(30, "k0"), Record(31, "k1"), Record(32, "k0")]), CancellationToken.None);
        string[] afterFirst = await PreWriteAsync(s, W0);
        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(40, "k1")]), CancellationToken.None);

        Assert.Equal([DynamoDbItem.ShardFloorEntries + "=" + TestEvents.Seq(32) + ":" + TestEvents.Seq(10) + ":" + TestEvents.Seq(30)], afterFirst);
        Assert.Equal(afterFirst, await PreWriteAsync(s, W0));
        Dictionary<string, AttributeValue> item = await ItemAsync(s, W0);
        Assert.Equal(("5", TestEvents.Seq(40)), (item["count"].N, item["wm"].M[Shard].S));
        Assert.False(item.ContainsKey("wk"));
    }

    /// <summary>With one watermark per shard, the floor's entries are bounded like a key's: four, then writes without one.</summary>
    [Fact]
    public async Task OneWatermarkPerShard_AtMostFourEntriesForTheFloor()
    {
        using Setup s = await SetupAsync(perShardWatermarkOnly: true);
        await PutMarkerAsync(s, Marker(TestEvents.Seq(100), W0));

        for (int i = 1; i <= 6; i++)
        {
            await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(i * 10, "k" + i.ToString(System.Globalization.CultureInfo.InvariantCulture))]), CancellationToken.None);
        }

        Assert.Equal(
            [DynamoDbItem.ShardFloorEntries + "=" + string.Join(",", TestEvents.Seq(10) + "::" + TestEvents.Seq(10), TestEvents.Seq(20) + ":" + TestEvents.Seq(10) + ":" + TestEvents.Seq(20), TestEvents.Seq(30) + ":" + TestEvents.Seq(20) + ":" + TestEvents.Seq(30), TestEvents.Seq(40) + ":" + TestEvents.Seq(30) + ":" + TestEvents.Seq(40))],
            await PreWriteAsync(s, W0));
        Assert.Equal("6", (await ItemAsync(s, W0))["count"].N);
    }

    /// <summary>
    /// One item of a long window through five outages, each redriven before the next: a spill of k0's 10 and k1's 20
    /// (unknown, its put never landed), the marker, the first live write after it (k0, k1 at 30, 31), the redrive,
    /// the marker gone. The first write after each spill is what decides it, so each redrive applies both samples. With the
    /// default layout the redrive's mark removes the key's entries it passed; the floor's entries must not use up the
    /// four places with the entries of spills already redriven, or a later outage's spill of the item is left undecided.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task FiveOutagesOfOneItem_EachRedrivenBeforeTheNext_TheFirstWriteAfterEachSpillDecidesIt(bool perShardWatermarkOnly)
    {
        using Setup s = await SetupAsync(perShardWatermarkOnly);
        var results = new List<RedriveResult>();
        for (int cycle = 1; cycle <= 5; cycle++)
        {
            int at = cycle * 100;
            await PutMarkerAsync(s, Marker(TestEvents.Seq(at + 20), W0));
            await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(at + 30, "k0"), Record(at + 31, "k1")]), CancellationToken.None);
            string spill = "spill-" + cycle.ToString(System.Globalization.CultureInfo.InvariantCulture);
            results.Add(await s.Sink.ApplyOnceAsync(UnknownSpill(spill, at + 10, at + 20, perShardWatermarkOnly), CancellationToken.None));
            await s.S3.DeleteObjectAsync(s.Bucket, "spill/metrics/" + Shard + "/unresolved.marker");
        }

        Assert.Equal(Enumerable.Repeat(new RedriveResult(2, 0, 0, null), 5), results);
        Assert.Equal("20", (await ItemAsync(s, W0))["count"].N);
    }

    /// <summary>
    /// Two outages of one item before any redrive: a spill of k0's 10 and k1's 20 (unknown; the put never landed) and the
    /// first live write after it (30, 31), then a spill of 110 and 120 and the first live write after that (130, 131). The
    /// operator redrives the first spill alone (a run cut short, or its object listed first), then the second. Each
    /// spill is decided by the first write after it, so the first redrive must leave the entry of the write after the
    /// second spill, which nothing has used yet: dropping it would leave the second spill undecided.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TwoOutagesBeforeAnyRedrive_RedrivingTheFirstSpillAlone_LeavesTheEntryThatDecidesTheSecond(bool perShardWatermarkOnly)
    {
        using Setup s = await SetupAsync(perShardWatermarkOnly);
        await PutMarkerAsync(s, Marker(TestEvents.Seq(20), W0));
        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(30, "k0"), Record(31, "k1")]), CancellationToken.None);
        await PutMarkerAsync(s, Marker(TestEvents.Seq(120), W0));
        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(130, "k0"), Record(131, "k1")]), CancellationToken.None);

        RedriveResult first = await s.Sink.ApplyOnceAsync(UnknownSpill("spill-1", 10, 20, perShardWatermarkOnly), CancellationToken.None);
        RedriveResult second = await s.Sink.ApplyOnceAsync(UnknownSpill("spill-2", 110, 120, perShardWatermarkOnly), CancellationToken.None);

        Assert.Equal((new RedriveResult(2, 0, 0, null), new RedriveResult(2, 0, 0, null)), (first, second));
        Assert.Equal("8", (await ItemAsync(s, W0))["count"].N);
    }

    /// <summary>
    /// A tumbling window's flush holds no per-record log (docs/failure-modes.md), so it cannot say which records it held:
    /// while the shard's marker asks for entries, it keeps none, in either layout, and is written all the same. A spill
    /// it passes is then left undecided by the redrive, never decided from an entry that could be wrong.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AWindowFlush_KeepsNoEntry_InEitherLayout(bool perShardWatermarkOnly)
    {
        using Setup s = await SetupAsync(perShardWatermarkOnly);
        await PutMarkerAsync(s, "not a marker"); // read as a marker of every window and every sequence number
        using var processor = new KinesisBatchProcessor(s.Sink, new RecordingQuarantineSink(), ProcessorOptions.Default);

        await TestEvents.RunAsync(processor, TestEvents.BuildWindow([TestEvents.HostRecord(1, "a", 1), TestEvents.HostRecord(2, "a", 2)], "{}", final: true));

        Dictionary<string, AttributeValue> item = Assert.Single((await s.DynamoDb.ScanAsync(new ScanRequest { TableName = s.Table, ConsistentRead = true })).Items);
        Assert.Equal(("2", "3"), (item["count"].N, item["sum"].N));
        Assert.Equal(TestEvents.Seq(2), item["wm"].M[Shard].S);
        Assert.False(item.ContainsKey("pw"));
    }

    /// <summary>
    /// The layout switched between a spill and the first write after it: the spill (k0's 20, k1's 25, unknown) was made
    /// with one layout, its put landed or not, and the first later write (k0, k1 at 30, 31), with the marker asking, was
    /// made with the other, so it kept the other kind of entry. docs/failure-modes.md: entries of one kind never decide a
    /// spill of the other; the redrive may leave the samples undecided, never apply them when the put landed nor skip
    /// them when it did not.
    /// </summary>
    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(false, false)]
    public async Task TheLayoutSwitchedBetweenTheSpillAndTheNextWrite_TheRedriveIsNeverWrong(bool spilledPerShard, bool landed)
    {
        using Setup s = await SetupAsync(spilledPerShard);
        var other = new DynamoDbAggregateSink(s.DynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = s.Table, PerShardWatermarkOnly = !spilledPerShard });
        _ = new S3SpillSink(s.S3, S3SpillSinkOptions.Default with { BucketName = s.Bucket }, other);
        await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(10, "k0")]), CancellationToken.None);
        if (landed)
        {
            await s.Sink.WriteAsync(ShardStream.Build(Shard, [Record(20, "k0"), Record(25, "k1")]), CancellationToken.None);
        }

        await PutMarkerAsync(s, Marker(TestEvents.Seq(25), W0));
        await other.WriteAsync(ShardStream.Build(Shard, [Record(30, "k0"), Record(31, "k1")]), CancellationToken.None);
        RedriveResult result = await other.ApplyOnceAsync(UnknownSpill("spill-a", 20, 25, spilledPerShard), CancellationToken.None);

        Assert.True(result.Undecided == 2 || result == (landed ? new RedriveResult(0, 2, 0, null) : new RedriveResult(2, 0, 0, null)), result.ToString());
        Assert.Equal(result.Undecided == 2 ? (landed ? "5" : "3") : "5", (await ItemAsync(s, W0))["count"].N);
    }

    internal static string Marker(string last, params string[] windows) =>
        "{\"format\":\"analytics.core.spill-marker/1\",\"last\":\"" + last + "\",\"windows\":[" + string.Join(",", windows.Select(w => "\"" + w + "\"")) + "]}";

    /// <summary>The redrive's work for one spill of the item of <see cref="W0"/> whose put's outcome is unknown: k0's sample at <paramref name="k0"/> and k1's at <paramref name="k1"/>, value 1 each.</summary>
    private static RedriveWork UnknownSpill(string spillId, int k0, int k1, bool shardFloor) => new(
        PairKey.From(ShardStream.Build(Shard, [Record(1, "k0")]), 0),
        Shard,
        AggregatorOptions.Default,
        [
            new("k0", TestEvents.Seq(k0), 1, OutcomeUnknown: true, spillId, ShardFloor: shardFloor),
            new("k1", TestEvents.Seq(k1), 1, OutcomeUnknown: true, spillId, ShardFloor: shardFloor),
        ]);

    private async Task<Setup> SetupAsync(bool perShardWatermarkOnly = false)
    {
        string table = await servers.CreateTableAsync("pw");
        string bucket = await servers.CreateBucketAsync("pw");
        AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        AmazonS3Client s3 = servers.CreateS3Client();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table, PerShardWatermarkOnly = perShardWatermarkOnly });
        _ = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = bucket }, sink);
        return new Setup(table, bucket, dynamoDb, s3, sink);
    }

    /// <summary>Sets another shard's key watermarks on the item of <paramref name="window"/> to one key of <paramref name="bytes"/> characters.</summary>
    private static Task PadAsync(Setup s, string window, int bytes) =>
        s.DynamoDb.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = s.Table,
            Key = new() { ["pk"] = new AttributeValue { S = "m" }, ["sk"] = new AttributeValue { S = window } },
            UpdateExpression = "SET wk.#other = :pad",
            ExpressionAttributeNames = new() { ["#other"] = "shardId-000000000099" },
            ExpressionAttributeValues = new() { [":pad"] = new AttributeValue { M = new() { [new string('x', bytes)] = new AttributeValue { S = "1" } } } },
        });

    /// <summary>The marker object where the spill sink keeps it for this test's stream and shard (spill/metrics/shard/unresolved.marker).</summary>
    private static Task PutMarkerAsync(Setup s, string body) =>
        s.S3.PutObjectAsync(new PutObjectRequest { BucketName = s.Bucket, Key = "spill/metrics/" + Shard + "/unresolved.marker", ContentBody = body, UseChunkEncoding = false });

    private static async Task<Dictionary<string, AttributeValue>> ItemAsync(Setup s, string window)
    {
        ScanResponse scan = await s.DynamoDb.ScanAsync(new ScanRequest { TableName = s.Table, ConsistentRead = true });
        return Assert.Single(scan.Items, i => i["sk"].S == window);
    }

    /// <summary>This shard's pw entries of the item of <paramref name="window"/> as "key=after:before,...", by key.</summary>
    private static async Task<string[]> PreWriteAsync(Setup s, string window)
    {
        Dictionary<string, AttributeValue> item = await ItemAsync(s, window);
        return item.TryGetValue("pw", out AttributeValue? pw)
            ? [.. pw.M[Shard].M.Select(k => k.Key + "=" + string.Join(",", k.Value.L.Select(e => e.S))).Order(StringComparer.Ordinal)]
            : [];
    }

    private static ShardRecord Record(int sequence, string partitionKey, long windowMs = W0Ms) =>
        new(TestEvents.Seq(sequence), [new TestSample("m", [], windowMs + 1_000, 1)], partitionKey);

    private sealed record Setup(string Table, string Bucket, AmazonDynamoDBClient DynamoDb, AmazonS3Client S3, DynamoDbAggregateSink Sink) : IDisposable
    {
        public void Dispose()
        {
            DynamoDb.Dispose();
            S3.Dispose();
        }
    }
}
