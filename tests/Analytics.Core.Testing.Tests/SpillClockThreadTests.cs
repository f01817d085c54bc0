using System.Buffers;
using System.Net;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Amazon.S3;
using Analytics.Core.Tests;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Under a virtual clock, every step of the spill path runs on the thread that moves the clock, so that real CPU load
/// cannot change a run. The leak these tests pin down: since .NET 8, a <c>Task.Delay</c> whose token is cancelled resumes
/// its awaiter on the thread pool (the runtime sets <c>RunContinuationsAsynchronously</c> when it cancels the delay). The
/// sinks' backoff waited with <c>Task.Delay(delay, clock, token)</c>: when the aggregate sink's share of the time ran out
/// in a write-throttling outage, the cancelled backoff resumed on a pool thread, and the rest of the invocation (the
/// read before the spill, the spill upload, the response) raced the emulator, which meanwhile moved virtual time on to
/// the function's timeout when the machine was loaded (iterator age 107 s and 441 s in CI instead of under a minute).
/// </summary>
public class SpillClockThreadTests
{
    private static readonly AwsRetryOptions s_longBackoff = AwsRetryOptions.Default with { BaseDelay = TimeSpan.FromHours(1), MaxDelay = TimeSpan.FromHours(1), JitterSeed = 3 };

    /// <summary>A backoff cancelled by a timer of the clock resumes inside that timer's callback, on the clock's thread.</summary>
    [Fact]
    public async Task Backoff_CancelledByTheClock_ResumesOnTheClocksThread()
    {
        // As on the emulator's thread: no synchronization context (a test framework's would take every continuation).
        using var noContext = new NoContext();
        var clock = new VirtualClock(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(1), clock);
        int resumedOn = 0;
        Task<bool> wait = RetryPolicy.TryDelayAsync(s_longBackoff with { TimeProvider = clock }, 1, "k", budget.Token);
        Task after = wait.ContinueWith(_ => resumedOn = Environment.CurrentManagedThreadId, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

        clock.Advance(TimeSpan.FromSeconds(1));

        Assert.True(after.IsCompleted, "the cancelled backoff did not resume within the clock's advance");
        Assert.Equal(Environment.CurrentManagedThreadId, resumedOn);
        Assert.False(await wait);
        Assert.Equal(0, clock.PendingTimers);
    }

    /// <summary>A backoff that runs out resumes in its timer's callback, with true, and leaves no registration behind.</summary>
    [Fact]
    public async Task Backoff_Elapsed_ResumesOnTheClocksThread_WithTrue()
    {
        // As on the emulator's thread: no synchronization context (a test framework's would take every continuation).
        using var noContext = new NoContext();
        var clock = new VirtualClock(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        using var budget = new CancellationTokenSource();
        int resumedOn = 0;
        Task<bool> wait = RetryPolicy.TryDelayAsync(AwsRetryOptions.Default with { TimeProvider = clock, JitterSeed = 3 }, 1, "k", budget.Token);
        Task after = wait.ContinueWith(_ => resumedOn = Environment.CurrentManagedThreadId, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        Assert.False(wait.IsCompleted);

        clock.Advance(AwsRetryOptions.Default.MaxDelay);

        Assert.True(after.IsCompleted);
        Assert.Equal(Environment.CurrentManagedThreadId, resumedOn);
        Assert.True(await wait);
        await budget.CancelAsync(); // after the wait: must not touch it any more
        Assert.True(await wait);
    }

    /// <summary>A token cancelled before the backoff starts ends it at once, without a timer.</summary>
    [Fact]
    public async Task Backoff_AlreadyCancelled_EndsAtOnce()
    {
        // As on the emulator's thread: no synchronization context (a test framework's would take every continuation).
        using var noContext = new NoContext();
        var clock = new VirtualClock(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        Task<bool> wait = RetryPolicy.TryDelayAsync(s_longBackoff with { TimeProvider = clock }, 1, "k", new CancellationToken(canceled: true));

        Assert.True(wait.IsCompleted);
        Assert.False(await wait);
        Assert.Equal(0, clock.PendingTimers);
    }

    /// <summary>
    /// A batch old enough to spill, in a write-throttling outage: the DynamoDB sink retries until its share of the time
    /// runs out, the spill reads the items and writes the object, and the processor answers; the clock is moved by this
    /// thread only, and every request (DynamoDB and S3) must be sent from it, and the answer must come within its steps.
    /// </summary>
    [Fact]
    public async Task SpillInAWriteOutage_RunsEntirelyOnTheThreadThatMovesTheClock()
    {
        using var noContext = new NoContext();
        using var world = new ProbedModels(LatencyDistribution.FromMilliseconds(5, 30), LatencyDistribution.FromMilliseconds(5, 30), throttlePuts: true);
        var table = world.Table(
            // Backoffs long enough that the sink's share ends during one of them.
            DynamoDbAggregateSinkOptions.Default.Retry with { TimeProvider = world.Clock, JitterSeed = 1, BaseDelay = TimeSpan.FromMilliseconds(500) });
        using var processor = world.Processor(table, TimeSpan.FromSeconds(30));
        byte[] utf8Event = Event(records: 40, series: 3);

        // A short invocation: the sink's share of it (about two seconds) ends while it still backs off from throttling.
        BatchSummary summary = await world.RunOnTheClocksThreadAsync(processor, utf8Event);

        Assert.Equal(SinkOutcome.Completed, summary.SpillOutcome);
        Assert.Equal(40, summary.SpilledRecords);
        Assert.Null(summary.ReportedFailure);
        Assert.Contains(world.Threads, t => t.Request.StartsWith("PUT ", StringComparison.Ordinal) && t.Request.Contains("/spill-bucket/spill/", StringComparison.Ordinal));
    }

    /// <summary>
    /// A healthy table and a slow spill bucket: the item reads end long before the shard's spill marker is read, so every
    /// pair waits for the marker. Each resumes on the clock's thread in turn (a gate gives each waiter a task of its own);
    /// all awaiting the marker's one task, every waiter but the first resumed on the thread pool and sent its put from
    /// there, off the clock's steps.
    /// </summary>
    [Fact]
    public async Task PairsWaitingForTheSpillMarker_ResumeOnTheThreadThatMovesTheClock()
    {
        using var noContext = new NoContext();
        using var world = new ProbedModels(LatencyDistribution.FromMilliseconds(1, 1), LatencyDistribution.FromMilliseconds(200, 200), throttlePuts: false);
        var table = world.Table(DynamoDbAggregateSinkOptions.Default.Retry with { TimeProvider = world.Clock, JitterSeed = 1 });
        using var processor = world.Processor(table, TimeSpan.FromHours(1));
        byte[] utf8Event = Event(records: 24, series: 8);

        BatchSummary summary = await world.RunOnTheClocksThreadAsync(processor, utf8Event);

        Assert.Equal(8, summary.AggregatesWritten);
        Assert.Equal(8, world.Threads.Count(t => t.Request.EndsWith(".PutItem", StringComparison.Ordinal)));
        Assert.Contains(world.Threads, t => t.Request.StartsWith("GET ", StringComparison.Ordinal) && t.Request.EndsWith("unresolved.marker", StringComparison.Ordinal));
    }

    /// <summary>An event of records 1.. of five partition keys, over <paramref name="series"/> metrics, a second before their arrival.</summary>
    private static byte[] Event(int records, int series) =>
        TestEvents.Build(Enumerable.Range(1, records).Select(n => new Analytics.Core.Tests.TestRecord(
            TestEvents.Seq(n),
            TestEvents.Utf8(TestEvents.Sample("m" + (n % series), n, TestEvents.Arrival - 1000)),
            TestEvents.Arrival,
            "key-" + (n % 5))));

    /// <summary>The DynamoDB and S3 models on one virtual clock, behind probes that record the thread of every request.</summary>
    private sealed class ProbedModels : IDisposable
    {
        private readonly DynamoDbModel _dynamoDb;
        private readonly S3Model _s3;
        private readonly ThreadProbe _dynamoDbProbe;
        private readonly ThreadProbe _s3Probe;
        private readonly AmazonDynamoDBClient _dynamoDbClient;
        private readonly AmazonS3Client _s3Client;

        public ProbedModels(LatencyDistribution dynamoDbLatency, LatencyDistribution s3Latency, bool throttlePuts)
        {
            Clock = new VirtualClock(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival) + TimeSpan.FromMinutes(10));
            _dynamoDb = new DynamoDbModel(Clock, DynamoDbModelOptions.Default with { Latency = dynamoDbLatency });
            _dynamoDb.CreateTable("aggregates", DynamoDbItem.PartitionKey, DynamoDbItem.SortKey);
            _s3 = new S3Model(Clock, S3ModelOptions.Default with { Latency = s3Latency });
            _s3.CreateBucket("spill-bucket");
            _dynamoDbProbe = new ThreadProbe(_dynamoDb.HttpHandler, Threads, throttlePuts);
            _s3Probe = new ThreadProbe(_s3.HttpHandler, Threads, throttlePuts: false);
            _dynamoDbClient = new AmazonDynamoDBClient(new AnonymousAWSCredentials(), new AmazonDynamoDBConfig
            {
                ServiceURL = "http://dynamodb.model.invalid",
                AuthenticationRegion = "us-east-1",
                MaxErrorRetry = 0,
                Timeout = Timeout.InfiniteTimeSpan,
                HttpClientFactory = new ProbeFactory(_dynamoDbProbe),
            });
            _s3Client = new AmazonS3Client(new AnonymousAWSCredentials(), new AmazonS3Config
            {
                ServiceURL = "http://s3.model.invalid",
                AuthenticationRegion = "us-east-1",
                ForcePathStyle = true,
                MaxErrorRetry = 0,
                Timeout = Timeout.InfiniteTimeSpan,
                RequestChecksumCalculation = Amazon.Runtime.RequestChecksumCalculation.WHEN_REQUIRED,
                ResponseChecksumValidation = Amazon.Runtime.ResponseChecksumValidation.WHEN_REQUIRED,
                HttpClientFactory = new ProbeFactory(_s3Probe),
            });
        }

        public VirtualClock Clock { get; }

        /// <summary>Every request sent (DynamoDB's target, or S3's method and path) with the thread it was sent from.</summary>
        public List<(string Request, int Thread)> Threads { get; } = [];

        public DynamoDbAggregateSink Table(AwsRetryOptions retry) =>
            new(_dynamoDbClient, DynamoDbAggregateSinkOptions.Default with { TableName = "aggregates", Retry = retry });

        /// <summary>A processor writing to <paramref name="table"/>, spilling to the bucket (which gives the table the shard's marker) batches older than <paramref name="spillAfter"/>.</summary>
        public KinesisBatchProcessor Processor(DynamoDbAggregateSink table, TimeSpan spillAfter)
        {
            var spill = new S3SpillSink(_s3Client, S3SpillSinkOptions.Default with
            {
                BucketName = "spill-bucket",
                KeyPrefix = "spill",
                Retry = S3SpillSinkOptions.Default.Retry with { TimeProvider = Clock, JitterSeed = 1 },
            }, table);
            return new KinesisBatchProcessor(table, new NoQuarantine(), ProcessorOptions.Default with { TimeProvider = Clock, SpillSink = spill, SpillAfterAge = spillAfter });
        }

        /// <summary>
        /// One invocation of 4 s, the clock moved by this thread only: the answer must come within its steps, and every
        /// request (DynamoDB and S3) must be sent from this thread.
        /// </summary>
        public async Task<BatchSummary> RunOnTheClocksThreadAsync(KinesisBatchProcessor processor, byte[] utf8Event)
        {
            int me = Environment.CurrentManagedThreadId;
            Task<BatchSummary> run = processor.ProcessAsync(utf8Event, Clock.GetUtcNow() + TimeSpan.FromSeconds(4), new ArrayBufferWriter<byte>());
            for (int step = 0; step < 10_000 && !run.IsCompleted && Clock.NextDue is { } due; step++)
            {
                Clock.AdvanceTo(due);
            }

            Assert.True(run.IsCompleted, "the processor did not answer within the clock's steps: part of it ran off the clock's thread");
            lock (Threads)
            {
                Assert.All(Threads, t => Assert.True(t.Thread == me, $"{t.Request} was sent from thread {t.Thread}, not the clock's {me}"));
            }

            return await run;
        }

        public void Dispose()
        {
            _dynamoDbClient.Dispose();
            _s3Client.Dispose();
            _dynamoDbProbe.Dispose();
            _s3Probe.Dispose();
            _dynamoDb.Dispose();
            _s3.Dispose();
        }
    }

    /// <summary>Records the thread of every request; with <c>throttlePuts</c>, answers DynamoDB's PutItem as throttled.</summary>
    private sealed class ThreadProbe(HttpMessageHandler inner, List<(string, int)> threads, bool throttlePuts) : DelegatingHandler(inner)
    {
        private static readonly byte[] s_throttled = Encoding.UTF8.GetBytes("{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\",\"message\":\"Rate exceeded\"}");

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            string target = request.Headers.TryGetValues("X-Amz-Target", out IEnumerable<string>? values) ? values.First() : request.Method + " " + request.RequestUri?.AbsolutePath;
            lock (threads)
            {
                threads.Add((target, Environment.CurrentManagedThreadId));
            }

            if (throttlePuts && target.EndsWith(".PutItem", StringComparison.Ordinal))
            {
                var response = new HttpResponseMessage(HttpStatusCode.BadRequest) { RequestMessage = request, Content = new ByteArrayContent(s_throttled) };
                response.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-amz-json-1.0");
                return Task.FromResult(response);
            }

            return base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class ProbeFactory(HttpMessageHandler handler) : HttpClientFactory
    {
        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };

        public override string? GetConfigUniqueString(IClientConfig clientConfig) => null;
    }

    /// <summary>Runs the test without a synchronization context, as the emulator runs its handlers, and restores it.</summary>
    private sealed class NoContext : IDisposable
    {
        private readonly SynchronizationContext? _saved = SynchronizationContext.Current;

        public NoContext() => SynchronizationContext.SetSynchronizationContext(null);

        public void Dispose() => SynchronizationContext.SetSynchronizationContext(_saved);
    }

    private sealed class NoQuarantine : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => Task.FromResult(records.Count);
    }
}
