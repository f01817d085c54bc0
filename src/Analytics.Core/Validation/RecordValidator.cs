namespace Analytics.Core;

/// <summary>
/// Classifies Kinesis records as valid or poison, with exactly one reason and a short detail.
/// </summary>
/// <remarks>
/// <para>Checks, in order: base64, emptiness, size, UTF-8, JSON, then every sample against the schema (see
/// <see cref="PoisonReason"/>). A verdict depends only on the record, with its arrival time as the time reference:
/// the same record always gets the same verdict. Invalid input is a result, never an exception.</para>
/// <para>An instance reuses its buffers and is not thread-safe; use one per concurrent caller.</para>
/// </remarks>
public sealed class RecordValidator
{
    private readonly RecordDecoder _decoder = new();
    private readonly byte[] _scratch = new byte[MetricRecordParser.ScratchSize];

    /// <summary>Creates a validator.</summary>
    /// <param name="schema">The schema; <see cref="MetricSchema.Default"/> when null.</param>
    public RecordValidator(MetricSchema? schema = null) => Schema = schema ?? MetricSchema.Default;

    /// <summary>The schema.</summary>
    public MetricSchema Schema { get; }

    /// <summary>Validates one record of an event.</summary>
    /// <param name="record">The record.</param>
    /// <returns>The verdict. Only a poison verdict allocates (its detail).</returns>
    public RecordVerdict Validate(in KinesisRecord record)
    {
        PoisonReason reason = _decoder.TryDecode(record, Schema.Options.MaxRecordBytes, out ReadOnlySpan<byte> data, out string message);
        return reason != PoisonReason.None
            ? new RecordVerdict(reason, message, 0)
            : ValidateData(data, record.ApproximateArrivalTimestampMs);
    }

    /// <summary>Validates decoded record data.</summary>
    /// <param name="data">The decoded data.</param>
    /// <param name="arrivalTimestampMs">The record's approximate arrival, epoch milliseconds.</param>
    /// <returns>The verdict. Only a poison verdict allocates (its detail).</returns>
    public RecordVerdict ValidateData(ReadOnlySpan<byte> data, long arrivalTimestampMs)
    {
        var parser = new MetricRecordParser(data, _scratch, Schema, arrivalTimestampMs);
        while (parser.TryReadSample(out _))
        {
        }

        return parser.Error == PoisonReason.None
            ? new RecordVerdict(PoisonReason.None, string.Empty, parser.SampleCount)
            : new RecordVerdict(parser.Error, parser.GetErrorDetail(), parser.SampleCount);
    }
}
