using System.Globalization;
using System.Numerics;
using System.Text;

namespace Analytics.Core.Tests;

/// <summary>
/// Fills an existing batch the way the pipeline does (so one instance can be reused), and checks a batch's per-pair
/// and per-partition-key answers against a computation from the records alone.
/// </summary>
internal static class BatchModel
{
    public static readonly BigInteger Base = BigInteger.Parse("49590338271490256608559692538361571095921575989136588898", CultureInfo.InvariantCulture);

    /// <summary>The sequence number of record <paramref name="i"/> of a test batch: increasing, three apart.</summary>
    public static string Seq(int i) => (Base + (i * 3)).ToString(CultureInfo.InvariantCulture);

    /// <summary>Resets <paramref name="batch"/> (per-record log on) and registers the records, as the pipeline does.</summary>
    public static void Fill(AggregateBatch batch, IEnumerable<ShardRecord> records)
    {
        batch.Reset(hasSampleLog: true);
        batch.SetSource("shardId-000000000000", ShardStream.StreamArn);
        foreach (ShardRecord r in records)
        {
            int record = batch.AddRecord(Encoding.ASCII.GetBytes(r.SequenceNumber), Encoding.UTF8.GetBytes(r.PartitionKey));
            foreach (TestSample s in r.Samples)
            {
                byte[] key = SeriesKey.Encode(s.Metric, s.Dimensions);
                Assert.True(batch.Aggregator.TryGetOrAddPair(key, s.TimestampMs, out int pair));
                batch.Aggregator.AddToPair(pair, s.Value);
                batch.NoteContribution(pair, record, s.Value);
            }
        }
    }

    /// <summary>
    /// Every disagreement between the batch and the records: the pairs, each pair's partition keys and each key's last
    /// sequence number, and the per-key split past <paramref name="mark"/> (a key's watermark, null for none).
    /// Reads the key view through <see cref="AggregateBatch.GetPartitionKeyCount"/> first.
    /// </summary>
    public static List<string> Mismatches(AggregateBatch batch, IReadOnlyList<ShardRecord> records, Func<string, BigInteger?> mark)
    {
        long windowMs = (long)batch.WindowSize.TotalMilliseconds;
        var errors = new List<string>();
        var sequence = records.ToDictionary(r => r.SequenceNumber, r => BigInteger.Parse(r.SequenceNumber, CultureInfo.InvariantCulture));
        var byPair = new Dictionary<(string Metric, long Window), List<(ShardRecord Record, double Value)>>();
        foreach (ShardRecord r in records)
        {
            foreach (TestSample s in r.Samples)
            {
                (string, long) id = (s.Metric, s.TimestampMs - (s.TimestampMs % windowMs));
                if (!byPair.TryGetValue(id, out List<(ShardRecord, double)>? list))
                {
                    byPair[id] = list = [];
                }

                list.Add((r, s.Value));
            }
        }

        if (batch.Count != byPair.Count)
        {
            errors.Add($"{batch.Count} pairs, expected {byPair.Count}");
            return errors;
        }

        var destination = new MetricAggregate(batch.AggregatorOptions);
        for (int pair = 0; pair < batch.Count; pair++)
        {
            string where = $"pair {pair}";
            if (!byPair.TryGetValue((batch.GetSeriesKey(pair).GetMetricString(), batch.GetWindowStartMs(pair)), out List<(ShardRecord Record, double Value)>? mine))
            {
                errors.Add(where + ": not a (series, window) of the records");
                continue;
            }

            int keyCount = batch.GetPartitionKeyCount(pair);
            string[] keys = [.. Enumerable.Range(0, keyCount).Select(k => Encoding.UTF8.GetString(batch.GetPartitionKey(pair, k)))];
            string[] expectedKeys = [.. mine.Select(m => m.Record.PartitionKey).Distinct().Order(StringComparer.Ordinal)];
            if (!keys.Order(StringComparer.Ordinal).SequenceEqual(expectedKeys))
            {
                errors.Add($"{where}: keys [{string.Join(",", keys)}], expected [{string.Join(",", expectedKeys)}]");
                continue;
            }

            for (int k = 0; k < keys.Length; k++)
            {
                string last = Encoding.ASCII.GetString(batch.GetLastSequenceNumber(pair, k));
                string expected = mine.Last(m => m.Record.PartitionKey == keys[k]).Record.SequenceNumber;
                if (last != expected)
                {
                    errors.Add($"{where}: key {keys[k]} last {last}, expected {expected}");
                }
            }

            destination.Add(1e6); // the split must clear it first
            string?[] watermarks = [.. keys.Select(k => mark(k)?.ToString(CultureInfo.InvariantCulture))];
            double[] past = [.. mine.Where(m => mark(m.Record.PartitionKey) is not { } w || sequence[m.Record.SequenceNumber] > w).Select(m => m.Value)];
            bool any = batch.TryGetAggregateAfter(pair, watermarks, destination);
            if (any != past.Length > 0 || destination.Count != past.Length || destination.Sum != past.Sum())
            {
                errors.Add($"{where}: split {any} {destination.Count} {destination.Sum}, expected {past.Length} {past.Sum()}");
            }
        }

        return errors;
    }
}
