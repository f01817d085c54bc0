using System.Text;

namespace Analytics.Core.Tests;

/// <summary>The window bounds and decoded pairs a sink reads, and records registered once when processed again.</summary>
public class AggregateBatchPairViewTests
{
    private const long Noon = 1_714_564_800_000; // 2024-05-01T12:00:00Z, a boundary of 5-minute windows

    [Fact]
    public void WindowEnd_IsTheStartPlusTheWindowSize()
    {
        // 5-minute windows: 12:07 is in [12:05, 12:10), 11:59:59.999 in [11:55, 12:00).
        var options = AggregatorOptions.Default with { WindowSize = TimeSpan.FromMinutes(5) };
        AggregateBatch batch = ShardStream.Build("shardId-000000000000",
        [
            new(BatchModel.Seq(0), [new TestSample("m", [], Noon + (7 * 60_000), 1)]),
            new(BatchModel.Seq(1), [new TestSample("m", [], Noon - 1, 1)]),
        ], options);
        Assert.Equal((Noon + 300_000, Noon + 600_000), (batch.GetWindowStartMs(0), batch.GetWindowEndMs(0)));
        Assert.Equal((Noon - 300_000, Noon), (batch.GetWindowStartMs(1), batch.GetWindowEndMs(1)));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(Noon + 600_000), batch.GetPair(0).WindowEnd);
    }

    [Fact]
    public void GetPairs_WindowsOfOneSeries_ShareTheSeriesStrings()
    {
        // Documented: the strings of a series are shared by its windows (a sink of many windows holds them once).
        KeyValuePair<string, string>[] dims = [new("region", "eu-west-1"), new("host", "h1")];
        AggregateBatch batch = ShardStream.Build("shardId-000000000000",
        [
            new(BatchModel.Seq(0), [new TestSample("latency", dims, Noon, 1), new TestSample("other", [], Noon, 2)]),
            new(BatchModel.Seq(1), [new TestSample("latency", dims, Noon + 60_000, 3), new TestSample("latency", dims, Noon + 120_000, 4)]),
        ]);
        IReadOnlyList<AggregatePair> pairs = batch.GetPairs();
        AggregatePair[] latency = [.. pairs.Where(p => p.Metric == "latency")];
        Assert.Equal(3, latency.Length);
        Assert.Equal(dims.OrderBy(d => d.Key, StringComparer.Ordinal), latency[0].Dimensions.OrderBy(d => d.Key, StringComparer.Ordinal));
        Assert.All(latency, p => Assert.Same(latency[0].Metric, p.Metric));
        Assert.All(latency, p => Assert.Same(latency[0].Dimensions, p.Dimensions));
        Assert.Equal([1.0, 3.0, 4.0], latency.Select(p => p.Sum));
    }

    [Fact]
    public void AddRecordOnce_TheRecordJustAdded_IsTheSameRecord()
    {
        // The pipeline processes a record again after lifting the pair cap in a tumbling-window invocation.
        var batch = new AggregateBatch(AggregatorOptions.Default);
        batch.Reset(hasSampleLog: true);
        byte[] first = Encoding.ASCII.GetBytes(BatchModel.Seq(0));
        byte[] second = Encoding.ASCII.GetBytes(BatchModel.Seq(1));
        Assert.Equal(0, batch.AddRecordOnce(first, "a"u8));
        Assert.Equal(0, batch.AddRecordOnce(first, "a"u8));
        Assert.Equal(1, batch.AddRecordOnce(second, "a"u8));
        Assert.Equal(1, batch.AddRecordOnce(second, "a"u8));
        Assert.Equal(2, batch.RecordCount);
    }
}
