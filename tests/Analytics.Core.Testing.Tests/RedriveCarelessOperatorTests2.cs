using System.Globalization;
using Amazon.S3;
using Analytics.Tools;
using Analytics.Tools.Redrive;
using static Analytics.Core.Testing.Tests.RedriveObjects;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Review (careless operator of <c>redrive</c>), second round: a prefix that is one object's key or the markers' folder,
/// a marker or a finished object S3 will not hand out now, a marker broken by hand, and a destination run stopped before
/// its markers followed by a spill. Each broke a promise of samples/Analytics.Tools/README.md or docs/failure-modes.md
/// before its fix. Against the DynamoDB and S3 models on one virtual clock.
/// </summary>
public class RedriveCarelessOperatorTests2
{
    private const string Table = "aggregates";
    private const string SpillBucket = "spills";
    private const string FailureBucket = "failures";

    /// <summary>
    /// The operator wants to redrive one spill object and gives its key (copied from the console) as --spill-prefix. A run
    /// applies the objects of a folder, so that is refused with one error line that names the folder, nothing done.
    /// Found by review: the run listed "KEY/", found nothing, and said "done, nothing left" (exit 0), the object untouched.
    /// </summary>
    [Fact]
    public void ASpillPrefixThatIsOneObjectsKey_IsRefused_NamingItsFolder()
    {
        using var world = new World();
        string key = SpillKey(0);
        world.PutSpill(key, WrittenTo(SpillBody(0, "m", "a", [1, 2]), SpillBucket, key));

        (bool passed, string stderr) = world.Check(world.Options() with { SpillPrefix = key });

        Assert.False(passed);
        Assert.Equal(
            $"error: --spill-prefix '{key}' is the key of an object in --spill-bucket '{SpillBucket}', not a folder: a run applies the spill objects of a folder, so give the function's spill prefix or a folder under it ('{key[..(key.LastIndexOf('/') + 1)]}'); nothing done",
            stderr.TrimEnd());
        Assert.Equal([key], world.S3.GetObjects(SpillBucket).Select(o => o.Key));

        // The folder itself runs.
        Assert.True(world.Check(world.Options() with { SpillPrefix = key[..key.LastIndexOf('/')] }).Passed);
    }

    /// <summary>
    /// The operator sees the folder <c>redrive/</c> beside <c>aws/</c> in the destination bucket and passes it as
    /// --failure-prefix. It holds only the redrive's own markers, which a run skips, so it counts as holding nothing: with
    /// a batch waiting under aws/lambda/, that is the mistyped prefix's one error line, nothing done. Found by review: the
    /// markers passed the check, and the run redrove nothing and said done (exit 0).
    /// </summary>
    [Fact]
    public async Task AFailurePrefixOfTheMarkersFolder_IsRefused()
    {
        using var world = new World();
        await world.PutDestinationAsync(DestinationKey(1, "earlier"), InvocationRecord(1, [Record(1, 1, "b", "d", 1)]));
        Assert.True(world.Run().Done); // leaves a marker under redrive/destination/
        string later = DestinationKey(2, "later");
        await world.PutDestinationAsync(later, InvocationRecord(2, [Record(2, 1, "c", "e", 4)]));

        (bool passed, string stderr) = world.Check(world.Options() with { FailurePrefix = "redrive/" });

        Assert.False(passed);
        Assert.StartsWith($"error: --failure-bucket '{FailureBucket}' holds on-failure destination objects under aws/lambda/ (e.g. ", stderr, StringComparison.Ordinal);
        Assert.Contains("--failure-prefix is 'redrive/', under which it holds none", stderr, StringComparison.Ordinal);
        Assert.Equal(0, world.Count("e"));
    }

    /// <summary>
    /// The spill phase reads the destination objects an earlier run finished (their records tell whether a spilled
    /// sample is in already). One that S3 will not hand out now leaves the spill objects of its shard for a later run,
    /// naming it, and everything else goes on: the spill of another shard is applied, and so is a destination object of a
    /// third. Found by review: that one GET ended the whole run. Once it reads, the next run finds the left spill's
    /// sample (the batch was both spilled and given up) in the table already: once.
    /// </summary>
    [Fact]
    public async Task AFinishedDestinationObjectThatCannotBeReadNow_LeavesOnlyItsShardsSpills()
    {
        using var world = new World();
        string finished = DestinationKey(1, "finished");
        await world.PutDestinationAsync(finished, InvocationRecord(1, [Record(1, 1, "b", "d", 1)]));
        Assert.True(world.Run().Done); // applied, marker written

        world.PutSpill(SpillKey(0), WrittenTo(SpillBody(0, "m", "a", [1, 2]), SpillBucket, SpillKey(0)));
        world.PutSpill(SpillKey(1), WrittenTo(SpillBody(1, "d", "b", [1]), SpillBucket, SpillKey(1)));
        await world.PutDestinationAsync(DestinationKey(2, "fresh"), InvocationRecord(2, [Record(2, 1, "c", "e", 4)]));
        world.Faults.RefuseS3 = (method, path) => method == HttpMethod.Get && path.EndsWith(finished, StringComparison.Ordinal);

        var output = new StringWriter(CultureInfo.InvariantCulture);
        RedriveRunReport during = world.Run(output);

        Assert.False(during.Done);
        Assert.Equal((2, 1, 1), (world.Count("m"), world.Count("e"), world.Count("d")));
        // The left spill is only left: none of its samples is applied or counted (its one sample is in the table already,
        // from the finished object, which is what this run cannot read).
        Assert.Equal((2, 0, 0, 1), (during.Spill.Applied, during.Spill.AlreadyApplied, during.Spill.Undecided, during.Spill.Left));
        Assert.Contains($"left {SpillKey(1)}: finished destination object {finished} could not be read (AmazonS3Exception: ", output.ToString(), StringComparison.Ordinal);
        Assert.Equal([SpillKey(1)], world.S3.GetObjects(SpillBucket).Select(o => o.Key).Where(k => k.EndsWith(".json", StringComparison.Ordinal)));

        world.Faults.RefuseS3 = null;
        RedriveRunReport next = world.Run();
        Assert.True(next.Done);
        Assert.Equal((0, 1, 0), (next.Spill.Applied, next.Spill.AlreadyApplied, next.Spill.Left));
        Assert.Equal((2, 1, 1), (world.Count("m"), world.Count("e"), world.Count("d")));
    }

    /// <summary>
    /// docs/failure-modes.md: "A run interrupted before writing the markers leaves none: the next run reprocesses ...; pairs
    /// it had applied are found already applied from its ranges (dr) and the spill phase's rk". A destination run applies
    /// records 1-4 of key a and stops at its marker (S3 refuses the PUT); before the rerun the function spilled a later
    /// batch (records 5-8 of key a, same item). The rerun applies the spill, then finds the four pairs the first run
    /// applied already applied, from the item's range. Found by review: the spill's write dropped the range its rk had
    /// passed, and the pairs were undecided on every run (exit 1), though the table was exact.
    /// </summary>
    [Fact]
    public async Task AnInterruptedDestinationRun_ThenALaterSpillOfTheKey_ItsAppliedPairsAreFoundApplied()
    {
        using var world = new World();
        string key = DestinationKey(0, "given-up");
        await world.PutDestinationAsync(key, InvocationRecord(0, 1, [Record(0, 1, "a", "m", 1), Record(0, 2, "a", "m", 2), Record(0, 3, "a", "m", 4), Record(0, 4, "a", "m", 8)]));

        world.Faults.RefuseS3 = (method, path) => method == HttpMethod.Put && path.Contains(DestinationRedriveOptions.MarkerPrefix, StringComparison.Ordinal);
        Assert.ThrowsAny<AmazonS3Exception>(() => world.Run());
        world.Faults.RefuseS3 = null;
        Assert.Equal(4, world.Count("m")); // applied, no marker

        world.PutSpill(SpillKey(0, 5), WrittenTo(SpillBody(0, "m", "a", [16, 32, 64, 128], firstRecord: 5), SpillBucket, SpillKey(0, 5)));
        RedriveRunReport rerun = world.Run();

        Assert.Equal(8, world.Count("m"));
        Assert.Equal(4, rerun.Spill.Applied);
        RedriveObjectResult result = Assert.Single(rerun.Destination);
        Assert.Equal((0, 4, 0, 0), (result.Applied, result.AlreadyApplied, result.Undecided, result.Left));
        Assert.True(rerun.Done);
    }

    /// <summary>
    /// A marker S3 will not hand out now holds back its shard's other objects, as an object that cannot be read does
    /// (docs/failure-modes.md "Redrive"). The harm it prevents: the operator first ran with a mistyped --table (an empty
    /// table, accepted; the marker names it); batch 1-2 of key a still has to go into the right table, and batch 3-4 of
    /// key a came later. Found by review: the right-table run whose marker read was refused applied 3-4 (wk = 4), and the
    /// next run redrove 1-2 into the right table and found them below the watermark: undecided on every run, never
    /// applied. Now the next run applies both, in order.
    /// </summary>
    [Fact]
    public async Task AMarkerThatCannotBeReadNow_HoldsBackItsShardsOtherObjects()
    {
        using var world = new World();
        (string first, string second) = await FinishedIntoAMistypedTableThenALaterBatchAsync(world);
        world.Faults.RefuseS3 = (method, path) => method == HttpMethod.Get && path.EndsWith(DestinationRedriveOptions.MarkerPrefix + first + ".json", StringComparison.Ordinal);
        RedriveRunReport during = world.Run();
        world.Faults.RefuseS3 = null;

        Assert.False(during.Done);
        Assert.StartsWith($"its redrive marker {DestinationRedriveOptions.MarkerPrefix}{first}.json could not be read", during.Destination.Single(r => r.Key == first).Error, StringComparison.Ordinal);
        Assert.True(during.Destination.Single(r => r.Key == second).HeldBack);
        Assert.StartsWith($"held back: an object of shard {ShardId(0)}, or its redrive marker, could not be read or parsed this run", during.Destination.Single(r => r.Key == second).Error, StringComparison.Ordinal);
        Assert.Equal(0, world.Count("m"));

        RedriveRunReport next = world.Run();
        Assert.True(next.Done);
        Assert.Equal(4, world.Count("m"));
    }

    /// <summary>
    /// The same with the object moved by hand to a key that names no shard (its records are shard 0's): the marker that
    /// cannot be read now holds back the objects of every shard, since its own shard is not known from the key (as an
    /// object of such a key that cannot be read does).
    /// </summary>
    [Fact]
    public async Task AMarkerThatCannotBeReadNow_OfAKeyNamingNoShard_HoldsBackEveryShard()
    {
        using var world = new World();
        world.DynamoDb.CreateTable("mistyped", "pk", "sk");
        const string moved = "aws/lambda/moved-by-hand/2025-01-01T00.05.00-1-first";
        await world.PutDestinationAsync(moved, InvocationRecord(0, 1, [Record(0, 1, "a", "m", 1), Record(0, 2, "a", "m", 2)]));
        Assert.True(world.Run(options: world.Options() with { Table = "mistyped" }).Done);
        string later = DestinationKey(0, "2-second"), other = DestinationKey(1, "3-other");
        await world.PutDestinationAsync(later, InvocationRecord(0, 3, [Record(0, 3, "a", "m", 4), Record(0, 4, "a", "m", 8)]));
        await world.PutDestinationAsync(other, InvocationRecord(1, [Record(1, 1, "b", "d", 1)]));

        world.Faults.RefuseS3 = (method, path) => method == HttpMethod.Get && path.EndsWith(DestinationRedriveOptions.MarkerPrefix + moved + ".json", StringComparison.Ordinal);
        RedriveRunReport during = world.Run();
        world.Faults.RefuseS3 = null;

        Assert.False(during.Done);
        Assert.Equal((true, true), (during.Destination.Single(r => r.Key == later).HeldBack, during.Destination.Single(r => r.Key == other).HeldBack));
        Assert.Equal((0, 0), (world.Count("m"), world.Count("d")));

        RedriveRunReport next = world.Run();
        Assert.True(next.Done);
        Assert.Equal((4, 1), (world.Count("m"), world.Count("d")));
    }

    /// <summary>
    /// A finished destination object moved by hand to a key that names no shard, which S3 will not hand out now: its
    /// records could be of any shard, so the spills of every shard are left for a later run, naming it. The next run,
    /// once it reads, applies both spills (their samples are not the object's).
    /// </summary>
    [Fact]
    public async Task AFinishedDestinationObjectOfAKeyNamingNoShard_ThatCannotBeReadNow_LeavesEveryShardsSpills()
    {
        using var world = new World();
        const string moved = "aws/lambda/moved-by-hand/2025-01-01T00.05.00-finished";
        await world.PutDestinationAsync(moved, InvocationRecord(1, [Record(1, 1, "b", "d", 1)]));
        Assert.True(world.Run().Done); // applied, marker written

        world.PutSpill(SpillKey(0), WrittenTo(SpillBody(0, "m", "a", [1, 2]), SpillBucket, SpillKey(0)));
        world.PutSpill(SpillKey(1, 2), WrittenTo(SpillBody(1, "d", "b", [2], firstRecord: 2), SpillBucket, SpillKey(1, 2)));
        world.Faults.RefuseS3 = (method, path) => method == HttpMethod.Get && path.EndsWith(moved, StringComparison.Ordinal);

        var output = new StringWriter(CultureInfo.InvariantCulture);
        RedriveRunReport during = world.Run(output);
        world.Faults.RefuseS3 = null;

        Assert.False(during.Done);
        Assert.Equal((0, 2), (during.Spill.Applied, during.Spill.Left));
        Assert.Equal((0, 1), (world.Count("m"), world.Count("d")));
        Assert.Contains($"left {SpillKey(0)}: finished destination object {moved} could not be read (AmazonS3Exception: ", output.ToString(), StringComparison.Ordinal);

        RedriveRunReport next = world.Run();
        Assert.True(next.Done);
        Assert.Equal((2, 2), (world.Count("m"), world.Count("d")));
    }

    /// <summary>
    /// The same with a marker broken by hand: the report says "fix it, or delete it to have the object redriven again".
    /// Its shard's later object waits; once the operator deletes the marker as told, the next run redrives batch 1-2
    /// (finished only into the mistyped table) and then 3-4: every sample once. Found by review: 3-4 were applied past
    /// the broken marker, and 1-2 were then undecided on every run, never applied.
    /// </summary>
    [Fact]
    public async Task AMarkerBrokenByHand_ThenDeletedAsTold_ItsObjectIsAppliedOnce()
    {
        using var world = new World();
        (string first, string second) = await FinishedIntoAMistypedTableThenALaterBatchAsync(world);
        await world.PutDestinationAsync(DestinationRedriveOptions.MarkerPrefix + first + ".json", "{\"Key\":"); // cut short by an editor
        RedriveRunReport broken = world.Run();
        Assert.False(broken.Done);
        Assert.True(broken.Destination.Single(r => r.Key == second).HeldBack);
        Assert.Equal(0, world.Count("m"));

        await world.S3Client.DeleteObjectAsync(FailureBucket, DestinationRedriveOptions.MarkerPrefix + first + ".json"); // as the report says
        RedriveRunReport next = world.Run();

        Assert.True(next.Done);
        Assert.Equal(4, world.Count("m"));
        Assert.Equal(15, world.DynamoDb.GetItems(Table).Where(i => i["pk"].S == Series("m")).Sum(i => double.Parse(i["sum"].N, CultureInfo.InvariantCulture)));
    }

    /// <summary>
    /// --failure-prefix narrowed to one day's folder of a shard: an earlier object of the shard outside it that a run
    /// finished into this table (its marker names the table) is done, so the day's batch is applied, not held back.
    /// </summary>
    [Fact]
    public async Task APrefixNarrowedToADay_AnEarlierObjectFinishedIntoThisTable_HoldsNothingBack()
    {
        using var world = new World();
        string first = DestinationKey(0, "1-first");
        await world.PutDestinationAsync(first, InvocationRecord(0, 1, [Record(0, 1, "a", "m", 1), Record(0, 2, "a", "m", 2)]));
        Assert.True(world.Run().Done); // finished into this table, marker written
        string folder = first[..(first.IndexOf(ShardId(0), StringComparison.Ordinal) + ShardId(0).Length + 1)];
        string nextDay = folder + "2025/01/02/2025-01-02T00.05.00-2-second";
        await world.PutDestinationAsync(nextDay, InvocationRecord(0, 3, [Record(0, 3, "a", "m", 4), Record(0, 4, "a", "m", 8)]));

        RedriveRunReport run = world.Run(options: world.Options() with { FailurePrefix = folder + "2025/01/02/" });

        Assert.True(run.Done, RedriveRun.Format(run.Destination));
        Assert.False(run.Destination.Single(r => r.Key == nextDay).HeldBack);
        Assert.Equal(4, world.Count("m"));
    }

    /// <summary>
    /// An object in a shard's spill folder whose name only ends in the marker's file name (here an operator's note,
    /// <c>notes-unresolved.marker</c>) is not the shard's marker: it is read like any object there, found not to be a
    /// spill, counted unreadable and left in place, and it holds back its shard's spill. Taken as the marker, it would
    /// be deleted once the shard's spills were done.
    /// </summary>
    [Fact]
    public void AnObjectWhoseNameEndsInTheMarkersName_IsNotTheMarker()
    {
        using var world = new World();
        string note = $"spill/s/{ShardId(0)}/notes-unresolved.marker";
        world.PutSpill(note, "kept by hand");
        world.PutSpill(SpillKey(0), WrittenTo(SpillBody(0, "m", "a", [1, 2]), SpillBucket, SpillKey(0)));

        RedriveRunReport run = world.Run();

        Assert.False(run.Done);
        Assert.Equal((1, 0, 2), (run.Spill.Unreadable, run.Spill.Applied, run.Spill.Left)); // the note and the spill
        Assert.Equal(0, world.Count("m"));
        Assert.Contains(note, world.S3.GetObjects(SpillBucket).Select(o => o.Key));
    }

    /// <summary>
    /// A finished destination object of another stream whose records wrote nothing to the table (all poison,
    /// quarantined) shares shard id and sequence number with a spill's sample: shard ids and sequence numbers repeat
    /// across streams, so it says nothing of this stream's sample, which is applied.
    /// </summary>
    [Fact]
    public async Task AFinishedObjectOfAnotherStream_WithTheSpillsShardAndSequence_DoesNotHoldTheSample()
    {
        using var world = new World();
        static string OtherStream(string json) => json.Replace("stream/s\"", "stream/other\"", StringComparison.Ordinal);
        string finished = DestinationKey(0, "other-stream");
        await world.PutDestinationAsync(finished, OtherStream(InvocationRecord(0, [OtherStream(PoisonRecord(0, 1, "a"))])));
        Assert.True(world.Run().Done); // quarantined, marker written: finished into this table

        world.PutSpill(SpillKey(0), WrittenTo(SpillBody(0, "m", "a", [5]), SpillBucket, SpillKey(0)));
        RedriveRunReport run = world.Run();

        Assert.True(run.Done);
        Assert.Equal((1, 0, 0), (run.Spill.Applied, run.Spill.Undecided, run.Spill.Left));
        Assert.Equal(1, world.Count("m"));
    }

    /// <summary>
    /// Batch 1-2 of key a (shard 0) given up and redriven with a mistyped --table (an empty table, accepted; its marker
    /// names it), then batch 3-4 of key a given up: their keys, both still to go into the right table.
    /// </summary>
    private static async Task<(string First, string Second)> FinishedIntoAMistypedTableThenALaterBatchAsync(World world)
    {
        world.DynamoDb.CreateTable("mistyped", "pk", "sk");
        string first = DestinationKey(0, "1-first"), second = DestinationKey(0, "2-second");
        await world.PutDestinationAsync(first, InvocationRecord(0, 1, [Record(0, 1, "a", "m", 1), Record(0, 2, "a", "m", 2)]));
        Assert.True(world.Run(options: world.Options() with { Table = "mistyped" }).Done);
        await world.PutDestinationAsync(second, InvocationRecord(0, 3, [Record(0, 3, "a", "m", 4), Record(0, 4, "a", "m", 8)]));
        return (first, second);
    }

    /// <summary>The models: an aggregate table, the function's spill bucket and the on-failure destination bucket.</summary>
    private sealed class World() : ModelWorld(Table, SpillBucket, FailureBucket)
    {
        public RedriveRunOptions Options() =>
            new(Table, SpillBucket, "spill", TimeSpan.Zero, FailureBucket, "aws/lambda/", SpillBucket, ProcessorOptions.Default with { TimeProvider = Clock })
            {
                DynamoDbRetry = DynamoDbAggregateSinkOptions.Default.Retry with { TimeProvider = Clock, JitterSeed = 1 },
                S3Retry = S3QuarantineSinkOptions.Default.Retry with { TimeProvider = Clock, JitterSeed = 1 },
            };

        public void PutSpill(string key, string body) => S3.Deliver(SpillBucket, key, System.Text.Encoding.UTF8.GetBytes(body), "application/json");

        public Task PutDestinationAsync(string key, string body) =>
            S3Client.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest { BucketName = FailureBucket, Key = key, ContentBody = body, UseChunkEncoding = false });

        /// <summary>The bucket check a redrive runs first: whether it passed, and its error line.</summary>
        public (bool Passed, string Stderr) Check(RedriveRunOptions options)
        {
            var stderr = new StringWriter(CultureInfo.InvariantCulture);
            bool passed = Pump(BucketCheck.CheckAsync(S3Client, options, stderr, CancellationToken.None, []));
            return (passed, stderr.ToString());
        }

        public RedriveRunReport Run(TextWriter? output = null, RedriveRunOptions? options = null) =>
            Pump(RedriveRun.RunAsync(options ?? Options(), S3Client, DynamoDbClient, output ?? TextWriter.Null, CancellationToken.None));

        /// <summary>The samples a metric's item holds (0 without an item).</summary>
        public long Count(string metric) =>
            DynamoDb.GetItems(Table).Where(i => i["pk"].S == Series(metric)).Sum(i => long.Parse(i["count"].N, CultureInfo.InvariantCulture));
    }
}
