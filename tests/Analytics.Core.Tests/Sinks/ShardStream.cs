using System.Globalization;
using System.Numerics;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core.Tests;

/// <summary>One metric sample of a test record.</summary>
internal sealed record TestSample(string Metric, KeyValuePair<string, string>[] Dimensions, long TimestampMs, double Value);

/// <summary>One Kinesis record of a test shard: its sequence number and the samples it carries.</summary>
internal sealed record ShardRecord(string SequenceNumber, TestSample[] Samples, string PartitionKey = "pk-0");

/// <summary>
/// Test shards and batches built the way the pipeline builds them, plus an independent reading of the
/// aggregate table to compare against aggregates computed directly from the samples.
/// </summary>
internal static class ShardStream
{
    public const string StreamArn = "arn:aws:kinesis:us-east-1:123456789012:stream/metrics";
    private const long BaseMs = 1_714_564_800_000; // 2024-05-01T12:00:00Z, a window boundary

    private static readonly string[] s_metrics = ["latency", "bytes|out", "errors=rate"];
    private static readonly string[] s_regions = ["eu-west-1", "us-east-1", "ap|south=1"];

    /// <summary>Records of one shard, in sequence order, over a few series and four 60-second windows.</summary>
    public static ShardRecord[] Generate(int seed, int count, int shardOrdinal = 0)
    {
        var random = new Random(seed);
        BigInteger sequence = BigInteger.Parse("49590338271490256608559692538361571095921575989136588898", CultureInfo.InvariantCulture) +
                              (new BigInteger(shardOrdinal) * BigInteger.Pow(10, 30));
        var records = new ShardRecord[count];
        for (int i = 0; i < count; i++)
        {
            sequence += random.Next(1, 5000);
            var samples = new TestSample[random.Next(1, 4)];
            for (int s = 0; s < samples.Length; s++)
            {
                string metric = s_metrics[random.Next(s_metrics.Length)];
                KeyValuePair<string, string>[] dims = random.Next(4) == 0
                    ? []
                    : [new("region", s_regions[random.Next(s_regions.Length)]), new("host", "h" + random.Next(2))];
                double value = Math.Round(random.NextDouble() * 1000, 3) + 0.001;
                samples[s] = new TestSample(metric, dims, BaseMs + random.Next(0, 4 * 60_000), value);
            }

            records[i] = new ShardRecord(sequence.ToString(CultureInfo.InvariantCulture), samples);
        }

        return records;
    }

    /// <summary>One record per series, all in one window: <paramref name="pairs"/> pairs, pair i holding record i.</summary>
    public static ShardRecord[] DistinctSeries(int pairs)
    {
        var sequence = BigInteger.Parse("49590338271490256608559692538361571095921575989136588898", CultureInfo.InvariantCulture);
        return
        [
            .. Enumerable.Range(0, pairs).Select(i => new ShardRecord(
                (sequence + (i * 10)).ToString(CultureInfo.InvariantCulture),
                [new TestSample("m" + i.ToString(CultureInfo.InvariantCulture), [], BaseMs + i, i + 0.5)])),
        ];
    }

    /// <summary>Builds the batch of a slice of records, the way the pipeline does (per-record log on).</summary>
    public static AggregateBatch Build(string shardId, IEnumerable<ShardRecord> records, AggregatorOptions? options = null)
    {
        var batch = new AggregateBatch(options ?? AggregatorOptions.Default);
        batch.Reset(hasSampleLog: true);
        batch.SetSource(shardId, StreamArn);
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

        return batch;
    }

    /// <summary>
    /// Index (within <paramref name="slice"/>) of the record the pipeline would report as checkpoint: the first record
    /// of the first pair left unmarked; null when every pair is durable.
    /// </summary>
    public static int? Checkpoint(AggregateBatch batch)
    {
        int? first = null;
        for (int pair = 0; pair < batch.Count; pair++)
        {
            if (!batch.IsDurable(pair))
            {
                int record = batch.GetPairFirstRecord(pair);
                first = first is null ? record : Math.Min(first.Value, record);
            }
        }

        return first;
    }

    /// <summary>Series key text used to match table items with expectations: metric, then sorted k=v.</summary>
    public static string Identity(string metric, IEnumerable<KeyValuePair<string, string>> dimensions, long windowStartMs) =>
        metric + "\u0001" + string.Join("\u0001", dimensions.OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => d.Key + "\u0002" + d.Value)) +
        "\u0001" + windowStartMs.ToString(CultureInfo.InvariantCulture);

    /// <summary>What the table must hold after every record of every shard was applied once.</summary>
    public static Dictionary<string, Expected> Expect(params (string ShardId, ShardRecord[] Records)[] shards)
    {
        var result = new Dictionary<string, Expected>(StringComparer.Ordinal);
        foreach ((string shardId, ShardRecord[] records) in shards)
        {
            foreach (ShardRecord r in records)
            {
                foreach (TestSample s in r.Samples)
                {
                    long window = s.TimestampMs - (s.TimestampMs % 60_000);
                    string id = Identity(s.Metric, s.Dimensions, window);
                    if (!result.TryGetValue(id, out Expected? e))
                    {
                        result[id] = e = new Expected();
                    }

                    e.Values.Add(s.Value);
                    e.Watermarks[shardId + "/" + r.PartitionKey] = r.SequenceNumber;
                }
            }
        }

        return result;
    }

    /// <summary>Scans the table and checks it holds exactly <paramref name="expected"/>.</summary>
    public static async Task AssertTableAsync(IAmazonDynamoDB client, string table, Dictionary<string, Expected> expected, AggregatorOptions? options = null)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            ScanResponse page = await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true, ExclusiveStartKey = start });
            foreach (Dictionary<string, AttributeValue> item in page.Items ?? [])
            {
                IEnumerable<KeyValuePair<string, string>> dims = item.TryGetValue("dimensions", out AttributeValue? d) && d.M is not null
                    ? d.M.Select(x => new KeyValuePair<string, string>(x.Key, x.Value.S))
                    : [];
                long windowStart = DateTimeOffset.Parse(item["windowStart"].S, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
                string id = Identity(item["metric"].S, dims, windowStart);
                Assert.True(seen.Add(id), "duplicate item " + id);
                Assert.True(expected.TryGetValue(id, out Expected? e), "unexpected item " + id);

                List<double> values = e.Values;
                Assert.Equal(values.Count, long.Parse(item["count"].N, CultureInfo.InvariantCulture));
                Assert.Equal(values.Min(), double.Parse(item["min"].N, CultureInfo.InvariantCulture));
                Assert.Equal(values.Max(), double.Parse(item["max"].N, CultureInfo.InvariantCulture));
                Assert.Equal(values.Sum(), double.Parse(item["sum"].N, CultureInfo.InvariantCulture), 1e-9 * values.Sum());

                var stored = new MetricAggregate(options ?? AggregatorOptions.Default);
                byte[] sketch = item["sketch"].B.ToArray();
                Assert.True(stored.TryReadFrom(sketch, out int read));
                Assert.Equal(sketch.Length, read);
                var all = new MetricAggregate(options ?? AggregatorOptions.Default);
                foreach (double v in values)
                {
                    all.Add(v);
                }

                Assert.Equal(all.Count, stored.Count);
                Assert.Equal(all.Min, stored.Min);
                Assert.Equal(all.Max, stored.Max);
                Assert.Equal(all.Sum, stored.Sum, 1e-9 * values.Sum());
                foreach (double q in (double[])[0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1])
                {
                    Assert.Equal(all.GetQuantile(q), stored.GetQuantile(q));
                }

                // Per (shard, partition key): the key's last record that reached the item.
                Dictionary<string, string> wk = item["wk"].M
                    .SelectMany(shard => shard.Value.M.Select(key => (Id: shard.Key + "/" + key.Key, key.Value.S)))
                    .ToDictionary(x => x.Id, x => x.S, StringComparer.Ordinal);
                Assert.Equal(e.Watermarks.OrderBy(x => x.Key, StringComparer.Ordinal), wk.OrderBy(x => x.Key, StringComparer.Ordinal));
            }

            start = page.LastEvaluatedKey is { Count: > 0 } ? page.LastEvaluatedKey : null;
        }
        while (start is not null);

        Assert.Equal(expected.Count, seen.Count);
    }

    public static async Task<int> CountItemsAsync(IAmazonDynamoDB client, string table) =>
        (await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items?.Count ?? 0;

    internal sealed class Expected
    {
        public List<double> Values { get; } = [];

        /// <summary>Per "shard/partition key", the last sequence number of that key with a sample in the item.</summary>
        public Dictionary<string, string> Watermarks { get; } = new(StringComparer.Ordinal);
    }
}
