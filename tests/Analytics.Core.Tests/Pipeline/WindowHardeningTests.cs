using System.Buffers;
using System.Text.Json;
using FsCheck;
using FsCheck.Xunit;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// Tumbling-window invocations against unexpected input and redeployments: what Lambda does after a failed window
/// invocation (re-delivers the same batch with the previous state) must end with every sample applied once.
/// </summary>
public class WindowHardeningTests
{
    private static readonly DateTimeOffset s_start = DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival + 5_000);

    private static TestRecord Record(int n, string host, double value) => TestEvents.HostRecord(n, host, value);

    [Fact]
    public async Task FinalInvokeStoppedByTheTimeBudget_WritesNothing_SoTheRetryAppliesEverySampleOnce()
    {
        // 1 ms of fake time per clock read: 3,000 records take about 3 s to read, the budget is 2.2 s.
        var clock = new ManualClock(s_start, TimeSpan.FromMilliseconds(1));
        var aggregates = new SlowWatermarkSink(clock, TimeSpan.FromMilliseconds(1));
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });
        TestRecord[] records = [.. Enumerable.Range(1, 3000).Select(i => Record(i, "h" + (i % 5), i))];
        byte[] final = TestEvents.BuildWindow(records, "{}", final: true);

        // The budget runs out while reading: the invocation fails whole (a window answer cannot be partial).
        await Assert.ThrowsAsync<BatchFailedException>(() => processor.ProcessAsync(final, clock.GetUtcNow() + TimeSpan.FromMilliseconds(2200), new ArrayBufferWriter<byte>()));

        // Lambda re-delivers the same batch with the same (previous) state.
        BatchSummary retry = await processor.ProcessAsync(final, clock.GetUtcNow() + TimeSpan.FromSeconds(60), new ArrayBufferWriter<byte>());

        Assert.Equal(BatchStopReason.None, retry.StopReason);
        Assert.Equal(
            records.Length,
            aggregates.Store.Values.Sum(v => v.Count));
        Assert.Equal(
            Enumerable.Range(1, 3000).Sum(i => (double)i),
            aggregates.Store.Values.Sum(v => v.Sum));
    }

    public static TheoryData<string> ChangedAggregatorOptions => ["window", "accuracy", "bins"];

    /// <summary>The options a redeploy changed: one of <see cref="ChangedAggregatorOptions"/>.</summary>
    internal static AggregatorOptions Changed(AggregatorOptions before, string changed) => changed switch
    {
        "window" => before with { WindowSize = TimeSpan.FromMinutes(5) },
        "accuracy" => before with { RelativeAccuracy = 0.02 },
        _ => before with { MaxBins = 1024 },
    };

    [Theory]
    [MemberData(nameof(ChangedAggregatorOptions))]
    public async Task RedeployChangingAggregatorOptionsMidWindow_FlushesTheOldStateUnderItsOwnOptions_AndGoesOn(string changed)
    {
        AggregatorOptions before = AggregatorOptions.Default;
        AggregatorOptions after = Changed(before, changed);
        var oldSink = new RecordingAggregateSink();
        using var oldFunction = new KinesisBatchProcessor(oldSink, new RecordingQuarantineSink(), ProcessorOptions.Default with { Aggregator = before });
        JsonElement open = await TestEvents.RunAsync(oldFunction, TestEvents.BuildWindow([Record(1, "a", 1), Record(2, "b", 2)], "{\"other\":7}"));
        Assert.Empty(oldSink.Seen);

        // The new version gets the old version's state: two invocations of the same window, then its final one.
        var sink = new RecordingAggregateSink();
        using var newFunction = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { Aggregator = after });
        JsonElement next = await TestEvents.RunAsync(newFunction, TestEvents.BuildWindow([Record(3, "a", 3)], open.GetProperty("state").GetRawText()));
        JsonElement last = await TestEvents.RunAsync(newFunction, TestEvents.BuildWindow([Record(4, "c", 4)], next.GetProperty("state").GetRawText(), final: true));

        // Every sample once: the old state's under the old options (its own range), the new batches' under the new.
        Assert.Equal(
            [("a", 1.0, TestEvents.Seq(1), TestEvents.Seq(2)), ("b", 2.0, TestEvents.Seq(1), TestEvents.Seq(2)), ("a", 3.0, TestEvents.Seq(3), TestEvents.Seq(4)), ("c", 4.0, TestEvents.Seq(3), TestEvents.Seq(4))],
            sink.Seen.Select(s => (s.Dimensions.Replace("host=", string.Empty, StringComparison.Ordinal), s.Sum, s.FirstSequenceNumber, s.LastSequenceNumber)));
        Assert.All(sink.Seen, s => Assert.Equal(1, s.Count));
        Assert.Equal(7, last.GetProperty("state").GetProperty("other").GetInt32());
        Assert.False(last.GetProperty("state").TryGetProperty(ProcessorOptions.Default.StateKey, out _));
    }

    [Fact]
    public async Task StateOfOtherOptionsThatIsItselfBroken_IsStillRefused_NothingWritten()
    {
        var oldSink = new RecordingAggregateSink();
        using var oldFunction = new KinesisBatchProcessor(oldSink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        JsonElement open = await TestEvents.RunAsync(oldFunction, TestEvents.BuildWindow([Record(1, "a", 1)], "{}"));
        string key = ProcessorOptions.Default.StateKey;
        byte[] entry = Convert.FromBase64String(open.GetProperty("state").GetProperty(key).GetString()!);
        string truncated = Convert.ToBase64String(entry.AsSpan(0, entry.Length - 1));

        var sink = new RecordingAggregateSink();
        var changed = ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { WindowSize = TimeSpan.FromMinutes(5) } };
        using var newFunction = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), changed);

        WindowStateFormatException e = await Assert.ThrowsAsync<WindowStateFormatException>(
            () => TestEvents.RunAsync(newFunction, TestEvents.BuildWindow([Record(2, "a", 2)], $$"""{"{{key}}":"{{truncated}}"}""", final: true)));
        Assert.Contains("cannot be decoded", e.Message, StringComparison.Ordinal);
        Assert.Empty(sink.Seen);
    }

    /// <summary>An event with the given top-level window fields (raw JSON; null leaves a field out) and one record.</summary>
    private static byte[] EventWith(string? window, string? state, string? final) =>
        TestEvents.Build([Record(2, "a", 2)], w =>
        {
            foreach ((string name, string? json) in new[] { ("window", window), ("state", state), ("isFinalInvokeForWindow", final) })
            {
                if (json is not null)
                {
                    w.WritePropertyName(name);
                    w.WriteRawValue(json);
                }
            }
        });

    [Theory]
    [InlineData(null, "true")]
    [InlineData("null", "true")]
    [InlineData("null", "false")]
    [InlineData(null, null)]
    public async Task WindowStateWithoutAWindow_IsRefused_NotProcessedAsAPlainBatchThatDropsTheState(string? window, string? final)
    {
        var oldSink = new RecordingAggregateSink();
        using var opener = new KinesisBatchProcessor(oldSink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        string state = (await TestEvents.RunAsync(opener, TestEvents.BuildWindow([Record(1, "a", 1)], "{}"))).GetProperty("state").GetRawText();

        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        KinesisEventFormatException e = await Assert.ThrowsAsync<KinesisEventFormatException>(() => TestEvents.RunAsync(processor, EventWith(window, state, final)));

        Assert.Contains("window", e.Message, StringComparison.Ordinal);
        Assert.Empty(sink.Seen);
    }

    [Theory]
    [InlineData("null", "null", "false")]
    [InlineData(null, "null", null)]
    [InlineData(null, null, "false")]
    public async Task PlainEventWithEmptyWindowFields_IsAPlainBatch(string? window, string? state, string? final)
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        JsonElement response = await TestEvents.RunAsync(processor, EventWith(window, state, final));

        Assert.False(response.TryGetProperty("state", out _));
        Assert.Equal(2.0, Assert.Single(sink.Seen).Sum);
    }

    /// <summary>
    /// A redeploy and a re-delivery at once: the new version's first batch of the window starts inside the old state's
    /// range. The old state is flushed under its options with its range; of the batch only the records above that range
    /// go on, under a range that starts after it. Before, the re-delivered records went on too and the new flush claimed
    /// a range reaching into the old one's: records 2 and 3 were stored twice (the capturing sink shows it; DynamoDB's
    /// sink would refuse the straddling flush on every retry of the window).
    /// </summary>
    [Theory]
    [MemberData(nameof(ChangedAggregatorOptions))]
    public async Task RedeployAndReDeliveryAtOnce_EachRecordIsFlushedOnce(string changed)
    {
        AggregatorOptions before = AggregatorOptions.Default;
        AggregatorOptions after = Changed(before, changed);
        using var oldFunction = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { Aggregator = before });
        JsonElement open = await TestEvents.RunAsync(oldFunction, TestEvents.BuildWindow([Record(1, "a", 1), Record(2, "a", 2), Record(3, "b", 3)], "{}"));

        var sink = new RecordingAggregateSink();
        using var newFunction = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { Aggregator = after });
        await TestEvents.RunAsync(newFunction, TestEvents.BuildWindow([Record(2, "a", 2), Record(3, "b", 3), Record(4, "a", 4), Record(5, "c", 5)], open.GetProperty("state").GetRawText(), final: true));

        Assert.Equal(
            [("host=a", 2L, 3.0, TestEvents.Seq(1), TestEvents.Seq(3)), ("host=b", 1L, 3.0, TestEvents.Seq(1), TestEvents.Seq(3)), ("host=a", 1L, 4.0, TestEvents.Seq(4), TestEvents.Seq(5)), ("host=c", 1L, 5.0, TestEvents.Seq(4), TestEvents.Seq(5))],
            sink.Seen.Select(s => (s.Dimensions, s.Count, s.Sum, s.FirstSequenceNumber, s.LastSequenceNumber)));
    }

    /// <summary>The successor of a sequence number is the number plus one, carries and a new leading digit included.</summary>
    [Property(MaxTest = 200)]
    public bool Successor_IsTheNumberPlusOne(NonNegativeInt head, byte nines)
    {
        string n = head.Get.ToString(System.Globalization.CultureInfo.InvariantCulture) + new string('9', nines % 120);
        return SequenceNumber.Successor(n) == (System.Numerics.BigInteger.Parse(n, System.Globalization.CultureInfo.InvariantCulture) + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task BatchReDeliveringRecordsTheStateAlreadyHolds_CountsThemOnce()
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        JsonElement open = await TestEvents.RunAsync(processor, TestEvents.BuildWindow([Record(1, "a", 1), Record(2, "a", 2), Record(3, "b", 3)], "{}"));

        // Records 2 and 3 are in the state already; 4 and 5 are new.
        await TestEvents.RunAsync(processor, TestEvents.BuildWindow([Record(2, "a", 2), Record(3, "b", 3), Record(4, "a", 4), Record(5, "c", 5)], open.GetProperty("state").GetRawText(), final: true));

        Assert.Equal(
            [("host=a", 3L, 7.0), ("host=b", 1L, 3.0), ("host=c", 1L, 5.0)],
            sink.Seen.Select(s => (s.Dimensions, s.Count, s.Sum)).OrderBy(s => s.Dimensions, StringComparer.Ordinal));
        Assert.All(sink.Seen, s => Assert.Equal((TestEvents.Seq(1), TestEvents.Seq(5)), (s.FirstSequenceNumber, s.LastSequenceNumber)));
    }

    [Fact]
    public async Task BatchReplayedWhollyInsideTheState_AddsNothing_AndKeepsTheStateRange()
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        JsonElement open = await TestEvents.RunAsync(processor, TestEvents.BuildWindow([Record(1, "a", 1), Record(2, "a", 2), Record(3, "a", 3)], "{}"));

        await TestEvents.RunAsync(processor, TestEvents.BuildWindow([Record(2, "a", 2)], open.GetProperty("state").GetRawText(), final: true));

        SeenAggregate seen = Assert.Single(sink.Seen);
        Assert.Equal((3L, 6.0, TestEvents.Seq(1), TestEvents.Seq(3)), (seen.Count, seen.Sum, seen.FirstSequenceNumber, seen.LastSequenceNumber));
    }

    [Fact]
    public async Task StateWhoseRangeStartsAfterTheBatch_IsRefused_NothingWritten()
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        JsonElement later = await TestEvents.RunAsync(processor, TestEvents.BuildWindow([Record(5, "a", 5), Record(6, "a", 6)], "{}"));

        await Assert.ThrowsAsync<WindowStateFormatException>(
            () => TestEvents.RunAsync(processor, TestEvents.BuildWindow([Record(1, "a", 1)], later.GetProperty("state").GetRawText(), final: true)));
        Assert.Empty(sink.Seen);
    }

    /// <summary>
    /// The same after a redeploy that changed the aggregator's options (found by review): the old state was flushed and
    /// the batch's records up to the state's last dropped as if the state held them, so a batch [1, 2, 7] with a state
    /// of [5, 6] lost 1 and 2 without a word. It is refused as under the same options, before anything is written.
    /// </summary>
    [Theory]
    [MemberData(nameof(ChangedAggregatorOptions))]
    public async Task StateOfOtherOptionsWhoseRangeStartsAfterTheBatch_IsRefused_NothingWritten(string changed)
    {
        using var oldFunction = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        JsonElement later = await TestEvents.RunAsync(oldFunction, TestEvents.BuildWindow([Record(5, "a", 5), Record(6, "a", 6)], "{}"));
        var sink = new RecordingAggregateSink();
        using var newFunction = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { Aggregator = Changed(AggregatorOptions.Default, changed) });

        await Assert.ThrowsAsync<WindowStateFormatException>(
            () => TestEvents.RunAsync(newFunction, TestEvents.BuildWindow([Record(1, "a", 1), Record(2, "a", 2), Record(7, "a", 7)], later.GetProperty("state").GetRawText(), final: true)));
        Assert.Empty(sink.Seen);
    }

    [Property(MaxTest = 60)]
    public async Task AnyWindowWithReDeliveredRecords_EverySampleCountedOnce(int seed)
    {
        // A window's records in batches, each starting anywhere from the state's first record to just past its last
        // (a re-delivery of records the state holds), the last one final: the flush holds each record once.
        var random = new Random(seed);
        int count = random.Next(1, 60);
        TestRecord[] records = [.. Enumerable.Range(1, count).Select(i => Record(i, "h" + random.Next(4), i))];
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        string state = "{}";
        int next = 0;
        while (next < count)
        {
            int start = next == 0 ? 0 : random.Next(next / 2, next + 1);
            int end = Math.Min(count, Math.Max(start + 1, next) + random.Next(0, 8));
            bool final = end == count;
            JsonElement response = await TestEvents.RunAsync(processor, TestEvents.BuildWindow(records[start..end], state, final));
            state = response.GetProperty("state").GetRawText();
            next = Math.Max(next, end);
        }

        Assert.Equal(((long)count, count * (count + 1) / 2.0), (sink.Seen.Sum(s => s.Count), sink.Seen.Sum(s => s.Sum)));
    }

    [Fact]
    public async Task FinalInvokeWithoutRecordsOrShardId_IsRefused_NotFlushedUnderNoShard()
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        string state = (await TestEvents.RunAsync(processor, TestEvents.BuildWindow([Record(1, "a", 1)], "{}"))).GetProperty("state").GetRawText();
        byte[] final = TestEvents.Build([], w =>
        {
            w.WriteStartObject("window");
            w.WriteString("start", "2025-01-20T10:00:00Z");
            w.WriteString("end", "2025-01-20T10:15:00Z");
            w.WriteEndObject();
            w.WritePropertyName("state");
            w.WriteRawValue(state);
            w.WriteString("eventSourceARN", TestEvents.StreamArn);
            w.WriteBoolean("isFinalInvokeForWindow", true);
        });

        // The flush's watermark is kept per shard: written under no shard, a repeat of the invocation would apply it again.
        KinesisEventFormatException e = await Assert.ThrowsAsync<KinesisEventFormatException>(() => TestEvents.RunAsync(processor, final));
        Assert.Contains("shardId", e.Message, StringComparison.Ordinal);
        Assert.Empty(sink.Seen);
    }

    /// <summary>
    /// The final invocation of a window with no record (Lambda sends one when the window closes): the event source ARN
    /// is then only at the top level, after the empty record list, and the flush is written under it (a mutation run's
    /// survivor: the ARN taken from the records alone left the flush under no stream, so the table's item differed from
    /// the one the window's earlier records would name).
    /// </summary>
    [Fact]
    public async Task FinalInvokeWithoutRecords_FlushesUnderTheTopLevelEventSourceArn()
    {
        var sink = new SourceRecordingSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        string state = (await TestEvents.RunAsync(processor, TestEvents.BuildWindow([Record(1, "a", 1)], "{}"))).GetProperty("state").GetRawText();

        // A new processor (a new execution environment) has seen no ARN before this event.
        using var fresh = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        byte[] final = TestEvents.BuildWindow([], state, final: true);
        BatchSummary summary = await fresh.ProcessAsync(final, DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());

        Assert.Equal((0, true, 1), (summary.Records, summary.Flushed, summary.AggregatesWritten));
        Assert.Equal(TestEvents.StreamArn, summary.EventSourceArn);
        Assert.Equal([(TestEvents.ShardId, TestEvents.StreamArn)], sink.Sources);
        Assert.Null(summary.FirstSequenceNumber);
        Assert.Null(summary.LastSequenceNumber);
        // No record, no age (the summary's ages feed the iterator-age figures of the log line).
        Assert.Equal((TimeSpan.Zero, TimeSpan.Zero), (summary.OldestRecordAge, summary.NewestRecordAge));
    }

    /// <summary>A quarantine sink whose write finishes only when the test says so.</summary>
    private sealed class GatedQuarantineSink : IQuarantineSink
    {
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Running { get; private set; }

        public async Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
        {
            Running = true;
            await Release.Task;
            Running = false;
            return records.Count;
        }
    }

    /// <summary>
    /// Runs <paramref name="evt"/> with the quarantine sink held until the invocation has had its chance to end, and
    /// returns the invocation's exception, asserting it came only after the quarantine was done.
    /// </summary>
    private static async Task<T> FailsAfterTheQuarantineAsync<T>(KinesisBatchProcessor processor, GatedQuarantineSink quarantine, byte[] evt)
        where T : Exception
    {
        Task<BatchSummary> run = processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        bool failedWhileRunning = run.IsCompleted && quarantine.Running;
        quarantine.Release.SetResult();
        T e = await Assert.ThrowsAsync<T>(() => run);
        Assert.False(failedWhileRunning, "the invocation failed while the quarantine sink was still writing its records");
        return e;
    }

    public static TheoryData<string> StateRefusals => ["broken", "rangeAfterTheBatch", "rangeAfterTheBatchOfOtherOptions"];

    [Theory]
    [MemberData(nameof(StateRefusals))]
    public async Task RefusedState_FailsOnlyOnceTheQuarantineIsDone_NotWhileItStillUsesTheBatchsList(string refusal)
    {
        string state = $$"""{"{{ProcessorOptions.Default.StateKey}}":42}""";
        ProcessorOptions options = ProcessorOptions.Default;
        if (refusal != "broken")
        {
            // The state of records 5 and 6, given with a batch that starts at 1.
            using var opener = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
            state = (await TestEvents.RunAsync(opener, TestEvents.BuildWindow([Record(5, "a", 5), Record(6, "a", 6)], "{}"))).GetProperty("state").GetRawText();
            options = refusal == "rangeAfterTheBatch" ? options : options with { Aggregator = Changed(AggregatorOptions.Default, "window") };
        }

        var quarantine = new GatedQuarantineSink();
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, quarantine, options);
        TestRecord poison = new(TestEvents.Seq(2), TestEvents.Utf8("{\"metric\":"), TestEvents.Arrival);
        byte[] evt = TestEvents.BuildWindow([Record(1, "a", 1), poison, Record(7, "a", 7)], state, final: true);

        WindowStateFormatException e = await FailsAfterTheQuarantineAsync<WindowStateFormatException>(processor, quarantine, evt);
        Assert.Contains(
            refusal == "broken" ? "not a base64 string" : "The window state's sequence range starts after the batch's first record",
            e.Message,
            StringComparison.Ordinal);
        Assert.Empty(sink.Seen);
    }

    /// <summary>
    /// A window state of other aggregator options whose flush the sink does not make durable: the invocation fails whole
    /// (only after the quarantine is done) and nothing of the batch is written. Lambda's retry with the same state hands
    /// the sink the old state's aggregates again under their own range (the one already durable is skipped by the
    /// sink's watermark, as a repeated write always is) and the batch's under theirs: each sample in one aggregate.
    /// </summary>
    [Fact]
    public async Task StateOfOtherOptionsWhoseFlushIsNotDurable_FailsWhole_AndTheRetryWritesEverySampleOnce()
    {
        using var oldFunction = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        string state = (await TestEvents.RunAsync(oldFunction, TestEvents.BuildWindow([Record(1, "a", 1), Record(2, "b", 2)], "{}"))).GetProperty("state").GetRawText();

        var sink = new RecordingAggregateSink { Durable = pair => pair == 0 };
        var quarantine = new GatedQuarantineSink();
        using var newFunction = new KinesisBatchProcessor(sink, quarantine, ProcessorOptions.Default with { Aggregator = Changed(AggregatorOptions.Default, "window") });
        TestRecord poison = new(TestEvents.Seq(4), TestEvents.Utf8("{\"metric\":"), TestEvents.Arrival);
        byte[] evt = TestEvents.BuildWindow([Record(3, "a", 30), poison, Record(5, "c", 5)], state, final: true);

        BatchFailedException e = await FailsAfterTheQuarantineAsync<BatchFailedException>(newFunction, quarantine, evt);
        Assert.Contains("made 1 of 2 aggregates of the window state written under other aggregator options durable", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, sink.Calls);
        Assert.Equal(["host=a", "host=b"], sink.Seen.Select(s => s.Dimensions));

        // Lambda retries with the previous state; the sink now makes everything durable.
        sink.Durable = null;
        sink.Seen.Clear();
        await TestEvents.RunAsync(newFunction, evt);
        Assert.Equal(
            [("host=a", 1.0, TestEvents.Seq(1), TestEvents.Seq(2)), ("host=b", 2.0, TestEvents.Seq(1), TestEvents.Seq(2)), ("host=a", 30.0, TestEvents.Seq(3), TestEvents.Seq(5)), ("host=c", 5.0, TestEvents.Seq(3), TestEvents.Seq(5))],
            sink.Seen.Select(s => (s.Dimensions, s.Sum, s.FirstSequenceNumber, s.LastSequenceNumber)));
    }
}
