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
        {
            var clock = new VirtualClock(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival) + TimeSpan.FromMinutes(10));
            using var dynamoDb = new DynamoDbModel(clock, DynamoDbModelOptions.Default with { Latency = LatencyDistribution.FromMilliseconds(5, 30) });
            dynamoDb.CreateTable("aggregates", DynamoDbItem.PartitionKey, DynamoDbItem.SortKey);
            using var s3 = new S3Model(clock, S3ModelOptions.Default with { Latency = LatencyDistribution.FromMilliseconds(5, 30) });
            s3.CreateBucket("spill-bucket");
            int me = Environment.CurrentManagedThreadId;
            var threads = new List<(string Request, int Thread)>();
            using var dynamoDbProbe = new ThreadProbe(dynamoDb.HttpHandler, threads, throttlePuts: true);
            using var s3Probe = new ThreadProbe(s3.HttpHandler, threads, throttlePuts: false);
            using var dynamoDbClient = new AmazonDynamoDBClient(new AnonymousAWSCredentials(), new AmazonDynamoDBConfig
            {
                ServiceURL = "http://dynamodb.model.invalid",
                AuthenticationRegion = "us-east-1",
                MaxErrorRetry = 0,
                Timeout = Timeout.InfiniteTimeSpan,
                HttpClientFactory = new ProbeFactory(dynamoDbProbe),
            });
            using var s3Client = new AmazonS3Client(new AnonymousAWSCredentials(), new AmazonS3Config
            {
                ServiceURL = "http://s3.model.invalid",
                AuthenticationRegion = "us-east-1",
                ForcePathStyle = true,
                MaxErrorRetry = 0,
                Timeout = Timeout.InfiniteTimeSpan,
                RequestChecksumCalculation = Amazon.Runtime.RequestChecksumCalculation.WHEN_REQUIRED,
                ResponseChecksumValidation = Amazon.Runtime.ResponseChecksumValidation.WHEN_REQUIRED,
                HttpClientFactory = new ProbeFactory(s3Probe),
            });
            var table = new DynamoDbAggregateSink(dynamoDbClient, DynamoDbAggregateSinkOptions.Default with
            {
                TableName = "aggregates",
                // Backoffs long enough that the sink's share ends during one of them.
                Retry = DynamoDbAggregateSinkOptions.Default.Retry with { TimeProvider = clock, JitterSeed = 1, BaseDelay = TimeSpan.FromMilliseconds(500) },
            });
            var spill = new S3SpillSink(s3Client, S3SpillSinkOptions.Default with
            {
                BucketName = "spill-bucket",
                KeyPrefix = "spill",
                Retry = S3SpillSinkOptions.Default.Retry with { TimeProvider = clock, JitterSeed = 1 },
            }, table);
            using var processor = new KinesisBatchProcessor(table, new NoQuarantine(), ProcessorOptions.Default with
            {
                TimeProvider = clock,
                SpillSink = spill,
                SpillAfterAge = TimeSpan.FromSeconds(30),
            });
            byte[] utf8Event = TestEvents.Build(Enumerable.Range(1, 40).Select(n => new Analytics.Core.Tests.TestRecord(
                TestEvents.Seq(n),
                TestEvents.Utf8(TestEvents.Sample("m" + (n % 3), n, TestEvents.Arrival - 1000)),
                TestEvents.Arrival,
                "key-" + (n % 5))));

            // A short invocation: the sink's share of it (about two seconds) ends while it still backs off from throttling.
            Task<BatchSummary> run = processor.ProcessAsync(utf8Event, clock.GetUtcNow() + TimeSpan.FromSeconds(4), new ArrayBufferWriter<byte>());
            for (int step = 0; step < 10_000 && !run.IsCompleted && clock.NextDue is { } due; step++)
            {
                clock.AdvanceTo(due);
            }

            Assert.True(run.IsCompleted, "the processor did not answer within the clock's steps: part of it ran off the clock's thread");
            Assert.All(threads, t => Assert.True(t.Thread == me, $"{t.Request} was sent from thread {t.Thread}, not the clock's {me}"));
            BatchSummary summary = await run;
            Assert.Equal(SinkOutcome.Completed, summary.SpillOutcome);
            Assert.Equal(40, summary.SpilledRecords);
            Assert.Null(summary.ReportedFailure);
            Assert.Contains(threads, t => t.Request.StartsWith("PUT ", StringComparison.Ordinal) && t.Request.Contains("/spill-bucket/spill/", StringComparison.Ordinal));
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
