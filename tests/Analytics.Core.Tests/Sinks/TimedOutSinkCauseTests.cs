using System.Buffers;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Xunit.Abstractions;

namespace Analytics.Core.Tests;

/// <summary>
/// A DynamoDB sink whose every request fails at once (the endpoint refuses connections: a wrong region or endpoint, a
/// DNS typo, an outage), stopped before its attempts run out. Sink errors must be visible: the summary keeps the last
/// error seen, whatever stopped the sink.
/// <list type="bullet">
/// <item>The deadline first (Lambda's default timeout is 3 s): the line said only <c>TimedOut</c>,
/// <c>aggregateSinkError: null</c> and "ran out of time", and docs/observability.md sent the operator to raise the
/// timeout or lower BatchSize (a new-consumer review).</item>
/// <item>The caller's token first (host shutdown), well before the deadline: once the sink gave its cause as the inner
/// exception of a cancellation, the failure kept the cancellation itself, "...the last of the failed attempts is the
/// inner exception", and the refusal was nowhere in the line (a review of that change).</item>
/// </list>
/// </summary>
public sealed class TimedOutSinkCauseTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EveryAttemptRefused_StoppedByTheDeadlineOrTheCaller_TheRefusalIsInTheSinkError(bool callerCancels)
    {
        int port = LoopbackPorts.Unused();
        using var client = new AmazonDynamoDBClient(new BasicAWSCredentials("test", "test"), new AmazonDynamoDBConfig
        {
            ServiceURL = $"http://127.0.0.1:{port}",
            AuthenticationRegion = "us-east-1",
            MaxErrorRetry = 0,
            Timeout = TimeSpan.FromSeconds(2),
        });
        // More attempts than fit before the deadline: the deadline (or the caller), not the attempts, ends the call.
        var retry = AwsRetryOptions.Default with { MaxAttempts = 50, JitterSeed = 1 };
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = "metrics", Retry = retry });
        // The processor's time is a clock the test moves once an attempt has been refused: on the real clock (3 s, or the
        // caller's 2 s), a first refusal later than that (a loaded machine) left no error to report.
        var clock = new Pipeline.ManualTimeProvider(DateTimeOffset.UnixEpoch.AddMilliseconds(TestEvents.Arrival));
        using var processor = new KinesisBatchProcessor(sink, new NoQuarantine(), ProcessorOptions.Default with { TimeProvider = clock });
        byte[] evt = TestEvents.Build([new TestRecord(TestEvents.Seq(1), Encoding.UTF8.GetBytes(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival)]);

        using var caller = new CancellationTokenSource();
        var response = new ArrayBufferWriter<byte>();
        DateTimeOffset deadline = clock.GetUtcNow().AddSeconds(callerCancels ? 60 : 3);
        Task<BatchSummary> run = processor.ProcessAsync(evt, deadline, response, caller.Token);
        await S3QuarantineSinkTests.WaitUntilAsync(() => sink.Retries > 0 || run.IsCompleted);
        if (callerCancels)
        {
            await caller.CancelAsync();
        }
        else
        {
            // Past the working time (the deadline less its 1 s margin), short of the 200 ms the processor then grants the
            // sink: one step of 3 s also fired that grace timer, inside the same Advance, while the stopped sink was still
            // returning with its cause on the thread pool, and a loaded machine lost the race (CI: an empty sink error).
            clock.Advance(TimeSpan.FromMilliseconds(2_050));
            if (await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(20))) != run)
            {
                clock.Advance(TimeSpan.FromSeconds(1)); // a sink that never returns: let its grace run out, and fail below
            }
        }

        BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(30));

        output.WriteLine($"{summary.AggregateSinkOutcome} | {summary.AggregateSinkError} | {summary.AggregateSinkIssue}");
        Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
        Assert.Contains("HttpRequestException", summary.AggregateSinkError ?? string.Empty, StringComparison.Ordinal);
    }

    private sealed class NoQuarantine : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => Task.FromResult(records.Count);
    }
}
