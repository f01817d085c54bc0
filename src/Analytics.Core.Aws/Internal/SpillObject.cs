using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>A spill object's pair, as read back by a redrive.</summary>
internal sealed record SpillObjectPair(PairKey Key, bool OutcomeUnknown, List<(string SequenceNumber, string PartitionKey, double Value)> Samples);

/// <summary>A spill object, as read back by a redrive.</summary>
/// <remarks>
/// <see cref="Bucket"/> and <see cref="Key"/> are where the function wrote it (null in objects written before they were
/// recorded): a redrive that finds the object anywhere else is looking at a copy.
/// <see cref="ShardFloor"/>: the function's DynamoDB sink kept one watermark per shard
/// (<see cref="DynamoDbAggregateSinkOptions.PerShardWatermarkOnly"/>), so a redrive decides the object's unknown pairs from
/// the item's shard floor and the shard's pre-write entries, not per partition key (false in objects written before it
/// was recorded, and for the default layout).
/// </remarks>
internal sealed record SpillObjectContent(string ShardId, string? EventSourceArn, string SpillId, AggregatorOptions Options, List<SpillObjectPair> Pairs, string? Table = null, string? Bucket = null, string? Key = null, bool ShardFloor = false);

/// <summary>Key and body of the S3 object that keeps one spill (format in docs/failure-modes.md).</summary>
internal static class SpillObject
{
    public const string Format = "analytics.core.spill/1";

    private static readonly JsonWriterOptions s_writerOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary><c>&lt;prefix&gt;/&lt;stream&gt;/&lt;shardId&gt;/&lt;spillId&gt;.json</c>: one spill id of a shard, one key.</summary>
    public static string Key(string prefix, string? eventSourceArn, string shardId, string spillId)
    {
        string trimmed = prefix.Trim('/');
        return (trimmed.Length > 0 ? trimmed + "/" : string.Empty) + QuarantineObject.StreamName(eventSourceArn) + "/" + shardId + "/" + spillId + ".json";
    }

    /// <summary>
    /// Writes the body: the shard, the table the samples are for (when known), where the object is written (bucket and
    /// key, when known), whether the table's sink keeps one watermark per shard (<c>shardFloor</c>, only when it does),
    /// the aggregator's sketch parameters, and per pair its item key, readable series, flag and samples.
    /// </summary>
    public static void WriteBody(SpillBatch spill, IReadOnlyList<(PairKey Key, bool OutcomeUnknown, IReadOnlyList<SpilledSample> Samples)> pairs, IBufferWriter<byte> destination, string? table = null, string? bucket = null, string? objectKey = null, bool shardFloor = false)
    {
        using var writer = new Utf8JsonWriter(destination, s_writerOptions);
        AggregatorOptions options = spill.Batch.AggregatorOptions;
        writer.WriteStartObject();
        writer.WriteString("format", Format);
        writer.WriteString("shardId", spill.ShardId);
        if (spill.EventSourceArn is not null)
        {
            writer.WriteString("eventSourceArn", spill.EventSourceArn);
        }

        writer.WriteString("spillId", spill.SpillId);
        if (table is not null)
        {
            writer.WriteString("table", table);
        }

        if (bucket is not null && objectKey is not null)
        {
            writer.WriteString("bucket", bucket);
            writer.WriteString("key", objectKey);
        }

        if (shardFloor)
        {
            writer.WriteBoolean("shardFloor", true);
        }

        writer.WriteNumber("windowMs", (long)options.WindowSize.TotalMilliseconds);
        writer.WriteNumber("relativeAccuracy", options.RelativeAccuracy);
        writer.WriteNumber("maxBins", options.MaxBins);
        writer.WriteStartArray("pairs");
        foreach ((PairKey key, bool unknown, IReadOnlyList<SpilledSample> samples) in pairs)
        {
            writer.WriteStartObject();
            writer.WriteString("pk", key.Pk);
            writer.WriteString("sk", key.Sk);
            writer.WriteString("windowEnd", key.WindowEnd);
            writer.WriteString("metric", key.Metric);
            writer.WriteStartObject("dimensions");
            foreach (KeyValuePair<string, string> d in key.Dimensions)
            {
                writer.WriteString(d.Key, d.Value);
            }

            writer.WriteEndObject();
            writer.WriteBoolean("outcomeUnknown", unknown);
            writer.WriteStartArray("samples");
            foreach (SpilledSample s in samples)
            {
                writer.WriteStartArray();
                writer.WriteStringValue(s.SequenceNumber);
                writer.WriteStringValue(s.PartitionKey);
                writer.WriteNumberValue(s.Value);
                writer.WriteEndArray();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.Flush();
    }

    /// <summary>Reads a body back; false, with the reason, when it is not a spill object of this format (one JSON object, nothing after it).</summary>
    public static bool TryRead(ReadOnlyMemory<byte> body, out SpillObjectContent? content, out string? error)
    {
        content = null;
        error = null;
        try
        {
            using JsonDocument document = JsonDocument.Parse(body);
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out JsonElement format) || format.GetString() != Format)
            {
                error = $"not a spill object of format {Format}";
                return false;
            }

            long windowMs = root.GetProperty("windowMs").GetInt64();
            if (windowMs is < 1_000 or > 3_600_000)
            {
                error = $"malformed spill object: windowMs is {windowMs}, not 1 s to 1 h";
                return false;
            }

            var options = AggregatorOptions.Default with
            {
                WindowSize = TimeSpan.FromMilliseconds(windowMs),
                RelativeAccuracy = root.GetProperty("relativeAccuracy").GetDouble(),
                MaxBins = root.GetProperty("maxBins").GetInt32(),
            };
            try
            {
                // The redrive builds its aggregates with these options: out of range, it would stop the whole run.
                _ = new MetricAggregate(options);
            }
            catch (ArgumentOutOfRangeException)
            {
                error = "malformed spill object: relativeAccuracy or maxBins out of range (0.0001 to 0.5, 16 to 65,536)";
                return false;
            }
            var pairs = new List<SpillObjectPair>();
            foreach (JsonElement p in root.GetProperty("pairs").EnumerateArray())
            {
                var dimensions = new List<KeyValuePair<string, string>>();
                foreach (JsonProperty d in p.GetProperty("dimensions").EnumerateObject())
                {
                    if (d.Value.GetString() is not { } value)
                    {
                        error = "malformed spill object: a dimension value is not a string";
                        return false;
                    }

                    dimensions.Add(new(d.Name, value));
                }

                var samples = new List<(string, string, double)>();
                foreach (JsonElement s in p.GetProperty("samples").EnumerateArray())
                {
                    string sequence = s[0].GetString() ?? string.Empty;
                    double value = s[2].GetDouble();
                    if (!StoredSequenceNumber.IsValid(sequence) ||
                        !double.IsFinite(value) || s[1].GetString() is not { } partitionKey)
                    {
                        error = "malformed spill object: a sample is not [sequence number, partition key, finite value]";
                        return false;
                    }

                    samples.Add((sequence, partitionKey, value));
                }

                var key = new PairKey(Text(p, "pk"), Text(p, "sk"), Text(p, "windowEnd"), Text(p, "metric"), dimensions.ToArray());
                pairs.Add(new SpillObjectPair(key, p.GetProperty("outcomeUnknown").GetBoolean(), samples));
            }

            content = new SpillObjectContent(
                Text(root, "shardId"),
                root.TryGetProperty("eventSourceArn", out JsonElement arn) ? arn.GetString() : null,
                Text(root, "spillId"),
                options,
                pairs,
                root.TryGetProperty("table", out _) ? Text(root, "table") : null,
                root.TryGetProperty("bucket", out _) ? Text(root, "bucket") : null,
                root.TryGetProperty("key", out _) ? Text(root, "key") : null,
                root.TryGetProperty("shardFloor", out JsonElement shardFloor) && shardFloor.GetBoolean());
            return true;
        }
        catch (Exception e) when (e is JsonException or FormatException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException or NullReferenceException)
        {
            error = "malformed spill object: " + e.GetType().Name;
            return false;
        }
    }

    /// <summary>The string property <paramref name="name"/>; a null is as malformed as a number (for which <c>GetString</c> throws).</summary>
    private static string Text(JsonElement element, string name)
    {
        string? text = element.GetProperty(name).GetString();
        if (text is null)
        {
            AwsThrowHelper.ThrowFormat(name + " is null");
        }

        return text;
    }
}
