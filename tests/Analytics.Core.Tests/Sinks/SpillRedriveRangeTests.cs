using System.Globalization;
using System.Numerics;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests;

/// <summary>
/// The spill redrive's decision for samples whose outcome is unknown, when one item has samples of one partition key in
/// several spill objects and live batches wrote the item between them (dynalite): the live watermark <c>wk</c> tells
/// that an attempt applied a sample only while it lies inside that sample's own spill's range, never the range of all
/// spills of the key together. Found by <c>SpillOutageTests</c> (seed 855312, two full outages): a live batch between
/// the outages set <c>wk</c> past the first outage's spilled samples, inside the merged range, and the redrive counted
/// them as already applied although no attempt had applied them: 170 samples lost, reported as done.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class SpillRedriveRangeTests(LocalServersFixture servers)
{
    private const long WindowStartMs = 1_714_565_100_000 - (1_714_565_100_000 % 60_000);
    private static readonly BigInteger s_firstSequence = BigInteger.Parse("49590338271490256608559692538361571095921575989136588898", CultureInfo.InvariantCulture);
    private static int s_metric;

    private enum BatchKind
    {
        /// <summary>Written by the live sink.</summary>
        Live,

        /// <summary>Spilled whole, outcome unknown; its lost puts did not land.</summary>
        SpilledUnknown,

        /// <summary>An earlier attempt's put of a prefix of the batch landed (its answer lost); then the whole batch was spilled, outcome unknown.</summary>
        SpilledAfterALandedPrefix,

        /// <summary>Spilled after a consistent read: the samples the item lacks, decided.</summary>
        SpilledDecided,
    }

    private sealed record Batch(BatchKind Kind, int[] Keys, int LandedPrefix);

    [Fact]
    public async Task ALiveBatchBetweenTwoSpills_TheEarlierSpillsSamplesAreUndecided_NotAlreadyApplied()
    {
        string table = await servers.CreateTableAsync("spill-range");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        // One key, one item: batch 1 spilled (outcome unknown, nothing landed), batch 2 live, batch 3 spilled like batch 1.
        Batch[] history = [new(BatchKind.SpilledUnknown, [0], 0), new(BatchKind.Live, [0], 0), new(BatchKind.SpilledUnknown, [0], 0)];
        (RedriveResult result, long stored, int truth) = await RunAsync(sink, dynamoDb, table, "m", history);

        // Only batch 2's sample is in the table. Batch 1's cannot be decided (the live watermark passed it), and batch 3's
        // follows it, so the key's redrive mark must not pass batch 1's: both reported undecided, nothing claimed applied.
        Assert.Equal(1, stored);
        Assert.Equal(new RedriveResult(0, 0, 2, null), result);
        Assert.Equal(truth, stored + result.Undecided);
    }

    [Fact]
    public async Task AWatermarkInsideItsOwnSpill_SkipsWhatThatSpillsAttemptApplied_AndAppliesTheRest()
    {
        string table = await servers.CreateTableAsync("spill-range");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        // Batch 1: three records, the put of the first two landed before the spill. Batch 2: spilled, nothing landed.
        Batch[] history = [new(BatchKind.SpilledAfterALandedPrefix, [0, 0, 0], 2), new(BatchKind.SpilledUnknown, [0, 0], 0)];
        (RedriveResult result, long stored, int truth) = await RunAsync(sink, dynamoDb, table, "m", history);

        Assert.Equal(new RedriveResult(3, 2, 0, null), result);
        Assert.Equal(truth, stored);
    }

    /// <summary>
    /// Any history of one item over two partition keys: batches written live, spilled with their outcome unknown (some
    /// after a prefix of their own put landed), or spilled decided, in any order; then a redrive of every spill. The
    /// table never holds a sample twice, it lacks no sample the redrive did not report undecided, and a second redrive
    /// changes nothing.
    /// </summary>
    [Fact]
    public async Task AnyHistory_TheTableNeverDoubles_AndLacksOnlyWhatIsReportedUndecided()
    {
        string table = await servers.CreateTableAsync("spill-range");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        Gen<Batch> batch =
            from kind in Gen.Elements(BatchKind.Live, BatchKind.SpilledUnknown, BatchKind.SpilledAfterALandedPrefix, BatchKind.SpilledDecided)
            from keys in Gen.Choose(1, 4).SelectMany(n => Gen.ListOf(Gen.Choose(0, 1), n)).Select(l => l.ToArray())
            from prefix in Gen.Choose(1, keys.Length)
            select new Batch(kind, keys, kind == BatchKind.SpilledAfterALandedPrefix ? prefix : 0);
        Gen<Batch[]> histories = Gen.Choose(1, 6).SelectMany(n => Gen.ListOf(batch, n)).Select(l => l.ToArray());

        Prop.ForAll(Arb.From(histories), history =>
        {
            string metric = "m" + Interlocked.Increment(ref s_metric).ToString(CultureInfo.InvariantCulture);
            (RedriveResult first, long stored, int truth) = RunAsync(sink, dynamoDb, table, metric, history).GetAwaiter().GetResult();
            RedriveResult again = sink.ApplyOnceAsync(Work(history, metric), CancellationToken.None).GetAwaiter().GetResult();
            long storedAgain = CountAsync(dynamoDb, table, metric).GetAwaiter().GetResult();
            // Without a landed prefix no spilled sample is in the table: then the table plus the undecided is the truth exactly.
            bool nothingLanded = history.All(b => b.Kind != BatchKind.SpilledAfterALandedPrefix);
            bool holds = first.Failure is null && stored <= truth && truth - stored <= first.Undecided
                && (!nothingLanded || stored + first.Undecided == truth)
                && again.Applied == 0 && storedAgain == stored;
            return holds.Label($"{string.Join(" ", history.Select(b => $"{b.Kind}[{string.Join(",", b.Keys)}]/{b.LandedPrefix}"))}: truth {truth}, stored {stored}, first {first}, again {again}, stored again {storedAgain}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(60).WithQuietOnSuccess(true));
    }

    /// <summary>Plays the history on one item (one sample per record, key <c>k0</c> or <c>k1</c>), then redrives its spills.</summary>
    private static async Task<(RedriveResult Result, long Stored, int Truth)> RunAsync(DynamoDbAggregateSink sink, IAmazonDynamoDB dynamoDb, string table, string metric, Batch[] history)
    {
        foreach ((Batch b, ShardRecord[] records) in Records(history, metric))
        {
            ShardRecord[] live = b.Kind switch
            {
                BatchKind.Live => records,
                BatchKind.SpilledAfterALandedPrefix => records[..b.LandedPrefix],
                _ => [],
            };
            if (live.Length > 0)
            {
                AggregateBatch written = ShardStream.Build(TestEvents.ShardId, live);
                await sink.WriteAsync(written, CancellationToken.None);
                Assert.Equal(written.Count, written.DurableCount);
            }
        }

        RedriveResult result = await sink.ApplyOnceAsync(Work(history, metric), CancellationToken.None);
        return (result, await CountAsync(dynamoDb, table, metric), history.Sum(b => b.Keys.Length));
    }

    /// <summary>What the spill objects of the history hold for the item, each sample tagged with its batch's spill.</summary>
    private static RedriveWork Work(Batch[] history, string metric)
    {
        var samples = new List<RedriveSample>();
        PairKey? key = null;
        int index = 0;
        foreach ((Batch b, ShardRecord[] records) in Records(history, metric))
        {
            key ??= PairKey.From(ShardStream.Build(TestEvents.ShardId, records[..1]), 0);
            string spill = "spill-" + index++.ToString(CultureInfo.InvariantCulture);
            if (b.Kind != BatchKind.Live)
            {
                samples.AddRange(records.Select(r => new RedriveSample(r.PartitionKey, r.SequenceNumber, r.Samples[0].Value, b.Kind != BatchKind.SpilledDecided, spill)));
            }
        }

        return new RedriveWork(key!.Value, TestEvents.ShardId, AggregatorOptions.Default, samples);
    }

    /// <summary>The history's records, in sequence order across batches.</summary>
    private static IEnumerable<(Batch Batch, ShardRecord[] Records)> Records(Batch[] history, string metric)
    {
        BigInteger sequence = s_firstSequence;
        foreach (Batch b in history)
        {
            var records = new ShardRecord[b.Keys.Length];
            for (int i = 0; i < records.Length; i++)
            {
                sequence += 7;
                double value = (double)(sequence % 1000) + 0.5;
                records[i] = new ShardRecord(sequence.ToString(CultureInfo.InvariantCulture), [new TestSample(metric, [], WindowStartMs + 1_000, value)], "k" + b.Keys[i].ToString(CultureInfo.InvariantCulture));
            }

            yield return (b, records);
        }
    }

    private static async Task<long> CountAsync(IAmazonDynamoDB dynamoDb, string table, string metric)
    {
        GetItemResponse got = await dynamoDb.GetItemAsync(new GetItemRequest
        {
            TableName = table,
            ConsistentRead = true,
            Key = new()
            {
                ["pk"] = new AttributeValue { S = metric },
                ["sk"] = new AttributeValue { S = DateTimeOffset.FromUnixTimeMilliseconds(WindowStartMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) },
            },
        });
        return got.Item is { Count: > 0 } item ? long.Parse(item["count"].N, CultureInfo.InvariantCulture) : 0;
    }
}
