using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Analytics.Core.Benchmarks;

/// <summary>
/// Deterministic inputs shared by every benchmark: metric records of 150 to 300 bytes over 20 metrics × 50 dimension
/// sets (1,000 series), one in eight records NDJSON with two samples, events shaped as Lambda sends them.
/// </summary>
public static class BenchmarkData
{
    /// <summary>Approximate arrival of every record (epoch ms); sample timestamps lie up to 90 s before it (two windows).</summary>
    public const long ArrivalMs = 1_737_367_290_000;

    public const string ShardId = "shardId-000000000007";
    public const string StreamArn = "arn:aws:kinesis:us-east-1:123456789012:stream/metrics";

    public const int MetricCount = 20;
    public const int DimensionSetCount = 50;
    public const int MinRecordBytes = 150;
    public const int MaxRecordBytes = 300;

    private static readonly string[] s_metrics =
    [
        "http.server.duration", "http.client.duration", "db.query.duration", "db.pool.wait", "queue.wait_time",
        "queue.depth", "cache.get.duration", "cache.hit_ratio", "payment.auth.duration", "payment.amount",
        "checkout.items", "search.latency", "search.results", "render.time", "gc.pause",
        "cpu.utilization", "memory.rss", "disk.io.wait", "lambda.init.duration", "lambda.billed.duration",
    ];

    private static readonly string[] s_services = ["checkout", "cart", "search", "catalog", "payments", "auth", "users", "orders", "shipping", "reviews"];
    private static readonly string[] s_regions = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1"];
    private static readonly string[] s_zonePrefixes = ["use1", "usw2", "euw1", "euc1", "aps1"];

    /// <summary>Metric name of series <paramref name="series"/> (0 to 999).</summary>
    public static string Metric(int series) => s_metrics[series % MetricCount];

    /// <summary>Dimensions of series <paramref name="series"/> (0 to 999), in the order a producer writes them.</summary>
    public static (string Key, string Value)[] Dimensions(int series)
    {
        int set = series / MetricCount;
        return [("service", s_services[set % 10]), ("region", s_regions[set / 10]), ("az", s_zonePrefixes[set / 10] + "-az" + (1 + (set % 3)))];
    }

    /// <summary>A latency-like value: log-normal around 20, three decimals.</summary>
    public static double NextValue(Random random)
    {
        double normal = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return Math.Round(Math.Exp(3 + normal), 3);
    }

    /// <summary>One sample as compact JSON; <paramref name="extra"/> adds fields the parser skips (as producers do).</summary>
    public static string Sample(int series, double value, long timestampMs, bool extra)
    {
        var sb = new StringBuilder(256);
        sb.Append("{\"metric\":\"").Append(Metric(series)).Append("\",\"value\":").Append(value.ToString("R", CultureInfo.InvariantCulture));
        sb.Append(",\"timestamp\":").Append(timestampMs.ToString(CultureInfo.InvariantCulture));
        if (extra)
        {
            sb.Append(",\"unit\":\"Milliseconds\",\"host\":\"ip-10-0-").Append(series % 256).Append('-').Append(series % 97).Append('"');
        }

        sb.Append(",\"dimensions\":{");
        (string Key, string Value)[] dims = Dimensions(series);
        for (int i = 0; i < dims.Length; i++)
        {
            sb.Append(i == 0 ? "\"" : ",\"").Append(dims[i].Key).Append("\":\"").Append(dims[i].Value).Append('"');
        }

        return sb.Append("}}").ToString();
    }

    /// <summary>The data of record <paramref name="index"/>: one sample with extra fields, or (one in eight) two samples as NDJSON.</summary>
    public static byte[] RecordData(int index, Random random, out int samples)
    {
        long Timestamp() => ArrivalMs - random.Next(0, 90_000);
        string text;
        if (index % 8 == 7)
        {
            samples = 2;
            string first = Sample(random.Next(1000), NextValue(random), Timestamp(), extra: false);
            do
            {
                // Redraw the second sample until the record fits 300 bytes (deterministic for a seed).
                text = first + "\n" + Sample(random.Next(1000), NextValue(random), Timestamp(), extra: false);
            }
            while (text.Length > MaxRecordBytes);
        }
        else
        {
            samples = 1;
            text = Sample(random.Next(1000), NextValue(random), Timestamp(), extra: true);
        }

        byte[] data = Encoding.UTF8.GetBytes(text);
        if (data.Length is < MinRecordBytes or > MaxRecordBytes)
        {
            throw new InvalidOperationException($"Record {index} has {data.Length} bytes, outside {MinRecordBytes} to {MaxRecordBytes}: {text}");
        }

        return data;
    }

    /// <summary>The data of <paramref name="count"/> records, seeded by the count.</summary>
    public static List<byte[]> Records(int count, out int samples)
    {
        var random = new Random(count);
        var records = new List<byte[]>(count);
        samples = 0;
        for (int i = 0; i < count; i++)
        {
            records.Add(RecordData(i, random, out int n));
            samples += n;
        }

        return records;
    }

    /// <summary>A 56-digit Kinesis sequence number, increasing with <paramref name="n"/>.</summary>
    public static string SequenceNumber(long n) => "4959033827149025660855969253836157109592157598913" + n.ToString("D7", CultureInfo.InvariantCulture);

    /// <summary>A Lambda Kinesis event holding <paramref name="records"/>, as the Lambda service writes it (base64 unescaped).</summary>
    public static byte[] Event(IReadOnlyList<byte[]> records) => EventOfBase64([.. records.Select(r => Convert.ToBase64String(r))]);

    /// <summary>A Lambda Kinesis event whose records' <c>data</c> fields are <paramref name="base64"/> as given (valid or not).</summary>
    public static byte[] EventOfBase64(IReadOnlyList<string> base64)
    {
        IReadOnlyList<string> records = base64;
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteStartArray("Records");
            for (int i = 0; i < records.Count; i++)
            {
                string sequence = SequenceNumber(i);
                w.WriteStartObject();
                w.WriteStartObject("kinesis");
                w.WriteString("kinesisSchemaVersion", "1.0");
                w.WriteString("partitionKey", "pk-" + (i % 64).ToString(CultureInfo.InvariantCulture));
                w.WriteString("sequenceNumber", sequence);
                w.WriteString("data", records[i]);
                w.WriteNumber("approximateArrivalTimestamp", ArrivalMs / 1000m);
                w.WriteEndObject();
                w.WriteString("eventSource", "aws:kinesis");
                w.WriteString("eventVersion", "1.0");
                w.WriteString("eventID", ShardId + ":" + sequence);
                w.WriteString("eventName", "aws:kinesis:record");
                w.WriteString("invokeIdentityArn", "arn:aws:iam::123456789012:role/lambda-role");
                w.WriteString("awsRegion", "us-east-1");
                w.WriteString("eventSourceARN", StreamArn);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return stream.ToArray();
    }
}
