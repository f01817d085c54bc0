using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Microsoft.Extensions.Time.Testing;

namespace Analytics.Core.Tests;

/// <summary>
/// What one exactly-once redrive write (<c>DynamoDbAggregateSink.ApplyOnceAsync</c>) reports and leaves in the table
/// (dynalite): counts, <see cref="RedriveResult.Done"/>, the item's version, its bounds, lost races and retries.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveApplyOnceTests(LocalServersFixture servers)
{
    private const long WindowStartMs = 1_714_565_100_000 - (1_714_565_100_000 % 60_000);
    private const string Metric = "m";
    private static readonly AwsRetryOptions s_fastRetry = AwsRetryOptions.Default with { MaxAttempts = 3, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(2) };

    [Fact]
    public async Task NewSamples_AreAppliedOnce_AndARedriveOfTheSameSamplesWritesNothing()
    {
        string table = await servers.CreateTableAsync("apply-once");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        await sink.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(10, "k0", 1)]), CancellationToken.None);
        RedriveWork work = Work(Sample(20, "k0", 2), Sample(30, "k1", 3), Sample(40, "k0", 4));

        RedriveResult first = await sink.ApplyOnceAsync(work, CancellationToken.None);
        (long count, double sum, long version) = await ReadAsync(dynamoDb, table);

        Assert.Equal(new RedriveResult(3, 0, 0, null), first);
        Assert.True(first.Done);
        Assert.Equal((4, 10.0, 2), (count, sum, version));

        // Everything is at or below the keys' redrive marks now: counted as already applied, and no write at all (a
        // write would raise the version and make the live sink's next conditional put lose a race for nothing).
        RedriveResult again = await sink.ApplyOnceAsync(work, CancellationToken.None);

        Assert.Equal(new RedriveResult(0, 3, 0, null), again);
        Assert.True(again.Done);
        Assert.Equal((4, 10.0, 2), await ReadAsync(dynamoDb, table));
    }

    [Fact]
    public async Task AnUnknownSampleTheLiveWatermarkHasPassed_IsUndecided_AndTheResultIsNotDone()
    {
        string table = await servers.CreateTableAsync("apply-once");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        // The spill of sequence 10 does not know whether its put landed (it did not); a later live batch moved the key's
        // watermark past it, so the table can no longer tell.
        await sink.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(20, "k0", 5)]), CancellationToken.None);
        RedriveResult result = await sink.ApplyOnceAsync(Work(Sample(10, "k0", 1, unknown: true)), CancellationToken.None);

        Assert.Equal(new RedriveResult(0, 0, 1, null), result);
        Assert.False(result.Done);
        Assert.Equal((1, 5.0, 1), await ReadAsync(dynamoDb, table));
    }

    [Fact]
    public async Task AServerThatKeepsFailing_IsTriedMaxAttemptsTimes_ThenEverySampleIsReportedNotWritten()
    {
        string table = await servers.CreateTableAsync("apply-once");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None with { ServerError = 1 }, seed: 1);
        using AmazonDynamoDBClient failing = servers.CreateDynamoDbClient(proxy.Url);
        var sink = new DynamoDbAggregateSink(failing, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fastRetry });

        RedriveResult result = await sink.ApplyOnceAsync(Work(Sample(10, "k0", 1), Sample(20, "k1", 2)), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(new RedriveResult(0, 0, 2, "DynamoDB did not accept the write within the retry budget"), result);
        Assert.False(result.Done);
        Assert.Equal(s_fastRetry.MaxAttempts, proxy.Requests);
        Assert.Equal(s_fastRetry.MaxAttempts, sink.Retries);
    }

    [Fact]
    public async Task AFailureAndThenAnAnswer_IsRetried_AndApplied()
    {
        string table = await servers.CreateTableAsync("apply-once");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None with { ServerError = 1 }, seed: 1);
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient(proxy.Url);
        var clock = new TimerCountingClock();
        AwsRetryOptions retry = AwsRetryOptions.Default with { MaxAttempts = 3, BaseDelay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), TimeProvider = clock, JitterSeed = 7 };
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = retry });
        RedriveWork work = Work(Sample(10, "k0", 1), Sample(20, "k1", 2));

        Task<RedriveResult> apply = sink.ApplyOnceAsync(work, CancellationToken.None);
        await S3QuarantineSinkTests.WaitUntilAsync(() => clock.Timers == 1);
        proxy.Profile = FaultProfile.None;

        // With a jitter seed the wait before the second attempt is the documented full-jitter delay of attempt 1 for
        // the item's request key "pk|sk": not a tick shorter.
        TimeSpan wait = JitterReference.Wait(retry, 1, work.Key.Pk + "|" + work.Key.Sk);
        clock.Advance(wait - TimeSpan.FromTicks(1));
        await Task.Delay(150);
        Assert.Equal(1, proxy.Requests);
        Assert.False(apply.IsCompleted);

        clock.Advance(TimeSpan.FromTicks(1));
        RedriveResult result = await apply.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(new RedriveResult(2, 0, 0, null), result);
        Assert.Equal(3, proxy.Requests);
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        Assert.Equal((2, 3.0, 1), await ReadAsync(direct, table));
    }

    [Fact]
    public async Task CancelledDuringABackoff_ReturnsNotWritten_WithoutAnotherRequest()
    {
        string table = await servers.CreateTableAsync("apply-once");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None with { ServerError = 1 }, seed: 1);
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient(proxy.Url);
        var clock = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        AwsRetryOptions retry = AwsRetryOptions.Default with { BaseDelay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), TimeProvider = clock, JitterSeed = 7 };
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = retry });
        using var cts = new CancellationTokenSource();

        Task<RedriveResult> apply = sink.ApplyOnceAsync(Work(Sample(10, "k0", 1)), cts.Token);
        await S3QuarantineSinkTests.WaitUntilAsync(() => sink.Retries == 1);
        await cts.CancelAsync();
        RedriveResult result = await apply.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(new RedriveResult(0, 0, 1, "DynamoDB did not accept the write within the retry budget"), result);
        Assert.Equal(1, proxy.Requests);
    }

    [Fact]
    public async Task ALiveWriteBetweenTheReadAndThePut_IsALostRace_DecidedAgainFromTheNewItem_WithoutDoubling()
    {
        string table = await servers.CreateTableAsync("apply-once");
        using AmazonDynamoDBClient plain = servers.CreateDynamoDbClient();
        var live = new DynamoDbAggregateSink(plain, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        await live.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(10, "k0", 1)]), CancellationToken.None);
        using var racing = new InterceptingClient(servers.DynamoDbUrl)
        {
            BeforePut = n => n == 1 ? live.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(15, "k9", 100)]), CancellationToken.None) : Task.CompletedTask,
        };
        var sink = new DynamoDbAggregateSink(racing, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fastRetry });

        RedriveResult result = await sink.ApplyOnceAsync(Work(Sample(20, "k0", 2), Sample(30, "k1", 3)), CancellationToken.None);

        // The truth: 1 (live) + 100 (the live write that won the race) + 2 + 3, each once.
        Assert.Equal(new RedriveResult(2, 0, 0, null), result);
        Assert.Equal((4, 106.0, 3), await ReadAsync(plain, table));
        Assert.Equal(1, sink.Conflicts);
        Assert.Equal(2, racing.Puts);

        // Every read of the item is strongly consistent: an eventually consistent read could miss the live write that
        // just won and lose the race again (and cost half the read units it saves in retries).
        Assert.Equal([true, true], racing.ConsistentReads);
    }

    [Fact]
    public async Task APutOfANewItemThatFailsBeforeItIsApplied_IsRetried_WithEachSampleOnce()
    {
        string table = await servers.CreateTableAsync("apply-once");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed: 1);
        using var client = new InterceptingClient(proxy.Url)
        {
            // The first put is answered with a 500 by the proxy, without reaching the server.
            BeforePut = n =>
            {
                proxy.Profile = n == 1 ? FaultProfile.None with { ServerError = 1 } : FaultProfile.None;
                return Task.CompletedTask;
            },
            AfterPut = _ => proxy.Profile = FaultProfile.None,
        };
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fastRetry });

        RedriveResult result = await sink.ApplyOnceAsync(Work(Sample(10, "k0", 1), Sample(20, "k1", 2)), CancellationToken.None);

        Assert.Equal(new RedriveResult(2, 0, 0, null), result);
        Assert.Equal(1, proxy.ServerErrors);
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        Assert.Equal((2, 3.0, 1), await ReadAsync(direct, table));
    }

    [Fact]
    public async Task AnAnswerWithAnEmptyItemMap_MeansNoItem_AndTheRedriveCreatesIt()
    {
        string table = await servers.CreateTableAsync("apply-once");
        using var client = new InterceptingClient(servers.DynamoDbUrl) { EmptyMapForMissingItem = true };
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fastRetry });

        RedriveResult result = await sink.ApplyOnceAsync(Work(Sample(10, "k0", 1), Sample(20, "k0", 2)), CancellationToken.None);

        Assert.Equal(new RedriveResult(2, 0, 0, null), result);
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        Assert.Equal((2, 3.0, 1), await ReadAsync(direct, table));
    }

    [Fact]
    public async Task AWriteOverMaxPartitionKeysPerItem_IsNotMade_AndReportsEverySampleWithTheBound()
    {
        string table = await servers.CreateTableAsync("apply-once");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table, MaxPartitionKeysPerItem = 2 });

        // Exactly at the bound: two keys, written.
        RedriveResult atBound = await sink.ApplyOnceAsync(Work(Sample(10, "k0", 1), Sample(20, "k1", 2)), CancellationToken.None);
        Assert.Equal(new RedriveResult(2, 0, 0, null), atBound);
        Assert.Equal(0, sink.CapacityExceeded);

        // One key more: nothing written; the one sample already in the item is counted so, the three new ones left.
        RedriveResult over = await sink.ApplyOnceAsync(Work(Sample(10, "k0", 1), Sample(30, "k2", 3), Sample(40, "k3", 4), Sample(50, "k0", 5)), CancellationToken.None);

        Assert.Equal(0, over.Applied);
        Assert.Equal(1, over.AlreadyApplied);
        Assert.Equal(3, over.Undecided);
        Assert.False(over.Done);
        Assert.StartsWith("the item would hold 4 partition-key marks (MaxPartitionKeysPerItem is 2) or ", over.Failure, StringComparison.Ordinal);
        Assert.EndsWith(" bytes (at most 358400)", over.Failure, StringComparison.Ordinal);
        Assert.Equal(1, sink.CapacityExceeded);
        Assert.Equal((2, 3.0, 1), await ReadAsync(dynamoDb, table));
    }

    [Fact]
    public async Task AnItemOfExactlyTheSizeBound_IsWritten_AndOneByteMoreIsNot()
    {
        string table = await servers.CreateTableAsync("apply-once");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table, MaxPartitionKeysPerItem = 10_000 });

        // 1,400 partition keys of 200 characters: each redrive mark takes 1 + 200 + 56 bytes, the item is over the bound.
        // The sink reports the size it computed; the item shrinks by one byte per character its keys lose.
        static RedriveWork Keys(int shorterBy)
        {
            var samples = new RedriveSample[1_400];
            for (int i = samples.Length - 1; i >= 0; i--)
            {
                int cut = Math.Min(shorterBy, 195);
                shorterBy -= cut;
                samples[i] = Sample(i + 1, i.ToString("D5", CultureInfo.InvariantCulture).PadRight(200 - cut, 'x'), 1);
            }

            return Work(samples);
        }

        RedriveResult over = await sink.ApplyOnceAsync(Keys(0), CancellationToken.None);
        int excess = int.Parse(over.Failure!.Split(" or ")[1].Split(' ')[0], CultureInfo.InvariantCulture) - 358_400;
        Assert.InRange(excess, 1, 100_000);

        RedriveResult oneByteOver = await sink.ApplyOnceAsync(Keys(excess - 1), CancellationToken.None);
        Assert.Equal(new RedriveResult(0, 0, 1_400, "the item would hold 1400 partition-key marks (MaxPartitionKeysPerItem is 10000) or 358401 bytes (at most 358400)"), oneByteOver);
        Assert.Equal((0, 0.0, 0), await ReadAsync(dynamoDb, table));

        RedriveResult exact = await sink.ApplyOnceAsync(Keys(excess), CancellationToken.None);
        Assert.Equal(new RedriveResult(1_400, 0, 0, null), exact);
        Assert.Equal((1_400, 1_400.0, 1), await ReadAsync(dynamoDb, table));
    }

    /// <summary>
    /// A spill's range of the key is that of its samples whose outcome is unknown: a decided sample of the same spill
    /// after them does not widen it. (The redrive tool gives all samples of one item in one spill object the same
    /// outcome, so only a caller of the internal API can mix them; the rule is still the documented one.)
    /// </summary>
    [Fact]
    public async Task ADecidedSampleOfTheSameSpill_DoesNotWidenItsRangeOfUnknownSamples()
    {
        string table = await servers.CreateTableAsync("apply-once");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        // Sequence 20's put did not land; a live batch then wrote 30, past it. Whether 20 landed is no longer visible.
        await sink.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(30, "k0", 5)]), CancellationToken.None);
        RedriveResult result = await sink.ApplyOnceAsync(Work(Sample(20, "k0", 1, unknown: true), Sample(40, "k0", 2)), CancellationToken.None);

        // Taking 40 into the range would put the watermark inside it and count 20 as applied: a sample lost, reported done.
        Assert.Equal(new RedriveResult(0, 0, 2, null), result);
        Assert.Equal((1, 5.0, 1), await ReadAsync(dynamoDb, table));
    }

    /// <summary>
    /// A spill of another stream is not judged by this stream's marks: the same shard id in two streams shares the
    /// item's per-shard <c>wk</c> and <c>rk</c> entries, so its samples would be counted as applied, or mark this
    /// stream's later samples as applied. Refused, as the live sink refuses the write, naming both streams; the item stays.
    /// </summary>
    [Fact]
    public async Task ASpillOfAnotherStream_IsRefusedNamingBoth_AndTheItemStaysAsItWas()
    {
        string table = await servers.CreateTableAsync("apply-once");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        await sink.WriteAsync(ShardStream.Build(TestEvents.ShardId, [Record(10, "k0", 1)]), CancellationToken.None);
        const string other = "arn:aws:kinesis:eu-west-1:210987654321:stream/metrics";

        RedriveResult result = await sink.ApplyOnceAsync(Work(Sample(20, "k0", 2), Sample(30, "k1", 3)) with { Stream = other }, CancellationToken.None);

        Assert.Equal((0, 0, 2), (result.Applied, result.AlreadyApplied, result.Undecided));
        Assert.Contains("stream " + ShardStream.StreamArn, result.Failure, StringComparison.Ordinal);
        Assert.Contains("stream " + other, result.Failure, StringComparison.Ordinal);
        Assert.Equal((1, 1.0, 1), await ReadAsync(dynamoDb, table));

        // The same spill of this stream is applied.
        RedriveResult own = await sink.ApplyOnceAsync(Work(Sample(20, "k0", 2), Sample(30, "k1", 3)) with { Stream = ShardStream.StreamArn }, CancellationToken.None);
        Assert.Equal(new RedriveResult(2, 0, 0, null), own);
        Assert.Equal((3, 6.0, 2), await ReadAsync(dynamoDb, table));
    }

    /// <summary>An item a redrive creates records the spill's stream, as one the live sink creates does.</summary>
    [Fact]
    public async Task AnItemARedriveCreates_RecordsTheSpillsStream()
    {
        string table = await servers.CreateTableAsync("apply-once");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        await sink.ApplyOnceAsync(Work(Sample(20, "k0", 2)) with { Stream = ShardStream.StreamArn }, CancellationToken.None);
        ScanResponse scan = await dynamoDb.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true });

        Assert.Equal(ShardStream.StreamArn, Assert.Single(scan.Items)["stream"].S);
    }

    private static ShardRecord Record(int sequence, string partitionKey, double value) =>
        new(TestEvents.Seq(sequence), [new TestSample(Metric, [], WindowStartMs + 1_000, value)], partitionKey);

    private static RedriveSample Sample(int sequence, string partitionKey, double value, bool unknown = false, string spill = "spill-a") =>
        new(partitionKey, TestEvents.Seq(sequence), value, unknown, spill);

    private static RedriveWork Work(params RedriveSample[] samples) =>
        new(PairKey.From(ShardStream.Build(TestEvents.ShardId, [Record(1, "k0", 0)]), 0), TestEvents.ShardId, AggregatorOptions.Default, samples);

    /// <summary>The item's count, sum and version; zeros when there is no item.</summary>
    private static async Task<(long Count, double Sum, long Version)> ReadAsync(IAmazonDynamoDB dynamoDb, string table)
    {
        GetItemResponse got = await dynamoDb.GetItemAsync(new GetItemRequest
        {
            TableName = table,
            ConsistentRead = true,
            Key = new()
            {
                ["pk"] = new AttributeValue { S = Metric },
                ["sk"] = new AttributeValue { S = DateTimeOffset.FromUnixTimeMilliseconds(WindowStartMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) },
            },
        });
        return got.Item is { Count: > 0 } item
            ? (long.Parse(item["count"].N, CultureInfo.InvariantCulture), double.Parse(item["sum"].N, CultureInfo.InvariantCulture), long.Parse(item["ver"].N, CultureInfo.InvariantCulture))
            : (0, 0, 0);
    }

    /// <summary>A fake clock that counts the timers started on it (a backoff wait starts one).</summary>
    private sealed class TimerCountingClock() : FakeTimeProvider(DateTimeOffset.UnixEpoch)
    {
        private int _timers;

        public int Timers => Volatile.Read(ref _timers);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            ITimer timer = base.CreateTimer(callback, state, dueTime, period);
            Interlocked.Increment(ref _timers);
            return timer;
        }
    }

    /// <summary>
    /// The real client against dynalite, with two interventions dynalite cannot make itself: actions just before and after
    /// each put (to make another writer win the race, or one put fail, deterministically), and, on request, a missing item answered as
    /// an empty item map marked as set (<c>IsItemSet</c> with no attributes) instead of no map: dynalite never sends
    /// that shape, the SDK's model admits it. Records whether each GetItem asked for a consistent read.
    /// </summary>
    private sealed class InterceptingClient(Uri serviceUrl) : AmazonDynamoDBClient(
        new BasicAWSCredentials("test", "test"),
        new AmazonDynamoDBConfig { ServiceURL = serviceUrl.ToString(), AuthenticationRegion = "us-east-1", MaxErrorRetry = 0, Timeout = TimeSpan.FromSeconds(5) })
    {
        private int _puts;

        public Func<int, Task> BeforePut { get; init; } = _ => Task.CompletedTask;

        public Action<int> AfterPut { get; init; } = _ => { };

        public bool EmptyMapForMissingItem { get; init; }

        public List<bool?> ConsistentReads { get; } = [];

        public int Puts => Volatile.Read(ref _puts);

        public override async Task<GetItemResponse> GetItemAsync(GetItemRequest request, CancellationToken cancellationToken = default)
        {
            lock (ConsistentReads)
            {
                ConsistentReads.Add(request.ConsistentRead);
            }

            GetItemResponse response = await base.GetItemAsync(request, cancellationToken);
            return EmptyMapForMissingItem && response.Item is not { Count: > 0 } ? new GetItemResponse { IsItemSet = true } : response;
        }

        public override async Task<PutItemResponse> PutItemAsync(PutItemRequest request, CancellationToken cancellationToken = default)
        {
            int put = Interlocked.Increment(ref _puts);
            await BeforePut(put);
            try
            {
                return await base.PutItemAsync(request, cancellationToken);
            }
            finally
            {
                AfterPut(put);
            }
        }
    }
}
