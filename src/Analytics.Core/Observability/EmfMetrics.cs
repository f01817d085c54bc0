using System.Buffers;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>
/// Writes a <see cref="BatchSummary"/> as one line of CloudWatch Embedded Metric Format (EMF): a JSON object that
/// CloudWatch Logs turns into metrics when it reaches the function's log group.
/// </summary>
/// <remarks>
/// <para>
/// Metrics, under the dimension set <c>[FunctionName, ShardId]</c>: <c>RecordsIn</c>, <c>ValidRecords</c>,
/// <c>PoisonRecords</c>, <c>SamplesAggregated</c>, <c>AggregatesWritten</c>, <c>FailuresReported</c> (0 or 1),
/// <c>SpilledRecords</c>, <c>SpilledAggregates</c> (what went to <see cref="ProcessorOptions.SpillSink"/>), all
/// <c>Count</c>; <c>ParseMs</c>, <c>AggregateMs</c>, <c>QuarantineSinkMs</c>, <c>AggregateSinkMs</c>,
/// <c>RemainingTimeMs</c>, <c>OldestRecordAgeMs</c>, <c>NewestRecordAgeMs</c>, all <c>Milliseconds</c>.
/// Two more <c>Count</c> metrics are written only when not 0, so a healthy invocation's line, and the custom metrics
/// CloudWatch bills by the hour they are published in, stay as they are: <c>SinkErrors</c>, how many of the aggregate,
/// quarantine and spill sinks failed in the invocation (threw, ran out of time after failed attempts, the quarantine
/// sink returned with time left having stored fewer records than it was given, or the spill sink answered "not
/// stored"): the sinks that make the invocation line an <c>Error</c>, also when nothing is re-delivered (a spill bucket
/// that cannot be read while every pair is durable); and <c>PoisonCallbackErrors</c>
/// (<see cref="BatchSummary.PoisonCallbackErrors"/>).
/// Alarm on their sum above 0, treating missing data as not breaching.
/// Poison counts per reason are plain properties (<c>"poison.InvalidJson": 2</c>, only reasons with a count), so they
/// are searchable in the logs without costing a custom metric each.
/// </para>
/// <para>
/// The cost is per invocation, not per record: the summary already holds the counts. In Lambda write the line to
/// standard output; anywhere else (a local run whose standard output carries the response) to standard error.
/// </para>
/// </remarks>
public static class EmfMetrics
{
    /// <summary>The namespace used unless <see cref="EmfOptions.Namespace"/> says otherwise.</summary>
    internal const string DefaultNamespace = "Analytics.Core";

    /// <summary>Dimension value written for a batch with no shard id (an empty batch); CloudWatch rejects empty values.</summary>
    internal const string NoShard = "none";

    internal const int MaxNameLength = 255;
    internal const int MaxDimensionValueLength = 1024;

    private static readonly JsonEncodedText s_aws = JsonEncodedText.Encode("_aws");
    private static readonly JsonEncodedText s_timestamp = JsonEncodedText.Encode("Timestamp");
    private static readonly JsonEncodedText s_cloudWatchMetrics = JsonEncodedText.Encode("CloudWatchMetrics");
    private static readonly JsonEncodedText s_namespace = JsonEncodedText.Encode("Namespace");
    private static readonly JsonEncodedText s_dimensions = JsonEncodedText.Encode("Dimensions");
    private static readonly JsonEncodedText s_metrics = JsonEncodedText.Encode("Metrics");
    private static readonly JsonEncodedText s_name = JsonEncodedText.Encode("Name");
    private static readonly JsonEncodedText s_unit = JsonEncodedText.Encode("Unit");
    private static readonly JsonEncodedText s_count = JsonEncodedText.Encode("Count");
    private static readonly JsonEncodedText s_milliseconds = JsonEncodedText.Encode("Milliseconds");
    private static readonly JsonEncodedText s_functionName = JsonEncodedText.Encode("FunctionName");
    private static readonly JsonEncodedText s_shardId = JsonEncodedText.Encode("ShardId");
    private static readonly JsonEncodedText s_recordsIn = JsonEncodedText.Encode("RecordsIn");
    private static readonly JsonEncodedText s_validRecords = JsonEncodedText.Encode("ValidRecords");
    private static readonly JsonEncodedText s_poisonRecords = JsonEncodedText.Encode("PoisonRecords");
    private static readonly JsonEncodedText s_samplesAggregated = JsonEncodedText.Encode("SamplesAggregated");
    private static readonly JsonEncodedText s_aggregatesWritten = JsonEncodedText.Encode("AggregatesWritten");
    private static readonly JsonEncodedText s_failuresReported = JsonEncodedText.Encode("FailuresReported");
    private static readonly JsonEncodedText s_parseMs = JsonEncodedText.Encode("ParseMs");
    private static readonly JsonEncodedText s_aggregateMs = JsonEncodedText.Encode("AggregateMs");
    private static readonly JsonEncodedText s_quarantineSinkMs = JsonEncodedText.Encode("QuarantineSinkMs");
    private static readonly JsonEncodedText s_aggregateSinkMs = JsonEncodedText.Encode("AggregateSinkMs");
    private static readonly JsonEncodedText s_remainingTimeMs = JsonEncodedText.Encode("RemainingTimeMs");
    private static readonly JsonEncodedText s_oldestRecordAgeMs = JsonEncodedText.Encode("OldestRecordAgeMs");
    private static readonly JsonEncodedText s_newestRecordAgeMs = JsonEncodedText.Encode("NewestRecordAgeMs");
    private static readonly JsonEncodedText s_spilledRecords = JsonEncodedText.Encode("SpilledRecords");
    private static readonly JsonEncodedText s_spilledAggregates = JsonEncodedText.Encode("SpilledAggregates");
    private static readonly JsonEncodedText s_sinkErrors = JsonEncodedText.Encode("SinkErrors");
    private static readonly JsonEncodedText s_poisonCallbackErrors = JsonEncodedText.Encode("PoisonCallbackErrors");

    private static readonly (JsonEncodedText Name, bool IsMilliseconds)[] s_metricDefinitions =
    [
        (s_recordsIn, false),
        (s_validRecords, false),
        (s_poisonRecords, false),
        (s_samplesAggregated, false),
        (s_aggregatesWritten, false),
        (s_failuresReported, false),
        (s_spilledRecords, false),
        (s_spilledAggregates, false),
        (s_parseMs, true),
        (s_aggregateMs, true),
        (s_quarantineSinkMs, true),
        (s_aggregateSinkMs, true),
        (s_remainingTimeMs, true),
        (s_oldestRecordAgeMs, true),
        (s_newestRecordAgeMs, true),
    ];

    // Lambda sets the variable before the process starts; read it once.
    private static string? s_environmentFunctionName;

    private static readonly PoisonReason[] s_reasons = Enum.GetValues<PoisonReason>();
    private static readonly JsonEncodedText[] s_poisonPropertyNames = CreatePoisonPropertyNames();

    /// <summary>Writes the invocation's metrics as one EMF line, ending in <c>\n</c>.</summary>
    /// <param name="summary">What the invocation did.</param>
    /// <param name="options">Namespace, function name and clock.</param>
    /// <param name="destination">Receives the UTF-8 line.</param>
    /// <exception cref="ArgumentNullException"><paramref name="summary"/> or <paramref name="destination"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// <see cref="EmfOptions.Namespace"/> or <see cref="EmfOptions.FunctionName"/> is one CloudWatch refuses (see their
    /// documentation).
    /// </exception>
    public static void Write(BatchSummary summary, in EmfOptions options, IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(destination);

        Validate(options, nameof(options));
        string ns = options.Namespace ?? DefaultNamespace;
        string functionName = DimensionValue(ResolveFunctionName(options.FunctionName));

        DateTimeOffset timestamp = options.Timestamp ?? (options.TimeProvider ?? TimeProvider.System).GetUtcNow();
        string shardId = DimensionValue(summary.ShardId);

        Utf8JsonWriter writer = JsonLineWriter.Rent(destination);
        try
        {
            writer.WriteStartObject();
            writer.WriteStartObject(s_aws);
            writer.WriteNumber(s_timestamp, timestamp.ToUnixTimeMilliseconds());
            writer.WriteStartArray(s_cloudWatchMetrics);
            writer.WriteStartObject();
            writer.WriteString(s_namespace, ns);
            writer.WriteStartArray(s_dimensions);
            writer.WriteStartArray();
            writer.WriteStringValue(s_functionName);
            writer.WriteStringValue(s_shardId);
            writer.WriteEndArray();
            writer.WriteEndArray();
            writer.WriteStartArray(s_metrics);
            foreach ((JsonEncodedText name, bool isMilliseconds) in s_metricDefinitions)
            {
                WriteDefinition(writer, name, isMilliseconds);
            }

            // Found by review: a sink that failed with nothing left to re-deliver, or a throwing poison callback, moved no
            // metric, so no metric alarm could fire. Only when not 0 (see the remarks).
            int sinkErrors = summary.FailedSinks;
            if (sinkErrors > 0)
            {
                WriteDefinition(writer, s_sinkErrors, isMilliseconds: false);
            }

            if (summary.PoisonCallbackErrors > 0)
            {
                WriteDefinition(writer, s_poisonCallbackErrors, isMilliseconds: false);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteEndObject();

            writer.WriteString(s_functionName, functionName);
            writer.WriteString(s_shardId, shardId);
            writer.WriteNumber(s_recordsIn, summary.Records);
            writer.WriteNumber(s_validRecords, summary.ValidRecords);
            writer.WriteNumber(s_poisonRecords, summary.PoisonRecords);
            writer.WriteNumber(s_samplesAggregated, summary.Samples);
            writer.WriteNumber(s_aggregatesWritten, summary.AggregatesWritten);
            writer.WriteNumber(s_failuresReported, summary.FailuresReported);
            writer.WriteNumber(s_spilledRecords, summary.SpilledRecords);
            writer.WriteNumber(s_spilledAggregates, summary.SpilledAggregates);
            writer.WriteNumber(s_parseMs, Milliseconds(summary.ParseDuration));
            writer.WriteNumber(s_aggregateMs, Milliseconds(summary.AggregateDuration));
            writer.WriteNumber(s_quarantineSinkMs, Milliseconds(summary.QuarantineSinkDuration));
            writer.WriteNumber(s_aggregateSinkMs, Milliseconds(summary.AggregateSinkDuration));
            writer.WriteNumber(s_remainingTimeMs, Milliseconds(summary.RemainingTime));
            writer.WriteNumber(s_oldestRecordAgeMs, Milliseconds(summary.OldestRecordAge));
            writer.WriteNumber(s_newestRecordAgeMs, Milliseconds(summary.NewestRecordAge));
            if (sinkErrors > 0)
            {
                writer.WriteNumber(s_sinkErrors, sinkErrors);
            }

            if (summary.PoisonCallbackErrors > 0)
            {
                writer.WriteNumber(s_poisonCallbackErrors, summary.PoisonCallbackErrors);
            }

            for (int i = 0; i < s_reasons.Length; i++)
            {
                int count = summary.GetPoisonCount(s_reasons[i]);
                if (count > 0)
                {
                    writer.WriteNumber(s_poisonPropertyNames[i], count);
                }
            }

            JsonLineWriter.EndLine(writer, destination);
        }
        finally
        {
            JsonLineWriter.Return(writer);
        }
    }

    private static void WriteDefinition(Utf8JsonWriter writer, JsonEncodedText name, bool isMilliseconds)
    {
        writer.WriteStartObject();
        writer.WriteString(s_name, name);
        writer.WriteString(s_unit, isMilliseconds ? s_milliseconds : s_count);
        writer.WriteEndObject();
    }

    /// <summary>A duration in milliseconds, rounded to the microsecond (log lines stay short; no precision that matters is lost).</summary>
    internal static double Milliseconds(TimeSpan duration) => Math.Round(duration.TotalMilliseconds, 3);

    /// <summary>
    /// Throws unless CloudWatch would take the options' namespace and function name: a line it refuses loses every
    /// metric of the invocation without an error anywhere but CloudWatch's own EMF validation metrics.
    /// </summary>
    /// <param name="options">The options; null members count as the defaults.</param>
    /// <param name="paramName">Named in the exception.</param>
    internal static void Validate(in EmfOptions options, string paramName)
    {
        // default(EmfOptions) has null members: treat them as the defaults.
        if (NamespaceProblem(options.Namespace ?? DefaultNamespace) is { } problem)
        {
            ThrowHelper.ThrowArgument(paramName, "The EMF namespace " + problem);
        }

        if (options.FunctionName is { Length: > 0 } name && (name.Length > MaxDimensionValueLength || !IsPrintableAscii(name) || string.IsNullOrWhiteSpace(name)))
        {
            ThrowHelper.ThrowArgument(paramName, "The EMF function name must be 1 to 1024 printable ASCII characters, not all spaces (CloudWatch's rule for a dimension value).");
        }
    }

    /// <summary>
    /// Why CloudWatch would refuse <paramref name="ns"/> as a namespace, or null: 1 to 255 characters, letters, digits and
    /// <c>. - _ / # :</c> and spaces, not all spaces, not starting with <c>:</c> or <c>AWS/</c> (reserved for AWS).
    /// </summary>
    internal static string? NamespaceProblem(string ns)
    {
        if (ns.Length is 0 or > MaxNameLength || string.IsNullOrWhiteSpace(ns))
        {
            return "must be 1 to 255 characters, not all spaces.";
        }

        foreach (char c in ns)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or '/' or '#' or ':' or ' '))
            {
                return "may hold only letters, digits, spaces and . - _ / # : (CloudWatch's rule).";
            }
        }

        return ns.StartsWith(':') || ns.StartsWith("AWS/", StringComparison.Ordinal)
            ? "must not start with ':' or 'AWS/' (reserved by CloudWatch)."
            : null;
    }

    /// <summary>
    /// A dimension value CloudWatch takes: printable ASCII, at most 1,024 characters, not blank. Lambda's shard ids and
    /// function names are; anything else (a hand-made event) is kept recognisable, with '?' for each other character.
    /// </summary>
    internal static string DimensionValue(string? value)
    {
        // Blank as CloudWatch reads it: within the first 1,024 characters, the ones kept (found by review: 1,100 spaces
        // and an 'x' passed as not blank and were cut to 1,024 spaces, a value CloudWatch refuses with the whole line).
        if (value is null || value.AsSpan(0, Math.Min(value.Length, MaxDimensionValueLength)).IsWhiteSpace())
        {
            return NoShard;
        }

        if (value.Length <= MaxDimensionValueLength && IsPrintableAscii(value))
        {
            return value;
        }

        return string.Create(Math.Min(value.Length, MaxDimensionValueLength), value, static (span, source) =>
        {
            for (int i = 0; i < span.Length; i++)
            {
                char c = source[i];
                span[i] = c is >= ' ' and <= '~' ? c : '?';
            }
        });
    }

    private static bool IsPrintableAscii(string value)
    {
        foreach (char c in value)
        {
            if (c is < ' ' or > '~')
            {
                return false;
            }
        }

        return true;
    }

    private static string ResolveFunctionName(string? configured) =>
        !string.IsNullOrEmpty(configured) ? configured : s_environmentFunctionName ??= ReadFunctionName();

    private static string ReadFunctionName() =>
        Environment.GetEnvironmentVariable("AWS_LAMBDA_FUNCTION_NAME") is { Length: > 0 } fromLambda ? fromLambda : "local";

    private static JsonEncodedText[] CreatePoisonPropertyNames()
    {
        var names = new JsonEncodedText[s_reasons.Length];
        for (int i = 0; i < names.Length; i++)
        {
            names[i] = JsonEncodedText.Encode("poison." + s_reasons[i].ToString());
        }

        return names;
    }
}
