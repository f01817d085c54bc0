using System.Globalization;

namespace Analytics.Core;

/// <summary>
/// The parser's poison messages for one schema, built once with the configured field names, so a detail names the
/// field the producer wrote (<c>'tags' is not an object</c>) and the parser still allocates nothing per error.
/// </summary>
internal sealed class ParserMessages
{
    public ParserMessages(MetricParserOptions o)
    {
        string m = Quote(o.MetricField), v = Quote(o.ValueField), t = Quote(o.TimestampField), d = Quote(o.DimensionsField);
        MetricNotString = $"the metric name {m} is not a string";
        MetricLoneSurrogate = $"the metric name {m} escapes a lone surrogate";
        MetricEmpty = $"the metric name {m} is empty";
        MetricTooLong = $"the metric name {m} is longer than 255 bytes";
        MetricNotVisible = $"the metric name {m} holds only white space and control characters";
        MetricMissing = $"the sample has no metric name {m}";
        MetricTwice = $"the sample names the metric name {m} twice";

        ValueOverflow = $"the value {v} overflows a double";
        ValueNotFinite = $"the value {v} is not finite";
        ValueNotNumber = $"the value {v} is not a JSON number";
        ValueMissing = $"the sample has no value {v}";
        ValueTwice = $"the sample names the value {v} twice";

        TimestampNotEpochMs = $"the timestamp {t} is not epoch milliseconds between 1970 and 9999";
        TimestampNotEpochMsMicros = TimestampNotEpochMs + "; it looks like epoch microseconds or nanoseconds, and milliseconds are expected";
        TimestampNoZone = $"the timestamp {t} has no time zone (Z or +hh:mm)";
        TimestampMalformed = $"the timestamp {t} is not an RFC 3339 date-time (yyyy-mm-ddThh:mm:ss.fffZ or +hh:mm)";
        TimestampOutOfRange = $"the timestamp {t} has a date, time or offset out of range";
        TimestampBefore1970 = $"the timestamp {t} lies before 1970";
        TimestampAfter9999 = $"the timestamp {t} lies after 9999";
        TimestampWrongType = $"the timestamp {t} is neither a number nor a string";
        TimestampInFuture = $"the timestamp {t} lies more than {Span(o.MaxFutureSkew)} after the record's arrival";
        TimestampTooOld = $"the timestamp {t} lies more than {Span(o.MaxAge)} before the record's arrival";
        TimestampTooOldSeconds = TimestampTooOld + "; it looks like epoch seconds, and milliseconds are expected";
        TimestampMissing = $"the sample has no timestamp {t}";
        TimestampTwice = $"the sample names the timestamp {t} twice";

        DimensionsNotObject = $"the dimensions {d} are not an object";
        DimensionsTooMany = $"the dimensions {d} hold more than 30 entries";
        DimensionKeyEmpty = $"a key of the dimensions {d} is empty";
        DimensionKeyTooLong = $"a key of the dimensions {d} is longer than 255 bytes";
        DimensionKeyLoneSurrogate = $"a key of the dimensions {d} escapes a lone surrogate";
        DimensionKeyRepeats = $"a key of the dimensions {d} repeats";
        DimensionValueNotString = $"a value of the dimensions {d} is not a string";
        DimensionValueTooLong = $"a value of the dimensions {d} is longer than 1024 bytes";
        DimensionValueLoneSurrogate = $"a value of the dimensions {d} escapes a lone surrogate";
        DimensionsTwice = $"the sample names the dimensions {d} twice";
    }

    public string MetricNotString { get; }

    public string MetricLoneSurrogate { get; }

    public string MetricEmpty { get; }

    public string MetricTooLong { get; }

    public string MetricNotVisible { get; }

    public string MetricMissing { get; }

    public string MetricTwice { get; }

    public string ValueOverflow { get; }

    public string ValueNotFinite { get; }

    public string ValueNotNumber { get; }

    public string ValueMissing { get; }

    public string ValueTwice { get; }

    public string TimestampNotEpochMs { get; }

    public string TimestampNotEpochMsMicros { get; }

    public string TimestampNoZone { get; }

    public string TimestampMalformed { get; }

    public string TimestampOutOfRange { get; }

    public string TimestampBefore1970 { get; }

    public string TimestampAfter9999 { get; }

    public string TimestampWrongType { get; }

    public string TimestampInFuture { get; }


    public string TimestampTooOld { get; }

    public string TimestampTooOldSeconds { get; }

    public string TimestampMissing { get; }

    public string TimestampTwice { get; }

    public string DimensionsNotObject { get; }

    public string DimensionsTooMany { get; }

    public string DimensionKeyEmpty { get; }

    public string DimensionKeyTooLong { get; }

    public string DimensionKeyLoneSurrogate { get; }

    public string DimensionKeyRepeats { get; }

    public string DimensionValueNotString { get; }

    public string DimensionValueTooLong { get; }

    public string DimensionValueLoneSurrogate { get; }

    public string DimensionsTwice { get; }

    private static string Span(TimeSpan span) =>
        span.Ticks % TimeSpan.TicksPerHour == 0 ? string.Create(CultureInfo.InvariantCulture, $"{(long)span.TotalHours} h") :
        span.Ticks % TimeSpan.TicksPerMinute == 0 ? string.Create(CultureInfo.InvariantCulture, $"{(long)span.TotalMinutes} min") :
        string.Create(CultureInfo.InvariantCulture, $"{(long)span.TotalMilliseconds} ms");

    /// <summary>A configured field name in quotes, cut so a message stays well under the detail bound.</summary>
    private static string Quote(string name) => "'" + (name.Length > 64 ? string.Concat(name.AsSpan(0, 61), "...") : name) + "'";
}
