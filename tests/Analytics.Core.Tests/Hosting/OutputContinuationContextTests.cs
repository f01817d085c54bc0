using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests.Hosting;

/// <summary>
/// The function's writes to <see cref="KinesisFunctionOptions.Output"/> never resume on the caller's synchronization
/// context, as the processor's steps do not (<see cref="SinkContinuationContextTests"/>): a host that blocks on the
/// invocation's task on a thread with a context of its own would deadlock. The sinks return at once, so the invocation
/// reaches its output on the caller's thread; one write of the output (the log lines' or the metrics') stays pending,
/// and completing it from a thread without a context must finish the invocation right there, with nothing posted.
/// </summary>
public sealed class OutputContinuationContextTests
{
    /// <summary>An output whose <c>pending</c>th write (1-based) waits for the test; the others complete at once.</summary>
    private sealed class PendingWriteOutput(int pending) : MemoryStream
    {
        private int _writes;

        public TaskCompletionSource? Pending { get; private set; }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            base.Write(buffer.Span);
            if (++_writes != pending)
            {
                return ValueTask.CompletedTask;
            }

            Pending = new TaskCompletionSource();
            return new ValueTask(Pending.Task);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public int Writes => _writes;
    }

    /// <summary>The first write is the invocation's log lines, the second its metrics (EMF) line.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task APendingWriteOfTheOutput_TheInvocationEndsWhereTheWriteEnded(int pendingWrite)
    {
        var output = new PendingWriteOutput(pendingWrite);
        var aggregates = new RecordingAggregateSink();
        using var function = new KinesisFunction(aggregates, new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = output });
        byte[] evt = TestEvents.Build([new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival)]);
        var context = new QueueingSynchronizationContext();

        using var noContext = new NoSynchronizationContext();
        Task<Stream> run = UnderContext.Start(context, () => function.HandleAsync(new MemoryStream(evt), TimeSpan.FromSeconds(30)));

        Assert.False(run.IsCompleted);
        Assert.Equal(pendingWrite, output.Writes);
        output.Pending!.SetResult();
        int posted = context.Pump();

        Assert.Equal(0, posted);
        Assert.True(run.IsCompleted);
        Assert.Equal("""{"batchItemFailures":[]}""", new StreamReader(await run).ReadToEnd());
        Assert.Equal(2, output.Writes);
        Assert.Single(aggregates.Seen);
    }
}
