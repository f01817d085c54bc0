using System.Globalization;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Core.Tests;
using Analytics.Tools;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// <c>redrive</c> of the on-failure destination's objects end to end against the local DynamoDB and S3 servers
/// (dynalite, s3rver), through the command: a batch Lambda gave up on after its attempt had applied part of it, and
/// after a later batch had written one of its items; and a batch both spilled and given up, whose destination object
/// waits for its spill.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class DestinationRedriveLocalServerTests(LocalServersFixture servers)
{
    private const string ShardId = "shardId-000000000000";
    private const string StreamArn = "arn:aws:kinesis:us-east-1:123456789012:stream/s";
    private static readonly DateTimeOffset s_window = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task GivenUpBatch_PartlyApplied_IsCompleted_AndTheItemALaterBatchWrote_IsReportedUndecided()
    {
        string table = await servers.CreateTableAsync("redrive");
        string bucket = await servers.CreateBucketAsync("destination");
        string quarantine = await servers.CreateBucketAsync("quarantine");
        string spill = await servers.CreateBucketAsync("spill");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();

        // The given-up batch: six records of keys a and b on series m, one of key c on series u, one poison record.
        (string Key, string Metric, double? Value)[] given =
        [
            ("a", "m", 10), ("b", "m", 20), ("a", "m", 30), ("b", "m", 40), ("a", "m", 50), ("b", "m", 60), ("c", "u", 7), ("a", "m", null),
        ];
        string[] records = given.Select((r, i) => Record(i + 1, r.Key, r.Metric, r.Value)).ToArray();

        // The failed attempt applied the first three records (its flush, then a crash); a later batch wrote record 10 of key c.
        await ApplyLiveAsync(dynamoDb, s3, table, quarantine, records[..3]);
        await ApplyLiveAsync(dynamoDb, s3, table, quarantine, [Record(10, "c", "u", 1000)]);

        string key = $"aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/{ShardId}/2025/01/01/2025-01-01T00.05.00-6c1c1f7e-2a9b-4c41-9d7e-0c5d7b3b8a11";
        string eventJson = "{\"Records\":[" + string.Join(",", records) + "]}";
        await PutAsync(s3, bucket, key, InvocationRecord(eventJson, records.Length));

        string[] args =
        [
            "redrive", "--spill-bucket", spill, "--failure-bucket", bucket, "--table", table, "--quarantine-bucket", quarantine,
            "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString(),
        ];
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = await ToolsCommand.RunAsync(args, stdout, stderr);

        // Undecided: record 7 on u, whose key c watermark a later batch (record 10) moved past it. Nothing applied for it.
        Assert.Equal(1, exit);
        string report = stdout.ToString();
        Assert.Contains($"object {key} shard={ShardId} records=8 applied=3 alreadyApplied=3 undecided=1 left=0", report, StringComparison.Ordinal);
        Assert.Contains($"undecided shard={ShardId} sequenceNumber={Sequence(7)} window=2025-01-01T00:00:00.000Z", report, StringComparison.Ordinal);
        Assert.DoesNotContain("\"metric\"", report, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stderr.ToString());

        // m holds exactly the batch's six samples (three from the attempt, three from the redrive); u only the later one.
        Assert.Equal((6L, 210.0), await ReadAsync(dynamoDb, table, "m|region=r"));
        Assert.Equal((1L, 1000.0), await ReadAsync(dynamoDb, table, "u|region=r"));

        // The poison record is quarantined under its deterministic key.
        ListObjectsV2Response quarantined = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = quarantine });
        Assert.Contains(quarantined.S3Objects ?? [], o => o.Key.EndsWith($"/{ShardId}/{Sequence(8)}.json", StringComparison.Ordinal));

        // A second run does nothing again and still reports the undecided pair (from the marker written next to the object).
        var again = new StringWriter();
        Assert.Equal(1, await ToolsCommand.RunAsync(args, again, TextWriter.Null));
        Assert.Contains("(done by an earlier run)", again.ToString(), StringComparison.Ordinal);
        Assert.Equal((6L, 210.0), await ReadAsync(dynamoDb, table, "m|region=r"));
        Assert.Equal((1L, 1000.0), await ReadAsync(dynamoDb, table, "u|region=r"));
    }

    [Fact]
    public async Task GivenUpBatch_NoLaterBatchWroteItsItems_IsAppliedWhole_AndTheCommandExitsZero()
    {
        string table = await servers.CreateTableAsync("redrive");
        string bucket = await servers.CreateBucketAsync("destination");
        string spill = await servers.CreateBucketAsync("spill");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();
        string[] records = [Record(1, "a", "m", 1), Record(2, "b", "m", 2), Record(3, "a", "m", 4)];

        // The failed attempt applied the first record only.
        await ApplyLiveAsync(dynamoDb, s3, table, bucket, records[..1]);
        string key = $"aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/{ShardId}/2025/01/01/2025-01-01T00.05.00-1d2c3b4a-0000-4000-8000-000000000001";
        await PutAsync(s3, bucket, key, InvocationRecord("{\"Records\":[" + string.Join(",", records) + "]}", records.Length));

        var stdout = new StringWriter();
        int exit = await ToolsCommand.RunAsync(
            ["redrive", "--spill-bucket", spill, "--failure-bucket", bucket, "--table", table, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            TextWriter.Null);

        Assert.Equal(0, exit);
        Assert.Contains($"object {key} shard={ShardId} records=3 applied=2 alreadyApplied=1 undecided=0 left=0", stdout.ToString(), StringComparison.Ordinal);
        Assert.Contains("destination: 1 object(s): 1 complete", stdout.ToString(), StringComparison.Ordinal);
        Assert.Contains("redrive: done", stdout.ToString(), StringComparison.Ordinal);
        Assert.Equal((3L, 7.0), await ReadAsync(dynamoDb, table, "m|region=r"));
    }

    /// <summary>
    /// A destination object of another stream than the table's (same shard id, same series): the items' watermarks are the
    /// other stream's, so they cannot say whether the failed attempts applied its records. Judged by them, every record
    /// at or below them was counted as already applied and the object reported complete, its records applied nowhere. Now
    /// the object is refused, naming both streams, and nothing of it is written, not even its record of a series the
    /// table has no item of (that item would be created for the wrong stream, and refuse the table's own stream later).
    /// </summary>
    [Fact]
    public async Task GivenUpBatchOfAnotherStream_IsLeftNamingBoth_NotCountedAsApplied()
    {
        string table = await servers.CreateTableAsync("redrive");
        string bucket = await servers.CreateBucketAsync("destination");
        string spill = await servers.CreateBucketAsync("spill");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();
        string[] records = [Record(1, "a", "m", 1), Record(2, "b", "m", 2), Record(3, "a", "m", 4)];
        const string clicks = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks";

        // Stream s wrote the three records; stream clicks gave up a batch of records with the same numbers on the same shard.
        await ApplyLiveAsync(dynamoDb, s3, table, bucket, records);
        string[] clickRecords = [.. records.Append(Record(4, "c", "u", 9)).Select(r => r.Replace(StreamArn, clicks, StringComparison.Ordinal))];
        string key = $"aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/{ShardId}/2025/01/01/2025-01-01T00.05.00-1d2c3b4a-0000-4000-8000-000000000002";
        await PutAsync(s3, bucket, key, InvocationRecord("{\"Records\":[" + string.Join(",", clickRecords) + "]}", clickRecords.Length).Replace(StreamArn, clicks, StringComparison.Ordinal));

        var stdout = new StringWriter();
        int exit = await ToolsCommand.RunAsync(
            ["redrive", "--spill-bucket", spill, "--failure-bucket", bucket, "--table", table, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()],
            stdout,
            TextWriter.Null);

        Assert.Equal(1, exit);
        Assert.Contains($"object {key} shard={ShardId} records=4 applied=0 alreadyApplied=0 undecided=0 left=0 error: table '{table}' holds items of these records' series for stream {StreamArn}, and the records are of stream {clicks}", stdout.ToString(), StringComparison.Ordinal);
        Assert.Equal((3L, 7.0), await ReadAsync(dynamoDb, table, "m|region=r"));
        Assert.Single((await dynamoDb.ScanAsync(new ScanRequest { TableName = table })).Items);
    }

    /// <summary>
    /// The operator gives <c>--window-seconds</c> other than the function's: the records would be aggregated into other
    /// items than the ones the failed attempts wrote, so what those attempts applied could not be seen and would be
    /// counted again, in another window (before, the 300-second function's records 70 and 80 were applied a second time,
    /// into a 60-second item). The run reads the series' latest item, sees its window is not the one given, and refuses
    /// the shard, naming both sizes; nothing is written and no marker is left, so a run with the right size does it.
    /// </summary>
    [Fact]
    public async Task WindowSecondsOtherThanTheFunctions_IsRefusedNamingBoth_AndTheRightOneRedrives()
    {
        string table = await servers.CreateTableAsync("redrive");
        string bucket = await servers.CreateBucketAsync("destination");
        string spill = await servers.CreateBucketAsync("spill");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();
        string[] records = [Record(70, "a", "m", 1), Record(80, "b", "m", 2), Record(90, "a", "m", 4)];
        TimeSpan fiveMinutes = TimeSpan.FromMinutes(5);

        // The function aggregates in 5-minute windows; its failed attempt applied records 70 and 80 (window 00:00).
        await ApplyLiveAsync(dynamoDb, s3, table, bucket, records[..2], fiveMinutes);
        string key = $"aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/{ShardId}/2025/01/01/2025-01-01T00.05.00-1d2c3b4a-0000-4000-8000-000000000003";
        await PutAsync(s3, bucket, key, InvocationRecord("{\"Records\":[" + string.Join(",", records) + "]}", records.Length, first: 70));
        string[] args = ["redrive", "--spill-bucket", spill, "--failure-bucket", bucket, "--table", table, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()];

        var wrong = new StringWriter();
        Assert.Equal(1, await ToolsCommand.RunAsync(args, wrong, TextWriter.Null));

        Assert.Contains("windows of 300 s, and --window-seconds is 60", wrong.ToString(), StringComparison.Ordinal);
        Assert.Equal((2L, 3.0), await ReadAsync(dynamoDb, table, "m|region=r"));
        Assert.Single((await dynamoDb.ScanAsync(new ScanRequest { TableName = table })).Items);

        var right = new StringWriter();
        Assert.Equal(0, await ToolsCommand.RunAsync([.. args, "--window-seconds", "300"], right, TextWriter.Null));
        Assert.Contains($"object {key} shard={ShardId} records=3 applied=1 alreadyApplied=2 undecided=0 left=0", right.ToString(), StringComparison.Ordinal);
        Assert.Equal((3L, 7.0), await ReadAsync(dynamoDb, table, "m|region=r"));
    }

    /// <summary>
    /// A batch both spilled and given up (its last attempt wrote the spill, then crashed). The first run finds the spill
    /// too young to apply: the destination object of its shard is held back, said so, nothing reaches the table, exit 1.
    /// Once the spill may be applied, one run applies it, then the destination object, which finds the batch applied:
    /// the table holds it once, and a further run changes nothing.
    /// </summary>
    [Fact]
    public async Task SpilledAndGivenUp_TheDestinationObjectWaitsForTheSpill_AndTheBatchIsCountedOnce()
    {
        string table = await servers.CreateTableAsync("order");
        string failures = await servers.CreateBucketAsync("destination");
        string spill = await servers.CreateBucketAsync("spill");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();
        double[] values = [3, 5, 11, 13];
        string[] records = [.. values.Select((v, i) => Record(i + 1, "a", "m", v))];
        string spillKey = $"spill/s/{ShardId}/{Sequence(1)}.json";
        await PutAsync(s3, spill, spillKey, SpillBody(values));
        string key = $"aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/{ShardId}/2025/01/01/2025-01-01T00.05.00-0a0b0c0d-0000-4000-8000-000000000002";
        await PutAsync(s3, failures, key, InvocationRecord("{\"Records\":[" + string.Join(",", records) + "]}", records.Length));
        string[] args =
        [
            "redrive", "--table", table, "--spill-bucket", spill, "--failure-bucket", failures,
            "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString(),
        ];

        var first = new StringWriter();
        Assert.Equal(1, await ToolsCommand.RunAsync(args, first, TextWriter.Null));
        Assert.Contains($"left {spillKey}: written less than 15 minutes ago", first.ToString(), StringComparison.Ordinal);
        Assert.Contains($"object {key} shard={ShardId} records=4 applied=0 alreadyApplied=0 undecided=0 left=0 held back: 1 spill object(s) of shard {ShardId}", first.ToString(), StringComparison.Ordinal);
        Assert.Empty((await dynamoDb.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items);

        var second = new StringWriter();
        Assert.Equal(0, await ToolsCommand.RunAsync([.. args, "--min-age-minutes", "0"], second, TextWriter.Null));
        Assert.Contains("spills: 1 spill objects, 4 samples applied, 0 already in the table, 0 undecided, 1 objects deleted, 0 left", second.ToString(), StringComparison.Ordinal);
        Assert.Contains($"object {key} shard={ShardId} records=4 applied=0 alreadyApplied=4 undecided=0 left=0", second.ToString(), StringComparison.Ordinal);
        Assert.Equal((4L, values.Sum()), await ReadAsync(dynamoDb, table, "m|region=r"));

        var third = new StringWriter();
        Assert.Equal(0, await ToolsCommand.RunAsync([.. args, "--min-age-minutes", "0"], third, TextWriter.Null));
        Assert.Contains("(done by an earlier run)", third.ToString(), StringComparison.Ordinal);
        Assert.Equal((4L, values.Sum()), await ReadAsync(dynamoDb, table, "m|region=r"));
    }

    /// <summary>A spill object of records 1.. of key a on series m, written by hand in the documented format, every sample decided.</summary>
    private static string SpillBody(double[] values)
    {
        AggregatorOptions options = AggregatorOptions.Default;
        string samples = string.Join(",", values.Select((v, i) => string.Create(CultureInfo.InvariantCulture, $"[\"{Sequence(i + 1)}\",\"a\",{v}]")));
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"format\":\"analytics.core.spill/1\",\"shardId\":\"{ShardId}\",\"eventSourceArn\":\"arn:aws:kinesis:us-east-1:123456789012:stream/s\",\"spillId\":\"{Sequence(1)}\",\"windowMs\":{(long)options.WindowSize.TotalMilliseconds},\"relativeAccuracy\":{options.RelativeAccuracy},\"maxBins\":{options.MaxBins},") +
            "\"pairs\":[{\"pk\":\"m|region=r\",\"sk\":\"2025-01-01T00:00:00.000Z\",\"windowEnd\":\"2025-01-01T00:01:00.000Z\",\"metric\":\"m\",\"dimensions\":{\"region\":\"r\"},\"outcomeUnknown\":false,\"samples\":[" + samples + "]}]}";
    }

    private static string Sequence(int n) => "4959" + n.ToString("D52", CultureInfo.InvariantCulture);

    private static string Record(int n, string partitionKey, string metric, double? value)
    {
        string data = value is { } v
            ? string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"{metric}\",\"value\":{v},\"timestamp\":{s_window.AddSeconds(n).ToUnixTimeMilliseconds()},\"dimensions\":{{\"region\":\"r\"}}}}")
            : "not json";
        string seq = Sequence(n);
        return "{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":\"" + partitionKey + "\",\"sequenceNumber\":\"" + seq +
            "\",\"data\":\"" + Convert.ToBase64String(Encoding.UTF8.GetBytes(data)) + "\",\"approximateArrivalTimestamp\":1735689600.000}," +
            "\"eventSource\":\"aws:kinesis\",\"eventVersion\":\"1.0\",\"eventID\":\"" + ShardId + ":" + seq + "\",\"eventName\":\"aws:kinesis:record\"," +
            "\"invokeIdentityArn\":\"arn:aws:iam::123456789012:role/f\",\"awsRegion\":\"us-east-1\",\"eventSourceARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/s\"}";
    }

    /// <summary>The S3 destination's object: the invocation record, then <c>payload</c>, the event as a JSON string.</summary>
    private static string InvocationRecord(string eventJson, int count, int first = 1)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartObject("requestContext");
            w.WriteString("requestId", "c9b8fa9f-5a7f-4c5a-9d8b-6f1d2a3b4c5d");
            w.WriteString("functionArn", "arn:aws:lambda:us-east-1:123456789012:function:f");
            w.WriteString("condition", "RetryAttemptsExhausted");
            w.WriteNumber("approximateInvokeCount", 4);
            w.WriteEndObject();
            w.WriteStartObject("responseContext");
            w.WriteNumber("statusCode", 200);
            w.WriteString("executedVersion", "$LATEST");
            w.WriteString("functionError", "Unhandled");
            w.WriteEndObject();
            w.WriteString("version", "1.0");
            w.WriteString("timestamp", "2025-01-01T00:05:00.000Z");
            w.WriteStartObject("KinesisBatchInfo");
            w.WriteString("shardId", ShardId);
            w.WriteString("startSequenceNumber", Sequence(first));
            w.WriteString("endSequenceNumber", Sequence(first == 1 ? count : first + ((count - 1) * 10)));
            w.WriteString("approximateArrivalOfFirstRecord", "2025-01-01T00:00:00.000Z");
            w.WriteString("approximateArrivalOfLastRecord", "2025-01-01T00:00:00.000Z");
            w.WriteNumber("batchSize", count);
            w.WriteString("streamArn", "arn:aws:kinesis:us-east-1:123456789012:stream/s");
            w.WriteEndObject();
            w.WriteString("payload", eventJson);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static async Task ApplyLiveAsync(AmazonDynamoDBClient dynamoDb, AmazonS3Client s3, string table, string quarantine, string[] records, TimeSpan? window = null)
    {
        using var processor = new KinesisBatchProcessor(
            new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table }),
            new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = quarantine }),
            ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { WindowSize = window ?? AggregatorOptions.Default.WindowSize } });
        var response = new System.Buffers.ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(Encoding.UTF8.GetBytes("{\"Records\":[" + string.Join(",", records) + "]}"), DateTimeOffset.UtcNow.AddMinutes(1), response);
        Assert.Null(summary.ReportedFailure);
    }

    private static async Task PutAsync(AmazonS3Client s3, string bucket, string key, string body) =>
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, ContentBody = body, ContentType = "application/json", UseChunkEncoding = false });

    private static async Task<(long Count, double Sum)> ReadAsync(AmazonDynamoDBClient dynamoDb, string table, string pk)
    {
        GetItemResponse got = await dynamoDb.GetItemAsync(new GetItemRequest
        {
            TableName = table,
            ConsistentRead = true,
            Key = new() { ["pk"] = new AttributeValue { S = pk }, ["sk"] = new AttributeValue { S = "2025-01-01T00:00:00.000Z" } },
        });
        return (long.Parse(got.Item["count"].N, CultureInfo.InvariantCulture), double.Parse(got.Item["sum"].N, CultureInfo.InvariantCulture));
    }
}
