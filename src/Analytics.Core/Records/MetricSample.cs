namespace Analytics.Core;

/// <summary>One metric sample read from a record.</summary>
/// <remarks>
/// <see cref="Key"/> points into the parser's scratch buffer: it is valid until the parser reads the next sample.
/// </remarks>
internal readonly ref struct MetricSample
{
    internal MetricSample(ReadOnlySpan<byte> key, double value, long timestampMs)
    {
        Key = SeriesKey.FromTrusted(key);
        Value = value;
        TimestampMs = timestampMs;
    }

    /// <summary>The series: metric name and dimensions, unescaped and in canonical order.</summary>
    public SeriesKey Key { get; }

    /// <summary>The value, always finite.</summary>
    public double Value { get; }

    /// <summary>The event time, epoch milliseconds.</summary>
    public long TimestampMs { get; }
}
