using System.Buffers;
using System.Text;
using System.Text.Json;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests.Validation;

/// <summary>
/// Records a hostile producer writes, each pinned to the documented promise it breaks; the expectation is stated
/// independently of the library (a verdict of the same record elsewhere, or the documented shape).
/// </summary>
public class HostileProducerTests3
{
    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    private static string Sample(string metric) => TestEvents.Sample(metric, 1, TestEvents.Arrival - 1000);

    private static async Task<(RecordingAggregateSink Aggregates, RecordingQuarantineSink Quarantine)> RunWindowAsync(ProcessorOptions options, params TestRecord[] records)
    {
        var aggregates = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, options);
        byte[] evt = TestEvents.BuildWindow(records, "{}", final: true);
        await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        return (aggregates, quarantine);
    }

    /// <summary>
    /// docs/aggregation.md, "Cap and atomic records": a record that alone holds more pairs than <c>MaxPairs</c> is
    /// <c>CardinalityLimit</c> "wherever it comes in a batch" and "a verdict therefore depends on the record alone, never
    /// on its neighbours or on the batch boundaries" (RecordValidator: "the same record always gets the same verdict").
    /// In a tumbling-window invocation it does not: first in the batch it is quarantined (aloneInBatch), after a record
    /// with a pair the split is turned into "lift the cap for the rest of the batch" and the same bytes are aggregated.
    /// A producer's record is thus poison or data depending on where Lambda cut the batch (a bisected retry moves it).
    /// </summary>
    [Fact]
    public async Task WindowInvocation_ARecordAlonePastTheCap_GetsTheSameVerdictWhateverComesBeforeIt()
    {
        var options = ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { MaxPairs = 1 } };
        // Two samples of two series: two pairs, one more than the cap, in one record (NDJSON).
        byte[] pastTheCap = U(Sample("b") + "\n" + Sample("c"));
        var before = new TestRecord(TestEvents.Seq(1), U(Sample("a")), TestEvents.Arrival);
        var alone = new TestRecord(TestEvents.Seq(2), pastTheCap, TestEvents.Arrival);

        (RecordingAggregateSink firstAggregates, RecordingQuarantineSink firstQuarantine) = await RunWindowAsync(options, alone);
        (RecordingAggregateSink secondAggregates, RecordingQuarantineSink secondQuarantine) = await RunWindowAsync(options, before, alone);

        // The same record, first in its batch: CardinalityLimit, nothing of it aggregated.
        QuarantinedRecord q = Assert.Single(firstQuarantine.Records);
        Assert.Equal(PoisonReason.CardinalityLimit, q.Reason);
        Assert.DoesNotContain(firstAggregates.Seen, s => s.Metric is "b" or "c");

        // After a record of its own series: it must get the same verdict.
        bool quarantinedSecond = secondQuarantine.Records.Any(r => r.SequenceNumber == TestEvents.Seq(2));
        string[] aggregatedSecond = [.. secondAggregates.Seen.Select(s => s.Metric).Where(m => m is "b" or "c").Order()];
        Assert.True(
            quarantinedSecond && aggregatedSecond.Length == 0,
            $"first in the batch the record is CardinalityLimit; after another record it was quarantined={quarantinedSecond}, aggregated=[{string.Join(",", aggregatedSecond)}]");
    }

    /// <summary>
    /// The case the first fix missed: past the cap a window invocation adds samples of existing pairs without asking
    /// the cap, so a record whose every pair already exists never met it, and was aggregated whole though it alone
    /// passes the cap. A KPL container whose user records together pass it is quarantined whole, as when it is first.
    /// </summary>
    [Fact]
    public async Task WindowInvocation_PastTheCap_ARecordOfExistingPairsOnly_AndAContainer_AreStillJudgedAlone()
    {
        var options = ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { MaxPairs = 1 } };
        var a = new TestRecord(TestEvents.Seq(1), U(Sample("a")), TestEvents.Arrival);
        var b = new TestRecord(TestEvents.Seq(2), U(Sample("b")), TestEvents.Arrival);
        var ab = new TestRecord(TestEvents.Seq(3), U(Sample("a") + "\n" + Sample("b")), TestEvents.Arrival);
        byte[] container = KplTestEncoder.Aggregate([new KplTestUserRecord("k", null, U(Sample("a")), []), new KplTestUserRecord("k", null, U(Sample("b")), [])]);
        var kpl = new TestRecord(TestEvents.Seq(4), container, TestEvents.Arrival);
        var c = new TestRecord(TestEvents.Seq(5), U(Sample("a")), TestEvents.Arrival);

        (RecordingAggregateSink aggregates, RecordingQuarantineSink quarantine) = await RunWindowAsync(options, a, b, ab, kpl, c);

        Assert.Equal(
            [(TestEvents.Seq(3), PoisonReason.CardinalityLimit, (int?)null, Convert.ToBase64String(ab.Data)), (TestEvents.Seq(4), PoisonReason.CardinalityLimit, null, Convert.ToBase64String(container))],
            quarantine.Records.Select(q => (q.SequenceNumber, q.Reason, q.SubSequenceNumber, q.Data)).OrderBy(q => q.SequenceNumber));
        // Each detail names what was judged: the plain record alone, the container's user records together.
        Assert.Equal("the record alone holds more than the cap of 1 (series, window) pairs", quarantine.Records.Single(q => q.SequenceNumber == TestEvents.Seq(3)).Detail);
        Assert.Equal("the aggregated record alone holds more than the cap of 1 (series, window) pairs, its user records together", quarantine.Records.Single(q => q.SequenceNumber == TestEvents.Seq(4)).Detail);
        // a, b and c only: a twice, b once.
        Assert.Equal([("a", 2L), ("b", 1L)], aggregates.Seen.GroupBy(x => x.Metric).Select(g => (g.Key, g.Sum(x => x.Count))).OrderBy(x => x.Key));
    }
    /// <summary>
    /// Past the cap in a tumbling-window invocation each record is judged alone as processing it would judge it: unit by
    /// unit, and a user record found poison (a bad line after a good sample, a sample whose window would end after the
    /// calendar) takes its pairs back, so that only the good user records count towards the cap. With the cap at 2, each
    /// container's good user records hold 2 pairs and its poison one a third: the good ones are aggregated and the
    /// poison one quarantined on its own, not the container whole as past the cap; and a record that is poison as a
    /// whole (a container with no user record) keeps its own reason.
    /// </summary>
    [Fact]
    public async Task WindowInvocation_PastTheCap_APoisonUserRecordsSamples_DoNotCountTowardsTheCap()
    {
        var options = ProcessorOptions.Default with
        {
            Aggregator = AggregatorOptions.Default with { MaxPairs = 2 },
            // So that a timestamp in the calendar's last minute reaches the aggregator, which refuses its window.
            Parser = MetricParserOptions.Default with { MaxAge = TimeSpan.FromDays(3_000_000), MaxFutureSkew = TimeSpan.FromDays(3_000_000) },
        };
        const string LastMinute = """{"metric":"late","value":1,"timestamp":253402300799000}""";
        KplTestUserRecord User(string data) => new("k", null, U(data), []);
        TestRecord Record(int n, byte[] data) => new(TestEvents.Seq(n), data, TestEvents.Arrival);
        byte[] badLine = KplTestEncoder.Aggregate([User(Sample("d")), User(Sample("x") + "\n{bad"), User(Sample("e"))]);
        byte[] lateSample = KplTestEncoder.Aggregate([User(Sample("f")), User(Sample("g") + "\n" + LastMinute), User(Sample("i"))]);
        byte[] empty = KplTestEncoder.Aggregate([]);

        (RecordingAggregateSink aggregates, RecordingQuarantineSink quarantine) = await RunWindowAsync(
            options, Record(1, U(Sample("a"))), Record(2, U(Sample("b"))), Record(3, U(Sample("c"))), Record(4, badLine), Record(5, lateSample), Record(6, empty));

        Assert.Equal(
            [(TestEvents.Seq(4), PoisonReason.InvalidJson, (int?)1), (TestEvents.Seq(5), PoisonReason.InvalidTimestamp, 1), (TestEvents.Seq(6), PoisonReason.EmptyData, null)],
            quarantine.Records.Select(q => (q.SequenceNumber, q.Reason, q.SubSequenceNumber)).OrderBy(q => q.SequenceNumber));
        Assert.Equal(["a", "b", "c", "d", "e", "f", "i"], aggregates.Seen.Select(s => s.Metric).Order());
    }
    /// <summary>
    /// Judging each record alone past the cap allocates nothing per record: its pairs are counted in one probe aggregator
    /// that is rolled back for the next record, not in a new aggregator per record. Two window invocations (not final,
    /// so no sink runs) that differ only in 200 more records past the cap, each of one existing pair, allocate exactly the
    /// same.
    /// </summary>
    [Fact]
    public void WindowInvocation_PastTheCap_JudgingRecordsAlone_AllocatesNothingPerRecord()
    {
        var options = ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { MaxPairs = 2 } };
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), options);
        byte[] Window(int pastTheCap) => TestEvents.BuildWindow(
            [.. ((string[])["a", "b", "c"]).Concat(Enumerable.Repeat("a", pastTheCap)).Select((metric, i) => new TestRecord(TestEvents.Seq(i + 1), U(Sample(metric)), TestEvents.Arrival))],
            "{}",
            final: false);
        byte[] few = Window(100), many = Window(300);
        var response = new ArrayBufferWriter<byte>(1 << 16);
        long Allocated(byte[] evt, int records) => AllocationMeasure.Least(() =>
        {
            response.ResetWrittenCount();
            Task<BatchSummary> run = processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), response);
            Assert.True(run.IsCompleted, "the invocation did not end synchronously");
            Assert.Equal(records, run.Result.ValidRecords);
        });

        Allocated(many, 303); // the buffers grown for the larger batch, once
        long more = Allocated(many, 303), fewer = Allocated(few, 103);

        Assert.True(more == fewer, $"{more - fewer} bytes more for 200 more records past the cap ({fewer} B at 103 records, {more} B at 303)");
    }
}
