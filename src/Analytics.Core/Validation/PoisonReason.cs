namespace Analytics.Core;

/// <summary>
/// Why a record is poison. Every poison record has exactly one reason; the names are stable and are written
/// as they are (<c>nameof</c>) into quarantine lines and metrics.
/// </summary>
public enum PoisonReason
{
    /// <summary>Not poison.</summary>
    None = 0,

    /// <summary>The record's <c>data</c> is not valid base64.</summary>
    InvalidBase64,

    /// <summary>The record's data is empty, holds only white space or no sample, or is a KPL container with no user record.</summary>
    EmptyData,

    /// <summary>The decoded data is larger than <see cref="MetricParserOptions.MaxRecordBytes"/>.</summary>
    TooLarge,

    /// <summary>The decoded data is not valid UTF-8 (or a JSON escape encodes a lone surrogate).</summary>
    InvalidUtf8,

    /// <summary>The data is not JSON, has trailing garbage, or a top-level value that is not an object.</summary>
    InvalidJson,

    /// <summary>Objects or arrays nest deeper than <see cref="MetricParserOptions.MaxDepth"/>.</summary>
    NestingTooDeep,

    /// <summary>A sample lacks the metric name, the value or the timestamp.</summary>
    MissingField,

    /// <summary>A sample or its dimensions name the same field twice.</summary>
    DuplicateField,

    /// <summary>A field has the wrong JSON type (a value as a string, a dimension value that is not a string, null).</summary>
    WrongType,

    /// <summary>The value is NaN, an infinity, or overflows a double (such as <c>1e400</c>).</summary>
    NonFiniteValue,

    /// <summary>
    /// The timestamp is neither epoch milliseconds (1970 to 9999) nor an RFC 3339 date-time with <c>Z</c> or an offset;
    /// or (from the pipeline only, which knows the window size) the sample's window would end after
    /// 9999-12-31T23:59:59.999Z.
    /// </summary>
    InvalidTimestamp,

    /// <summary>The metric name is empty, longer than 255 UTF-8 bytes, or holds only white space and control characters.</summary>
    InvalidMetricName,

    /// <summary>A dimension key is longer than 255 bytes, or a value longer than 1024 bytes.</summary>
    DimensionTooLong,

    /// <summary>A sample has more than 30 dimensions.</summary>
    TooManyDimensions,

    /// <summary>The timestamp lies further after the record's arrival than <see cref="MetricParserOptions.MaxFutureSkew"/>.</summary>
    TimestampInFuture,

    /// <summary>The timestamp lies further before the record's arrival than <see cref="MetricParserOptions.MaxAge"/>.</summary>
    TimestampTooOld,

    /// <summary>
    /// The record alone holds more (series, window) pairs than the aggregator's cap. (A batch that reaches the cap is
    /// split before the record that does not fit instead, so this depends on the record alone.)
    /// </summary>
    CardinalityLimit,

    /// <summary>A KPL aggregated record whose trailing MD5 does not match its protobuf bytes.</summary>
    AggregateChecksumMismatch,

    /// <summary>A KPL aggregated record whose protobuf is malformed (truncated, out of range, bad key index), or data that starts with the KPL magic but is too short for a container.</summary>
    AggregateMalformed,

    /// <summary>A dimension key is empty.</summary>
    InvalidDimensionKey,
}
