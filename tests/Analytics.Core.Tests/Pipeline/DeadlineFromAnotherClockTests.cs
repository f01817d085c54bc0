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
