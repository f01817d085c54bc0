using System.Globalization;
using System.Numerics;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Tests;

/// <summary>The per-partition-key view of a batch, against a direct computation from the records.</summary>
public class AggregateBatchKeyTests
{
    private static readonly BigInteger s_base = BigInteger.Parse("49590338271490256608559692538361571095921575989136588898", CultureInfo.InvariantCulture);

    [Property(MaxTest = 200)]
    public Property PerKeySplit_EqualsTheRecordsPastTheirOwnKeysWatermark(int seed)
    {
        var random = new Random(seed);
        int keyCount = random.Next(1, 6);
        ShardRecord[] records = Enumerable.Range(0, random.Next(1, 60)).Select(i => new ShardRecord(
            (s_base + (i * 3)).ToString(CultureInfo.InvariantCulture),
            [new TestSample("m" + random.Next(2), [], 1_714_564_800_000 + random.Next(120_000), random.Next(-50, 50))],
            "k" + random.Next(keyCount))).ToArray();

        // Per key: no watermark, or the sequence number of a random record index (of any key) minus one to plus one.
        var marks = new Dictionary<string, string?>();
        for (int k = 0; k < keyCount; k++)
        {
            marks["k" + k] = random.Next(3) == 0 ? null : (s_base + random.Next(-3, (records.Length * 3) + 3)).ToString(CultureInfo.InvariantCulture);
        }

        AggregateBatch batch = ShardStream.Build("shardId-000000000000", records);
        var destination = new MetricAggregate(AggregatorOptions.Default);
        bool ok = true;
        for (int pair = 0; pair < batch.Count; pair++)
        {
            string series = batch.GetSeriesKey(pair).GetMetricString();
            long window = batch.GetWindowStartMs(pair);
            ShardRecord[] mine = records.Where(r => r.Samples[0].Metric == series && r.Samples[0].TimestampMs - (r.Samples[0].TimestampMs % 60_000) == window).ToArray();

            // The pair's keys and each key's first and last record, as the records say.
            string[] keys = Enumerable.Range(0, batch.GetPartitionKeyCount(pair)).Select(k => Encoding.UTF8.GetString(batch.GetPartitionKey(pair, k))).ToArray();
            ok &= keys.Order().SequenceEqual(mine.Select(r => r.PartitionKey).Distinct().Order());
            for (int k = 0; k < keys.Length; k++)
            {
                ok &= Encoding.ASCII.GetString(batch.GetLastSequenceNumber(pair, k)) == mine.Last(r => r.PartitionKey == keys[k]).SequenceNumber;
                ok &= Encoding.ASCII.GetString(batch.GetFirstSequenceNumber(pair, k)) == mine.First(r => r.PartitionKey == keys[k]).SequenceNumber;
            }

            string?[] watermarks = keys.Select(k => marks[k]).ToArray();
            ShardRecord[] past = mine.Where(r => marks[r.PartitionKey] is not { } m || BigInteger.Parse(r.SequenceNumber, CultureInfo.InvariantCulture) > BigInteger.Parse(m, CultureInfo.InvariantCulture)).ToArray();
            bool any = batch.TryGetAggregateAfter(pair, watermarks, destination);
            ok &= any == (past.Length > 0);
            ok &= !any || (destination.Count == past.Length && destination.Sum == past.Sum(r => r.Samples[0].Value));
        }

        return ok.Label($"seed {seed}");
    }

    [Fact]
    public void PerKeySplit_WrongNumberOfWatermarks_Throws()
    {
        AggregateBatch batch = ShardStream.Build("shardId-000000000000", [new ShardRecord("1", [new TestSample("m", [], 1_714_564_800_000, 1)], "a")]);
        Assert.Throws<ArgumentException>(() => batch.TryGetAggregateAfter(0, new string?[2], new MetricAggregate(AggregatorOptions.Default)));
    }
}
