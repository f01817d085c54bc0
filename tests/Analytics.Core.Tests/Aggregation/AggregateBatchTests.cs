using System.Buffers;
using System.Text;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests.Sinks;

public class AggregateBatchTests
{
    /// <summary>Captures, for every pair and every watermark, what TryGetAggregateAfter returns.</summary>
    private sealed class WatermarkProbe(string[] watermarks) : IAggregateSink
    {
        public Dictionary<(string Metric, string Watermark), (bool Any, long Count, double Sum)> Seen { get; } = [];

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            var scratch = new MetricAggregate(AggregatorOptions.Default);
            for (int pair = 0; pair < batch.Count; pair++)
            {
                foreach (string w in watermarks)
                {
                    bool any = batch.TryGetAggregateAfter(pair, Encoding.ASCII.GetBytes(w), scratch);
                    Seen[(batch.GetSeriesKey(pair).GetMetricString(), w)] = (any, scratch.Count, scratch.Sum);
                }

                batch.MarkDurable(pair);
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>A sink that marks the pairs <paramref name="marks"/> names and keeps what each mark threw.</summary>
    private sealed class MarkingSink(int[] marks) : IAggregateSink
    {
        public List<Exception?> Thrown { get; } = [];

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            foreach (int pair in marks)
            {
                Exception? thrown = Record.Exception(() => batch.MarkDurable(pair < 0 ? pair : pair == int.MaxValue ? batch.Count : pair));
                Thrown.Add(thrown);
            }

            return Task.CompletedTask;
        }
    }

    // Found by review (a custom sink's author): MarkDurable took an index past Count without a word (the pooled array is
    // larger), and one below 0 threw IndexOutOfRangeException; GetPair refused both with ArgumentOutOfRangeException.
    [Fact]
    public async Task MarkDurable_RefusesAnIndexThatIsNotAPair_AsGetPairDoes()
    {
        var sink = new MarkingSink([-1, int.MaxValue, 0]);
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        await processor.ProcessAsync(
            TestEvents.Build([new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival)]),
            DateTimeOffset.UtcNow.AddSeconds(30),
            new ArrayBufferWriter<byte>());
        Assert.IsType<ArgumentOutOfRangeException>(sink.Thrown[0]);
        Assert.IsType<ArgumentOutOfRangeException>(sink.Thrown[1]);
        Assert.Null(sink.Thrown[2]);
    }

    [Fact]
    public async Task TryGetAggregateAfter_CountsOnlyRecordsPastTheWatermark()
    {
        // 60 records over 3 metrics; record i carries value i, and every third record is poison.
        var random = new Random(11);
        var records = new List<TestRecord>();
        var contributions = new List<(int Record, string Metric, double Value)>();
        for (int i = 1; i <= 60; i++)
        {
            if (i % 3 == 0)
            {
                records.Add(new TestRecord(TestEvents.Seq(i), TestEvents.Utf8("{oops"), TestEvents.Arrival));
                continue;
            }

            string metric = "m" + random.Next(3);
            records.Add(new TestRecord(TestEvents.Seq(i), TestEvents.Utf8(TestEvents.Sample(metric, i, TestEvents.Arrival - 1000)), TestEvents.Arrival));
            contributions.Add((i, metric, i));
        }

        string[] watermarks = [TestEvents.Seq(0), TestEvents.Seq(1), TestEvents.Seq(3), TestEvents.Seq(29), TestEvents.Seq(30), TestEvents.Seq(59), TestEvents.Seq(60), TestEvents.Seq(99)];
        var probe = new WatermarkProbe(watermarks);
        using var processor = new KinesisBatchProcessor(probe, new RecordingQuarantineSink(), ProcessorOptions.Default);
        await processor.ProcessAsync(TestEvents.Build(records), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());

        foreach (string metric in new[] { "m0", "m1", "m2" })
        {
            foreach (string w in watermarks)
            {
                int after = int.Parse(w[^7..], System.Globalization.CultureInfo.InvariantCulture);
                var expected = contributions.Where(c => c.Metric == metric && c.Record > after).ToList();
                (bool any, long count, double sum) = probe.Seen[(metric, w)];
                Assert.Equal(expected.Count > 0, any);
                Assert.Equal(expected.Count, count);
                Assert.Equal(expected.Sum(c => c.Value), sum);
            }
        }
    }
}
