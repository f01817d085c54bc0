using System.Buffers;
using System.Text.Json;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// Tumbling-window invocations against unexpected input and redeployments: what Lambda does after a failed window
/// invocation (re-delivers the same batch with the previous state) must end with every sample applied once.
/// </summary>
public class WindowHardeningTests
{
    private static readonly DateTimeOffset s_start = DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival + 5_000);

    private static TestRecord Record(int n, string host, double value) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", value, TestEvents.Arrival - 1000, ("host", host))), TestEvents.Arrival);

    [Fact]
    public async Task FinalInvokeStoppedByTheTimeBudget_WritesNothing_SoTheRetryAppliesEverySampleOnce()
    {
        // 1 ms of fake time per clock read: 3,000 records take about 3 s to read, the budget is 2.2 s.
        var clock = new ManualClock(s_start, TimeSpan.FromMilliseconds(1));
        var aggregates = new SlowWatermarkSink(clock, TimeSpan.FromMilliseconds(1));
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });
        TestRecord[] records = [.. Enumerable.Range(1, 3000).Select(i => Record(i, "h" + (i % 5), i))];
        byte[] final = TestEvents.BuildWindow(records, "{}", final: true);

        // The budget runs out while reading: the invocation fails whole (a window answer cannot be partial).
        await Assert.ThrowsAsync<BatchFailedException>(() => processor.ProcessAsync(final, clock.GetUtcNow() + TimeSpan.FromMilliseconds(2200), new ArrayBufferWriter<byte>()));

        // Lambda re-delivers the same batch with the same (previous) state.
        BatchSummary retry = await processor.ProcessAsync(final, clock.GetUtcNow() + TimeSpan.FromSeconds(60), new ArrayBufferWriter<byte>());

        Assert.Equal(BatchStopReason.None, retry.StopReason);
        Assert.Equal(
            records.Length,
            aggregates.Store.Values.Sum(v => v.Count));
        Assert.Equal(
            Enumerable.Range(1, 3000).Sum(i => (double)i),
            aggregates.Store.Values.Sum(v => v.Sum));
    }
}
