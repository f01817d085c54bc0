using System.Buffers;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// The wait for a sink past the working time: it neither needs the caller's synchronization context (a library's
/// continuations do not go back to it, so a caller whose context is blocked still gets its answer) nor leaves a timer
/// behind.
/// </summary>
public class SinkWaitHygieneTests
{
    private static readonly DateTimeOffset s_now = DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival) + TimeSpan.FromSeconds(60);

    private static byte[] OneRecord() =>
        TestEvents.Build([new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival)]);

    private sealed class HangingAggregateSink : IAggregateSink
    {
        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken) => new TaskCompletionSource().Task;
    }

    /// <summary>Returns what it marked (nothing) as soon as its token fires.</summary>
    private sealed class CancellableAggregateSink : IAggregateSink
    {
        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            var done = new TaskCompletionSource();
            cancellationToken.Register(() => done.TrySetCanceled(cancellationToken));
            return done.Task;
        }
    }

    /// <summary>Keeps every batch it is given; the first call never returns (ignoring cancellation), later ones mark all durable.</summary>
    private sealed class FirstCallHangsSink : IAggregateSink
    {
        public List<AggregateBatch> Batches { get; } = [];

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            Batches.Add(batch);
            if (Batches.Count == 1)
            {
                return new TaskCompletionSource().Task;
            }

            batch.MarkAllDurable();
            return Task.CompletedTask;
        }
    }

    /// <summary>Stores everything it was given, but only once its token fires (a sink whose last write lands late).</summary>
    private sealed class StoresAllWhenCancelledSinks : IAggregateSink, IQuarantineSink
    {
        public bool AggregatesLate { get; init; }

        public bool QuarantineLate { get; init; }

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken) =>
            Later(AggregatesLate, cancellationToken, () =>
            {
                batch.MarkAllDurable();
                return 0;
            });

        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) =>
            Later(QuarantineLate, cancellationToken, () => records.Count);

        private static Task<int> Later(bool late, CancellationToken cancellationToken, Func<int> store)
        {
            if (!late)
            {
                return Task.FromResult(store());
            }

            var done = new TaskCompletionSource<int>();
            cancellationToken.Register(() => done.TrySetResult(store()));
            return done.Task;
        }
    }

    /// <summary>A caller's context that is blocked: what is posted to it never runs.</summary>
    private sealed class BlockedContext : SynchronizationContext
    {
        public int Posted { get; private set; }

        public override void Post(SendOrPostCallback d, object? state) => Posted++;

        public override void Send(SendOrPostCallback d, object? state) => throw new InvalidOperationException("blocked");
    }

    /// <summary>The manual clock, counting the timers created and not yet disposed.</summary>
    private sealed class CountingClock(ManualTimeProvider inner) : TimeProvider
    {
        private int _live;

        public int Live => Volatile.Read(ref _live);

        public override long TimestampFrequency => inner.TimestampFrequency;

        public override long GetTimestamp() => inner.GetTimestamp();

        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Interlocked.Increment(ref _live);
            return new CountedTimer(this, inner.CreateTimer(callback, state, dueTime, period));
        }

        private sealed class CountedTimer(CountingClock owner, ITimer timer) : ITimer
        {
            private int _disposed;

            public bool Change(TimeSpan dueTime, TimeSpan period) => timer.Change(dueTime, period);

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    Interlocked.Decrement(ref owner._live);
                }

                timer.Dispose();
            }

            public ValueTask DisposeAsync()
            {
                Dispose();
                return ValueTask.CompletedTask;
            }
        }
    }

    [Fact]
    public async Task GiveUpOnAHangingSink_DoesNotWaitForTheCallersBlockedContext()
    {
        var clock = new ManualTimeProvider(s_now);
        using var processor = new KinesisBatchProcessor(new HangingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });
        var context = new BlockedContext();
        Task<BatchSummary> run = UnderContext.Start(context, () => processor.ProcessAsync(OneRecord(), clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>()));

        // The working time (90 s) ends, then the 200 ms of grace.
        clock.Advance(TimeSpan.FromSeconds(90));
        clock.Advance(TimeSpan.FromMilliseconds(200));
        BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(SinkOutcome.TimedOut, summary.AggregateSinkOutcome);
        Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
        Assert.Equal(0, context.Posted);
    }

    [Fact]
    public async Task SinkThatHonoursCancellation_NoTimerOfTheInvocationIsLeftBehind()
    {
        var clock = new ManualTimeProvider(s_now);
        var counting = new CountingClock(clock);
        using var processor = new KinesisBatchProcessor(new CancellableAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = counting });

        Task<BatchSummary> run = processor.ProcessAsync(OneRecord(), clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>());
        // The sink's token fires at 90 s; the grace timer is started then, and the sink returns at once.
        clock.Advance(TimeSpan.FromSeconds(90));
        BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(SinkOutcome.TimedOut, summary.AggregateSinkOutcome);
        Assert.True(clock.CreatedTimerDueTimes.Count >= 2, "the working-time timer and the grace timer");
        Assert.Equal(0, counting.Live);
    }

    [Fact]
    public async Task WindowFlushSinkStillRunning_KeepsItsBatch_TheNextFlushGetsAnother()
    {
        var clock = new ManualTimeProvider(s_now);
        var sink = new FirstCallHangsSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });
        TestRecord Sample(int n, double value) =>
            new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", value, TestEvents.Arrival - 1000)), TestEvents.Arrival);

        Task<BatchSummary> hung = processor.ProcessAsync(TestEvents.BuildWindow([Sample(1, 1)], "{}", final: true), clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>());
        clock.Advance(TimeSpan.FromSeconds(90));
        clock.Advance(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAsync<BatchFailedException>(() => hung.WaitAsync(TimeSpan.FromSeconds(5)));

        BatchSummary next = await processor.ProcessAsync(TestEvents.BuildWindow([Sample(2, 7)], "{}", final: true), clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>());

        Assert.Equal(1, next.AggregatesWritten);
        Assert.Equal(2, sink.Batches.Count);
        Assert.NotSame(sink.Batches[0], sink.Batches[1]);
        // The sink still running on the first flush sees its own window's aggregate, not the next invocation's.
        Assert.Equal((1L, 1.0), (sink.Batches[0].GetAggregate(0).Count, sink.Batches[0].GetAggregate(0).Sum));
        Assert.Equal((1L, 7.0), (sink.Batches[1].GetAggregate(0).Count, sink.Batches[1].GetAggregate(0).Sum));
    }

    /// <summary>
    /// A sink that returns after its time is up with everything stored completed: the outcome is a time-out only when
    /// something is left unstored, whatever the deadline did meanwhile (the summary and the metrics must not show a
    /// time-out, and the aggregate issue no "ran out of time", for an invocation whose every effect is durable).
    /// </summary>
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task SinkStoringEverythingOnlyAtTheDeadline_HasCompleted(bool aggregatesLate, bool quarantineLate)
    {
        var clock = new ManualTimeProvider(s_now);
        var sinks = new StoresAllWhenCancelledSinks { AggregatesLate = aggregatesLate, QuarantineLate = quarantineLate };
        using var processor = new KinesisBatchProcessor(sinks, sinks, ProcessorOptions.Default with { TimeProvider = clock });
        byte[] evt = TestEvents.Build(
        [
            new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival),
            new TestRecord(TestEvents.Seq(2), TestEvents.Utf8("{not json"), TestEvents.Arrival),
        ]);

        Task<BatchSummary> run = processor.ProcessAsync(evt, clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>());
        clock.Advance(TimeSpan.FromSeconds(90)); // the end of the working time: the late sink stores and returns
        BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal((SinkOutcome.Completed, SinkOutcome.Completed), (summary.AggregateSinkOutcome, summary.QuarantineSinkOutcome));
        Assert.Equal((1, 1), (summary.AggregatesWritten, summary.PoisonRecords));
        Assert.Null(summary.AggregateSinkIssue);
        Assert.Null(summary.ReportedFailure);
    }

    /// <summary>Keeps the token it was given and throws at once, as a sink that leaves its writes running.</summary>
    private sealed class TokenKeepingSink : IAggregateSink
    {
        public CancellationToken Token { get; private set; }

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            Token = cancellationToken;
            return Task.FromException(new IOException("throttled"));
        }
    }

    /// <summary>Returns only when its token fires, having stored nothing.</summary>
    private sealed class QuarantineUntilCancelled : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
        {
            var done = new TaskCompletionSource<int>();
            cancellationToken.Register(() => done.TrySetResult(0));
            return done.Task;
        }
    }

    /// <summary>
    /// The token a sink is given fires at the end of the working time also after its call ended: writes the call left
    /// running (it threw, or returned with pairs unmarked) are told to stop with the invocation, not never.
    /// </summary>
    [Fact]
    public async Task SinkToken_FiresAtTheEndOfTheWorkingTime_AfterTheCallEnded()
    {
        var clock = new ManualTimeProvider(s_now);
        var sink = new TokenKeepingSink();
        using var processor = new KinesisBatchProcessor(sink, new QuarantineUntilCancelled(), ProcessorOptions.Default with { TimeProvider = clock });
        byte[] evt = TestEvents.Build(
        [
            new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival),
            new TestRecord(TestEvents.Seq(2), TestEvents.Utf8("{not json"), TestEvents.Arrival),
        ]);

        Task<BatchSummary> run = processor.ProcessAsync(evt, clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>());
        Assert.True(sink.Token.CanBeCanceled);
        Assert.False(sink.Token.IsCancellationRequested);
        clock.Advance(TimeSpan.FromSeconds(90));
        BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.True(sink.Token.IsCancellationRequested);
        Assert.Equal(SinkOutcome.Failed, summary.AggregateSinkOutcome);
    }
}
