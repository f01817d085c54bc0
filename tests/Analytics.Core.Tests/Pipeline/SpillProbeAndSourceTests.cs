using System.Buffers;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// Fast, in-memory checks of what the spill tests against the local servers also show: the event source ARN reaches the
/// summary and the quarantine, an old batch without a spill sink is written as usual, and a shard that spilled last time
/// gives the aggregate sink only a short probe (one second, within the usual share).
/// </summary>
public class SpillProbeAndSourceTests
{
    private static readonly DateTimeOffset s_now = DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival) + TimeSpan.FromMinutes(10);

    private static TestRecord Good(int n, string metric) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample(metric, n, TestEvents.Arrival - 1000)), TestEvents.Arrival);

    private sealed class AcceptingSpillSink : ISpillSink
    {
        public List<SpillBatch> Spills { get; } = [];

        public Task<bool> WriteAsync(SpillBatch spill, CancellationToken cancellationToken)
        {
            Spills.Add(spill);
            return Task.FromResult(true);
        }

        public Task<bool> RemoveUnconfirmedAsync(string shardId, string? eventSourceArn, string spillId, CancellationToken cancellationToken) => Task.FromResult(true);
    }

    /// <summary>Fails at once, or (<see cref="Wait"/>) waits for its token and notes when it fired.</summary>
    private sealed class OutageSink(ManualTimeProvider clock) : IAggregateSink
    {
        public bool Wait { get; set; }

        public TimeSpan? CancelledAt { get; private set; }

        /// <summary>Completes when a waiting write starts: the processor's budget timer is running by then.</summary>
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            if (!Wait)
            {
                throw new IOException("the store is down");
            }

            Started.TrySetResult();
            var done = new TaskCompletionSource();
            cancellationToken.Register(() =>
            {
                CancelledAt = clock.Elapsed;
                done.TrySetCanceled(cancellationToken);
            });
            return done.Task;
        }
    }

    [Fact]
    public async Task EventSourceArn_OfTheRecords_ReachesTheSummaryAndTheQuarantineEntry()
    {
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default);
        var poison = new TestRecord(TestEvents.Seq(2), TestEvents.Utf8("{bad"), TestEvents.Arrival);

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Good(1, "a"), poison]), DateTimeOffset.UtcNow.AddMinutes(1), new ArrayBufferWriter<byte>());

        Assert.Equal(TestEvents.StreamArn, summary.EventSourceArn);
        Assert.Equal(TestEvents.StreamArn, Assert.Single(quarantine.Records).EventSourceArn);
    }

    [Fact]
    public async Task OldBatch_WithoutASpillSink_IsWrittenToTheAggregateSinkAsAnyOther()
    {
        var clock = new ManualTimeProvider(s_now);
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Good(1, "a")]), clock.GetUtcNow().AddMinutes(1), new ArrayBufferWriter<byte>());

        Assert.True(summary.OldestRecordAge > ProcessorOptions.Default.SpillAfterAge, "the batch must be older than the spill age");
        Assert.Equal(1, sink.Calls);
        Assert.Equal(1, summary.AggregatesWritten);
        Assert.Null(summary.ReportedFailure);
        Assert.Null(summary.AggregateSinkIssue);
    }

    [Fact]
    public async Task ShardThatSpilledLastTime_ProbesForOneSecond_OnceTheIntervalHasPassed()
    {
        var clock = new ManualTimeProvider(s_now);
        var sink = new OutageSink(clock);
        var spill = new AcceptingSpillSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock, SpillSink = spill });

        BatchSummary first = await processor.ProcessAsync(TestEvents.Build([Good(1, "a")]), clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>());
        Assert.Equal(SinkOutcome.Completed, first.SpillOutcome);
        Assert.Single(spill.Spills);

        // 100 s budget: 90 s of working time, all of it left when the sinks start. The usual share would be two thirds
        // (60 s); while spilling it is one second, once the probe interval (5 s) since the spill has passed.
        clock.Advance(TimeSpan.FromSeconds(5));
        sink.Wait = true;
        TimeSpan start = clock.Elapsed;
        Task<BatchSummary> run = processor.ProcessAsync(TestEvents.Build([Good(2, "b")]), clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>());

        // Advance only once the sink is waiting: advanced earlier (the processor's work can leave this thread on a loaded
        // machine), the clock passes the budget before its timer exists, and the cancellation comes 30 s late.
        await sink.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        clock.Advance(TimeSpan.FromSeconds(30));
        BatchSummary second = await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(start + TimeSpan.FromSeconds(1), sink.CancelledAt);
        Assert.Equal(SinkOutcome.TimedOut, second.AggregateSinkOutcome);
        Assert.Equal(SinkOutcome.Completed, second.SpillOutcome);
        Assert.Equal(2, spill.Spills.Count);
    }
}
