using System.Buffers;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// A deadline no Lambda invocation can have: further before the processor's clock than Lambda's longest timeout
/// (15 minutes). It comes from a unit or clock mistake in the host (the Runtime API's epoch milliseconds taken as
/// ticks, <c>new DateTimeOffset(deadlineMs, TimeSpan.Zero)</c>; a processor left on <see cref="TimeProvider.System"/>
/// under a virtual clock), not from a slow invocation. Answered as "no time left", every invocation reports its first
/// record and the shard never moves again, while the log line says the sink "ran out of time": bad configuration
/// must get a clear error instead (README: "bad input or bad configuration gets a clear error").
/// </summary>
public sealed class DeadlineFromAnotherClockTests
{
    private static TestRecord Good(int n) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", n, TestEvents.Arrival - 1000, ("k", "a"))), TestEvents.Arrival);

    [Theory]
    [InlineData(-1)]     // a day before: a clock of another run
    [InlineData(-365)]   // a year before
    public async Task DeadlineDaysBeforeTheClock_IsRefusedNamingTheDeadline(int days)
    {
        var clock = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });
        var output = new ArrayBufferWriter<byte>();

        ArgumentOutOfRangeException e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => processor.ProcessAsync(TestEvents.Build([Good(1), Good(2)]), clock.GetUtcNow().AddDays(days), output));

        Assert.Equal("deadline", e.ParamName);
    }

    /// <summary>
    /// The overload that reads the event from a stream refuses the same deadline, before it reads the stream (a mutation
    /// run found its check unchecked: only the overload over bytes was tested).
    /// </summary>
    [Fact]
    public async Task DeadlineADayBeforeTheClock_IsRefusedByTheStreamOverload_BeforeTheStreamIsRead()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });
        using var utf8Event = new MemoryStream(TestEvents.Build([Good(1), Good(2)]));

        ArgumentOutOfRangeException e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => processor.ProcessAsync(utf8Event, clock.GetUtcNow().AddDays(-1), new ArrayBufferWriter<byte>()));

        Assert.Equal("deadline", e.ParamName);
        Assert.Equal(0, utf8Event.Position);
    }

    /// <summary>
    /// The refusal says what is wrong and where to look: the deadline and the clock it was compared with, how far apart
    /// they are, the limit, and the two usual causes (the header's unit, the processor's clock).
    /// </summary>
    [Fact]
    public async Task DeadlineBeforeTheClock_TheRefusalNamesBothTimesTheLimitAndTheCauses()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });
        DateTimeOffset deadline = clock.GetUtcNow().AddMinutes(-90);

        ArgumentOutOfRangeException e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => processor.ProcessAsync(TestEvents.Build([Good(1)]), deadline, new ArrayBufferWriter<byte>()));

        Assert.Contains($"The deadline {deadline:O} is 90 minutes before the processor's clock ({clock.GetUtcNow():O}), more than Lambda's longest timeout of 15 minutes", e.Message, StringComparison.Ordinal);
        Assert.Contains("Lambda-Runtime-Deadline-Ms is epoch milliseconds", e.Message, StringComparison.Ordinal);
        Assert.Contains("ProcessorOptions.TimeProvider must be the clock the deadline is read on", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A deadline up to Lambda's longest timeout before the clock can be a late invocation, not a wrong clock: it is
    /// processed with no time left: the first record is still read (and stored by a sink that answers at once), the rest
    /// is left for lack of time.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(15 * 60)] // exactly the longest timeout
    public async Task DeadlineUpToTheLongestTimeoutBeforeTheClock_IsProcessed(int secondsBefore)
    {
        var clock = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });
        var output = new ArrayBufferWriter<byte>();

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Good(1), Good(2)]), clock.GetUtcNow().AddSeconds(-secondsBefore), output);

        Assert.Equal((1, BatchStopReason.TimeBudget), (summary.RecordsProcessed, summary.StopReason));
        Assert.Equal(TestEvents.Seq(2), summary.ReportedFailure);
    }

    /// <summary>The Runtime API's <c>Lambda-Runtime-Deadline-Ms</c> taken as ticks: a deadline in year 0006.</summary>
    [Fact]
    public async Task DeadlineMillisecondsTakenAsTicks_IsRefused()
    {
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        long deadlineMs = DateTimeOffset.UtcNow.AddSeconds(30).ToUnixTimeMilliseconds();
        var output = new ArrayBufferWriter<byte>();

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => processor.ProcessAsync(TestEvents.Build([Good(1)]), new DateTimeOffset(deadlineMs, TimeSpan.Zero), output));
    }
}
