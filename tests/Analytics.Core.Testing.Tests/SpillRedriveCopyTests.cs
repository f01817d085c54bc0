using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests;
using Analytics.Tools;
using static Analytics.Core.Testing.Tests.RedriveObjects;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A spill object under another key than the one the function writes for its body (found by review): a careless
/// operator's backup before an edit, a folder synced beside the spills, a moved object. Each such copy was applied
/// beside its original (count 4 for the 2 records), both were deleted, and the run said "done, nothing left". Now the
/// object is left and named, its shard waits (it may hold the only copy of some records), and once the copy is gone
/// the original is applied once.
/// </summary>
public class SpillRedriveCopyTests
{
    // Truth: records 1 and 2 of key "a", values 2 and 3: count 2, sum 5.
    [Theory]
    [InlineData("spill/s/shardId-000000000000/49590000000000000000000000000000000000000000000000000000001.orig.json", false)]
    [InlineData("spill/s-backup/shardId-000000000000/49590000000000000000000000000000000000000000000000000000001.json", false)]
    [InlineData("spill/s/shardId-000000000000/copy of 4959.json", false)]
    [InlineData("spill/s/shardId-000000000000/49590000000000000000000000000000000000000000000000000000001-copy.json", true)]
    [InlineData("spill/s/shardId-000000000000/49590000000000000000000000000000000000000000000000000000001.json.bak", false)]
    [InlineData("spill/s/shardId-000000000000/49590000000000000000000000000000000000000000000000000000001", true)]
    public void ASpillObjectUnderAnotherKey_IsLeftAndNamed_AndTheOriginalIsAppliedOnceWhenTheCopyIsGone(string copyKey, bool outcomeUnknown)
    {
        using var models = new SpillRedriveModels();
        string body = SpillBody(0, "m", "a", [2, 3]);
        if (outcomeUnknown)
        {
            body = body.Replace("\"outcomeUnknown\":false", "\"outcomeUnknown\":true", StringComparison.Ordinal);
            Assert.Contains("\"outcomeUnknown\":true", body, StringComparison.Ordinal);
        }

        Assert.NotEqual(SpillKey(0), copyKey);
        models.Put(SpillKey(0), body);
        models.Put(copyKey, body);

        (RedriveReport report, string[] lines) = models.Run();
        Assert.False(report.Done, string.Join("\n", lines));
        Assert.Empty(models.Items());
        Assert.Equal(new[] { SpillKey(0), copyKey }.Order(StringComparer.Ordinal), models.Keys().Order(StringComparer.Ordinal));
        Assert.Contains(lines, l => l.StartsWith($"left {copyKey}: its body is spill {Sequence(1)} of shard {ShardId(0)}, which the function writes under the name .../s/{ShardId(0)}/{Sequence(1)}.json", StringComparison.Ordinal));

        models.Pump(models.S3Client.DeleteObjectAsync(SpillRedriveModels.Bucket, copyKey));
        (report, lines) = models.Run();
        Assert.True(report.Done, string.Join("\n", lines));
        Assert.Equal([(Series("m"), "2025-01-01T00:00:00.000Z", 2L, 5.0)], models.Items());
        Assert.Empty(models.Keys());
    }

    // The review of the change: an operator who gives one stream's folder as the prefix (spill/s) must still get the
    // function's own objects applied; the names are checked from the stream on.
    [Theory]
    [InlineData("spill/s")]
    [InlineData("spill/s/")]
    [InlineData("spill")]
    public void TheFunctionsOwnObjects_AreAppliedUnderANarrowerPrefix(string prefix)
    {
        using var models = new SpillRedriveModels();
        models.Put(SpillKey(0), SpillBody(0, "m", "a", [2, 3]));

        (RedriveReport report, string[] lines) = models.Run(prefix);
        Assert.True(report.Done, string.Join("\n", lines));
        Assert.Equal([(Series("m"), "2025-01-01T00:00:00.000Z", 2L, 5.0)], models.Items());
    }

    // A prefix that spans two folders holding the same spill (a backup folder beside the function's): both wait, and
    // the line names both, since which one is the function's is not for the redrive to guess.
    [Fact]
    public void TheSameSpillUnderTwoPrefixes_BothWait_NamingBoth()
    {
        using var models = new SpillRedriveModels();
        string body = SpillBody(0, "m", "a", [2, 3]);
        string backup = "backup/" + SpillKey(0);
        models.Put(SpillKey(0), body);
        models.Put(backup, body);

        (RedriveReport report, string[] lines) = models.Run(prefix: string.Empty);
        Assert.False(report.Done, string.Join("\n", lines));
        Assert.Empty(models.Items());
        Assert.Contains(lines, l => l.StartsWith($"left {SpillKey(0)}: 2 objects hold spill {Sequence(1)} of shard {ShardId(0)} ({backup}, {SpillKey(0)})", StringComparison.Ordinal));
    }
}

/// <summary>
/// Objects under the prefix whose names do not end in <c>.json</c> (found by review): they were not listed at all, so a
/// spill renamed away from its name (a backup before an edit) was skipped without a word; when it was its shard's only
/// copy of some records, a later spill of the same key was applied past them and the run said "done". Now every object
/// but the shard markers and folder placeholders is read: a spill under another name holds its shard back and is named,
/// and an object that is no spill is left and named.
/// </summary>
public class SpillRedriveOtherNameTests
{
    // Truth: spill 1 (records 1, 2: values 2, 3) and spill 2 (record 3: value 4) of key "a": count 3, sum 9.
    [Theory]
    [InlineData(".bak")]
    [InlineData(".json.orig")]
    [InlineData("")]
    public void TheOnlyCopyOfASpill_RenamedAwayFromJson_HoldsItsShardBack_AndIsAppliedOnceWhenNamedAgain(string suffix)
    {
        using var models = new SpillRedriveModels();
        string renamed = SpillKey(0)[..^".json".Length] + suffix;
        string body = SpillBody(0, "m", "a", [2, 3]);
        models.Put(renamed, body);
        models.Put(SpillKey(0, firstRecord: 3), SpillBody(0, "m", "a", [4], firstRecord: 3));

        (RedriveReport report, string[] lines) = models.Run();
        Assert.False(report.Done, string.Join("\n", lines));
        Assert.Empty(models.Items());
        Assert.Contains(lines, l => l.StartsWith($"left {renamed}: its body is spill {Sequence(1)} of shard {ShardId(0)}", StringComparison.Ordinal));
        Assert.Equal(new[] { renamed, SpillKey(0, firstRecord: 3) }.Order(StringComparer.Ordinal), models.Keys().Order(StringComparer.Ordinal));

        models.Put(SpillKey(0), body); // renamed back: the S3 model has no CopyObject
        models.Pump(models.S3Client.DeleteObjectAsync(SpillRedriveModels.Bucket, renamed));
        (report, lines) = models.Run();
        Assert.True(report.Done, string.Join("\n", lines));
        Assert.Equal([(Series("m"), "2025-01-01T00:00:00.000Z", 3L, 9.0)], models.Items());
        Assert.Empty(models.Keys());
    }

    // Not a spill at all (a note an operator left in the folder): left and named, its folder's shard waits; once it is
    // gone the spills are applied. A folder placeholder (the console's "Create folder") and the shard's marker are not
    // objects to apply and say nothing.
    [Fact]
    public void AnObjectThatIsNoSpill_IsLeftAndNamed_AFolderPlaceholderIsNot()
    {
        using var models = new SpillRedriveModels();
        string note = $"spill/s/{ShardId(0)}/README.txt";
        string folder = $"spill/s/{ShardId(0)}/";
        models.Put(SpillKey(0), SpillBody(0, "m", "a", [2, 3]));
        models.Put(note, "kept for the audit");
        models.Put(folder, string.Empty);

        (RedriveReport report, string[] lines) = models.Run();
        Assert.False(report.Done, string.Join("\n", lines));
        Assert.Empty(models.Items());
        Assert.Contains(lines, l => l.StartsWith($"left {note}: ", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains($"left {folder}:", StringComparison.Ordinal));

        models.Pump(models.S3Client.DeleteObjectAsync(SpillRedriveModels.Bucket, note));
        (report, lines) = models.Run();
        Assert.True(report.Done, string.Join("\n", lines));
        Assert.Equal([(Series("m"), "2025-01-01T00:00:00.000Z", 2L, 5.0)], models.Items());
        Assert.Equal([folder], models.Keys());
    }
}

/// <summary>
/// What the wider reading of the prefix must not take (review of the change that read objects of any name): Lambda's
/// on-failure objects in a bucket shared with the spills, under an empty spill prefix, were read as spills and held the
/// run back for good; a large object in a shard's folder was downloaded whole on every run.
/// </summary>
public class SpillRedriveOtherObjectTests
{
    [Fact]
    public void LambdasOnFailureObjects_InABucketSharedWithTheSpills_AreNotReadAsSpills()
    {
        using var models = new SpillRedriveModels();
        string spill = $"s/{ShardId(0)}/{Sequence(1)}.json";
        models.Put(spill, SpillBody(0, "m", "a", [2, 3]));
        string destination = DestinationKey(0, "7d2c1a90-0000-4000-8000-000000000001");
        Assert.StartsWith("aws/lambda/", destination, StringComparison.Ordinal);
        models.Put(destination, """{"requestContext":{"condition":"RetryAttemptsExhausted","approximateInvokeCount":1},"version":"1.0","KinesisBatchInfo":{"shardId":"shardId-000000000000"}}""");

        (RedriveReport report, string[] lines) = models.Run(prefix: string.Empty);

        Assert.Equal([(Series("m"), "2025-01-01T00:00:00.000Z", 2L, 5.0)], models.Items());
        Assert.True(report.Done, string.Join("\n", lines));
        Assert.DoesNotContain(lines, l => l.Contains(destination, StringComparison.Ordinal));
        Assert.Equal([destination], models.Keys());
    }

    // In a shard's folder and not named as a spill: above the bound it is left and named without being read (its shard
    // waits: it may be a renamed spill); a spill's own name is read whatever its size.
    [Fact]
    public void ALargeObjectNotNamedAsASpill_IsLeftWithoutBeingRead()
    {
        using var models = new SpillRedriveModels();
        string archive = $"spill/s/{ShardId(0)}/backup.tar.gz";
        models.Put(SpillKey(0), SpillBody(0, "m", "a", [2, 3]));
        models.Put(archive, new string('x', 2_000));
        long requests = models.S3.Counters.Requests;

        (RedriveReport report, string[] lines) = models.Run(maxOtherObjectBytes: 1_999);

        Assert.False(report.Done, string.Join("\n", lines));
        Assert.Contains(lines, l => l.StartsWith($"left {archive}: not named as a spill (.json) and 2,000 bytes, more than the redrive reads of such an object (1,999)", StringComparison.Ordinal));
        Assert.Empty(models.Items()); // its shard waits
        Assert.Equal(requests + 2, models.S3.Counters.Requests); // the listing and the spill's read: the archive was not read

        (report, lines) = models.Run(maxOtherObjectBytes: 2_000); // at the bound it is read: no spill, left and named
        Assert.Contains(lines, l => l.StartsWith($"left {archive}: ", StringComparison.Ordinal) && !l.Contains("not named as a spill", StringComparison.Ordinal));

        // The spill's own name is read whatever its size (the bound is for other names).
        models.Pump(models.S3Client.DeleteObjectAsync(SpillRedriveModels.Bucket, archive));
        Assert.True(SpillBody(0, "m", "a", [2, 3]).Length > 100);
        (report, lines) = models.Run(maxOtherObjectBytes: 100);
        Assert.True(report.Done, string.Join("\n", lines));
        Assert.Equal([(Series("m"), "2025-01-01T00:00:00.000Z", 2L, 5.0)], models.Items());
    }
}

/// <summary>The same through the <c>redrive</c> command, on the local DynamoDB and S3 servers.</summary>
[Collection(LocalServersCollection.Name)]
public sealed class SpillRedriveCopyCommandTests(LocalServersFixture servers)
{
    [Fact]
    public async Task ASpillObjectCopiedUnderAnotherKey_ExitsNotDone_AppliesNothing_AndIsAppliedOnceWhenTheCopyIsGone()
    {
        using RedriveScene scene = await RedriveScene.CreateAsync(servers, "spillcopy");
        string body = SpillBody(0, "m", "a", [2, 3]);
        string copy = SpillKey(0).Replace(".json", ".bak.json", StringComparison.Ordinal);
        await scene.PutSpillAsync(SpillKey(0), body);
        await scene.PutSpillAsync(copy, body);

        (int exit, string output) = await scene.RedriveAsync(scene.Spill, null);
        Assert.True(exit == 1, output);
        Assert.Contains($"left {copy}: its body is spill {Sequence(1)} of shard {ShardId(0)}", output, StringComparison.Ordinal);
        Assert.DoesNotContain((await scene.DynamoDb.ScanAsync(new ScanRequest { TableName = scene.Table, ConsistentRead = true })).Items, i => i["sk"].S != "lease");
        Assert.Equal(2, await scene.CountAsync(scene.Spill, "spill/"));

        await scene.S3.DeleteObjectAsync(scene.Spill, copy);
        (exit, output) = await scene.RedriveAsync(scene.Spill, null);
        Assert.True(exit == 0, output);
        Dictionary<string, AttributeValue> item = await scene.ItemAsync();
        Assert.Equal(("2", "5"), (item["count"].N, item["sum"].N));
        Assert.Equal(0, await scene.CountAsync(scene.Spill, "spill/"));
    }
}
