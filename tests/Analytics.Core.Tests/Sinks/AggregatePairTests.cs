using System.Buffers;
using System.Text;
using System.Text.Json;
using Analytics.Core.Tests.Pipeline;
using FsCheck.Xunit;

namespace Analytics.Core.Tests.Sinks;

/// <summary>The plain view of a pair that a custom sink reads, and what the pipeline says when a sink marks nothing.</summary>
public class AggregatePairTests
{
    private static readonly TimeSpan s_window = TimeSpan.FromMinutes(5);

    /// <summary>A custom sink written the way a consumer writes one: async, awaiting between pairs, strings only.</summary>
    private sealed class CopyingSink(bool markAll) : IAggregateSink
    {
        public List<AggregatePair> Pairs { get; } = [];

        public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            foreach (AggregatePair pair in batch.GetPairs())
            {
                await Task.Yield();
                Pairs.Add(pair);
            }

            if (markAll)
            {
                batch.MarkAllDurable();
            }
        }
    }

    private sealed class ThrowingSink : IAggregateSink
    {
        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("secret-payload-text");
    }

    private sealed record Input(string Metric, string Host, double Value, long TimestampMs);

    private static List<Input> Inputs(int seed, int count)
    {
        var random = new Random(seed);
        var inputs = new List<Input>();
        for (int i = 0; i < count; i++)
        {
            // Values from 0.001 to 1e6, both signs, a few series, timestamps spread over three 5-minute windows.
            double value = Math.Round(Math.Pow(10, (random.NextDouble() * 9) - 3) * (random.Next(4) == 0 ? -1 : 1), 6);
            inputs.Add(new Input("m" + random.Next(3), "h" + random.Next(2), value, TestEvents.Arrival - 1000 - random.Next(0, 14 * 60_000)));
        }

        return inputs;
    }

    private static byte[] Event(List<Input> inputs) =>
        TestEvents.Build(inputs.Select((s, i) => new TestRecord(TestEvents.Seq(i + 1), TestEvents.Utf8(TestEvents.Sample(s.Metric, s.Value, s.TimestampMs, ("host", s.Host), ("az", "a"))), TestEvents.Arrival)));

    private static ProcessorOptions Options => ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { WindowSize = s_window } };

    [Property(MaxTest = 40)]
    public void GetPairs_MatchesTheSamplesOfEachSeriesAndWindow(int seed, byte size)
    {
        List<Input> inputs = Inputs(seed, 1 + (size % 120));
        var sink = new CopyingSink(markAll: true);
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), Options);
        var response = new ArrayBufferWriter<byte>();
        processor.ProcessAsync(Event(inputs), DateTimeOffset.UtcNow.AddSeconds(30), response).GetAwaiter().GetResult();

        Assert.Equal("{\"batchItemFailures\":[]}", Encoding.UTF8.GetString(response.WrittenSpan));
        long windowMs = (long)s_window.TotalMilliseconds;
        var expected = inputs.GroupBy(s => (s.Metric, s.Host, Start: s.TimestampMs / windowMs * windowMs)).ToDictionary(g => g.Key, g => g.Select(s => s.Value).Order().ToArray());
        Assert.Equal(expected.Count, sink.Pairs.Count);
        Assert.Equal(Enumerable.Range(0, expected.Count), sink.Pairs.Select(p => p.Index));
        foreach (AggregatePair pair in sink.Pairs)
        {
            Assert.Equal([new("az", "a"), new("host", pair.Dimensions[1].Value)], pair.Dimensions);
            double[] values = expected[(pair.Metric, pair.Dimensions[1].Value, pair.WindowStart.ToUnixTimeMilliseconds())];
            Assert.Equal(pair.WindowStart + s_window, pair.WindowEnd);
            Assert.Equal(TimeSpan.Zero, pair.WindowStart.Offset);
            Assert.Equal(values.Length, pair.Count);
            Assert.Equal(values.Sum(), pair.Sum, 1e-6);
            Assert.Equal(values[0], pair.Min);
            Assert.Equal(values[^1], pair.Max);
            foreach (double q in new[] { 0.0, 0.5, 0.9, 0.99, 1.0 })
            {
                // The documented rank rule: the value of rank floor(q * (n - 1)), within 1% relative error.
                double exact = values[(int)Math.Floor(q * (values.Length - 1))];
                Assert.InRange(pair.GetQuantile(q), exact - (Math.Abs(exact) * 0.0101), exact + (Math.Abs(exact) * 0.0101));
            }
        }
    }

    [Fact]
    public async Task Pairs_StayValidAfterTheBatchIsReused()
    {
        var sink = new CopyingSink(markAll: true);
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), Options);
        await processor.ProcessAsync(TestEvents.Single(TestEvents.Utf8(TestEvents.Sample("first", 7, TestEvents.Arrival - 1000, ("k", "v"))), TestEvents.Arrival), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        AggregatePair kept = Assert.Single(sink.Pairs);
        await processor.ProcessAsync(TestEvents.Single(TestEvents.Utf8(TestEvents.Sample("second", 99, TestEvents.Arrival - 1000)), TestEvents.Arrival), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());

        Assert.Equal(2, sink.Pairs.Count);
        Assert.Equal("first", kept.Metric);
        Assert.Equal([new("k", "v")], kept.Dimensions);
        Assert.Equal(1, kept.Count);
        Assert.Equal(7, kept.Sum);
        Assert.Equal("second", sink.Pairs[1].Metric);
        Assert.Empty(sink.Pairs[1].Dimensions);
    }

    [Fact]
    public async Task SmallSample_P99FollowsTheRankRule_AsDocumented()
    {
        // docs/aggregation.md: p99 of {80, 123, 250} has rank floor(0.99 * 2) = 1, so it is 123, not 250.
        var sink = new CopyingSink(markAll: true);
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), Options);
        byte[] utf8Event = TestEvents.Build(new[] { 250.0, 80, 123 }.Select((v, i) => new TestRecord(TestEvents.Seq(i + 1), TestEvents.Utf8(TestEvents.Sample("latency", v, TestEvents.Arrival - 1000)), TestEvents.Arrival)));
        await processor.ProcessAsync(utf8Event, DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());

        AggregatePair pair = Assert.Single(sink.Pairs);
        Assert.InRange(pair.GetQuantile(0.99), 123 * 0.99, 123 * 1.01);
        Assert.InRange(pair.GetQuantile(0.5), 123 * 0.99, 123 * 1.01);
        Assert.Equal(250, pair.GetQuantile(1));
    }

    [Fact]
    public async Task GetPair_OutOfRange_Throws()
    {
        Exception? thrown = null;
        var sink = new DelegateSink(batch =>
        {
            thrown = Record.Exception(() => batch.GetPair(batch.Count));
            Assert.Throws<ArgumentOutOfRangeException>(() => batch.GetPair(-1));
            Assert.Equal(batch.GetSeriesKey(0).GetMetricString(), batch.GetPair(0).Metric);
            batch.MarkAllDurable();
        });
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), Options);
        await processor.ProcessAsync(TestEvents.Single(TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        Assert.IsType<ArgumentOutOfRangeException>(thrown);
    }

    [Fact]
    public async Task SinkThatMarksNothing_ReportsTheFirstRecord_AndTheLogSaysWhy()
    {
        List<Input> inputs = Inputs(5, 20);
        using var processor = new KinesisBatchProcessor(new CopyingSink(markAll: false), new RecordingQuarantineSink(), Options);
        var response = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(Event(inputs), DateTimeOffset.UtcNow.AddSeconds(30), response);

        Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
        JsonElement line = InvocationLine(summary);
        Assert.Equal("Warn", line.GetProperty("level").GetString());
        string issue = line.GetProperty("aggregateSinkIssue").GetString()!;
        Assert.Contains("returned without marking any pair durable", issue, StringComparison.Ordinal);
        Assert.Contains("MarkAllDurable", issue, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SinkThatThrows_LogsTheExceptionTypeButNotItsMessage()
    {
        using var processor = new KinesisBatchProcessor(new ThrowingSink(), new RecordingQuarantineSink(), Options);
        BatchSummary summary = await processor.ProcessAsync(Event(Inputs(6, 3)), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());

        string issue = InvocationLine(summary).GetProperty("aggregateSinkIssue").GetString()!;
        Assert.Contains("threw InvalidOperationException", issue, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-payload-text", issue, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SinkThatMarksEverything_HasNoIssue()
    {
        using var processor = new KinesisBatchProcessor(new CopyingSink(markAll: true), new RecordingQuarantineSink(), Options);
        BatchSummary summary = await processor.ProcessAsync(Event(Inputs(7, 30)), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());

        Assert.Null(summary.AggregateSinkIssue);
        JsonElement line = InvocationLine(summary);
        Assert.Equal("Info", line.GetProperty("level").GetString());
        Assert.False(line.TryGetProperty("aggregateSinkIssue", out _));
    }

    private static JsonElement InvocationLine(BatchSummary summary)
    {
        var lines = new ArrayBufferWriter<byte>();
        JsonLog.WriteInvocation(summary, JsonLogOptions.Default, lines);
        string first = Encoding.UTF8.GetString(lines.WrittenSpan).Split('\n')[0];
        return JsonDocument.Parse(first).RootElement.Clone();
    }

    private sealed class DelegateSink(Action<AggregateBatch> write) : IAggregateSink
    {
        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            write(batch);
            return Task.CompletedTask;
        }
    }
}
