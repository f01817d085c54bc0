using System.Buffers;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// Valid samples are queued and applied in chunks between records, each chunk timed by two clock reads: the clock is
/// read per chunk of 256 queued samples, never per record, and never for an empty chunk. On a clock that moves one
/// step per read the aggregation time is therefore one step per chunk; the parse time is counted apart from it (the
/// two add up to no more than the invocation's, and the parse time is not 0).
/// </summary>
public class AggregationChunkTimingTests
{
    private static readonly DateTimeOffset s_now = DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival) + TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_step = TimeSpan.FromMilliseconds(1);

    [Theory]
    [InlineData(1, 0, 1)]
    [InlineData(255, 0, 1)]
    [InlineData(256, 0, 1)]
    [InlineData(257, 0, 2)]
    [InlineData(300, 5, 2)]
    [InlineData(512, 0, 2)]
    [InlineData(513, 0, 3)]
    [InlineData(0, 3, 0)]
    public async Task AggregationTime_IsOneStepPerChunkOf256Samples(int valid, int poison, int chunks)
    {
        // One sample per valid record: a chunk is applied once 256 are queued, and the rest after the last record.
        Assert.Equal((valid + 255) / 256, chunks);
        var clock = new SteppingTimeProvider(s_now, s_step);
        var sink = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });
        var records = new List<TestRecord>();
        for (int i = 1; i <= valid + poison; i++)
        {
            string data = i <= valid ? TestEvents.Sample("m", 1, TestEvents.Arrival - 1000) : "{not json";
            records.Add(new TestRecord(TestEvents.Seq(i), TestEvents.Utf8(data), TestEvents.Arrival));
        }

        byte[] evt = TestEvents.Build(records);
        long before = clock.GetTimestamp();
        BatchSummary summary = await processor.ProcessAsync(evt, s_now.AddHours(1), new ArrayBufferWriter<byte>());
        TimeSpan whole = clock.GetElapsedTime(before) - s_step;

        // The reading's time is split, not counted twice: parsing is what the reading took besides the aggregation.
        Assert.True(summary.ParseDuration + summary.AggregateDuration <= whole, $"{summary.ParseDuration} + {summary.AggregateDuration} > {whole}");
        Assert.True(summary.ParseDuration > TimeSpan.Zero);

        Assert.Equal(valid + poison, summary.RecordsProcessed);
        Assert.Equal(valid, summary.Samples);
        Assert.Equal(s_step * chunks, summary.AggregateDuration);
        if (valid > 0)
        {
            Assert.Equal(valid, Assert.Single(sink.Seen).Count);
        }
    }
}
