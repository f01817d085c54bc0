using System.Buffers;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.S3;
using Amazon.S3.Model;
using Xunit.Abstractions;

namespace Analytics.Core.Tests;

/// <summary>
/// The whole pipeline with the DynamoDB and S3 sinks, driven the way Lambda drives it: every invocation after a
/// partial failure re-delivers from the reported checkpoint, until the shard is through.
/// </summary>
[Collection(LocalServersCollection.Second)]
public sealed class PipelineWithAwsSinksTests(LocalServersFixture servers, ITestOutputHelper output)
{
    private const long ArrivalMs = 1_714_565_100_000; // five minutes after the first window opens

    [Fact]
    public async Task ProcessAsync_FaultyDynamoDbRetriedFromCheckpoints_ExactAggregatesAndOneObjectPerPoisonRecord()
    {
        string table = await servers.CreateTableAsync("pipeline");
        string bucket = await servers.CreateBucketAsync("pipeline");
        await using var proxy = new FaultProxy(
            servers.DynamoDbUrl,
            new FaultProfile(Throttle: 0.12, ServerError: 0.06, DropBeforeForward: 0.04, DropAfterForward: 0.06, Latency: 0.2, MaxLatency: TimeSpan.FromMilliseconds(30)),
            seed: 21);
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient(proxy.Url, timeout: TimeSpan.FromSeconds(2));
        using AmazonS3Client s3 = servers.CreateS3Client();
        var aggregateSink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = AwsRetryOptions.Default with { MaxAttempts = 2 } });
        var quarantineSink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket });
        using var processor = new KinesisBatchProcessor(aggregateSink, quarantineSink, ProcessorOptions.Default);
        ShardRecord[] records = [.. ShardStream.Generate(seed: 21, count: 400).Select((r, i) => r with { PartitionKey = "device-" + (i % 7) })];
        HashSet<int> poison = [.. Enumerable.Range(0, records.Length).Where(i => i % 17 == 5)];

        int invocations = 0;
        int partial = 0;
        int cursor = 0;
        while (cursor < records.Length)
        {
            Assert.True(++invocations <= 200, "did not converge within 200 invocations");
            int end = Math.Min(records.Length, cursor + 100);
            (BatchSummary summary, string? failure) = await InvokeAsync(processor, records, poison, cursor, end, TimeSpan.FromSeconds(10));
            if (failure is null)
            {
                cursor = end;
                continue;
            }

            partial++;
            int checkpoint = Array.FindIndex(records, cursor, end - cursor, r => r.SequenceNumber == failure);
            Assert.True(checkpoint >= cursor, "the reported checkpoint is a record of the batch");
            Assert.Equal(failure, summary.ReportedFailure);
            cursor = checkpoint;
        }

        output.WriteLine(
            $"{invocations} invocations ({partial} partial), sink: {aggregateSink.Retries} retries, {aggregateSink.Conflicts} version conflicts; " +
            $"proxy: {proxy.Requests} requests, {proxy.Throttled} throttled, {proxy.ServerErrors} HTTP 500, {proxy.Dropped} dropped, {proxy.Delayed} delayed");
        Assert.True(partial > 0, "the faults must have made some invocations partial");

        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        ShardRecord[] valid = [.. records.Where((_, i) => !poison.Contains(i))];
        await ShardStream.AssertTableAsync(direct, table, ShardStream.Expect((TestEvents.ShardId, valid)));
        ListObjectsV2Response objects = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
        Assert.Equal(
            poison.Select(i => $"quarantine/metrics/{TestEvents.ShardId}/{records[i].SequenceNumber}.json").Order(StringComparer.Ordinal),
            objects.S3Objects.Select(o => o.Key).Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// DynamoDB unreachable (never answers, or refuses connections): the response still comes before the deadline. The
    /// SDK's own timeout (10 s) is longer than the whole budget (8 s), so only the processor's cancellation can end the
    /// request in time. The safety margin is 4 s, not the default's 1 s: this test shares 2 cores with the other test
    /// assembly, and a CI run returned 1.8 s past the processor's give-up time with the default margin (its scheduling,
    /// not the processor's; the give-up itself is timed in virtual time by the processor's own tests). A processor that
    /// waited for the request would still be 2 s past the deadline.
    /// </summary>
    [Theory]
    [InlineData(FaultMode.Dead)]
    [InlineData(FaultMode.Down)]
    public async Task ProcessAsync_DynamoDbUnavailable_PartialFailureResponseBeforeTheDeadline(FaultMode mode)
    {
        string table = await servers.CreateTableAsync("pipeline");
        string bucket = await servers.CreateBucketAsync("pipeline");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed: 22) { Mode = mode };
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient(proxy.Url, timeout: TimeSpan.FromSeconds(10));
        using AmazonS3Client s3 = servers.CreateS3Client();
        var aggregateSink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = AwsRetryOptions.Default with { MaxAttempts = 1000 } });
        using var processor = new KinesisBatchProcessor(
            aggregateSink,
            new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket }),
            ProcessorOptions.Default with { MinSafetyMargin = TimeSpan.FromSeconds(4) });
        ShardRecord[] records = ShardStream.Generate(seed: 22, count: 60);

        (BatchSummary summary, string? failure) = await InvokeAsync(processor, records, [], 0, records.Length, TimeSpan.FromSeconds(8));

        Assert.Equal(records[0].SequenceNumber, failure);
        Assert.True(summary.RemainingTime > TimeSpan.Zero, $"returned {summary.RemainingTime} before the deadline");

        // The log line says what happened: the sink ran out of time (not "completed", not a sink that forgot to mark).
        Assert.Equal(SinkOutcome.TimedOut, summary.AggregateSinkOutcome);
        Assert.Contains("ran out of time", summary.AggregateSinkIssue, StringComparison.Ordinal);
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        Assert.Equal(0, await ShardStream.CountItemsAsync(direct, table));
        output.WriteLine($"{mode}: response with checkpoint {failure}, {summary.RemainingTime.TotalMilliseconds:F0} ms before the deadline, {aggregateSink.Retries} retries");
    }

    /// <summary>
    /// DynamoDB and S3 refusing connections, with retries that end long before the deadline: the invocation's summary
    /// (its log line) says both sinks failed and with what error, instead of "Completed" with nothing written.
    /// </summary>
    [Fact]
    public async Task ProcessAsync_DynamoDbAndS3Down_TheSummarySaysBothSinksFailed_WithTheErrorTheyGaveUpOn()
    {
        string table = await servers.CreateTableAsync("pipeline");
        string bucket = await servers.CreateBucketAsync("pipeline");
        await using var dynamoDbProxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed: 23) { Mode = FaultMode.Down };
        await using var s3Proxy = new FaultProxy(servers.S3Url, FaultProfile.None, seed: 24) { Mode = FaultMode.Down };
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient(dynamoDbProxy.Url, timeout: TimeSpan.FromSeconds(1));
        using AmazonS3Client s3 = servers.CreateS3Client(s3Proxy.Url, timeout: TimeSpan.FromSeconds(1));
        AwsRetryOptions retry = AwsRetryOptions.Default with { MaxAttempts = 2, BaseDelay = TimeSpan.FromMilliseconds(5), MaxDelay = TimeSpan.FromMilliseconds(20) };
        using var processor = new KinesisBatchProcessor(
            new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = retry }),
            new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket, Retry = retry }),
            ProcessorOptions.Default);
        ShardRecord[] records = ShardStream.Generate(seed: 23, count: 20);

        (BatchSummary summary, string? failure) = await InvokeAsync(processor, records, [3], 0, records.Length, TimeSpan.FromSeconds(60));

        Assert.Equal(records[0].SequenceNumber, failure);
        Assert.Equal(SinkOutcome.Failed, summary.AggregateSinkOutcome);
        Assert.Equal(SinkOutcome.Failed, summary.QuarantineSinkOutcome);
        Assert.StartsWith("System.Net.Http.HttpRequestException: ", summary.AggregateSinkError, StringComparison.Ordinal);
        Assert.StartsWith("System.Net.Http.HttpRequestException: ", summary.QuarantineSinkError, StringComparison.Ordinal);
        Assert.Contains("threw HttpRequestException", summary.AggregateSinkIssue, StringComparison.Ordinal);
        Assert.True(summary.RemainingTime > TimeSpan.FromSeconds(30), "gave up after its attempts, long before the deadline");
    }

    /// <summary>One invocation on records [start, end); returns the summary and the reported item identifier, if any.</summary>
    private static async Task<(BatchSummary Summary, string? Failure)> InvokeAsync(
        KinesisBatchProcessor processor, ShardRecord[] records, HashSet<int> poison, int start, int end, TimeSpan budget)
    {
        var events = new List<TestRecord>();
        for (int i = start; i < end; i++)
        {
            string data = poison.Contains(i)
                ? "{not json " + i
                : string.Join('\n', records[i].Samples.Select(s => TestEvents.Sample(s.Metric, s.Value, s.TimestampMs, [.. s.Dimensions.Select(d => (d.Key, d.Value))])));
            events.Add(new TestRecord(records[i].SequenceNumber, Encoding.UTF8.GetBytes(data), ArrivalMs + i, PartitionKey: records[i].PartitionKey));
        }

        var response = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build(events), DateTimeOffset.UtcNow + budget, response)
            .WaitAsync(budget + TimeSpan.FromSeconds(20));
        using var json = JsonDocument.Parse(response.WrittenMemory);
        JsonElement failures = json.RootElement.GetProperty("batchItemFailures");
        Assert.InRange(failures.GetArrayLength(), 0, 1);
        return (summary, failures.GetArrayLength() == 0 ? null : failures[0].GetProperty("itemIdentifier").GetString());
    }
}
