using System.Buffers;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// How each way a sink can leave effects not durable ends: the outcome, the checkpoint, and the issue the log line
/// carries (which names what happened and never quotes the exception's message).
/// </summary>
public class SinkIssueWordingTests
{
    private static readonly DateTimeOffset s_now = DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival) + TimeSpan.FromSeconds(60);

    private static TestRecord Good(int n, string metric) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample(metric, n, TestEvents.Arrival - 1000)), TestEvents.Arrival);

    private static TestRecord Poison(int n) => new(TestEvents.Seq(n), TestEvents.Utf8("{not json " + n), TestEvents.Arrival);

    /// <summary>An aggregate sink whose task fails after it has yielded, having marked the pairs <see cref="Durable"/> says.</summary>
    private sealed class FaultingAggregateSink : IAggregateSink
    {
        public Func<int, bool> Durable { get; init; } = _ => false;

        public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            await Task.Yield();
            for (int i = 0; i < batch.Count; i++)
            {
                if (Durable(i))
                {
                    batch.MarkDurable(i);
                }
            }

            throw new IOException("secret payload words");
        }
    }

    /// <summary>Stops when its token fires, as the AWS sinks do, and returns with nothing marked (or stored).</summary>
    private sealed class ReturnsAtItsDeadlineSink : IAggregateSink, IQuarantineSink
    {
        public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            await SinkWaits.UntilCancelledAsync(cancellationToken);
        }

        async Task<int> IQuarantineSink.WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
        {
            await SinkWaits.UntilCancelledAsync(cancellationToken);
            return 0;
        }
    }

    /// <summary>Stores every poison record it is given, but returns only when its token is cancelled (the working time ended).</summary>
    private sealed class StoresAllAtItsDeadlineQuarantineSink : IQuarantineSink
    {
        public async Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
        {
            await SinkWaits.UntilCancelledAsync(cancellationToken);
            return records.Count;
        }
    }

    private sealed class HangingAggregateSink : IAggregateSink
    {
        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken) => new TaskCompletionSource().Task;
    }

    /// <summary>A quarantine sink whose task fails after it has yielded.</summary>
    private sealed class FaultingQuarantineSink : IQuarantineSink
    {
        public async Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
        {
            await Task.Yield();
            throw new IOException("secret payload words");
        }
    }

    private sealed class HangingQuarantineSink : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => new TaskCompletionSource<int>().Task;
    }

    [Fact]
    public async Task AggregateSinkTaskFails_TheIssueSaysItThrewWhat_NotThatItReturned()
    {
        // It marked the first pair before failing: the second pair's record is the checkpoint.
        using var processor = new KinesisBatchProcessor(new FaultingAggregateSink { Durable = i => i == 0 }, new RecordingQuarantineSink(), ProcessorOptions.Default);

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Good(1, "a"), Good(2, "b")]), DateTimeOffset.UtcNow.AddMinutes(1), new ArrayBufferWriter<byte>());

        Assert.Equal(SinkOutcome.Failed, summary.AggregateSinkOutcome);
        Assert.Equal(TestEvents.Seq(2), summary.ReportedFailure);
        Assert.NotNull(summary.AggregateSinkIssue);
        Assert.Contains("threw IOException", summary.AggregateSinkIssue, StringComparison.Ordinal);
        Assert.Equal(
            "The aggregate sink threw IOException; 1 of 2 pairs durable, the first record of an unmarked pair is reported as the checkpoint.",
            summary.AggregateSinkIssue);
    }

    [Fact]
    public async Task AggregateSinkThrowsAfterMarkingEveryPair_TheIssueSaysSo_AndReportsNothingLeft()
    {
        // Every pair is durable, so nothing is reported: the issue must not say a checkpoint was.
        using var processor = new KinesisBatchProcessor(new FaultingAggregateSink { Durable = _ => true }, new RecordingQuarantineSink(), ProcessorOptions.Default);

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Good(1, "a"), Good(2, "b")]), DateTimeOffset.UtcNow.AddMinutes(1), new ArrayBufferWriter<byte>());

        Assert.Equal(SinkOutcome.Failed, summary.AggregateSinkOutcome);
        Assert.Null(summary.ReportedFailure);
        Assert.Equal("The aggregate sink threw IOException; 2 of 2 pairs durable.", summary.AggregateSinkIssue);
    }

    [Fact]
    public async Task AggregateSinkReturnsWithSomePairsUnmarked_TheIssueSaysSo()
    {
        var sink = new RecordingAggregateSink { Durable = i => i == 0 };
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Good(1, "a"), Good(2, "b")]), DateTimeOffset.UtcNow.AddMinutes(1), new ArrayBufferWriter<byte>());

        Assert.Equal(SinkOutcome.Completed, summary.AggregateSinkOutcome);
        Assert.NotNull(summary.AggregateSinkIssue);
        Assert.Contains("returned with pairs left unmarked", summary.AggregateSinkIssue, StringComparison.Ordinal);
        Assert.DoesNotContain("without marking any pair", summary.AggregateSinkIssue, StringComparison.Ordinal);
        Assert.Contains("1 of 2 pairs durable", summary.AggregateSinkIssue, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AggregateSinkIgnoresCancellation_IsTimedOut_AndTheIssueSaysItHadNotReturned()
    {
        var clock = new ManualTimeProvider(s_now);
        using var processor = new KinesisBatchProcessor(new HangingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });

        Task<BatchSummary> run = processor.ProcessAsync(TestEvents.Build([Good(1, "a")]), clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>());
        // The working time is 90 s; then the sink is waited for 200 ms more.
        clock.Advance(TimeSpan.FromSeconds(90));
        Assert.False(run.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(1));
        BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(SinkOutcome.TimedOut, summary.AggregateSinkOutcome);
        Assert.Null(summary.AggregateSinkError);
        Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
        Assert.NotNull(summary.AggregateSinkIssue);
        Assert.Contains("had not returned at the deadline", summary.AggregateSinkIssue, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QuarantineSinkTaskFails_IsAFailureWithItsError_AndThePoisonRecordIsTheCheckpoint()
    {
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new FaultingQuarantineSink(), ProcessorOptions.Default);

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Good(1, "a"), Poison(2), Good(3, "b")]), DateTimeOffset.UtcNow.AddMinutes(1), new ArrayBufferWriter<byte>());

        Assert.Equal(SinkOutcome.Failed, summary.QuarantineSinkOutcome);
        Assert.NotNull(summary.QuarantineSinkError);
        Assert.StartsWith("System.IO.IOException", summary.QuarantineSinkError, StringComparison.Ordinal);
        Assert.Equal(0, summary.Quarantined);
        Assert.Equal(TestEvents.Seq(2), summary.ReportedFailure);
    }

    [Fact]
    public async Task QuarantineSinkIgnoresCancellation_IsTimedOut_AndThePoisonRecordIsTheCheckpoint()
    {
        var clock = new ManualTimeProvider(s_now);
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new HangingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });

        Task<BatchSummary> run = processor.ProcessAsync(TestEvents.Build([Good(1, "a"), Poison(2)]), clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>());
        clock.Advance(TimeSpan.FromSeconds(90));
        Assert.False(run.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(1));
        BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(SinkOutcome.TimedOut, summary.QuarantineSinkOutcome);
        Assert.Null(summary.QuarantineSinkError);
        Assert.Equal(0, summary.Quarantined);
        Assert.Equal(TestEvents.Seq(2), summary.ReportedFailure);
    }

    [Fact]
    public async Task SinksThatStopAtTheirDeadlineWithWorkLeft_AreTimedOut_NotCompleted()
    {
        // A sink that honours its token returns when the time is up: the log line must say it ran out of time, not
        // "Completed" (and not blame it for forgetting to mark pairs).
        var clock = new ManualTimeProvider(s_now);
        var sink = new ReturnsAtItsDeadlineSink();
        using var processor = new KinesisBatchProcessor(sink, sink, ProcessorOptions.Default with { TimeProvider = clock });

        Task<BatchSummary> run = processor.ProcessAsync(TestEvents.Build([Good(1, "a"), Poison(2)]), clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>());
        // The working time is 90 s: its end cancels the sinks' token, and they return (the processor waits 200 ms more
        // for a sink that does not, which these do not need).
        clock.Advance(TimeSpan.FromSeconds(90));
        BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(SinkOutcome.TimedOut, summary.QuarantineSinkOutcome);
        Assert.Equal(SinkOutcome.TimedOut, summary.AggregateSinkOutcome);
        Assert.Null(summary.AggregateSinkError);
        Assert.Contains("ran out of time", summary.AggregateSinkIssue, StringComparison.Ordinal);
        Assert.DoesNotContain("MarkDurable", summary.AggregateSinkIssue, StringComparison.Ordinal);
        Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
    }

    /// <summary>
    /// A quarantine sink that stores every poison record it was given but returns only as the working time ends: all of
    /// them are durable, so the call is <c>Completed</c>, as an aggregate sink that marked every pair by then is
    /// (<see cref="SinkOutcome"/>: a time-out is a return with fewer stored once the deadline passed). Found by a mutation
    /// review (2026-12-07): with the time-out's condition "durable &lt; records.Count" made "&lt;=", no test failed, and
    /// this call was TimedOut, a Warn line for a write that lost nothing.
    /// </summary>
    [Fact]
    public async Task AQuarantineSinkThatStoresAllAsItsTimeEnds_IsCompleted_NotTimedOut()
    {
        var clock = new ManualTimeProvider(s_now);
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new StoresAllAtItsDeadlineQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });

        Task<BatchSummary> run = processor.ProcessAsync(TestEvents.Build([Good(1, "a"), Poison(2), Poison(3)]), clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>());
        clock.Advance(TimeSpan.FromSeconds(90));
        BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(SinkOutcome.Completed, summary.QuarantineSinkOutcome);
        Assert.Null(summary.QuarantineSinkError);
        Assert.Equal(2, summary.Quarantined);
    }

    /// <summary>
    /// The caller cancels the invocation long before the deadline. A sink that returns then, and one that throws its
    /// cancellation, are the same event, and neither is a time-out (none passed): before, the first was counted
    /// <c>TimedOut</c> ("ran out of time") and the second <c>Failed</c>, because the return was judged by the sink's own
    /// token, which the caller's cancellation fires too, and the throw by the deadline. Now the deadline decides both:
    /// <c>Completed</c> with an issue that names the caller's cancellation, and <c>Failed</c> with the exception's type.
    /// Both leave the record reported for re-delivery.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ACancellationByTheCaller_IsNotATimeOut_WhetherTheSinkReturnsOrThrows(bool sinkThrows)
    {
        var clock = new ManualTimeProvider(s_now);
        var returns = new ReturnsAtItsDeadlineSink();
        IAggregateSink sink = sinkThrows ? new ThrowsWhenCancelledSink() : returns;
        using var processor = new KinesisBatchProcessor(sink, returns, ProcessorOptions.Default with { TimeProvider = clock });
        using var caller = new CancellationTokenSource();

        Task<BatchSummary> run = processor.ProcessAsync(TestEvents.Build([Good(1, "a"), Poison(2)]), clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>(), caller.Token);
        clock.Advance(TimeSpan.FromSeconds(5));
        await caller.CancelAsync();
        BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(sinkThrows ? SinkOutcome.Failed : SinkOutcome.Completed, summary.AggregateSinkOutcome);
        Assert.Equal(SinkOutcome.Completed, summary.QuarantineSinkOutcome);
        Assert.Equal(0, summary.Quarantined);
        if (sinkThrows)
        {
            Assert.Contains(nameof(TaskCanceledException), summary.AggregateSinkError, StringComparison.Ordinal);
        }
        else
        {
            Assert.Null(summary.AggregateSinkError);
            Assert.Contains("cancelled (the caller's token)", summary.AggregateSinkIssue, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("ran out of time", summary.AggregateSinkIssue ?? string.Empty, StringComparison.Ordinal);
        Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
    }

    /// <summary>
    /// A sink that throws its token's cancellation when the working time ends (as an SDK call given the token does) is
    /// timed out, not failed, so <see cref="BatchSummary.AggregateSinkError"/> stays null: the issue says it ran out of
    /// time and names the exception's type, instead of a bare "threw" that sent the reader to an empty error.
    /// </summary>
    [Fact]
    public async Task ASinkThatThrowsItsCancellationAtTheDeadline_RanOutOfTime_AndThrew()
    {
        var clock = new ManualTimeProvider(s_now);
        using var processor = new KinesisBatchProcessor(new ThrowsWhenCancelledSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });

        Task<BatchSummary> run = processor.ProcessAsync(TestEvents.Build([Good(1, "a")]), clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>());
        clock.Advance(TimeSpan.FromSeconds(90));
        BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal((SinkOutcome.TimedOut, null), (summary.AggregateSinkOutcome, summary.AggregateSinkError));
        Assert.StartsWith("The aggregate sink ran out of time (its budget ends at the deadline less the safety margin) and threw " + nameof(TaskCanceledException) + "; 0 of 1 pairs durable", summary.AggregateSinkIssue, StringComparison.Ordinal);
        Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
    }

    /// <summary>
    /// A sink stopped by the deadline after failed attempts throws a cancellation whose inner exception is the last
    /// attempt's error, as the AWS sinks do: the time-out keeps that error as <see cref="BatchSummary.AggregateSinkError"/>
    /// and the issue names it. A cancellation inside a cancellation is no cause: the time-out then has no error.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ASinkOutOfTimeAfterFailedAttempts_KeepsTheLastAttemptsError_ACancellationIsNoCause(bool causeIsAnError)
    {
        var clock = new ManualTimeProvider(s_now);
        Exception inner = causeIsAnError ? new IOException("Connection refused") : new TaskCanceledException("an attempt's own time-out");
        using var processor = new KinesisBatchProcessor(new ThrowsWhenCancelledSink { Inner = inner }, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });

        Task<BatchSummary> run = processor.ProcessAsync(TestEvents.Build([Good(1, "a")]), clock.GetUtcNow() + TimeSpan.FromSeconds(100), new ArrayBufferWriter<byte>());
        clock.Advance(TimeSpan.FromSeconds(90));
        BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(SinkOutcome.TimedOut, summary.AggregateSinkOutcome);
        Assert.Equal(causeIsAnError ? "System.IO.IOException: Connection refused" : null, summary.AggregateSinkError);
        Assert.StartsWith(
            causeIsAnError
                ? "The aggregate sink ran out of time (its budget ends at the deadline less the safety margin) after failed attempts, the last with IOException (the error); 0 of 1 pairs durable"
                : "The aggregate sink ran out of time (its budget ends at the deadline less the safety margin) and threw OperationCanceledException; 0 of 1 pairs durable",
            summary.AggregateSinkIssue,
            StringComparison.Ordinal);
        Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
    }

    /// <summary>Throws its token's cancellation when the token fires, as an SDK call given the token does.</summary>
    private sealed class ThrowsWhenCancelledSink : IAggregateSink
    {
        /// <summary>When set, the cancellation thrown carries it as its inner exception (the AWS sinks' last failed attempt).</summary>
        public Exception? Inner { get; init; }

        public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            }
            catch (OperationCanceledException) when (Inner is not null)
            {
                throw new OperationCanceledException("stopped after failed attempts", Inner, cancellationToken);
            }
        }
    }
}
