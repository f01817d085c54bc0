using System.Net;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests;

/// <summary>
/// The AWS sinks never resume on the caller's synchronization context, as the processor does not
/// (<see cref="SinkContinuationContextTests"/>): a write is started on a thread whose context only queues what is
/// posted to it, and must complete (its requests complete on I/O threads) with nothing posted there. A continuation sent
/// back to that context would never run here; under a real one (a UI's, a legacy host's) a caller that blocks on the
/// task deadlocks. Against the local servers, as the sinks run.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class AwsSinkContinuationContextTests(LocalServersFixture servers)
{
    private const string Shard = "shardId-000000000003";

    /// <summary>Starts <paramref name="write"/> under a queueing context, then waits for it from a thread without one.</summary>
    private static async Task<T> WithoutPostingAsync<T>(Func<Task<T>> write)
    {
        var context = new QueueingSynchronizationContext();
        Task<T> task = UnderContext.Start(context, write);

        bool completed = await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(20))).ConfigureAwait(false) == task;
        int posted = 0;
        if (!completed)
        {
            // Let what was posted run, so that the write ends before the test reports.
            await Task.Run(() => posted = context.Pump()).ConfigureAwait(false);
        }

        Assert.True(completed, $"the write did not complete without its caller's context ({posted} continuations were posted to it)");
        return await task.ConfigureAwait(false);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DynamoDbAggregateSink_CompletesWithoutItsCallersContext(bool itemsStored)
    {
        string table = await servers.CreateTableAsync("context");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        ShardRecord[] records = ShardStream.Generate(seed: 5, count: 60);
        if (itemsStored)
        {
            // The second write reads the first one's items back and adds to them.
            await sink.WriteAsync(ShardStream.Build(Shard, records[..30]), CancellationToken.None);
        }

        AggregateBatch batch = ShardStream.Build(Shard, itemsStored ? records[30..] : records);
        await WithoutPostingAsync(async () =>
        {
            await sink.WriteAsync(batch, CancellationToken.None).ConfigureAwait(false);
            return 0;
        });

        Assert.All(Enumerable.Range(0, batch.Count), pair => Assert.True(batch.IsDurable(pair)));
        await ShardStream.AssertTableAsync(client, table, ShardStream.Expect((Shard, records)));
    }

    /// <summary>
    /// The DynamoDB sink's later awaits, each made the first one that does not complete at once: the items' reads are
    /// answered at once (as by a client over a cache), so the first wait is the put; or the put is throttled at once, so
    /// it is the retry's backoff; or (a spill sink attached) it is the shard's spill marker, read from S3, which the pairs
    /// wait for; or the batch read is throttled at once and not retried, so it is each pair's own read of its item. A
    /// continuation posted to the context at any of them would never run here.
    /// </summary>
    [Theory]
    [InlineData(TableFirstWait.ItemRead)]
    [InlineData(TableFirstWait.Put)]
    [InlineData(TableFirstWait.Backoff)]
    [InlineData(TableFirstWait.SpillMarker)]
    public async Task DynamoDbAggregateSink_ItsLaterWaits_CompleteWithoutItsCallersContext(TableFirstWait first)
    {
        string table = await servers.CreateTableAsync("context-later");
        using var client = new ReadsAtOnceDynamoDbClient(servers, throttleFirstPut: first is TableFirstWait.Backoff, throttleBatchReads: first is TableFirstWait.ItemRead);
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with
        {
            TableName = table,
            Retry = first is TableFirstWait.ItemRead ? FaultProxy.QuickRetries with { MaxAttempts = 1 } : FaultProxy.QuickRetries,
        });
        using var s3 = new SlowReadsS3Client(servers);
        if (first is TableFirstWait.SpillMarker)
        {
            string bucket = await servers.CreateBucketAsync("context-marker");
            _ = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = bucket, Retry = FaultProxy.QuickRetries }, sink);
        }

        ShardRecord[] records = ShardStream.Generate(seed: 7, count: 30);
        AggregateBatch batch = ShardStream.Build(Shard, records);
        await WithoutPostingAsync(async () =>
        {
            await sink.WriteAsync(batch, CancellationToken.None).ConfigureAwait(false);
            return 0;
        });

        Assert.All(Enumerable.Range(0, batch.Count), pair => Assert.True(batch.IsDurable(pair)));
        Assert.Equal(first is TableFirstWait.Backoff or TableFirstWait.ItemRead ? 1 : 0, client.ThrottledAtOnce);
        Assert.Equal(first is TableFirstWait.ItemRead, client.ItemReads > 0);
        Assert.Equal(first is TableFirstWait.SpillMarker ? 1 : 0, s3.Reads); // the case reached the wait it makes first
        await ShardStream.AssertTableAsync(client, table, ShardStream.Expect((Shard, records)));
    }

    public enum TableFirstWait
    {
        ItemRead,
        Put,
        Backoff,
        SpillMarker,
    }

    /// <summary>An S3 client (to s3rver) whose reads are answered a fifth of a second late: the spill marker's read ends after the items'.</summary>
    private sealed class SlowReadsS3Client(LocalServersFixture servers) : AmazonS3Client(LocalServersFixture.S3Credentials, servers.S3Config())
    {
        private int _reads;

        public int Reads => Volatile.Read(ref _reads);

        public override async Task<GetObjectResponse> GetObjectAsync(GetObjectRequest request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _reads);
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
            return await base.GetObjectAsync(request, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A DynamoDB client (to the local server) whose item reads complete at once: it sends them and waits for the answer
    /// on a thread without the caller's context; with <paramref name="throttleFirstPut"/>, its first put fails at once,
    /// throttled; with <paramref name="throttleBatchReads"/>, its batch reads fail so, and each item's own read is sent as
    /// usual instead.
    /// </summary>
    private sealed class ReadsAtOnceDynamoDbClient(LocalServersFixture servers, bool throttleFirstPut, bool throttleBatchReads) : AmazonDynamoDBClient(
        new BasicAWSCredentials("test", "test"),
        new AmazonDynamoDBConfig { ServiceURL = servers.DynamoDbUrl.ToString(), AuthenticationRegion = "us-east-1", MaxErrorRetry = 0 })
    {
        private int _puts;

        private int _itemReads;

        public int ThrottledAtOnce { get; private set; }

        public int ItemReads => Volatile.Read(ref _itemReads);

        public override Task<BatchGetItemResponse> BatchGetItemAsync(BatchGetItemRequest request, CancellationToken cancellationToken = default)
        {
            if (throttleBatchReads)
            {
                ThrottledAtOnce++;
                return Task.FromException<BatchGetItemResponse>(ScriptedDynamoDbClient.Throttling("ProvisionedThroughputExceededException"));
            }

            return AtOnce(() => base.BatchGetItemAsync(request, cancellationToken));
        }

        public override Task<GetItemResponse> GetItemAsync(GetItemRequest request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _itemReads);
            return throttleBatchReads ? base.GetItemAsync(request, cancellationToken) : AtOnce(() => base.GetItemAsync(request, cancellationToken));
        }

        public override Task<PutItemResponse> PutItemAsync(PutItemRequest request, CancellationToken cancellationToken = default)
        {
            if (throttleFirstPut && Interlocked.Increment(ref _puts) == 1)
            {
                ThrottledAtOnce++;
                return Task.FromException<PutItemResponse>(ScriptedDynamoDbClient.Throttling("ProvisionedThroughputExceededException"));
            }

            return base.PutItemAsync(request, cancellationToken);
        }
    }

    [Fact]
    public async Task S3QuarantineSink_CompletesWithoutItsCallersContext()
    {
        string bucket = await servers.CreateBucketAsync("context");
        using AmazonS3Client s3 = servers.CreateS3Client();
        var sink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket, MaxConcurrency = 2 });
        QuarantinedRecord[] records = S3QuarantineSinkTests.MakeRecords(6);

        int stored = await WithoutPostingAsync(() => sink.WriteAsync(records, CancellationToken.None));

        Assert.Equal(records.Length, stored);
    }

    /// <summary>
    /// A spill without a table (every pair unknown, so it merges the shard's marker too) under a queueing context. A
    /// continuation is posted to a context only by an await that finds it current: the first await that does not complete
    /// at once, and the awaits of the calls above it. So each case makes a different await the first one, with a client
    /// that completes the requests before it at once (as a client over a cache or an in-process store does): the spill
    /// object's put; the marker's read; the retry's wait after a put answered HTTP 500 at once; the wait between merge
    /// rounds after a marker put answered HTTP 412 at once.
    /// </summary>
    [Theory]
    [InlineData(SpillFirstWait.ObjectPut)]
    [InlineData(SpillFirstWait.MarkerRead)]
    [InlineData(SpillFirstWait.RetryDelay)]
    [InlineData(SpillFirstWait.MergeRoundDelay)]
    public async Task S3SpillSink_CompletesWithoutItsCallersContext(SpillFirstWait first)
    {
        string bucket = await servers.CreateBucketAsync("context-spill");
        using var s3 = new AtOnceS3Client(servers, first);
        var sink = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = bucket, Retry = FaultProxy.QuickRetries }, null);
        AggregateBatch batch = ShardStream.Build(Shard, [new ShardRecord(TestEvents.Seq(10), [new TestSample("m", [], 1_714_564_800_000, 1)], "k0")]);
        var names = new Dictionary<int, (string, string)>();
        var spill = new SpillBatch(batch, TestEvents.Seq(10), [new SpilledPair(0, batch.GetSamples(0, names))]);

        Assert.True(await WithoutPostingAsync(() => sink.WriteAsync(spill, CancellationToken.None)));

        // The case reached what it makes the first wait: the object and the marker are both written.
        Assert.Equal(first is SpillFirstWait.RetryDelay ? 1 : 0, s3.FailedAtOnce(isMarker: false));
        Assert.Equal(first is SpillFirstWait.MergeRoundDelay ? 1 : 0, s3.FailedAtOnce(isMarker: true));
        ListObjectsV2Response listed = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
        Assert.Equal(2, listed.S3Objects.Count);
    }

    /// <summary>
    /// The removal of an earlier attempt's unconfirmed spill under a queueing context (the processor calls it before it
    /// writes a retried batch). Each case makes a different request the first one that does not complete at once: the
    /// read of the object's unknown pairs, or (the read answered at once, its body buffered) the delete.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task S3SpillSink_RemoveUnconfirmed_CompletesWithoutItsCallersContext(bool readAtOnce)
    {
        string bucket = await servers.CreateBucketAsync("context-remove");
        using var s3 = new ReadAtOnceS3Client(servers, readAtOnce);
        var sink = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = bucket, Retry = FaultProxy.QuickRetries }, null);
        string key = SpillObject.Key(S3SpillSinkOptions.Default.KeyPrefix, ShardStream.StreamArn, Shard, TestEvents.Seq(10));
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, ContentBody = "{}" });

        Assert.True(await WithoutPostingAsync(() => sink.RemoveUnconfirmedAsync(Shard, ShardStream.StreamArn, TestEvents.Seq(10), CancellationToken.None)));

        Assert.Equal(readAtOnce ? 1 : 0, s3.ReadAtOnce);
        ListObjectsV2Response listed = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
        Assert.Empty(listed.S3Objects ?? []);
    }

    /// <summary>An S3 client (to s3rver) whose GETs, when <paramref name="atOnce"/>, complete at once with their body read.</summary>
    private sealed class ReadAtOnceS3Client(LocalServersFixture servers, bool atOnce) : AmazonS3Client(LocalServersFixture.S3Credentials, servers.S3Config())
    {
        public int ReadAtOnce { get; private set; }

        public override Task<GetObjectResponse> GetObjectAsync(GetObjectRequest request, CancellationToken cancellationToken = default)
        {
            if (!atOnce)
            {
                return base.GetObjectAsync(request, cancellationToken);
            }

            ReadAtOnce++;
            return Task.FromResult(Task.Run(async () =>
            {
                GetObjectResponse got = await base.GetObjectAsync(request, cancellationToken).ConfigureAwait(false);
                var body = new MemoryStream();
                await got.ResponseStream.CopyToAsync(body, cancellationToken).ConfigureAwait(false);
                await got.ResponseStream.DisposeAsync().ConfigureAwait(false);
                body.Position = 0;
                got.ResponseStream = body;
                return got;
            }).GetAwaiter().GetResult());
        }
    }

    public enum SpillFirstWait
    {
        ObjectPut,
        MarkerRead,
        RetryDelay,
        MergeRoundDelay,
    }

    /// <summary>
    /// An S3 client (to s3rver) that makes the requests before the case's first wait complete at once: it sends them and
    /// waits for the answer before returning (on a thread without the caller's context), or answers the first put of the
    /// object (HTTP 500) or of the marker (HTTP 412) with a failed task at once.
    /// </summary>
    private sealed class AtOnceS3Client(LocalServersFixture servers, SpillFirstWait first) : AmazonS3Client(LocalServersFixture.S3Credentials, servers.S3Config())
    {
        private readonly int[] _puts = new int[2];
        private readonly int[] _failed = new int[2];

        public int FailedAtOnce(bool isMarker) => _failed[isMarker ? 1 : 0];

        public override Task<PutObjectResponse> PutObjectAsync(PutObjectRequest request, CancellationToken cancellationToken = default)
        {
            bool isMarker = request.Key.EndsWith("/unresolved.marker", StringComparison.Ordinal);
            int put = _puts[isMarker ? 1 : 0]++;
            if (first is SpillFirstWait.RetryDelay && !isMarker && put == 0)
            {
                _failed[0]++;
                return Task.FromException<PutObjectResponse>(new AmazonS3Exception("We encountered an internal error", ErrorType.Receiver, "InternalError", "test", HttpStatusCode.InternalServerError));
            }

            if (first is SpillFirstWait.MergeRoundDelay && isMarker && put == 0)
            {
                _failed[1]++;
                return Task.FromException<PutObjectResponse>(new AmazonS3Exception("At least one of the pre-conditions you specified did not hold", ErrorType.Sender, "PreconditionFailed", "test", HttpStatusCode.PreconditionFailed));
            }

            // The object's put before the marker's read, and everything before the merge round's wait.
            bool atOnce = first is SpillFirstWait.MarkerRead or SpillFirstWait.MergeRoundDelay && !isMarker;
            return atOnce ? AtOnce(() => base.PutObjectAsync(request, cancellationToken)) : base.PutObjectAsync(request, cancellationToken);
        }

        public override Task<GetObjectResponse> GetObjectAsync(GetObjectRequest request, CancellationToken cancellationToken = default) =>
            first is SpillFirstWait.MergeRoundDelay ? AtOnce(() => base.GetObjectAsync(request, cancellationToken)) : base.GetObjectAsync(request, cancellationToken);

    }

    /// <summary>Sends a request on a thread without the caller's context and waits for it: a task that is complete when returned.</summary>
    private static Task<T> AtOnce<T>(Func<Task<T>> send)
    {
        try
        {
            return Task.FromResult(Task.Run(send).GetAwaiter().GetResult());
        }
        catch (Exception e)
        {
            return Task.FromException<T>(e);
        }
    }
}
