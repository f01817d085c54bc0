namespace Analytics.Core;

/// <summary>
/// One (series, window) pair of an <see cref="AggregateBatch"/>, decoded for a sink: the metric and dimensions as
/// strings, the window, count, sum, min, max and quantiles.
/// </summary>
/// <remarks>
/// An ordinary class: it owns its strings and a copy of the aggregate, so it may be kept across <c>await</c> and after
/// the batch is reused. Get it from <see cref="AggregateBatch.GetPair(int)"/> or <see cref="AggregateBatch.GetPairs"/>.
/// </remarks>
public sealed class AggregatePair
{
    private readonly MetricAggregate _aggregate;

    internal AggregatePair(int index, string metric, IReadOnlyList<KeyValuePair<string, string>> dimensions, DateTimeOffset windowStart, DateTimeOffset windowEnd, MetricAggregate aggregate)
    {
        Index = index;
        Metric = metric;
        Dimensions = dimensions;
        WindowStart = windowStart;
        WindowEnd = windowEnd;
        _aggregate = aggregate;
    }

    /// <summary>The pair's index in its batch: pass it to <see cref="AggregateBatch.MarkDurable(int)"/>.</summary>
    public int Index { get; }

    /// <summary>The metric name.</summary>
    public string Metric { get; }

    /// <summary>The dimensions, sorted by key (ordinal order of the keys' UTF-8 bytes); empty when the series has none.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Dimensions { get; }

    /// <summary>Start of the window (inclusive), UTC.</summary>
    public DateTimeOffset WindowStart { get; }

    /// <summary>End of the window (exclusive), UTC.</summary>
    public DateTimeOffset WindowEnd { get; }

    /// <summary>Number of samples.</summary>
    public long Count => _aggregate.Count;

    /// <summary>Sum of the samples.</summary>
    public double Sum => _aggregate.Sum;

    /// <summary>Smallest sample.</summary>
    public double Min => _aggregate.Min;

    /// <summary>Largest sample.</summary>
    public double Max => _aggregate.Max;

    /// <summary>Whether the sum overflowed and saturated at ±<see cref="double.MaxValue"/> (see <see cref="MetricAggregate.SumOverflowed"/>).</summary>
    public bool SumOverflowed => _aggregate.SumOverflowed;

    /// <summary>Whether the quantile sketch collapsed its lowest bins, so low quantiles are no longer within the stated error (see <see cref="MetricAggregate.IsCollapsed"/>).</summary>
    public bool IsCollapsed => _aggregate.IsCollapsed;

    /// <summary>
    /// The aggregate behind the figures (a copy owned by this pair): its sketch for other quantiles, or its binary form
    /// (<see cref="MetricAggregate.WriteTo"/>) to merge later.
    /// </summary>
    public MetricAggregate Aggregate => _aggregate;

    /// <summary>Estimates a quantile within the sketch's relative accuracy (see the rank rule in docs/aggregation.md).</summary>
    /// <param name="q">The quantile, 0 to 1 (0.5 for the median, 0.99 for p99).</param>
    /// <returns>The estimate.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="q"/> is not between 0 and 1.</exception>
    public double GetQuantile(double q) => _aggregate.GetQuantile(q);
}
