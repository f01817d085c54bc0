using System.Buffers;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// The times a <see cref="BatchSummary"/> reports, on a clock that moves only when a sink moves it: the record ages,
/// the sinks' durations, the planned sink share and the time left at the end.
/// </summary>
public class SummaryTimingTests
{
    private static readonly DateTimeOffset s_now = DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival) + TimeSpan.FromSeconds(60);

    private static TestRecord Good(int n, long arrivalMs) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", n, TestEvents.Arrival - 1000)), arrivalMs);

    private static TestRecord Poison(int n) => new(TestEvents.Seq(n), TestEvents.Utf8("{not json " + n), TestEvents.Arrival);

    /// <summary>Moves the clock by <see cref="Takes"/> inside its call, then makes everything durable.</summary>
    private sealed class SlowSinks(ManualTimeProvider clock) : IAggregateSink, IQuarantineSink
    {
        public TimeSpan Takes { get; init; }

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            clock.Advance(Takes);
            batch.MarkAllDurable();
            return Task.CompletedTask;
        }

        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
        {
            clock.Advance(Takes);
            return Task.FromResult(records.Count);
        }
    }

    private static async Task<BatchSummary> Run(ManualTimeProvider clock, SlowSinks sinks, TestRecord[] records, TimeSpan budget)
    {
        using var processor = new KinesisBatchProcessor(sinks, sinks, ProcessorOptions.Default with { TimeProvider = clock });
        return await processor.ProcessAsync(TestEvents.Build(records), clock.GetUtcNow() + budget, new ArrayBufferWriter<byte>());
    }

    [Fact]
    public async Task RecordAges_AreFromTheOldestAndTheNewestArrival()
    {
        var clock = new ManualTimeProvider(s_now);
        // Out of arrival order on purpose: the ages come from the earliest and the latest arrival, not the first and last record.
        TestRecord[] records = [Good(1, TestEvents.Arrival + 15_000), Good(2, TestEvents.Arrival), Good(3, TestEvents.Arrival + 45_000), Good(4, TestEvents.Arrival + 30_000)];

        BatchSummary summary = await Run(clock, new SlowSinks(clock), records, TimeSpan.FromSeconds(100));

        Assert.Equal(TimeSpan.FromSeconds(60), summary.OldestRecordAge);
        Assert.Equal(TimeSpan.FromSeconds(15), summary.NewestRecordAge);
    }

    [Fact]
    public async Task RecordAges_OfRecordsStampedAfterTheClock_AreZeroNotNegative()
    {
        var clock = new ManualTimeProvider(s_now);
        long future = s_now.ToUnixTimeMilliseconds() + 20_000;

        BatchSummary summary = await Run(clock, new SlowSinks(clock), [Good(1, future), Good(2, future + 5_000)], TimeSpan.FromSeconds(100));

        Assert.Equal(TimeSpan.Zero, summary.OldestRecordAge);
        Assert.Equal(TimeSpan.Zero, summary.NewestRecordAge);
    }

    [Fact]
    public async Task AggregateSinkTime_PlannedShare_AndTimeLeft()
    {
        var clock = new ManualTimeProvider(s_now);

        BatchSummary summary = await Run(clock, new SlowSinks(clock) { Takes = TimeSpan.FromSeconds(7) }, [Good(1, TestEvents.Arrival)], TimeSpan.FromSeconds(100));

        // 100 s less the larger margin (10 % = 10 s, more than the 1 s minimum) is 90 s of work; the sinks' share a quarter of it.
        Assert.Equal(TimeSpan.FromSeconds(22.5), summary.PlannedSinkTime);
        Assert.Equal(TimeSpan.FromSeconds(7), summary.AggregateSinkDuration);
        Assert.Equal(TimeSpan.Zero, summary.QuarantineSinkDuration);
        Assert.Equal(TimeSpan.FromSeconds(93), summary.RemainingTime);
        Assert.Equal(SinkOutcome.Completed, summary.AggregateSinkOutcome);
    }

    [Fact]
    public async Task QuarantineSinkTime_IsMeasuredOnItsOwn()
    {
        var clock = new ManualTimeProvider(s_now);

        BatchSummary summary = await Run(clock, new SlowSinks(clock) { Takes = TimeSpan.FromSeconds(3) }, [Poison(1), Poison(2)], TimeSpan.FromSeconds(40));

        // 40 s less the 4 s margin is 36 s of work, 9 s of it the sinks'.
        Assert.Equal(TimeSpan.FromSeconds(9), summary.PlannedSinkTime);
        Assert.Equal(TimeSpan.FromSeconds(3), summary.QuarantineSinkDuration);
        Assert.Equal(TimeSpan.Zero, summary.AggregateSinkDuration);
        Assert.Equal(TimeSpan.FromSeconds(37), summary.RemainingTime);
        Assert.Equal(2, summary.Quarantined);
    }
}
