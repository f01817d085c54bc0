using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Objects a redrive reads, written here by hand from their documented formats (docs/failure-modes.md, the AWS
/// on-failure destination's record): Kinesis event records, an S3 destination's invocation record with its payload, and
/// spill objects. Every series has one dimension, <c>region=r</c>, and its samples fall in the window starting at
/// 2025-01-01T00:00:00Z.
/// </summary>
internal static class RedriveObjects
{
    public static readonly DateTimeOffset Window = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static string ShardId(int shard) => "shardId-" + shard.ToString("D12", CultureInfo.InvariantCulture);

    public static string Sequence(int n) => "4959" + n.ToString("D52", CultureInfo.InvariantCulture);

    /// <summary>The table's <c>pk</c> of a metric's series.</summary>
    public static string Series(string metric) => metric + "|region=r";

    /// <summary>Record <paramref name="n"/> of a shard: one sample of <paramref name="metric"/>.</summary>
    public static string Record(int shard, int n, string partitionKey, string metric, double value) =>
        RecordOf(shard, n, partitionKey, Sample(n, metric, value));

    /// <summary>The data of one sample of <paramref name="metric"/> at second <paramref name="n"/> of the window (NDJSON: join several with <c>\n</c>).</summary>
    public static string Sample(int n, string metric, double value) =>
        string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"{metric}\",\"value\":{value},\"timestamp\":{Window.AddSeconds(n).ToUnixTimeMilliseconds()},\"dimensions\":{{\"region\":\"r\"}}}}");

    /// <summary>Record <paramref name="n"/> of a shard whose data is not JSON: poison, quarantined.</summary>
    public static string PoisonRecord(int shard, int n, string partitionKey) => RecordOf(shard, n, partitionKey, "not json");

    /// <summary>Record <paramref name="n"/> of a shard, carrying <paramref name="data"/>.</summary>
    public static string RecordOf(int shard, int n, string partitionKey, string data)
    {
        string seq = Sequence(n);
        return "{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":\"" + partitionKey + "\",\"sequenceNumber\":\"" + seq +
            "\",\"data\":\"" + Convert.ToBase64String(Encoding.UTF8.GetBytes(data)) + "\",\"approximateArrivalTimestamp\":1735689600.000}," +
            "\"eventSource\":\"aws:kinesis\",\"eventVersion\":\"1.0\",\"eventID\":\"" + ShardId(shard) + ":" + seq + "\",\"eventName\":\"aws:kinesis:record\"," +
            "\"invokeIdentityArn\":\"arn:aws:iam::123456789012:role/f\",\"awsRegion\":\"us-east-1\",\"eventSourceARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/s\"}";
    }

    /// <summary>The S3 destination's object for a batch of records 1..: the invocation record, and <c>payload</c>, the event as a JSON string.</summary>
    public static string InvocationRecord(int shard, IReadOnlyList<string> records) => InvocationRecord(shard, 1, records);

    /// <summary>The S3 destination's object for a batch of records <paramref name="first"/>, <paramref name="first"/> + 1, ... of a shard.</summary>
    public static string InvocationRecord(int shard, int first, IReadOnlyList<string> records)
    {
        string payload = "{\"Records\":[" + string.Join(",", records) + "]}";
        return "{\"requestContext\":{\"requestId\":\"c9b8fa9f-5a7f-4c5a-9d8b-6f1d2a3b4c5d\",\"functionArn\":\"arn:aws:lambda:us-east-1:123456789012:function:f\",\"condition\":\"RetryAttemptsExhausted\",\"approximateInvokeCount\":4}," +
            "\"responseContext\":{\"statusCode\":200,\"executedVersion\":\"$LATEST\",\"functionError\":\"Unhandled\"},\"version\":\"1.0\",\"timestamp\":\"2025-01-01T00:05:00.000Z\"," +
            "\"KinesisBatchInfo\":{\"shardId\":\"" + ShardId(shard) + "\",\"startSequenceNumber\":\"" + Sequence(first) + "\",\"endSequenceNumber\":\"" + Sequence(first + records.Count - 1) +
            "\",\"batchSize\":" + records.Count.ToString(CultureInfo.InvariantCulture) + ",\"streamArn\":\"arn:aws:kinesis:us-east-1:123456789012:stream/s\"}," +
            "\"payload\":" + JsonSerializer.Serialize(payload) + "}";
    }

    /// <summary>The key Lambda gives a destination object of a shard.</summary>
    public static string DestinationKey(int shard, string id) =>
        $"aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/{ShardId(shard)}/2025/01/01/2025-01-01T00.05.00-{id}";

    /// <summary>
    /// The key the spill sink writes for a shard's spill object whose batch starts at record <paramref name="firstRecord"/>
    /// (its spill id; stream <c>s</c>, prefix <c>spill</c>): the redrive leaves an object under any other key.
    /// </summary>
    public static string SpillKey(int shard, int firstRecord = 1) => $"spill/s/{ShardId(shard)}/{Sequence(firstRecord)}.json";

    /// <summary>A spill object's <paramref name="body"/> naming where the function wrote it, as the spill sink does.</summary>
    public static string WrittenTo(string body, string bucket, string key) =>
        body.Replace("\"spillId\"", $"\"bucket\":\"{bucket}\",\"key\":\"{key}\",\"spillId\"", StringComparison.Ordinal);

    /// <summary>
    /// A spill object of records <paramref name="firstRecord"/>.. of one partition key on one series, every sample decided,
    /// in the window <paramref name="minute"/> minutes after <see cref="Window"/>; its key is
    /// <see cref="SpillKey(int, int)"/> of the same shard and first record.
    /// </summary>
    public static string SpillBody(int shard, string metric, string partitionKey, IReadOnlyList<double> values, int minute = 0, int firstRecord = 1) =>
        SpillObject(shard, firstRecord, [(metric, values.Select((v, i) => (firstRecord + i, partitionKey, v)))], minute);

    /// <summary>
    /// A spill object of <paramref name="shard"/> whose batch starts at record <paramref name="firstRecord"/> (its spill
    /// id): one decided pair per series, each sample a (record, partition key, value), in the window
    /// <paramref name="minute"/> minutes after <see cref="Window"/>, written with <paramref name="aggregator"/> (default: the
    /// default aggregator options).
    /// </summary>
    public static string SpillObject(int shard, int firstRecord, IEnumerable<(string Metric, IEnumerable<(int Record, string Key, double Value)> Samples)> pairs, int minute = 0, AggregatorOptions? aggregator = null)
    {
        AggregatorOptions options = aggregator ?? AggregatorOptions.Default;
        IEnumerable<string> written = pairs.Select(p =>
            $"{{\"pk\":\"{Series(p.Metric)}\",\"sk\":\"{Window.AddMinutes(minute):yyyy-MM-dd'T'HH:mm:ss.fff'Z'}\",\"windowEnd\":\"{Window.AddMinutes(minute + 1):yyyy-MM-dd'T'HH:mm:ss.fff'Z'}\",\"metric\":\"{p.Metric}\",\"dimensions\":{{\"region\":\"r\"}},\"outcomeUnknown\":false,\"samples\":[" +
            string.Join(",", p.Samples.Select(x => string.Create(CultureInfo.InvariantCulture, $"[\"{Sequence(x.Record)}\",\"{x.Key}\",{x.Value}]"))) + "]}");
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"format\":\"analytics.core.spill/1\",\"shardId\":\"{ShardId(shard)}\",\"eventSourceArn\":\"arn:aws:kinesis:us-east-1:123456789012:stream/s\",\"spillId\":\"{Sequence(firstRecord)}\",\"windowMs\":{(long)options.WindowSize.TotalMilliseconds},\"relativeAccuracy\":{options.RelativeAccuracy},\"maxBins\":{options.MaxBins},") +
            "\"pairs\":[" + string.Join(",", written) + "]}";
    }
}
