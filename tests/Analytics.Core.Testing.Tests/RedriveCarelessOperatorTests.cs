using System.Globalization;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests;
using Analytics.Tools.Redrive;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Review (careless operator): objects edited by hand between runs. The promise (samples/Analytics.Tools/README.md,
/// docs/failure-modes.md "Redrive"): safe to repeat; nothing doubled or lost; a run that cannot apply something leaves it
/// and says so, and once the operator mends it a later run finishes exactly.
/// </summary>
[Collection(LocalServersCollection.Second)]
public sealed class RedriveCarelessOperatorTests(LocalServersFixture servers)
{
    private static readonly double[] s_first = [1, 2, 4, 8];
    private static readonly double[] s_second = [16, 32, 64, 128];

    /// <summary>
    /// Two batches of key a given up one after the other (records 1-4, then 5-8), nothing spilled, no live write since.
    /// The first object is damaged by hand (cut short while being inspected or downloaded and put back). The run reports
    /// it, and the operator restores it (S3 versioning) and runs again. Expected: the table then holds 1-8 exactly once
    /// and the run says done. An object S3 cannot hand out holds back its shard's other objects for exactly this reason
    /// ("its records may come before these"), and so does an unreadable spill object; a destination object that reads but
    /// does not parse does not: the run applies 5-8 past it (wk = 8), and on the rerun 1-4 lie below the watermark, in no
    /// range: undecided on every run, never applied.
    /// </summary>
    [Fact]
    public async Task ADestinationObjectCutShort_ThenRestored_IsAppliedOnceOnTheNextRun()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "careless-cut");
        string first = RedriveObjects.InvocationRecord(0, 1, [.. s_first.Select((v, i) => RedriveObjects.Record(0, i + 1, "a", "m", v))]);
        string second = RedriveObjects.InvocationRecord(0, 5, [.. s_second.Select((v, i) => RedriveObjects.Record(0, i + 5, "a", "m", v))]);
        string firstKey = RedriveObjects.DestinationKey(0, "1");
        await scene.PutDestinationAsync(firstKey, first[..(first.Length / 2)]);
        await scene.PutDestinationAsync(RedriveObjects.DestinationKey(0, "2"), second);

        var output = new StringWriter(CultureInfo.InvariantCulture);
        RedriveRunReport cut = await RedriveRun.RunAsync(Options(scene), scene.S3, scene.DynamoDb, output, CancellationToken.None);
        Assert.False(cut.Done, output.ToString()); // the damaged object is reported
        string cutOutput = output.ToString();

        await scene.PutDestinationAsync(firstKey, first); // restored
        output = new StringWriter(CultureInfo.InvariantCulture);
        RedriveRunReport rerun = await RedriveRun.RunAsync(Options(scene), scene.S3, scene.DynamoDb, output, CancellationToken.None);

        (long count, double sum) = await ItemAsync(scene);
        Assert.True((count, sum) == (8L, s_first.Sum() + s_second.Sum()), $"item count/sum {count}/{sum}, expected 8/255; first run:\n{cutOutput}\nrerun:\n{output}");
        Assert.True(rerun.Done, RedriveRun.Format(rerun.Destination));
    }

    /// <summary>
    /// The same two batches, given up on two days (Lambda's keys carry the day). The operator first redrives only today's
    /// folder, a narrower --failure-prefix the README and docs/failure-modes.md treat as a correct run ("another mapping's,
    /// shard's or day's folder under aws/lambda/"), then the whole prefix. Expected: the table holds 1-8 once and the
    /// second run says done. Observed: the first run applied 5-8 (wk = 8); the second finds 1-4 below that watermark, in no
    /// range, and reports them undecided ("a later batch moved the key's watermark", though it was the redrive itself) on
    /// every run: never applied.
    /// </summary>
    [Fact]
    public async Task ADayFolderRedrivenBeforeAnEarlierDay_LosesNothing()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "careless-day");
        const string Shard = "aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/shardId-000000000000/";
        await scene.PutDestinationAsync(Shard + "2025/01/01/2025-01-01T23.59.00-1", RedriveObjects.InvocationRecord(0, 1, [.. s_first.Select((v, i) => RedriveObjects.Record(0, i + 1, "a", "m", v))]));
        await scene.PutDestinationAsync(Shard + "2025/01/02/2025-01-02T00.01.00-2", RedriveObjects.InvocationRecord(0, 5, [.. s_second.Select((v, i) => RedriveObjects.Record(0, i + 5, "a", "m", v))]));

        var output = new StringWriter(CultureInfo.InvariantCulture);
        await RedriveRun.RunAsync(Options(scene) with { FailurePrefix = Shard + "2025/01/02/" }, scene.S3, scene.DynamoDb, output, CancellationToken.None);
        string todayOutput = output.ToString();
        output = new StringWriter(CultureInfo.InvariantCulture);
        RedriveRunReport all = await RedriveRun.RunAsync(Options(scene), scene.S3, scene.DynamoDb, output, CancellationToken.None);

        (long count, double sum) = await ItemAsync(scene);
        Assert.True((count, sum) == (8L, s_first.Sum() + s_second.Sum()), $"item count/sum {count}/{sum}, expected 8/255; today's folder:\n{todayOutput}\nwhole prefix:\n{output}");
        Assert.True(all.Done, RedriveRun.Format(all.Destination));
    }

    /// <summary>
    /// Review of the hold-back above: a zero-byte key ending in '/' is the folder placeholder the S3 console's "Create
    /// folder" (and many sync tools) write; it is never an invocation record, yet its key has a "shardId-" segment, so
    /// the shard's real batch was held back on every run, whole folder or narrowed prefix alike.
    /// </summary>
    [Fact]
    public async Task AFolderPlaceholderInTheShardsFolder_DoesNotHoldBackItsBatch()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "placeholder");
        const string Shard = "aws/lambda/0f8b6c2e-1111-4222-8333-444455556666/shardId-000000000000/";
        await scene.PutDestinationAsync(Shard + "2025/01/01/", string.Empty); // the console's "Create folder"
        await scene.PutDestinationAsync(Shard + "2025/01/01/2025-01-01T00.05.00-1", RedriveObjects.InvocationRecord(0, 1, [.. s_first.Select((v, i) => RedriveObjects.Record(0, i + 1, "a", "m", v))]));

        var output = new StringWriter(CultureInfo.InvariantCulture);
        RedriveRunReport report = await RedriveRun.RunAsync(Options(scene), scene.S3, scene.DynamoDb, output, CancellationToken.None);

        (long count, double sum) = await ItemAsync(scene);
        Assert.True((count, sum) == (4L, s_first.Sum()), $"item count/sum {count}/{sum}, expected 4/15; run:\n{output}\n{RedriveRun.Format(report.Destination)}");
    }

    private static RedriveRunOptions Options(RedriveScene scene) =>
        new(scene.Table, scene.Spill, "spill", TimeSpan.Zero, scene.Failure, "aws/lambda/", scene.Quarantine, ProcessorOptions.Default)
        {
            DynamoDbRetry = DynamoDbAggregateSinkOptions.Default.Retry with { MaxAttempts = 3 },
        };

    /// <summary>The item's count and sum; (0, 0) when the run wrote none, so the assertion names what was expected.</summary>
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
