using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Tools;
using Xunit.Abstractions;

namespace Analytics.Core.Tests;

/// <summary>An unconfirmed spill and its retry in another execution environment, on the local DynamoDB and S3 servers.</summary>
[Collection(LocalServersCollection.Name)]
public sealed class SpillAcrossEnvironmentsTests(LocalServersFixture servers, ITestOutputHelper output)
{
    private const long WindowMs = 1_714_564_800_000; // 2024-05-01T12:00:00Z

    private static ShardRecord Rec(long seq, string key, double value) =>
        new("49590338271490256608559692538361571095921575989136500" + seq.ToString("000", CultureInfo.InvariantCulture), [new TestSample("latency", [], WindowMs + 1_000, value)], key);

    private static async Task<(long Count, double Sum)> ReadItemAsync(IAmazonDynamoDB client, string table)
    {
        ScanResponse scan = await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true });
        Dictionary<string, AttributeValue> item = Assert.Single(scan.Items);
        return (long.Parse(item["count"].N, CultureInfo.InvariantCulture), double.Parse(item["sum"].N, CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// With <see cref="ProcessorOptions.SpillAfterFailedInvocations"/> (the records still young), an attempt spills in
    /// environment A and the upload lands but its answer is lost. Lambda retries in environment B, whose processor
    /// counted no failure, so the batch is no spill candidate there. B did not remove the spill, wrote the batch to the
    /// table, and the redrive applied the spill's samples a second time (count 6 for 3 records). B now removes it first,
    /// also when its records reach B's spill age within the sink's share (<paramref name="ageWithinShare"/>: B writes
    /// under that share, a path of its own; a mutation run found its removal unchecked).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AnUnconfirmedSpillOfAnotherEnvironment_IsRemovedByTheRetry_AndTheBatchCountsOnce(bool ageWithinShare)
    {
        string table = await servers.CreateTableAsync("spillenv");
        string bucket = await servers.CreateBucketAsync("spillenv");
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();
        ShardRecord[] records = [Rec(10, "a", 1), Rec(20, "a", 2), Rec(30, "b", 4)];
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(); // young records: only the failure count can trigger a spill
        byte[] utf8Event = TestEvents.Build(records.Select(r => new TestRecord(
            r.SequenceNumber,
            System.Text.Encoding.UTF8.GetBytes(string.Join('\n', r.Samples.Select(x => TestEvents.Sample(x.Metric, x.Value, (now / 60_000 * 60_000) + 1_000)))),
            now,
            PartitionKey: r.PartitionKey)));

        // Environment A: the table throttles every put; the spill upload lands but its answer is lost.
        using var throttled = new ScriptedDynamoDbClient(servers.DynamoDbUrl);
        for (int i = 0; i < 1000; i++)
        {
            throttled.PutFailures.Enqueue(ScriptedDynamoDbClient.Throttling("ThrottlingException"));
        }

        var sinkA = new DynamoDbAggregateSink(throttled, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = AwsRetryOptions.Default with { MaxAttempts = 2 } });
        using var lossyS3 = new LostAnswerS3Client(servers);
        var quarantine = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket });
        using var envA = new KinesisBatchProcessor(sinkA, quarantine, ProcessorOptions.Default with
        {
            SpillSink = new S3SpillSink(lossyS3, S3SpillSinkOptions.Default with { BucketName = bucket, Retry = AwsRetryOptions.Default with { MaxAttempts = 1 } }, sinkA),
            SpillAfterAge = TimeSpan.FromHours(1),
            SpillAfterFailedInvocations = 1,
        });
        string? first = await InvokeAsync(envA, utf8Event);   // attempt 1: fails, count 1
        string? second = await InvokeAsync(envA, utf8Event);  // attempt 2: candidate, spills; the upload's answer is lost
        output.WriteLine($"attempt 1 checkpoint {first}; attempt 2 checkpoint {second}");
        Assert.Equal(records[0].SequenceNumber, second);
        Assert.Single((await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = "spill/" })).S3Objects ?? []);

        // Lambda retries the batch in environment B (fresh processor, table healthy). With ageWithinShare, the records
        // reach B's spill age 2 s into the invocation, within the sink's two thirds of the 6 s left.
        TimeSpan ageB = ageWithinShare ? DateTimeOffset.UtcNow - DateTimeOffset.FromUnixTimeMilliseconds(now) + TimeSpan.FromSeconds(2) : TimeSpan.FromHours(1);
        var sinkB = new DynamoDbAggregateSink(direct, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        using var envB = new KinesisBatchProcessor(sinkB, quarantine, ProcessorOptions.Default with
        {
            SpillSink = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = bucket }, sinkB),
            SpillAfterAge = ageB,
            SpillAfterFailedInvocations = 1,
        });
        Assert.Null(await InvokeAsync(envB, utf8Event));
        Assert.Empty((await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = "spill/" })).S3Objects ?? []);

        // 15+ minutes later, the operator's redrive.
        var text = new StringWriter();
        RedriveReport report = await SpillRedrive.ApplyAsync(s3, bucket, "spill", sinkB, text, TimeSpan.Zero, TimeProvider.System, CancellationToken.None);
        output.WriteLine(text.ToString());
        (long count, double sum) = await ReadItemAsync(direct, table);
        output.WriteLine($"count {count}, sum {sum}; report done {report.Done} applied {report.Applied}");
        Assert.Equal((3L, 7.0), (count, sum));
    }

    private static async Task<string?> InvokeAsync(KinesisBatchProcessor processor, byte[] utf8Event)
    {
        var response = new System.Buffers.ArrayBufferWriter<byte>();
        await processor.ProcessAsync(utf8Event, DateTimeOffset.UtcNow + TimeSpan.FromSeconds(6), response).WaitAsync(TimeSpan.FromSeconds(30));
        using var json = System.Text.Json.JsonDocument.Parse(response.WrittenMemory);
        System.Text.Json.JsonElement failures = json.RootElement.GetProperty("batchItemFailures");
        return failures.GetArrayLength() == 0 ? null : failures[0].GetProperty("itemIdentifier").GetString();
    }

    /// <summary>An S3 client whose upload of a spill object reaches S3, then fails as if its answer were lost.</summary>
    private sealed class LostAnswerS3Client(LocalServersFixture servers) : AmazonS3Client(LocalServersFixture.S3Credentials, servers.S3Config())
    {
        public override async Task<PutObjectResponse> PutObjectAsync(PutObjectRequest request, CancellationToken cancellationToken = default)
        {
            PutObjectResponse response = await base.PutObjectAsync(request, cancellationToken);
            return request.Key.EndsWith(".json", StringComparison.Ordinal) ? throw new TaskCanceledException("client timeout: the answer was lost") : response;
        }
    }
}
