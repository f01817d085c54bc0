using System.Buffers;
using FsCheck.Xunit;

namespace Analytics.Core.Tests.Aggregation;

public class MetricAggregatorTests
{
    private static readonly AggregatorOptions s_options = AggregatorOptions.Default;

    [Property(MaxTest = 100)]
    public void TryAdd_AnySplitIntoBatches_MergeEqualsAggregateOfAll(int seed, ushort size, byte parts, bool tinyBins)
    {
        AggregatorOptions options = tinyBins ? s_options with { MaxBins = 16 } : s_options;
        Sample[] samples = Samples(seed, size % 3000);
        MetricAggregator whole = Aggregate(options, samples);

        var merged = new MetricAggregator(options);
        var random = new Random(seed ^ 0x5EED);
        foreach (double[] indexBatch in MetricAggregateTests.Split([.. Enumerable.Range(0, samples.Length).Select(i => (double)i)], 1 + (parts % 8), random))
        {
            merged.Merge(Aggregate(options, indexBatch.Select(i => samples[(int)i])));
        }

        AssertSameContents(whole, merged, samples);
    }

    [Property(MaxTest = 100)]
    public void TryAdd_AnyOrder_SameAggregates(int seed, ushort size)
    {
        Sample[] samples = Samples(seed, size % 3000);
        Sample[] shuffled = (Sample[])samples.Clone();
        new Random(seed).Shuffle(shuffled);
        AssertSameContents(Aggregate(s_options, samples), Aggregate(s_options, shuffled), samples);
    }

    [Property(MaxTest = 100)]
    public void Merge_IsAssociativeAndCommutative(int seedA, int seedB, int seedC)
    {
        Sample[] a = Samples(seedA, Math.Abs(seedA % 400));
        Sample[] b = Samples(seedB, Math.Abs(seedB % 400));
        Sample[] c = Samples(seedC, Math.Abs(seedC % 400));
        MetricAggregator left = Aggregate(s_options, a);
        left.Merge(Aggregate(s_options, b));
        left.Merge(Aggregate(s_options, c));
        MetricAggregator bc = Aggregate(s_options, b);
        bc.Merge(Aggregate(s_options, c));
        MetricAggregator right = Aggregate(s_options, a);
        right.Merge(bc);
        AssertSameContents(left, right, [.. a, .. b, .. c]);

        MetricAggregator ba = Aggregate(s_options, b);
        ba.Merge(Aggregate(s_options, a));
        MetricAggregator ab = Aggregate(s_options, a);
        ab.Merge(Aggregate(s_options, b));
        AssertSameContents(ab, ba, [.. a, .. b]);
    }

    [Property(MaxTest = 100)]
    public void WriteTo_TryMergeFrom_RoundTripsExactly(int seed, ushort size)
    {
        Sample[] samples = Samples(seed, size % 3000);
        MetricAggregator original = Aggregate(s_options, samples);
        byte[] bytes = Serialize(original);

        var copy = new MetricAggregator(s_options);
        Assert.True(copy.TryMergeFrom(bytes));
        Assert.Equal(original.PairCount, copy.PairCount);
        AssertSameContents(original, copy, [], exactSum: true);
        Assert.Equal(bytes, Serialize(copy));

        // Merging the bytes into a non-empty aggregator is the same as merging the aggregator itself.
        Sample[] other = Samples(seed + 1, 200);
        MetricAggregator viaBytes = Aggregate(s_options, other);
        Assert.True(viaBytes.TryMergeFrom(bytes));
        MetricAggregator direct = Aggregate(s_options, other);
        direct.Merge(original);
        AssertSameContents(direct, viaBytes, [.. other, .. samples]);
    }

    [Property(MaxTest = 30)]
    public void TryMergeFrom_AnyTruncation_ReturnsFalseAndChangesNothing(int seed, byte size)
    {
        byte[] bytes = Serialize(Aggregate(s_options, Samples(seed, size)));
        MetricAggregator target = Aggregate(s_options, Samples(seed + 1, 20));
        byte[] before = Serialize(target);
        for (int length = 0; length < bytes.Length; length++)
        {
            Assert.False(target.TryMergeFrom(bytes.AsSpan(0, length)), $"prefix of {length} of {bytes.Length} bytes");
        }

        Assert.Equal(before, Serialize(target));

        // Trailing bytes are rejected too.
        Assert.False(target.TryMergeFrom([.. bytes, 0]));
        Assert.Equal(before, Serialize(target));
    }

    [Property(MaxTest = 300)]
    public void TryMergeFrom_CorruptedBytes_NeverThrowsAndIsAllOrNothing(int seed, ushort size, byte flips)
    {
        byte[] bytes = Serialize(Aggregate(s_options with { MaxBins = 16 }, Samples(seed, size % 300)));
        var random = new Random(seed);
        for (int i = 0; i <= flips % 4; i++)
        {
            bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
        }

        var target = new MetricAggregator(s_options with { MaxBins = 16 });
        target.TryAdd(SeriesKey(SeriesKey_Encode("existing")), 0, 1);
        byte[] before = Serialize(target);
        if (target.TryMergeFrom(bytes))
        {
            // Accepted: the result must behave and serialize again.
            _ = target.GetSnapshots();
            Assert.True(new MetricAggregator(s_options with { MaxBins = 16 }).TryMergeFrom(Serialize(target)));
        }
        else
        {
            Assert.Equal(before, Serialize(target));
        }
    }

    [Fact]
    public void TryMergeFrom_OtherWindowSizeOrVersion_ReturnsFalse()
    {
        byte[] bytes = Serialize(Aggregate(s_options, Samples(1, 50)));
        Assert.False(new MetricAggregator(s_options with { WindowSize = TimeSpan.FromMinutes(5) }).TryMergeFrom(bytes));
        Assert.False(new MetricAggregator(s_options with { RelativeAccuracy = 0.02 }).TryMergeFrom(bytes));
        bytes[0] = 0;
        Assert.False(new MetricAggregator(s_options).TryMergeFrom(bytes));
        Assert.False(new MetricAggregator(s_options).TryMergeFrom([]));
    }

    [Theory]
    [InlineData(0L, 60_000L, 0L)]
    [InlineData(59_999L, 60_000L, 0L)]
    [InlineData(60_000L, 60_000L, 60_000L)]
    [InlineData(-1L, 60_000L, -60_000L)]
    [InlineData(-60_000L, 60_000L, -60_000L)]
    [InlineData(-60_001L, 60_000L, -120_000L)]
    [InlineData(1_737_367_234_567L, 60_000L, 1_737_367_200_000L)]
    [InlineData(1_737_367_234_567L, 3_600_000L, 1_737_367_200_000L)]
    [InlineData(1_737_367_199_999L, 3_600_000L, 1_737_363_600_000L)]
    [InlineData(-1L, 1_234L, -1_234L)]
    public void TryAdd_Timestamp_LandsInEpochAlignedWindow(long timestampMs, long windowMs, long expectedStart)
    {
        var aggregator = new MetricAggregator(s_options with { WindowSize = TimeSpan.FromMilliseconds(windowMs) });
        Assert.True(aggregator.TryAdd(SeriesKey(SeriesKey_Encode("m")), timestampMs, 1));
        Assert.Equal(expectedStart, aggregator.GetWindowStartMs(0));
    }

    [Property(MaxTest = 500)]
    public void TryAdd_AnyTimestamp_WindowHoldsIt(long timestamp, ushort windowSeconds, ushort extraMs)
    {
        long windowMs = (1 + (windowSeconds % 3600)) * 1000L + (extraMs % 1000);
        windowMs = Math.Min(windowMs, 3_600_000);
        long t = timestamp % 250_000_000_000_000; // within the years 0001..9999 either side of the epoch
        var aggregator = new MetricAggregator(s_options with { WindowSize = TimeSpan.FromMilliseconds(windowMs) });
        Assert.True(aggregator.TryAdd(SeriesKey(SeriesKey_Encode("m")), t, 1));
        long start = aggregator.GetWindowStartMs(0);
        Assert.Equal(0, start % windowMs);
        Assert.InRange(t, start, start + windowMs - 1);

        // The neighbours: the window's first and last millisecond land in the same pair, the next in a new one.
        Assert.True(aggregator.TryAdd(SeriesKey(SeriesKey_Encode("m")), start, 1));
        Assert.True(aggregator.TryAdd(SeriesKey(SeriesKey_Encode("m")), start + windowMs - 1, 1));
        Assert.Equal(1, aggregator.PairCount);
        Assert.True(aggregator.TryAdd(SeriesKey(SeriesKey_Encode("m")), start + windowMs, 1));
        Assert.Equal(2, aggregator.PairCount);
        Assert.Equal(start + windowMs, aggregator.GetWindowStartMs(1));
    }

    [Fact]
    public void TryAdd_InvalidSample_ReturnsFalseAndChangesNothing()
    {
        var aggregator = new MetricAggregator(s_options);
        byte[] key = SeriesKey_Encode("m");
        Assert.False(aggregator.TryAdd(SeriesKey(key), 0, double.NaN));
        Assert.False(aggregator.TryAdd(SeriesKey(key), 0, double.PositiveInfinity));
        Assert.False(aggregator.TryAdd(SeriesKey(key), long.MinValue, 1));
        Assert.False(aggregator.TryAdd(SeriesKey(key), long.MaxValue, 1));
        Assert.False(aggregator.TryAdd(default, 0, 1));
        Assert.Equal(0, aggregator.PairCount);
    }

    [Theory]
    [InlineData(999)]
    [InlineData(0)]
    [InlineData(-1000)]
    [InlineData(3_600_001)]
    public void Constructor_WindowSizeOutOfRange_Throws(long windowMs) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new MetricAggregator(s_options with { WindowSize = TimeSpan.FromMilliseconds(windowMs) }));

    [Fact]
    public void Constructor_WindowSizeNotWholeMilliseconds_Throws()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new MetricAggregator(s_options with { WindowSize = TimeSpan.FromTicks(TimeSpan.TicksPerSecond + 1) }));
        Assert.Contains("WindowSize", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new MetricAggregator(s_options with { MaxPairs = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MetricAggregator(s_options with { MaxBins = 8 }));
        _ = new MetricAggregator(s_options with { WindowSize = TimeSpan.FromSeconds(1) });
        _ = new MetricAggregator(s_options with { WindowSize = TimeSpan.FromHours(1) });
    }

    [Fact]
    public void TryAdd_PastMaxPairs_RefusesOnlyNewPairs()
    {
        var aggregator = new MetricAggregator(s_options with { MaxPairs = 3 });
        byte[] a = SeriesKey_Encode("a");
        byte[] b = SeriesKey_Encode("b");
        Assert.True(aggregator.TryAdd(SeriesKey(a), 0, 1));
        Assert.True(aggregator.TryAdd(SeriesKey(a), 60_000, 1));
        Assert.True(aggregator.TryAdd(SeriesKey(b), 0, 1));
        Assert.False(aggregator.TryAdd(SeriesKey(b), 60_000, 1)); // new window of a known series
        Assert.False(aggregator.TryAdd(SeriesKey(SeriesKey_Encode("c")), 0, 1)); // new series
        Assert.True(aggregator.TryAdd(SeriesKey(a), 59_999, 5)); // existing pair
        Assert.Equal(3, aggregator.PairCount);
        Assert.Equal(2, aggregator.SeriesCount);
        Assert.Equal(2, aggregator.GetAggregate(0).Count);
        Assert.Equal(6, aggregator.GetAggregate(0).Sum);
    }

    [Fact]
    public void Merge_PastMaxPairs_KeepsEveryPair()
    {
        MetricAggregator source = Aggregate(s_options, Samples(5, 500));
        Assert.True(source.PairCount > 2);
        var capped = new MetricAggregator(s_options with { MaxPairs = 2 });
        capped.Merge(source);
        Assert.Equal(source.PairCount, capped.PairCount);
        Assert.False(capped.TryAdd(SeriesKey(SeriesKey_Encode("new")), 0, 1));
    }

    /// <summary>
    /// Records applied atomically, as the pipeline does: mark, get or add every pair, roll back on refusal, else add.
    /// Checked after every record against a model that knows nothing of hash tables.
    /// </summary>
    [Property(MaxTest = 200)]
    public void RollbackTo_RandomRecordsUnderCap_MatchesModel(int seed, byte cap)
    {
        int maxPairs = 1 + (cap % 60);
        var aggregator = new MetricAggregator(s_options with { MaxPairs = maxPairs });
        var random = new Random(seed);
        byte[][] keys = [.. Enumerable.Range(0, 50).Select(i => SeriesKey_Encode("metric" + (i % 7), ("host", "h" + i)))];
        var modelOrder = new List<(int Key, long Window)>();
        var modelValues = new Dictionary<(int Key, long Window), List<double>>();

        for (int record = 0; record < 150; record++)
        {
            var samples = Enumerable.Range(0, 1 + random.Next(6))
                .Select(_ => (Key: random.Next(keys.Length), Timestamp: (long)random.Next(-3, 3) * 60_000 + random.Next(60_000), Value: (double)random.Next(-5, 100)))
                .ToList();
            int newPairs = samples.Select(s => (s.Key, Window: Floor(s.Timestamp, 60_000))).Distinct().Count(p => !modelValues.ContainsKey(p));
            bool modelRefuses = modelOrder.Count + newPairs > maxPairs;

            int mark = aggregator.PairCount;
            int[] pairs = new int[samples.Count];
            bool refused = false;
            for (int i = 0; i < samples.Count; i++)
            {
                if (!aggregator.TryGetOrAddPair(keys[samples[i].Key], samples[i].Timestamp, out pairs[i]))
                {
                    refused = true;
                    break;
                }
            }

            Assert.Equal(modelRefuses, refused);
            if (refused)
            {
                aggregator.RollbackTo(mark);
            }
            else
            {
                for (int i = 0; i < samples.Count; i++)
                {
                    aggregator.AddToPair(pairs[i], samples[i].Value);
                    var modelKey = (samples[i].Key, Floor(samples[i].Timestamp, 60_000));
                    if (!modelValues.TryGetValue(modelKey, out List<double>? list))
                    {
                        modelValues[modelKey] = list = [];
                        modelOrder.Add(modelKey);
                    }

                    list.Add(samples[i].Value);
                }
            }

            Assert.Equal(modelOrder.Count, aggregator.PairCount);
            int distinctKeys = modelOrder.Select(p => p.Key).Distinct().Count();
            Assert.Equal(distinctKeys, aggregator.SeriesCount);
            Assert.Equal(modelOrder.Select(p => p.Key).Distinct().Sum(k => keys[k].Length), aggregator.ArenaBytesUsed);
        }

        for (int p = 0; p < modelOrder.Count; p++)
        {
            (int key, long window) = modelOrder[p];
            Assert.True(aggregator.GetSeriesKey(p).Encoded.SequenceEqual(keys[key]));
            Assert.Equal(window, aggregator.GetWindowStartMs(p));
            Assert.Equal(modelValues[modelOrder[p]].Count, aggregator.GetAggregate(p).Count);
            Assert.Equal(modelValues[modelOrder[p]].Sum(), aggregator.GetAggregate(p).Sum);
            Assert.True(aggregator.TryGetOrAddPair(keys[key], window, out int found));
            Assert.Equal(p, found);
        }

        var copy = new MetricAggregator(s_options with { MaxPairs = maxPairs });
        Assert.True(copy.TryMergeFrom(Serialize(aggregator)));
        Assert.Equal(Serialize(aggregator), Serialize(copy));
    }

    [Fact]
    public void RollbackTo_AcrossTableGrowth_RestoresLookups()
    {
        var aggregator = new MetricAggregator(s_options);
        byte[][] keys = [.. Enumerable.Range(0, 300).Select(i => SeriesKey_Encode("m", ("k", i.ToString())))];
        for (int i = 0; i < 10; i++)
        {
            Assert.True(aggregator.TryGetOrAddPair(keys[i], 0, out _));
        }

        // One record that grows both tables several times, then is rolled back.
        int mark = aggregator.PairCount;
        for (int i = 10; i < 300; i++)
        {
            Assert.True(aggregator.TryGetOrAddPair(keys[i], 0, out _));
            Assert.True(aggregator.TryGetOrAddPair(keys[i - 10], 60_000, out _));
        }

        aggregator.RollbackTo(mark);
        Assert.Equal(10, aggregator.PairCount);
        Assert.Equal(10, aggregator.SeriesCount);
        for (int i = 0; i < 10; i++)
        {
            Assert.True(aggregator.TryGetOrAddPair(keys[i], 0, out int pair));
            Assert.Equal(i, pair);
        }

        Assert.True(aggregator.TryGetOrAddPair(keys[299], 0, out int again));
        Assert.Equal(10, again);
        Assert.True(aggregator.GetSeriesKey(10).Encoded.SequenceEqual(keys[299]));
        Assert.Throws<ArgumentOutOfRangeException>(() => aggregator.RollbackTo(12));
    }

    [Fact]
    public void TryAdd_KnownPairsAfterWarmUp_AllocatesNothing()
    {
        var aggregator = new MetricAggregator(s_options);
        byte[][] keys = [.. Enumerable.Range(0, 200).Select(i => SeriesKey_Encode("latency", ("host", "h" + (i % 20)), ("route", "/r" + (i / 20))))];
        double[] values = SampleData.Values(1, 6, 20_000);
        long[] timestamps = [.. Enumerable.Range(0, values.Length).Select(i => 1_737_367_200_000L + (i * 7L % 180_000))];

        void Run()
        {
            for (int i = 0; i < values.Length; i++)
            {
                Assert.True(aggregator.TryAdd(SeriesKey(keys[i % keys.Length]), timestamps[i], values[i]));
            }
        }

        Run();
        int pairs = aggregator.PairCount;
        long steady = AllocationMeasure.Least(Run);
        Assert.Equal(0, steady);
        Assert.Equal(pairs, aggregator.PairCount);

        // Reused after Clear: the same stream again allocates nothing (pairs, keys and bins reuse storage).
        long reused = AllocationMeasure.Least(() =>
        {
            aggregator.Clear();
            Run();
        });
        Assert.Equal(0, reused);
        Assert.Equal(pairs, aggregator.PairCount);
    }

    [Fact]
    public void GetSnapshots_DecodesEveryPair()
    {
        var aggregator = new MetricAggregator(s_options with { WindowSize = TimeSpan.FromMinutes(5) });
        byte[] key = SeriesKey_Encode("latency", ("route", "/a"), ("host", "h1"), ("az", "eu-1a"));
        double[] values = SampleData.Values(9, 1, 1000);
        long t0 = 1_737_367_200_000;
        foreach (double v in values)
        {
            Assert.True(aggregator.TryAdd(SeriesKey(key), t0 + 1234, v));
        }

        Assert.True(aggregator.TryAdd(SeriesKey(SeriesKey_Encode("count")), t0 - 1, 2));
        IReadOnlyList<AggregateSnapshot> snapshots = aggregator.GetSnapshots();
        Assert.Equal(2, snapshots.Count);

        AggregateSnapshot s = snapshots[0];
        Assert.Equal("latency", s.Metric);
        Assert.Equal(["az", "host", "route"], s.Dimensions.Select(d => d.Key));
        Assert.Equal(["eu-1a", "h1", "/a"], s.Dimensions.Select(d => d.Value));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(t0), s.WindowStart);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(t0 + 300_000), s.WindowEnd);
        Assert.Equal(values.Length, s.Count);
        Assert.Equal(values.Min(), s.Min);
        Assert.Equal(values.Max(), s.Max);
        Assert.Equal(values.Sum(), s.Sum, 1e-9 * values.Sum());
        double[] sorted = [.. values.Order()];
        Assert.True(SampleData.WithinRelativeError(s.P50, SampleData.ExactQuantile(sorted, 0.50), 0.01));
        Assert.True(SampleData.WithinRelativeError(s.P90, SampleData.ExactQuantile(sorted, 0.90), 0.01));
        Assert.True(SampleData.WithinRelativeError(s.P95, SampleData.ExactQuantile(sorted, 0.95), 0.01));
        Assert.True(SampleData.WithinRelativeError(s.P99, SampleData.ExactQuantile(sorted, 0.99), 0.01));

        Assert.Equal("count", snapshots[1].Metric);
        Assert.Empty(snapshots[1].Dimensions);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(t0 - 300_000), snapshots[1].WindowStart);
        Assert.Equal(2, snapshots[1].P99);
    }

    internal readonly record struct Sample(byte[] Key, long Timestamp, double Value);

    internal static Sample[] Samples(int seed, int count)
    {
        var random = new Random(seed);
        int seriesCount = 1 + random.Next(30);
        byte[][] keys = [.. Enumerable.Range(0, seriesCount).Select(i => SeriesKey_Encode("m" + (i % 4), ("host", "h" + i), ("az", "z" + (i % 3))))];
        long baseTime = (long)((random.NextDouble() - 0.5) * 2e12);
        double[] values = SampleData.Values(seed, random.Next(SampleData.DistributionCount), count);
        var samples = new Sample[count];
        for (int i = 0; i < count; i++)
        {
            samples[i] = new Sample(keys[random.Next(seriesCount)], baseTime + random.Next(300_000), values[i]);
        }

        return samples;
    }

    internal static MetricAggregator Aggregate(AggregatorOptions options, IEnumerable<Sample> samples)
    {
        var aggregator = new MetricAggregator(options);
        foreach (Sample s in samples)
        {
            Assert.True(aggregator.TryAdd(SeriesKey(s.Key), s.Timestamp, s.Value));
        }

        return aggregator;
    }

    internal static byte[] Serialize(MetricAggregator aggregator)
    {
        var buffer = new ArrayBufferWriter<byte>();
        aggregator.WriteTo(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    internal static byte[] SeriesKey_Encode(string metric, params (string Key, string Value)[] dimensions) =>
        Analytics.Core.SeriesKey.Encode(metric, dimensions.Select(d => KeyValuePair.Create(d.Key, d.Value)));

    internal static SeriesKey SeriesKey(byte[] encoded)
    {
        Assert.True(Analytics.Core.SeriesKey.TryCreate(encoded, out SeriesKey key));
        return key;
    }

    private static long Floor(long t, long size) => (long)Math.Floor(t / (double)size) * size;

    private static Dictionary<(string Key, long Window), MetricAggregate> Contents(MetricAggregator aggregator)
    {
        var contents = new Dictionary<(string, long), MetricAggregate>();
        for (int p = 0; p < aggregator.PairCount; p++)
        {
            contents.Add((Convert.ToHexString(aggregator.GetSeriesKey(p).Encoded), aggregator.GetWindowStartMs(p)), aggregator.GetAggregate(p));
        }

        return contents;
    }

    private static void AssertSameContents(MetricAggregator expected, MetricAggregator actual, Sample[] samples, bool exactSum = false)
    {
        double tolerance = exactSum ? 0 : 1e-9 * samples.Sum(s => Math.Abs(s.Value));
        Dictionary<(string Key, long Window), MetricAggregate> e = Contents(expected);
        Dictionary<(string Key, long Window), MetricAggregate> a = Contents(actual);
        Assert.Equal(e.Keys.Order(), a.Keys.Order());
        foreach (((string Key, long Window) pair, MetricAggregate aggregate) in e)
        {
            Assert.True(aggregate.ContentEquals(a[pair], tolerance), $"pair {pair}");
            if (exactSum)
            {
                Assert.Equal(BitConverter.DoubleToInt64Bits(aggregate.Sum), BitConverter.DoubleToInt64Bits(a[pair].Sum));
            }
        }
    }
}
