using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests;
using static Analytics.Core.Testing.Tests.RedriveObjects;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// An on-failure destination object copied under another key (found by review): the table got each record once, but
/// each copy's line said it applied them, and the summary counted every pair twice. The first object that holds a
/// record counts it applied; a later copy counts it already applied.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveDestinationCopyTests(LocalServersFixture servers)
{
    [Fact]
    public async Task ADestinationObjectCopiedUnderAnotherKey_IsAppliedOnce_AndReportedOnce()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "destcopy");
        string body = InvocationRecord(0, [Record(0, 1, "k", "a", 2), Record(0, 2, "k", "a", 3)]);
        await scene.PutDestinationAsync(DestinationKey(0, "o"), body);
        await scene.PutDestinationAsync(DestinationKey(0, "o-copy"), body);

        (int exit, string output) = await scene.RedriveAsync(scene.Empty, scene.Failure);

        Assert.True(exit == 0, output);
        Dictionary<string, AttributeValue> item = await scene.ItemAsync();
        Assert.Equal(("2", "5"), (item["count"].N, item["sum"].N));
        Assert.Contains("2 (record, aggregate) pairs applied, 2 already applied, 0 undecided, 0 left", output, StringComparison.Ordinal);
    }
}
