using System.Buffers;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>
/// Writes structured JSON log lines (one object per line) for an invocation and for each poison record, shaped for
/// CloudWatch Logs Insights: every line has <c>"level"</c>, <c>"message"</c> and an ISO-8601 <c>"timestamp"</c>, and
/// figures are top-level numbers, so <c>filter</c>, <c>sort</c> and <c>stats</c> work on them directly.
/// </summary>
/// <remarks>
/// <para>
/// Lines and levels: <c>"message":"invocation"</c>, one per invocation, at <see cref="JsonLogLevel.Info"/>, raised to
/// <see cref="JsonLogLevel.Warn"/> when the invocation reported a failure, stopped early or the aggregate sink left
/// pairs not durable (then with <c>"aggregateSinkIssue"</c> saying why), and to <see cref="JsonLogLevel.Error"/> when a
/// sink threw (its exception's type and message are on the line);
/// <c>"message":"stage"</c>, one per pipeline stage (<c>parse</c>, <c>aggregate</c>, <c>quarantineSink</c>,
/// <c>aggregateSink</c>), at <see cref="JsonLogLevel.Info"/> so a stall can be diagnosed from the default logs
/// without a redeploy; <c>"message":"poison"</c>, one per poison record, at <see cref="JsonLogLevel.Warn"/>.
/// </para>
/// <para>
/// A poison line never carries the record's data or partition key (they may hold personal data): only the reason,
/// the detail, the shard, the sequence numbers and the partition key's length. The payload stays in the quarantine
/// sink.
/// </para>
/// <para>In Lambda write the lines to standard output; in a local run whose standard output carries the response, to standard error.</para>
/// </remarks>
public static class JsonLog
{
    private static readonly JsonEncodedText s_level = JsonEncodedText.Encode("level");
    private static readonly JsonEncodedText s_message = JsonEncodedText.Encode("message");
    private static readonly JsonEncodedText s_timestamp = JsonEncodedText.Encode("timestamp");
    private static readonly JsonEncodedText s_invocation = JsonEncodedText.Encode("invocation");
    private static readonly JsonEncodedText s_stage = JsonEncodedText.Encode("stage");
    private static readonly JsonEncodedText s_poison = JsonEncodedText.Encode("poison");
    private static readonly JsonEncodedText s_durationMs = JsonEncodedText.Encode("durationMs");
    private static readonly JsonEncodedText s_shardId = JsonEncodedText.Encode("shardId");
    private static readonly JsonEncodedText s_firstSequenceNumber = JsonEncodedText.Encode("firstSequenceNumber");
    private static readonly JsonEncodedText s_lastSequenceNumber = JsonEncodedText.Encode("lastSequenceNumber");
    private static readonly JsonEncodedText s_records = JsonEncodedText.Encode("records");
    private static readonly JsonEncodedText s_recordsIn = JsonEncodedText.Encode("recordsIn");
    private static readonly JsonEncodedText s_recordsProcessed = JsonEncodedText.Encode("recordsProcessed");
    private static readonly JsonEncodedText s_validRecords = JsonEncodedText.Encode("validRecords");
    private static readonly JsonEncodedText s_poisonRecords = JsonEncodedText.Encode("poisonRecords");
    private static readonly JsonEncodedText s_quarantined = JsonEncodedText.Encode("quarantined");
    private static readonly JsonEncodedText s_samplesAggregated = JsonEncodedText.Encode("samplesAggregated");
    private static readonly JsonEncodedText s_aggregatesWritten = JsonEncodedText.Encode("aggregatesWritten");
    private static readonly JsonEncodedText s_failuresReported = JsonEncodedText.Encode("failuresReported");
    private static readonly JsonEncodedText s_reportedFailure = JsonEncodedText.Encode("reportedFailure");
    private static readonly JsonEncodedText s_deadlineReached = JsonEncodedText.Encode("deadlineReached");
    private static readonly JsonEncodedText s_windowInvocation = JsonEncodedText.Encode("windowInvocation");
    private static readonly JsonEncodedText s_flushed = JsonEncodedText.Encode("flushed");
    private static readonly JsonEncodedText s_windowFirstSequenceNumber = JsonEncodedText.Encode("windowFirstSequenceNumber");
    private static readonly JsonEncodedText s_windowLastSequenceNumber = JsonEncodedText.Encode("windowLastSequenceNumber");
    private static readonly JsonEncodedText s_parseMs = JsonEncodedText.Encode("parseMs");
    private static readonly JsonEncodedText s_aggregateMs = JsonEncodedText.Encode("aggregateMs");
    private static readonly JsonEncodedText s_quarantineSinkMs = JsonEncodedText.Encode("quarantineSinkMs");
    private static readonly JsonEncodedText s_aggregateSinkMs = JsonEncodedText.Encode("aggregateSinkMs");
    private static readonly JsonEncodedText s_remainingTimeMs = JsonEncodedText.Encode("remainingTimeMs");
    private static readonly JsonEncodedText s_oldestRecordAgeMs = JsonEncodedText.Encode("oldestRecordAgeMs");
    private static readonly JsonEncodedText s_newestRecordAgeMs = JsonEncodedText.Encode("newestRecordAgeMs");
    private static readonly JsonEncodedText s_poisonLinesOmitted = JsonEncodedText.Encode("poisonLinesOmitted");
    private static readonly JsonEncodedText s_poisonCallbackErrors = JsonEncodedText.Encode("poisonCallbackErrors");
    private static readonly JsonEncodedText s_poisonCallbackError = JsonEncodedText.Encode("poisonCallbackError");
    private static readonly JsonEncodedText s_poisonUserRecords = JsonEncodedText.Encode("poisonUserRecords");
    private static readonly JsonEncodedText s_stopReason = JsonEncodedText.Encode("stopReason");
    private static readonly JsonEncodedText s_plannedSinkMs = JsonEncodedText.Encode("plannedSinkMs");
    private static readonly JsonEncodedText s_aggregateSinkOutcome = JsonEncodedText.Encode("aggregateSink");
    private static readonly JsonEncodedText s_aggregateSinkError = JsonEncodedText.Encode("aggregateSinkError");
    private static readonly JsonEncodedText s_quarantineSinkOutcome = JsonEncodedText.Encode("quarantineSink");
    private static readonly JsonEncodedText s_quarantineSinkError = JsonEncodedText.Encode("quarantineSinkError");
    private static readonly JsonEncodedText[] s_outcomeNames = Array.ConvertAll(Enum.GetValues<SinkOutcome>(), o => JsonEncodedText.Encode(o.ToString()));
    private static readonly JsonEncodedText[] s_stopReasonNames = Array.ConvertAll(Enum.GetValues<BatchStopReason>(), o => JsonEncodedText.Encode(o.ToString()));
    private static readonly JsonEncodedText s_aggregateSinkIssue = JsonEncodedText.Encode("aggregateSinkIssue");
    private static readonly JsonEncodedText s_spillOutcome = JsonEncodedText.Encode("spill");
    private static readonly JsonEncodedText s_spillError = JsonEncodedText.Encode("spillError");
    private static readonly JsonEncodedText s_spilledAggregates = JsonEncodedText.Encode("spilledAggregates");
    private static readonly JsonEncodedText s_spilledRecords = JsonEncodedText.Encode("spilledRecords");
    private static readonly JsonEncodedText s_poisonByReason = JsonEncodedText.Encode("poisonByReason");
    private static readonly JsonEncodedText s_reason = JsonEncodedText.Encode("reason");
    private static readonly JsonEncodedText s_detail = JsonEncodedText.Encode("detail");
    private static readonly JsonEncodedText s_sequenceNumber = JsonEncodedText.Encode("sequenceNumber");
    private static readonly JsonEncodedText s_subSequenceNumber = JsonEncodedText.Encode("subSequenceNumber");
    private static readonly JsonEncodedText s_partitionKeyLength = JsonEncodedText.Encode("partitionKeyLength");
    private static readonly JsonEncodedText s_approximateArrival = JsonEncodedText.Encode("approximateArrival");
    private static readonly JsonEncodedText s_stageParse = JsonEncodedText.Encode("parse");
    private static readonly JsonEncodedText s_stageAggregate = JsonEncodedText.Encode("aggregate");
    private static readonly JsonEncodedText s_stageQuarantineSink = JsonEncodedText.Encode("quarantineSink");
    private static readonly JsonEncodedText s_stageAggregateSink = JsonEncodedText.Encode("aggregateSink");

    private static readonly JsonEncodedText[] s_levelNames =
    [
        JsonEncodedText.Encode(nameof(JsonLogLevel.Debug)),
        JsonEncodedText.Encode(nameof(JsonLogLevel.Info)),
        JsonEncodedText.Encode(nameof(JsonLogLevel.Warn)),
        JsonEncodedText.Encode(nameof(JsonLogLevel.Error)),
    ];

    private static readonly PoisonReason[] s_reasons = Enum.GetValues<PoisonReason>();
    private static readonly JsonEncodedText[] s_reasonNames = Array.ConvertAll(s_reasons, r => JsonEncodedText.Encode(r.ToString()));

    /// <summary>
    /// The level of the <c>invocation</c> line: Error when a sink failed (<see cref="BatchSummary.FailedSinks"/>: it threw,
    /// ran out of time after failed attempts, or stored less with time left), Warn when it reported a failure, stopped
    /// early, the aggregate sink left pairs not durable or a poison callback threw, else Info.
    /// </summary>
    /// <remarks>
    /// A time-out after failed attempts is an Error (found by review: an endpoint that never answers, a VPC without a
    /// route to DynamoDB, gave Warn and <c>TimedOut</c> on every invocation, while the same endpoint refusing at once gave
    /// Error: the alarm on Error lines missed it).
    /// </remarks>
    internal static JsonLogLevel GetInvocationLevel(BatchSummary summary) =>
        summary.FailedSinks > 0 ? JsonLogLevel.Error
        : summary.ReportedFailure is not null || summary.StopReason != BatchStopReason.None || summary.AggregateSinkIssue is not null || summary.PoisonCallbackErrors > 0 ? JsonLogLevel.Warn
        : JsonLogLevel.Info;

    /// <summary>
    /// Writes the <c>invocation</c> line and the four <c>stage</c> lines of an invocation, each ending in <c>\n</c>,
    /// leaving out those below <see cref="JsonLogOptions.MinimumLevel"/>.
    /// </summary>
    /// <param name="summary">What the invocation did.</param>
    /// <param name="options">Minimum level and clock.</param>
    /// <param name="destination">Receives the UTF-8 lines.</param>
    /// <returns>How many lines were written (0 to 5).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="summary"/> or <paramref name="destination"/> is null.</exception>
    public static int WriteInvocation(BatchSummary summary, in JsonLogOptions options, IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(destination);
        JsonLogLevel invocationLevel = GetInvocationLevel(summary);
        bool writeInvocation = IsEnabled(options, invocationLevel);
        bool writeStages = IsEnabled(options, JsonLogLevel.Info);
        if (!writeInvocation && !writeStages)
        {
            return 0;
        }

        DateTime timestamp = Now(options);
        int lines = 0;
        Utf8JsonWriter writer = JsonLineWriter.Rent(destination);
        try
        {
            if (writeInvocation)
            {
                WriteInvocationLine(writer, destination, summary, invocationLevel, timestamp);
                lines++;
            }

            if (writeStages)
            {
                WriteStage(writer, destination, summary, s_stageParse, summary.ParseDuration, timestamp);
                WriteStage(writer, destination, summary, s_stageAggregate, summary.AggregateDuration, timestamp);
                WriteStage(writer, destination, summary, s_stageQuarantineSink, summary.QuarantineSinkDuration, timestamp);
                WriteStage(writer, destination, summary, s_stageAggregateSink, summary.AggregateSinkDuration, timestamp);
                lines += 4;
            }
        }
        finally
        {
            JsonLineWriter.Return(writer);
        }

        return lines;
    }

    /// <summary>
    /// Writes the <c>poison</c> line of a poison record, ending in <c>\n</c>, unless <see cref="JsonLogLevel.Warn"/> is
    /// below <see cref="JsonLogOptions.MinimumLevel"/>. The record's data and partition key are never written.
    /// </summary>
    /// <param name="record">The poison record.</param>
    /// <param name="options">Minimum level and clock.</param>
    /// <param name="destination">Receives the UTF-8 line.</param>
    /// <returns>Whether the line was written.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="record"/> or <paramref name="destination"/> is null.</exception>
    public static bool WritePoison(QuarantinedRecord record, in JsonLogOptions options, IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(destination);
        if (!IsEnabled(options, JsonLogLevel.Warn))
        {
            return false;
        }

        Utf8JsonWriter writer = JsonLineWriter.Rent(destination);
        try
        {
            WritePoisonLine(writer, destination, record, Now(options));
        }
        finally
        {
            JsonLineWriter.Return(writer);
        }

        return true;
    }

    private static void WriteInvocationLine(Utf8JsonWriter writer, IBufferWriter<byte> destination, BatchSummary summary, JsonLogLevel level, DateTime timestamp)
    {
        WriteHeader(writer, level, s_invocation, timestamp);
        WriteBatchIdentity(writer, summary);
        writer.WriteString(s_lastSequenceNumber, summary.LastSequenceNumber);
        writer.WriteNumber(s_recordsIn, summary.Records);
        writer.WriteNumber(s_recordsProcessed, summary.RecordsProcessed);
        writer.WriteNumber(s_validRecords, summary.ValidRecords);
        writer.WriteNumber(s_poisonRecords, summary.PoisonRecords);
        writer.WriteNumber(s_quarantined, summary.Quarantined);
        writer.WriteNumber(s_poisonLinesOmitted, summary.PoisonCallbacksSkipped);
        writer.WriteNumber(s_poisonCallbackErrors, summary.PoisonCallbackErrors);
        writer.WriteString(s_poisonCallbackError, summary.PoisonCallbackError);
        writer.WriteNumber(s_samplesAggregated, summary.Samples);
        writer.WriteNumber(s_aggregatesWritten, summary.AggregatesWritten);
        writer.WriteNumber(s_failuresReported, summary.FailuresReported);
        writer.WriteString(s_reportedFailure, summary.ReportedFailure);
        writer.WriteBoolean(s_deadlineReached, summary.DeadlineReached);
        writer.WriteString(s_stopReason, s_stopReasonNames[(int)summary.StopReason]);
        writer.WriteString(s_aggregateSinkOutcome, s_outcomeNames[(int)summary.AggregateSinkOutcome]);
        writer.WriteString(s_aggregateSinkError, summary.AggregateSinkError);
        writer.WriteString(s_quarantineSinkOutcome, s_outcomeNames[(int)summary.QuarantineSinkOutcome]);
        writer.WriteString(s_quarantineSinkError, summary.QuarantineSinkError);
        writer.WriteString(s_spillOutcome, s_outcomeNames[(int)summary.SpillOutcome]);
        writer.WriteString(s_spillError, summary.SpillError);
        writer.WriteNumber(s_spilledAggregates, summary.SpilledAggregates);
        writer.WriteNumber(s_spilledRecords, summary.SpilledRecords);
        writer.WriteBoolean(s_windowInvocation, summary.IsWindowInvocation);
        writer.WriteBoolean(s_flushed, summary.Flushed);
        if (summary.IsWindowInvocation)
        {
            // The window's records are in its state alone until the flush lands: a failed flush names what to recompute.
            writer.WriteString(s_windowFirstSequenceNumber, summary.WindowFirstSequenceNumber);
            writer.WriteString(s_windowLastSequenceNumber, summary.WindowLastSequenceNumber);
        }

        writer.WriteNumber(s_parseMs, EmfMetrics.Milliseconds(summary.ParseDuration));
        writer.WriteNumber(s_aggregateMs, EmfMetrics.Milliseconds(summary.AggregateDuration));
        writer.WriteNumber(s_quarantineSinkMs, EmfMetrics.Milliseconds(summary.QuarantineSinkDuration));
        writer.WriteNumber(s_aggregateSinkMs, EmfMetrics.Milliseconds(summary.AggregateSinkDuration));
        writer.WriteNumber(s_remainingTimeMs, EmfMetrics.Milliseconds(summary.RemainingTime));
        writer.WriteNumber(s_plannedSinkMs, EmfMetrics.Milliseconds(summary.PlannedSinkTime));
        writer.WriteNumber(s_oldestRecordAgeMs, EmfMetrics.Milliseconds(summary.OldestRecordAge));
        writer.WriteNumber(s_newestRecordAgeMs, EmfMetrics.Milliseconds(summary.NewestRecordAge));
        if (summary.AggregateSinkIssue is { } issue)
        {
            writer.WriteString(s_aggregateSinkIssue, issue);
        }

        writer.WriteStartObject(s_poisonByReason);
        for (int i = 0; i < s_reasons.Length; i++)
        {
            int count = summary.GetPoisonCount(s_reasons[i]);
            if (count > 0)
            {
                writer.WriteNumber(s_reasonNames[i], count);
            }
        }

        writer.WriteEndObject();
        JsonLineWriter.EndLine(writer, destination);
    }

    private static void WritePoisonLine(Utf8JsonWriter writer, IBufferWriter<byte> destination, QuarantinedRecord record, DateTime timestamp)
    {
        WriteHeader(writer, JsonLogLevel.Warn, s_poison, timestamp);
        writer.WriteString(s_reason, (uint)record.Reason < (uint)s_reasonNames.Length ? s_reasonNames[(int)record.Reason] : JsonEncodedText.Encode(((int)record.Reason).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        writer.WriteString(s_detail, PoisonDetail.Bound(record.Detail ?? string.Empty));
        writer.WriteString(s_shardId, BoundedShardId(record.ShardId));
        writer.WriteString(s_sequenceNumber, BoundedShardId(record.SequenceNumber)); // a host's own record may carry any text (found by review: a 1 MB line)
        if (record.SubSequenceNumber is int subSequenceNumber)
        {
            writer.WriteNumber(s_subSequenceNumber, subSequenceNumber);
        }

        if (record.PoisonSubSequenceNumbers is { } subs)
        {
            writer.WriteNumber(s_poisonUserRecords, subs.Count);
        }

        writer.WriteNumber(s_partitionKeyLength, record.PartitionKey?.Length ?? 0);
        if (record.ApproximateArrival != default)
        {
            writer.WriteString(s_approximateArrival, record.ApproximateArrival.UtcDateTime);
        }

        JsonLineWriter.EndLine(writer, destination);
    }

    private static bool IsEnabled(in JsonLogOptions options, JsonLogLevel level) =>
        options.MinimumLevel != JsonLogLevel.None && level >= options.MinimumLevel;

    private static DateTime Now(in JsonLogOptions options) => (options.TimeProvider ?? TimeProvider.System).GetUtcNow().UtcDateTime;

    private static void WriteHeader(Utf8JsonWriter writer, JsonLogLevel level, JsonEncodedText message, DateTime timestamp)
    {
        writer.WriteStartObject();
        writer.WriteString(s_level, s_levelNames[(int)level]);
        writer.WriteString(s_message, message);

        // A UTC DateTime is written as ISO-8601 with a 'Z' (round-trip format, trailing zeros of the fraction cut).
        writer.WriteString(s_timestamp, timestamp);
    }

    private static void WriteBatchIdentity(Utf8JsonWriter writer, BatchSummary summary)
    {
        writer.WriteString(s_shardId, BoundedShardId(summary.ShardId));
        writer.WriteString(s_firstSequenceNumber, summary.FirstSequenceNumber);
    }

    private static void WriteStage(Utf8JsonWriter writer, IBufferWriter<byte> destination, BatchSummary summary, JsonEncodedText stage, TimeSpan duration, DateTime timestamp)
    {
        WriteHeader(writer, JsonLogLevel.Info, s_stage, timestamp);
        writer.WriteString(s_stage, stage);
        writer.WriteNumber(s_durationMs, EmfMetrics.Milliseconds(duration));
        WriteBatchIdentity(writer, summary);
        writer.WriteNumber(s_records, summary.Records);
        JsonLineWriter.EndLine(writer, destination);
    }

    /// <summary>
    /// A shard id (or a poison record's sequence number) as written in a line: cut at 1,024 characters (as the EMF
    /// dimension is), never inside a surrogate pair. Lambda's are 20 (and at most 129 digits); one from a hand-made
    /// event or a host's own record could make a line megabytes long, past what a log event holds (256 KB).
    /// </summary>
    internal static string? BoundedShardId(string? shardId)
    {
        const int Max = EmfMetrics.MaxDimensionValueLength;
        if (shardId is null || shardId.Length <= Max)
        {
            return shardId;
        }

        int cut = char.IsHighSurrogate(shardId[Max - 1]) ? Max - 1 : Max;
        return shardId[..cut];
    }
}
