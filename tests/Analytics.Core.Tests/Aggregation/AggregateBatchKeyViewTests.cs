using System.Numerics;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Tests;

/// <summary>
/// The per-pair partition-key view that the exactly-once split reads: built past every first array size (pairs,
/// keys, key bytes, samples), built on whichever member a sink calls first, and rebuilt from scratch when the batch
/// is reused. Every answer is checked against the records (<see cref="BatchModel"/>).
/// </summary>
public class AggregateBatchKeyViewTests
{
    private const long WindowStart = 1_714_564_800_000; // 2024-05-01T12:00:00Z, a window boundary

    /// <summary>
    /// Records whose first <paramref name="metrics"/> samples create the metrics in order (one pair each, all in one
    /// window), then random metrics (half of them m0); partition keys of <paramref name="keyLength"/> bytes out of <paramref name="keys"/>.
    /// </summary>
    private static ShardRecord[] Records(Random random, int records, int metrics, int keys, int samplesPerRecord, int keyLength, int windows = 1)
    {
        var result = new ShardRecord[records];
        int created = 0;
        for (int i = 0; i < records; i++)
        {
            var samples = new TestSample[samplesPerRecord];
            for (int s = 0; s < samples.Length; s++)
            {
                // Half of the later samples go to m0, so that its pair has (nearly) every key.
                int metric = created < metrics ? created++ : random.Next(2) == 0 ? 0 : random.Next(metrics);
                long timestamp = WindowStart + (random.Next(windows) * 60_000) + random.Next(60_000);
                samples[s] = new TestSample("m" + metric, [], timestamp, random.Next(-20, 21));
            }

            result[i] = new ShardRecord(BatchModel.Seq(i), samples, Key(random.Next(keys), keyLength));
        }

        return result;
    }

    private static string Key(int id, int length) => ("k" + id).PadRight(length, (char)('a' + (id % 26)));

    /// <summary>Per key: no watermark (a third of them), or a sequence number around the batch's (some before it, some past it).</summary>
    private static Func<string, BigInteger?> Marks(Random random, ShardRecord[] records)
    {
        var marks = new Dictionary<string, BigInteger?>();
        foreach (string key in records.Select(r => r.PartitionKey).Distinct())
        {
            marks[key] = random.Next(3) == 0 ? null : BatchModel.Base + random.Next(-3, (records.Length * 3) + 3);
        }

        return key => marks[key];
    }

    [Theory]
    // Exactly the 128 pairs the batch's per-pair arrays start with, 40 keys (past 32).
    [InlineData(1, 400, 128, 40, 2, 16)]
    // 300 pairs (past 128 and 256), 100 keys of 40 bytes (past 32 and 64 keys, 4,000 key bytes past 1,024 and 2,048),
    // 2,600 samples (past 1,024 and 2,048), a pair of 100 keys (past 64, where the split stops using the stack).
    [InlineData(2, 1300, 300, 100, 2, 40)]
    public void PastEveryFirstArraySize_EveryPairsKeysAndSplitMatchTheRecords(int seed, int records, int metrics, int keys, int samplesPerRecord, int keyLength)
    {
        var random = new Random(seed);
        ShardRecord[] batchRecords = Records(random, records, metrics, keys, samplesPerRecord, keyLength);
        AggregateBatch batch = ShardStream.Build("shardId-000000000000", batchRecords);
        Assert.Equal(metrics, batch.Count);
        Assert.Equal(keys, Enumerable.Range(0, batch.Count).Max(batch.GetPartitionKeyCount));
        Assert.Empty(BatchModel.Mismatches(batch, batchRecords, Marks(random, batchRecords)));
    }

    [Fact]
    public void SplitByKey_AsTheFirstCallOnAFreshBatch_BuildsTheKeyView()
    {
        // One pair, two keys: the split needs the pair's key count (2) before anything else has asked for it.
        ShardRecord[] records =
        [
            new(BatchModel.Seq(0), [new TestSample("m", [], WindowStart, 1)], "a"),
            new(BatchModel.Seq(1), [new TestSample("m", [], WindowStart, 2)], "b"),
            new(BatchModel.Seq(2), [new TestSample("m", [], WindowStart, 4)], "a"),
        ];
        AggregateBatch batch = ShardStream.Build("shardId-000000000000", records);
        var destination = new MetricAggregate(AggregatorOptions.Default);
        Assert.True(batch.TryGetAggregateAfter(0, new string?[2], destination));
        Assert.Equal((3, 7.0), (destination.Count, destination.Sum));
    }

    [Fact]
    public void KeyAndItsLastRecord_AsTheFirstCallOnAFreshBatch_BuildTheKeyView()
    {
        ShardRecord[] records =
        [
            new(BatchModel.Seq(0), [new TestSample("m", [], WindowStart, 1)], "only"),
            new(BatchModel.Seq(1), [new TestSample("m", [], WindowStart, 2)], "only"),
        ];
        Assert.Equal("only", Encoding.UTF8.GetString(ShardStream.Build("shardId-000000000000", records).GetPartitionKey(0, 0)));
        Assert.Equal(BatchModel.Seq(1), Encoding.ASCII.GetString(ShardStream.Build("shardId-000000000000", records).GetLastSequenceNumber(0, 0)));
    }

    [Fact]
    public void ReusedBatch_OfTheSameContent_KeepsEachPairsKeys()
    {
        // The pipeline reuses its batch from one invocation to the next: the second view must not see the first's.
        ShardRecord[] records =
        [
            new(BatchModel.Seq(0), [new TestSample("m", [], WindowStart, 1)], "a"),
            new(BatchModel.Seq(1), [new TestSample("n", [], WindowStart, 2)], "b"),
            new(BatchModel.Seq(2), [new TestSample("m", [], WindowStart, 3)], "b"),
        ];
        var batch = new AggregateBatch(AggregatorOptions.Default);
        for (int round = 0; round < 3; round++)
        {
            BatchModel.Fill(batch, records);
            Assert.Equal([2, 1], Enumerable.Range(0, batch.Count).Select(batch.GetPartitionKeyCount));
            Assert.Empty(BatchModel.Mismatches(batch, records, _ => null));
        }
    }

    [Property(MaxTest = 10)]
    public Property ReusedBatch_AnswersEachContentFromItsOwnRecords(int seed)
    {
        // One instance, several batches of random sizes around the first array sizes, each checked against its records.
        var random = new Random(seed);
        var batch = new AggregateBatch(AggregatorOptions.Default);
        var errors = new List<string>();
        for (int round = 0; round < 3; round++)
        {
            int metrics = random.Next(1, 160);
            ShardRecord[] records = Records(random, random.Next(metrics, 400), metrics, random.Next(1, 50), random.Next(1, 4), random.Next(1, 30), windows: random.Next(1, 3));
            BatchModel.Fill(batch, records);
            errors.AddRange(BatchModel.Mismatches(batch, records, Marks(random, records)).Select(e => $"round {round}: {e}"));
        }

        return (errors.Count == 0).Label($"seed {seed}: {string.Join("; ", errors.Take(3))}");
    }

    [Fact]
    public void PartitionKeysLongerThanTheKeyStorage_AreKeptWhole()
    {
        // Kinesis caps a partition key at 256 characters, but an event is only text: a key of 3,000 bytes (more than
        // twice the batch's first key storage) and one of 5,000 must come back byte for byte.
        ShardRecord[] records =
        [
            new(BatchModel.Seq(0), [new TestSample("m", [], WindowStart, 1)], new string('x', 3000)),
            new(BatchModel.Seq(1), [new TestSample("m", [], WindowStart, 2)], "short"),
            new(BatchModel.Seq(2), [new TestSample("m", [], WindowStart, 4)], new string('y', 5000)),
        ];
        AggregateBatch batch = ShardStream.Build("shardId-000000000000", records);
        Assert.Equal(3, batch.GetPartitionKeyCount(0));
        Assert.Empty(BatchModel.Mismatches(batch, records, _ => BatchModel.Base));
    }
}
