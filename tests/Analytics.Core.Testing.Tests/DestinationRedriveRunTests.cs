using System.Globalization;
using System.Text;
using Amazon.DynamoDBv2.Model;
using Analytics.Tools.Redrive;
using static Analytics.Core.Testing.Tests.RedriveObjects;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// One destination redrive against the DynamoDB and S3 models in virtual time: what it lists, what it reports from
/// markers, how it runs the records it applies (events, heartbeats, the sinks' retries), and what it concludes from the
/// table afterwards. Records are of shard 0, partition key <c>a</c>, one sample of metric <c>m</c> each unless said.
/// </summary>
public class DestinationRedriveRunTests
{
    private static readonly string s_key = DestinationKey(0, "x");

    /// <summary>
    /// More markers than one S3 listing page holds (1,000): the object whose marker is on the second page is reported from
    /// it, not run again.
    /// </summary>
    [Fact]
    public async Task MarkersPastOneListingPage_AreAllFound()
    {
        using var models = new RedriveModels();
        await models.PutAsync(s_key, Batch(1, 3));
        Assert.True(Assert.Single(models.Run(models.Options())).Complete);
        for (int i = 0; i < 1_000; i++)
        {
            // Markers of objects gone since, sorting before the object's own.
            await models.PutAsync(DestinationRedriveOptions.MarkerPrefix + "aws/lambda/0000-" + i.ToString("D4", CultureInfo.InvariantCulture) + ".json", "null");
        }

        RedriveObjectResult again = Assert.Single(models.Run(models.Options()));

        Assert.Equal((s_key, true, 3, 3, 0), (again.Key, again.FromMarker, again.Records, again.Applied, again.AlreadyApplied));
        Assert.Equal(3, models.Count("m"));
    }

    /// <summary>
    /// A run writes what it did with the object next to it as JSON; with a prefix that covers the markers too (the whole
    /// bucket), the markers are not taken for destination objects, and the object is reported from its marker.
    /// </summary>
    [Fact]
    public async Task ARedrivenObject_IsReportedFromItsJsonMarker_EvenWhenThePrefixCoversTheMarkers()
    {
        using var models = new RedriveModels();
        await models.PutAsync(s_key, Batch(1, 2));
        Assert.True(Assert.Single(models.Run(models.Options())).Complete);
        S3ModelObject marker = models.Marker(s_key) ?? throw new InvalidOperationException("no marker");
        Assert.Equal("application/json", marker.ContentType);

        RedriveObjectResult again = Assert.Single(models.Run(models.Options(prefix: string.Empty)));

        Assert.Equal((s_key, ShardId(0), true, 2, 2, null), (again.Key, again.ShardId, again.FromMarker, again.Records, again.Applied, again.Error));
        Assert.Equal(2, models.Count("m"));
    }

    /// <summary>A marker that holds JSON <c>null</c> is reported as an empty marker, by its key: the object is not run again.</summary>
    [Fact]
    public async Task AnObjectWithAnEmptyMarker_IsReportedAsSuch_AndNotRunAgain()
    {
        using var models = new RedriveModels();
        await models.PutAsync(s_key, Batch(1, 2));
        await models.PutAsync(DestinationRedriveOptions.MarkerPrefix + s_key + ".json", "null");

        RedriveObjectResult result = Assert.Single(models.Run(models.Options()));

        Assert.Equal((s_key, "unknown", 0, 0, 0, true), (result.Key, result.ShardId, result.Records, result.Applied, result.AlreadyApplied, result.FromMarker));
        Assert.StartsWith($"its redrive marker {DestinationRedriveOptions.MarkerPrefix}{s_key}.json is empty", result.Error, StringComparison.Ordinal);
        Assert.Empty(result.Cases);
        Assert.Null(models.Item("m"));
    }

    /// <summary>
    /// Results come in key order whatever happened to each object: an unreadable object (reported while listing) whose
    /// key sorts after one that was run.
    /// </summary>
    [Fact]
    public async Task Results_ComeInKeyOrder_WhateverHappenedToEachObject()
    {
        using var models = new RedriveModels();
        string run = DestinationKey(1, "run"), unreadable = DestinationKey(2, "unreadable");
        await models.PutAsync(run, InvocationRecord(1, [Record(1, 1, "a", "m", 1)]));
        await models.PutAsync(unreadable, "not json");

        IReadOnlyList<RedriveObjectResult> results = models.Run(models.Options());

        Assert.Equal([run, unreadable], results.Select(r => r.Key));
        Assert.Equal((1, (string?)null), (results[0].Applied, results[0].Error));
        Assert.StartsWith("not JSON", results[1].Error, StringComparison.Ordinal);
    }

    /// <summary>
    /// An object S3 will not hand out now (throttled, an internal error) is left for a later run, as the spill phase leaves
    /// one, and the others are applied: it ended the whole run before, so under sustained throttling no run got through
    /// (found by review). A failed marker read likewise asks for another run, not for the marker to be deleted.
    /// </summary>
    [Fact]
    public async Task AnObjectOrMarkerThatCannotBeReadNow_IsLeftForTheNextRun_AndTheOthersAreApplied()
    {
        using var models = new RedriveModels();
        string refused = DestinationKey(1, "refused"), readable = DestinationKey(2, "readable");
        await models.PutAsync(refused, InvocationRecord(1, [Record(1, 1, "a", "m", 1)]));
        await models.PutAsync(readable, InvocationRecord(2, [Record(2, 1, "b", "m", 1)]));

        models.Faults.RefuseS3 = (method, path) => method == HttpMethod.Get && path.EndsWith(refused, StringComparison.Ordinal);
        IReadOnlyList<RedriveObjectResult> first = models.Run(models.Options());

        Assert.Equal([refused, readable], first.Select(r => r.Key));
        Assert.StartsWith("could not be read (AmazonS3Exception: ", first[0].Error, StringComparison.Ordinal);
        Assert.EndsWith("; run redrive again", first[0].Error, StringComparison.Ordinal);
        Assert.Equal((1, (string?)null), (first[1].Applied, first[1].Error));
        Assert.Equal(1, models.Count("m"));

        models.Faults.RefuseS3 = (method, path) => method == HttpMethod.Get && path.Contains(DestinationRedriveOptions.MarkerPrefix, StringComparison.Ordinal) && path.Contains("readable", StringComparison.Ordinal);
        IReadOnlyList<RedriveObjectResult> second = models.Run(models.Options());

        Assert.Equal((1, (string?)null), (second[0].Applied, second[0].Error));
        Assert.Contains("could not be read (AmazonS3Exception: ", second[1].Error, StringComparison.Ordinal);
        Assert.EndsWith("; run redrive again", second[1].Error, StringComparison.Ordinal);
        Assert.Equal(2, models.Count("m"));

        models.Faults.RefuseS3 = null;
        IReadOnlyList<RedriveObjectResult> third = models.Run(models.Options());
        Assert.All(third, r => Assert.True(r.FromMarker && r.Error is null, r.Error));
        Assert.Equal(2, models.Count("m"));
    }

    /// <summary>
    /// An object that cannot be read now holds back the other objects of its shard: applied first, the later records
    /// raised the watermark past the unread ones, and the next run could only report those undecided (found by the diff
    /// review). The next run, with S3 answering, applies all of them.
    /// </summary>
    [Fact]
    public async Task AnUnreadableObject_HoldsBackItsShardsOthers_SoTheNextRunAppliesAll()
    {
        using var models = new RedriveModels();
        string earlier = DestinationKey(0, "a-earlier"), later = DestinationKey(0, "b-later"), other = DestinationKey(1, "c-other");
        await models.PutAsync(earlier, InvocationRecord(0, 1, [Record(0, 1, "a", "m", 1), Record(0, 2, "a", "m", 1)]));
        await models.PutAsync(later, InvocationRecord(0, 3, [Record(0, 3, "a", "m", 1), Record(0, 4, "a", "m", 1)]));
        await models.PutAsync(other, InvocationRecord(1, [Record(1, 1, "b", "m", 1)]));

        models.Faults.RefuseS3 = (method, path) => method == HttpMethod.Get && path.EndsWith(earlier, StringComparison.Ordinal);
        IReadOnlyList<RedriveObjectResult> first = models.Run(models.Options());

        Assert.Equal([earlier, later, other], first.Select(r => r.Key));
        Assert.StartsWith("could not be read (", first[0].Error, StringComparison.Ordinal);
        Assert.True(first[1].HeldBack);
        Assert.Equal(0, first[1].Applied);
        Assert.Equal((1, (string?)null), (first[2].Applied, first[2].Error)); // another shard goes on
        Assert.Equal(1, models.Count("m"));

        models.Faults.RefuseS3 = null;
        IReadOnlyList<RedriveObjectResult> second = models.Run(models.Options());

        Assert.All(second, r => Assert.True(r.Complete, r.Error ?? string.Join("; ", r.Cases.Select(c => c.Status + ": " + c.Reason))));
        Assert.Equal(5, models.Count("m"));
    }

    /// <summary>
    /// The DynamoDB retry options given are the sink's: with one attempt a throttled write fails the run, and every pair
    /// is left with the pipeline's failure as the reason; two attempts get through the same throttle.
    /// </summary>
    [Fact]
    public async Task TheGivenDynamoDbRetry_IsTheSinks()
    {
        using var models = new RedriveModels();
        await models.PutAsync(s_key, Batch(1, 3));

        models.Faults.WritesToThrottle = 1;
        RedriveObjectResult once = Assert.Single(models.Run(models.RetryingOptions() with { DynamoDbRetry = models.Retry(1) }));

        Assert.StartsWith("the pipeline reported a failure at " + Sequence(1) + " (aggregate sink ", once.Error, StringComparison.Ordinal);
        Assert.Equal(3, once.Left);
        Assert.All(once.Cases, c => Assert.Equal(once.Error, c.Reason));
        Assert.Null(models.Marker(s_key));
        Assert.Null(models.Item("m"));

        models.Faults.WritesToThrottle = 1;
        RedriveObjectResult twice = Assert.Single(models.Run(models.RetryingOptions() with { DynamoDbRetry = models.Retry(2) }));

        Assert.True(twice.Complete, twice.Error + string.Join("; ", twice.Cases));
        Assert.Equal(3, twice.Applied);
        Assert.Equal(3, models.Count("m"));
    }

    /// <summary>
    /// The S3 retry options given are the quarantine sink's: with one attempt a failed quarantine write of a poison record
    /// fails the run; two attempts get through it, and the record is quarantined.
    /// </summary>
    [Fact]
    public async Task TheGivenS3Retry_IsTheQuarantineSinks()
    {
        using var models = new RedriveModels();
        await models.PutAsync(s_key, InvocationRecord(0, [Record(0, 1, "a", "m", double.NaN), Record(0, 2, "a", "m", 2)]));

        models.Faults.S3PutsToFail = 1;
        RedriveObjectResult once = Assert.Single(models.Run(models.RetryingOptions() with { S3Retry = models.Retry(1) }));

        Assert.StartsWith("the pipeline reported a failure at " + Sequence(1) + " (", once.Error, StringComparison.Ordinal);
        Assert.Null(models.Marker(s_key));

        models.Faults.S3PutsToFail = 1;
        RedriveObjectResult twice = Assert.Single(models.Run(models.RetryingOptions() with { S3Retry = models.Retry(2) }));

        Assert.True(twice.Complete, twice.Error);
        Assert.Contains(models.S3.GetObjects(RedriveModels.Bucket), o => o.Key.StartsWith("quarantine/", StringComparison.Ordinal));
        Assert.Equal(1, models.Count("m"));
    }

    /// <summary>
    /// The records to apply go through the pipeline in events of <see cref="DestinationRedriveOptions.RecordsPerEvent"/>,
    /// and the heartbeat is called before each: 4 records in events of 2 are two heartbeats, the first before anything
    /// is written, the second after the first event.
    /// </summary>
    [Fact]
    public async Task TheHeartbeat_IsCalledBeforeEachEvent()
    {
        using var models = new RedriveModels();
        await models.PutAsync(s_key, Batch(1, 4));
        var seen = new List<long>();

        RedriveObjectResult result = Assert.Single(models.Run(
            models.Options() with { RecordsPerEvent = 2 },
            _ =>
            {
                seen.Add(models.Count("m"));
                return Task.CompletedTask;
            }));

        Assert.Equal([0L, 2L], seen);
        Assert.Equal((4, true), (result.Applied, result.Complete));
    }

    /// <summary>A heartbeat that throws (the lease is lost) stops the run before the next event: no marker, the rest not applied.</summary>
    [Fact]
    public async Task AHeartbeatThatThrows_StopsTheRun()
    {
        using var models = new RedriveModels();
        await models.PutAsync(s_key, Batch(1, 4));
        int calls = 0;

        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => models.Run(
            models.Options() with { RecordsPerEvent = 2 },
            _ => ++calls == 2 ? throw new InvalidOperationException("lease lost") : Task.CompletedTask));

        Assert.Equal("lease lost", e.Message);
        Assert.Equal(2, models.Count("m"));
        Assert.Null(models.Marker(s_key));
    }

    /// <summary>
    /// The live function writes the key past the object's records while the redrive runs (here, between its heartbeat
    /// and its event): whether the redrive's records landed first cannot be told, so they are reported undecided.
    /// </summary>
    [Fact]
    public async Task ALiveWriteDuringTheRun_LeavesTheRecordsUndecided()
    {
        using var models = new RedriveModels();
        await models.PutAsync(s_key, Batch(1, 2));

        RedriveObjectResult result = Assert.Single(models.Run(models.Options(), _ => models.ApplyLiveAsync(Record(0, 3, "a", "m", 3))));

        Assert.Equal((0, 2, (string?)null), (result.Applied, result.Undecided, result.Error));
        Assert.All(result.Cases, c => Assert.Equal("a live write moved the key's watermark during the redrive", c.Reason));
        Assert.Equal(1, models.Count("m"));
        Assert.NotNull(models.Marker(s_key));
    }

    /// <summary>
    /// An item gone from the table after the run (deleted between the redrive's events): its record is left, with that
    /// reason, and the whole shard waits: no object of it gets a marker, so the next run takes them all again.
    /// </summary>
    [Fact]
    public async Task AnItemGoneAfterTheRun_LeavesItsRecord_AndEveryObjectOfTheShardWaits()
    {
        using var models = new RedriveModels();
        string first = DestinationKey(0, "1"), second = DestinationKey(0, "2");
        await models.PutAsync(first, InvocationRecord(0, 1, [Record(0, 1, "a", "gone", 1)]));
        await models.PutAsync(second, InvocationRecord(0, 2, [Record(0, 2, "a", "m", 2)]));
        int calls = 0;

        IReadOnlyList<RedriveObjectResult> results = models.Run(
            models.Options() with { RecordsPerEvent = 1 },
            async _ =>
            {
                if (++calls == 2)
                {
                    await models.DynamoDbClient.DeleteItemAsync(RedriveModels.Table, new() { ["pk"] = new AttributeValue { S = Series("gone") }, ["sk"] = new AttributeValue { S = "2025-01-01T00:00:00.000Z" } });
                }
            });

        Assert.Equal([first, second], results.Select(r => r.Key));
        RedriveCase left = Assert.Single(results[0].Cases);
        Assert.Equal((RedriveStatus.Left, Sequence(1), "not in the table after the run"), (left.Status, left.SequenceNumber, left.Reason));
        Assert.Equal((1, 0), (results[1].Applied, results[1].Cases.Count));
        Assert.All(results, r => Assert.Equal("some records were left", r.Error));
        Assert.Null(models.Marker(first));
        Assert.Null(models.Marker(second));
    }

    /// <summary>
    /// Records of two samples each (NDJSON, metric <c>mz</c> then <c>ma</c>), both items since written past them by a
    /// later batch: every (record, item) is undecided, listed by sequence number, then by item.
    /// </summary>
    [Fact]
    public async Task UndecidedPairs_AreListedBySequenceNumberThenItem()
    {
        using var models = new RedriveModels();
        string TwoSamples(int n) => RecordOf(0, n, "a", Sample(n, "mz", n) + "\n" + Sample(n, "ma", n));
        await models.ApplyLiveAsync(TwoSamples(5));
        await models.PutAsync(s_key, InvocationRecord(0, [TwoSamples(1), TwoSamples(2)]));

        RedriveObjectResult result = Assert.Single(models.Run(models.Options()));

        Assert.Equal(
            [(Sequence(1), Series("ma")), (Sequence(1), Series("mz")), (Sequence(2), Series("ma")), (Sequence(2), Series("mz"))],
            result.Cases.Select(c => (c.SequenceNumber, c.ItemPk)));
        Assert.All(result.Cases, c => Assert.Equal(RedriveStatus.Undecided, c.Status));
        Assert.Equal((1L, 1L), (models.Count("ma"), models.Count("mz")));
    }

    /// <summary>
    /// The item's live watermark of the key is at record 1, the spill redrive's mark at record 2 (it applied record 2):
    /// the higher decides, so records 1 and 2 are already applied and only record 3 is applied now.
    /// </summary>
    [Fact]
    public async Task TheHigherOfTheLiveWatermarkAndTheSpillMark_DecidesWhatIsApplied()
    {
        using var models = new RedriveModels();
        await models.ApplyLiveAsync(Record(0, 1, "a", "m", 1));
        await SetSpillMarkAsync(models, Sequence(2));
        await models.PutAsync(s_key, Batch(1, 3));

        RedriveObjectResult result = Assert.Single(models.Run(models.Options()));

        Assert.Equal((1, 2, true), (result.Applied, result.AlreadyApplied, result.Complete));
        Assert.Equal(2, models.Count("m"));
    }

    /// <summary>A spill redrive mark that is not a sequence number stops the run, naming the shard.</summary>
    [Fact]
    public async Task ASpillMarkThatIsNotASequenceNumber_StopsTheRun()
    {
        using var models = new RedriveModels();
        await models.ApplyLiveAsync(Record(0, 1, "a", "m", 1));
        await SetSpillMarkAsync(models, "12x");
        await models.PutAsync(s_key, Batch(1, 2));

        InvalidDataException e = Assert.Throws<InvalidDataException>(() => models.Run(models.Options()));

        Assert.Equal($"A stored redrive mark of shard {ShardId(0)} is not a sequence number.", e.Message);
        Assert.Equal(1, models.Count("m"));
    }

    /// <summary>
    /// The table is read strongly consistent (an eventually consistent read could miss the failed attempts' last write
    /// and apply it again): an object found wholly applied costs one read of its one small item, one read unit, where an
    /// eventually consistent read costs half.
    /// </summary>
    [Fact]
    public async Task TheTableIsReadStronglyConsistent()
    {
        using var models = new RedriveModels();
        await models.ApplyLiveAsync(Record(0, 1, "a", "m", 1), Record(0, 2, "a", "m", 2));
        await models.PutAsync(s_key, Batch(1, 2));
        double before = models.DynamoDb.Counters.ReadCapacityUnits;

        RedriveObjectResult result = Assert.Single(models.Run(models.Options()));

        Assert.Equal((0, 2), (result.Applied, result.AlreadyApplied));
        Assert.Equal(1.0, models.DynamoDb.Counters.ReadCapacityUnits - before);
    }

    /// <summary>
    /// The function's processor options may carry its spill sink. Working out each record's items writes nothing, so
    /// nothing of it is spilled (a spill of it would be applied again by the spill redrive): the spill sink sees no
    /// write, and the table holds the records once.
    /// </summary>
    [Fact]
    public async Task WithTheFunctionsSpillSinkConfigured_NothingIsSpilled()
    {
        using var models = new RedriveModels();
        await models.PutAsync(s_key, Batch(1, 3));
        var spill = new CountingSpillSink();
        models.Clock.Advance(TimeSpan.FromMinutes(10)); // The records are old enough to spill.
        DestinationRedriveOptions options = models.Options();

        RedriveObjectResult result = Assert.Single(models.Run(options with { Processor = options.Processor with { SpillSink = spill } }));

        Assert.Equal((3, true), (result.Applied, result.Complete));
        Assert.Equal(0, spill.Writes);
        Assert.Equal(3, models.Count("m"));
    }

    /// <summary>A destination object of shard 0 with records <paramref name="first"/>..<paramref name="last"/>, value n each.</summary>
    private static string Batch(int first, int last) =>
        InvocationRecord(0, first, [.. Enumerable.Range(first, last - first + 1).Select(n => Record(0, n, "a", "m", n))]);

    /// <summary>Sets the spill redrive's mark of shard 0, key <c>a</c>, on the item of metric <c>m</c>.</summary>
    private static Task SetSpillMarkAsync(RedriveModels models, string mark) =>
        models.DynamoDbClient.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = RedriveModels.Table,
            Key = new() { ["pk"] = new AttributeValue { S = Series("m") }, ["sk"] = new AttributeValue { S = "2025-01-01T00:00:00.000Z" } },
            UpdateExpression = "SET #rk = :rk",
            ExpressionAttributeNames = new() { ["#rk"] = DynamoDbItem.RedriveMarks },
            ExpressionAttributeValues = new() { [":rk"] = new AttributeValue { M = new() { [ShardId(0)] = new AttributeValue { M = new() { ["a"] = new AttributeValue { S = mark } } } } } },
        });

    /// <summary>A spill store that keeps nothing and says it did, counting the spills; it never holds an unconfirmed spill.</summary>
    private sealed class CountingSpillSink : ISpillSink
    {
        public int Writes { get; private set; }

        public Task<bool> WriteAsync(SpillBatch spill, CancellationToken cancellationToken)
        {
            Writes++;
            return Task.FromResult(true);
        }

        public Task<bool> RemoveUnconfirmedAsync(string shardId, string? eventSourceArn, string spillId, CancellationToken cancellationToken) => Task.FromResult(true);
    }
}
