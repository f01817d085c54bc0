using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Tools;
using Xunit.Abstractions;

namespace Analytics.Core.Tests;

/// <summary>
/// Spill and redrive end to end against the local DynamoDB (dynalite, behind a fault proxy) and S3 (s3rver) servers:
/// the pipeline spills during an outage and reports success, <c>redrive</c> applies the spill exactly once however
/// often it runs and whatever responses it loses, and the table then equals the aggregates computed from the records.
/// </summary>
[Collection(LocalServersCollection.Second)]
public sealed class SpillRedriveEndToEndTests(LocalServersFixture servers, ITestOutputHelper output)
{
    private const long ArrivalMs = 1_714_565_100_000; // long before the test runs: every batch is older than the spill age

    [Fact]
    public async Task OutageSpilled_ThenRedriven_TheTableEqualsTheTruth_AndRepeatedRunsChangeNothing()
    {
        await using SpillRig rig = await SpillRig.CreateAsync(servers, seed: 31);
        (string table, string bucket, FaultProxy proxy, AmazonS3Client s3, KinesisBatchProcessor processor) = (rig.Table, rig.Bucket, rig.Proxy, rig.S3, rig.Processor);
        ShardRecord[] records = [.. ShardStream.Generate(seed: 31, count: 240).Select((r, i) => r with { PartitionKey = "device-" + (i % 5) })];

        // Live, then an outage (connections refused): the second batch is spilled and reported done.
        Assert.Null((await InvokeAsync(processor, records, 0, 80)).Failure);
        proxy.Mode = FaultMode.Down;
        (BatchSummary spilled, string? failure) = await InvokeAsync(processor, records, 80, 160);
        Assert.Null(failure);
        Assert.Equal(SinkOutcome.Completed, spilled.SpillOutcome);
        Assert.Equal(80, spilled.SpilledRecords);
        ListObjectsV2Response objects = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = "spill/" });
        // The items could not be read: the pairs' outcome is unknown, so the shard's marker asks later writes to keep what decides them.
        Assert.Equal([$"spill/metrics/{TestEvents.ShardId}/{records[80].SequenceNumber}.json", $"spill/metrics/{TestEvents.ShardId}/unresolved.marker"], objects.S3Objects.Select(o => o.Key));

        // A spill younger than the redrive's minimum age may still be removed by a retry of its batch: left, and said so.
        var early = new StringWriter();
        RedriveReport tooSoon = await SpillRedrive.ApplyAsync(s3, bucket, "spill", rig.Sink, early, SpillRedrive.DefaultMinAge, TimeProvider.System, CancellationToken.None);
        Assert.True(tooSoon is { Done: false, Left: 1, Applied: 0 }, early.ToString());
        Assert.Contains("run again later", early.ToString(), StringComparison.Ordinal);

        // DynamoDB is back but loses responses (some after applying the write): runs are cut short and repeated.
        proxy.Mode = FaultMode.Forward;
        proxy.Profile = new FaultProfile(Throttle: 0.05, ServerError: 0.05, DropAfterForward: 0.1);
        using AmazonDynamoDBClient flaky = servers.CreateDynamoDbClient(proxy.Url, timeout: TimeSpan.FromSeconds(1));
        var redriveSink = new DynamoDbAggregateSink(flaky, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        (RedriveReport report, int runs) = await RedriveUntilDoneAsync(s3, bucket, redriveSink, maxRuns: 20);
        Assert.Equal(0, report.Undecided);
        Assert.True(proxy.Dropped > 0, "some responses must have been lost");
        proxy.Profile = FaultProfile.None;

        // The function goes on with the rest of the shard. The processor still holds the shard as spilling, so the store
        // gets a one-second probe: on a loaded machine some pairs miss it and are spilled (and reported done). Those are
        // redriven once more; then a redrive finds nothing.
        (BatchSummary rest, string? restFailure) = await InvokeAsync(processor, records, 160, records.Length);
        Assert.Null(restFailure);
        if (rest.SpilledAggregates > 0)
        {
            output.WriteLine($"the rest of the shard spilled {rest.SpilledAggregates} pairs ({rest.AggregateSinkIssue})");
            Assert.Equal(0, (await RedriveUntilDoneAsync(s3, bucket, redriveSink, maxRuns: 5)).Report.Undecided);
        }

        var text = new StringWriter();
        RedriveReport again = await SpillRedrive.ApplyAsync(s3, bucket, "spill", redriveSink, text, TimeSpan.Zero, TimeProvider.System, CancellationToken.None);
        Assert.True(again.Done && again.Objects == 0, text.ToString());
        Assert.Empty((await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = "spill/" })).S3Objects ?? []);
        output.WriteLine($"{runs} redrive runs; proxy {proxy.Requests} requests, {proxy.Dropped} dropped, {proxy.Throttled} throttled, {proxy.ServerErrors} HTTP 500");

        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        await AssertAggregatesAsync(direct, table, records);
    }

    /// <summary>
    /// A spill whose outcome is unknown (the items could not be read), then live batches that write the same items before
    /// any redrive: their first write of each key kept the key's watermark from before it (pw), which shows the spilled
    /// attempt's put did not land. The redrive applies every spilled sample, the table equals the truth, the marker goes.
    /// </summary>
    /// <param name="probeDue">Whether the processor's clock is moved past its probe of the spilling shard's store before
    /// the later batch, so that the batch writes the items live. Without it the batch normally spills too, without calling
    /// the sink (the next probe is not due), and only a loaded machine, slow enough for the probe to come due, wrote live:
    /// the path this test is named for ran only there.</param>
    /// <param name="perShardWatermarkOnly">The function's sink keeps one watermark per shard: the first later write keeps
    /// one entry for the shard's floor, and the spill object says so.</param>
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task LaterBatchesWroteTheItemsFirst_TheirFirstWritesKeptWhatDecidesTheSpill_TheTableIsExact(bool probeDue, bool perShardWatermarkOnly)
    {
        (string table, string bucket, RedriveReport report, string text, ShardRecord[] records, BatchSummary later) = await SpillThenLaterWritesAsync(laterReadsTheMarker: true, probeDue, perShardWatermarkOnly);

        Assert.True(report is { Done: true, Undecided: 0 } && report.Applied > 0, text);
        if (probeDue)
        {
            Assert.True(later.AggregatesWritten > 0, $"the later batch must write items live: {later.AggregateSinkOutcome}, {later.AggregateSinkIssue}");
        }

        // The later batch spilled without calling the sink: the two spills hold every sample, and none can be in the table
        // before the redrive. When the sink was called, pairs it wrote are in no spill, and a write that missed its time is
        // spilled with its outcome unknown, which the redrive may find landed (CI saw "2 spill objects, 237 samples
        // applied, 7 already in the table"). The exact table below holds in every case.
        if (later.AggregateSinkOutcome == SinkOutcome.NotCalled)
        {
            Assert.Equal(ShardStream.Expect((TestEvents.ShardId, records)).Values.Sum(e => e.Values.Count), report.Applied);
            Assert.True(report.AlreadyApplied == 0, text);
        }
        else
        {
            output.WriteLine($"the later batch called the sink ({later.AggregateSinkOutcome}); {report.AlreadyApplied} samples were already in the table");
        }

        using AmazonS3Client s3 = servers.CreateS3Client();
        Assert.Empty((await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = "spill/" })).S3Objects ?? []);
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        await AssertAggregatesAsync(direct, table, records);
    }

    /// <summary>
    /// An earlier attempt's puts landed and Lambda never got its answer; its retry found DynamoDB down and spilled the
    /// batch, outcome unknown. Live batches then wrote the same items before the redrive: the first later write found the
    /// watermark (with one watermark per shard, the floor) exactly at the spill's last record of the item, so the redrive
    /// skips every spilled sample of the items the put landed in, and the table equals the truth, nothing doubled.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TheSpilledPutLanded_ThenLaterBatchesWroteTheItems_TheRedriveSkipsWhatLanded_TheTableIsExact(bool perShardWatermarkOnly)
    {
        (string table, string bucket, RedriveReport report, string text, ShardRecord[] records, BatchSummary later) = await SpillThenLaterWritesAsync(laterReadsTheMarker: true, probeDue: true, perShardWatermarkOnly, putsLand: true);

        Assert.True(report is { Done: true, Undecided: 0 } && report.AlreadyApplied > 0, text);
        Assert.True(later.AggregatesWritten > 0, $"the later batch must write items live: {later.AggregateSinkOutcome}, {later.AggregateSinkIssue}");
        using AmazonS3Client s3 = servers.CreateS3Client();
        Assert.Empty((await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = "spill/" })).S3Objects ?? []);
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        await AssertAggregatesAsync(direct, table, records);
    }

    /// <summary>
    /// The same, but the later batches are written by a function that does not read the marker (a DynamoDB sink without
    /// the spill sink, as when the marker could not be read): nothing kept the watermark from before them, so the redrive
    /// cannot tell whether the spilled attempt's lost put landed. Reported, not applied, never doubled.
    /// </summary>
    [Fact]
    public async Task LaterBatchesWroteTheItemsFirst_WithoutTheMarker_UnknownSpillsAreReportedNotApplied_NothingIsDoubled()
    {
        (string table, _, RedriveReport report, string text, ShardRecord[] records, _) = await SpillThenLaterWritesAsync(laterReadsTheMarker: false, probeDue: false);

        // An item whose key watermark moved past the spilled records cannot tell whether they were applied: reported, not applied.
        Assert.False(report.Done);
        Assert.Equal(1, report.Left);
        Assert.True(report.Undecided > 0);
        Assert.Contains("cannot be decided", text, StringComparison.Ordinal);

        // Never doubled: the table holds the second batch exactly plus only samples of the first that were decided.
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        Dictionary<string, ShardStream.Expected> all = ShardStream.Expect((TestEvents.ShardId, records));
        Dictionary<string, ShardStream.Expected> later = ShardStream.Expect((TestEvents.ShardId, records[60..]));
        long stored = 0;
        foreach (Dictionary<string, AttributeValue> item in (await direct.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items)
        {
            string id = Identity(item);
            long count = long.Parse(item["count"].N, CultureInfo.InvariantCulture);
            Assert.InRange(count, later.TryGetValue(id, out ShardStream.Expected? l) ? l.Values.Count : 0, all[id].Values.Count);
            stored += count;
        }

        Assert.Equal(all.Values.Sum(e => e.Values.Count), stored + report.Undecided);
    }

    /// <summary>
    /// The first 60 records in a full outage (spilled, outcome unknown), the next 60 written live, then one redrive. The
    /// later batch goes through the spilling processor's own sink (which reads the shard's marker) or through a sink
    /// without a spill sink (which does not); with <paramref name="probeDue"/>, the processor's clock first jumps past
    /// the probe interval of the spilling shard (5 s after its first spill).
    /// </summary>
    private async Task<(string Table, string Bucket, RedriveReport Report, string Text, ShardRecord[] Records, BatchSummary Later)> SpillThenLaterWritesAsync(bool laterReadsTheMarker, bool probeDue, bool perShardWatermarkOnly = false, bool putsLand = false)
    {
        await using SpillRig rig = await SpillRig.CreateAsync(servers, seed: 32, perShardWatermarkOnly);
        (string table, string bucket, FaultProxy proxy, AmazonS3Client s3, KinesisBatchProcessor processor) = (rig.Table, rig.Bucket, rig.Proxy, rig.S3, rig.Processor);
        DynamoDbAggregateSink sink = rig.Sink;
        using var unaware = new KinesisBatchProcessor(new DynamoDbAggregateSink(rig.DynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table }), rig.Quarantine, ProcessorOptions.Default);
        ShardRecord[] records = [.. ShardStream.Generate(seed: 32, count: 120).Select((r, i) => r with { PartitionKey = "device-" + (i % 3) })];

        if (putsLand)
        {
            // An attempt whose puts landed and whose answer Lambda never got: it retries the batch.
            Assert.Null((await InvokeAsync(processor, records, 0, 60, clock: rig.Clock)).Failure);
        }

        // Connections refused: the batch (or its retry) is spilled, its outcome unknown.
        proxy.Mode = FaultMode.Down;
        BatchSummary first = (await InvokeAsync(processor, records, 0, 60, clock: rig.Clock)).Summary;
        Assert.True(first.SpilledRecords == 60, $"the first batch must be spilled: {first.AggregateSinkOutcome}, {first.AggregateSinkIssue}");
        proxy.Mode = FaultMode.Forward;
        if (probeDue)
        {
            rig.Clock.Jump(TimeSpan.FromSeconds(6));
        }

        (BatchSummary later, string? laterFailure) = await InvokeAsync(laterReadsTheMarker ? processor : unaware, records, 60, 120, clock: rig.Clock);
        Assert.Null(laterFailure);

        var text = new StringWriter();
        RedriveReport report = await SpillRedrive.ApplyAsync(s3, bucket, "spill", sink, text, TimeSpan.Zero, TimeProvider.System, CancellationToken.None);
        output.WriteLine(text.ToString());
        return (table, bucket, report, text.ToString(), records, later);
    }

    [Fact]
    public async Task AnEarlierAttemptsPutLanded_TheSpillReadsTheItem_AndKeepsOnlyWhatItLacks()
    {
        string table = await servers.CreateTableAsync("spill");
        string bucket = await servers.CreateBucketAsync("spill");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        ShardRecord[] records = [.. ShardStream.Generate(seed: 33, count: 90).Select((r, i) => r with { PartitionKey = "device-" + (i % 4) })];

        // An earlier attempt applied the first 50 records (its answer was lost); this attempt holds all 90 and could write nothing.
        AggregateBatch earlier = ShardStream.Build(TestEvents.ShardId, records[..50]);
        await sink.WriteAsync(earlier, CancellationToken.None);
        AggregateBatch batch = ShardStream.Build(TestEvents.ShardId, records);
        var names = new Dictionary<int, (string, string)>();
        var pairs = Enumerable.Range(0, batch.Count).Select(i => new SpilledPair(i, batch.GetSamples(i, names))).ToList();
        var spill = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = bucket }, sink);
        Assert.True(await spill.WriteAsync(new SpillBatch(batch, records[0].SequenceNumber, pairs), CancellationToken.None));

        // The spill holds exactly the samples of records 50 to 89, decided (no "outcome unknown").
        using GetObjectResponse got = await s3.GetObjectAsync(bucket, $"spill/metrics/{TestEvents.ShardId}/{records[0].SequenceNumber}.json");
        using var body = new MemoryStream();
        await got.ResponseStream.CopyToAsync(body);
        using JsonDocument document = JsonDocument.Parse(body.ToArray());
        var inSpill = document.RootElement.GetProperty("pairs").EnumerateArray()
            .SelectMany(p => { Assert.False(p.GetProperty("outcomeUnknown").GetBoolean()); return p.GetProperty("samples").EnumerateArray(); })
            .Select(s => (s[0].GetString()!, s[2].GetDouble())).Order().ToList();
        Assert.Equal(records[50..].SelectMany(r => r.Samples.Select(s => (r.SequenceNumber, s.Value))).Order(), inSpill);

        RedriveReport report = await SpillRedrive.ApplyAsync(s3, bucket, "spill", sink, TextWriter.Null, TimeSpan.Zero, TimeProvider.System, CancellationToken.None);
        Assert.True(report.Done);
        await AssertAggregatesAsync(dynamoDb, table, records);
    }

    /// <summary>
    /// Two streams, one table and one spill bucket: the second stream's batches (same shard id, same series) are spilled
    /// in an outage, and the redrive then finds items of the first stream among the spill's. Before, it judged the spill by
    /// the first stream's marks and applied all of it into the first stream's items. Now it refuses the spill, naming both
    /// streams, as the live sink refuses the write: nothing of it is applied, not even to series the table has no item of
    /// (created there, such an item would belong to the wrong stream), the object is left, the table is unchanged.
    /// </summary>
    [Fact]
    public async Task ASpillOfAnotherStreamThanTheTables_IsLeftNamingBoth_AndNothingOfItIsApplied()
    {
        await using SpillRig rig = await SpillRig.CreateAsync(servers, seed: 37);
        (string table, string bucket, FaultProxy proxy, AmazonS3Client s3, KinesisBatchProcessor processor) = (rig.Table, rig.Bucket, rig.Proxy, rig.S3, rig.Processor);
        ShardRecord[] records = [.. ShardStream.Generate(seed: 37, count: 120).Select((r, i) => r with { PartitionKey = "device-" + (i % 3) })];
        const string clicks = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks";

        Assert.Null((await InvokeAsync(processor, records, 0, 60)).Failure);
        proxy.Mode = FaultMode.Down;
        (BatchSummary spilled, string? failure) = await InvokeAsync(processor, records, 60, 120, clicks);
        Assert.Null(failure);
        Assert.Equal(60, spilled.SpilledRecords);
        proxy.Mode = FaultMode.Forward;

        Dictionary<string, ShardStream.Expected> metrics = ShardStream.Expect((TestEvents.ShardId, records[..60]));
        Dictionary<string, ShardStream.Expected> clickSeries = ShardStream.Expect((TestEvents.ShardId, records[60..]));
        Assert.True(clickSeries.Keys.Any(metrics.ContainsKey) && !clickSeries.Keys.All(metrics.ContainsKey), "the spill must hit series of both kinds");

        var text = new StringWriter();
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        var redriveSink = new DynamoDbAggregateSink(direct, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        RedriveReport report = await SpillRedrive.ApplyAsync(s3, bucket, "spill", redriveSink, text, TimeSpan.Zero, TimeProvider.System, CancellationToken.None);

        Assert.True(report is { Done: false, Applied: 0, AlreadyApplied: 0, Left: 1, Deleted: 0 }, text.ToString());
        Assert.Equal(clickSeries.Values.Sum(c => c.Values.Count), report.Undecided);
        Assert.Contains($"left spill/clicks/{TestEvents.ShardId}/", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("holds items of its series for stream " + TestEvents.StreamArn + ", and the spill is of stream " + clicks, text.ToString(), StringComparison.Ordinal);
        await AssertAggregatesAsync(direct, table, records[..60]);
    }

    /// <summary>
    /// The operator gives the redrive another table than the function's (one that exists, say another function's): before,
    /// the spill was applied there and its object deleted, the samples then in the wrong table for good. A spill object
    /// names the table it was written for; the redrive leaves an object of another table, naming both, touches nothing,
    /// and a run with the right table applies it.
    /// </summary>
    [Fact]
    public async Task ARedriveIntoAnotherTableThanTheSpillsWasWrittenFor_LeavesItNamingBoth()
    {
        await using SpillRig rig = await SpillRig.CreateAsync(servers, seed: 41);
        ShardRecord[] records = [.. ShardStream.Generate(seed: 41, count: 60)];
        rig.Proxy.Mode = FaultMode.Down;
        Assert.Null((await InvokeAsync(rig.Processor, records, 0, 60)).Failure);
        rig.Proxy.Mode = FaultMode.Forward;
        string other = await servers.CreateTableAsync("other");
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();

        var text = new StringWriter();
        var wrongSink = new DynamoDbAggregateSink(direct, DynamoDbAggregateSinkOptions.Default with { TableName = other });
        RedriveReport wrong = await SpillRedrive.ApplyAsync(rig.S3, rig.Bucket, "spill", wrongSink, text, TimeSpan.Zero, TimeProvider.System, CancellationToken.None);

        Assert.True(wrong is { Done: false, Applied: 0, Deleted: 0, Left: 1 }, text.ToString());
        Assert.Contains($"written for table '{rig.Table}', and --table is '{other}'", text.ToString(), StringComparison.Ordinal);
        Assert.Empty((await direct.ScanAsync(new ScanRequest { TableName = other })).Items);

        var rightSink = new DynamoDbAggregateSink(direct, DynamoDbAggregateSinkOptions.Default with { TableName = rig.Table });
        RedriveReport right = await SpillRedrive.ApplyAsync(rig.S3, rig.Bucket, "spill", rightSink, TextWriter.Null, TimeSpan.Zero, TimeProvider.System, CancellationToken.None);
        Assert.True(right is { Done: true, Deleted: 1 });
        await AssertAggregatesAsync(direct, rig.Table, records);
    }

    /// <summary>A table is the same whether named or given by its ARN (both are accepted by the sink); another name is not.</summary>
    [Theory]
    [InlineData("metrics", "metrics", true)]
    [InlineData("arn:aws:dynamodb:eu-west-1:123456789012:table/metrics", "metrics", true)]
    [InlineData("metrics", "arn:aws:dynamodb:eu-west-1:123456789012:table/metrics", true)]
    [InlineData("metrics", "metrics-2", false)]
    [InlineData("arn:aws:dynamodb:eu-west-1:123456789012:table/metrics", "arn:aws:dynamodb:eu-west-1:123456789012:table/other", false)]
    [InlineData("table/metrics", "metrics", false)]
    public void SameTable_ComparesNamesAndArnsByTheTableName(string written, string given, bool same) =>
        Assert.Equal(same, SpillRedrive.SameTable(written, given));

    /// <summary>
    /// Runs the redrive until it reports done (a run cut short by lost responses is repeated), at most
    /// <paramref name="maxRuns"/> times. A run that HttpClient itself ended with an exception of its own making is a run
    /// cut short too: once in a CI run, behind the proxy, its status-line parser threw
    /// <see cref="ArgumentOutOfRangeException"/> from inside <c>System.Net.Http</c> (a span over its read buffer out of
    /// range), which neither the SDK nor the sink counts as a transport error. The operator's answer is the same as for
    /// any failed run: run it again; what this test proves is that a rerun never doubles or loses anything.
    /// </summary>
    private async Task<(RedriveReport Report, int Runs)> RedriveUntilDoneAsync(IAmazonS3 s3, string bucket, DynamoDbAggregateSink sink, int maxRuns)
    {
        RedriveReport? report = null;
        int runs = 0;
        do
        {
            Assert.True(++runs <= maxRuns, $"redrive did not finish in {maxRuns} runs");
            try
            {
                report = await SpillRedrive.ApplyAsync(s3, bucket, "spill", sink, TextWriter.Null, TimeSpan.Zero, TimeProvider.System, CancellationToken.None);
            }
            catch (ArgumentOutOfRangeException e) when (ThrownInside(e, "System.Net.Http."))
            {
                output.WriteLine($"redrive run {runs} ended by HttpClient: {e.GetType().Name} {e.StackTrace?.Split('\n')[0].Trim()}");
            }
        }
        while (report is not { Done: true });

        return (report, runs);
    }

    /// <summary>Whether the exception's first shown frame (throw helpers are hidden) is a method of the namespace.</summary>
    private static bool ThrownInside(Exception e, string namespacePrefix) =>
        e.StackTrace?.TrimStart().StartsWith("at " + namespacePrefix, StringComparison.Ordinal) == true;

    private static string Identity(Dictionary<string, AttributeValue> item) =>
        ShardStream.Identity(
            item["metric"].S,
            item.TryGetValue("dimensions", out AttributeValue? d) && d.M is not null ? d.M.Select(x => new KeyValuePair<string, string>(x.Key, x.Value.S)) : [],
            DateTimeOffset.Parse(item["windowStart"].S, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds());

    /// <summary>Every item's count, sum, min, max and quantiles equal those of the records' samples, and no item is extra.</summary>
    private static async Task AssertAggregatesAsync(IAmazonDynamoDB client, string table, ShardRecord[] records)
    {
        Dictionary<string, ShardStream.Expected> expected = ShardStream.Expect((TestEvents.ShardId, records));
        List<Dictionary<string, AttributeValue>> items = (await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items;
        Assert.Equal(expected.Count, items.Count);
        foreach (Dictionary<string, AttributeValue> item in items)
        {
            List<double> values = expected[Identity(item)].Values;
            Assert.Equal(values.Count, long.Parse(item["count"].N, CultureInfo.InvariantCulture));
            Assert.Equal(values.Min(), double.Parse(item["min"].N, CultureInfo.InvariantCulture));
            Assert.Equal(values.Max(), double.Parse(item["max"].N, CultureInfo.InvariantCulture));
            Assert.Equal(values.Sum(), double.Parse(item["sum"].N, CultureInfo.InvariantCulture), 1e-9 * values.Sum());
            var stored = new MetricAggregate(AggregatorOptions.Default);
            Assert.True(stored.TryReadFrom(item["sketch"].B.ToArray(), out _));
            var all = new MetricAggregate(AggregatorOptions.Default);
            values.ForEach(all.Add);
            foreach (double q in (double[])[0, 0.25, 0.5, 0.9, 0.99, 1])
            {
                Assert.Equal(all.GetQuantile(q), stored.GetQuantile(q));
            }
        }
    }

    /// <summary>
    /// A table and a bucket of their own, DynamoDB behind a fault proxy (1 s client timeout), and the function's processor
    /// with the DynamoDB sink (3 attempts), the S3 quarantine sink and the S3 spill sink, all on one bucket. The processor
    /// runs on <see cref="Clock"/>, the system clock that a test can move forward.
    /// </summary>
    private sealed class SpillRig : IAsyncDisposable
    {
        private SpillRig(string table, string bucket, FaultProxy proxy, AmazonDynamoDBClient dynamoDb, AmazonS3Client s3, bool perShardWatermarkOnly)
        {
            (Table, Bucket, Proxy, DynamoDb, S3) = (table, bucket, proxy, dynamoDb, s3);
            Sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = AwsRetryOptions.Default with { MaxAttempts = 3 }, PerShardWatermarkOnly = perShardWatermarkOnly });
            Quarantine = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket });
            Processor = new KinesisBatchProcessor(Sink, Quarantine, ProcessorOptions.Default with { SpillSink = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = bucket }, Sink), TimeProvider = Clock });
        }

        public JumpingClock Clock { get; } = new();

        public string Table { get; }

        public string Bucket { get; }

        public FaultProxy Proxy { get; }

        public AmazonDynamoDBClient DynamoDb { get; }

        public AmazonS3Client S3 { get; }

        public DynamoDbAggregateSink Sink { get; }

        public S3QuarantineSink Quarantine { get; }

        public KinesisBatchProcessor Processor { get; }

        public static async Task<SpillRig> CreateAsync(LocalServersFixture servers, int seed, bool perShardWatermarkOnly = false)
        {
            string table = await servers.CreateTableAsync("spill");
            string bucket = await servers.CreateBucketAsync("spill");
            var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed);
            return new SpillRig(table, bucket, proxy, servers.CreateDynamoDbClient(proxy.Url, timeout: TimeSpan.FromSeconds(1)), servers.CreateS3Client(), perShardWatermarkOnly);
        }

        public async ValueTask DisposeAsync()
        {
            Processor.Dispose();
            DynamoDb.Dispose();
            S3.Dispose();
            await Proxy.DisposeAsync();
        }
    }

    private static async Task<(BatchSummary Summary, string? Failure)> InvokeAsync(KinesisBatchProcessor processor, ShardRecord[] records, int start, int end, string streamArn = TestEvents.StreamArn, TimeProvider? clock = null)
    {
        var events = new List<TestRecord>();
        for (int i = start; i < end; i++)
        {
            string data = string.Join('\n', records[i].Samples.Select(s => TestEvents.Sample(s.Metric, s.Value, s.TimestampMs, [.. s.Dimensions.Select(d => (d.Key, d.Value))])));
            events.Add(new TestRecord(records[i].SequenceNumber, Encoding.UTF8.GetBytes(data), ArrivalMs + i, PartitionKey: records[i].PartitionKey));
        }

        var response = new ArrayBufferWriter<byte>();
        byte[] utf8Event = TestEvents.Build(events);
        if (streamArn != TestEvents.StreamArn)
        {
            utf8Event = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(utf8Event).Replace(TestEvents.StreamArn, streamArn, StringComparison.Ordinal));
        }

        BatchSummary summary = await processor.ProcessAsync(utf8Event, (clock ?? TimeProvider.System).GetUtcNow() + TimeSpan.FromSeconds(6), response).WaitAsync(TimeSpan.FromSeconds(30));
        using var json = JsonDocument.Parse(response.WrittenMemory);
        JsonElement failures = json.RootElement.GetProperty("batchItemFailures");
        return (summary, failures.GetArrayLength() == 0 ? null : failures[0].GetProperty("itemIdentifier").GetString());
    }

    /// <summary>
    /// The system clock, moved forward on demand (its readings and timestamps; timers are the system's, relative): a test
    /// takes a processor past an interval without waiting for it.
    /// </summary>
    private sealed class JumpingClock : TimeProvider
    {
        private long _offsetTicks;

        public override long TimestampFrequency => System.TimestampFrequency;

        public void Jump(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + TimeSpan.FromTicks(Volatile.Read(ref _offsetTicks));

        public override long GetTimestamp() =>
            System.GetTimestamp() + (long)(Volatile.Read(ref _offsetTicks) * (double)System.TimestampFrequency / TimeSpan.TicksPerSecond);
    }
}
