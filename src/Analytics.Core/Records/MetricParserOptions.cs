namespace Analytics.Core;

/// <summary>
/// How metric records are read and validated. Defaults follow the documented schema:
/// <c>{"metric":"name","value":1.5,"timestamp":1737367200000,"dimensions":{"k":"v"}}</c>.
/// </summary>
/// <remarks>Set only what differs: <c>MetricParserOptions.Default with { MaxDepth = 8 }</c>.</remarks>
public readonly record struct MetricParserOptions
{
    /// <summary>Creates the default options.</summary>
    public MetricParserOptions()
    {
    }

    /// <summary>The default options.</summary>
    public static MetricParserOptions Default => new();

    /// <summary>Name of the metric-name field (string, 1 to 255 UTF-8 bytes). Default <c>metric</c>.</summary>
    public string MetricField { get; init; } = "metric";

    /// <summary>Name of the value field (finite JSON number). Default <c>value</c>.</summary>
    public string ValueField { get; init; } = "value";

    /// <summary>Name of the timestamp field (epoch milliseconds, or an RFC 3339 date-time with Z or an offset). Default <c>timestamp</c>.</summary>
    public string TimestampField { get; init; } = "timestamp";

    /// <summary>Name of the optional dimensions field (object of string to string). Default <c>dimensions</c>.</summary>
    public string DimensionsField { get; init; } = "dimensions";

    /// <summary>
    /// Largest decoded record, in bytes; larger records are <see cref="PoisonReason.TooLarge"/>. Positive; default 256 KiB. It
    /// holds each KPL user record, not the container, which may hold up to 6 MiB.
    /// </summary>
    public int MaxRecordBytes { get; init; } = 256 * 1024;

    /// <summary>Deepest nesting of objects and arrays in a sample; deeper is <see cref="PoisonReason.NestingTooDeep"/>. At least 2 (the record's object and its dimensions); default 32.</summary>
    public int MaxDepth { get; init; } = 32;

    /// <summary>How far after the record's arrival a timestamp may lie. Not negative; default 5 minutes.</summary>
    public TimeSpan MaxFutureSkew { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How far before the record's arrival a timestamp may lie. Not negative; default 24 hours.</summary>
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromHours(24);
}
