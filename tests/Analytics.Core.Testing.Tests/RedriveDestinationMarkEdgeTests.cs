using System.Globalization;
using System.Text;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests;
using Analytics.Tools;
using static Analytics.Core.Testing.Tests.RedriveObjects;
using static Analytics.Core.Testing.Tests.RedriveTool;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The destination redrive's ranges (<c>dr</c>) where they are stored wrong or grow large: every reader refuses a
/// malformed <c>dr</c> with an error that names it, no write drops or rewrites one it cannot read, and a write the
/// ranges push past the item bound is reported, never made.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveDestinationMarkEdgeTests(LocalServersFixture servers)
{
    /// <summary>
    /// A live write to an item whose <c>dr</c> is not a map of shards: kept as it was, its ranges were dropped without a
    /// word by the next put (a later spill redrive then applied what they said was in: counted twice). It must be
    /// refused like a malformed <c>wk</c> or <c>rk</c>, and the item left as it is.
    /// </summary>
    [Fact]
    public async Task ALiveWrite_ToAnItemWhoseDrIsNotAMap_IsRefused_AndTheItemKeepsIt()
    {
        using RedriveScene scene = await ItemWithRangeAsync("livedr");
        await SetAsync(scene, "SET dr = :v", new AttributeValue { S = "not a map" });

        BatchSummary summary = await ApplyLiveAsync(scene.DynamoDb, scene.S3, scene.Table, scene.Spill, [Record(0, 2, "k", "a", 2)]);

        Dictionary<string, AttributeValue> item = await scene.ItemAsync();
        Assert.Equal("not a map", item.TryGetValue("dr", out AttributeValue? dr) ? dr.S : "(dr dropped)");
        Assert.Equal("1", item["count"].N);
        Assert.NotNull(summary.ReportedFailure);
    }

    /// <summary>
    /// A malformed range in <c>dr</c>: the destination phase stops with an error that names the ranges, applies nothing
    /// and writes no marker; the spill redrive leaves the spill naming them too.
    /// </summary>
    [Fact]
    public async Task AMalformedRange_IsRefusedWithAClearError_ByTheDestinationPhaseAndTheSpillRedrive()
    {
        using RedriveScene scene = await ItemWithRangeAsync("baddr");
        await SetAsync(scene, "SET dr.#s.k = :v", new AttributeValue { L = [new AttributeValue { S = "12:3" }] });
        string failure = await servers.CreateBucketAsync("failure");
        await scene.PutAsync(failure, DestinationKey(0, "o2"), InvocationRecord(0, 2, [Record(0, 2, "k", "a", 2)]));
        await scene.PutSpillAsync(SpillKey(0), SpillBody(0, "a", "k", [1]));

        (int destinationExit, string destinationOut) = await scene.RedriveAsync(scene.Empty, failure, errorsToo: true);
        (int spillExit, string spillOut) = await scene.RedriveAsync(scene.Spill, failure: null, errorsToo: true);

        Assert.Equal(1, destinationExit);
        Assert.True(destinationOut.Contains("destination redrive range", StringComparison.Ordinal), destinationOut);
        Assert.Equal(0, await scene.CountAsync(failure, "redrive/"));
        Assert.Equal(1, spillExit);
        Assert.Contains($"left {SpillKey(0)}", spillOut, StringComparison.Ordinal);
        Assert.Contains("destination redrive range", spillOut, StringComparison.Ordinal);
        Dictionary<string, AttributeValue> item = await scene.ItemAsync();
        Assert.Equal("1", item["count"].N);
        Assert.Equal("12:3", Assert.Single(item["dr"].M[ShardId(0)].M["k"].L).S);
    }

    /// <summary>
    /// Ranges that push the item past the 350 KB bound: the destination phase's write is not made and its records are
    /// reported left (exit 1, no marker), and a live write that would keep them is refused and reported too, never
    /// made without them.
    /// </summary>
    [Fact]
    public async Task RangesPastTheItemBound_AreReported_TheWriteNotMade()
    {
        using RedriveScene scene = await ItemWithRangeAsync("bound");
        string range = Sequence(1) + ":" + Sequence(1);
        await SetAsync(scene, "SET dr.#s.k = :v", new AttributeValue { L = [.. Enumerable.Range(0, 3_180).Select(_ => new AttributeValue { S = range })] });
        string failure = await servers.CreateBucketAsync("failure");
        await scene.PutAsync(failure, DestinationKey(0, "o2"), InvocationRecord(0, 2, [Record(0, 2, "j", "a", 2)]));

        (int exit, string stdout) = await scene.RedriveAsync(scene.Empty, failure, errorsToo: true);
        BatchSummary live = await ApplyLiveAsync(scene.DynamoDb, scene.S3, scene.Table, scene.Spill, [Record(0, 3, "k", "a", 3), Record(0, 4, "m", "a", 4)]);

        Assert.Equal(1, exit);
        Assert.Contains(DestinationKey(0, "o2"), stdout, StringComparison.Ordinal);
        Assert.Equal(0, await scene.CountAsync(failure, "redrive/"));
        Assert.NotNull(live.ReportedFailure);
        Dictionary<string, AttributeValue> item = await scene.ItemAsync();
        Assert.Equal("1", item["count"].N);
        Assert.Equal(3_180, item["dr"].M[ShardId(0)].M["k"].L.Count);
    }

    /// <summary>
    /// An item that keeps ranges (and, after a spill redrive of another key, <c>rk</c> beside them) is read by
    /// <c>query</c> and by the sink's next live write as any other.
    /// </summary>
    [Fact]
    public async Task AnItemWithRanges_IsReadByQuery_AndByALiveWrite()
    {
        using RedriveScene scene = await ItemWithRangeAsync("readable");
        BatchSummary live = await ApplyLiveAsync(scene.DynamoDb, scene.S3, scene.Table, scene.Spill, [Record(0, 1, "k", "a", 1), Record(0, 2, "k", "a", 2)]);
        var query = new StringWriter(CultureInfo.InvariantCulture);
        int exit = await ToolsCommand.RunAsync(["query", "--table", scene.Table, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString()], query, query);

        Assert.Null(live.ReportedFailure);
        Assert.Equal(0, exit);
        Assert.Contains("\"count\":2", Assert.Single(query.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
        Assert.Equal($"{Sequence(1)}:{Sequence(1)}", Assert.Single((await scene.ItemAsync())["dr"].M[ShardId(0)].M["k"].L).S);
    }

    /// <summary>An item of series <c>a</c> written by the destination phase (record 1 of key <c>k</c>), with its range.</summary>
    private async Task<RedriveScene> ItemWithRangeAsync(string name)
    {
        RedriveScene scene = await RedriveScene.CreateAsync(servers, name);
        await scene.PutDestinationAsync(DestinationKey(0, "o"), InvocationRecord(0, [Record(0, 1, "k", "a", 1)]));
        (int exit, _) = await scene.RedriveAsync(scene.Empty, scene.Failure, errorsToo: true);
        Assert.Equal(0, exit);
        Assert.Equal($"{Sequence(1)}:{Sequence(1)}", Assert.Single((await scene.ItemAsync())["dr"].M[ShardId(0)].M["k"].L).S);
        return scene;
    }

    private static async Task SetAsync(RedriveScene scene, string update, AttributeValue value)
    {
        Dictionary<string, AttributeValue> item = await scene.ItemAsync();
        var request = new UpdateItemRequest
        {
            TableName = scene.Table,
            Key = new() { ["pk"] = item["pk"], ["sk"] = item["sk"] },
            UpdateExpression = update,
            ExpressionAttributeValues = new() { [":v"] = value },
        };
        if (update.Contains("#s", StringComparison.Ordinal))
        {
            request.ExpressionAttributeNames = new() { ["#s"] = ShardId(0) };
        }

        await scene.DynamoDb.UpdateItemAsync(request);
    }
}
