using System.Globalization;
using System.Numerics;
using System.Text;

namespace Analytics.Core.Tests;

/// <summary>
/// A sink reads one batch from several workers at once (the DynamoDB sink splits pairs in parallel): concurrent reads
/// must give each worker exactly what a lone reader gets.
/// </summary>
public class AggregateBatchConcurrencyTests
{
    private static readonly BigInteger s_base = BigInteger.Parse("49590338271490256608559692538361571095921575989136588898", CultureInfo.InvariantCulture);

    [Fact]
    public async Task PerKeySplit_FromConcurrentWorkers_EqualsTheSequentialAnswer()
    {
        const int Workers = 4;
        var random = new Random(7);
        for (int round = 0; round < 40; round++)
        {
            // Every pair has most of the 24 keys, each in its own order, so a key's place differs from pair to pair.
            ShardRecord[] records = [.. Enumerable.Range(0, 400).Select(i => new ShardRecord(
                (s_base + (i * 7)).ToString(CultureInfo.InvariantCulture),
                [new TestSample("m" + random.Next(12), [], 1_714_564_800_000, random.Next(1, 1000))],
                "k" + random.Next(24)))];
            string?[] marks = [.. Enumerable.Range(0, 24).Select(_ => (s_base + (random.Next(400) * 7)).ToString(CultureInfo.InvariantCulture))];

            // The truth: per pair, the records past their own key's watermark, computed from the records.
            AggregateBatch batch = ShardStream.Build("shardId-000000000000", records);
            var expected = new (long Count, double Sum)[batch.Count];
            for (int pair = 0; pair < batch.Count; pair++)
            {
                string metric = batch.GetSeriesKey(pair).GetMetricString();
                ShardRecord[] past = [.. records.Where(r => r.Samples[0].Metric == metric &&
                    BigInteger.Parse(r.SequenceNumber, CultureInfo.InvariantCulture) > BigInteger.Parse(marks[int.Parse(r.PartitionKey.AsSpan(1), CultureInfo.InvariantCulture)]!, CultureInfo.InvariantCulture))];
                expected[pair] = (past.Length, past.Sum(r => r.Samples[0].Value));
            }

            // A fresh batch: the first reads also build its per-pair key view, concurrently.
            batch = ShardStream.Build("shardId-000000000000", records);
            using var start = new Barrier(Workers);
            int mismatches = 0;
            Task[] workers = [.. Enumerable.Range(0, Workers).Select(w => Task.Factory.StartNew(
                () =>
                {
                    var destination = new MetricAggregate(AggregatorOptions.Default);
                    start.SignalAndWait();
                    for (int repeat = 0; repeat < 25; repeat++)
                    {
                        for (int p = 0; p < batch.Count; p++)
                        {
                            int pair = (p + (w * 3)) % batch.Count;
                            int keys = batch.GetPartitionKeyCount(pair);
                            string?[] watermarks = new string?[keys];
                            for (int k = 0; k < keys; k++)
                            {
                                watermarks[k] = marks[int.Parse(Encoding.UTF8.GetString(batch.GetPartitionKey(pair, k)).AsSpan(1), CultureInfo.InvariantCulture)];
                            }

                            bool any = batch.TryGetAggregateAfter(pair, watermarks, destination);
                            if (any != (expected[pair].Count > 0) || (any && (destination.Count != expected[pair].Count || destination.Sum != expected[pair].Sum)))
                            {
                                Interlocked.Increment(ref mismatches);
                            }
                        }
                    }
                },
                TaskCreationOptions.LongRunning))];
            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(0, mismatches);
        }
    }
}
