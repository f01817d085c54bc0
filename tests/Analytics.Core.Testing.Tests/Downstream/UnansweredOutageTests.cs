using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
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
        OperationCanceledException cancelled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => put.WaitAsync(TimeSpan.FromSeconds(10)));
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
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => put.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(["after"], model.GetObjects("bkt").Select(o => o.Key).ToArray());
        Assert.Equal(1, model.Counters.OutageErrors);
    }
}
