using System.Buffers;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// The spill path never resumes on the caller's synchronization context: a caller with one (a UI's, a test
/// framework's, a host that blocks on the task) must not deadlock or have its context pick up the invocation, and
/// under a virtual clock every step must run on the thread that completed the wait (docs/failure-modes.md). Each case
/// leaves one step of the spill path pending, starts the invocation on a thread whose context only queues what is
/// posted to it (<see cref="QueueingSynchronizationContext"/>), then completes the step: the invocation must finish right there, with nothing posted.
/// </summary>
public class SpillContinuationContextTests
{
    /// <summary>Which step of the spill path the sinks leave pending.</summary>
    public enum PendingStep
    {
        /// <summary>The removal of an unconfirmed spill.</summary>
        Removal,

        /// <summary>The aggregate sink's write, within its share.</summary>
        AggregateWrite,

        /// <summary>The spill's write.</summary>
        SpillWrite,
    }

    /// <summary>Marks nothing durable; returns at once, or a task the test completes.</summary>
    private sealed class PendingAggregateSink(bool pend) : IAggregateSink
    {
        public TaskCompletionSource? Pending { get; private set; }

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            if (!pend)
            {
                return Task.CompletedTask;
            }

            Pending = new TaskCompletionSource();
            return Pending.Task;
        }
    }

    [Theory]
    [InlineData(PendingStep.Removal)]
    [InlineData(PendingStep.AggregateWrite)]
    [InlineData(PendingStep.SpillWrite)]
    public async Task SpillPath_ResumesWhereTheWaitEnded_NeverOnTheCallersContext(PendingStep step)
    {
        var time = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival + 600_000));
        var spill = new TestSpillSink
        {
            Remove = step == PendingStep.Removal ? SpillCall.Pending : SpillCall.Result,
            Write = step == PendingStep.SpillWrite ? SpillCall.Pending : SpillCall.Result,
        };
        var aggregates = new PendingAggregateSink(pend: step != PendingStep.SpillWrite);
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = time, SpillSink = spill });
        byte[] evt = SpillEvents.Build(SpillEvents.Records(1, 3), TestEvents.ShardId);
        var context = new QueueingSynchronizationContext();

        // The steps are completed from a thread without a context (as a sink's I/O completes), where a continuation
        // that does not want the caller's context runs inline.
        using var noContext = new NoSynchronizationContext();
        Task<BatchSummary> run = UnderContext.Process(context, processor, time, evt);

        Assert.False(run.IsCompleted);
        int posted = 0;
        if (step == PendingStep.Removal)
        {
            spill.Pending!.SetResult(true);
            posted += context.Pump();
        }

        if (step != PendingStep.SpillWrite)
        {
            aggregates.Pending!.SetResult(); // nothing durable
            posted += context.Pump();
        }
        else
        {
            Assert.Null(aggregates.Pending);
            spill.Pending!.SetResult(true);
            posted += context.Pump();
        }

        Assert.Equal(0, posted);
        Assert.True(run.IsCompleted);
        BatchSummary summary = await run;
        Assert.Equal(SinkOutcome.Completed, summary.SpillOutcome);
        Assert.Null(summary.ReportedFailure);
    }

    /// <summary>
    /// The same for a young batch of a processor that counts failed invocations: it is no spill candidate here, but an
    /// attempt in another environment may have spilled it, so its unconfirmed spill is removed before the table is
    /// written (<c>WriteAggregatesAfterRemovingSpillAsync</c>, or, for a batch 10 s from the default spill age of 5
    /// minutes, which reaches it within the sink's share, <c>WriteAggregatesUntilSpillAgeAsync</c>); both waits end where
    /// their task completed. The sink returns with nothing durable before the spill age: the batch is reported.
    /// </summary>
    [Theory]
    [InlineData(PendingStep.Removal, false)]
    [InlineData(PendingStep.AggregateWrite, false)]
    [InlineData(PendingStep.Removal, true)]
    [InlineData(PendingStep.AggregateWrite, true)]
    public async Task YoungBatchThatMayHaveSpilledElsewhere_ResumesWhereTheWaitEnded(PendingStep step, bool reachesTheSpillAgeWithinTheShare)
    {
        DateTimeOffset arrival = DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival);
        var time = new ManualTimeProvider(reachesTheSpillAgeWithinTheShare ? arrival + ProcessorOptions.Default.SpillAfterAge - TimeSpan.FromSeconds(10) : arrival + TimeSpan.FromSeconds(1));
        var spill = new TestSpillSink { Remove = step == PendingStep.Removal ? SpillCall.Pending : SpillCall.Result };
        var aggregates = new PendingAggregateSink(pend: step == PendingStep.AggregateWrite);
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = time, SpillSink = spill, SpillAfterFailedInvocations = 3 });
        byte[] evt = SpillEvents.Build(SpillEvents.Records(1, 3), TestEvents.ShardId);
        var context = new QueueingSynchronizationContext();

        using var noContext = new NoSynchronizationContext();
        Task<BatchSummary> run = UnderContext.Process(context, processor, time, evt);

        Assert.False(run.IsCompleted);
        (step == PendingStep.Removal ? spill.Pending! : null)?.SetResult(true);
        aggregates.Pending?.SetResult(); // nothing durable
        int posted = context.Pump();

        Assert.Equal(0, posted);
        Assert.True(run.IsCompleted);
        BatchSummary summary = await run;
        Assert.Equal([TestEvents.Seq(1)], spill.Removals);
        Assert.Equal((SinkOutcome.NotCalled, TestEvents.Seq(1)), (summary.SpillOutcome, summary.ReportedFailure));
    }
}
