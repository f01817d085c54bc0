using Analytics.Tools;
using static Analytics.Core.Testing.Tests.RedriveObjects;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A spill object the redrive cannot read (not a spill object, or S3 failing the read) is left, reported with its reason
/// and counted, and it holds back every other object of its shard: applying a later spill of one of its keys would move
/// the key's redrive mark past the records the unread object holds. Other shards go on. Models in virtual time.
/// </summary>
public class SpillRedriveUnreadableTests
{
    private static readonly string s_shard0First = SpillKey(0);
    private static readonly string s_shard0Second = $"spill/s/{ShardId(0)}/{Sequence(5)}.json";
    private static readonly string s_shard2 = SpillKey(2);

    [Fact]
    public void AnObjectThatIsNotASpill_IsLeftWithItsReason_AndHoldsBackItsShardOnly()
    {
        using var models = new SpillRedriveModels();
        models.Put(s_shard0First, SpillBody(0, "a", "k", [1]));
        models.Put(s_shard0Second, "not json");
        models.Put(s_shard2, SpillBody(2, "b", "k", [1000]));

        (RedriveReport report, string[] lines) = models.Run();

        Assert.Equal(
            [
                $"left {s_shard0Second}: malformed spill object: JsonReaderException",
                $"left {s_shard0First}: another spill object of shard {ShardId(0)} is unreadable, too young, not under its own key or a copy",
                "spills: 3 spill objects, 1 samples applied, 0 already in the table, 0 undecided, 1 objects deleted, 2 left",
            ],
            lines);
        Assert.Equal((3, 1, 1, 1, 2), (report.Objects, report.Unreadable, report.Applied, report.Deleted, report.Left));
        Assert.Equal([("b|region=r", 1L, 1000.0)], models.Items().Select(i => (i.Pk, i.Count, i.Sum)));
        Assert.Equal([s_shard0First, s_shard0Second], models.Keys());
    }

    [Fact]
    public void ObjectsS3FailsToRead_AreLeftAsNotRead_NothingApplied()
    {
        using var models = new SpillRedriveModels();
        models.Put(s_shard0First, SpillBody(0, "a", "k", [1]));
        models.Put(s_shard2, SpillBody(2, "b", "k", [1000]));
        models.Faults.FailSpillReads = true;

        (RedriveReport report, string[] lines) = models.Run();

        Assert.Equal(
            [
                $"left {s_shard0First}: could not be read: AmazonS3Exception",
                $"left {s_shard2}: could not be read: AmazonS3Exception",
                "spills: 2 spill objects, 0 samples applied, 0 already in the table, 0 undecided, 0 objects deleted, 2 left",
            ],
            lines);
        Assert.Equal((2, 2), (report.Unreadable, report.Left));
        Assert.Empty(models.Items());
    }
}
