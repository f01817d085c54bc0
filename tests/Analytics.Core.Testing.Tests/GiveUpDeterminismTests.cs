using System.Buffers;
using System.Globalization;
using Analytics.Core.Tests;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The processor gives up on a sink that ignores cancellation: at the end of its working time it waits 200 ms more,
/// then answers a partial response. Under the emulator's virtual clock that grace wait must be a timer of the clock,
/// created on the clock's thread when the working time ends, and the answer must come from that timer's callback:
/// a grace timer created later on a thread-pool continuation let the emulator fire the function's 5 s timeout first,
/// so every invocation timed out instead of answering at about 4.2 s, depending on thread scheduling.
/// </summary>
public class GiveUpDeterminismTests
{
    [Fact]
    public void SinkIgnoringCancellation_UnderTheVirtualClock_GivesTheSameInvocationsEveryRun()
    {
        string? first = null;
        for (int run = 0; run < 8; run++)
        {
            string invocations = Run();
            first ??= invocations;
            Assert.Equal(first, invocations);
        }

        // Each invocation answers after the working time (5 s less the 1 s minimum margin) and the 200 ms grace, and
        // before the 5 s timeout, with a partial response: the stuck sink made nothing durable.
        string[] lines = first!.Split('\n');
        Assert.True(lines.Length >= 5, first);
        foreach (string line in lines)
        {
            string[] fields = line.Split(' ');
            string[] span = fields[1].Split('-');
            long duration = long.Parse(span[1], CultureInfo.InvariantCulture) - long.Parse(span[0], CultureInfo.InvariantCulture);
            Assert.InRange(duration, 4_200, 4_999);
            Assert.Equal("Partial", fields[2]);
        }
    }

    /// <summary>
    /// The caller cancels from its own thread: the processor does not answer on that thread, but exactly 200 ms of its
    /// clock later, when the grace timer fires, on the thread that moves the clock (the clock is moved by this test only,
    /// so the expectation holds whatever the thread pool does).
    /// </summary>
    [Fact]
    public async Task CallerCancels_TheAnswerComesFromTheGraceTimerOfTheProcessorsClock()
    {
        var clock = new VirtualClock(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        using var processor = new KinesisBatchProcessor(new StuckSink(clock), new NoQuarantine(), ProcessorOptions.Default with { TimeProvider = clock });
        using var cancel = new CancellationTokenSource();
        var response = new ArrayBufferWriter<byte>();

        Task<BatchSummary> run = processor.ProcessAsync(Event(1), clock.GetUtcNow() + TimeSpan.FromMinutes(5), response, cancel.Token);
        Assert.False(run.IsCompleted);
        await cancel.CancelAsync();
        Assert.False(run.IsCompleted);
        clock.Advance(TimeSpan.FromMilliseconds(199));
        Assert.False(run.IsCompleted);
        clock.Advance(TimeSpan.FromMilliseconds(1));

        Assert.True(run.IsCompleted);
        BatchSummary summary = await run;
        Assert.Equal(SinkOutcome.TimedOut, summary.AggregateSinkOutcome);
        Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
    }

    /// <summary>
    /// When the processor answers, on its clock alone: a sink that takes <c>d</c> and marks everything durable is waited
    /// for up to the working time W (the budget T less max(1 s, 10% of T)) plus the 200 ms grace; within that the answer
    /// comes at <c>d</c> with no failure, past it at W + 200 ms with the first record as the checkpoint.
    /// </summary>
    [Property(MaxTest = 60)]
    public Property GiveUp_AnswersAtTheSinksEnd_OrAtWorkingTimePlusGrace(PositiveInt timeoutSeed, PositiveInt delaySeed)
    {
        long timeoutMs = 2_000 + (timeoutSeed.Get % 60_000);
        long delayMs = delaySeed.Get % (timeoutMs + 2_000);
        long working = timeoutMs - Math.Max(1_000, timeoutMs / 10);
        (long expectedEnd, string? expectedFailure) = delayMs <= working + 200 ? (delayMs, null) : (working + 200, TestEvents.Seq(1));

        var clock = new VirtualClock(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        DateTimeOffset start = clock.GetUtcNow();
        using var processor = new KinesisBatchProcessor(new PatientSink(clock, TimeSpan.FromMilliseconds(delayMs)), new NoQuarantine(), ProcessorOptions.Default with { TimeProvider = clock });
        Task<BatchSummary> run = processor.ProcessAsync(Event(1), start + TimeSpan.FromMilliseconds(timeoutMs), new ArrayBufferWriter<byte>());
        for (int step = 0; step < 100 && !run.IsCompleted && clock.NextDue is { } due; step++)
        {
            clock.AdvanceTo(due);
        }

        if (!run.IsCompleted)
        {
            return false.Label("the processor did not answer on the clock's thread");
        }

        long end = (long)(clock.GetUtcNow() - start).TotalMilliseconds;
        string? failure = run.Result.ReportedFailure;
        return (end == expectedEnd && failure == expectedFailure)
            .Label($"T={timeoutMs} d={delayMs}: answered at {end} with {failure ?? "none"}, expected {expectedEnd} with {expectedFailure ?? "none"}");
    }

    private static byte[] Event(int n) =>
        TestEvents.Build([new Analytics.Core.Tests.TestRecord(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival)]);

    private static string Run()
    {
        var scenario = new EmulatorScenario
        {
            Seed = 5,
            DurationSeconds = 40,
            Producers = [new ProducerOptions { RatePerSecond = 40, PartitionKeys = 4 }],
            Mapping = new MappingOptions { BatchSize = 50, ReportBatchItemFailures = true },
            Function = new FunctionOptions { TimeoutSeconds = 5, ComputeMsPerInvocation = 3 },
        };
        StreamEmulator emulator = null!;
        emulator = new StreamEmulator(scenario, _ => new Handler(emulator.Clock));
        var lines = new Lines();
        emulator.Run(lines);
        return string.Join("\n", lines.All);
    }

    private sealed class Handler(VirtualClock clock) : ILambdaHandler
    {
        private readonly KinesisBatchProcessor _processor = new(new StuckSink(clock), new NoQuarantine(), ProcessorOptions.Default with { TimeProvider = clock });

        public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
        {
            var response = new ArrayBufferWriter<byte>();
            await _processor.ProcessAsync(utf8Event, deadline, response, cancellationToken).ConfigureAwait(false);
            return response.WrittenMemory;
        }
    }

    /// <summary>Takes a minute of virtual time per write and ignores cancellation.</summary>
    private sealed class StuckSink(VirtualClock clock) : IAggregateSink
    {
        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken) =>
            Task.Delay(TimeSpan.FromMinutes(1), clock, CancellationToken.None);
    }

    /// <summary>Takes a given virtual time per write, ignoring cancellation, then marks everything durable.</summary>
    private sealed class PatientSink(VirtualClock clock, TimeSpan delay) : IAggregateSink
    {
        public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            await Task.Delay(delay, clock, CancellationToken.None).ConfigureAwait(false);
            batch.MarkAllDurable();
        }
    }

    private sealed class NoQuarantine : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => Task.FromResult(records.Count);
    }

    private sealed class Lines : IEmulationObserver
    {
        public List<string> All { get; } = [];

        public void OnRecord(StreamRecord record)
        {
        }

        public void OnInvocation(InvocationReport invocation) =>
            All.Add($"{invocation.Invocation} {invocation.StartMs}-{invocation.EndMs} {invocation.Outcome} {invocation.Checkpoint} {invocation.Records.Count}");

        public void OnDestination(DestinationRecord record)
        {
        }

        public void OnSecond(ShardSecond metrics)
        {
        }
    }
}
