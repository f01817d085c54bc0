using System.Buffers;
using System.Text;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// The batch a sink gets from a tumbling-window flush: more pairs than the reused flush batch started with, twice on
/// one processor, and what its per-record members answer when there is no per-record log.
/// </summary>
public class WindowFlushBatchTests
{
    /// <summary>What a sink saw of one flush, read inside the call.</summary>
    private sealed record Flush(int Count, Dictionary<string, (long Count, double Sum)> Pairs, string[] Ranges, int[] KeyCounts, string[] Refusals, bool[] WholeAfterEmpty);

    private sealed class InspectingSink : IAggregateSink
    {
        public List<Flush> Flushes { get; } = [];

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            var pairs = new Dictionary<string, (long, double)>();
            var ranges = new HashSet<string>();
            var keyCounts = new int[batch.Count];
            var refusals = new List<string>();
            var whole = new bool[batch.Count];
            var destination = new MetricAggregate(batch.AggregatorOptions);
            for (int pair = 0; pair < batch.Count; pair++)
            {
                MetricAggregate a = batch.GetAggregate(pair);
                pairs.Add(batch.GetSeriesKey(pair).GetMetricString(), (a.Count, a.Sum));
                ranges.Add(Encoding.ASCII.GetString(batch.GetFirstSequenceNumber(pair)) + ".." + Encoding.ASCII.GetString(batch.GetLastSequenceNumber(pair)));
                keyCounts[pair] = batch.GetPartitionKeyCount(pair);
                refusals.Add(Refusal(() => batch.GetPartitionKey(pair, 0).Length));
                refusals.Add(Refusal(() => batch.TryGetAggregateAfter(pair, Array.Empty<string?>(), destination) ? 1 : 0));
                whole[pair] = batch.TryGetAggregateAfter(pair, ReadOnlySpan<byte>.Empty, destination) && destination.Count == a.Count && destination.Sum == a.Sum;
            }

            Flushes.Add(new Flush(batch.Count, pairs, [.. ranges], keyCounts, [.. refusals.Distinct()], whole));
            batch.MarkAllDurable();
            return Task.CompletedTask;
        }

        private static string Refusal(Func<int> call)
        {
            try
            {
                call();
                return "none";
            }
            catch (Exception e)
            {
                return e.GetType().Name;
            }
        }
    }

    private static TestRecord Record(int n, string metric, double value) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample(metric, value, TestEvents.Arrival - 1000)), TestEvents.Arrival);

    [Fact]
    public async Task FlushesOfManyPairs_OnOneProcessor_EachHasEveryPairWithTheWindowsRange()
    {
        var sink = new InspectingSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);

        // 200 series, then 300: both more than the 128 pairs the flush batch starts with, the second more than the first.
        foreach ((int first, int series) in new[] { (1, 200), (1001, 300) })
        {
            TestRecord[] records = [.. Enumerable.Range(0, series).Select(i => Record(first + i, "m" + i, i + 0.5))];
            var output = new ArrayBufferWriter<byte>();
            BatchSummary summary = await processor.ProcessAsync(TestEvents.BuildWindow(records, "{}", final: true), DateTimeOffset.UtcNow.AddSeconds(30), output);
            Assert.True(summary.Flushed);
            Assert.Equal(series, summary.AggregatesWritten);
        }

        Assert.Equal(2, sink.Flushes.Count);
        foreach ((Flush flush, int first, int series) in new[] { (sink.Flushes[0], 1, 200), (sink.Flushes[1], 1001, 300) })
        {
            Assert.Equal(series, flush.Count);
            Assert.Equal(Enumerable.Range(0, series).ToDictionary(i => "m" + i, i => (1L, i + 0.5)), flush.Pairs);
            // Every pair of a flush spans the window's records: the first and the last of the invocation.
            Assert.Equal([TestEvents.Seq(first) + ".." + TestEvents.Seq(first + series - 1)], flush.Ranges);
            // No per-record log: no partition keys, no split by key; the whole aggregate past an empty watermark.
            Assert.All(flush.KeyCounts, c => Assert.Equal(0, c));
            Assert.Equal(["ArgumentOutOfRangeException", "InvalidOperationException"], flush.Refusals);
            Assert.All(flush.WholeAfterEmpty, Assert.True);
        }
    }

    [Fact]
    public async Task StateOfExactlyMaxStateBytes_IsKept_OneByteMoreIsFlushed()
    {
        TestRecord[] records = [Record(1, "a", 1), Record(2, "b", 2), Record(3, "a", 3)];
        string key = ProcessorOptions.Default.StateKey;

        // The size of the state object these records make, as the response carries it (our entry in base64, its name,
        // quotes and the braces: found by mutation review, a bound on the base64 alone let a kept state pass Lambda's cap).
        var measure = new InspectingSink();
        using (var processor = new KinesisBatchProcessor(measure, new RecordingQuarantineSink(), ProcessorOptions.Default))
        {
            var output = new ArrayBufferWriter<byte>();
            await processor.ProcessAsync(TestEvents.BuildWindow(records, "{}"), DateTimeOffset.UtcNow.AddSeconds(30), output);
            using var response = System.Text.Json.JsonDocument.Parse(output.WrittenMemory);
            int size = System.Text.Encoding.UTF8.GetByteCount(response.RootElement.GetProperty("state").GetRawText());
            Assert.Equal(response.RootElement.GetProperty("state").GetProperty(key).GetString()!.Length + key.Length + 7, size);
            Assert.Empty(measure.Flushes);

            foreach ((int maxStateBytes, bool flushed) in new[] { (size, false), (size - 1, true) })
            {
                var sink = new InspectingSink();
                using var bounded = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { MaxStateBytes = maxStateBytes });
                BatchSummary summary = await bounded.ProcessAsync(TestEvents.BuildWindow(records, "{}"), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
                Assert.Equal(flushed, summary.Flushed);
                Assert.Equal(flushed ? 1 : 0, sink.Flushes.Count);
            }

            // Entries of others pass through in the same state and count against the same cap: 1,000 bytes of another
            // entry and our entry are over a bound 500 bytes above ours alone (before, only ours was counted), and
            // under one 2,000 bytes above it.
            string others = "{\"other\":\"" + new string('x', 1000) + "\"}";
            foreach ((int maxStateBytes, bool flushed) in new[] { (size + 500, true), (size + 2000, false) })
            {
                var sink = new InspectingSink();
                using var bounded = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { MaxStateBytes = maxStateBytes });
                BatchSummary summary = await bounded.ProcessAsync(TestEvents.BuildWindow(records, others), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
                Assert.Equal(flushed, summary.Flushed);
            }
        }
    }
}
