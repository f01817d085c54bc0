using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests;
using static Analytics.Core.Testing.Tests.RedriveObjects;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// <c>redrive</c> pointed at a copy of the spills, on the local DynamoDB and S3 servers (found by review). A shard spilled
/// twice (S1: records 1 and 2 of key a, values 2 and 3; S2: records 3 and 4, values 5 and 7; the truth: count 4, sum 17).
/// A first run pointed at a backup bucket or prefix that held only S2 applied it; the key's redrive mark then passed
/// S1's records, the next run, pointed at the function's bucket, counted them as applied and deleted S1: lost (count 2),
/// and both runs said done. The spill sink now writes where it put each object into the object, and a redrive leaves an
/// object found elsewhere with its shard, unless told the copy is whole.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveFromCopyTests(LocalServersFixture servers)
{
    private static readonly double[] s_firstValues = [2, 3];
    private static readonly double[] s_secondValues = [5, 7];

    /// <summary>
    /// The copy in another bucket, or under a backup prefix in the function's bucket, redriven alone; or the copy beside the
    /// function's own objects in one listing (the prefix given empty), where the shard's objects wait with it.
    /// </summary>
    [Theory]
    [InlineData("bucket")]
    [InlineData("prefix")]
    [InlineData("beside")]
    public async Task APartialCopy_IsLeftNamingWhereTheFunctionWroteIt_AndTheFunctionsObjectsAreThenAppliedOnce(string copyIn)
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "copy" + copyIn);
        string second = await PutBothSpillsAsync(scene);

        (int Exit, string Output) first;
        if (copyIn == "bucket")
        {
            string replica = await servers.CreateBucketAsync("replica");
            await scene.PutAsync(replica, SpillKey(0, 3), second);
            first = await scene.RedriveAsync(replica, null, errorsToo: true);
        }
        else
        {
            await scene.PutSpillAsync("backup/" + SpillKey(0, 3), second);
            first = await RedriveTool.RunRedriveAsync(servers, scene.Table, scene.Spill, null, true, "--spill-prefix", copyIn == "prefix" ? "backup" : string.Empty);
        }

        if (copyIn == "beside")
        {
            Assert.Contains($"left {SpillKey(0, 1)}: another spill object of shard {ShardId(0)} is unreadable, too young, not under its own key or a copy", first.Output, StringComparison.Ordinal);
            await scene.S3.DeleteObjectAsync(scene.Spill, "backup/" + SpillKey(0, 3));
        }

        Assert.Equal(1, first.Exit);
        Assert.Contains($"the function wrote it as s3://{scene.Spill}/{SpillKey(0, 3)}; this is a copy", first.Output, StringComparison.Ordinal);
        Assert.Contains("--from-copy", first.Output, StringComparison.Ordinal);
        Assert.Empty(await AggregatesAsync(scene));

        (int Exit, string Output) second2 = await scene.RedriveAsync(scene.Spill, null, errorsToo: true);

        Assert.Equal(0, second2.Exit);
        Dictionary<string, AttributeValue> item = await scene.ItemAsync();
        Assert.Equal(("4", "17"), (item["count"].N, item["sum"].N));
        Assert.Equal(0, await scene.CountAsync(scene.Spill, "spill/"));
    }

    /// <summary>
    /// A whole copy (a bucket the spills were moved to) is applied with <c>--from-copy</c>, once: the function's own
    /// objects, redriven after it, are found applied and deleted.
    /// </summary>
    [Fact]
    public async Task AWholeCopy_IsAppliedWithFromCopy_AndTheOriginalsAreThenFoundApplied()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "copywhole");
        string second = await PutBothSpillsAsync(scene);
        string replica = await servers.CreateBucketAsync("replica");
        await scene.PutAsync(replica, SpillKey(0, 1), WrittenTo(SpillBody(0, "m", "a", s_firstValues, firstRecord: 1), scene.Spill, SpillKey(0, 1)));
        await scene.PutAsync(replica, SpillKey(0, 3), second);

        (int exit, string output) = await RedriveTool.RunRedriveAsync(servers, scene.Table, replica, null, true, "--from-copy");

        Assert.True(exit == 0, output);
        Dictionary<string, AttributeValue> item = await scene.ItemAsync();
        Assert.Equal(("4", "17"), (item["count"].N, item["sum"].N));
        Assert.Equal(0, await scene.CountAsync(replica, "spill/"));

        (exit, output) = await scene.RedriveAsync(scene.Spill, null, errorsToo: true);

        Assert.True(exit == 0, output);
        item = await scene.ItemAsync();
        Assert.Equal(("4", "17"), (item["count"].N, item["sum"].N));
        Assert.Equal(0, await scene.CountAsync(scene.Spill, "spill/"));
    }

    /// <summary>S1 and S2 in the function's bucket, each naming where it is, as the sink writes them; returns S2's body.</summary>
    private static async Task<string> PutBothSpillsAsync(RedriveScene scene)
    {
        await scene.PutSpillAsync(SpillKey(0, 1), WrittenTo(SpillBody(0, "m", "a", s_firstValues, firstRecord: 1), scene.Spill, SpillKey(0, 1)));
        string second = WrittenTo(SpillBody(0, "m", "a", s_secondValues, firstRecord: 3), scene.Spill, SpillKey(0, 3));
        await scene.PutSpillAsync(SpillKey(0, 3), second);
        return second;
    }

    private static async Task<List<Dictionary<string, AttributeValue>>> AggregatesAsync(RedriveScene scene) =>
        [.. (await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table, ConsistentRead = true })).Items.Where(i => i["sk"].S != "lease")];
}
