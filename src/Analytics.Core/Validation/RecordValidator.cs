namespace Analytics.Core;

/// <summary>
/// Classifies Kinesis records as valid or poison, with exactly one reason and a short detail.
/// </summary>
/// <remarks>
/// <para>Checks, in order: base64, emptiness, size, KPL aggregation (a container is checked and de-aggregated),
/// UTF-8, JSON, then every sample against the schema (see <see cref="PoisonReason"/>). This is the pipeline's own
/// path: a record gets the verdict <see cref="KinesisBatchProcessor"/> gives it. A verdict depends only on the
/// record, with its arrival time as the time reference: the same record always gets the same verdict. Invalid input
/// is a result, never an exception.</para>
/// <para>A KPL container is valid when all its user records are; otherwise the verdict is that of its first poison
/// user record, its detail starting with <c>user record N:</c>. The pipeline aggregates the valid user records and
/// quarantines the poison ones in one entry per container (see <see cref="QuarantinedRecord"/>); to see each user
/// record's verdict, read them with
/// <see cref="KplAggregate.TryRead"/> and pass each one's data to <see cref="ValidateData"/>.</para>
/// <para>Only the pipeline, which knows the <see cref="AggregatorOptions"/>, gives
/// <see cref="PoisonReason.CardinalityLimit"/> (a record alone holding more than <see cref="AggregatorOptions.MaxPairs"/>
/// pairs) and the <see cref="PoisonReason.InvalidTimestamp"/> of a window ending after 9999; with the default options
/// no record reaches either (docs/validation.md).</para>
/// <para>Details are the library's own words, configured field names and byte offsets, never bytes of the record,
/// and at most 256 UTF-8 bytes long.</para>
/// <para>An instance reuses its buffers and is not thread-safe; use one per concurrent caller.</para>
/// </remarks>
public sealed class RecordValidator
{
    private readonly RecordDecoder _decoder = new();
    private readonly byte[] _scratch = new byte[MetricRecordParser.ScratchSize];
    private readonly MetricSchema _schema;

    /// <summary>Creates a validator for the default schema (<see cref="MetricParserOptions.Default"/>).</summary>
    public RecordValidator()
        : this(MetricParserOptions.Default)
    {
    }

    /// <summary>Creates a validator; give it the <see cref="ProcessorOptions.Parser"/> of the processor whose verdicts it should match.</summary>
    /// <param name="options">The record schema and limits.</param>
    /// <exception cref="ArgumentException">A field name of <paramref name="options"/> is empty, or two are the same.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A limit of <paramref name="options"/> is out of range.</exception>
    public RecordValidator(MetricParserOptions options)
    {
        _schema = new MetricSchema(options, nameof(options));
        Options = options;
    }

    /// <summary>The record schema and limits the validator checks against.</summary>
    public MetricParserOptions Options { get; }

    /// <summary>Validates one record of an event.</summary>
    /// <param name="record">The record.</param>
    /// <returns>The verdict. Only a poison verdict allocates (its detail).</returns>
    public RecordVerdict Validate(in KinesisRecord record) =>
        Run(RecordUnits.Open(record, _decoder, Options.MaxRecordBytes), record.ApproximateArrivalTimestampMs);

    /// <summary>Validates decoded record data (a plain record or a KPL container).</summary>
    /// <param name="data">The decoded data.</param>
    /// <param name="arrivalTimestampMs">The record's approximate arrival, epoch milliseconds.</param>
    /// <returns>The verdict. Only a poison verdict allocates (its detail).</returns>
    public RecordVerdict ValidateData(ReadOnlySpan<byte> data, long arrivalTimestampMs) =>
        Run(RecordUnits.FromData(data, Options.MaxRecordBytes), arrivalTimestampMs);

    private RecordVerdict Run(RecordUnits units, long arrivalTimestampMs)
    {
        int samples = 0;
        while (units.MoveNext())
        {
            if (units.Reason != PoisonReason.None)
            {
                return new RecordVerdict(units.Reason, units.Detail, samples);
            }

            var parser = new MetricRecordParser(units.Data, _scratch, _schema, arrivalTimestampMs);
            while (parser.TryReadSample(out _))
            {
            }

            samples += parser.SampleCount;
            if (parser.Reason != PoisonReason.None)
            {
                string detail = units.SubSequenceNumber is int sub
                    ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"user record {sub}: {parser.GetDetail()}")
                    : parser.GetDetail();
                return new RecordVerdict(parser.Reason, PoisonDetail.Bound(detail), samples);
            }
        }

        return new RecordVerdict(PoisonReason.None, string.Empty, samples);
    }
}
