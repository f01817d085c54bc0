using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Xunit.Abstractions;

namespace Analytics.Core.Tests;

/// <summary>
/// A DynamoDB sink whose every request fails at once (the endpoint refuses connections: a wrong region or endpoint, a
/// DNS typo, an outage) in an invocation whose deadline comes before its attempts run out (Lambda's default timeout is
/// 3 s). Today the line says only <c>TimedOut</c>, <c>aggregateSinkError: null</c> and "ran out of time", and
/// docs/observability.md sends the operator to raise the timeout or lower BatchSize: the cause the sink saw on every
/// attempt is dropped. Sink errors must be visible: the summary keeps the last error seen, whatever the outcome.
/// </summary>
public sealed class TimedOutSinkCauseTests(ITestOutputHelper output)
{
    [Fact]
    public async Task EveryAttemptRefused_DeadlineFirst_TheRefusalIsInTheSinkError()
    {
        int port = LoopbackPorts.Unused();
        using var client = new AmazonDynamoDBClient(new BasicAWSCredentials("test", "test"), new AmazonDynamoDBConfig
        {
            ServiceURL = $"http://127.0.0.1:{port}",
            AuthenticationRegion = "us-east-1",
            MaxErrorRetry = 0,
            Timeout = TimeSpan.FromSeconds(2),
        });
        // More attempts than fit before the deadline: the deadline, not the attempts, ends the call.
        var retry = AwsRetryOptions.Default with { MaxAttempts = 50, JitterSeed = 1 };
        using var processor = new KinesisBatchProcessor(
            new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = "metrics", Retry = retry }),
            new NoQuarantine(),
            ProcessorOptions.Default);
        byte[] evt = TestEvents.Build([new TestRecord(TestEvents.Seq(1), Encoding.UTF8.GetBytes(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival)]);

        var response = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(3), response).WaitAsync(TimeSpan.FromSeconds(30));

        output.WriteLine($"{summary.AggregateSinkOutcome} | {summary.AggregateSinkError} | {summary.AggregateSinkIssue}");
        Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
        Assert.NotNull(summary.AggregateSinkError);
        Assert.Contains("HttpRequestException", summary.AggregateSinkError, StringComparison.Ordinal);
    }

    private sealed class NoQuarantine : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => Task.FromResult(records.Count);
    }
}
