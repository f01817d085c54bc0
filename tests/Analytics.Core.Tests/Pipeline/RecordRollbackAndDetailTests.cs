using System.Buffers;
using System.Globalization;
using System.Text;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// What one record leaves behind when it is poison or split off: no pair of it reaches the sink, its quarantine entry
/// says why in words and carries the right partition key, and the counts of the batch leave it out.
/// </summary>
public class RecordRollbackAndDetailTests
{
    private static readonly long s_sampleMs = TestEvents.Arrival - 1000;

    private static KplTestUserRecord User(string key, string data) => new(key, null, TestEvents.Utf8(data), []);

    private static ProcessorOptions WithMaxPairs(int maxPairs) =>
        ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { MaxPairs = maxPairs } };

    private static async Task<BatchSummary> Run(KinesisBatchProcessor processor, byte[] evt) =>
        await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddMinutes(1), new ArrayBufferWriter<byte>());

    private static TestRecord Record(int n, string data, string partitionKey = "pk") => new(TestEvents.Seq(n), TestEvents.Utf8(data), TestEvents.Arrival, partitionKey);

    [Fact]
    public async Task SplitAtTheCap_TheRecordSplitOffIsNotCountedAsProcessed()
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), WithMaxPairs(2));
        TestRecord[] records = [Record(1, TestEvents.Sample("a", 1, s_sampleMs)), Record(2, TestEvents.Sample("b", 2, s_sampleMs)), Record(3, TestEvents.Sample("c", 3, s_sampleMs))];

        BatchSummary summary = await Run(processor, TestEvents.Build(records));

        Assert.Equal(BatchStopReason.PairCap, summary.StopReason);
        Assert.Equal(TestEvents.Seq(3), summary.ReportedFailure);
        Assert.Equal(2, summary.RecordsProcessed);
        Assert.Equal(3, summary.Records);
        Assert.Equal(["a", "b"], sink.Seen.Select(s => s.Metric).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task SplitInsideAContainer_PairsOfItsEarlierUserRecordsAreDroppedToo()
    {
        // Record 2 is a container: its first user record makes a second pair (within the cap of 2), its second a
        // third; the container is split off whole, so the pair of "b" must not reach the sink either.
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), WithMaxPairs(2));
        byte[] container = KplTestEncoder.Aggregate([User("k", TestEvents.Sample("b", 2, s_sampleMs)), User("k", TestEvents.Sample("c", 3, s_sampleMs))]);
        byte[] evt = TestEvents.Build([Record(1, TestEvents.Sample("a", 1, s_sampleMs)), new TestRecord(TestEvents.Seq(2), container, TestEvents.Arrival)]);

        BatchSummary summary = await Run(processor, evt);

        Assert.Equal(BatchStopReason.PairCap, summary.StopReason);
        Assert.Equal(TestEvents.Seq(2), summary.ReportedFailure);
        SeenAggregate a = Assert.Single(sink.Seen);
        Assert.Equal(("a", 1L, 1.0), (a.Metric, a.Count, a.Sum));
        Assert.Equal(1, summary.AggregatesWritten);
    }

    [Fact]
    public async Task SampleWhoseWindowPassesYear9999_AfterAValidSample_LeavesNoPairAndSaysWhy()
    {
        // 9999-12-31T23:59:30Z: its 60 s window would end in the year 10000 (let through the parser by a future skew of millennia).
        long late = DateTimeOffset.Parse("9999-12-31T23:59:30Z", CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
        var sink = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        var options = ProcessorOptions.Default with { Parser = MetricParserOptions.Default with { MaxFutureSkew = TimeSpan.FromDays(3_000_000) } };
        using var processor = new KinesisBatchProcessor(sink, quarantine, options);
        string data = TestEvents.Sample("fresh", 1, s_sampleMs) + "\n" + TestEvents.Sample("m", 2, late);

        BatchSummary summary = await Run(processor, TestEvents.Build([Record(1, data)]));

        QuarantinedRecord q = Assert.Single(quarantine.Records);
        Assert.Equal(PoisonReason.InvalidTimestamp, q.Reason);
        Assert.Contains("9999-12-31T23:59:59.999Z", q.Detail, StringComparison.Ordinal);
        // The pair the first sample made went with the record: nothing for the aggregate sink.
        Assert.Equal(0, sink.Calls);
        Assert.False(summary.Flushed);
        Assert.Null(summary.ReportedFailure);
    }

    [Fact]
    public async Task MalformedSampleAfterAValidOne_LeavesNoPair()
    {
        var sink = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(sink, quarantine, ProcessorOptions.Default);
        string poison = TestEvents.Sample("fresh", 1, s_sampleMs) + "\n{\"metric\":";

        BatchSummary summary = await Run(processor, TestEvents.Build([Record(1, TestEvents.Sample("kept", 5, s_sampleMs)), Record(2, poison)]));

        Assert.Equal(PoisonReason.InvalidJson, Assert.Single(quarantine.Records).Reason);
        SeenAggregate kept = Assert.Single(sink.Seen);
        Assert.Equal(("kept", 1L, 5.0), (kept.Metric, kept.Count, kept.Sum));
        Assert.Equal(1, summary.AggregatesWritten);
    }

    [Fact]
    public async Task RecordAloneOverTheCap_IsPoison_AndTheDetailNamesTheCap()
    {
        var sink = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(sink, quarantine, WithMaxPairs(2));
        string data = string.Join("\n", TestEvents.Sample("a", 1, s_sampleMs), TestEvents.Sample("b", 1, s_sampleMs), TestEvents.Sample("c", 1, s_sampleMs));

        BatchSummary summary = await Run(processor, TestEvents.Build([Record(1, data)]));

        QuarantinedRecord q = Assert.Single(quarantine.Records);
        Assert.Equal(PoisonReason.CardinalityLimit, q.Reason);
        Assert.Contains("cap of 2 (series, window) pairs", q.Detail, StringComparison.Ordinal);
        Assert.Equal(0, sink.Calls);
        Assert.Null(summary.ReportedFailure);
    }

    [Fact]
    public async Task OneRecordOfManySamples_GrowsTheQueue_AndEverySampleIsAggregated()
    {
        // More samples in one record than the queue of samples starts with (512), so that it must grow twice.
        const int Samples = 1500;
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        string data = string.Join("\n", Enumerable.Range(1, Samples).Select(i => TestEvents.Sample(i % 2 == 0 ? "even" : "odd", i, s_sampleMs)));

        BatchSummary summary = await Run(processor, TestEvents.Build([Record(1, data), Record(2, TestEvents.Sample("odd", 1, s_sampleMs))]));

        Assert.Equal(Samples + 1, summary.Samples);
        SeenAggregate even = Assert.Single(sink.Seen, s => s.Metric == "even");
        SeenAggregate odd = Assert.Single(sink.Seen, s => s.Metric == "odd");
        // Sums of the even and the odd numbers 1..1500, by formula; the odd series has one more sample of 1.
        Assert.Equal((750L, 750.0 * 751), (even.Count, even.Sum));
        Assert.Equal((751L, (750.0 * 750) + 1), (odd.Count, odd.Sum));
    }

    /// <summary>An event whose records' partition key is the raw bytes FF FE 41 (not UTF-8), as a producer's bytes may be.</summary>
    private static byte[] WithKeyNotUtf8(IEnumerable<TestRecord> records)
    {
        byte[] evt = TestEvents.Build(records.Select(r => r with { PartitionKey = "KEYPLACEHOLDER" }));
        byte[] marker = Encoding.ASCII.GetBytes("\"KEYPLACEHOLDER\"");
        var output = new List<byte>();
        ReadOnlySpan<byte> rest = evt;
        int at;
        while ((at = rest.IndexOf(marker)) >= 0)
        {
            output.AddRange(rest[..at].ToArray());
            output.AddRange([(byte)'"', 0xFF, 0xFE, 0x41, (byte)'"']);
            rest = rest[(at + marker.Length)..];
        }

        output.AddRange(rest.ToArray());
        return [.. output];
    }

    [Fact]
    public async Task PlainPoisonRecord_KeyNotUtf8_KeepsTheKeysBytesInBase64()
    {
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default);

        await Run(processor, WithKeyNotUtf8([Record(1, "{bad")]));

        QuarantinedRecord q = Assert.Single(quarantine.Records);
        Assert.Null(q.SubSequenceNumber);
        Assert.Equal(Convert.ToBase64String([0xFF, 0xFE, 0x41]), q.PartitionKeyBase64);
        Assert.Equal("\uFFFD\uFFFDA", q.PartitionKey);
    }

    /// <summary>
    /// A key the event spells as the escape of a lone surrogate and the key whose text is that escape's six characters
    /// both read back as the text <c>\ud800</c>: the first carries its bytes in base64, so the quarantine tells them
    /// apart (found by review: both lines were the same, with no base64).
    /// </summary>
    [Fact]
    public async Task PlainPoisonRecord_KeyALoneSurrogateEscape_IsToldApartFromTheKeySpellingIt()
    {
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default);
        string json = Encoding.UTF8.GetString(TestEvents.Build([Record(1, "{bad", "LONE"), Record(2, "{bad", "\\ud800")]));
        Assert.Contains("\"\\\\ud800\"", json, StringComparison.Ordinal); // the second key: a backslash, then 'ud800'

        await Run(processor, Encoding.UTF8.GetBytes(json.Replace("\"LONE\"", "\"\\ud800\"", StringComparison.Ordinal)));

        Assert.Equal(2, quarantine.Records.Count);
        QuarantinedRecord lone = quarantine.Records[0], spelled = quarantine.Records[1];
        Assert.Equal("\\ud800", spelled.PartitionKey);
        Assert.Null(spelled.PartitionKeyBase64);
        Assert.Equal("\\ud800", lone.PartitionKey);
        Assert.Equal(Convert.ToBase64String("\\ud800"u8), lone.PartitionKeyBase64);
    }

    [Fact]
    public async Task ContainerWithSeveralPoisonUserRecords_CarriesTheContainersKey_NotTheFirstUserRecords()
    {
        byte[] container = KplTestEncoder.Aggregate([User("user-1", "{bad"), User("user-2", TestEvents.Sample("m", 1, s_sampleMs)), User("user-3", "{worse")]);
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default);

        await Run(processor, WithKeyNotUtf8([new TestRecord(TestEvents.Seq(1), container, TestEvents.Arrival)]));

        QuarantinedRecord q = Assert.Single(quarantine.Records);
        Assert.Equal([0, 2], q.PoisonSubSequenceNumbers!);
        Assert.Equal("\uFFFD\uFFFDA", q.PartitionKey);
        Assert.Equal(Convert.ToBase64String([0xFF, 0xFE, 0x41]), q.PartitionKeyBase64);
        Assert.Equal(Convert.ToBase64String(container), q.Data);
    }

    [Fact]
    public async Task ContainerWithOnePoisonUserRecord_CarriesThatUserRecordsKey()
    {
        byte[] container = KplTestEncoder.Aggregate([User("user-1", TestEvents.Sample("m", 1, s_sampleMs)), User("user-2", "{bad")]);
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default);

        await Run(processor, WithKeyNotUtf8([new TestRecord(TestEvents.Seq(1), container, TestEvents.Arrival)]));

        QuarantinedRecord q = Assert.Single(quarantine.Records);
        Assert.Equal("user-2", q.PartitionKey);
        Assert.Null(q.PartitionKeyBase64);
    }

    [Fact]
    public async Task WindowEventWithoutRecords_TakesTheShardFromTheEnvelope()
    {
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);

        BatchSummary summary = await processor.ProcessAsync(TestEvents.BuildWindow([], "{}"), DateTimeOffset.UtcNow.AddMinutes(1), new ArrayBufferWriter<byte>());

        Assert.Equal(0, summary.Records);
        Assert.Equal(TestEvents.ShardId, summary.ShardId);
    }

    [Fact]
    public async Task DeadlineAlreadyPast_StillProcessesTheFirstRecord_AndReportsTheNext()
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        byte[] evt = TestEvents.Build([Record(1, TestEvents.Sample("a", 1, s_sampleMs)), Record(2, TestEvents.Sample("b", 2, s_sampleMs))]);

        // Five seconds late: there is no working time at all, not a negative one.
        BatchSummary summary = await processor.ProcessAsync(evt, DateTimeOffset.UtcNow - TimeSpan.FromSeconds(5), new ArrayBufferWriter<byte>());

        Assert.Equal(1, summary.RecordsProcessed);
        Assert.Equal(BatchStopReason.TimeBudget, summary.StopReason);
        Assert.Equal(TimeSpan.Zero, summary.PlannedSinkTime);
    }
}
