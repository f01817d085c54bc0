using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Tools;
using Analytics.Tools.Redrive;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The order of one <c>redrive</c>: spills first, then the batches Lambda gave up on, and a shard's destination objects
/// wait while a spill of that shard is left. The case that needs it: a batch whose last attempt wrote its spill and then
/// crashed is both in a spill object and in the on-failure destination. Against the DynamoDB and S3 models, the table
/// compared with the batch's own samples after every run.
/// </summary>
public class RedriveOrderTests
{
    private const string ShardId = "shardId-000000000000";
    private const string SpillBucket = "quarantine";
    private const string FailureBucket = "failures";
    private const string Table = "aggregates";
    private static readonly double[] s_values = [12.5, -3, 40, 7.25];

    public enum WhyTheSpillIsLeft
    {
        /// <summary>Younger than the minimum age.</summary>
        Young,

        /// <summary>S3 does not answer its read.</summary>
        Unreadable,

        /// <summary>The table throttles every write.</summary>
        TableThrottled,
    }

    /// <summary>
    /// The spill cannot be applied in the first run (for each reason a spill stays): the destination object of its shard
    /// is held back, reported, and nothing of the batch reaches the table. A second run applies the spill, then the
    /// destination object, which finds every record already applied: the table holds the batch exactly once.
    /// </summary>
    [Theory]
    [InlineData(WhyTheSpillIsLeft.Young)]
    [InlineData(WhyTheSpillIsLeft.Unreadable)]
    [InlineData(WhyTheSpillIsLeft.TableThrottled)]
    public async Task ADestinationObjectWhoseShardHasASpillLeft_IsHeldBack_AndAppliedByTheRunAfterTheSpill(WhyTheSpillIsLeft why)
    {
        using var world = new World();
        await world.PutBothAsync();

        world.Faults.FailSpillReads = why == WhyTheSpillIsLeft.Unreadable;
        world.Faults.ThrottleWrites = why == WhyTheSpillIsLeft.TableThrottled;
        var first = new StringWriter();
        RedriveRunReport held = world.Run(first, minAge: why == WhyTheSpillIsLeft.Young ? SpillRedrive.DefaultMinAge : TimeSpan.Zero);

        Assert.False(held.Done, first.ToString());
        RedriveObjectResult heldBack = Assert.Single(held.Destination);
        Assert.True(heldBack.HeldBack, first.ToString());
        Assert.Equal((0, 0), (heldBack.Applied, heldBack.AlreadyApplied));
        Assert.Contains($"held back: 1 spill object(s) of shard {ShardId}", first.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, held.Spill.Left);
        Assert.Empty(world.Items());
        Assert.DoesNotContain(world.S3.GetObjects(FailureBucket), o => o.Key.StartsWith(DestinationRedriveOptions.MarkerPrefix, StringComparison.Ordinal));

        // The fault is gone (or the spill is old enough): the spill goes first, then the destination object.
        world.Faults.FailSpillReads = false;
        world.Faults.ThrottleWrites = false;
        world.Clock.Advance(SpillRedrive.DefaultMinAge + TimeSpan.FromMinutes(1));
        var second = new StringWriter();
        RedriveRunReport done = world.Run(second, minAge: SpillRedrive.DefaultMinAge);

        Assert.True(done.Done, second.ToString());
        Assert.Equal((s_values.Length, 1), (done.Spill.Applied, done.Spill.Deleted));
        RedriveObjectResult applied = Assert.Single(done.Destination);
        Assert.Equal((0, s_values.Length, false), (applied.Applied, applied.AlreadyApplied, applied.HeldBack));
        world.AssertTheBatchOnce();

        // And again: nothing changes.
        Assert.True(world.Run(TextWriter.Null, TimeSpan.Zero).Done);
        world.AssertTheBatchOnce();
    }

    /// <summary>
    /// The destination object applied first (what the order avoids), then the spill by a redrive that knows nothing of
    /// the destination: counted twice before the destination redrive kept the ranges it applied in the item (<c>dr</c>);
    /// now the spill redrive finds the batch's samples in them, and the batch is counted once. The same objects through
    /// one <c>redrive</c> count it once.
    /// </summary>
    [Fact]
    public async Task WithoutTheOrder_TheBatchIsCountedOnce_WithItOnce()
    {
        using (var wrongOrder = new World())
        {
            await wrongOrder.PutBothAsync();
            var destination = new DestinationRedrive(wrongOrder.S3Client, wrongOrder.DynamoDbClient, new DestinationRedriveOptions(FailureBucket, "aws/lambda/", Table, ProcessorOptions.Default with { TimeProvider = wrongOrder.Clock }, SpillBucket));
            Assert.True(Assert.Single(wrongOrder.Pump(destination.RunAsync(CancellationToken.None))).Complete);
            var sink = new DynamoDbAggregateSink(wrongOrder.DynamoDbClient, DynamoDbAggregateSinkOptions.Default with { TableName = Table });
            RedriveReport spill = wrongOrder.Pump(SpillRedrive.ApplyAsync(wrongOrder.S3Client, SpillBucket, "spill", sink, TextWriter.Null, TimeSpan.Zero, wrongOrder.Clock, CancellationToken.None));
            Assert.True(spill.Done);
            Assert.Equal((0, s_values.Length), (spill.Applied, spill.AlreadyApplied));
            wrongOrder.AssertTheBatchOnce();
        }

        using var world = new World();
        await world.PutBothAsync();
        Assert.True(world.Run(TextWriter.Null, TimeSpan.Zero).Done);
        world.AssertTheBatchOnce();
    }

    /// <summary>
    /// Interrupted anywhere (after any number of requests, in either phase or between them), then run again until done:
    /// after every run no item holds more than the batch, and at the end it holds the batch exactly once.
    /// </summary>
    [Fact]
    public async Task InterruptedAfterAnyRequest_ThenRunAgain_TheBatchIsInTheTableOnce()
    {
        for (int interruptAfter = 0; interruptAfter < 12; interruptAfter++)
        {
            using var world = new World();
            await world.PutBothAsync();
            world.Faults.CancelAfterRequests(interruptAfter);
            RedriveRunReport? interrupted = world.RunOrInterrupted(TextWriter.Null);
            world.Faults.CancelAfterRequests(null);
            Assert.True(world.Items().All(i => i.Count <= s_values.Length), $"interrupted after {interruptAfter}: {string.Join(", ", world.Items())}");

            RedriveRunReport done = world.Run(TextWriter.Null, TimeSpan.Zero);
            Assert.True(done.Done, $"interrupted after {interruptAfter} ({(interrupted is null ? "cancelled" : "ran to the end")})");
            world.AssertTheBatchOnce();
        }
    }

    private static string Seq(int n) => "4959" + n.ToString("D52", CultureInfo.InvariantCulture);

    private static string Record(int n, double value) =>
        "{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":\"a\",\"sequenceNumber\":\"" + Seq(n) + "\",\"data\":\"" +
        Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"m\",\"value\":{value},\"timestamp\":{Emulate.Start.AddSeconds(n).ToUnixTimeMilliseconds()},\"dimensions\":{{\"region\":\"r\"}}}}"))) +
        "\",\"approximateArrivalTimestamp\":1735689600.000},\"eventSource\":\"aws:kinesis\",\"eventID\":\"" + ShardId + ":" + Seq(n) + "\"}";

    /// <summary>A spill object as docs/failure-modes.md describes it, written here by hand: every sample decided.</summary>
    private static string SpillBody()
    {
        AggregatorOptions options = AggregatorOptions.Default;
        string samples = string.Join(",", s_values.Select((v, i) => string.Create(CultureInfo.InvariantCulture, $"[\"{Seq(i + 1)}\",\"a\",{v}]")));
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"format\":\"analytics.core.spill/1\",\"shardId\":\"{ShardId}\",\"eventSourceArn\":\"arn:aws:kinesis:us-east-1:123456789012:stream/s\",\"spillId\":\"{Seq(1)}\",\"windowMs\":{(long)options.WindowSize.TotalMilliseconds},\"relativeAccuracy\":{options.RelativeAccuracy},\"maxBins\":{options.MaxBins},") +
            "\"pairs\":[{\"pk\":\"m|region=r\",\"sk\":\"2025-01-01T00:00:00.000Z\",\"windowEnd\":\"2025-01-01T00:01:00.000Z\",\"metric\":\"m\",\"dimensions\":{\"region\":\"r\"},\"outcomeUnknown\":false,\"samples\":[" + samples + "]}]}";
    }

    /// <summary>Both models, the batch's spill object and its destination object, and clients whose requests can fail.</summary>
    private sealed class World() : ModelWorld(Table, SpillBucket, FailureBucket)
    {
        public async Task PutBothAsync()
        {
            using AmazonS3Client s3 = S3.CreateClient();
            await s3.PutObjectAsync(new PutObjectRequest { BucketName = SpillBucket, Key = $"spill/s/{ShardId}/{Seq(1)}.json", ContentBody = SpillBody(), UseChunkEncoding = false });
            string payload = "{\"Records\":[" + string.Join(",", s_values.Select((v, i) => Record(i + 1, v))) + "]}";
            await s3.PutObjectAsync(new PutObjectRequest
            {
                BucketName = FailureBucket,
                Key = $"aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/{ShardId}/2025/01/01/2025-01-01T00.05.00-x",
                ContentBody = "{\"requestContext\":{\"condition\":\"RetryAttemptsExhausted\"},\"KinesisBatchInfo\":{\"shardId\":\"" + ShardId + "\",\"startSequenceNumber\":\"" + Seq(1) + "\",\"endSequenceNumber\":\"" + Seq(s_values.Length) +
                    "\",\"batchSize\":" + s_values.Length.ToString(CultureInfo.InvariantCulture) + "},\"payload\":" + JsonSerializer.Serialize(payload) + "}",
                UseChunkEncoding = false,
            });
        }

        public RedriveRunReport Run(TextWriter output, TimeSpan minAge) =>
            RunOrInterrupted(output, minAge) ?? throw new InvalidOperationException("the run was interrupted");

        /// <summary>One redrive on the models' clock, every timer fired in order; null when it was interrupted.</summary>
        public RedriveRunReport? RunOrInterrupted(TextWriter output, TimeSpan? minAge = null)
        {
            var options = new RedriveRunOptions(Table, SpillBucket, "spill", minAge ?? TimeSpan.Zero, FailureBucket, "aws/lambda/", SpillBucket, ProcessorOptions.Default with { TimeProvider = Clock })
            {
                DynamoDbRetry = DynamoDbAggregateSinkOptions.Default.Retry with { TimeProvider = Clock, JitterSeed = 1 },
                S3Retry = S3QuarantineSinkOptions.Default.Retry with { TimeProvider = Clock, JitterSeed = 1 },
            };
            CancellationToken token = Faults.Token;
            try
            {
                return Pump(RedriveRun.RunAsync(options, S3Client, DynamoDbClient, output, token));
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return null;
            }
        }

        public List<(long Count, double Sum, double Min, double Max)> Items() =>
            [.. DynamoDb.GetItems(Table).Select(i => (
                long.Parse(i["count"].N, CultureInfo.InvariantCulture),
                double.Parse(i["sum"].N, CultureInfo.InvariantCulture),
                double.Parse(i["min"].N, CultureInfo.InvariantCulture),
                double.Parse(i["max"].N, CultureInfo.InvariantCulture)))];

        /// <summary>One item, holding the batch's samples exactly once (count, sum, min and max computed from them here).</summary>
        public void AssertTheBatchOnce() =>
            Assert.Equal(((long)s_values.Length, s_values.Sum(), s_values.Min(), s_values.Max()), Assert.Single(Items()));
    }
}

/// <summary>
/// Faults in front of the models for a redrive's clients: S3 reads or deletes of spill objects fail (HTTP 500), DynamoDB writes are
/// throttled, or the run is cancelled after a number of requests (to either service).
/// </summary>
internal sealed class ModelFaults : IDisposable
{
    private static readonly byte[] s_throttled = Encoding.UTF8.GetBytes("{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\",\"message\":\"The level of configured provisioned throughput for the table was exceeded.\"}");
    private readonly Handler _dynamoDb;
    private readonly Handler _s3;
    private int _countdown = -1;
    private int _throttledWrites;
    private int _dynamoDbRequests;
    private int _failedQuarantineWrites;
    private CancellationTokenSource _cancel = new();

    public ModelFaults(HttpMessageHandler dynamoDb, HttpMessageHandler s3)
    {
        _dynamoDb = new Handler(dynamoDb, this, IsS3: false);
        _s3 = new Handler(s3, this, IsS3: true);
    }

    /// <summary>GETs of keys under <c>spill/</c> are answered HTTP 500.</summary>
    public bool FailSpillReads { get; set; }

    /// <summary>DELETEs of keys under <c>spill/</c> are answered HTTP 500.</summary>
    public bool FailSpillDeletes { get; set; }

    /// <summary>S3 requests it picks (by method and path) are answered HTTP 500.</summary>
    public Func<HttpMethod, string, bool>? RefuseS3 { get; set; }

    /// <summary>PutItem is answered ProvisionedThroughputExceeded.</summary>
    public bool ThrottleWrites { get; set; }

    /// <summary>Every DynamoDB request is answered ProvisionedThroughputExceeded (reads too).</summary>
    public bool ThrottleEverything { get; set; }

    /// <summary>Every DynamoDB request is answered HTTP 500 InternalServerError: a full outage.</summary>
    public bool DynamoDbDown { get; set; }

    /// <summary>DynamoDB requests sent so far, answered or not.</summary>
    public int DynamoDbRequests => Volatile.Read(ref _dynamoDbRequests);

    /// <summary>How many of the next PutItem requests are throttled, as <see cref="ThrottleWrites"/> does; those after pass (a passing throttle).</summary>
    public int WritesToThrottle { get; set; }

    /// <summary>How many of the next S3 PUTs are answered HTTP 500; those after pass.</summary>
    public int S3PutsToFail { get; set; }

    /// <summary>PutItem requests whose body contains this text are answered HTTP 500: sent, and whether applied is unknown.</summary>
    public string? AmbiguousWritesOf { get; set; }

    /// <summary>BatchGetItem requests throw this exception, as the HTTP stack under the client would.</summary>
    public Exception? ReadFailure { get; set; }

    /// <summary>Runs before each S3 request reaches the model (a test's own writes in between, as a concurrent writer's).</summary>
    public Action<HttpRequestMessage>? BeforeS3Request { get; set; }

    /// <summary>PUTs of keys under <c>quarantine/</c> are answered HTTP 500.</summary>
    public bool FailQuarantineWrites { get; set; }

    /// <summary>PUTs of keys under <c>quarantine/</c> answered HTTP 500 so far.</summary>
    public int FailedQuarantineWrites => Volatile.Read(ref _failedQuarantineWrites);

    /// <summary>PutItem requests answered ProvisionedThroughputExceeded so far.</summary>
    public int ThrottledWrites => Volatile.Read(ref _throttledWrites);

    /// <summary>The token a run is given: cancelled once the countdown passes.</summary>
    public CancellationToken Token => _cancel.Token;

    /// <summary>Cancels <see cref="Token"/> when the given number of requests has been sent (null: never); a fresh token each time.</summary>
    public void CancelAfterRequests(int? requests)
    {
        _cancel.Dispose();
        _cancel = new CancellationTokenSource();
        Volatile.Write(ref _countdown, requests ?? -1);
    }

    public AmazonDynamoDBClient CreateDynamoDbClient() =>
        new ModelDynamoDbClient(new AnonymousAWSCredentials(), ModelSdkClients.DynamoDbConfig(_dynamoDb));

    public AmazonS3Client CreateS3Client() =>
        new ModelS3Client(new AnonymousAWSCredentials(), ModelSdkClients.S3Config(_s3));

    // The handlers are not disposed: disposing a delegating handler disposes the model's handler behind it.
    public void Dispose() => _cancel.Dispose();

    private HttpResponseMessage? Fault(HttpRequestMessage request, bool isS3)
    {
        if (isS3)
        {
            BeforeS3Request?.Invoke(request);
        }

        if (Volatile.Read(ref _countdown) >= 0 && Interlocked.Decrement(ref _countdown) < 0)
        {
            _cancel.Cancel();
        }

        bool spillObject = request.RequestUri?.AbsolutePath.Contains("/spill/", StringComparison.Ordinal) == true;
        if (isS3 && ((spillObject && FailSpillReads && request.Method == HttpMethod.Get) || (spillObject && FailSpillDeletes && request.Method == HttpMethod.Delete) ||
            (request.Method == HttpMethod.Put && S3PutsToFail > 0 && S3PutsToFail-- > 0) ||
            (RefuseS3 is { } refuse && refuse(request.Method, request.RequestUri?.AbsolutePath ?? string.Empty))))
        {
            return InternalError(request);
        }

        if (isS3 && FailQuarantineWrites && request.Method == HttpMethod.Put && request.RequestUri?.AbsolutePath.Contains("/quarantine/", StringComparison.Ordinal) == true)
        {
            Interlocked.Increment(ref _failedQuarantineWrites);
            return InternalError(request);
        }

        string target = request.Headers.TryGetValues("X-Amz-Target", out IEnumerable<string>? values) ? values.FirstOrDefault() ?? string.Empty : string.Empty;
        if (!isS3)
        {
            Interlocked.Increment(ref _dynamoDbRequests);
            if (DynamoDbDown)
            {
                return DynamoDbInternalError(request);
            }

            if (ThrottleEverything)
            {
                return Throttled(request);
            }
        }

        if (!isS3 && target.EndsWith(".BatchGetItem", StringComparison.Ordinal) && ReadFailure is { } failure)
        {
            throw failure;
        }

        if (!isS3 && target.EndsWith(".PutItem", StringComparison.Ordinal) && AmbiguousWritesOf is { } text &&
            request.Content?.ReadAsStringAsync().GetAwaiter().GetResult().Contains(text, StringComparison.Ordinal) == true)
        {
            return DynamoDbInternalError(request);
        }

        if (!isS3 && target.EndsWith(".PutItem", StringComparison.Ordinal) && (ThrottleWrites || (WritesToThrottle > 0 && WritesToThrottle-- > 0)))
        {
            Interlocked.Increment(ref _throttledWrites);
            return Throttled(request);
        }

        return null;
    }

    private static HttpResponseMessage Throttled(HttpRequestMessage request)
    {
        var response = new HttpResponseMessage(HttpStatusCode.BadRequest) { RequestMessage = request, Content = new ByteArrayContent(s_throttled) };
        response.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-amz-json-1.0");
        return response;
    }

    private static HttpResponseMessage DynamoDbInternalError(HttpRequestMessage request) =>
        new(HttpStatusCode.InternalServerError)
        {
            RequestMessage = request,
            Content = new StringContent("{\"__type\":\"com.amazonaws.dynamodb.v20120810#InternalServerError\",\"message\":\"Internal server error\"}", Encoding.UTF8, "application/x-amz-json-1.0"),
        };

    private static HttpResponseMessage InternalError(HttpRequestMessage request) =>
        new(HttpStatusCode.InternalServerError)
        {
            RequestMessage = request,
            Content = new StringContent("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>", Encoding.UTF8, "application/xml"),
        };

    private sealed class Handler(HttpMessageHandler model, ModelFaults faults, bool IsS3) : DelegatingHandler(model)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            faults.Fault(request, IsS3) is { } fault ? Task.FromResult(fault) : base.SendAsync(request, cancellationToken);
    }
}
