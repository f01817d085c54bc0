using System.Buffers;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Xunit.Abstractions;

namespace Analytics.Core.Tests;

/// <summary>
/// Review of 3025b2f. The DynamoDB sink, stopped after failed attempts, now throws an OperationCanceledException whose
/// inner exception is the cause, and the processor keeps that cause only when it classifies the throw as a time-out.
/// When the caller's token stops it (host shutdown, a caller's cancellation) well before the deadline, the throw is
/// classified Failed and the summary keeps the cancellation itself: aggregateSinkError then reads "...the last of the
/// failed attempts is the inner exception" and the inner exception (the refusal seen on every attempt) is nowhere in
/// the log line. Before the change the sink returned, and the outcome was Completed with the caller's cancellation
/// named in aggregateSinkIssue. Expected: the cause is visible whatever the classification.
/// </summary>
public sealed class CallerCancelledSinkCauseTests(ITestOutputHelper output)
{
    [Fact]
    public async Task EveryAttemptRefused_CallerCancels_TheRefusalIsInTheSinkError()
    {
        int port = LoopbackPorts.Unused();
        using var client = new AmazonDynamoDBClient(new BasicAWSCredentials("test", "test"), new AmazonDynamoDBConfig
        {
            ServiceURL = $"http://127.0.0.1:{port}",
            AuthenticationRegion = "us-east-1",
            MaxErrorRetry = 0,
            Timeout = TimeSpan.FromSeconds(2),
        });
        var retry = AwsRetryOptions.Default with { MaxAttempts = 50, JitterSeed = 1 };
        using var processor = new KinesisBatchProcessor(
            new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = "metrics", Retry = retry }),
            new NoQuarantine(),
            ProcessorOptions.Default);
        byte[] evt = TestEvents.Build([new TestRecord(TestEvents.Seq(1), Encoding.UTF8.GetBytes(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival)]);

        using var caller = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var response = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(60), response, caller.Token).WaitAsync(TimeSpan.FromSeconds(30));

        output.WriteLine($"{summary.AggregateSinkOutcome} | {summary.AggregateSinkError} | {summary.AggregateSinkIssue}");
        Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
        Assert.Contains("HttpRequestException", summary.AggregateSinkError ?? string.Empty, StringComparison.Ordinal);
    }

    private sealed class NoQuarantine : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => Task.FromResult(records.Count);
    }
}
