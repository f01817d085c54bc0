using Amazon.DynamoDBv2;
using Amazon.S3;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;

namespace Analytics.Core.Tests;

/// <summary>The one retry options type of the AWS sinks: its bounds, its deterministic jitter and its clock.</summary>
[Collection(LocalServersCollection.Name)]
public sealed class AwsRetryTests(LocalServersFixture servers)
{
    private const int Seed = 4711;

    [Property(MaxTest = 500, Replay = "(12345,67891)")]
    public void FullJitter_WithSeed_IsWithinTheCapAndAFunctionOfSeedKeyAndAttempt(int seed, NonNegativeInt attempt, string? key, PositiveInt baseMs, PositiveInt maxMs)
    {
        string requestKey = key ?? string.Empty;
        AwsRetryOptions options = AwsRetryOptions.Default with
        {
            BaseDelay = TimeSpan.FromMilliseconds(baseMs.Get),
            MaxDelay = TimeSpan.FromMilliseconds(maxMs.Get),
            JitterSeed = seed,
        };
        double cap = Math.Min(maxMs.Get, baseMs.Get * Math.Pow(2, Math.Min(attempt.Get, 30)));

        TimeSpan first = RetryPolicy.FullJitter(options, attempt.Get, requestKey);
        TimeSpan second = RetryPolicy.FullJitter(options, attempt.Get, requestKey);

        Assert.Equal(first, second);
        Assert.InRange(first.TotalMilliseconds, 0, cap);
        if (attempt.Get <= 30)
        {
            // The function is the documented one (JitterReference, written from the description): the waits the sink
            // tests expect are computed by it, not by the code under test.
            Assert.Equal(JitterReference.Wait(options, attempt.Get, requestKey), first);
        }
    }

    [Fact]
    public void FullJitter_WithSeed_SpreadsOverTheRangeAndDependsOnTheSeed()
    {
        // Deterministic is not constant: over many keys the delays cover the range evenly, and another seed gives others.
        AwsRetryOptions options = AwsRetryOptions.Default with { BaseDelay = TimeSpan.FromMilliseconds(1000), MaxDelay = TimeSpan.FromMilliseconds(1000), JitterSeed = Seed };
        double[] delays = Enumerable.Range(0, 4000).Select(i => RetryPolicy.FullJitter(options, 1, "pk-" + i).TotalMilliseconds).ToArray();
        int[] deciles = new int[10];
        foreach (double d in delays)
        {
            deciles[(int)(d / 100)]++;
        }

        Assert.All(deciles, n => Assert.InRange(n, 300, 500));
        double[] otherSeed = Enumerable.Range(0, 4000).Select(i => RetryPolicy.FullJitter(options with { JitterSeed = Seed + 1 }, 1, "pk-" + i).TotalMilliseconds).ToArray();
        Assert.True(delays.Zip(otherSeed).Count(p => p.First != p.Second) > 3990);
    }

    [Fact]
    public void Options_Defaults_AreTheDocumentedOnes()
    {
        Assert.Equal(8, DynamoDbAggregateSinkOptions.Default.Retry.MaxAttempts);
        Assert.Equal(TimeSpan.FromMilliseconds(25), DynamoDbAggregateSinkOptions.Default.Retry.BaseDelay);
        Assert.Equal(4, S3QuarantineSinkOptions.Default.Retry.MaxAttempts);
        Assert.Equal(TimeSpan.FromMilliseconds(50), S3QuarantineSinkOptions.Default.Retry.BaseDelay);
        Assert.Equal(TimeSpan.FromSeconds(2), S3QuarantineSinkOptions.Default.Retry.MaxDelay);
        Assert.Same(TimeProvider.System, AwsRetryOptions.Default.TimeProvider);
        Assert.Same(TimeProvider.System, default(AwsRetryOptions).TimeProvider);
        Assert.Null(AwsRetryOptions.Default.JitterSeed);
    }

    public static TheoryData<string, Type> InvalidOptions => new()
    {
        { "no name", typeof(ArgumentException) },
        { "concurrency 0", typeof(ArgumentOutOfRangeException) },
        { "attempts 0", typeof(ArgumentOutOfRangeException) },
        { "negative base delay", typeof(ArgumentOutOfRangeException) },
        { "negative max delay", typeof(ArgumentOutOfRangeException) },
        { "default retry", typeof(ArgumentOutOfRangeException) },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Constructors_InvalidOptions_BothSinksRejectAlike(string mistake, Type expected)
    {
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();
        DynamoDbAggregateSinkOptions d = DynamoDbAggregateSinkOptions.Default with { TableName = "metrics" };
        S3QuarantineSinkOptions s = S3QuarantineSinkOptions.Default with { BucketName = "quarantine" };
        (d, s) = mistake switch
        {
            "no name" => (d with { TableName = "" }, s with { BucketName = "" }),
            "concurrency 0" => (d with { MaxConcurrency = 0 }, s with { MaxConcurrency = 0 }),
            "attempts 0" => (d with { Retry = d.Retry with { MaxAttempts = 0 } }, s with { Retry = s.Retry with { MaxAttempts = 0 } }),
            "negative base delay" => (d with { Retry = d.Retry with { BaseDelay = TimeSpan.FromTicks(-1) } }, s with { Retry = s.Retry with { BaseDelay = TimeSpan.FromTicks(-1) } }),
            "negative max delay" => (d with { Retry = d.Retry with { MaxDelay = TimeSpan.FromTicks(-1) } }, s with { Retry = s.Retry with { MaxDelay = TimeSpan.FromTicks(-1) } }),
            _ => (d with { Retry = default }, s with { Retry = default }),
        };

        Exception onDynamoDb = Assert.Throws(expected, () => new DynamoDbAggregateSink(dynamoDb, d));
        Exception onS3 = Assert.Throws(expected, () => new S3QuarantineSink(s3, s));
        Assert.Equal("options", ((ArgumentException)onDynamoDb).ParamName);
        Assert.Equal("options", ((ArgumentException)onS3).ParamName);
        Assert.Throws<ArgumentNullException>(() => new DynamoDbAggregateSink(null!, DynamoDbAggregateSinkOptions.Default with { TableName = "metrics" }));
        Assert.Throws<ArgumentNullException>(() => new S3QuarantineSink(null!, S3QuarantineSinkOptions.Default with { BucketName = "quarantine" }));
    }

    [Fact]
    public async Task S3Sink_BackoffOnAFakeClock_WaitsForVirtualTimeOnly()
    {
        string bucket = await servers.CreateBucketAsync("virtual");
        await using var proxy = new FaultProxy(servers.S3Url, FaultProfile.None with { ServerError = 1 }, seed: 1);
        using AmazonS3Client s3 = servers.CreateS3Client(proxy.Url);
        var clock = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        // An hour of backoff: on the real clock this test could not finish.
        AwsRetryOptions retry = AwsRetryOptions.Default with
        {
            MaxAttempts = 3,
            BaseDelay = TimeSpan.FromHours(1),
            MaxDelay = TimeSpan.FromHours(1),
            TimeProvider = clock,
            JitterSeed = Seed,
        };
        var sink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket, MaxConcurrency = 1, Retry = retry });

        Task<int> write = sink.WriteAsync(S3QuarantineSinkTests.MakeRecords(1), CancellationToken.None);
        await S3QuarantineSinkTests.WaitUntilAsync(() => proxy.Requests == 1);
        await Task.Delay(200);
        Assert.Equal(1, proxy.Requests);
        Assert.False(write.IsCompleted);

        proxy.Profile = FaultProfile.None;
        // Advanced until the write ends, as below: the 200 ms above do not make sure the sink has read the 500 and armed
        // its backoff timer (on a loaded machine it had not: the hour passed before the timer existed, and the write
        // waited for an hour no one moved).
        for (int i = 0; i < 50 && !write.IsCompleted; i++)
        {
            clock.Advance(TimeSpan.FromHours(1));
            await Task.WhenAny(write, Task.Delay(100));
        }

        int stored = await write.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(1, stored);
        Assert.Equal(2, proxy.Requests);
        Assert.Equal(1, sink.Retries);
    }

    [Fact]
    public async Task DynamoDbSink_BackoffOnAFakeClock_WaitsForVirtualTimeOnly()
    {
        string table = await servers.CreateTableAsync("virtual");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None with { ServerError = 1 }, seed: 1);
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient(proxy.Url);
        var clock = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        AwsRetryOptions retry = AwsRetryOptions.Default with { BaseDelay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), TimeProvider = clock, JitterSeed = Seed };
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, MaxConcurrency = 1, Retry = retry });
        ShardRecord[] records = ShardStream.Generate(seed: 5, count: 3);
        AggregateBatch batch = ShardStream.Build("shardId-000000000000", records);

        Task write = sink.WriteAsync(batch, CancellationToken.None);
        await S3QuarantineSinkTests.WaitUntilAsync(() => proxy.Requests == 1);
        await Task.Delay(200);
        Assert.Equal(1, proxy.Requests);
        Assert.False(write.IsCompleted);

        proxy.Profile = FaultProfile.None;
        for (int i = 0; i < 50 && !write.IsCompleted; i++)
        {
            clock.Advance(TimeSpan.FromHours(1));
            await Task.WhenAny(write, Task.Delay(100));
        }

        await write.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Null(ShardStream.Checkpoint(batch));
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        await ShardStream.AssertTableAsync(direct, table, ShardStream.Expect(("shardId-000000000000", records)));
    }
}
