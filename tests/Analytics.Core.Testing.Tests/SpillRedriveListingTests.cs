using Analytics.Tools;
using static Analytics.Core.Testing.Tests.RedriveObjects;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Which spill objects a spill redrive finds (every page of the listing, only <c>.json</c> keys under the prefix), how
/// a run bounded in objects leaves the rest to the next one, and how young objects hold back their shard. Against the S3
/// and DynamoDB models in virtual time.
/// </summary>
public class SpillRedriveListingTests
{
    private static readonly TimeSpan s_minAge = TimeSpan.FromMinutes(15);

    /// <summary>
    /// 1,001 objects (more than S3 lists in one page of 1,000), spread over three shards: the run and the shard count
    /// behind the destination redrive's hold both see every one.
    /// </summary>
    [Fact]
    public async Task ABucketOfMoreThanOnePage_IsFoundInFull_ByTheRunAndByTheShardCount()
    {
        using var models = new SpillRedriveModels();
        for (int i = 1; i <= 1001; i++)
        {
            models.Put(SpillKey(i % 3, firstRecord: i), SpillBody(i % 3, "m", "a", [i], firstRecord: i));
        }

        IReadOnlyDictionary<string, int> shards = await SpillRedrive.ShardsWithObjectsAsync(models.S3Client, SpillRedriveModels.Bucket, "spill", CancellationToken.None);
        Assert.Equal(
            new Dictionary<string, int> { [ShardId(0)] = 333, [ShardId(1)] = 334, [ShardId(2)] = 334 },
            shards);

        // All of them younger than the minimum age: listed and reported, not read.
        (RedriveReport report, string[] lines) = models.Run(minAge: s_minAge);
        Assert.Equal(1001, lines.Count(l => l.EndsWith(": written less than 15 minutes ago; run again later", StringComparison.Ordinal)));
        Assert.Equal("spills: 1001 spill objects, 0 samples applied, 0 already in the table, 0 undecided, 0 objects deleted, 1001 left", lines[^1]);
        Assert.Equal((1001, 1001), (report.Objects, report.Left));
    }

    /// <summary>
    /// The prefix is the sink's, given with or without slashes: the objects under <c>prefix/</c> are read, whatever their
    /// names; a sibling prefix that starts alike (<c>spillover/</c>) is not touched. A spill under a name that does not end
    /// in <c>.json</c> (<c>notes.txt</c> holding shard 2's spill) is no longer skipped without a word: it is left and
    /// named, and its shard counts as one with spills waiting (see <c>SpillRedriveOtherNameTests</c>).
    /// </summary>
    [Theory]
    [InlineData("spill")]
    [InlineData("spill/")]
    [InlineData("/spill/")]
    public async Task EveryObjectUnderThePrefix_IsRead_NoneOutsideIt(string prefix)
    {
        using var models = new SpillRedriveModels();
        string spill = SpillKey(0);
        string[] others = [$"spill/s/{ShardId(2)}/notes.txt", $"spillover/s/{ShardId(1)}/{Sequence(1)}.json"]; // in key order
        models.Put(spill, SpillBody(0, "m", "a", [2, 3]));
        models.Put(others[1], SpillBody(1, "m", "a", [5]));
        models.Put(others[0], SpillBody(2, "m", "a", [7]));

        IReadOnlyDictionary<string, int> shards = await SpillRedrive.ShardsWithObjectsAsync(models.S3Client, SpillRedriveModels.Bucket, prefix, CancellationToken.None);
        Assert.Equal(new Dictionary<string, int> { [ShardId(0)] = 1, [ShardId(2)] = 1 }, shards);

        (_, string[] lines) = models.Run(prefix);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith($"left {others[0]}: its body is spill {Sequence(1)} of shard {ShardId(2)}, which the function writes under the name .../s/{ShardId(2)}/{Sequence(1)}.json", lines[0], StringComparison.Ordinal);
        Assert.Equal("spills: 2 spill objects, 2 samples applied, 0 already in the table, 0 undecided, 1 objects deleted, 1 left", lines[1]);
        Assert.Equal(others, models.Keys());
        Assert.Equal([(Series("m"), "2025-01-01T00:00:00.000Z", 2L, 5.0)], models.Items());
    }

    /// <summary>A sink writing at the bucket's root (prefix empty, or only a slash): the whole bucket is listed.</summary>
    [Theory]
    [InlineData("")]
    [InlineData("/")]
    public async Task AnEmptyPrefix_ListsTheWholeBucket(string prefix)
    {
        using var models = new SpillRedriveModels();
        models.Put($"s/{ShardId(0)}/{Sequence(1)}.json", SpillBody(0, "m", "a", [2, 3]));

        IReadOnlyDictionary<string, int> shards = await SpillRedrive.ShardsWithObjectsAsync(models.S3Client, SpillRedriveModels.Bucket, prefix, CancellationToken.None);
        Assert.Equal(new Dictionary<string, int> { [ShardId(0)] = 1 }, shards);
        (_, string[] lines) = models.Run(prefix);
        Assert.Equal(["spills: 1 spill objects, 2 samples applied, 0 already in the table, 0 undecided, 1 objects deleted, 0 left"], lines);
        Assert.Empty(models.Keys());
    }

    /// <summary>
    /// A run reads at most its bound of objects: with more in the bucket it says so and applies those it read; the
    /// next runs take the rest, and a run that finds exactly its bound has nothing more to say.
    /// </summary>
    [Fact]
    public void MoreObjectsThanARunReads_TheRunSaysSo_AndTheNextRunsTakeTheRest()
    {
        using var models = new SpillRedriveModels();
        for (int shard = 0; shard < 6; shard++)
        {
            models.Put(SpillKey(shard), SpillBody(shard, "m", "a", [shard + 1]));
        }

        const string Note = "note: more than 2 objects; this run applies the first 2, run again for the rest";
        const string TwoApplied = "spills: 2 spill objects, 2 samples applied, 0 already in the table, 0 undecided, 2 objects deleted, 0 left";
        const string MoreToRead = TwoApplied + ", more not read yet (run again)";
        (RedriveReport first, string[] firstLines) = models.Run(maxObjects: 2);
        Assert.Equal([Note, MoreToRead], firstLines);
        Assert.False(first.Done);
        Assert.Equal([SpillKey(2), SpillKey(3), SpillKey(4), SpillKey(5)], models.Keys());
        Assert.Equal([Note, MoreToRead], models.Run(maxObjects: 2).Lines);
        (RedriveReport last, string[] lastLines) = models.Run(maxObjects: 2);
        Assert.Equal([TwoApplied], lastLines);
        Assert.True(last.Done);
        Assert.Empty(models.Keys());
        Assert.Equal([(Series("m"), "2025-01-01T00:00:00.000Z", 6L, 21.0)], models.Items());
    }

    /// <summary>
    /// A young object holds back its whole shard: an older object of the same shard may hold earlier records of the
    /// same keys, so it is left too (and said why); another shard's object is applied. Once old enough, both go.
    /// </summary>
    [Fact]
    public void AShardWithAYoungObject_WaitsAsAWhole()
    {
        using var models = new SpillRedriveModels();
        string older = SpillKey(0), young = SpillKey(0, firstRecord: 3), otherShard = SpillKey(1);
        models.Put(older, SpillBody(0, "a", "p", [1, 2]));
        models.Put(otherShard, SpillBody(1, "c", "p", [4]));
        models.Clock.Advance(TimeSpan.FromMinutes(20));
        models.Put(young, SpillBody(0, "b", "p", [8], firstRecord: 3));

        Assert.Equal(
            [
                $"left {young}: written less than 15 minutes ago; run again later",
                $"left {older}: another spill object of shard {ShardId(0)} is unreadable, too young, not under its own key or a copy",
                "spills: 3 spill objects, 1 samples applied, 0 already in the table, 0 undecided, 1 objects deleted, 2 left",
            ],
            models.Run(minAge: s_minAge).Lines);
        Assert.Equal([older, young], models.Keys());
        Assert.Equal([(Series("c"), "2025-01-01T00:00:00.000Z", 1L, 4.0)], models.Items());

        models.Clock.Advance(TimeSpan.FromMinutes(20));
        Assert.Equal(["spills: 2 spill objects, 3 samples applied, 0 already in the table, 0 undecided, 2 objects deleted, 0 left"], models.Run(minAge: s_minAge).Lines);
        Assert.Empty(models.Keys());
        Assert.Equal([2L, 1L, 1L], models.Items().Select(i => i.Count));
    }

    /// <summary>Each required argument is checked by name before anything is listed or written.</summary>
    [Theory]
    [InlineData("time")]
    [InlineData("s3")]
    [InlineData("table")]
    [InlineData("output")]
    public async Task AMissingArgument_IsRejectedByName(string missing)
    {
        using var models = new SpillRedriveModels();
        ArgumentNullException e = await Assert.ThrowsAsync<ArgumentNullException>(() => SpillRedrive.ApplyAsync(
            missing == "s3" ? null! : models.S3Client,
            SpillRedriveModels.Bucket,
            "spill",
            missing == "table" ? null! : models.Sink(),
            missing == "output" ? null! : TextWriter.Null,
            TimeSpan.Zero,
            missing == "time" ? null! : models.Clock,
            CancellationToken.None));
        Assert.Equal(missing, e.ParamName);
    }

    /// <summary>The shard count checks its client by name too.</summary>
    [Fact]
    public async Task TheShardCount_RejectsAMissingClient()
    {
        ArgumentNullException e = await Assert.ThrowsAsync<ArgumentNullException>(() => SpillRedrive.ShardsWithObjectsAsync(null!, SpillRedriveModels.Bucket, "spill", CancellationToken.None));
        Assert.Equal("s3", e.ParamName);
    }
}
