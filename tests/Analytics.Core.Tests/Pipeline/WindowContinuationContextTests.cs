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
    private static Task<BatchSummary> StartUnder(SynchronizationContext context, KinesisBatchProcessor processor, TimeProvider time, byte[] evt)
    {
        SynchronizationContext.SetSynchronizationContext(context);
        try
        {
            return processor.ProcessAsync(evt, time.GetUtcNow().AddSeconds(30), new ArrayBufferWriter<byte>());
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(null);
        }
    }

    [Fact]
    public async Task PendingQuarantine_ResumesWhereItEnded()
    {
        using var noContext = new NoSynchronizationContext();
        var time = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        var quarantine = new PendingQuarantineSink();
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default with { TimeProvider = time });
        var context = new QueueingSynchronizationContext();
        byte[] evt = TestEvents.BuildWindow([new TestRecord(TestEvents.Seq(1), "{broken"u8.ToArray(), TestEvents.Arrival)], "{}");

        Task<BatchSummary> run = StartUnder(context, processor, time, evt);
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

        Task<BatchSummary> run = StartUnder(context, processor, time, evt);
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
}
