using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Analytics.Core.Tests;

/// <summary>One record for <see cref="TestEvents.Build"/>.</summary>
internal sealed record TestRecord(string SequenceNumber, byte[] Data, long ArrivalMs, string PartitionKey = "pk", string? RawBase64 = null);

/// <summary>Builds Lambda Kinesis events as the Lambda service sends them (written independently of the library).</summary>
internal static class TestEvents
{
    /// <summary>The arrival time the tests' records carry, epoch ms: 2025-01-20T10:00:00Z.</summary>
    public const long Arrival = 1_737_367_200_000;

    public const string ShardId = "shardId-000000000007";
    public const string StreamArn = "arn:aws:kinesis:us-east-1:123456789012:stream/metrics";

    /// <summary>Runs one event through the processor with 30 s left; its answer (the partial batch response, the window state).</summary>
    public static async Task<JsonElement> RunAsync(KinesisBatchProcessor processor, byte[] evt)
    {
        var output = new System.Buffers.ArrayBufferWriter<byte>();
        await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), output);
        return JsonDocument.Parse(output.WrittenMemory).RootElement.Clone();
    }

    /// <summary>A Kinesis-style sequence number: 56 digits, increasing with <paramref name="n"/>.</summary>
    public static string Seq(long n) => "4959033827149025660855969253836157109592157598913" + n.ToString("D7", CultureInfo.InvariantCulture);

    /// <summary>A tumbling-window event of the 10:00-10:15 window of <see cref="ShardId"/>, carrying <paramref name="stateJson"/>.</summary>
    public static byte[] BuildWindow(IEnumerable<TestRecord> records, string stateJson, bool final = false, bool terminatedEarly = false) =>
        Build(records, w =>
        {
            w.WriteStartObject("window");
            w.WriteString("start", "2025-01-20T10:00:00Z");
            w.WriteString("end", "2025-01-20T10:15:00Z");
            w.WriteEndObject();
            w.WritePropertyName("state");
            w.WriteRawValue(stateJson);
            w.WriteString("shardId", ShardId);
            w.WriteString("eventSourceARN", StreamArn);
            w.WriteBoolean("isFinalInvokeForWindow", final);
            w.WriteBoolean("isWindowTerminatedEarly", terminatedEarly);
        });

    public static byte[] Build(IEnumerable<TestRecord> records, Action<Utf8JsonWriter>? extraTopLevel = null)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteStartArray("Records");
            foreach (TestRecord r in records)
            {
                w.WriteStartObject();
                w.WriteStartObject("kinesis");
                w.WriteString("kinesisSchemaVersion", "1.0");
                w.WriteString("partitionKey", r.PartitionKey);
                w.WriteString("sequenceNumber", r.SequenceNumber);
                w.WriteString("data", r.RawBase64 ?? Convert.ToBase64String(r.Data));
                w.WriteNumber("approximateArrivalTimestamp", r.ArrivalMs / 1000m);
                w.WriteEndObject();
                w.WriteString("eventSource", "aws:kinesis");
                w.WriteString("eventVersion", "1.0");
                w.WriteString("eventID", ShardId + ":" + r.SequenceNumber);
                w.WriteString("eventName", "aws:kinesis:record");
                w.WriteString("invokeIdentityArn", "arn:aws:iam::123456789012:role/lambda-role");
                w.WriteString("awsRegion", "us-east-1");
                w.WriteString("eventSourceARN", StreamArn);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            extraTopLevel?.Invoke(w);
            w.WriteEndObject();
        }

        return stream.ToArray();
    }

    public static byte[] Single(byte[] data, long arrivalMs, string? rawBase64 = null) =>
        Build([new TestRecord(Seq(1), data, arrivalMs, RawBase64: rawBase64)]);

    /// <summary>Record <paramref name="n"/>: metric <c>m</c> of dimension <c>host</c>, a second before the arrival.</summary>
    public static TestRecord HostRecord(int n, string host, double value) =>
        new(Seq(n), Utf8(Sample("m", value, Arrival - 1000, ("host", host))), Arrival);

    /// <summary>A metric sample as JSON, written by hand.</summary>
    public static string Sample(string metric, double value, long timestampMs, params (string Key, string Value)[] dimensions)
    {
        var sb = new StringBuilder();
        sb.Append("{\"metric\":").Append(JsonSerializer.Serialize(metric, TestJson.Default.String));
        sb.Append(",\"value\":").Append(value.ToString("R", CultureInfo.InvariantCulture));
        sb.Append(",\"timestamp\":").Append(timestampMs.ToString(CultureInfo.InvariantCulture));
        if (dimensions.Length > 0)
        {
            sb.Append(",\"dimensions\":{");
            sb.AppendJoin(',', dimensions.Select(d => JsonSerializer.Serialize(d.Key, TestJson.Default.String) + ":" + JsonSerializer.Serialize(d.Value, TestJson.Default.String)));
            sb.Append('}');
        }

        return sb.Append('}').ToString();
    }

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class TestJson : System.Text.Json.Serialization.JsonSerializerContext;
