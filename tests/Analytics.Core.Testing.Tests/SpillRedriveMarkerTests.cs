using Analytics.Core.Tests;
using Analytics.Tools;
using static Analytics.Core.Testing.Tests.RedriveObjects;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// When a spill redrive removes a shard's marker (<c>&lt;prefix&gt;/&lt;stream&gt;/&lt;shard&gt;/unresolved.marker</c>,
/// which makes the live writes keep pre-write watermarks): only once nothing of the shard is left, only after a full
/// listing, and only if no spill rewrote it since; a failed removal is a note, not a change of the report. A marker is
/// never taken for a spill object. Against the S3 and DynamoDB models in virtual time.
/// </summary>
public class SpillRedriveMarkerTests
{
    private static readonly TimeSpan s_minAge = TimeSpan.FromMinutes(15);

    /// <summary>The marker key of the <see cref="SpillWrites"/> shard (stream <c>metrics</c>).</summary>
    private static readonly string s_writtenMarker = $"spill/metrics/{TestEvents.ShardId}/unresolved.marker";

    /// <summary>
    /// A spill whose items could not be read writes its object and the shard's marker; a run that applies and deletes
    /// the object deletes the marker too, leaving the bucket empty.
    /// </summary>
    [Fact]
    public void EveryObjectOfTheShardAppliedAndDeleted_TheMarkerIsDeletedToo()
    {
        using var world = UnknownSpill();

        (RedriveReport report, string[] lines) = world.Models.Run();

        Assert.Equal(["spills: 1 spill objects, 2 samples applied, 0 already in the table, 0 undecided, 1 objects deleted, 0 left"], lines);
        Assert.True(report.Done);
        Assert.Empty(world.Models.Keys());
    }

    /// <summary>
    /// An object of the shard is left (its samples cannot be decided, another object of the shard is unreadable, it is
    /// too young, or its write failed): the live writes must go on keeping what decides it, so the marker stays as it was.
    /// </summary>
    [Theory]
    [InlineData("undecided", "2 sample(s) cannot be decided")]
    [InlineData("unreadable", "another spill object of shard " + TestEvents.ShardId + " is unreadable, too young, not under its own key or a copy")]
    [InlineData("too young", "written less than 15 minutes ago")]
    [InlineData("write failed", "ResourceNotFoundException")]
    public void AnObjectOfTheShardLeft_TheMarkerStays(string why, string said)
    {
        using var world = UnknownSpill();
        string marker = Body(world.Models, s_writtenMarker);
        var minAge = TimeSpan.Zero;
        string table = SpillRedriveModels.Table;
        switch (why)
        {
            case "undecided":
                // A live write by a function that could not read the marker moves the key's watermark past the spilled
                // samples and keeps nothing: whether the spilled attempt's put landed cannot be told.
                // Later than the processor's next probe of the table (a spilling shard's invocations in between spill
                // without a live write).
                world.Table.SpillMarkers = null;
                world.Models.Clock.Advance(TimeSpan.FromSeconds(5));
                world.Invoke(false, (5, "a", "alpha", 5));
                break;
            case "unreadable":
                world.Models.Put($"spill/metrics/{TestEvents.ShardId}/{TestEvents.Seq(9)}.json", "not a spill object");
                break;
            case "too young":
                minAge = s_minAge;
                break;
            default:
                table = "missing";
                break;
        }

        (RedriveReport report, string[] lines) = world.Models.Run(minAge: minAge, table: table);

        Assert.Contains(lines, l => l.StartsWith($"left {SpillWrites.Key(1)}: ", StringComparison.Ordinal) && l.Contains(said, StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.StartsWith("note:", StringComparison.Ordinal));
        Assert.False(report.Done);
        Assert.Contains(SpillWrites.Key(1), world.Models.Keys());
        Assert.Equal(marker, Body(world.Models, s_writtenMarker));
    }

    /// <summary>Two shards, one done and one with an unreadable object: only the done shard's marker goes.</summary>
    [Fact]
    public void TwoShards_OnlyTheDoneShardsMarkerGoes()
    {
        using var models = new SpillRedriveModels();
        models.Put(SpillKey(0), SpillBody(0, "m", "a", [2, 3]));
        models.Put(SpillKey(1), "not a spill object");
        PutMarker(models, 0, 2);
        PutMarker(models, 1, 1);

        (RedriveReport report, _) = models.Run();

        Assert.Equal((2, 1, 2, 1, 1), (report.Objects, report.Unreadable, report.Applied, report.Deleted, report.Left));
        Assert.Equal([SpillKey(1), MarkerKey(1)], models.Keys());
    }

    /// <summary>
    /// A spill of the shard lands while the run works (after its listing; here during the first lease renewal): its
    /// object, then the marker rewritten with its unknown samples. The marker's ETag is no longer the listed one, so it
    /// stays, with the new body, for the run that finds that spill; that run applies the object and removes the marker.
    /// </summary>
    [Fact]
    public void AMarkerRewrittenAfterTheListing_Stays()
    {
        using var models = new SpillRedriveModels();
        models.Put(SpillKey(0), SpillBody(0, "m", "a", [2, 3]));
        PutMarker(models, 0, 2);
        string later = SpillKey(0, firstRecord: 5);
        int renewals = 0;

        (RedriveReport report, string[] lines) = models.Run(heartbeat: _ =>
        {
            if (++renewals == 1)
            {
                models.Put(later, SpillBody(0, "m", "b", [7], firstRecord: 5));
                PutMarker(models, 0, 7);
            }

            return Task.CompletedTask;
        });

        Assert.Equal(["spills: 1 spill objects, 2 samples applied, 0 already in the table, 0 undecided, 1 objects deleted, 0 left"], lines);
        Assert.True(report.Done);
        Assert.Equal([later, MarkerKey(0)], models.Keys());
        Assert.Equal(new SpillMarker(Sequence(7), null).ToJson(), models.S3.GetObjects(SpillRedriveModels.Bucket)[1].Body.ToArray());

        Assert.Equal(["spills: 1 spill objects, 1 samples applied, 0 already in the table, 0 undecided, 1 objects deleted, 0 left"], models.Run().Lines);
        Assert.Empty(models.Keys());
        Assert.Equal([(Series("m"), "2025-01-01T00:00:00.000Z", 3L, 12.0)], models.Items());
    }

    /// <summary>
    /// The same race one step later (found by review): the marker is rewritten after the run checked its ETag and before
    /// its delete reaches S3. The delete is conditional on the checked ETag, so the rewritten marker stays.
    /// </summary>
    [Fact]
    public void AMarkerRewrittenBetweenTheChecksAndTheDelete_Stays()
    {
        using var models = new SpillRedriveModels();
        PutMarker(models, 0, 3);
        bool rewritten = false;
        models.Faults.BeforeS3Request = request =>
        {
            if (!rewritten && request.Method == HttpMethod.Delete && request.RequestUri!.AbsolutePath.EndsWith(MarkerKey(0), StringComparison.Ordinal))
            {
                rewritten = true;
                PutMarker(models, 0, 9);
            }
        };

        (RedriveReport report, string[] lines) = models.Run();

        Assert.True(rewritten);
        Assert.True(report.Done, string.Join("\n", lines));
        Assert.Equal([MarkerKey(0)], models.Keys());
        Assert.Equal(new SpillMarker(Sequence(9), null).ToJson(), models.S3.GetObjects(SpillRedriveModels.Bucket)[0].Body.ToArray());

        // Unchanged since the next run's check, it goes.
        models.Faults.BeforeS3Request = null;
        Assert.True(models.Run().Report.Done);
        Assert.Empty(models.Keys());
    }

    /// <summary>
    /// A run whose listing stops at its bound of objects has not seen every object of any shard for sure: it deletes no
    /// marker, not even those of the shards it finished (listed before the cut). The next, complete, run deletes them.
    /// </summary>
    [Fact]
    public void AListingCutShortByTheBound_DeletesNoMarker()
    {
        using var models = new SpillRedriveModels();
        for (int shard = 0; shard < 3; shard++)
        {
            models.Put(SpillKey(shard), SpillBody(shard, "m", "a", [shard + 1]));
            PutMarker(models, shard, 1);
        }

        // Pages of two keys: an object and its shard's marker, twice, then the cut.
        Assert.Equal(
            [
                "note: more than 2 objects; this run applies the first 2, run again for the rest",
                "spills: 2 spill objects, 2 samples applied, 0 already in the table, 0 undecided, 2 objects deleted, 0 left, more not read yet (run again)",
            ],
            models.Run(maxObjects: 2).Lines);
        Assert.Equal([MarkerKey(0), MarkerKey(1), SpillKey(2), MarkerKey(2)], models.Keys());

        Assert.Equal(["spills: 1 spill objects, 1 samples applied, 0 already in the table, 0 undecided, 1 objects deleted, 0 left"], models.Run().Lines);
        Assert.Empty(models.Keys());
    }

    /// <summary>A marker with no spill object beside it (its objects went in an earlier run whose removal failed) is deleted.</summary>
    [Fact]
    public void AMarkerWithNoSpillObject_IsDeleted()
    {
        using var models = new SpillRedriveModels();
        PutMarker(models, 0, 1);

        (RedriveReport report, string[] lines) = models.Run();

        Assert.Equal(["spills: 0 spill objects, 0 samples applied, 0 already in the table, 0 undecided, 0 objects deleted, 0 left"], lines);
        Assert.True(report.Done);
        Assert.Empty(models.Keys());
    }

    /// <summary>A marker already removed (by another run) between the listing and its removal: no note, nothing left.</summary>
    [Fact]
    public void AMarkerGoneSinceTheListing_NoNote()
    {
        using var models = new SpillRedriveModels();
        models.Put(SpillKey(0), SpillBody(0, "m", "a", [2, 3]));
        PutMarker(models, 0, 2);

        (RedriveReport report, string[] lines) = models.Run(heartbeat: async token =>
        {
            await models.S3Client.DeleteObjectAsync(SpillRedriveModels.Bucket, MarkerKey(0), token);
        });

        Assert.Equal(["spills: 1 spill objects, 2 samples applied, 0 already in the table, 0 undecided, 1 objects deleted, 0 left"], lines);
        Assert.Equal(new RedriveReport(1, 0, 2, 0, 0, 1, 0), report);
        Assert.Empty(models.Keys());
    }

    /// <summary>
    /// S3 refuses the marker's metadata read or its delete: the run says so in a note and reports what it did to the
    /// spill objects as it would otherwise; the marker stays, and the next run removes it.
    /// </summary>
    [Theory]
    [InlineData("HEAD")]
    [InlineData("DELETE")]
    public void TheMarkerCannotBeRemoved_ANote_AndTheReportIsUnchanged(string refused)
    {
        using var models = new SpillRedriveModels();
        models.Put(SpillKey(0), SpillBody(0, "m", "a", [2, 3]));
        PutMarker(models, 0, 2);
        models.Faults.RefuseS3 = (method, path) => method.Method == refused && path.EndsWith("/unresolved.marker", StringComparison.Ordinal);

        (RedriveReport report, string[] lines) = models.Run();

        Assert.Equal(
            [
                $"note: the marker {MarkerKey(0)} could not be removed (AmazonS3Exception); the live function keeps pre-write watermarks for its shard until a run removes it",
                "spills: 1 spill objects, 2 samples applied, 0 already in the table, 0 undecided, 1 objects deleted, 0 left",
            ],
            lines);
        Assert.Equal(new RedriveReport(1, 0, 2, 0, 0, 1, 0), report);
        Assert.Equal([MarkerKey(0)], models.Keys());

        models.Faults.RefuseS3 = null;
        Assert.Equal(["spills: 0 spill objects, 0 samples applied, 0 already in the table, 0 undecided, 0 objects deleted, 0 left"], models.Run().Lines);
        Assert.Empty(models.Keys());
    }

    /// <summary>
    /// A marker is not a spill object: the shard count behind the destination redrive's hold does not count it (a shard
    /// with only a marker has nothing to wait for), and a run neither counts nor reads it (read, it would be unreadable
    /// and hold back its shard's object).
    /// </summary>
    [Fact]
    public async Task AMarker_IsNeitherCountedNorReadAsASpillObject()
    {
        using var models = new SpillRedriveModels();
        models.Put(SpillKey(0), SpillBody(0, "m", "a", [2, 3]));
        PutMarker(models, 0, 2);
        PutMarker(models, 1, 1);

        IReadOnlyDictionary<string, int> shards = await SpillRedrive.ShardsWithObjectsAsync(models.S3Client, SpillRedriveModels.Bucket, "spill", CancellationToken.None);
        Assert.Equal(new Dictionary<string, int> { [ShardId(0)] = 1 }, shards);

        (RedriveReport report, string[] lines) = models.Run();
        Assert.Equal(["spills: 1 spill objects, 2 samples applied, 0 already in the table, 0 undecided, 1 objects deleted, 0 left"], lines);
        Assert.Equal(0, report.Unreadable);
        Assert.Equal([(Series("m"), "2025-01-01T00:00:00.000Z", 2L, 5.0)], models.Items());
    }

    /// <summary>
    /// A spill of records 1 and 2 of key a whose items could not be read (its spill sink has no table): its one pair is
    /// outcomeUnknown, so it writes its object and its shard's marker.
    /// </summary>
    private static SpillWrites UnknownSpill()
    {
        var world = new SpillWrites();
        world.Spill = world.CreateSpill(readTable: false);
        world.Invoke(true, (1, "a", "alpha", 1), (2, "a", "alpha", 2));
        Assert.Equal([true], world.Results);
        Assert.Equal([SpillWrites.Key(1), s_writtenMarker], world.Models.Keys());
        return world;
    }

    private static string MarkerKey(int shard) => $"spill/s/{ShardId(shard)}/unresolved.marker";

    /// <summary>Stores shard <paramref name="shard"/>'s marker (stream <c>s</c>) for unknown samples up to record <paramref name="last"/>, every window.</summary>
    private static void PutMarker(SpillRedriveModels models, int shard, int last) =>
        models.S3.Deliver(SpillRedriveModels.Bucket, MarkerKey(shard), new SpillMarker(Sequence(last), null).ToJson(), "application/json");

    private static string Body(SpillRedriveModels models, string key) =>
        System.Text.Encoding.UTF8.GetString(models.S3.GetObjects(SpillRedriveModels.Bucket).Single(o => o.Key == key).Body.Span);
}
