using System.Buffers;
using System.Text.Json;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// Tumbling-window invocations at their edges: an empty final invocation (Lambda sends one when the window ends with
/// no new records), a window of only poison records, a sink that returns later, and the failures that must throw
/// <see cref="BatchFailedException"/> (the window state cannot express a partial batch) with a message that says why.
/// </summary>
public class WindowFailureTests
{
    private static TestRecord Good(int n, double value) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", value, TestEvents.Arrival - 1000)), TestEvents.Arrival);

    private static TestRecord Poison(int n) => new(TestEvents.Seq(n), "{broken"u8.ToArray(), TestEvents.Arrival);

    private static Task<BatchSummary> Run(KinesisBatchProcessor processor, byte[] evt, ArrayBufferWriter<byte>? output = null) =>
        processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), output ?? new ArrayBufferWriter<byte>());

    [Fact]
    public async Task EmptyFinalInvocation_FlushesTheStatesWholeRange()
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        var output = new ArrayBufferWriter<byte>();
        await Run(processor, TestEvents.BuildWindow([Good(1, 1), Good(2, 2)], "{}"), output);
        string state = JsonDocument.Parse(output.WrittenMemory).RootElement.GetProperty("state").GetRawText();

        BatchSummary summary = await Run(processor, TestEvents.BuildWindow([], state, final: true));

        Assert.True(summary.Flushed);
        SeenAggregate seen = Assert.Single(sink.Seen);
        Assert.Equal((2L, 3.0), (seen.Count, seen.Sum));
        Assert.Equal((TestEvents.Seq(1), TestEvents.Seq(2)), (seen.FirstSequenceNumber, seen.LastSequenceNumber));
    }

    [Fact]
    public async Task EmptyFinalInvocation_WithNoState_WritesNothing()
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);

        BatchSummary summary = await Run(processor, TestEvents.BuildWindow([], "{}", final: true));

        Assert.False(summary.Flushed);
        Assert.Equal(0, sink.Calls);
    }

    [Fact]
    public async Task FinalInvocationOfOnlyPoison_QuarantinesIt_AndWritesNoAggregates()
    {
        var sink = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(sink, quarantine, ProcessorOptions.Default);

        BatchSummary summary = await Run(processor, TestEvents.BuildWindow([Poison(1)], "{}", final: true));

        Assert.False(summary.Flushed);
        Assert.Equal(0, sink.Calls);
        Assert.Equal(1, summary.Quarantined);
        Assert.Equal(TestEvents.Seq(1), Assert.Single(quarantine.Records).SequenceNumber);
    }

    /// <summary>A sink that returns its task first and makes the window durable later: the invocation waits for it.</summary>
    [Fact]
    public async Task Flush_WaitsForASinkThatReturnsLater()
    {
        var sink = new LaterSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);

        Task<BatchSummary> run = Run(processor, TestEvents.BuildWindow([Good(1, 1)], "{}", final: true));
        Assert.NotNull(sink.Batch);
        Assert.False(run.IsCompleted, "the invocation did not wait for the aggregate sink");
        sink.Batch!.MarkAllDurable();
        sink.Done.SetResult();
        BatchSummary summary = await run;

        Assert.True(summary.Flushed);
        Assert.Equal(1, summary.AggregatesWritten);
    }

    [Fact]
    public async Task PoisonNotQuarantined_Throws_SayingHowManyAndTheOutcome()
    {
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink { DurableCount = 0 }, ProcessorOptions.Default);

        BatchFailedException e = await Assert.ThrowsAsync<BatchFailedException>(() => Run(processor, TestEvents.BuildWindow([Good(1, 1), Poison(2)], "{}")));

        Assert.Contains("quarantine sink made 0 of 1 poison records durable (Failed: The quarantine sink returned with 0 of 1 poison records stored, with time left, and gave no error.);", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The poison records are durable before the window's flush starts: when the quarantine write fails, no aggregate is
    /// written. A flush that landed in a failed invocation is repeated by a retry that may gather other records (a
    /// bisected half), and a later flush whose range straddles the landed one's watermark is refused on every retry.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task PoisonNotQuarantined_NoWindowAggregateIsWritten(int durable)
    {
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink { DurableCount = durable }, ProcessorOptions.Default);

        await Assert.ThrowsAsync<BatchFailedException>(() => Run(processor, TestEvents.BuildWindow([Good(1, 1), Poison(2), Poison(3)], "{}", final: true)));

        Assert.Empty(sink.Seen);
    }

    [Fact]
    public async Task QuarantineThrows_Throws_WithTheSinksError()
    {
        var quarantine = new RecordingQuarantineSink { Throw = new IOException("quarantine bucket gone") };
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default);

        BatchFailedException e = await Assert.ThrowsAsync<BatchFailedException>(() => Run(processor, TestEvents.BuildWindow([Poison(1), Poison(2)], "{}")));

        Assert.Contains("made 0 of 2 poison records durable (Failed: System.IO.IOException: quarantine bucket gone);", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AggregateSinkThrows_Throws_WithTheSinksError()
    {
        var sink = new RecordingAggregateSink { Throw = new IOException("table gone"), Durable = _ => false };
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);

        BatchFailedException e = await Assert.ThrowsAsync<BatchFailedException>(() => Run(processor, TestEvents.BuildWindow([Good(1, 1)], "{}", final: true)));

        Assert.Contains("made 0 of 1 window aggregates durable (Failed: System.IO.IOException: table gone);", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The log line's reason for a failed window flush says what happens (found by review): it said "the first record of
    /// an unmarked pair is reported as the checkpoint", which a window invocation never does; it fails whole.
    /// </summary>
    [Fact]
    public async Task AggregateSinkThrows_TheIssueSaysTheWindowInvocationFailsWhole()
    {
        var sink = new RecordingAggregateSink { Throw = new IOException("table gone"), Durable = _ => false };
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);

        BatchFailedException e = await Assert.ThrowsAsync<BatchFailedException>(() => Run(processor, TestEvents.BuildWindow([Good(1, 1)], "{}", final: true)));

        Assert.Equal(
            "The aggregate sink threw IOException; 0 of 1 window aggregates durable, the window invocation fails whole and Lambda retries it with the previous state.",
            e.Summary!.AggregateSinkIssue);
    }

    /// <summary>A sink that made the window's aggregates durable and then threw: the invocation succeeds, and the issue does not say it failed.</summary>
    [Fact]
    public async Task AggregateSinkThrowsAfterMarkingEverything_TheWindowInvocationSucceeds_AndTheIssueSaysOnlyWhatHappened()
    {
        var sink = new RecordingAggregateSink { Throw = new IOException("late"), Durable = _ => true };
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);

        BatchSummary summary = await Run(processor, TestEvents.BuildWindow([Good(1, 1)], "{}", final: true));

        Assert.Equal(1, summary.AggregatesWritten);
        Assert.Equal("The aggregate sink threw IOException; 1 of 1 window aggregates durable.", summary.AggregateSinkIssue);
    }

    /// <summary>
    /// The last invocation of a window carries no records, so its line named none (found by review): when its flush
    /// fails and Lambda gives up on it, the window's records are in no place but the state, and the line now names the
    /// state's range, what to recompute from the stream.
    /// </summary>
    [Fact]
    public async Task EmptyFinalInvocationWhoseFlushFails_ItsLineNamesTheWindowsRange()
    {
        var output = new ArrayBufferWriter<byte>();
        using (var opener = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default))
        {
            await Run(opener, TestEvents.BuildWindow([Good(1, 1), Good(2, 2)], "{}"), output);
        }

        string state = JsonDocument.Parse(output.WrittenMemory).RootElement.GetProperty("state").GetRawText();
        var sink = new RecordingAggregateSink { Throw = new IOException("table gone"), Durable = _ => false };
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);

        BatchFailedException e = await Assert.ThrowsAsync<BatchFailedException>(() => Run(processor, TestEvents.BuildWindow([], state, final: true)));

        var lines = new ArrayBufferWriter<byte>();
        JsonLog.WriteInvocation(e.Summary!, JsonLogOptions.Default, lines);
        JsonElement line = System.Text.Encoding.UTF8.GetString(lines.WrittenSpan).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Single(l => l.GetProperty("message").GetString() == "invocation");
        Assert.Equal(
            (JsonValueKind.Null, TestEvents.Seq(1), TestEvents.Seq(2)),
            (line.GetProperty("firstSequenceNumber").ValueKind, line.GetProperty("windowFirstSequenceNumber").GetString(), line.GetProperty("windowLastSequenceNumber").GetString()));
    }

    /// <summary>Reading stopped for lack of time (a clock that moves 5 s per read, a 30 s budget): the invocation throws.</summary>
    [Fact]
    public async Task StoppedForLackOfTime_Throws_SayingSo()
    {
        var clock = new ManualClock(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival), TimeSpan.FromSeconds(5));
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });
        TestRecord[] records = [.. Enumerable.Range(1, 10).Select(i => Good(i, i))];

        BatchFailedException e = await Assert.ThrowsAsync<BatchFailedException>(() =>
            processor.ProcessAsync(TestEvents.BuildWindow(records, "{}"), clock.GetUtcNow().AddSeconds(30), new ArrayBufferWriter<byte>()));

        Assert.Contains("deadline came before every record was processed", e.Message, StringComparison.Ordinal);
    }

    private sealed class LaterSink : IAggregateSink
    {
        public AggregateBatch? Batch { get; private set; }

        public TaskCompletionSource Done { get; } = new();

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            Batch = batch;
            return Done.Task;
        }
    }
}
