using System.Buffers;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// An ordinary invocation (not a window, not a spill) never resumes on the caller's synchronization context, as the
/// window and spill paths (<see cref="WindowContinuationContextTests"/>, <see cref="SpillContinuationContextTests"/>):
/// one step (the quarantine sink's write, the aggregate sink's write, the read of the event stream) is left pending,
/// the invocation is started on a thread whose context only queues what is posted to it, and completing that step from
/// a thread without a context (as I/O completes) must finish the invocation right there, with nothing posted. A
/// continuation that went back to the caller's context would deadlock a caller that blocks on the task there.
/// </summary>
public class SinkContinuationContextTests
{
    private static TestRecord Valid(int n) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", n, TestEvents.Arrival - 1000)), TestEvents.Arrival);

    private static TestRecord Poison(int n) => new(TestEvents.Seq(n), "{broken"u8.ToArray(), TestEvents.Arrival);

    /// <summary>A stream whose first read stays pending until the test releases it with the whole content; then the end.</summary>
    private sealed class PendingReadStream(byte[] content) : Stream
    {
        private TaskCompletionSource<int>? _pending;
        private Memory<byte> _buffer;
        private bool _delivered;

        public bool IsPending => _pending is not null && !_pending.Task.IsCompleted;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_delivered || _pending is not null)
            {
                return ValueTask.FromResult(0);
            }

            Assert.True(buffer.Length >= content.Length, "the test's event fits one read");
            _buffer = buffer;
            _pending = new TaskCompletionSource<int>();
            return new ValueTask<int>(_pending.Task);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        /// <summary>Completes the pending read with the whole content.</summary>
        public void Release()
        {
            content.CopyTo(_buffer);
            _delivered = true;
            _pending!.SetResult(content.Length);
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("read asynchronously");

        public override void Flush() => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private static DateTimeOffset Deadline(TimeProvider time) => time.GetUtcNow().AddSeconds(30);

    [Fact]
    public async Task PendingQuarantine_TheInvocationEndsWhereTheWriteEnded()
    {
        using var noContext = new NoSynchronizationContext();
        var time = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        var quarantine = new PendingQuarantineSink();
        var aggregates = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default with { TimeProvider = time });
        var context = new QueueingSynchronizationContext();
        byte[] evt = TestEvents.Build([Valid(1), Poison(2), Poison(3)]);

        Task<BatchSummary> run = UnderContext.Start(context, () => processor.ProcessAsync(evt, Deadline(time), new ArrayBufferWriter<byte>()));
        Assert.False(run.IsCompleted);
        Assert.Equal(2, quarantine.Records);
        quarantine.Pending!.SetResult(1); // the first poison record durable, the second not
        int posted = context.Pump();

        Assert.Equal(0, posted);
        Assert.True(run.IsCompleted);
        BatchSummary summary = await run;
        Assert.Equal(SinkOutcome.Failed, summary.QuarantineSinkOutcome); // returned short with time left
        Assert.Equal(1, summary.Quarantined);
        Assert.Equal(1, summary.AggregatesWritten);
        // The lowest record whose effects are not durable: the poison record the sink did not keep.
        Assert.Equal(TestEvents.Seq(3), summary.ReportedFailure);
    }

    [Fact]
    public async Task PendingAggregateWrite_TheInvocationEndsWhereTheWriteEnded()
    {
        using var noContext = new NoSynchronizationContext();
        var time = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        var aggregates = new PendingAggregateSink();
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = time });
        var context = new QueueingSynchronizationContext();
        byte[] evt = TestEvents.Build([Valid(1), Valid(2)]);

        Task<BatchSummary> run = UnderContext.Start(context, () => processor.ProcessAsync(evt, Deadline(time), new ArrayBufferWriter<byte>()));
        Assert.False(run.IsCompleted);
        aggregates.Batch!.MarkAllDurable();
        aggregates.Pending!.SetResult();
        int posted = context.Pump();

        Assert.Equal(0, posted);
        Assert.True(run.IsCompleted);
        BatchSummary summary = await run;
        Assert.Equal(SinkOutcome.Completed, summary.AggregateSinkOutcome);
        Assert.Equal(1, summary.AggregatesWritten);
        Assert.Null(summary.ReportedFailure);
    }

    [Fact]
    public async Task StreamOverload_PendingRead_TheInvocationEndsWhereTheReadEnded()
    {
        using var noContext = new NoSynchronizationContext();
        var time = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        var aggregates = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = time });
        var context = new QueueingSynchronizationContext();
        using var stream = new PendingReadStream(TestEvents.Build([Valid(1), Valid(2)]));

        Task<BatchSummary> run = UnderContext.Start(context, () => processor.ProcessAsync(stream, Deadline(time), new ArrayBufferWriter<byte>()));
        Assert.False(run.IsCompleted);
        Assert.True(stream.IsPending);
        stream.Release();
        int posted = context.Pump();

        Assert.Equal(0, posted);
        Assert.True(run.IsCompleted);
        BatchSummary summary = await run;
        Assert.Equal(2, summary.RecordsProcessed);
        Assert.Equal(1, summary.AggregatesWritten);
        Assert.Equal(2, aggregates.Seen.Single().Count);
    }

    [Fact]
    public async Task StreamOverload_PendingAggregateWrite_TheInvocationEndsWhereTheWriteEnded()
    {
        using var noContext = new NoSynchronizationContext();
        var time = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        var aggregates = new PendingAggregateSink();
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = time });
        var context = new QueueingSynchronizationContext();
        using var stream = new MemoryStream(TestEvents.Build([Valid(1), Valid(2)]));

        Task<BatchSummary> run = UnderContext.Start(context, () => processor.ProcessAsync(stream, Deadline(time), new ArrayBufferWriter<byte>()));
        Assert.False(run.IsCompleted);
        aggregates.Batch!.MarkAllDurable();
        aggregates.Pending!.SetResult();
        int posted = context.Pump();

        Assert.Equal(0, posted);
        Assert.True(run.IsCompleted);
        BatchSummary summary = await run;
        Assert.Equal(1, summary.AggregatesWritten);
        Assert.Null(summary.ReportedFailure);
    }
}
