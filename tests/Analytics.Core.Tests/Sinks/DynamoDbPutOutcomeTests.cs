using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests;

/// <summary>
/// What the sink concludes from each way one conditional put can end: confirmed, refused by throttling, lost with its
/// answer (applied or not: "ambiguous", which a spill must mark as outcome unknown), beaten by a rival writer, or cut by
/// the deadline; and how often it tries, reads and backs off on the way.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class DynamoDbPutOutcomeTests(LocalServersFixture servers)
{
    private const string Shard = "shardId-000000000003";

    private static readonly AwsRetryOptions s_fast = AwsRetryOptions.Default with
    {
        BaseDelay = TimeSpan.FromMilliseconds(1),
        MaxDelay = TimeSpan.FromMilliseconds(5),
    };

    /// <summary>Two records of one series in one window: a batch of exactly one pair.</summary>
    private static ShardRecord[] OnePair(string metric = "latency") =>
    [
        new("49590338271490256608559692538361571095921575989136588898", [new TestSample(metric, [new("region", "eu-west-1")], 1_714_564_800_000, 2.5)]),
        new("49590338271490256608559692538361571095921575989136589000", [new TestSample(metric, [new("region", "eu-west-1")], 1_714_564_810_000, 4)]),
    ];

    [Fact]
    public async Task PutLandsButItsAnswerIsLost_PairNotDurableAndAmbiguous_UntilTheNextWrite()
    {
        string table = await servers.CreateTableAsync("outcome");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, new FaultProfile(DropAfterForward: 1.0), seed: 1);
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        using var client = new ScriptedDynamoDbClient(proxy.Url) { ReadsVia = direct };
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fast with { MaxAttempts = 1 } });
        ShardRecord[] records = OnePair();
        AggregateBatch batch = ShardStream.Build(Shard, records);
        PairKey key = PairKey.From(batch, 0);

        // Given up with time left: the sink reports the error (the dropped connection), not a quiet return.
        Exception error = await Assert.ThrowsAnyAsync<Exception>(() => sink.WriteAsync(batch, CancellationToken.None));
        Assert.True(error is IOException or System.Net.Http.HttpRequestException, error.ToString());

        // The put reached the table, but the sink never heard so: not durable, and flagged as possibly applied.
        Assert.True(proxy.Forwarded >= 1);
        Assert.False(batch.IsDurable(0));
        Assert.True(sink.WasAmbiguous(key.Pk, key.Sk));
        Assert.Equal(1, sink.Retries);
        await ShardStream.AssertTableAsync(direct, table, ShardStream.Expect((Shard, records)));

        // Lambda delivers the batch again; this time every answer arrives. The flag speaks of the last write only.
        proxy.Profile = FaultProfile.None;
        AggregateBatch again = ShardStream.Build(Shard, records);
        await sink.WriteAsync(again, CancellationToken.None);

        Assert.True(again.IsDurable(0));
        Assert.False(sink.WasAmbiguous(key.Pk, key.Sk));
        await ShardStream.AssertTableAsync(direct, table, ShardStream.Expect((Shard, records)));
    }

    [Theory]
    [InlineData("ProvisionedThroughputExceededException")]
    [InlineData("ThrottlingException")]
    [InlineData("RequestLimitExceeded")]
    public async Task PutThrottled_RetriedAndApplied_NeverAmbiguous(string errorCode)
    {
        string table = await servers.CreateTableAsync("outcome");
        using var client = new ScriptedDynamoDbClient(servers.DynamoDbUrl);
        client.PutFailures.Enqueue(ScriptedDynamoDbClient.Throttling(errorCode));
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fast with { MaxAttempts = 3 } });
        ShardRecord[] records = OnePair();
        AggregateBatch batch = ShardStream.Build(Shard, records);
        PairKey key = PairKey.From(batch, 0);

        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.True(batch.IsDurable(0));
        Assert.Equal(2, client.Puts);
        Assert.Equal(1, sink.Retries);
        // DynamoDB refuses a throttled request before applying anything: nothing is in doubt, whatever happens next.
        Assert.False(sink.WasAmbiguous(key.Pk, key.Sk));
        await ShardStream.AssertTableAsync(client, table, ShardStream.Expect((Shard, records)));
    }

    [Fact]
    public async Task ReadsFailBeforeAnyPutIsSent_PairNotDurable_NotAmbiguous()
    {
        string table = await servers.CreateTableAsync("outcome");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, new FaultProfile(ServerError: 1.0), seed: 2);
        using AmazonDynamoDBClient flaky = servers.CreateDynamoDbClient(proxy.Url);
        var sink = new DynamoDbAggregateSink(flaky, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fast with { MaxAttempts = 1 } });
        AggregateBatch batch = ShardStream.Build(Shard, OnePair());
        PairKey key = PairKey.From(batch, 0);

        await Assert.ThrowsAsync<InternalServerErrorException>(() => sink.WriteAsync(batch, CancellationToken.None));

        // BatchGetItem, then GetItem: both answered 500, no put was ever sent.
        Assert.Equal(2, proxy.ServerErrors);
        Assert.False(batch.IsDurable(0));
        Assert.False(sink.WasAmbiguous(key.Pk, key.Sk));
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        Assert.Equal(0, await ShardStream.CountItemsAsync(direct, table));
    }

    [Fact]
    public async Task PutInFlightAtTheDeadline_PairNotDurable_AndAmbiguous()
    {
        string table = await servers.CreateTableAsync("outcome");
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed: 3);
        using AmazonDynamoDBClient flaky = servers.CreateDynamoDbClient(proxy.Url);
        var sink = new DynamoDbAggregateSink(flaky, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fast with { MaxAttempts = 3 } });
        AggregateBatch batch = ShardStream.Build(Shard, OnePair());
        PairKey key = PairKey.From(batch, 0);
        proxy.DieAfter(1); // the read is answered; the put is held without an answer

        using var deadline = new CancellationTokenSource();
        Task write = sink.WriteAsync(batch, deadline.Token);
        for (int i = 0; i < 250 && proxy.Held < 1; i++)
        {
            await Task.Delay(20);
        }

        Assert.Equal(1, proxy.Held);
        await deadline.CancelAsync();
        await write.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.False(batch.IsDurable(0));
        Assert.True(sink.WasAmbiguous(key.Pk, key.Sk));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PutFailsWithA500_BacksOffByTheItemsJitterOfAttemptOne_ThenRetriesOrStopsAtTheDeadline(bool deadlineFirst)
    {
        string table = await servers.CreateTableAsync("outcome");
        using var client = new ScriptedDynamoDbClient(servers.DynamoDbUrl);
        client.PutFailures.Enqueue(ScriptedDynamoDbClient.ServerError());
        var clock = new ManualClock(DateTimeOffset.UnixEpoch, TimeSpan.Zero);
        AwsRetryOptions retry = AwsRetryOptions.Default with { MaxAttempts = 3, BaseDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(10), JitterSeed = 7, TimeProvider = clock };
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = retry });
        ShardRecord[] records = OnePair();
        AggregateBatch batch = ShardStream.Build(Shard, records);
        PairKey key = PairKey.From(batch, 0);

        using var deadline = new CancellationTokenSource();
        Task write = sink.WriteAsync(batch, deadline.Token);
        for (int i = 0; i < 250 && clock.EarliestTimerDue == long.MaxValue; i++)
        {
            await Task.Delay(20);
        }

        // Deterministic jitter is a function of the seed, the item ("pk|sk") and the failed attempt (the first): so
        // concurrent pairs back off independently of the order they run in.
        long due = clock.EarliestTimerDue;
        Assert.Equal(JitterReference.Wait(retry, 1, key.Pk + "|" + key.Sk).Ticks, due);
        Assert.NotEqual(JitterReference.Wait(retry, 1, "other|item").Ticks, due);
        Assert.Equal(1, sink.Retries);
        Assert.Equal(1, client.Puts);

        if (deadlineFirst)
        {
            await deadline.CancelAsync();
            // Out of time after a failed attempt: a time-out that carries the attempt's error (the invocation's
            // aggregateSinkError), not a return that drops it.
            OperationCanceledException stopped = await Assert.ThrowsAsync<OperationCanceledException>(() => write.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(System.Net.HttpStatusCode.InternalServerError, Assert.IsAssignableFrom<Amazon.Runtime.AmazonServiceException>(stopped.InnerException).StatusCode);
            Assert.False(batch.IsDurable(0));
            Assert.Equal(1, client.Puts);
            Assert.Equal(0, await ShardStream.CountItemsAsync(client, table));
        }
        else
        {
            clock.Advance(TimeSpan.FromTicks(due));
            await write.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(batch.IsDurable(0));
            Assert.Equal(2, client.Puts);
            await ShardStream.AssertTableAsync(client, table, ShardStream.Expect((Shard, records)));
        }
    }

    /// <summary>
    /// The batch read fails and the deadline comes during its backoff, before any put: the time-out still carries the
    /// read's error (a table that refuses reads is as much the cause as one that refuses puts).
    /// </summary>
    [Fact]
    public async Task BatchReadFailsWithA500_StoppedAtTheDeadlineInItsBackoff_TheCancellationCarriesTheReadsError()
    {
        string table = await servers.CreateTableAsync("outcome");
        using var client = new ScriptedDynamoDbClient(servers.DynamoDbUrl);
        client.BatchGetFailures.Enqueue(ScriptedDynamoDbClient.ServerError());
        var clock = new ManualClock(DateTimeOffset.UnixEpoch, TimeSpan.Zero);
        AwsRetryOptions retry = AwsRetryOptions.Default with { MaxAttempts = 3, BaseDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(10), JitterSeed = 7, TimeProvider = clock };
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = retry });
        AggregateBatch batch = ShardStream.Build(Shard, OnePair());

        using var deadline = new CancellationTokenSource();
        Task write = sink.WriteAsync(batch, deadline.Token);
        for (int i = 0; i < 250 && clock.EarliestTimerDue == long.MaxValue; i++)
        {
            await Task.Delay(20);
        }

        Assert.NotEqual(long.MaxValue, clock.EarliestTimerDue);
        Assert.Equal(1, client.BatchGets);
        await deadline.CancelAsync();

        OperationCanceledException stopped = await Assert.ThrowsAsync<OperationCanceledException>(() => write.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(System.Net.HttpStatusCode.InternalServerError, Assert.IsAssignableFrom<Amazon.Runtime.AmazonServiceException>(stopped.InnerException).StatusCode);
        Assert.StartsWith($"1 aggregate item(s) of shard {Shard} were not written before the sink was stopped", stopped.Message, StringComparison.Ordinal);
        Assert.Equal(deadline.Token, stopped.CancellationToken);
        Assert.False(batch.IsDurable(0));
        Assert.Equal(0, client.Puts);
        Assert.Equal(0, await ShardStream.CountItemsAsync(client, table));
    }

    /// <summary>
    /// A sink lives as long as its Lambda container: an attempt that failed in an earlier write (and was retried with
    /// success) is not the cause of a later write's time-out in which nothing failed.
    /// </summary>
    [Fact]
    public async Task AfterAWriteWithAFailedAttempt_ATimeOutWithoutOneReturns_WithoutTheEarlierError()
    {
        string table = await servers.CreateTableAsync("outcome");
        using var client = new ScriptedDynamoDbClient(servers.DynamoDbUrl);
        client.PutFailures.Enqueue(ScriptedDynamoDbClient.ServerError());
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fast with { MaxAttempts = 2 } });
        ShardRecord[] records = OnePair();
        AggregateBatch first = ShardStream.Build(Shard, records[..1]);
        await sink.WriteAsync(first, CancellationToken.None);
        Assert.True(first.IsDurable(0));
        Assert.Equal(2, client.Puts);

        AggregateBatch second = ShardStream.Build(Shard, records[1..]);
        await sink.WriteAsync(second, new CancellationToken(canceled: true));

        Assert.False(second.IsDurable(0));
        Assert.Equal(2, client.Puts);
    }

    /// <summary>
    /// Whether the table answered the write (what a spill after it reads: <c>LastWriteGotNoAnswer</c>): the batch read
    /// and the put fail on a broken connection, and the item's own GetItem is answered, throttled (an answer: the table
    /// is up, only busy) or fails the same way. One answer is enough for the table to be up, so the spill then reads the
    /// items; with none it skips the read.
    /// </summary>
    [Theory]
    [InlineData("answered")]
    [InlineData("throttled")]
    [InlineData("refused")]
    public async Task BatchReadAndPutUnanswered_TheItemsOwnRead_DecidesWhetherTheTableAnswered(string itemRead)
    {
        string table = await servers.CreateTableAsync("outcome");
        await using var throttling = new FaultProxy(servers.DynamoDbUrl, new FaultProfile(Throttle: 1.0), seed: 4);
        using AmazonDynamoDBClient throttled = servers.CreateDynamoDbClient(throttling.Url);
        using AmazonDynamoDBClient nowhere = servers.CreateDynamoDbClient(new Uri($"http://127.0.0.1:{LoopbackPorts.Unused()}"));
        using var client = new ScriptedDynamoDbClient(servers.DynamoDbUrl) { ReadsVia = itemRead switch { "throttled" => throttled, "refused" => nowhere, _ => null } };
        client.BatchGetFailures.Enqueue(new System.Net.Http.HttpRequestException("Connection refused"));
        client.PutFailures.Enqueue(new System.Net.Http.HttpRequestException("Connection reset by peer"));
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fast with { MaxAttempts = 1 } });
        AggregateBatch batch = ShardStream.Build(Shard, OnePair());

        Exception thrown = await Assert.ThrowsAnyAsync<Exception>(() => sink.WriteAsync(batch, CancellationToken.None));

        Assert.True(itemRead == "throttled" ? thrown is AmazonDynamoDBException { StatusCode: System.Net.HttpStatusCode.BadRequest } : thrown is System.Net.Http.HttpRequestException, thrown.ToString());
        Assert.False(batch.IsDurable(0));
        Assert.Equal((1, 1, itemRead == "answered" ? 1 : 0), (client.BatchGets, client.Gets, client.Puts));
        Assert.Equal(itemRead == "refused", sink.LastWriteGotNoAnswer(Shard));
    }

    /// <summary>
    /// The sink remembers, for a spill, each shard whose last write got no answer, when writes of other shards came
    /// between (a processor that serves several shards): all of them up to 1,024 shards; the shard past that starts the
    /// memory afresh, so a long-lived sink that saw thousands of shards holds a bounded set. Against a port no server
    /// listens on: every request is refused, so no write gets an answer.
    /// </summary>
    [Fact]
    public async Task ShardsWhoseWriteGotNoAnswer_AreRememberedUpToTheBound_ThenAfresh()
    {
        using AmazonDynamoDBClient nowhere = servers.CreateDynamoDbClient(new Uri($"http://127.0.0.1:{LoopbackPorts.Unused()}"));
        var sink = new DynamoDbAggregateSink(nowhere, DynamoDbAggregateSinkOptions.Default with { TableName = "unanswered", Retry = s_fast with { MaxAttempts = 1 } });
        static string ShardOf(int n) => "shardId-" + n.ToString("D12", System.Globalization.CultureInfo.InvariantCulture);
        ShardRecord[] records = OnePair()[..1];
        async Task WriteAsync(int shard) =>
            await Assert.ThrowsAnyAsync<System.Net.Http.HttpRequestException>(() => sink.WriteAsync(ShardStream.Build(ShardOf(shard), records), CancellationToken.None));

        // Each write remembers the shard of the write before it; the last write's shard is known without the memory.
        const int bound = DynamoDbAggregateSink.MaxShardsWithoutAnswer;
        for (int shard = 0; shard <= bound; shard++)
        {
            await WriteAsync(shard);
        }

        Assert.All(Enumerable.Range(0, bound + 1), shard => Assert.True(sink.LastWriteGotNoAnswer(ShardOf(shard)), ShardOf(shard)));

        // One shard more than the bound: the memory starts afresh with it.
        await WriteAsync(bound + 1);
        Assert.Equal(
            Enumerable.Range(bound, 2),
            Enumerable.Range(0, bound + 2).Where(shard => sink.LastWriteGotNoAnswer(ShardOf(shard))));
    }

    /// <remarks>
    /// With <paramref name="throttledReadFirst"/>, the read phase's first BatchGetItem is throttled and retried: the pair
    /// is still given up for its lost races, and the error says so. The sink threw the read's throttling error instead
    /// (the last transient error of the whole write, not of the pairs given up), sending an operator after capacity
    /// when the cause was a rival writer (found by review).
    /// </remarks>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RivalWinsEveryRace_SinkStopsAfterMaxAttempts_PairNotDurable(bool throttledReadFirst)
    {
        const int maxAttempts = 3;
        string table = await servers.CreateTableAsync("outcome");
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        ShardRecord[] records = OnePair();
        await new DynamoDbAggregateSink(direct, DynamoDbAggregateSinkOptions.Default with { TableName = table })
            .WriteAsync(ShardStream.Build(Shard, records[..1]), CancellationToken.None);

        using var client = new ScriptedDynamoDbClient(servers.DynamoDbUrl);
        if (throttledReadFirst)
        {
            client.BatchGetFailures.Enqueue(ScriptedDynamoDbClient.Throttling("ProvisionedThroughputExceededException"));
        }

        int rivalWrites = 0;
        client.BeforePut = async put =>
        {
            // Bounds a sink that would never stop: a failure here ends its WriteAsync with an error.
            Assert.True(++rivalWrites <= 10, "the sink kept retrying after MaxAttempts");
            await direct.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = table,
                Key = new() { ["pk"] = put.Item["pk"], ["sk"] = put.Item["sk"] },
                UpdateExpression = "ADD ver :one",
                ExpressionAttributeValues = new() { [":one"] = new AttributeValue { N = "1" } },
            });
        };
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fast with { MaxAttempts = maxAttempts } });
        AggregateBatch batch = ShardStream.Build(Shard, records);

        InvalidOperationException lost = await Assert.ThrowsAsync<InvalidOperationException>(() => sink.WriteAsync(batch, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("lost its conditional put to another writer on all 3 attempts", lost.Message, StringComparison.Ordinal);

        Assert.False(batch.IsDurable(0));
        Assert.Equal(maxAttempts, client.Puts);
        Assert.Equal(maxAttempts, sink.Conflicts);
        Assert.Equal(maxAttempts - 1, client.Gets); // each lost race is followed by a re-read, but the last
        // Only the first record is in the table: every put of the second lost.
        Dictionary<string, ShardStream.Expected> expected = ShardStream.Expect((Shard, records[..1]));
        await ShardStream.AssertTableAsync(direct, table, expected);
    }

    [Fact]
    public async Task AbsentItemReadAsAnEmptyMap_IsANewItem_ReadConsistently()
    {
        string table = await servers.CreateTableAsync("outcome");
        using var client = new ScriptedDynamoDbClient(servers.DynamoDbUrl) { LeaveBatchReadsUnprocessed = true, AbsentItemAsEmptyMap = true };
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fast with { MaxAttempts = 2 } });
        ShardRecord[] records = OnePair();
        AggregateBatch batch = ShardStream.Build(Shard, records);

        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.True(batch.IsDurable(0));
        Assert.Equal(2, client.BatchGets);
        Assert.Equal(1, client.Gets);
        // Strongly consistent: an eventually consistent read could miss the last write and cost a lost race.
        Assert.All(client.GetConsistentRead, consistent => Assert.True(consistent));
        await ShardStream.AssertTableAsync(client, table, ShardStream.Expect((Shard, records)));
    }

    [Fact]
    public async Task PutFailsTransiently_RetriedWithTheSameRead_NoSecondGet()
    {
        string table = await servers.CreateTableAsync("outcome");
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        ShardRecord[] records = OnePair();
        await new DynamoDbAggregateSink(direct, DynamoDbAggregateSinkOptions.Default with { TableName = table })
            .WriteAsync(ShardStream.Build(Shard, records[..1]), CancellationToken.None);
        using var client = new ScriptedDynamoDbClient(servers.DynamoDbUrl) { LeaveBatchReadsUnprocessed = true };
        client.PutFailures.Enqueue(ScriptedDynamoDbClient.ServerError());
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = s_fast with { MaxAttempts = 2 } });
        AggregateBatch batch = ShardStream.Build(Shard, records);

        await sink.WriteAsync(batch, CancellationToken.None);

        // A put refused with a 500 is tried again with the same expected version: no second read is needed (if the
        // first put had landed, the retry would lose the race and only then read again).
        Assert.True(batch.IsDurable(0));
        Assert.Equal(1, client.Gets);
        Assert.Equal(2, client.Puts);
        Assert.Equal(0, sink.Conflicts);
        await ShardStream.AssertTableAsync(client, table, ShardStream.Expect((Shard, records)));
    }
}
