using Xunit.Abstractions;

namespace Analytics.Core.Tests.Aggregation;

/// <summary>
/// Measures the figures in docs/aggregation.md (serialized sizes, memory per pair) and holds them to the limits
/// that matter: a DynamoDB item (400 KB) and tumbling-window state (1 MB per shard).
/// </summary>
/// <remarks>
/// Retained memory is measured process-wide (<see cref="GC.GetTotalMemory(bool)"/>), so these tests run alone:
/// any test running beside them would count its own allocations.
/// </remarks>
[Collection(ProcessWideMemoryCollection.Name)]
public class AggregationSizeTests(ITestOutputHelper output)
{
    private const int DynamoDbItemLimit = 400 * 1024;
    private const int WindowStateLimit = 1024 * 1024;

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(100)]
    [InlineData(1_000)]
    [InlineData(100_000)]
    public void WriteTo_LatencyAggregate_SizeFitsAnItem(int samples)
    {
        // Lognormal latencies (median ~20 ms) with 1 % outliers up to 60 s: the "latency-with-outliers" stream.
        MetricAggregate aggregate = MetricAggregateTests.Aggregate(AggregatorOptions.Default, SampleData.Values(17, 6, samples));
        int size = MetricAggregateTests.Serialize(aggregate).Length;
        int bins = aggregate.Sketch.Positive.CountNonEmptyBins() + aggregate.Sketch.Negative.CountNonEmptyBins();
        output.WriteLine($"samples={samples} bins={bins} bytes={size}");
        Assert.InRange(size, 1, DynamoDbItemLimit);
    }

    [Theory]
    [InlineData(10_000, 1, 1)]
    [InlineData(10_000, 1, 10)]
    [InlineData(2_000, 5, 50)]
    [InlineData(1_000, 1, 1_000)]
    public void WriteTo_AggregatorState_SizePerPair(int series, int windows, int samplesPerPair)
    {
        var aggregator = new MetricAggregator(AggregatorOptions.Default with { MaxPairs = series * windows });
        byte[][] keys = [.. Enumerable.Range(0, series).Select(i => MetricAggregatorTests.SeriesKey_Encode(
            "http.server.duration", ("service", "checkout"), ("host", "ip-10-0-" + (i % 250) + "-" + (i / 250)), ("route", "/api/v1/items/" + (i % 40))))];
        double[] values = SampleData.Values(3, 6, samplesPerPair);
        long t0 = 1_737_367_200_000;
        for (int s = 0; s < series; s++)
        {
            for (int w = 0; w < windows; w++)
            {
                foreach (double v in values)
                {
                    Assert.True(aggregator.TryAdd(MetricAggregatorTests.SeriesKey(keys[s]), t0 + (w * 60_000), v * (1 + (s % 7))));
                }
            }
        }

        int size = MetricAggregatorTests.Serialize(aggregator).Length;
        output.WriteLine($"series={series} windows={windows} samples/pair={samplesPerPair} keyBytes={keys[0].Length} pairs={aggregator.PairCount} bytes={size} bytes/pair={size / (double)aggregator.PairCount:F1}");
        if (samplesPerPair <= 10)
        {
            Assert.True(size < WindowStateLimit, $"{size} bytes");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(100)]
    [InlineData(1_000)]
    public void TryAdd_NewPairs_MemoryPerPair(int samplesPerPair)
    {
        const int pairs = 5_000;
        byte[][] keys = [.. Enumerable.Range(0, pairs).Select(i => MetricAggregatorTests.SeriesKey_Encode(
            "http.server.duration", ("service", "checkout"), ("host", "ip-10-0-" + (i % 250) + "-" + (i / 250)), ("route", "/api/v1/items/" + (i % 40))))];
        double[] values = SampleData.Values(5, 6, samplesPerPair);

        long retainedBefore = GC.GetTotalMemory(forceFullCollection: true);
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var aggregator = new MetricAggregator(AggregatorOptions.Default);
        for (int p = 0; p < pairs; p++)
        {
            foreach (double v in values)
            {
                Assert.True(aggregator.TryAdd(MetricAggregatorTests.SeriesKey(keys[p]), 1_737_367_200_000, v));
            }
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        long retained = GC.GetTotalMemory(forceFullCollection: true) - retainedBefore;
        GC.KeepAlive(aggregator);
        long binBytes = Enumerable.Range(0, pairs).Sum(p => (long)aggregator.GetAggregate(p).Sketch.BinArrayBytes);
        output.WriteLine($"samples/pair={samplesPerPair} keyBytes={keys[0].Length} retained/pair={retained / (double)pairs:F0} allocated/pair={allocated / (double)pairs:F0} binArrays/pair={binBytes / (double)pairs:F0}");

        // Fixed part per pair (entries, aggregate, sketch, smallest bin array) plus the key and the bins in use.
        Assert.InRange(retained / (double)pairs, 1, 600 + keys[0].Length + (binBytes / (double)pairs));
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideMemoryCollection
{
    public const string Name = "Process-wide memory measurements";
}
