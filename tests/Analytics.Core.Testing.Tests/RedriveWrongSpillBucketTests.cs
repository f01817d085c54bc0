using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests;
using Analytics.Tools;
using static Analytics.Core.Testing.Tests.RedriveObjects;
using static Analytics.Core.Testing.Tests.RedriveTool;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A batch in both places (its spill written, then given up) redriven first with a <c>--spill-bucket</c> that is not the
/// function's (an empty bucket: the help allows any bucket without spill objects), so its destination object was not
/// held back and was applied; then with the right spill bucket. The second run applied the spill too: the record counted
/// twice (count 2 for one record), both runs exit 0. Now the first run's write keeps the range of records it applied in
/// the item (<c>dr</c>), and the second run finds the spill's record in it: already in the table, the spill deleted, exit
/// 0, the item keeps count 1 (without <c>--failure-bucket</c> too: <see cref="RedriveDestinationMarkTests"/>).
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveWrongSpillBucketTests(LocalServersFixture servers)
{
    [Fact]
    public async Task ASpillWhoseRecordsAnEarlierRunRedroveFromTheDestination_IsFoundApplied_NotCountedTwice()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "twice");
        string destination = DestinationKey(0, "o");
        await scene.PutSpillAsync(SpillKey(0), SpillBody(0, "a", "k", [1]));
        await scene.PutDestinationAsync(destination, InvocationRecord(0, [Record(0, 1, "k", "a", 1)]));

        (int wrongExit, _) = await scene.RedriveAsync(scene.Empty, scene.Failure);
        (int exit, string stdout) = await scene.RedriveAsync(scene.Spill, scene.Failure);

        Assert.Equal(0, wrongExit);
        Assert.Equal(0, exit);
        Assert.Contains("spills: 1 spill objects, 0 samples applied, 1 already in the table", stdout, StringComparison.Ordinal);
        Assert.Contains($"object {destination} shard={ShardId(0)} records=1 applied=1 alreadyApplied=0 undecided=0 left=0 (done by an earlier run)", stdout, StringComparison.Ordinal);
        Assert.Equal(0, await scene.CountAsync(scene.Spill, "spill/"));
        Dictionary<string, AttributeValue> item = Assert.Single((await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table })).Items);
        Assert.Equal("1", item["count"].N);
    }

    /// <summary>A spill of other records of the same shard than a finished destination object's is applied as before.</summary>
    [Fact]
    public async Task ASpillOfOtherRecordsOfTheShard_IsApplied()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "other");
        await scene.PutSpillAsync(SpillKey(0), SpillBody(0, "a", "k", [1]));
        await scene.PutDestinationAsync(DestinationKey(0, "o"), InvocationRecord(0, 5, [Record(0, 5, "k", "a", 5)]));

        (int first, _) = await scene.RedriveAsync(scene.Empty, scene.Failure);
        (int exit, string stdout) = await scene.RedriveAsync(scene.Spill, scene.Failure);

        Assert.Equal((0, 0), (first, exit));
        Assert.Contains("spills: 1 spill objects, 1 samples applied", stdout, StringComparison.Ordinal);
        Dictionary<string, AttributeValue> item = Assert.Single((await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table })).Items);
        Assert.Equal("2", item["count"].N);
    }
}
