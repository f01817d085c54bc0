namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A consumer's own <see cref="RecordGenerator"/> making what Kinesis never accepts: PutRecord refuses data plus
/// partition key over 1 MiB with a ValidationException (not a throttle), so such a record is a bug in the scenario, and
/// the run says so instead of counting every such put as throttled or failing inside the emulator.
/// </summary>
public sealed class ProducerGeneratorTests
{
    private static EmulatorScenario Producing(RecordGenerator generator) => new()
    {
        StartTime = Emulate.Start,
        DurationSeconds = 5,
        Producers = [new() { RatePerSecond = 2, PartitionKeys = 1, KeyPrefix = "key-", Generator = generator }],
    };

    [Fact]
    public void ARecordOver1MiB_IsRefused_NamingTheLimit()
    {
        // 1 MiB of data plus a 5-byte key ("key-0"): 5 bytes over, what Kinesis refuses.
        var emulator = new StreamEmulator(Producing((_, _, _, _) => new byte[1024 * 1024]), Emulate.Succeed());
        var exception = Assert.Throws<InvalidOperationException>(() => emulator.Run());
        Assert.Contains("1048581 bytes", exception.Message, StringComparison.Ordinal);
        Assert.Contains("1 MiB", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ARecordOfExactly1MiB_WithItsKey_IsPut()
    {
        var emulator = new StreamEmulator(Producing((_, _, _, _) => new byte[(1024 * 1024) - 5]) with { Stream = new() { WriteBytesPerSecond = 4 * 1024 * 1024 } }, Emulate.Succeed());
        EmulationSummary summary = emulator.Run();
        Assert.Equal((10L, 0L), (summary.RecordsIn, summary.ThrottledPuts));
    }

    [Fact]
    public void AGeneratorThatReturnsNull_IsRefused_NamingTheGenerator()
    {
        var emulator = new StreamEmulator(Producing((_, _, _, _) => null!), Emulate.Succeed());
        var exception = Assert.Throws<InvalidOperationException>(() => emulator.Run());
        Assert.Contains("RecordGenerator returned null", exception.Message, StringComparison.Ordinal);
    }
}
