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
/// The sample function reads <c>ANALYTICS_MAX_PAIRS</c> (<see cref="KinesisFunctionSettings.MaxPairs"/>, 1 to
/// 1,000,000), and a record's verdict depends on it: a record that alone holds more pairs is <c>CardinalityLimit</c>
/// poison, quarantined and never in the table. <c>redrive</c> runs given-up records through the pipeline with the
/// library's default of 10,000 and has no option for the function's value (docs/failure-modes.md asks only for
/// <c>--window-seconds</c> and <c>--max-keys-per-item</c>), so it judges such records otherwise than the function did.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class DestinationRedriveMaxPairsTests(LocalServersFixture servers)
{
    private const string ShardId = "shardId-000000000000";
    private const string StreamArn = "arn:aws:kinesis:us-east-1:123456789012:stream/s";
    private static readonly DateTimeOffset s_window = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// A function with <c>ANALYTICS_MAX_PAIRS=2</c>: record 1 holds three samples of three series, so the function
    /// quarantines it (<c>CardinalityLimit</c>) and aggregates record 2; its invocation then fails (a crash after its
    /// writes) until Lambda gives the batch up. The redrive must leave record 1 out of the table, as the function did.
    /// It applies it: the record is then both in the quarantine and in the table.
    /// </summary>
    [Fact]
    public async Task ARecordTheFunctionQuarantinedForItsPairCap_IsNotAppliedByTheRedrive()
    {
        string table = await servers.CreateTableAsync("maxpairs");
        string bucket = await servers.CreateBucketAsync("destination");
        string quarantine = await servers.CreateBucketAsync("quarantine");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();

        string[] records = [Record(1, ["a", "b", "c"]), Record(2, ["a"])];
        ProcessorOptions function = new KinesisFunctionSettings { MaxPairs = 2 }.ToProcessorOptions();
        using (var processor = new KinesisBatchProcessor(
            new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table }),
            new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = quarantine }),
            function))
        {
            var response = new System.Buffers.ArrayBufferWriter<byte>();
            BatchSummary summary = await processor.ProcessAsync(Encoding.UTF8.GetBytes("{\"Records\":[" + string.Join(",", records) + "]}"), DateTimeOffset.UtcNow.AddMinutes(1), response);
            Assert.Null(summary.ReportedFailure);
        }

        ListObjectsV2Response live = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = quarantine });
        S3Object poison = Assert.Single(live.S3Objects ?? []);
        using (GetObjectResponse got = await s3.GetObjectAsync(quarantine, poison.Key))
        using (JsonDocument body = await JsonDocument.ParseAsync(got.ResponseStream))
        {
            Assert.Equal(nameof(PoisonReason.CardinalityLimit), body.RootElement.GetProperty("reason").GetString());
        }

        Dictionary<string, long> before = await CountsAsync(dynamoDb, table);
        Assert.Equal(new Dictionary<string, long> { ["a"] = 1 }, before);

        (int exit, string stdout) = await RedriveAsync(s3, table, bucket, quarantine, records, maxPairs: 2);

        // Record 2 was applied by the attempt; record 1 is poison for this function: the table is as the function left it.
        Dictionary<string, long> after = await CountsAsync(dynamoDb, table);
        Assert.True(exit == 0 && after.Count == 1 && after["a"] == 1, $"exit {exit}; the table holds {string.Join(", ", after.Select(a => $"{a.Key}: {a.Value}"))}; the redrive printed: {stdout}");
    }

    /// <summary>
    /// Given-up records that together hold more pairs than the function's cap, none of them alone: the pipeline splits
    /// the redrive's event at the record that would pass the cap and reports it, as it would to Lambda. The redrive goes
    /// on from that record (it used to stop there and leave the rest), and every record is applied once.
    /// </summary>
    [Fact]
    public async Task RecordsThatPassTheCapOnlyTogether_AreAllApplied_InEventsSplitAtTheCap()
    {
        string table = await servers.CreateTableAsync("maxpairs-split");
        string bucket = await servers.CreateBucketAsync("destination");
        string quarantine = await servers.CreateBucketAsync("quarantine");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();

        // Five records, two series each, none shared: ten pairs, past a cap of 4 after every second record.
        string[] records = [.. Enumerable.Range(1, 5).Select(n => Record(n, [$"m{n}a", $"m{n}b"]))];
        (int exit, string stdout) = await RedriveAsync(s3, table, bucket, quarantine, records, maxPairs: 4);

        Dictionary<string, long> after = await CountsAsync(dynamoDb, table);
        var expected = Enumerable.Range(1, 5).SelectMany(n => new[] { $"m{n}a", $"m{n}b" }).ToDictionary(m => m, _ => 1L, StringComparer.Ordinal);
        Assert.True(exit == 0 && after.Count == expected.Count && expected.All(e => after.GetValueOrDefault(e.Key) == e.Value), $"exit {exit}; the table holds {string.Join(", ", after.Select(a => $"{a.Key}: {a.Value}"))}; the redrive printed: {stdout}");
        Assert.Empty((await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = quarantine, Prefix = "quarantine" })).S3Objects ?? []);
    }

    /// <summary>Record n of shard 0, key k: one NDJSON line per metric name, value 1, n seconds into the window.</summary>
    private static string Record(int n, string[] metrics)
    {
        string data = string.Join("\n", metrics.Select(m => string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"{m}\",\"value\":1,\"timestamp\":{s_window.AddSeconds(n).ToUnixTimeMilliseconds()}}}")));
        string seq = Sequence(n);
        return "{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":\"k\",\"sequenceNumber\":\"" + seq +
            "\",\"data\":\"" + Convert.ToBase64String(Encoding.UTF8.GetBytes(data)) + "\",\"approximateArrivalTimestamp\":1735689600.000}," +
            "\"eventSource\":\"aws:kinesis\",\"eventVersion\":\"1.0\",\"eventID\":\"" + ShardId + ":" + seq + "\",\"eventName\":\"aws:kinesis:record\"," +
            "\"invokeIdentityArn\":\"arn:aws:iam::123456789012:role/f\",\"awsRegion\":\"us-east-1\",\"eventSourceARN\":\"" + StreamArn + "\"}";
    }

    /// <summary>
    /// Puts the records into the destination bucket as one given-up batch of shard <see cref="ShardId"/>, then runs
    /// <c>redrive</c> against the local servers with the function's <c>--max-pairs</c>: its exit code and what it printed.
    /// </summary>
    private async Task<(int Exit, string Stdout)> RedriveAsync(AmazonS3Client s3, string table, string bucket, string quarantine, string[] records, int maxPairs)
    {
        string key = $"aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/{ShardId}/2025/01/01/2025-01-01T00.05.00-6c1c1f7e-2a9b-4c41-9d7e-0c5d7b3b8a11";
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, ContentBody = InvocationRecord("{\"Records\":[" + string.Join(",", records) + "]}", records.Length), ContentType = "application/json", UseChunkEncoding = false });
        string[] args =
        [
            "redrive", "--spill-bucket", quarantine, "--failure-bucket", bucket, "--table", table, "--quarantine-bucket", quarantine,
            "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString(), "--max-pairs", maxPairs.ToString(CultureInfo.InvariantCulture),
        ];
        var stdout = new StringWriter();
        int exit = await ToolsCommand.RunAsync(args, stdout, TextWriter.Null);
        return (exit, stdout.ToString());
    }

    private static string Sequence(int n) => "4959" + n.ToString("D52", CultureInfo.InvariantCulture);

    /// <summary>The S3 destination's object: the invocation record, then <c>payload</c>, the event as a JSON string.</summary>
    private static string InvocationRecord(string eventJson, int count) =>
        "{\"requestContext\":{\"condition\":\"RetryAttemptsExhausted\",\"approximateInvokeCount\":4},\"KinesisBatchInfo\":{\"shardId\":\"" + ShardId + "\",\"startSequenceNumber\":\"" + Sequence(1) +
        "\",\"endSequenceNumber\":\"" + Sequence(count) + "\",\"batchSize\":" + count.ToString(CultureInfo.InvariantCulture) + ",\"streamArn\":\"" + StreamArn + "\"},\"payload\":" + JsonSerializer.Serialize(eventJson) + "}";

    /// <summary>Each aggregate item's count by its series (the redrive's lease left out).</summary>
    private static async Task<Dictionary<string, long>> CountsAsync(AmazonDynamoDBClient dynamoDb, string table) =>
        (await dynamoDb.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items
            .Where(i => i["sk"].S != "lease")
            .ToDictionary(i => i["pk"].S, i => long.Parse(i["count"].N, CultureInfo.InvariantCulture), StringComparer.Ordinal);
}
