using Amazon.DynamoDBv2;
using Xunit.Abstractions;

namespace Analytics.Core.Tests;

/// <summary>
/// The sink behind a proxy that throttles, fails, drops connections (also after the write landed) and adds
/// latency, delivered the way Lambda delivers: re-delivery from the reported checkpoint until every record is in.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class DynamoDbAggregateSinkFaultTests(LocalServersFixture servers, ITestOutputHelper output)
{
    private const string Shard = "shardId-000000000007";

    private static readonly FaultProfile s_faults = new(
        Throttle: 0.12,
        ServerError: 0.06,
        DropBeforeForward: 0.04,
        DropAfterForward: 0.06,
        Latency: 0.2,
        MaxLatency: TimeSpan.FromMilliseconds(30));

    [Theory]
    [InlineData(8, 11)]
    [InlineData(2, 12)]
    public async Task WriteAsync_FaultsAtAboutThirtyPercentRetriedLikeLambda_ExactAggregates(int maxAttempts, int seed)
    {
        string table = await servers.CreateTableAsync("faults");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, s_faults, seed);
        using AmazonDynamoDBClient flaky = servers.CreateDynamoDbClient(proxy.Url, timeout: TimeSpan.FromSeconds(2));
        var sink = new DynamoDbAggregateSink(flaky, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = AwsRetryOptions.Default with { MaxAttempts = maxAttempts } });
        ShardRecord[] records = ShardStream.Generate(seed, count: 300);

        (int invocations, int partial, int thrown) = await DeliverLikeLambdaAsync(sink, records, batchSize: 50);

        output.WriteLine(
            $"MaxAttempts {maxAttempts}: {invocations} invocations ({partial} partial, {thrown} reported the error they gave up on), {sink.Retries} retries, {sink.Conflicts} version conflicts; " +
            $"proxy: {proxy.Requests} requests, {proxy.Throttled} throttled, {proxy.ServerErrors} HTTP 500, {proxy.Dropped} dropped, {proxy.Delayed} delayed");
        Assert.True(proxy.Faults > 0);
        if (maxAttempts == 2)
        {
            Assert.True(partial > 0, "with two attempts some invocations must end partially, exercising re-delivery");
        }

        // Every partial invocation had time left (10 s each): each gave pairs up after its attempts, and said so.
        Assert.Equal(partial, thrown);

        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        await ShardStream.AssertTableAsync(direct, table, ShardStream.Expect((Shard, records)));
    }

    [Theory]
    [InlineData(FaultMode.Dead)]
    [InlineData(FaultMode.Down)]
    public async Task WriteAsync_DownstreamUnavailable_StopsAtTheDeadlineWithNothingMarked_SayingWhatFailed(FaultMode mode)
    {
        string table = await servers.CreateTableAsync("faults");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed: 1) { Mode = mode };
        using AmazonDynamoDBClient flaky = servers.CreateDynamoDbClient(proxy.Url, timeout: TimeSpan.FromSeconds(1));
        var sink = new DynamoDbAggregateSink(flaky, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = AwsRetryOptions.Default with { MaxAttempts = 1000 } });
        AggregateBatch batch = ShardStream.Build(Shard, ShardStream.Generate(seed: 13, count: 40));
        using var deadline = new CancellationTokenSource();

        // The outer bound only keeps a hanging sink from hanging the run; the token is what must end the call. When
        // attempts failed before the deadline, the cancellation carries the last failure (a refused connection, or a
        // request the SDK timed out), for the invocation's log line. A dead endpoint's first request may still be
        // waiting at the deadline (the SDK's 1 s against the 2 s deadline, less the read before it): then nothing
        // failed yet, and the sink returns (CI met both). A refusing endpoint's deadline comes 1 s after its first
        // refusal, not 2 s of real time in: a refusal later than that (a loaded machine) left nothing failed either.
        Task write = sink.WriteAsync(batch, deadline.Token);
        if (mode == FaultMode.Down)
        {
            await S3QuarantineSinkTests.WaitUntilAsync(() => sink.Retries > 0 || write.IsCompleted);
            deadline.CancelAfter(TimeSpan.FromSeconds(1));
        }
        else
        {
            deadline.CancelAfter(TimeSpan.FromSeconds(2));
        }

        Exception? thrown = await Record.ExceptionAsync(() => write.WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.True(deadline.IsCancellationRequested);
        if (mode == FaultMode.Down || thrown is not null)
        {
            OperationCanceledException stopped = Assert.IsType<OperationCanceledException>(thrown);
            Assert.True(stopped.InnerException is System.Net.Http.HttpRequestException or TimeoutException, stopped.ToString());
        }

        Assert.Equal(0, ShardStream.Checkpoint(batch));
        Assert.All(Enumerable.Range(0, batch.Count), pair => Assert.False(batch.IsDurable(pair)));
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        Assert.Equal(0, await ShardStream.CountItemsAsync(direct, table));
        output.WriteLine($"{mode}: {sink.Retries} retries before the deadline, {proxy.Held} requests held");
    }

    [Fact]
    public async Task WriteAsync_DownstreamDown_GivesUpAfterItsAttempts_AndThrowsTheLastError_NotAQuietReturn()
    {
        // A full outage with time left: the sink must not return as if it had written (the processor would log the
        // call as completed and blame the sink for not marking); it throws the error it gave up on, nothing marked.
        string table = await servers.CreateTableAsync("faults");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed: 1) { Mode = FaultMode.Down };
        using AmazonDynamoDBClient down = servers.CreateDynamoDbClient(proxy.Url, timeout: TimeSpan.FromSeconds(1));
        var sink = new DynamoDbAggregateSink(down, DynamoDbAggregateSinkOptions.Default with
        {
            TableName = table,
            Retry = FaultProxy.QuickRetries,
        });
        AggregateBatch batch = ShardStream.Build(Shard, ShardStream.Generate(seed: 13, count: 40));
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        Exception thrown = await Assert.ThrowsAnyAsync<Exception>(() => sink.WriteAsync(batch, deadline.Token).WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.False(deadline.IsCancellationRequested);
        FaultProxy.AssertConnectionFailure(thrown);
        Assert.All(Enumerable.Range(0, batch.Count), pair => Assert.False(batch.IsDurable(pair)));
        Assert.True(sink.Retries > 0);
    }

    /// <summary>
    /// Batches of <paramref name="batchSize"/> from the checkpoint on, until every record is durable; a call that throws
    /// (pairs given up after their attempts) is a partial invocation too, as the processor treats it.
    /// </summary>
    private static async Task<(int Invocations, int Partial, int Thrown)> DeliverLikeLambdaAsync(DynamoDbAggregateSink sink, ShardRecord[] records, int batchSize)
    {
        int cursor = 0;
        int invocations = 0;
        int partial = 0;
        int thrown = 0;
        while (cursor < records.Length)
        {
            Assert.True(++invocations <= 200, "did not converge within 200 invocations");
            AggregateBatch batch = ShardStream.Build(Shard, records[cursor..Math.Min(records.Length, cursor + batchSize)]);
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await sink.WriteAsync(batch, deadline.Token);
            }
            catch (Exception e) when (e is AmazonDynamoDBException or System.Net.Http.HttpRequestException or IOException or TaskCanceledException or Amazon.Runtime.AmazonServiceException)
            {
                thrown++;
                Assert.NotNull(ShardStream.Checkpoint(batch)); // thrown only when it gave a pair up
            }

            if (ShardStream.Checkpoint(batch) is int checkpoint)
            {
                partial++;
                cursor += checkpoint;
            }
            else
            {
                cursor += Math.Min(batchSize, records.Length - cursor);
            }
        }

        return (invocations, partial, thrown);
    }
}
