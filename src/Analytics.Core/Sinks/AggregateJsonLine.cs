using System.Text.Json;

namespace Analytics.Core;

/// <summary>
/// Writes one aggregate in the JSON-lines shape shared by the local sink and the tools:
/// <c>{"metric":"..","dimensions":{"k":"v"},"windowStart":"..Z","windowEnd":"..Z","count":3,"sum":6,"min":1,"max":3,"p50":2,"p90":3,"p95":3,"p99":3}</c>,
/// plus <c>"sumOverflowed":true</c> and <c>"quantilesCollapsed":true</c> only when they hold (see
/// <see cref="MetricAggregate.SumOverflowed"/> and <see cref="MetricAggregate.IsCollapsed"/>).
/// </summary>
/// <remarks>
/// Dimensions come sorted by key, times ISO-8601 UTC with <c>Z</c>. For names to appear unescaped (<c>café</c>, not
/// <c>café</c>), give the writer <see cref="System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping"/>,
/// as the sinks here do; the text is then meant for files and logs, not for embedding in HTML.
/// </remarks>
internal static class AggregateJsonLine
{
    /// <summary>Writes the aggregate as one JSON object (without the newline).</summary>
    /// <param name="writer">The destination.</param>
    /// <param name="key">The series.</param>
    /// <param name="windowStartMs">Window start, epoch milliseconds.</param>
    /// <param name="windowEndMs">Window end, epoch milliseconds.</param>
    /// <param name="aggregate">The aggregate.</param>
    public static void Write(Utf8JsonWriter writer, SeriesKey key, long windowStartMs, long windowEndMs, MetricAggregate aggregate)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(aggregate);
        writer.WriteStartObject();
        writer.WriteString("metric"u8, key.Metric);
        writer.WriteStartObject("dimensions"u8);
        foreach ((ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) in key.Dimensions)
        {
            writer.WriteString(name, value);
        }

        writer.WriteEndObject();
        WriteTime(writer, "windowStart"u8, windowStartMs);
        WriteTime(writer, "windowEnd"u8, windowEndMs);
        writer.WriteNumber("count"u8, aggregate.Count);
        writer.WriteNumber("sum"u8, aggregate.Sum);
        writer.WriteNumber("min"u8, aggregate.Min);
        writer.WriteNumber("max"u8, aggregate.Max);
        writer.WriteNumber("p50"u8, aggregate.GetQuantile(0.50));
        writer.WriteNumber("p90"u8, aggregate.GetQuantile(0.90));
        writer.WriteNumber("p95"u8, aggregate.GetQuantile(0.95));
        writer.WriteNumber("p99"u8, aggregate.GetQuantile(0.99));
        if (aggregate.SumOverflowed)
        {
            writer.WriteBoolean("sumOverflowed"u8, true);
        }

        if (aggregate.IsCollapsed)
        {
            writer.WriteBoolean("quantilesCollapsed"u8, true);
        }

        writer.WriteEndObject();
    }

    private static void WriteTime(Utf8JsonWriter writer, ReadOnlySpan<byte> name, long epochMs)
    {
        Span<char> text = stackalloc char[32];
        DateTimeOffset time = DateTimeOffset.FromUnixTimeMilliseconds(epochMs);
        string format = time.Millisecond == 0 ? "yyyy-MM-dd'T'HH:mm:ss'Z'" : "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
        time.UtcDateTime.TryFormat(text, out int written, format, System.Globalization.CultureInfo.InvariantCulture);
        writer.WriteString(name, text.Slice(0, written));
    }
}
