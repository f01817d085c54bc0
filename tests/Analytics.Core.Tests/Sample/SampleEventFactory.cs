using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Analytics.Core.Tests.Sample;

/// <summary>
/// Builds the example events in samples/events/ from plain metric records, so their base64 is right and their
/// timestamps obey the validator's rules (at most 5 minutes after, 24 hours before each record's arrival) unless a
/// record is poison by design. <see cref="SampleEventsTests"/> keeps the committed files equal to what this builds.
/// </summary>
internal static class SampleEventFactory
{
    public const string StreamArn = "arn:aws:kinesis:us-east-1:123456789012:stream/metrics-stream";
    public const string ShardId = "shardId-000000000000";

    /// <summary>2025-01-20T10:00:00Z, where the examples start.</summary>
    public static readonly DateTimeOffset T0 = new(2025, 1, 20, 10, 0, 0, TimeSpan.Zero);

    // Relaxed escaping keeps '+' in base64 as it is, as Lambda sends it.
    private static readonly JsonWriterOptions s_writerOptions = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly BigInteger s_firstSequence = BigInteger.Parse("49659185302958231829457386524915871837620150934716776450", CultureInfo.InvariantCulture);
    private static readonly BigInteger s_sequenceStep = BigInteger.Parse("1180591620717411303426", CultureInfo.InvariantCulture);

    /// <summary>One Kinesis record of an example: its blob (already base64, so poison can be invalid base64) and arrival.</summary>
    public sealed record ExampleRecord(string PartitionKey, string Base64Data, DateTimeOffset Arrival, string? ExpectedPoison = null);

    public static string Base64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    public static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    public static string Sample(string metric, string value, DateTimeOffset timestamp, string? dimensionsJson = null) =>
        $"{{\"metric\":\"{metric}\",\"value\":{value},\"timestamp\":{Ms(timestamp)}" + (dimensionsJson is null ? "}" : $",\"dimensions\":{dimensionsJson}}}");

    /// <summary>The good records of kinesis-basic.json: single samples and NDJSON records, dimensions in any order.</summary>
    public static IReadOnlyList<ExampleRecord> BasicRecords() =>
    [
        new("checkout-1", Base64(Sample("api.latency_ms", "12.5", T0.AddSeconds(1), """{"service":"checkout","region":"eu-west-1"}""")), T0.AddSeconds(2.125)),
        new("checkout-1", Base64(string.Join('\n',
            Sample("api.latency_ms", "20", T0.AddSeconds(10), """{"service":"checkout","region":"eu-west-1"}"""),
            Sample("api.latency_ms", "31.25", T0.AddSeconds(12), """{"region":"eu-west-1","service":"checkout"}"""),
            Sample("api.latency_ms", "8", T0.AddSeconds(15), """{"service":"checkout","region":"eu-west-1"}""")) + "\n"), T0.AddSeconds(16.5)),
        new("orders", Base64(string.Join('\n',
            Sample("orders.placed", "1", T0.AddSeconds(20), """{"service":"checkout"}"""),
            Sample("orders.placed", "3", T0.AddSeconds(41), """{"service":"checkout"}"""))), T0.AddSeconds(42.75)),
        new("queue", Base64(string.Join('\n',
            Sample("queue.depth", "42", T0.AddSeconds(30)),
            Sample("queue.depth", "40", T0.AddSeconds(59)),
            Sample("queue.depth", "37", T0.AddSeconds(61)))), T0.AddSeconds(61.5)),
        new("checkout-2", Base64(Sample("api.latency_ms", "15", T0.AddSeconds(62), """{"service":"checkout","region":"eu-west-1"}""")), T0.AddSeconds(63.25)),
        new("checkout-2", Base64(Sample("api.latency_ms", "250", T0.AddSeconds(65), """{"service":"checkout","region":"us-east-1"}""")), T0.AddSeconds(65.5)),
    ];

    /// <summary>kinesis-poison.json: good records mixed with poison pills of several kinds (expected reason noted).</summary>
    public static IReadOnlyList<ExampleRecord> PoisonRecords()
    {
        DateTimeOffset a = T0.AddMinutes(5);
        string dims = """{"service":"checkout","region":"eu-west-1"}""";
        string tooManyDimensions = "{" + string.Join(',', Enumerable.Range(1, 31).Select(i => $"\"d{i:00}\":\"v\"")) + "}";
        return
        [
            new("good", Base64(Sample("api.latency_ms", "10", a.AddSeconds(-3), dims)), a),
            new("bad", "eyJtZXRyaWMiOiJh@@not base64@@", a.AddSeconds(1), nameof(PoisonReason.InvalidBase64)),
            new("bad", Base64("latency=12ms service=checkout"), a.AddSeconds(2), nameof(PoisonReason.InvalidJson)),
            new("good", Base64(Sample("api.latency_ms", "30", a.AddSeconds(2), dims)), a.AddSeconds(3)),
            new("bad", Base64(Sample("api.latency_ms", "\"12.5\"", a.AddSeconds(3), dims)), a.AddSeconds(4), nameof(PoisonReason.WrongType)),
            new("bad", Base64("""{"metric":"api.latency_ms","value":12.5,"dimensions":{"service":"checkout"}}"""), a.AddSeconds(5), nameof(PoisonReason.MissingField)),
            new("bad", Base64(Sample("api.latency_ms", "1e400", a.AddSeconds(5), dims)), a.AddSeconds(6), nameof(PoisonReason.NonFiniteValue)),
            new("bad", Base64(Sample("api.latency_ms", "NaN", a.AddSeconds(6), dims)), a.AddSeconds(7), nameof(PoisonReason.InvalidJson)),
            new("good", Base64(Sample("api.latency_ms", "20", a.AddSeconds(7), dims)), a.AddSeconds(8)),
            new("bad", Base64(Sample("api.latency_ms", "5", a.AddSeconds(9).AddDays(1), dims)), a.AddSeconds(9), nameof(PoisonReason.TimestampInFuture)),
            new("bad", Base64(Sample("api.latency_ms", "5", a.AddSeconds(10), tooManyDimensions)), a.AddSeconds(10), nameof(PoisonReason.TooManyDimensions)),
            new("bad", Base64(Sample("api.latency_ms", "5", a.AddDays(-2), dims)), a.AddSeconds(11), nameof(PoisonReason.TimestampTooOld)),
            new("bad", Base64(Sample("api.latency_ms", "7", a.AddSeconds(11), dims) + "\n{\"metric\":\"api.latency_ms\"}"), a.AddSeconds(12), nameof(PoisonReason.MissingField)),
            new("good", Base64(Sample("orders.placed", "2", a.AddSeconds(12), """{"service":"checkout"}""")), a.AddSeconds(13)),
        ];
    }

    /// <summary>The records of tumbling-window-1.json (arrivals inside the 10:00-10:02 window).</summary>
    public static IReadOnlyList<ExampleRecord> Window1Records() =>
    [
        new("checkout", Base64(Sample("api.latency_ms", "11", T0.AddSeconds(5), """{"service":"checkout"}""")), T0.AddSeconds(6)),
        new("checkout", Base64(string.Join('\n',
            Sample("api.latency_ms", "19", T0.AddSeconds(20), """{"service":"checkout"}"""),
            Sample("api.latency_ms", "27", T0.AddSeconds(25), """{"service":"checkout"}"""))), T0.AddSeconds(26)),
    ];

    /// <summary>The records of tumbling-window-2.json, the final invocation of the same window.</summary>
    public static IReadOnlyList<ExampleRecord> Window2Records() =>
    [
        new("checkout", Base64(Sample("api.latency_ms", "13", T0.AddSeconds(50), """{"service":"checkout"}""")), T0.AddSeconds(70)),
        new("checkout", Base64(Sample("api.latency_ms", "44", T0.AddSeconds(75), """{"service":"checkout"}""")), T0.AddSeconds(76)),
    ];

    /// <summary>
    /// Records as the Kinesis Producer Library aggregates them: a plain record, a container whose second user record
    /// is poison, and a container of good user records.
    /// </summary>
    public static IReadOnlyList<ExampleRecord> KplRecords()
    {
        DateTimeOffset a = T0.AddMinutes(10);
        const string dims = """{"service":"checkout"}""";
        static KplTestUserRecord User(string key, string json) => new(key, null, Encoding.UTF8.GetBytes(json), []);
        byte[] mixed = KplTestEncoder.Aggregate(
        [
            User("user-1", Sample("api.latency_ms", "12", a.AddSeconds(-2), dims)),
            User("user-2", """{"metric":"api.latency_ms","value":"slow","timestamp":""" + Ms(a.AddSeconds(-1)) + "}"),
            User("user-3", Sample("api.latency_ms", "18", a.AddSeconds(-1), dims)),
        ]);
        byte[] good = KplTestEncoder.Aggregate(
        [
            User("user-4", Sample("orders.placed", "1", a, dims)),
            User("user-5", Sample("orders.placed", "3", a.AddSeconds(1), dims) + "\n" + Sample("api.latency_ms", "30", a.AddSeconds(1), dims)),
        ]);
        return
        [
            new("plain", Base64(Sample("api.latency_ms", "20", a.AddSeconds(-3), dims)), a),
            new("kpl-1", Convert.ToBase64String(mixed), a.AddSeconds(1)),
            new("kpl-2", Convert.ToBase64String(good), a.AddSeconds(2)),
        ];
    }

    public static string KinesisKpl() => Event(KplRecords(), 300, window: null);

    public static string KinesisBasic() => Event(BasicRecords(), 0, window: null);

    public static string KinesisPoison() => Event(PoisonRecords(), 100, window: null);

    public static string TumblingWindow1() => Event(Window1Records(), 200, new WindowPart("{}", IsFinal: false));

    /// <summary>The final invocation of the window; <paramref name="stateJson"/> is the <c>state</c> the first returned.</summary>
    public static string TumblingWindow2(string stateJson) => Event(Window2Records(), 200 + Window1Records().Count, new WindowPart(stateJson, IsFinal: true));

    /// <summary>
    /// The example event of the AWS Lambda developer guide ("Using Lambda with Kinesis"): two records whose data is
    /// plain text, not metrics, so both are poison (not JSON) for this library.
    /// </summary>
    public static string AwsDocumentationExample()
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, s_writerOptions))
        {
            w.WriteStartObject();
            w.WriteStartArray("Records");
            AwsDocsRecord(w, "49590338271490256608559692538361571095921575989136588898", "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==");
            AwsDocsRecord(w, "49590338271490256608559692540925702759324208523137515618", "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0IDEyMy4=");
            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    public static string SequenceNumber(int index) => (s_firstSequence + (s_sequenceStep * index)).ToString(CultureInfo.InvariantCulture);

    private static void AwsDocsRecord(Utf8JsonWriter w, string sequenceNumber, string data)
    {
        w.WriteStartObject();
        w.WriteStartObject("kinesis");
        w.WriteString("kinesisSchemaVersion", "1.0");
        w.WriteString("partitionKey", "1");
        w.WriteString("sequenceNumber", sequenceNumber);
        w.WriteString("data", data);
        w.WritePropertyName("approximateArrivalTimestamp");
        w.WriteRawValue("1.607497475E9");
        w.WriteEndObject();
        w.WriteString("eventSource", "aws:kinesis");
        w.WriteString("eventVersion", "1.0");
        w.WriteString("eventID", "shardId-000000000006:" + sequenceNumber);
        w.WriteString("eventName", "aws:kinesis:record");
        w.WriteString("invokeIdentityArn", "arn:aws:iam::111122223333:role/lambda-kinesis-role");
        w.WriteString("awsRegion", "us-east-1");
        w.WriteString("eventSourceARN", "arn:aws:kinesis:us-east-1:111122223333:stream/lambda-stream");
        w.WriteEndObject();
    }

    private sealed record WindowPart(string StateJson, bool IsFinal);

    private static string Event(IReadOnlyList<ExampleRecord> records, int firstSequenceIndex, WindowPart? window)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, s_writerOptions))
        {
            w.WriteStartObject();
            w.WriteStartArray("Records");
            for (int i = 0; i < records.Count; i++)
            {
                ExampleRecord r = records[i];
                string sequence = SequenceNumber(firstSequenceIndex + i);
                w.WriteStartObject();
                w.WriteStartObject("kinesis");
                w.WriteString("kinesisSchemaVersion", "1.0");
                w.WriteString("partitionKey", r.PartitionKey);
                w.WriteString("sequenceNumber", sequence);
                w.WriteString("data", r.Base64Data);
                w.WritePropertyName("approximateArrivalTimestamp");
                w.WriteRawValue((r.Arrival.ToUnixTimeMilliseconds() / 1000m).ToString("0.000", CultureInfo.InvariantCulture));
                w.WriteEndObject();
                w.WriteString("eventSource", "aws:kinesis");
                w.WriteString("eventVersion", "1.0");
                w.WriteString("eventID", ShardId + ":" + sequence);
                w.WriteString("eventName", "aws:kinesis:record");
                w.WriteString("invokeIdentityArn", "arn:aws:iam::123456789012:role/analytics-sample-role");
                w.WriteString("awsRegion", "us-east-1");
                w.WriteString("eventSourceARN", StreamArn);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            if (window is not null)
            {
                w.WriteStartObject("window");
                w.WriteString("start", "2025-01-20T10:00:00Z");
                w.WriteString("end", "2025-01-20T10:02:00Z");
                w.WriteEndObject();
                w.WritePropertyName("state");
                w.WriteRawValue(window.StateJson);
                w.WriteString("shardId", ShardId);
                w.WriteString("eventSourceARN", StreamArn);
                w.WriteBoolean("isFinalInvokeForWindow", window.IsFinal);
                w.WriteBoolean("isWindowTerminatedEarly", false);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }
}
