namespace Analytics.Core;

/// <summary>The summary of one (series, window) pair, decoded for output: names, window bounds and statistics.</summary>
/// <remarks>
/// Produced by <see cref="MetricAggregator.GetSnapshots"/>; owns its strings and stays valid after the aggregator is
/// reused. Internal: sinks read <see cref="AggregatePair"/> from <see cref="AggregateBatch.GetPairs"/>.
/// </remarks>
internal sealed class AggregateSnapshot
{
    internal AggregateSnapshot(
        string metric,
        IReadOnlyList<KeyValuePair<string, string>> dimensions,
        DateTimeOffset windowStart,
        DateTimeOffset windowEnd,
        MetricAggregate aggregate)
    {
        Metric = metric;
        Dimensions = dimensions;
        WindowStart = windowStart;
        WindowEnd = windowEnd;
        Count = aggregate.Count;
        Sum = aggregate.Sum;
        Min = aggregate.Min;
        Max = aggregate.Max;
        P50 = aggregate.GetQuantile(0.50);
        P90 = aggregate.GetQuantile(0.90);
        P95 = aggregate.GetQuantile(0.95);
        P99 = aggregate.GetQuantile(0.99);
        SumOverflowed = aggregate.SumOverflowed;
        IsCollapsed = aggregate.IsCollapsed;
    }

    /// <summary>The metric name.</summary>
    public string Metric { get; }

    /// <summary>The dimensions, sorted by key (ordinal order of the keys' UTF-8 bytes).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Dimensions { get; }

    /// <summary>Start of the window (inclusive).</summary>
    public DateTimeOffset WindowStart { get; }

    /// <summary>End of the window (exclusive).</summary>
    public DateTimeOffset WindowEnd { get; }

    /// <summary>Number of samples.</summary>
    public long Count { get; }

    /// <summary>Sum of the samples; always finite (see <see cref="SumOverflowed"/>).</summary>
    public double Sum { get; }

    /// <summary>Whether the sum passed the range of a double (<see cref="MetricAggregate.SumOverflowed"/>): <see cref="Sum"/> then only says its sign.</summary>
    public bool SumOverflowed { get; }

    /// <summary>
    /// Whether the sketch collapsed its lowest bins (<see cref="QuantileSketch.IsCollapsed"/>): quantiles that fall
    /// on the lowest magnitudes may then be off by more than the relative accuracy.
    /// </summary>
    public bool IsCollapsed { get; }

    /// <summary>Smallest sample.</summary>
    public double Min { get; }

    /// <summary>Largest sample.</summary>
    public double Max { get; }

    /// <summary>Estimated median (within the sketch's relative accuracy).</summary>
    public double P50 { get; }

    /// <summary>Estimated 90th percentile.</summary>
    public double P90 { get; }

    /// <summary>Estimated 95th percentile.</summary>
    public double P95 { get; }

    /// <summary>Estimated 99th percentile.</summary>
    public double P99 { get; }
}
