using System.Buffers;
using FsCheck.Xunit;

namespace Analytics.Core.Tests.Aggregation;

public class MetricAggregateTests
{
    private static readonly AggregatorOptions s_default = AggregatorOptions.Default;
    private static readonly AggregatorOptions s_tinyBins = AggregatorOptions.Default with { MaxBins = 16 };

    [Property(MaxTest = 200)]
    public void Merge_AnySplitIntoBatches_EqualsAggregateOfAll(int seed, byte kind, ushort size, byte parts, bool tinyBins)
    {
        AggregatorOptions options = tinyBins ? s_tinyBins : s_default;
        double[] values = SampleData.Values(seed, kind % SampleData.DistributionCount, size % 2000);
        MetricAggregate whole = Aggregate(options, values);

        var random = new Random(seed ^ 0x5EED);
        int batches = 1 + (parts % 8);
        var merged = new MetricAggregate(options);
        foreach (double[] batch in Split(values, batches, random))
        {
            merged.Merge(Aggregate(options, batch));
        }

        AssertSame(whole, merged, values);
    }

    [Property(MaxTest = 200)]
    public void Add_AnyOrder_SameAggregate(int seed, byte kind, ushort size, bool tinyBins)
    {
        AggregatorOptions options = tinyBins ? s_tinyBins : s_default;
        double[] values = SampleData.Values(seed, kind % SampleData.DistributionCount, size % 2000);
        double[] shuffled = (double[])values.Clone();
        new Random(seed).Shuffle(shuffled);
        AssertSame(Aggregate(options, values), Aggregate(options, shuffled), values);
    }

    [Property(MaxTest = 200)]
    public void Merge_IsAssociativeAndCommutative(int seedA, int seedB, int seedC, byte kind, bool tinyBins)
    {
        AggregatorOptions options = tinyBins ? s_tinyBins : s_default;
        int k = kind % SampleData.DistributionCount;
        double[] a = SampleData.Values(seedA, k, Math.Abs(seedA % 300));
        double[] b = SampleData.Values(seedB, k, Math.Abs(seedB % 300));
        double[] c = SampleData.Values(seedC, (k + 1) % SampleData.DistributionCount, Math.Abs(seedC % 300));
        double[] all = [.. a, .. b, .. c];

        MetricAggregate left = Aggregate(options, a);
        MetricAggregate ab = Aggregate(options, a);
        ab.Merge(Aggregate(options, b));
        left = ab;
        left.Merge(Aggregate(options, c));

        MetricAggregate bc = Aggregate(options, b);
        bc.Merge(Aggregate(options, c));
        MetricAggregate right = Aggregate(options, a);
        right.Merge(bc);
        AssertSame(left, right, all);

        MetricAggregate ba = Aggregate(options, b);
        ba.Merge(Aggregate(options, a));
        MetricAggregate ab2 = Aggregate(options, a);
        ab2.Merge(Aggregate(options, b));
        AssertSame(ab2, ba, [.. a, .. b]);
    }

    [Property(MaxTest = 200)]
    public void WriteTo_TryReadFrom_RoundTripsExactly(int seed, byte kind, ushort size, bool tinyBins)
    {
        AggregatorOptions options = tinyBins ? s_tinyBins : s_default;
        double[] values = SampleData.Values(seed, kind % SampleData.DistributionCount, size % 2000);
        MetricAggregate original = Aggregate(options, values);
        byte[] bytes = Serialize(original);

        var copy = new MetricAggregate(options);
        copy.Add(12345);
        Assert.True(copy.TryReadFrom(bytes, out int read));
        Assert.Equal(bytes.Length, read);
        Assert.True(original.ContentEquals(copy, 0));
        Assert.Equal(BitConverter.DoubleToInt64Bits(original.Sum), BitConverter.DoubleToInt64Bits(copy.Sum));
        Assert.Equal(bytes, Serialize(copy));
        foreach (double q in SampleData.FixedQuantiles)
        {
            Assert.Equal(original.GetQuantile(q), copy.GetQuantile(q));
        }
    }

    [Property(MaxTest = 100)]
    public void TryReadFrom_AnyTruncation_ReturnsFalse(int seed, byte kind, ushort size)
    {
        double[] values = SampleData.Values(seed, kind % SampleData.DistributionCount, size % 500);
        byte[] bytes = Serialize(Aggregate(s_default, values));
        var target = new MetricAggregate(s_default);
        for (int length = 0; length < bytes.Length; length++)
        {
            Assert.False(target.TryReadFrom(bytes.AsSpan(0, length), out _), $"prefix of {length} of {bytes.Length} bytes");
            Assert.Equal(0, target.Count);
        }
    }

    [Property(MaxTest = 300)]
    public void TryReadFrom_CorruptedBytes_NeverThrowsAndAcceptsOnlyConsistentData(int seed, byte kind, ushort size, byte flips)
    {
        double[] values = SampleData.Values(seed, kind % SampleData.DistributionCount, size % 500);
        byte[] bytes = Serialize(Aggregate(s_tinyBins, values));
        var random = new Random(seed);
        for (int i = 0; i <= flips % 4; i++)
        {
            bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
        }

        var target = new MetricAggregate(s_tinyBins);
        if (target.TryReadFrom(bytes, out int read))
        {
            // Accepted: it must be an aggregate that behaves and re-serializes to what was read.
            Assert.InRange(read, 1, bytes.Length);
            Assert.Equal(bytes.AsSpan(0, read).ToArray(), Serialize(target));
            foreach (double q in SampleData.FixedQuantiles)
            {
                double estimate = target.GetQuantile(q);
                Assert.True(target.Count == 0 || (estimate >= target.Min && estimate <= target.Max));
            }
        }
        else
        {
            Assert.Equal(0, target.Count);
        }
    }

    [Fact]
    public void TryReadFrom_OtherAccuracyOrVersion_ReturnsFalse()
    {
        byte[] bytes = Serialize(Aggregate(s_default, [1, 2, 3]));
        Assert.False(new MetricAggregate(s_default with { RelativeAccuracy = 0.02 }).TryReadFrom(bytes, out _));
        Assert.False(new MetricAggregate(s_default with { MaxBins = 1024 }).TryReadFrom(bytes, out _));
        bytes[0] = 2;
        Assert.False(new MetricAggregate(s_default).TryReadFrom(bytes, out _));
    }

    [Fact]
    public void CountSumMinMax_MatchTheSamples()
    {
        double[] values = [3, -1.5, 0, 8.25, -0.0, 2];
        MetricAggregate aggregate = Aggregate(s_default, values);
        Assert.Equal(6, aggregate.Count);
        Assert.Equal(11.75, aggregate.Sum);
        Assert.Equal(-1.5, aggregate.Min);
        Assert.Equal(8.25, aggregate.Max);
        var empty = new MetricAggregate(s_default);
        Assert.True(double.IsNaN(empty.Min) && double.IsNaN(empty.Max) && double.IsNaN(empty.GetQuantile(0.5)));
        Assert.Equal(0, empty.Sum);
    }

    [Fact]
    public void WriteTo_WorstCaseAggregate_FitsADynamoDbItem()
    {
        // Every bin of both sides in use, with counts that need the longest varints.
        AggregatorOptions options = s_default;
        var aggregate = new MetricAggregate(options);
        var oneBin = new MetricAggregate(options);
        double gamma = 1.01 / 0.99;
        for (int i = 0; i < options.MaxBins; i++)
        {
            double v = Math.Pow(gamma, i + 0.5);
            oneBin.Clear();
            oneBin.Add(v);
            oneBin.Add(v);
            for (int doubling = 0; doubling < 50; doubling++)
            {
                oneBin.Merge(oneBin);
            }

            aggregate.Merge(oneBin);
            oneBin.Clear();
            oneBin.Add(-v);
            oneBin.Add(-v);
            for (int doubling = 0; doubling < 20; doubling++)
            {
                oneBin.Merge(oneBin);
            }

            aggregate.Merge(oneBin);
        }

        Assert.Equal(options.MaxBins, aggregate.Sketch.Positive.CountNonEmptyBins());
        Assert.Equal(options.MaxBins, aggregate.Sketch.Negative.CountNonEmptyBins());
        int size = Serialize(aggregate).Length;

        // Positive side: 1-byte deltas + 8-byte counts (2^51); negative side: 1-byte deltas + 4-byte counts (2^21).
        Assert.InRange(size, 2048 * (1 + 8 + 1 + 4), (2048 * (1 + 8 + 1 + 4)) + 64);
        Assert.True(size < 400 * 1024);
    }

    [Fact]
    public void Sum_PastTheDoubleRange_SaturatesAndIsFlagged()
    {
        MetricAggregate a = Aggregate(AggregatorOptions.Default, [1.7e308, 1.7e308, 5]);

        Assert.True(a.SumOverflowed);
        Assert.Equal(double.MaxValue, a.Sum);
        Assert.Equal((3L, 5.0, 1.7e308), (a.Count, a.Min, a.Max));
        Assert.False(Aggregate(AggregatorOptions.Default, [1.7e308, -1.7e308, 1.7e308]).SumOverflowed);
    }

    /// <summary>Overflow is a sign that merges like a semilattice: the same result in any order and grouping.</summary>
    [Property(MaxTest = 200)]
    public void Sum_Overflow_MergesInAnyOrderAndRoundTrips(int seed)
    {
        var random = new Random(seed);
        // Parts that overflow on their own (either sign) and parts of small values, which cannot overflow together.
        double[][] parts = [.. Enumerable.Range(0, 1 + random.Next(5)).Select(_ => random.Next(3) switch
        {
            0 => [1.7e308, 1.7e308, random.Next(-5, 5)],
            1 => [-1.7e308, -1.7e308, random.Next(-5, 5)],
            _ => Enumerable.Range(0, 1 + random.Next(4)).Select(_ => (double)random.Next(-5, 5)).ToArray(),
        })];
        MetricAggregate[] aggregates = [.. parts.Select(p => Aggregate(AggregatorOptions.Default, p))];

        MetricAggregate forward = new(AggregatorOptions.Default);
        foreach (MetricAggregate a in aggregates)
        {
            forward.Merge(a);
        }

        MetricAggregate backward = new(AggregatorOptions.Default);
        foreach (MetricAggregate a in aggregates.Reverse())
        {
            backward.Merge(a);
        }

        Assert.True(double.IsFinite(forward.Sum));
        Assert.Equal(aggregates.Any(a => a.SumOverflowed), forward.SumOverflowed);
        if (forward.SumOverflowed)
        {
            Assert.Equal(forward.Sum, backward.Sum);
            bool positive = aggregates.Any(a => a.SumOverflowed && a.Sum > 0);
            bool negative = aggregates.Any(a => a.SumOverflowed && a.Sum < 0);
            Assert.Equal(positive && negative ? 0 : positive ? double.MaxValue : -double.MaxValue, forward.Sum);
        }

        var buffer = new ArrayBufferWriter<byte>();
        forward.WriteTo(buffer);
        var read = new MetricAggregate(AggregatorOptions.Default);
        Assert.True(read.TryReadFrom(buffer.WrittenSpan, out _));
        Assert.Equal((forward.Sum, forward.SumOverflowed), (read.Sum, read.SumOverflowed));
    }

    internal static MetricAggregate Aggregate(AggregatorOptions options, IEnumerable<double> values)
    {
        var aggregate = new MetricAggregate(options);
        foreach (double v in values)
        {
            aggregate.Add(v);
        }

        return aggregate;
    }

    internal static byte[] Serialize(MetricAggregate aggregate)
    {
        var buffer = new ArrayBufferWriter<byte>();
        aggregate.WriteTo(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    internal static IEnumerable<double[]> Split(double[] values, int parts, Random random)
    {
        int[] cuts = [.. Enumerable.Range(0, parts - 1).Select(_ => random.Next(values.Length + 1)).Order()];
        int start = 0;
        foreach (int cut in cuts.Append(values.Length))
        {
            yield return values[start..cut];
            start = cut;
        }
    }

    private static void AssertSame(MetricAggregate expected, MetricAggregate actual, double[] values)
    {
        double tolerance = 1e-9 * values.Sum(Math.Abs);
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.Min, actual.Min);
        Assert.Equal(expected.Max, actual.Max);
        Assert.True(expected.ContentEquals(actual, tolerance), "bins, count, min and max equal exactly; sum within tolerance");
        foreach (double q in SampleData.FixedQuantiles)
        {
            Assert.Equal(expected.GetQuantile(q), actual.GetQuantile(q));
        }
    }
}
