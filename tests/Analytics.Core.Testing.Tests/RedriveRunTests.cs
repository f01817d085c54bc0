using System.Globalization;
using Amazon.DynamoDBv2.Model;
using Amazon.S3.Model;
using Analytics.Tools;
using Analytics.Tools.Redrive;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// What one <c>redrive</c> is given reaches the phases that use it (the clock, the retry options, the records per
/// event), what it prints without a failure bucket, and the destination report's exact text. On the DynamoDB and S3
/// models and a virtual clock.
/// </summary>
public sealed class RedriveRunTests : IDisposable
{
    private const string Table = "aggregates";
    private const string SpillBucket = "spill";
    private const string FailureBucket = "failures";
    private readonly ModelWorld _world = new(Table, SpillBucket, FailureBucket);

    /// <summary>
    /// Spill ages are measured on the run's clock when one is given, not on the processor's: a spill one minute old on
    /// it is left as too young (though the processor's system clock is a year past it), and applied once it is old
    /// enough there. Without a failure bucket the run says the destination is not redriven.
    /// </summary>
    [Fact]
    public async Task SpillAges_AreMeasuredOnTheGivenClock_AndWithoutAFailureBucketTheRunSaysSo()
    {
        await PutAsync(SpillBucket, RedriveObjects.SpillKey(0), RedriveObjects.SpillBody(0, "m", "a", [1, 2, 4]));
        RedriveRunOptions options = Options(failureBucket: null) with { MinAge = SpillRedrive.DefaultMinAge, Processor = ProcessorOptions.Default with { TimeProvider = TimeProvider.System } };
        _world.Clock.Advance(TimeSpan.FromMinutes(1));

        var young = new StringWriter();
        RedriveRunReport left = Run(options, young);

        Assert.Equal((1, 0), (left.Spill.Left, left.Spill.Applied));
        Assert.Empty(Aggregates());
        Assert.Contains(Environment.NewLine + "destination: no --failure-bucket given: batches Lambda gave up on are not redriven by this run" + Environment.NewLine, young.ToString(), StringComparison.Ordinal);

        _world.Clock.Advance(SpillRedrive.DefaultMinAge);
        RedriveRunReport applied = Run(options, TextWriter.Null);

        Assert.Equal((0, 3, 1), (applied.Spill.Left, applied.Spill.Applied, applied.Spill.Deleted));
        Assert.Equal("3", Assert.Single(Aggregates())["count"].N);
    }

    /// <summary>The run's DynamoDB retry options govern the spill phase's writes: a throttled write is tried exactly the given number of times.</summary>
    [Fact]
    public async Task SpillWrites_AreRetriedAsTheRunsDynamoDbRetryOptionsSay()
    {
        await PutAsync(SpillBucket, RedriveObjects.SpillKey(0), RedriveObjects.SpillBody(0, "m", "a", [1, 2, 4]));
        _world.Faults.ThrottleWrites = true;

        RedriveRunReport report = Run(Options(failureBucket: null, dynamoDbAttempts: 3), TextWriter.Null);

        Assert.Equal((1, 0), (report.Spill.Left, report.Spill.Applied));
        Assert.Equal(3, _world.Faults.ThrottledWrites);
    }

    /// <summary>The run's DynamoDB retry options reach the destination phase too: a throttled write is tried exactly the given number of times.</summary>
    [Fact]
    public async Task DestinationWrites_AreRetriedAsTheRunsDynamoDbRetryOptionsSay()
    {
        await PutDestinationAsync(shard: 1, values: [5]);
        _world.Faults.ThrottleWrites = true;

        RedriveRunReport report = Run(Options(FailureBucket, dynamoDbAttempts: 2), TextWriter.Null);

        Assert.False(Assert.Single(report.Destination).Complete);
        Assert.Equal(2, _world.Faults.ThrottledWrites);
    }

    /// <summary>The run's S3 retry options reach the destination phase: a failed quarantine write of a poison record is tried exactly the given number of times.</summary>
    [Fact]
    public async Task QuarantineWrites_AreRetriedAsTheRunsS3RetryOptionsSay()
    {
        await PutAsync(FailureBucket, RedriveObjects.DestinationKey(1, "x"), RedriveObjects.InvocationRecord(1, [RedriveObjects.PoisonRecord(1, 1, "a")]));
        _world.Faults.FailQuarantineWrites = true;

        RedriveRunReport report = Run(Options(FailureBucket) with { S3Retry = S3QuarantineSinkOptions.Default.Retry with { TimeProvider = _world.Clock, JitterSeed = 1, MaxAttempts = 2 } }, TextWriter.Null);

        Assert.False(Assert.Single(report.Destination).Complete);
        Assert.Equal(2, _world.Faults.FailedQuarantineWrites);
    }

    /// <summary>
    /// The run's records per event reach the destination phase: three records of one series, one per event, are three
    /// writes of the item (its version 3); all in one event, one write.
    /// </summary>
    [Theory]
    [InlineData(1, "3")]
    [InlineData(500, "1")]
    public async Task DestinationRecords_AreRunInEventsOfTheRunsRecordsPerEvent(int recordsPerEvent, string version)
    {
        await PutDestinationAsync(shard: 1, values: [5, 6, 7]);

        RedriveRunReport report = Run(Options(FailureBucket) with { RecordsPerEvent = recordsPerEvent }, TextWriter.Null);

        Assert.Equal(3, Assert.Single(report.Destination).Applied);
        Dictionary<string, AttributeValue> item = Assert.Single(Aggregates());
        Assert.Equal(("3", "18", version), (item["count"].N, item["sum"].N, item["ver"].N));
    }

    /// <summary>
    /// The destination report for a mix of objects, to the character: each object's line (an error after " error: ", a
    /// hold-back reason after a space, a marker's note), each undecided or left pair, the counts of complete (and of
    /// those an earlier run finished), held-back and other objects, the pair totals of this run (not the marker's, an
    /// earlier run's), and where undecided pairs are listed.
    /// </summary>
    [Fact]
    public void Format_OfCompleteHeldBackUndecidedAndFailedObjects_IsExact()
    {
        RedriveCase undecided = Case("c", RedriveStatus.Undecided, 7, "a later batch wrote the item");
        RedriveCase left = Case("c", RedriveStatus.Left, 8, "throttled");
        RedriveObjectResult[] results =
        [
            new("a", RedriveObjects.ShardId(0), 3, 2, 1, [], null, false),
            new("b", RedriveObjects.ShardId(1), 2, 0, 0, [], "held back: 1 spill object(s) of shard shardId-000000000001", false) { HeldBack = true },
            new("c", RedriveObjects.ShardId(2), 4, 1, 0, [undecided, left], null, false),
            new("d", RedriveObjects.ShardId(3), 0, 0, 0, [], "not JSON", false),
            new("e", RedriveObjects.ShardId(4), 1, 0, 1, [], null, true),
        ];

        string[] expected =
        [
            "object a shard=shardId-000000000000 records=3 applied=2 alreadyApplied=1 undecided=0 left=0",
            "object b shard=shardId-000000000001 records=2 applied=0 alreadyApplied=0 undecided=0 left=0 held back: 1 spill object(s) of shard shardId-000000000001",
            "object c shard=shardId-000000000002 records=4 applied=1 alreadyApplied=0 undecided=1 left=1",
            $"  undecided shard=shardId-000000000002 sequenceNumber={RedriveObjects.Sequence(7)} window=2025-01-01T00:00:00.000Z item={undecided.ItemId}: a later batch wrote the item",
            $"  left shard=shardId-000000000002 sequenceNumber={RedriveObjects.Sequence(8)} window=2025-01-01T00:00:00.000Z item={left.ItemId}: throttled",
            "object d shard=shardId-000000000003 records=0 applied=0 alreadyApplied=0 undecided=0 left=0 error: not JSON",
            "object e shard=shardId-000000000004 records=1 applied=0 alreadyApplied=1 undecided=0 left=0 (done by an earlier run)",
            "destination: 5 object(s): 2 complete (1 done by an earlier run), 1 held back, 2 with something undecided or left; 3 (record, aggregate) pairs applied, 1 already applied, 1 undecided, 1 left. Undecided pairs are listed in full in redrive/destination/<object key>.json",
        ];
        Assert.Equal(string.Join(Environment.NewLine, expected), RedriveRun.Format(results));
    }

    /// <summary>A marker that cannot be read is no object an earlier run finished: it counts with the rest, not as done.</summary>
    [Fact]
    public void Format_ABrokenMarker_IsNotDoneByAnEarlierRun()
    {
        RedriveObjectResult[] results =
        [
            new("a", RedriveObjects.ShardId(0), 1, 1, 0, [], null, FromMarker: true),
            new("b", "unknown", 0, 0, 0, [], "its redrive marker x is not a marker", FromMarker: true),
        ];

        Assert.EndsWith(
            "destination: 2 object(s): 1 complete (1 done by an earlier run), 0 held back, 1 with something undecided or left; 0 (record, aggregate) pairs applied, 0 already applied, 0 undecided, 0 left",
            RedriveRun.Format(results),
            StringComparison.Ordinal);
    }

    /// <summary>Without undecided pairs the total does not point to a list of them.</summary>
    [Fact]
    public void Format_WithoutUndecidedPairs_EndsAtTheTotals()
    {
        RedriveObjectResult[] results = [new("c", RedriveObjects.ShardId(2), 1, 0, 0, [Case("c", RedriveStatus.Left, 1, "throttled")], null, false)];

        Assert.EndsWith("; 0 (record, aggregate) pairs applied, 0 already applied, 0 undecided, 1 left", RedriveRun.Format(results), StringComparison.Ordinal);
    }

    /// <summary>
    /// The destination objects earlier runs finished are read to judge spill objects, so a run with no spill object does
    /// not read them: per finished object it reads only its marker (to report it), whatever the history in the bucket.
    /// Before, every run read every finished object and marker again.
    /// </summary>
    [Fact]
    public void ARunWithoutSpills_ReadsOnlyEachFinishedObjectsMarker()
    {
        long RequestsOfARunAfterFinishing(int shards)
        {
            for (int shard = shards - 5; shard < shards; shard++)
            {
                PutDestinationAsync(shard, [shard + 1]).GetAwaiter().GetResult();
            }

            Assert.Equal(5, Run(Options(FailureBucket), TextWriter.Null).Destination.Count(r => r.Complete && !r.FromMarker));
            long before = _world.S3.Counters.Requests;
            RedriveRunReport again = Run(Options(FailureBucket), TextWriter.Null);
            Assert.Equal(shards, again.Destination.Count(r => r.FromMarker));
            return _world.S3.Counters.Requests - before;
        }

        long five = RequestsOfARunAfterFinishing(5);
        long ten = RequestsOfARunAfterFinishing(10);

        Assert.Equal(5, ten - five);
    }

    /// <summary>A run without options or without an output is refused by name before the table (its lease) is touched.</summary>
    [Fact]
    public async Task RunningWithoutOptionsOrOutput_IsRefusedByName_BeforeTouchingTheTable()
    {
        Assert.Equal("options", (await Assert.ThrowsAsync<ArgumentNullException>(() => RedriveRun.RunAsync(null!, _world.S3Client, _world.DynamoDbClient, TextWriter.Null, CancellationToken.None))).ParamName);
        Assert.Equal("output", (await Assert.ThrowsAsync<ArgumentNullException>(() => RedriveRun.RunAsync(Options(FailureBucket), _world.S3Client, _world.DynamoDbClient, null!, CancellationToken.None))).ParamName);
        Assert.Equal(0, _world.DynamoDb.Counters.Requests);
    }

    public void Dispose() => _world.Dispose();

    private static RedriveCase Case(string key, RedriveStatus status, int n, string reason) =>
        new(key, RedriveObjects.ShardId(2), RedriveObjects.Sequence(n), "a", RedriveObjects.Series("m"), "2025-01-01T00:00:00.000Z", status, reason);

    /// <summary>Options on the models' clock (processor, retries); DynamoDB writes tried the given number of times.</summary>
    private RedriveRunOptions Options(string? failureBucket, int dynamoDbAttempts = 8) =>
        new(Table, SpillBucket, "spill", TimeSpan.Zero, failureBucket, "aws/lambda/", SpillBucket, ProcessorOptions.Default with { TimeProvider = _world.Clock })
        {
            DynamoDbRetry = DynamoDbAggregateSinkOptions.Default.Retry with { TimeProvider = _world.Clock, JitterSeed = 1, MaxAttempts = dynamoDbAttempts },
            S3Retry = S3QuarantineSinkOptions.Default.Retry with { TimeProvider = _world.Clock, JitterSeed = 1 },
            Clock = _world.Clock,
        };

    /// <summary>One redrive, every timer it sets on the models' clock fired in order.</summary>
    private RedriveRunReport Run(RedriveRunOptions options, TextWriter output) =>
        _world.Clock.Pump(RedriveRun.RunAsync(options, _world.S3Client, _world.DynamoDbClient, output, CancellationToken.None));

    private List<Dictionary<string, AttributeValue>> Aggregates() => [.. _world.DynamoDb.GetItems(Table).Where(i => i["pk"].S != RedriveLease.Pk)];

    private async Task PutDestinationAsync(int shard, double[] values) =>
        await PutAsync(FailureBucket, RedriveObjects.DestinationKey(shard, "x"), RedriveObjects.InvocationRecord(shard, [.. values.Select((v, i) => RedriveObjects.Record(shard, i + 1, "a", "m", v))]));

    private async Task PutAsync(string bucket, string key, string body) =>
        await _world.S3Client.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = key, ContentBody = body, UseChunkEncoding = false });
}
