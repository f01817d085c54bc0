using System.Buffers;
using FsCheck.Xunit;

namespace Analytics.Core.Tests.Aggregation;

/// <summary>
/// <see cref="MetricAggregate.MergeRebinned"/> and <see cref="MetricAggregate.TryRead"/>: what lets a window stored
/// before a change of accuracy or bin bound take the samples of the new version.
/// </summary>
public class MergeRebinnedTests
{
    private static readonly double[] s_accuracies = [0.0001, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5];

    private static MetricAggregate Aggregate(AggregatorOptions options, IEnumerable<double> values)
    {
        var aggregate = new MetricAggregate(options);
        foreach (double v in values)
        {
            aggregate.Add(v);
        }

        return aggregate;
    }

    [Property(MaxTest = 300)]
    public void AnyTwoAccuracies_CountMinMaxExact_EveryQuantileWithinTheCombinedBound(int seedA, int seedB, byte kind, byte kindB, byte accuracyInto, byte accuracyFrom)
    {
        // 65,536 bins: no collapse at any accuracy for these distributions, so the combined bound is the whole claim.
        var into = new AggregatorOptions { RelativeAccuracy = s_accuracies[accuracyInto % s_accuracies.Length], MaxBins = 65_536 };
        var from = new AggregatorOptions { RelativeAccuracy = s_accuracies[accuracyFrom % s_accuracies.Length], MaxBins = 65_536 };
        double[] a = SampleData.Values(seedA, kind % SampleData.DistributionCount, Math.Abs(seedA % 1500));
        double[] b = SampleData.Values(seedB, kindB % SampleData.DistributionCount, 1 + Math.Abs(seedB % 1500));

        MetricAggregate merged = Aggregate(into, a);
        merged.MergeRebinned(Aggregate(from, b));

        double[] all = [.. a, .. b];
        Array.Sort(all);
        Assert.Equal(all.Length, merged.Count);
        Assert.Equal(all[0], merged.Min);
        Assert.Equal(all[^1], merged.Max);
        Assert.Equal(all.Sum(), merged.Sum, Math.Max(1e-9, all.Sum(Math.Abs) * 1e-12));
        Assert.False(merged.IsCollapsed);
        Assert.Equal(into.RelativeAccuracy, merged.Sketch.RelativeAccuracy);

        double bound = ((1 + into.RelativeAccuracy) * (1 + from.RelativeAccuracy)) - 1;
        var random = new Random(seedA ^ seedB);
        foreach (double q in SampleData.FixedQuantiles.Concat(Enumerable.Range(0, 20).Select(_ => random.NextDouble())))
        {
            double exact = SampleData.ExactQuantile(all, q);
            double estimate = merged.GetQuantile(q);
            Assert.True(SampleData.WithinRelativeError(estimate, exact, bound), $"α {into.RelativeAccuracy} ← {from.RelativeAccuracy}, q={q}: {estimate:R} vs {exact:R}");
        }
    }

    [Property(MaxTest = 100)]
    public void SameOptions_IsMerge(int seedA, int seedB, byte kind, bool tinyBins)
    {
        AggregatorOptions options = tinyBins ? AggregatorOptions.Default with { MaxBins = 16 } : AggregatorOptions.Default;
        int k = kind % SampleData.DistributionCount;
        MetricAggregate rebinned = Aggregate(options, SampleData.Values(seedA, k, Math.Abs(seedA % 500)));
        MetricAggregate merged = Aggregate(options, SampleData.Values(seedA, k, Math.Abs(seedA % 500)));
        MetricAggregate other = Aggregate(options, SampleData.Values(seedB, k, Math.Abs(seedB % 500)));
        rebinned.MergeRebinned(other);
        merged.Merge(other);
        Assert.True(rebinned.ContentEquals(merged, 0));
    }

    [Theory]
    [InlineData(0.5, 0.0001)]
    [InlineData(0.0001, 0.5)]
    [InlineData(0.01, 0.05)]
    public void TheEndsOfTheDoubleRange_StayInRange(double intoAccuracy, double fromAccuracy)
    {
        // The top bins' representatives pass double.MaxValue (+∞): clamped to the other's maximum, they stay finite.
        double[] extremes = [double.MaxValue, -double.MaxValue, double.Epsilon, -double.Epsilon, 1e308, -1e-320, 0];
        var into = new AggregatorOptions { RelativeAccuracy = intoAccuracy, MaxBins = 65_536 };
        MetricAggregate merged = Aggregate(into, [1]);
        merged.MergeRebinned(Aggregate(new AggregatorOptions { RelativeAccuracy = fromAccuracy, MaxBins = 65_536 }, extremes));

        double[] all = [.. extremes, 1];
        Array.Sort(all);
        Assert.Equal((all.Length, all[0], all[^1]), (merged.Count, merged.Min, merged.Max));
        double bound = ((1 + intoAccuracy) * (1 + fromAccuracy)) - 1;
        for (int rank = 0; rank < all.Length; rank++)
        {
            double q = rank / (double)(all.Length - 1);
            Assert.True(SampleData.WithinRelativeError(merged.GetQuantile(q), all[rank], bound), $"q={q}: {merged.GetQuantile(q):R} vs {all[rank]:R}");
        }
    }

    [Fact]
    public void ACollapsedOther_LeavesTheResultCollapsed()
    {
        AggregatorOptions tiny = AggregatorOptions.Default with { MaxBins = 16 };
        MetricAggregate collapsed = Aggregate(tiny, Enumerable.Range(0, 40).Select(i => Math.Pow(10, i)));
        Assert.True(collapsed.IsCollapsed);

        MetricAggregate merged = Aggregate(AggregatorOptions.Default, [5]);
        merged.MergeRebinned(collapsed);
        Assert.True(merged.IsCollapsed);
        Assert.Equal(41, merged.Count);
        Assert.Equal(1, merged.Min);
        Assert.Equal(1e39, merged.Max);
    }

    [Fact]
    public void Itself_IsRefused()
    {
        MetricAggregate aggregate = Aggregate(AggregatorOptions.Default, [1, 2]);
        Assert.Throws<ArgumentNullException>(() => aggregate.MergeRebinned(null!));
        aggregate.MergeRebinned(aggregate); // equal options: Merge, which doubles
        Assert.Equal(4, aggregate.Count);
    }

    [Property(MaxTest = 200)]
    public void TryRead_AnyOptions_RoundTripsWithThem(int seed, byte kind, byte accuracy, bool tinyBins)
    {
        var options = new AggregatorOptions { RelativeAccuracy = s_accuracies[accuracy % s_accuracies.Length], MaxBins = tinyBins ? 16 : 4096 };
        MetricAggregate written = Aggregate(options, SampleData.Values(seed, kind % SampleData.DistributionCount, Math.Abs(seed % 800)));
        var bytes = new ArrayBufferWriter<byte>();
        written.WriteTo(bytes);

        Assert.True(MetricAggregate.TryRead(bytes.WrittenSpan, out MetricAggregate? read, out int consumed));
        Assert.Equal(bytes.WrittenCount, consumed);
        Assert.Equal((options.RelativeAccuracy, options.MaxBins), (read.Sketch.RelativeAccuracy, read.Sketch.MaxBins));
        Assert.True(read.ContentEquals(written, 0));
    }

    [Property(MaxTest = 300)]
    public void TryRead_AnyBytes_NeverThrows_AndAcceptsOnlyWhatItCanWriteBack(byte[] noise, byte cut)
    {
        MetricAggregate written = Aggregate(new AggregatorOptions { RelativeAccuracy = 0.02, MaxBins = 64 }, [1, 2, 3, 1e9]);
        var bytes = new ArrayBufferWriter<byte>();
        written.WriteTo(bytes);
        byte[] good = bytes.WrittenSpan.ToArray();
        byte[][] inputs = [noise ?? [], good[..(cut % good.Length)], [.. good[..3], .. noise ?? []]];
        foreach (byte[] input in inputs)
        {
            if (MetricAggregate.TryRead(input, out MetricAggregate? read, out int consumed))
            {
                var back = new ArrayBufferWriter<byte>();
                read.WriteTo(back);
                Assert.Equal(input[..consumed], back.WrittenSpan.ToArray());
            }
            else
            {
                Assert.Null(read);
            }
        }
    }
}
