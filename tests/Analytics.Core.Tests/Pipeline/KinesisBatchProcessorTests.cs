using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Analytics.Core.Tests.Pipeline;

public class KinesisBatchProcessorTests
{
    private static TestRecord Good(int n, string metric, double value, params (string, string)[] dims) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample(metric, value, TestEvents.Arrival - 1000, dims)), TestEvents.Arrival);

    private static TestRecord Poison(int n, string data) => new(TestEvents.Seq(n), TestEvents.Utf8(data), TestEvents.Arrival);

    private static async Task<(JsonDocument Response, BatchSummary Summary)> Run(KinesisBatchProcessor processor, byte[] evt, TimeSpan? budget = null)
    {
        var output = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(evt, DateTimeOffset.UtcNow + (budget ?? TimeSpan.FromSeconds(30)), output);
        return (JsonDocument.Parse(output.WrittenMemory), summary);
    }

    private static string[] Failures(JsonDocument response) =>
        [.. response.RootElement.GetProperty("batchItemFailures").EnumerateArray().Select(f => f.GetProperty("itemIdentifier").GetString()!)];

    [Fact]
    public async Task Process_PoisonDurablyQuarantined_DoesNotFailTheBatch()
    {
        var aggregates = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default);
        byte[] evt = TestEvents.Build([Good(1, "cpu", 1), Poison(2, "{not json"), Good(3, "cpu", 3), Poison(4, """{"metric":"cpu","value":"x","timestamp":1737367199000}""")]);

        var (response, summary) = await Run(processor, evt);

        Assert.Empty(Failures(response));
        Assert.Equal(2, summary.ValidRecords);
        Assert.Equal(2, summary.PoisonRecords);
        Assert.Equal([TestEvents.Seq(2), TestEvents.Seq(4)], quarantine.Records.Select(r => r.SequenceNumber));
        Assert.Equal([PoisonReason.InvalidJson, PoisonReason.WrongType], quarantine.Records.Select(r => r.Reason));
        Assert.Equal(Convert.ToBase64String(TestEvents.Utf8("{not json")), quarantine.Records[0].Data);
        Assert.Equal(TestEvents.ShardId, quarantine.Records[0].ShardId);
        Assert.Equal(TestEvents.StreamArn, quarantine.Records[0].EventSourceArn);
        SeenAggregate cpu = Assert.Single(aggregates.Seen);
        Assert.Equal((2L, 4.0, 1.0, 3.0), (cpu.Count, cpu.Sum, cpu.Min, cpu.Max));
    }

    [Fact]
    public async Task Process_AggregateSinkThrows_ReportsTheLowestRecordNotDurable()
    {
        var aggregates = new RecordingAggregateSink { Throw = new IOException("throttled"), Durable = _ => false };
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default);
        byte[] evt = TestEvents.Build([Poison(1, "x"), Good(2, "a", 1), Good(3, "b", 1), Good(4, "a", 1)]);

        var (response, summary) = await Run(processor, evt);

        Assert.Equal([TestEvents.Seq(2)], Failures(response));
        Assert.Equal(TestEvents.Seq(2), summary.ReportedFailure);
    }

    [Fact]
    public async Task Process_SinkMakesSomePairsDurable_ReportsFirstRecordOfFirstFailedPair()
    {
        // Pairs are created in record order: a (records 1, 4), b (2), c (3). Only b fails: the checkpoint is record 2.
        var aggregates = new RecordingAggregateSink { Durable = pair => pair != 1 };
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default);
        byte[] evt = TestEvents.Build([Good(1, "a", 1), Good(2, "b", 1), Good(3, "c", 1), Good(4, "a", 1)]);

        var (response, summary) = await Run(processor, evt);

        Assert.Equal([TestEvents.Seq(2)], Failures(response));
        Assert.Equal(2, summary.AggregatesWritten);
        Assert.Equal(TestEvents.Seq(4), aggregates.Seen.Single(s => s.Metric == "a").LastSequenceNumber);
    }

    [Fact]
    public async Task Process_QuarantineNotDurable_ReportsThatPoisonRecord()
    {
        var quarantine = new RecordingQuarantineSink { DurableCount = 1 };
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default);
        byte[] evt = TestEvents.Build([Good(1, "a", 1), Poison(2, "x"), Good(3, "a", 1), Poison(4, "y"), Good(5, "a", 1)]);

        var (response, _) = await Run(processor, evt);

        Assert.Equal([TestEvents.Seq(4)], Failures(response));
    }

    [Fact]
    public async Task Process_QuarantineSinkThrows_ReportsTheFirstPoisonRecord()
    {
        var quarantine = new RecordingQuarantineSink { Throw = new IOException("bucket gone") };
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default);
        byte[] evt = TestEvents.Build([Good(1, "a", 1), Poison(2, "x"), Poison(3, "y")]);

        var (response, _) = await Run(processor, evt);

        Assert.Equal([TestEvents.Seq(2)], Failures(response));
    }

    [Fact]
    public async Task Process_NotAKinesisEvent_Throws()
    {
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        await Assert.ThrowsAsync<KinesisEventFormatException>(() => Run(processor, TestEvents.Utf8("""{"Records":[{"kinesis":{}}]}""")));
        await Assert.ThrowsAsync<KinesisEventFormatException>(() => Run(processor, TestEvents.Utf8("""{"hello":"world"}""")));
    }

    /// <summary>
    /// On the real clock, so the margin is 4 s of an 8 s budget, not the default's 1 s: the test shares 2 cores with the
    /// other test assembly, and CI once answered 1.8 s past the give-up time (the host's scheduling; the give-up itself is
    /// timed in virtual time in <see cref="BudgetAndSplitTests"/>).
    /// </summary>
    [Fact]
    public async Task Process_DeadSinkHonouringCancellation_ReturnsPartialFailureBeforeTheDeadline()
    {
        var aggregates = new RecordingAggregateSink { DelayHonouringToken = TimeSpan.FromHours(1) };
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default with { MinSafetyMargin = TimeSpan.FromSeconds(4) });
        byte[] evt = TestEvents.Build([Good(1, "a", 1), Good(2, "b", 1)]);
        DateTimeOffset deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(8);

        var output = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(evt, deadline, output);

        Assert.True(DateTimeOffset.UtcNow < deadline, "the pipeline must answer before the deadline");
        Assert.True(summary.RemainingTime > TimeSpan.Zero, $"remaining {summary.RemainingTime}");
        Assert.Equal([TestEvents.Seq(1)], Failures(JsonDocument.Parse(output.WrittenMemory)));
    }

    /// <summary>On the real clock: a 4 s margin of an 8 s budget, as above.</summary>
    [Fact]
    public async Task Process_SinkIgnoringCancellation_StillAnswersBeforeTheDeadline()
    {
        var aggregates = new RecordingAggregateSink { DelayIgnoringToken = TimeSpan.FromSeconds(20) };
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default with { MinSafetyMargin = TimeSpan.FromSeconds(4) });
        byte[] evt = TestEvents.Build([Good(1, "a", 1)]);
        DateTimeOffset deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(8);

        var output = new ArrayBufferWriter<byte>();
        await processor.ProcessAsync(evt, deadline, output);

        Assert.True(DateTimeOffset.UtcNow < deadline, "the pipeline must answer before the deadline");
        Assert.Equal([TestEvents.Seq(1)], Failures(JsonDocument.Parse(output.WrittenMemory)));

        // The abandoned sink call must not share state with the next invocation.
        aggregates.DelayIgnoringToken = TimeSpan.Zero;
        var (next, _) = await Run(processor, TestEvents.Build([Good(7, "z", 1)]));
        Assert.Empty(Failures(next));
    }

    [Fact]
    public async Task Process_DeadlineComesWhileParsing_ReportsFirstUnprocessedRecord()
    {
        // Each clock read moves 100 ms; with a 10 s budget the working time (9 s) ends part-way through the batch.
        var clock = new SteppingTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival), TimeSpan.FromMilliseconds(100));
        var aggregates = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });
        byte[] evt = TestEvents.Build(Enumerable.Range(1, 300).Select(i => Good(i, "m", i)));

        var output = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(evt, clock.GetUtcNow() + TimeSpan.FromSeconds(10), output);

        Assert.True(summary.DeadlineReached);
        Assert.InRange(summary.RecordsProcessed, 1, 299);
        Assert.Equal(300, summary.Records);
        string[] failures = Failures(JsonDocument.Parse(output.WrittenMemory));
        Assert.Equal([TestEvents.Seq(summary.RecordsProcessed + 1)], failures);
        Assert.Equal(summary.RecordsProcessed, aggregates.Seen.Single().Count); // exactly the processed records were aggregated
    }

    [Fact]
    public async Task Process_AggregateSinkThrows_TheErrorReachesSummaryAndLogLineWithoutPayload()
    {
        const string Marker = "SECRET-PAYLOAD-MARKER";
        var aggregates = new RecordingAggregateSink { Throw = new IOException("No space left on device\nsecond line"), Durable = _ => false };
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default);
        byte[] evt = TestEvents.Build([Good(1, "a", 1), Poison(2, "{\"" + Marker + "\"")]);

        var (_, summary) = await Run(processor, evt);

        Assert.Equal(SinkOutcome.Failed, summary.AggregateSinkOutcome);
        Assert.Equal("System.IO.IOException: No space left on device second line", summary.AggregateSinkError);
        Assert.Equal(SinkOutcome.Completed, summary.QuarantineSinkOutcome);
        Assert.Null(summary.QuarantineSinkError);

        var log = new ArrayBufferWriter<byte>();
        JsonLog.WriteInvocation(summary, JsonLogOptions.Default, log);
        string text = Encoding.UTF8.GetString(log.WrittenSpan);
        Assert.DoesNotContain(Marker, text, StringComparison.Ordinal);
        using JsonDocument line = JsonDocument.Parse(text.Split('\n')[0]);
        Assert.Equal("Error", line.RootElement.GetProperty("level").GetString());
        Assert.Equal("Failed", line.RootElement.GetProperty("aggregateSink").GetString());
        Assert.Equal(summary.AggregateSinkError, line.RootElement.GetProperty("aggregateSinkError").GetString());
        Assert.Equal("Completed", line.RootElement.GetProperty("quarantineSink").GetString());
    }

    [Fact]
    public async Task Process_QuarantineSinkThrowsSynchronously_TheErrorIsKept()
    {
        var quarantine = new RecordingQuarantineSink { Throw = new UnauthorizedAccessException("Access Denied") };
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default);

        var (_, summary) = await Run(processor, TestEvents.Build([Poison(1, "x")]));

        Assert.Equal(SinkOutcome.Failed, summary.QuarantineSinkOutcome);
        Assert.Equal("System.UnauthorizedAccessException: Access Denied", summary.QuarantineSinkError);
        Assert.Equal(SinkOutcome.NotCalled, summary.AggregateSinkOutcome);
    }

    [Fact]
    public async Task Process_SinkErrorMessage_IsBoundedToOneShortLine()
    {
        var aggregates = new RecordingAggregateSink { Throw = new InvalidOperationException(new string('x', 5000) + "\r\n\u0000"), Durable = _ => false };
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default);

        var (_, summary) = await Run(processor, TestEvents.Build([Good(1, "a", 1)]));

        Assert.Equal(BatchSummary.MaxErrorLength, summary.AggregateSinkError!.Length);
        Assert.DoesNotContain(summary.AggregateSinkError, char.IsControl);
        Assert.StartsWith("System.InvalidOperationException: xxx", summary.AggregateSinkError, StringComparison.Ordinal);
    }

    /// <summary>
    /// A text of exactly <see cref="BatchSummary.MaxErrorLength"/> characters is kept whole; one character more is cut,
    /// and the cut is marked with an ellipsis in its last place, so a reader knows the message goes on.
    /// </summary>
    [Fact]
    public void SinkError_CutOnlyPastTheLimit_AndTheCutIsMarked()
    {
        const string Prefix = "System.InvalidOperationException: ";
        string fits = new('x', BatchSummary.MaxErrorLength - Prefix.Length);

        Assert.Equal(Prefix + fits, BatchSummary.DescribeError(new InvalidOperationException(fits)));
        Assert.Equal(Prefix + fits[..^1] + "…", BatchSummary.DescribeError(new InvalidOperationException(fits + "y")));
    }

    /// <summary>
    /// A message with text outside the basic plane (an emoji, two UTF-16 units) cut between its two halves must still
    /// be text the log line can encode: no half of a pair is left.
    /// </summary>
    [Fact]
    public void SinkError_CutInsideASurrogatePair_LeavesValidText()
    {
        const string Prefix = "System.InvalidOperationException: ";
        // The emoji's high half at the limit's second-to-last place, its low half in the last, which the ellipsis takes.
        string message = new string('x', BatchSummary.MaxErrorLength - Prefix.Length - 2) + "\U0001F600 and more";

        string described = BatchSummary.DescribeError(new InvalidOperationException(message));

        Assert.Equal(BatchSummary.MaxErrorLength, described.Length);
        Assert.EndsWith("…", described, StringComparison.Ordinal);
        _ = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetBytes(described);
    }

    [Fact]
    public async Task Process_SinkHonouringCancellationPastTheDeadline_IsTimedOutNotFailed()
    {
        var aggregates = new RecordingAggregateSink { DelayHonouringToken = TimeSpan.FromHours(1) };
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default);

        var (_, summary) = await Run(processor, TestEvents.Build([Good(1, "a", 1)]), TimeSpan.FromSeconds(2.2));

        Assert.Equal(SinkOutcome.TimedOut, summary.AggregateSinkOutcome);
        Assert.Null(summary.AggregateSinkError);
        Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
    }

    [Fact]
    public async Task Process_SinkOwnCancellationBeforeTheDeadline_IsAFailure()
    {
        // An HTTP client's own time-out throws TaskCanceledException long before our deadline: a failure with its cause.
        var aggregates = new RecordingAggregateSink { Throw = new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout"), Durable = _ => false };
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default);

        var (_, summary) = await Run(processor, TestEvents.Build([Good(1, "a", 1)]));

        Assert.Equal(SinkOutcome.Failed, summary.AggregateSinkOutcome);
        Assert.StartsWith("System.Threading.Tasks.TaskCanceledException: The request was canceled", summary.AggregateSinkError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_Aggregates_MatchAnIndependentComputation()
    {
        var random = new Random(7);
        var records = new List<TestRecord>();
        var expected = new Dictionary<(string, string), List<double>>();
        for (int i = 0; i < 200; i++)
        {
            var lines = new List<string>();
            for (int s = 0; s < 1 + (i % 3); s++)
            {
                string metric = "m" + random.Next(5);
                string host = "h" + random.Next(3);
                double value = Math.Round(random.NextDouble() * 100, 3);
                long ts = TestEvents.Arrival - random.Next(0, 180_000);
                lines.Add(TestEvents.Sample(metric, value, ts, ("host", host)));
                long window = ts / 60_000 * 60_000;
                (string, string) key = (metric + "|host=" + host, window.ToString(System.Globalization.CultureInfo.InvariantCulture));
                expected.TryAdd(key, []);
                expected[key].Add(value);
            }

            records.Add(new TestRecord(TestEvents.Seq(i), TestEvents.Utf8(string.Join("\n", lines)), TestEvents.Arrival));
        }

        var aggregates = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default);
        await Run(processor, TestEvents.Build(records));

        Assert.Equal(expected.Count, aggregates.Seen.Count);
        foreach (SeenAggregate seen in aggregates.Seen)
        {
            List<double> values = expected[(seen.Metric + "|" + seen.Dimensions, seen.WindowStartMs.ToString(System.Globalization.CultureInfo.InvariantCulture))];
            Assert.Equal(values.Count, seen.Count);
            Assert.Equal(values.Min(), seen.Min);
            Assert.Equal(values.Max(), seen.Max);
            Assert.Equal(values.Sum(), seen.Sum, 6);
        }
    }

    [Fact]
    public async Task Process_Stream_GivesTheSameResultAsBytes()
    {
        byte[] evt = TestEvents.Build([Good(1, "a", 1), Poison(2, "x"), Good(3, "a", 2)]);
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        var fromBytes = new ArrayBufferWriter<byte>();
        var fromStream = new ArrayBufferWriter<byte>();
        await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), fromBytes);
        await processor.ProcessAsync(new MemoryStream(evt), DateTimeOffset.UtcNow.AddSeconds(30), fromStream);
        Assert.Equal(fromBytes.WrittenSpan.ToArray(), fromStream.WrittenSpan.ToArray());
    }
}

public class KplPipelineTests
{
    [Fact]
    public async Task Process_CorruptContainer_IsPoisonAsAWhole()
    {
        byte[] container = KplTestEncoder.Aggregate([new KplTestUserRecord("k", null, TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), [])]);
        container[^1] ^= 0xFF; // break the MD5
        var quarantine = new RecordingQuarantineSink();
        var aggregates = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default);

        await processor.ProcessAsync(TestEvents.Build([new TestRecord(TestEvents.Seq(1), container, TestEvents.Arrival)]), DateTimeOffset.UtcNow.AddSeconds(30), new System.Buffers.ArrayBufferWriter<byte>());

        QuarantinedRecord q = Assert.Single(quarantine.Records);
        Assert.Equal(PoisonReason.AggregateChecksumMismatch, q.Reason);
        Assert.Null(q.SubSequenceNumber);
        Assert.Equal(Convert.ToBase64String(container), q.Data);
        Assert.Empty(aggregates.Seen);
    }

    /// <summary>
    /// Two containers, each with one valid and one poison user record of its own reason: each container is one entry,
    /// and each reason is counted once, the first container's not again for the second (a mutation run's survivor:
    /// the list of a container's reasons kept from one container to the next went unseen).
    /// </summary>
    [Fact]
    public async Task Process_ContainersWithPoisonUserRecords_CountEachReasonOnce()
    {
        KplTestUserRecord Valid(double value) => new("k", null, TestEvents.Utf8(TestEvents.Sample("m", value, TestEvents.Arrival - 1000)), []);
        byte[] first = KplTestEncoder.Aggregate([Valid(1), new KplTestUserRecord("k", null, TestEvents.Utf8("{not json"), [])]);
        byte[] second = KplTestEncoder.Aggregate([Valid(2), new KplTestUserRecord("k", null, [], [])]);
        var quarantine = new RecordingQuarantineSink();
        var aggregates = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default);

        BatchSummary summary = await processor.ProcessAsync(
            TestEvents.Build([new TestRecord(TestEvents.Seq(1), first, TestEvents.Arrival), new TestRecord(TestEvents.Seq(2), second, TestEvents.Arrival)]),
            DateTimeOffset.UtcNow.AddSeconds(30),
            new System.Buffers.ArrayBufferWriter<byte>());

        Assert.Equal([PoisonReason.InvalidJson, PoisonReason.EmptyData], quarantine.Records.Select(q => q.Reason));
        Assert.Equal(
            (1, 1),
            (summary.GetPoisonCount(PoisonReason.InvalidJson), summary.GetPoisonCount(PoisonReason.EmptyData)));
        Assert.Equal((2L, 3.0), (Assert.Single(aggregates.Seen).Count, aggregates.Seen[0].Sum));
    }

    [Fact]
    public async Task Process_ContainerWithNoUserRecord_IsQuarantinedAsEmpty_NotPassedOverWithoutATrace()
    {
        // Magic, an empty protobuf message and its MD5: well formed, nothing in it. A plain record without a sample is
        // EmptyData; this one was counted nowhere, quarantined nowhere and logged nowhere.
        byte[] container = KplTestEncoder.Aggregate([]);
        Assert.True(KplAggregate.TryRead(container, out KplRecordReader reader, out _, out _));
        Assert.Equal(0, reader.Count);
        byte[] valid = TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000));
        var quarantine = new RecordingQuarantineSink();
        var aggregates = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default);

        var output = new System.Buffers.ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(
            TestEvents.Build([new TestRecord(TestEvents.Seq(1), container, TestEvents.Arrival), new TestRecord(TestEvents.Seq(2), valid, TestEvents.Arrival)]),
            DateTimeOffset.UtcNow.AddSeconds(30),
            output);

        QuarantinedRecord q = Assert.Single(quarantine.Records);
        Assert.Equal(PoisonReason.EmptyData, q.Reason);
        Assert.Equal(TestEvents.Seq(1), q.SequenceNumber);
        Assert.Equal(Convert.ToBase64String(container), q.Data);
        Assert.Equal((1, 1), (summary.PoisonRecords, summary.GetPoisonCount(PoisonReason.EmptyData)));
        Assert.Equal((1L, 1.0), (Assert.Single(aggregates.Seen).Count, aggregates.Seen[0].Sum));
        Assert.Equal(PoisonReason.EmptyData, new RecordValidator().ValidateData(container, TestEvents.Arrival).Reason);
    }
}

/// <summary>
/// KPL containers against the record limits (found by review): <c>MaxRecordBytes</c> (256 KiB, a limit for one JSON
/// record) held the whole container, so a container of valid user records that an aggregator filled past it was
/// quarantined whole as TooLarge; and a container that started its batch and passed <c>MaxPairs</c> got the user record
/// that passed the cap quarantined as "the record alone holds more than the cap", which it did not, while the rest of
/// the container was aggregated: a verdict that hung on the user records' order.
/// </summary>
public class KplLimitsTests
{
    private static readonly DateTimeOffset s_deadline = DateTimeOffset.UtcNow.AddMinutes(5);

    private static KplTestUserRecord User(string key, string data) => new(key, null, TestEvents.Utf8(data), []);

    private static async Task<(BatchSummary Summary, string Response)> RunAsync(KinesisBatchProcessor processor, params TestRecord[] records)
    {
        var output = new System.Buffers.ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build(records), s_deadline, output);
        return (summary, Encoding.UTF8.GetString(output.WrittenSpan));
    }

    [Fact]
    public async Task AContainerPastMaxRecordBytes_OfValidUserRecords_IsAggregated_EachUserRecordHeldToTheLimit()
    {
        // 6,000 user records of about 56 bytes: a 330 KB container, over the default 256 KiB.
        var users = Enumerable.Range(0, 6000).Select(i => User("k" + (i % 10), TestEvents.Sample("m", i % 7, TestEvents.Arrival - 1000))).ToList();
        users.Add(User("big", TestEvents.Sample("m", 1, TestEvents.Arrival - 1000, ("pad", new string('x', 300 * 1024)))));
        byte[] container = KplTestEncoder.Aggregate(users);
        Assert.True(container.Length > 600 * 1024);
        var quarantine = new RecordingQuarantineSink();
        var aggregates = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default);

        (BatchSummary summary, string response) = await RunAsync(processor, new TestRecord(TestEvents.Seq(1), container, TestEvents.Arrival));

        Assert.Equal((6000, 1), (summary.ValidRecords, summary.PoisonRecords));
        Assert.Equal("""{"batchItemFailures":[]}""", response);
        QuarantinedRecord q = Assert.Single(quarantine.Records);
        Assert.Equal((PoisonReason.TooLarge, 6000), (q.Reason, q.SubSequenceNumber));
        SeenAggregate m = Assert.Single(aggregates.Seen);
        Assert.Equal((6000L, (double)Enumerable.Range(0, 6000).Sum(i => i % 7)), (m.Count, m.Sum));
    }

    [Fact]
    public async Task APlainRecordPastMaxRecordBytes_IsStillTooLarge_NamingItsSizeAndTheLimit()
    {
        byte[] data = TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000, ("pad", new string('x', 300 * 1024))));
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default);

        await RunAsync(processor, new TestRecord(TestEvents.Seq(1), data, TestEvents.Arrival));

        QuarantinedRecord q = Assert.Single(quarantine.Records);
        Assert.Equal(PoisonReason.TooLarge, q.Reason);
        Assert.Equal($"the record holds {data.Length} bytes, more than the limit of {256 * 1024}", q.Detail);
        Assert.Equal(PoisonReason.TooLarge, new RecordValidator().ValidateData(data, TestEvents.Arrival).Reason);
    }

    [Fact]
    public async Task AContainerAlonePastMaxPairs_IsQuarantinedWhole_WithAReasonThatIsTrue_AndTheBatchBeforeItIsWritten()
    {
        byte[] container = KplTestEncoder.Aggregate([User("a", TestEvents.Sample("m1", 1, TestEvents.Arrival - 1000)), User("a", TestEvents.Sample("m2", 2, TestEvents.Arrival - 1000)), User("a", TestEvents.Sample("m3", 3, TestEvents.Arrival - 1000))]);
        var quarantine = new RecordingQuarantineSink();
        var aggregates = new RecordingAggregateSink();
        var options = ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { MaxPairs = 2 } };
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, options);

        // After a plain record the container is split away whole; Lambda re-delivers it alone.
        (BatchSummary first, string firstResponse) = await RunAsync(
            processor,
            new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("m0", 5, TestEvents.Arrival - 1000)), TestEvents.Arrival),
            new TestRecord(TestEvents.Seq(2), container, TestEvents.Arrival));
        (BatchSummary alone, string aloneResponse) = await RunAsync(processor, new TestRecord(TestEvents.Seq(2), container, TestEvents.Arrival));

        Assert.Equal(BatchStopReason.PairCap, first.StopReason);
        Assert.Contains(TestEvents.Seq(2), firstResponse, StringComparison.Ordinal);
        Assert.Equal(("m0", 5.0), (Assert.Single(aggregates.Seen).Metric, aggregates.Seen[0].Sum));
        QuarantinedRecord q = Assert.Single(quarantine.Records);
        Assert.Equal((PoisonReason.CardinalityLimit, (int?)null), (q.Reason, q.SubSequenceNumber));
        Assert.Equal(Convert.ToBase64String(container), q.Data);
        Assert.Equal("the aggregated record alone holds more than the cap of 2 (series, window) pairs, its user records together", q.Detail);
        Assert.Equal((0, 1), (alone.ValidRecords, alone.PoisonRecords));
        Assert.Equal("""{"batchItemFailures":[]}""", aloneResponse);
        Assert.Single(aggregates.Seen);
    }
}

public class PoisonAmplificationTests
{
    private static KplTestUserRecord User(string data) => new("k", null, TestEvents.Utf8(data), []);

    [Fact]
    public async Task Process_ContainerOfManyPoisonUserRecords_OneQuarantineEntryAndOneCallback()
    {
        // 5,000 tiny poison user records and two valid ones in one KPL container.
        var users = new List<KplTestUserRecord> { User(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)) };
        users.AddRange(Enumerable.Range(0, 5000).Select(_ => User("x")));
        users.Add(User(TestEvents.Sample("m", 2, TestEvents.Arrival - 1000)));
        byte[] container = KplTestEncoder.Aggregate(users);
        var quarantine = new RecordingQuarantineSink();
        var aggregates = new RecordingAggregateSink();
        var seen = new List<QuarantinedRecord>();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default with { OnPoison = seen.Add });

        var output = new System.Buffers.ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([new TestRecord(TestEvents.Seq(1), container, TestEvents.Arrival)]), DateTimeOffset.UtcNow.AddSeconds(30), output);

        QuarantinedRecord q = Assert.Single(quarantine.Records);
        Assert.Same(q, Assert.Single(seen));
        Assert.Equal(Enumerable.Range(1, 5000), q.PoisonSubSequenceNumbers!);
        Assert.Equal(1, q.SubSequenceNumber);
        Assert.Equal(PoisonReason.InvalidJson, q.Reason);
        Assert.Equal(Convert.ToBase64String(container), q.Data);
        Assert.StartsWith("5000 user records of the container are poison; the first, 1: ", q.Detail, StringComparison.Ordinal);
        Assert.Equal(5000, summary.PoisonRecords);
        Assert.Equal(5000, summary.GetPoisonCount(PoisonReason.InvalidJson));
        Assert.Equal(1, summary.Quarantined);
        SeenAggregate m = Assert.Single(aggregates.Seen);
        Assert.Equal((2L, 3.0), (m.Count, m.Sum));
    }

    [Fact]
    public async Task Process_ContainerWithOnePoisonUserRecord_KeepsThatUserRecordsOwnData()
    {
        byte[] bad = TestEvents.Utf8("{\"metric\":");
        byte[] container = KplTestEncoder.Aggregate([User(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), new KplTestUserRecord("k2", null, bad, [])]);
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default);

        await processor.ProcessAsync(TestEvents.Build([new TestRecord(TestEvents.Seq(1), container, TestEvents.Arrival)]), DateTimeOffset.UtcNow.AddSeconds(30), new System.Buffers.ArrayBufferWriter<byte>());

        QuarantinedRecord q = Assert.Single(quarantine.Records);
        Assert.Equal(1, q.SubSequenceNumber);
        Assert.Equal([1], q.PoisonSubSequenceNumbers!);
        Assert.Equal(Convert.ToBase64String(bad), q.Data);
        Assert.Equal("k2", q.PartitionKey);
    }

    [Fact]
    public async Task Process_PoisonFlood_LogLinesBoundedWithACountOfTheRest()
    {
        var log = new System.Buffers.ArrayBufferWriter<byte>();
        var quarantine = new RecordingQuarantineSink();
        var options = ProcessorOptions.Default with { OnPoison = r => JsonLog.WritePoison(r, JsonLogOptions.Default, log) };
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, options);
        byte[] evt = TestEvents.Build(Enumerable.Range(1, 500).Select(i => new TestRecord(TestEvents.Seq(i), TestEvents.Utf8("x"), TestEvents.Arrival)));

        BatchSummary summary = await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), new System.Buffers.ArrayBufferWriter<byte>());
        int poisonLines = Encoding.UTF8.GetString(log.WrittenSpan).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        JsonLog.WriteInvocation(summary, JsonLogOptions.Default, log);
        string invocation = Encoding.UTF8.GetString(log.WrittenSpan).Split('\n', StringSplitOptions.RemoveEmptyEntries)[poisonLines];

        Assert.Equal(ProcessorOptions.Default.MaxPoisonCallbacks, poisonLines);
        Assert.Equal(500 - poisonLines, summary.PoisonCallbacksSkipped);
        Assert.Equal(500, quarantine.Records.Count);
        using JsonDocument line = JsonDocument.Parse(invocation);
        Assert.Equal(400, line.RootElement.GetProperty("poisonLinesOmitted").GetInt32());

        // The bound is per invocation.
        log.ResetWrittenCount();
        await processor.ProcessAsync(TestEvents.Build([new TestRecord(TestEvents.Seq(9), TestEvents.Utf8("x"), TestEvents.Arrival)]), DateTimeOffset.UtcNow.AddSeconds(30), new System.Buffers.ArrayBufferWriter<byte>());
        Assert.Single(Encoding.UTF8.GetString(log.WrittenSpan).Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task JsonLinesQuarantineSink_GroupedContainer_WritesOneLineWithEveryPoisonIndex()
    {
        string path = Path.Combine(Path.GetTempPath(), "analytics-q-" + Guid.NewGuid().ToString("N") + ".jsonl");
        try
        {
            var record = new QuarantinedRecord
            {
                ShardId = TestEvents.ShardId,
                SequenceNumber = TestEvents.Seq(1),
                SubSequenceNumber = 2,
                PoisonSubSequenceNumbers = [2, 5, 9],
                PartitionKey = "k",
                Reason = PoisonReason.InvalidJson,
                Detail = "3 user records of the container are poison",
                Data = "AAAA",
            };
            await new JsonLinesQuarantineSink(path).WriteAsync([record], CancellationToken.None);

            using JsonDocument line = JsonDocument.Parse(Assert.Single(File.ReadAllLines(path)));
            Assert.Equal([2, 5, 9], line.RootElement.GetProperty("poisonSubSequenceNumbers").EnumerateArray().Select(e => e.GetInt32()));
            Assert.Equal(2, line.RootElement.GetProperty("subSequenceNumber").GetInt32());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
