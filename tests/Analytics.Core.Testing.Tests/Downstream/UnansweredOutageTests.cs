using System.Net;
using System.Net.Sockets;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Time.Testing;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// An outage in which the models give no answer (<see cref="OutageWindow.Unanswered"/>): a store that hangs, which costs
/// its caller all the time it allowed, where a server error costs nothing. A request made in it waits for its caller's
/// cancellation, also after the outage ended; one made after is answered; the one left unanswered changed nothing.
/// </summary>
public sealed class UnansweredOutageTests
{
    private static readonly DateTimeOffset s_start = new(2024, 5, 1, 12, 0, 0, TimeSpan.Zero);

    private static readonly OutageWindow s_outage = new(s_start.AddSeconds(10), s_start.AddSeconds(20)) { Unanswered = true };

    private static Dictionary<string, AttributeValue> Item(string pk) => new() { ["pk"] = new() { S = pk }, ["sk"] = new() { S = "s" } };

    /// <summary>Whether <paramref name="task"/> is still waiting after the thread pool had real time to run anything pending.</summary>
    private static async Task<bool> StillWaitingAsync(Task task)
    {
        await Task.Delay(100);
        return !task.IsCompleted;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DynamoDb_ARequestInTheOutage_WaitsForItsCallersCancellation_AndIsNotApplied(bool http)
    {
        var time = new FakeTimeProvider(s_start);
        using var model = new DynamoDbModel(time, DynamoDbModelOptions.Default with { Outages = [s_outage] });
        model.CreateTable("tbl", "pk", "sk");
        using AmazonDynamoDBClient client = http ? model.CreateHttpClient() : model.CreateClient();
        await client.PutItemAsync("tbl", Item("before"));

        time.Advance(TimeSpan.FromSeconds(10));
        using var caller = new CancellationTokenSource();
        Task<PutItemResponse> put = client.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = Item("during") }, caller.Token);
        Assert.True(await StillWaitingAsync(put));
        time.Advance(TimeSpan.FromSeconds(30)); // the outage is over; the request made in it still has no answer
        Assert.True(await StillWaitingAsync(put));
        await client.PutItemAsync("tbl", Item("after"));

        await caller.CancelAsync();
        // A TaskCanceledException with the caller's token, as the real SDK throws when a caller cancels a request.
        TaskCanceledException cancelled = await Assert.ThrowsAsync<TaskCanceledException>(() => put.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(caller.Token, cancelled.CancellationToken);
        Assert.Equal(["after", "before"], model.GetItems("tbl").Select(i => i["pk"].S).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(1, model.Counters.OutageErrors);
    }

    [Fact]
    public async Task DynamoDb_AnOutageThatAnswers_StillAnswersAtOnce()
    {
        var time = new FakeTimeProvider(s_start);
        using var model = new DynamoDbModel(time, DynamoDbModelOptions.Default with { Outages = [s_outage with { Unanswered = false }] });
        model.CreateTable("tbl", "pk", "sk");
        using AmazonDynamoDBClient client = model.CreateClient();
        time.Advance(TimeSpan.FromSeconds(10));

        await Assert.ThrowsAsync<InternalServerErrorException>(() => client.PutItemAsync("tbl", Item("during")).WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task S3_ARequestInTheOutage_WaitsForItsCallersCancellation_AndIsNotStored()
    {
        var time = new FakeTimeProvider(s_start);
        using var model = new S3Model(time, S3ModelOptions.Default with { Outages = [s_outage] });
        model.CreateBucket("bkt");
        using AmazonS3Client client = model.CreateClient();

        time.Advance(TimeSpan.FromSeconds(15));
        using var caller = new CancellationTokenSource();
        Task<PutObjectResponse> put = client.PutObjectAsync(new PutObjectRequest { BucketName = "bkt", Key = "during", ContentBody = "x", UseChunkEncoding = false }, caller.Token);
        Assert.True(await StillWaitingAsync(put));
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.True(await StillWaitingAsync(put));
        await client.PutObjectAsync(new PutObjectRequest { BucketName = "bkt", Key = "after", ContentBody = "y", UseChunkEncoding = false });

        await caller.CancelAsync();
        await Assert.ThrowsAsync<TaskCanceledException>(() => put.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(["after"], model.GetObjects("bkt").Select(o => o.Key).ToArray());
        Assert.Equal(1, model.Counters.OutageErrors);
    }

    /// <summary>The exception's type and its inner exception's: what a caller's retry logic tells a timeout by.</summary>
    private static (Type, Type?) Shape(Exception e) => (e.GetType(), e.InnerException?.GetType());

    /// <summary>
    /// What the real AWS SDK throws when its HTTP timeout elapses, from a loopback server that accepts the connection and
    /// never answers (a client <c>Timeout</c> of 300 ms, in real time).
    /// </summary>
    private static async Task<(Type, Type?)> RealSdkTimeoutShapeAsync(bool s3)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var held = new List<TcpClient>();
        Task accepting = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    held.Add(await listener.AcceptTcpClientAsync());
                }
            }
            catch (ObjectDisposedException)
            {
            }
            catch (SocketException)
            {
            }
        });
        string url = "http://127.0.0.1:" + ((IPEndPoint)listener.LocalEndpoint).Port;
        var credentials = new BasicAWSCredentials("local", "local");
        try
        {
            Exception thrown = s3
                ? await Assert.ThrowsAnyAsync<Exception>(async () =>
                {
                    using var client = new AmazonS3Client(credentials, new AmazonS3Config { ServiceURL = url, ForcePathStyle = true, AuthenticationRegion = "us-east-1", MaxErrorRetry = 0, Timeout = TimeSpan.FromMilliseconds(300) });
                    await client.GetObjectAsync("bkt", "k").WaitAsync(TimeSpan.FromSeconds(30));
                })
                : await Assert.ThrowsAnyAsync<Exception>(async () =>
                {
                    using var client = new AmazonDynamoDBClient(credentials, new AmazonDynamoDBConfig { ServiceURL = url, AuthenticationRegion = "us-east-1", MaxErrorRetry = 0, Timeout = TimeSpan.FromMilliseconds(300) });
                    await client.GetItemAsync("tbl", Item("a")).WaitAsync(TimeSpan.FromSeconds(30));
                });
            return Shape(thrown);
        }
        finally
        {
            listener.Stop();
            await accepting.WaitAsync(TimeSpan.FromSeconds(10));
            held.ForEach(c => c.Dispose());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DynamoDb_WithARequestTimeout_AnUnansweredRequestFailsAtIt_AsTheSdkFailsOneWhoseTimeoutElapsed(bool http)
    {
        var time = new FakeTimeProvider(s_start);
        using var model = new DynamoDbModel(time, DynamoDbModelOptions.Default with { Outages = [s_outage], RequestTimeout = TimeSpan.FromSeconds(2) });
        model.CreateTable("tbl", "pk", "sk");
        using AmazonDynamoDBClient client = http ? model.CreateHttpClient() : model.CreateClient();

        time.Advance(TimeSpan.FromSeconds(19)); // one second before the outage ends: the wait is the timeout's, not the outage's
        Task<PutItemResponse> put = client.PutItemAsync("tbl", Item("during"));
        time.Advance(TimeSpan.FromMilliseconds(1_999));
        Assert.True(await StillWaitingAsync(put));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Exception thrown = await Assert.ThrowsAnyAsync<Exception>(() => put.WaitAsync(TimeSpan.FromSeconds(10)));

        Assert.Equal(await RealSdkTimeoutShapeAsync(s3: false), Shape(thrown));
        Assert.Empty(model.GetItems("tbl"));
        Assert.Equal(1, model.Counters.OutageErrors);
    }

    [Fact]
    public async Task S3_WithARequestTimeout_AnUnansweredRequestFailsAtIt_AsTheSdkFailsOneWhoseTimeoutElapsed()
    {
        var time = new FakeTimeProvider(s_start);
        using var model = new S3Model(time, S3ModelOptions.Default with { Outages = [s_outage], RequestTimeout = TimeSpan.FromSeconds(5) });
        model.CreateBucket("bkt");
        using AmazonS3Client client = model.CreateClient();

        time.Advance(TimeSpan.FromSeconds(10));
        Task<PutObjectResponse> put = client.PutObjectAsync(new PutObjectRequest { BucketName = "bkt", Key = "during", ContentBody = "x", UseChunkEncoding = false });
        time.Advance(TimeSpan.FromMilliseconds(4_999));
        Assert.True(await StillWaitingAsync(put));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Exception thrown = await Assert.ThrowsAnyAsync<Exception>(() => put.WaitAsync(TimeSpan.FromSeconds(10)));

        Assert.Equal(await RealSdkTimeoutShapeAsync(s3: true), Shape(thrown));
        Assert.Empty(model.GetObjects("bkt"));
    }

    /// <summary>A latency past the timeout times out too, unapplied; one within it is answered; the caller's cancellation comes first when it is earlier.</summary>
    [Fact]
    public async Task DynamoDb_ALatencyPastTheRequestTimeout_TimesOut_AndTheCallersEarlierCancellationWins()
    {
        var time = new FakeTimeProvider(s_start);
        using var model = new DynamoDbModel(time, DynamoDbModelOptions.Default with { Latency = LatencyDistribution.FromMilliseconds(3_000, 3_000), RequestTimeout = TimeSpan.FromSeconds(2) });
        model.CreateTable("tbl", "pk", "sk");
        using AmazonDynamoDBClient client = model.CreateClient();

        Task<PutItemResponse> slow = client.PutItemAsync("tbl", Item("slow"));
        time.Advance(TimeSpan.FromSeconds(2));
        await Assert.ThrowsAsync<TimeoutException>(() => slow.WaitAsync(TimeSpan.FromSeconds(10)));

        using var caller = new CancellationTokenSource();
        Task<PutItemResponse> cancelled = client.PutItemAsync(new PutItemRequest { TableName = "tbl", Item = Item("cancelled") }, caller.Token);
        time.Advance(TimeSpan.FromSeconds(1));
        await caller.CancelAsync();
        TaskCanceledException byCaller = await Assert.ThrowsAsync<TaskCanceledException>(() => cancelled.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(caller.Token, byCaller.CancellationToken);
        Assert.Empty(model.GetItems("tbl"));

        Assert.Throws<ArgumentOutOfRangeException>(() => new DynamoDbModel(time, DynamoDbModelOptions.Default with { RequestTimeout = TimeSpan.Zero }));
    }
}
