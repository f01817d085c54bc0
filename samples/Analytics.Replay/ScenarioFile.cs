using System.Text.Json;
using System.Text.Json.Serialization;

namespace Analytics.Replay;

// The scenario JSON. Field names follow the issue: camelCase for the emulator's own settings, the event source
// mapping's API names (PascalCase) under "mapping". Missing fields take AWS's defaults; unknown fields and a field
// given twice (which would otherwise be taken silently, the last one winning) are errors.
internal sealed class ScenarioFile
{
    public int? Seed { get; set; }

    [JsonConverter(typeof(ZonedTimeConverter))]
    public DateTimeOffset? StartTime { get; set; }

    public int? DurationSeconds { get; set; }

    public StreamFile? Stream { get; set; }

    public List<ProducerFile>? Producers { get; set; }

    public List<RecordFile>? Records { get; set; }

    public MappingFile? Mapping { get; set; }

    public FunctionFile? Function { get; set; }

    public HandlerFile? Handler { get; set; }

    public DownstreamFile? Downstream { get; set; }

    public string? KeyAssignment { get; set; }

    /// <summary>The fraction of successes whose checkpoint the mapping loses (<c>EmulatorScenario.RedeliveryFraction</c>).</summary>
    public double? RedeliveryFraction { get; set; }

    /// <summary>Milliseconds between a failed invocation's end and its batch's next invocation (<c>EmulatorScenario.RetryDelay</c>).</summary>
    public double? RetryDelayMs { get; set; }

    /// <summary>Whether a bisection's given-up records go to the destination together (<c>EmulatorScenario.ConsolidateBisectedFailures</c>).</summary>
    public bool? ConsolidateBisectedFailures { get; set; }

    /// <summary>How the events' strings are escaped: <c>minimal</c> (default) or <c>allNonAscii</c> (<c>EmulatorScenario.EventStringEscaping</c>).</summary>
    public string? EventStringEscaping { get; set; }

    /// <summary>A SAM template (relative to the scenario file) whose Kinesis event mapping, memory, timeout and window the run takes.</summary>
    public string? Template { get; set; }
}

internal sealed class StreamFile
{
    public int? Shards { get; set; }

    public string? StreamName { get; set; }

    public int? RetentionHours { get; set; }

    public int? WriteRecordsPerSecond { get; set; }

    public int? WriteBytesPerSecond { get; set; }
}

internal sealed class ProducerFile
{
    public double? RatePerSecond { get; set; }

    public List<RateStepFile>? Schedule { get; set; }

    public int? PartitionKeys { get; set; }

    public string? KeyPrefix { get; set; }

    public GeneratorFile? Generator { get; set; }
}

internal sealed class RateStepFile
{
    [JsonRequired]
    public int FromSecond { get; set; }

    [JsonRequired]
    public double RatePerSecond { get; set; }
}

internal sealed class GeneratorFile
{
    public string? Kind { get; set; }

    public string? Template { get; set; }

    public int? Metrics { get; set; }

    public double? PoisonFraction { get; set; }

    public string? Poison { get; set; }
}

internal sealed class RecordFile
{
    public string? PartitionKey { get; set; }

    public string? Text { get; set; }

    public string? Data { get; set; }

    [JsonRequired]
    public long AtMs { get; set; }
}

internal sealed class MappingFile
{
    [JsonPropertyName("BatchSize")]
    public int? BatchSize { get; set; }

    [JsonPropertyName("MaximumBatchingWindowInSeconds")]
    public int? MaximumBatchingWindowInSeconds { get; set; }

    [JsonPropertyName("ParallelizationFactor")]
    public int? ParallelizationFactor { get; set; }

    [JsonPropertyName("BisectBatchOnFunctionError")]
    public bool? BisectBatchOnFunctionError { get; set; }

    [JsonPropertyName("MaximumRetryAttempts")]
    public int? MaximumRetryAttempts { get; set; }

    [JsonPropertyName("MaximumRecordAgeInSeconds")]
    public int? MaximumRecordAgeInSeconds { get; set; }

    [JsonPropertyName("FunctionResponseTypes")]
    public List<string>? FunctionResponseTypes { get; set; }

    [JsonPropertyName("TumblingWindowInSeconds")]
    public int? TumblingWindowInSeconds { get; set; }

    [JsonPropertyName("StartingPosition")]
    public string? StartingPosition { get; set; }

    [JsonPropertyName("StartingPositionTimestamp")]
    [JsonConverter(typeof(ZonedTimeConverter))]
    public DateTimeOffset? StartingPositionTimestamp { get; set; }

    [JsonPropertyName("DestinationConfig")]
    public DestinationConfigFile? DestinationConfig { get; set; }

    [JsonPropertyName("UUID")]
    public string? Uuid { get; set; }
}

internal sealed class DestinationConfigFile
{
    [JsonPropertyName("OnFailure")]
    public OnFailureFile? OnFailure { get; set; }
}

internal sealed class OnFailureFile
{
    [JsonPropertyName("Destination")]
    public string? Destination { get; set; }
}

internal sealed class FunctionFile
{
    public string? FunctionName { get; set; }

    public int? TimeoutSeconds { get; set; }

    public int? MemoryMb { get; set; }

    public int? InitMs { get; set; }

    public int? ReservedConcurrency { get; set; }

    public double? ComputeMsPerInvocation { get; set; }

    public double? ComputeMsPerRecord { get; set; }

    public bool? MeasureCompute { get; set; }
}

internal sealed class HandlerFile
{
    public string? Kind { get; set; }

    public List<RuleFile>? Rules { get; set; }

    public List<string>? Command { get; set; }

    /// <summary>The process's environment variables (the function's configuration): it gets these and Lambda's own, nothing of replay's.</summary>
    public Dictionary<string, string?>? Environment { get; set; }
}

internal sealed class RuleFile
{
    public string? WhenData { get; set; }

    public string? Action { get; set; }

    public string? Body { get; set; }

    public int? Ms { get; set; }
}

internal sealed class DownstreamFile
{
    public ServiceModelFile? Dynamodb { get; set; }

    public ServiceModelFile? S3 { get; set; }
}

internal sealed class ServiceModelFile
{
    public LatencyFile? LatencyMs { get; set; }

    public double? ThrottleFraction { get; set; }

    public List<OutageFile>? Outages { get; set; }

    public List<ThrottleEpisodeFile>? ThrottleEpisodes { get; set; }
}

internal sealed class ThrottleEpisodeFile
{
    [JsonRequired]
    public int FromSecond { get; set; }

    [JsonRequired]
    public int ToSecond { get; set; }

    [JsonRequired]
    public double Fraction { get; set; }
}

internal sealed class LatencyFile
{
    // Both required: a missing one meant no latency without a word (found by review: "latencyMs":{} ran without latency).
    [JsonRequired]
    public double P50 { get; set; }

    [JsonRequired]
    public double P99 { get; set; }
}

internal sealed class OutageFile
{
    [JsonRequired]
    public int FromSecond { get; set; }

    [JsonRequired]
    public int ToSecond { get; set; }

    /// <summary>Requests in the outage get no answer (they wait for their caller's cancellation) instead of HTTP 500.</summary>
    public bool Unanswered { get; set; }
}

/// <summary>
/// An ISO 8601 date and time with its zone (<c>Z</c> or an offset such as <c>+01:00</c>). The serializer's own reading
/// takes one without a zone in the machine's zone, so the same scenario gave other arrival times, object keys and
/// starting positions on another machine, each run saying it was reproducible.
/// </summary>
internal sealed class ZonedTimeConverter : JsonConverter<DateTimeOffset?>
{
    public override DateTimeOffset? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        string? text = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        if (text is null || !HasZone(text) || !reader.TryGetDateTimeOffset(out DateTimeOffset value))
        {
            throw new JsonException("expected an ISO 8601 date and time with its zone, such as 2025-01-20T10:00:00Z or 2025-01-20T11:00:00+01:00 (without one it would be read in this machine's zone)");
        }

        return value;
    }

    public override void Write(Utf8JsonWriter writer, DateTimeOffset? value, JsonSerializerOptions options) =>
        throw new NotSupportedException("Scenarios are only read.");

    /// <summary>A time part with a zone: it ends with Z, or holds a + or - offset (+hh:mm or +hh); the reader checks the form.</summary>
    private static bool HasZone(string text)
    {
        int time = text.IndexOf('T', StringComparison.OrdinalIgnoreCase);
        return time >= 0 && (text.EndsWith('Z') || text.EndsWith('z') || text.IndexOfAny(['+', '-'], time) > time);
    }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    AllowDuplicateProperties = false,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true)]
[JsonSerializable(typeof(ScenarioFile))]
internal sealed partial class ScenarioJsonContext : JsonSerializerContext;
