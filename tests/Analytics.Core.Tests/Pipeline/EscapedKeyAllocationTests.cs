using System.Buffers;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// The promise of the processor's escaped-key buffer: a producer's JSON-escaped partition keys are unescaped into one
/// reused buffer, so they cost no allocation per record, whatever the order of their lengths. Allocation is
/// deterministic, so it is compared exactly between runs that differ only in what is pinned.
/// </summary>
public class EscapedKeyAllocationTests
{
    private static readonly DateTimeOffset s_now = DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival) + TimeSpan.FromSeconds(60);

    /// <summary>An event whose records carry the given keys; Utf8JsonWriter escapes each "é" as \u00E9 (6 bytes).</summary>
    private static byte[] Event(IEnumerable<string> keys) =>
        TestEvents.Build(keys.Select((key, i) => new TestRecord(TestEvents.Seq(i + 1), TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival, key)));

    private static KinesisBatchProcessor NewProcessor() =>
        new(new SynchronousSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = new FrozenClock(s_now) });

    /// <summary>Bytes allocated on this thread by one invocation (the sinks complete synchronously, so it all runs here).</summary>
    private static long Allocated(KinesisBatchProcessor processor, byte[] evt, ArrayBufferWriter<byte> response)
    {
        response.ResetWrittenCount();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Task<BatchSummary> run = processor.ProcessAsync(evt, s_now.AddMinutes(1), response);
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.True(run.IsCompletedSuccessfully, "the invocation must complete synchronously to be measured on this thread");
        Assert.Null(run.Result.ReportedFailure);
        return after - before;
    }

    [Fact]
    public void ShortEscapedKeys_CostNoAllocationPerRecord()
    {
        using KinesisBatchProcessor processor = NewProcessor();
        var response = new ArrayBufferWriter<byte>();
        byte[] one = Event(["ké0"]);
        byte[] many = Event(Enumerable.Range(0, 40).Select(i => "ké" + (i % 4)));

        for (int warm = 0; warm < 3; warm++)
        {
            Allocated(processor, many, response);
            Allocated(processor, one, response);
        }

        // The fewest of three invocations each: the runtime may allocate on the thread now and then on a loaded machine.
        long forOne = Enumerable.Range(0, 3).Min(_ => Allocated(processor, one, response));
        long forMany = Enumerable.Range(0, 3).Min(_ => Allocated(processor, many, response));

        Assert.Equal(forOne, forMany);
    }

    [Fact]
    public void LongEscapedKeys_InRisingLength_CostNoMoreThanTheSameKeysLongestFirst()
    {
        // Escaped lengths 300 to 339 bytes: longer than the buffer's first size, shorter than twice it.
        string[] rising = [.. Enumerable.Range(0, 40).Select(i => new string('é', 50) + new string('a', i))];
        string[] falling = [.. rising.Reverse()];
        var response = new ArrayBufferWriter<byte>();
        using (KinesisBatchProcessor warm = NewProcessor())
        {
            Allocated(warm, Event(rising), response);
            Allocated(warm, Event(falling), response);
        }

        byte[] risingEvent = Event(rising);
        byte[] fallingEvent = Event(falling);
        using KinesisBatchProcessor first = NewProcessor();
        using KinesisBatchProcessor second = NewProcessor();

        long forFalling = Allocated(second, fallingEvent, response);
        long forRising = Allocated(first, risingEvent, response);

        Assert.Equal(forFalling, forRising);
    }
}
