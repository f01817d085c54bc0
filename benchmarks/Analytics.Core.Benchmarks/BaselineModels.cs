using System.Text.Json;
using System.Text.Json.Serialization;

namespace Analytics.Core.Benchmarks;

// Shaped like Amazon.Lambda.KinesisEvents (KinesisEvent, KinesisEventRecord, Record), which is what functions
// deserialize today; that package is not referenced, the shapes are copied.

public sealed class KinesisEvent
{
    public List<KinesisEventRecord> Records { get; set; } = [];
}

public sealed class KinesisEventRecord
{
    public string? AwsRegion { get; set; }

    [JsonPropertyName("eventID")]
    public string? EventId { get; set; }

    public string? EventName { get; set; }

    public string? EventSource { get; set; }

    [JsonPropertyName("eventSourceARN")]
    public string? EventSourceArn { get; set; }

    public string? EventVersion { get; set; }

    public string? InvokeIdentityArn { get; set; }

    public KinesisRecordBody Kinesis { get; set; } = new();
}

public sealed class KinesisRecordBody
{
    [JsonConverter(typeof(EpochSecondsConverter))]
    public DateTime ApproximateArrivalTimestamp { get; set; }

    [JsonConverter(typeof(Base64MemoryStreamConverter))]
    public MemoryStream Data { get; set; } = new();

    public string? EncryptionType { get; set; }

    public string? PartitionKey { get; set; }

    public string? SequenceNumber { get; set; }

    public string? KinesisSchemaVersion { get; set; }
}

/// <summary>As the Lambda serializer does: the base64 string becomes a MemoryStream over Convert.FromBase64String.</summary>
public sealed class Base64MemoryStreamConverter : JsonConverter<MemoryStream>
{
    public override MemoryStream Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        new(Convert.FromBase64String(reader.GetString()!));

    public override void Write(Utf8JsonWriter writer, MemoryStream value, JsonSerializerOptions options) =>
        writer.WriteBase64StringValue(value.ToArray());
}

/// <summary>Epoch seconds with a fraction, as Kinesis writes approximateArrivalTimestamp.</summary>
public sealed class EpochSecondsConverter : JsonConverter<DateTime>
{
    public override DateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DateTime.UnixEpoch.AddMilliseconds(Math.Round(reader.GetDouble() * 1000));

    public override void Write(Utf8JsonWriter writer, DateTime value, JsonSerializerOptions options) =>
        writer.WriteNumberValue((value - DateTime.UnixEpoch).TotalSeconds);
}

/// <summary>One metric sample as a POCO.</summary>
public sealed class MetricPoco
{
    public string? Metric { get; set; }

    public double Value { get; set; }

    public long Timestamp { get; set; }

    public Dictionary<string, string>? Dimensions { get; set; }
}

public sealed class BatchItemFailure
{
    public string? ItemIdentifier { get; set; }
}

public sealed class BatchResponse
{
    public List<BatchItemFailure> BatchItemFailures { get; set; } = [];
}

/// <summary>What the baseline computes per (series, window).</summary>
public sealed class BaselineAggregate
{
    public List<double> Values { get; } = [];

    public double Sum { get; set; }

    public double Min { get; set; } = double.PositiveInfinity;

    public double Max { get; set; } = double.NegativeInfinity;

    public double P50 { get; set; }

    public double P90 { get; set; }

    public double P95 { get; set; }

    public double P99 { get; set; }
}

// As the Lambda serializer: camelCase, case-insensitive (the event's top level is "Records").
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(KinesisEvent))]
[JsonSerializable(typeof(MetricPoco))]
[JsonSerializable(typeof(BatchResponse))]
public sealed partial class BaselineJson : JsonSerializerContext;
