using System.Buffers;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// A tumbling-window invocation never resumes on the caller's synchronization context (as the spill path,
/// <see cref="SpillContinuationContextTests"/>): the quarantine or the window's flush is left pending, the invocation
/// is started on a thread whose context only queues what is posted to it, and completing the sink's task from a
/// thread without one must finish the invocation right there, with nothing posted.
/// </summary>
public class WindowContinuationContextTests
{
    [Fact]
    public async Task PendingQuarantine_ResumesWhereItEnded()
    {
        using var noContext = new NoSynchronizationContext();
        var time = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        var quarantine = new PendingQuarantineSink();
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default with { TimeProvider = time });
        var context = new QueueingSynchronizationContext();
        byte[] evt = TestEvents.BuildWindow([new TestRecord(TestEvents.Seq(1), "{broken"u8.ToArray(), TestEvents.Arrival)], "{}");

        Task<BatchSummary> run = UnderContext.Process(context, processor, time, evt);
        Assert.False(run.IsCompleted);
        quarantine.Pending!.SetResult(1);
        int posted = context.Pump();

        Assert.Equal(0, posted);
        Assert.True(run.IsCompleted);
        Assert.Equal(1, (await run).Quarantined);
    }

    [Fact]
    public async Task PendingFlush_ResumesWhereItEnded()
    {
        using var noContext = new NoSynchronizationContext();
        var time = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        var sink = new PendingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = time });
        var context = new QueueingSynchronizationContext();
        byte[] evt = TestEvents.BuildWindow([.. SpillEvents.Records(1, 2)], "{}", final: true);

        Task<BatchSummary> run = UnderContext.Process(context, processor, time, evt);
        Assert.False(run.IsCompleted);
        sink.Batch!.MarkAllDurable();
        sink.Pending!.SetResult();
        int posted = context.Pump();

        Assert.Equal(0, posted);
        Assert.True(run.IsCompleted);
        BatchSummary summary = await run;
        Assert.True(summary.Flushed);
        Assert.Equal(1, summary.AggregatesWritten);
    }

    /// <summary>The state of records 5 and 6 as a window of the default options answers it.</summary>
    private static async Task<string> StateOfRecords5And6()
    {
        using var opener = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        return (await TestEvents.RunAsync(opener, TestEvents.BuildWindow([TestEvents.HostRecord(5, "a", 5), TestEvents.HostRecord(6, "a", 6)], "{}"))).GetProperty("state").GetRawText();
    }

    public static TheoryData<string> Refusals => ["broken", "rangeAfterTheBatch", "rangeAfterTheBatchOfOtherOptions", "flushOfOtherOptionsNotDurable"];

    /// <summary>
    /// A window invocation that fails (a state refused, or an old state's flush not durable) first waits for the
    /// quarantine sink still writing the batch's poison records; that wait too ends where the sink's task completed.
    /// </summary>
    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task FailureAfterAPendingQuarantine_ResumesWhereItEnded(string refusal)
    {
        using var noContext = new NoSynchronizationContext();
        var time = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        string state = refusal == "broken" ? $$"""{"{{ProcessorOptions.Default.StateKey}}":42}""" : await StateOfRecords5And6();
        ProcessorOptions options = ProcessorOptions.Default with { TimeProvider = time };
        if (refusal is "rangeAfterTheBatchOfOtherOptions" or "flushOfOtherOptionsNotDurable")
        {
            options = options with { Aggregator = WindowHardeningTests.Changed(AggregatorOptions.Default, "window") };
        }

        var quarantine = new PendingQuarantineSink();
        var sink = new RecordingAggregateSink { Durable = _ => false };
        using var processor = new KinesisBatchProcessor(sink, quarantine, options);
        TestRecord poison = new(TestEvents.Seq(refusal == "flushOfOtherOptionsNotDurable" ? 8 : 2), "{broken"u8.ToArray(), TestEvents.Arrival);
        TestRecord[] records = refusal == "flushOfOtherOptionsNotDurable"
            ? [TestEvents.HostRecord(7, "a", 7), poison]
            : [TestEvents.HostRecord(1, "a", 1), poison, TestEvents.HostRecord(7, "a", 7)];
        var context = new QueueingSynchronizationContext();

        Task<BatchSummary> run = UnderContext.Process(context, processor, time, TestEvents.BuildWindow(records, state, final: true));
        Assert.False(run.IsCompleted);
        quarantine.Pending!.SetResult(1);
        int posted = context.Pump();

        Assert.Equal(0, posted);
        Assert.True(run.IsCompleted);
        Exception e = await Assert.ThrowsAnyAsync<Exception>(() => run);
        Assert.IsType(refusal == "flushOfOtherOptionsNotDurable" ? typeof(BatchFailedException) : typeof(WindowStateFormatException), e);
    }

    /// <summary>The flush of a state written under other aggregator options, left pending, resumes where it ended too.</summary>
    [Fact]
    public async Task PendingFlushOfAStateOfOtherOptions_ResumesWhereItEnded()
    {
        using var noContext = new NoSynchronizationContext();
        var time = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        string state = await StateOfRecords5And6();
        var sink = new PendingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with
        {
            TimeProvider = time,
            Aggregator = WindowHardeningTests.Changed(AggregatorOptions.Default, "window"),
        });
        var context = new QueueingSynchronizationContext();

        Task<BatchSummary> run = UnderContext.Process(context, processor, time, TestEvents.BuildWindow([TestEvents.HostRecord(7, "a", 7)], state, final: true));
        int posted = 0;
        for (int flush = 0; flush < 2; flush++)
        {
            // The old state's flush, then the window's own.
            Assert.False(run.IsCompleted);
            sink.Batch!.MarkAllDurable();
            sink.Pending!.SetResult();
            posted += context.Pump();
        }

        Assert.Equal(0, posted);
        Assert.True(run.IsCompleted);
        BatchSummary summary = await run;
        Assert.Equal(2, summary.AggregatesWritten);
    }
}
