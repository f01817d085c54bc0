using System.Buffers;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// Every option the processor's constructor checks, one side of each bound refused and the other accepted: the sink
/// share, the poison callbacks and the spill thresholds (the margins and the state size are in
/// <see cref="ProcessorContractTests"/>).
/// </summary>
public class ProcessorOptionRangeTests
{
    public static TheoryData<string, string, ProcessorOptions> Refused => new()
    {
        { "no sink share", "SinkTimeFraction", ProcessorOptions.Default with { SinkTimeFraction = 0 } },
        { "negative sink share", "SinkTimeFraction", ProcessorOptions.Default with { SinkTimeFraction = -0.25 } },
        { "the whole time for the sinks", "SinkTimeFraction", ProcessorOptions.Default with { SinkTimeFraction = 1 } },
        { "sink share not a number", "SinkTimeFraction", ProcessorOptions.Default with { SinkTimeFraction = double.NaN } },
        { "negative poison callbacks", "MaxPoisonCallbacks", ProcessorOptions.Default with { MaxPoisonCallbacks = -1 } },
        { "spill after no age", "SpillAfterAge", ProcessorOptions.Default with { SpillAfterAge = TimeSpan.Zero } },
        { "spill after a negative age", "SpillAfterAge", ProcessorOptions.Default with { SpillAfterAge = TimeSpan.FromTicks(-1) } },
        { "spill after negative failures", "SpillAfterFailedInvocations", ProcessorOptions.Default with { SpillAfterFailedInvocations = -1 } },
    };

    /// <summary>Refused with an error for the options whose message names the option out of range, so the operator knows which.</summary>
    [Theory]
    [MemberData(nameof(Refused))]
    public void Constructor_OutOfRange_ThrowsForTheOptions_NamingTheOption(string because, string option, ProcessorOptions options)
    {
        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(
            () => new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), options));
        Assert.Equal("options", e.ParamName);
        Assert.True(e.Message.Contains(option, StringComparison.Ordinal), $"{because}: the message does not name {option}: {e.Message}");
    }

    public static TheoryData<string, ProcessorOptions> Accepted => new()
    {
        { "the smallest sink share", ProcessorOptions.Default with { SinkTimeFraction = double.Epsilon } },
        { "a sink share just below one", ProcessorOptions.Default with { SinkTimeFraction = 0.999 } },
        { "no poison callbacks", ProcessorOptions.Default with { MaxPoisonCallbacks = 0 } },
        { "spill after one tick", ProcessorOptions.Default with { SpillAfterAge = TimeSpan.FromTicks(1) } },
        { "never spill for failures", ProcessorOptions.Default with { SpillAfterFailedInvocations = 0 } },
    };

    [Theory]
    [MemberData(nameof(Accepted))]
    public async Task Constructor_EdgeOfTheRange_IsAcceptedAndWorks(string because, ProcessorOptions options)
    {
        var aggregates = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), options);
        var output = new ArrayBufferWriter<byte>();
        var record = new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("a", 2, TestEvents.Arrival - 1000)), TestEvents.Arrival);

        // An hour's budget, so that even the smallest sink share leaves the sink time on a busy machine.
        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([record]), DateTimeOffset.UtcNow.AddHours(1), output);

        Assert.True(summary.ReportedFailure is null, because);
        Assert.Equal(1, Assert.Single(aggregates.Seen).Count);
    }
}
