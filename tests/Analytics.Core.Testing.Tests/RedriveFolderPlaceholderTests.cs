using System.Globalization;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests;
using Analytics.Tools.Redrive;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Review of 7099569 (an unparseable object holds back its shard). A zero-byte key ending in '/' is the folder
/// placeholder the S3 console's "Create folder" (and many sync tools) write; it is never an invocation record, yet its
/// key has a "shardId-" segment, so <c>ShardOfKey</c> names the shard and the shard's real batch is held back on every
/// run, whole folder or narrowed prefix alike. Before the change the batch was applied and the placeholder reported.
/// </summary>
[Collection(LocalServersCollection.Second)]
public sealed class RedriveFolderPlaceholderTests(LocalServersFixture servers)
{
    private static readonly double[] s_values = [1, 2, 4, 8];

    [Fact]
    public async Task AFolderPlaceholderInTheShardsFolder_DoesNotHoldBackItsBatch()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "placeholder");
        const string Shard = "aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/shardId-000000000000/";
        await scene.PutDestinationAsync(Shard + "2025/01/01/", string.Empty); // the console's "Create folder"
        await scene.PutDestinationAsync(Shard + "2025/01/01/2025-01-01T00.05.00-1", RedriveObjects.InvocationRecord(0, 1, [.. s_values.Select((v, i) => RedriveObjects.Record(0, i + 1, "a", "m", v))]));

        var output = new StringWriter(CultureInfo.InvariantCulture);
        RedriveRunReport report = await RedriveRun.RunAsync(Options(scene), scene.S3, scene.DynamoDb, output, CancellationToken.None);

        (long count, double sum) = await ItemAsync(scene);
        Assert.True((count, sum) == (4L, s_values.Sum()), $"item count/sum {count}/{sum}, expected 4/15; run:\n{output}\n{RedriveRun.Format(report.Destination)}");
    }

    private static RedriveRunOptions Options(RedriveScene scene) =>
        new(scene.Table, scene.Spill, "spill", TimeSpan.Zero, scene.Failure, "aws/lambda/", scene.Quarantine, ProcessorOptions.Default)
        {
            DynamoDbRetry = DynamoDbAggregateSinkOptions.Default.Retry with { MaxAttempts = 3 },
        };

    private static async Task<(long Count, double Sum)> ItemAsync(RedriveScene scene)
    {
        try
        {
            Dictionary<string, AttributeValue> item = await scene.ItemAsync();
            return (long.Parse(item["count"].N, CultureInfo.InvariantCulture), double.Parse(item["sum"].N, CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return (0, 0);
        }
    }
}
