namespace Analytics.Core.Tests.Aggregation;

/// <summary>
/// <see cref="BinStore"/> at the edges of its bound, against the documented rule computed on the set of bins: at most
/// <c>maxBins</c> non-empty bins; past that every bin below the <c>maxBins</c>-th highest is counted in it and the store
/// is collapsed. Consecutive runs of <c>maxBins - 1</c> to <c>maxBins + 2</c> bins, added upwards, downwards and merged
/// from two halves, around negative, zero-straddling and positive indices (the dense/sparse switch is on the width
/// of the range, so a run of exactly <c>maxBins + 1</c> bins is the first that must collapse); merges of a sparse store
/// whose range is back within the bound; <see cref="BinStore.NextBin"/> on indices that are not bins.
/// </summary>
public class BinStoreBoundaryTests
{
    private static readonly int[] s_starts = [-1000, -9, -3, 0, 5, 1000];

    /// <summary>What the store must hold after <paramref name="adds"/>: the rule applied to the union of the bins.</summary>
    private static (SortedDictionary<int, long> Bins, bool Collapsed) Expected(IEnumerable<(int Index, long Count)> adds, int maxBins)
    {
        var bins = new SortedDictionary<int, long>();
        foreach ((int index, long count) in adds)
        {
            bins[index] = bins.GetValueOrDefault(index) + count;
        }

        bool collapsed = bins.Count > maxBins;
        if (collapsed)
        {
            int floor = bins.Keys.Reverse().ElementAt(maxBins - 1);
            List<int> below = [.. bins.Keys.Where(i => i < floor)];
            bins[floor] += below.Sum(i => bins[i]);
            below.ForEach(i => bins.Remove(i));
        }

        return (bins, collapsed);
    }

    private static void AssertHolds((SortedDictionary<int, long> Bins, bool Collapsed) expected, in BinStore store, string what)
    {
        SortedDictionary<int, long> bins = expected.Bins;
        Assert.True(bins.Values.Sum() == store.Total, $"{what}: total {store.Total}, expected {bins.Values.Sum()}");
        Assert.True(bins.Count == store.CountNonEmptyBins(), $"{what}: {store.CountNonEmptyBins()} non-empty bins, expected {bins.Count}");
        Assert.True(expected.Collapsed == store.IsCollapsed, $"{what}: collapsed {store.IsCollapsed}, expected {expected.Collapsed}");
        int min = bins.Keys.First();
        int max = bins.Keys.Last();
        Assert.True((min, max) == (store.MinIndex, store.MaxIndex), $"{what}: range [{store.MinIndex}, {store.MaxIndex}], expected [{min}, {max}]");
        for (int i = min - 3; i <= max + 3; i++)
        {
            Assert.True(bins.GetValueOrDefault(i) == store.CountAt(i), $"{what}: bin {i} holds {store.CountAt(i)}, expected {bins.GetValueOrDefault(i)}");

            // "The lowest non-empty bin above index", for every index: bins, gaps between them, and beyond either end.
            int next = bins.Keys.Where(k => k > i).DefaultIfEmpty(int.MaxValue).First();
            Assert.True(next == store.NextBin(i), $"{what}: next bin above {i} is {store.NextBin(i)}, expected {next}");
        }
    }

    private static BinStore Fill(IEnumerable<(int Index, long Count)> adds, int maxBins)
    {
        var store = new BinStore();
        foreach ((int index, long count) in adds)
        {
            store.Add(index, count, maxBins);
        }

        return store;
    }

    /// <summary>Counts that differ from bin to bin, so a bin folded into the wrong one shows.</summary>
    private static List<(int Index, long Count)> Run(int from, int width) =>
        [.. Enumerable.Range(from, width).Select(i => (i, 1 + (long)(((i % 3) + 3) % 3)))];

    [Fact]
    public void Add_ConsecutiveRunsAroundTheBound_UpwardsAndDownwards_FollowTheRule()
    {
        foreach (int maxBins in new[] { 16, 17 })
        {
            foreach (int width in new[] { maxBins - 1, maxBins, maxBins + 1, maxBins + 2 })
            {
                foreach (int start in s_starts)
                {
                    List<(int Index, long Count)> run = Run(start, width);
                    (SortedDictionary<int, long> Bins, bool Collapsed) expected = Expected(run, maxBins);
                    Assert.Equal(width > maxBins, expected.Collapsed);

                    BinStore up = Fill(run, maxBins);
                    AssertHolds(expected, up, $"maxBins {maxBins}, {width} bins from {start} upwards");

                    run.Reverse();
                    BinStore down = Fill(run, maxBins);
                    AssertHolds(expected, down, $"maxBins {maxBins}, {width} bins from {start} downwards");
                }
            }
        }
    }

    [Fact]
    public void Merge_TwoDenseHalvesOfARunAroundTheBound_FollowTheRule()
    {
        foreach (int maxBins in new[] { 16, 17 })
        {
            foreach (int width in new[] { maxBins - 1, maxBins, maxBins + 1, maxBins + 2 })
            {
                foreach (int start in s_starts)
                {
                    List<(int Index, long Count)> run = Run(start, width);
                    (SortedDictionary<int, long> Bins, bool Collapsed) expected = Expected(run, maxBins);
                    for (int split = 1; split < width; split++)
                    {
                        // Each half alone spans fewer than maxBins indices (dense); their union may not.
                        List<(int Index, long Count)> low = run[..split];
                        List<(int Index, long Count)> high = run[split..];
                        string what = $"maxBins {maxBins}, {width} bins from {start} split at {split}";

                        BinStore a = Fill(low, maxBins);
                        BinStore b = Fill(high, maxBins);
                        a.Merge(in b, maxBins);
                        AssertHolds(expected, a, what + ", high into low");
                        AssertHolds(Expected(high, maxBins), b, what + ", merged-from store unchanged");

                        BinStore c = Fill(high, maxBins);
                        BinStore d = Fill(low, maxBins);
                        c.Merge(in d, maxBins);
                        AssertHolds(expected, c, what + ", low into high");

                        var empty = new BinStore();
                        BinStore e = Fill(low, maxBins);
                        empty.Merge(in e, maxBins);
                        empty.Merge(in b, maxBins);
                        AssertHolds(expected, empty, what + ", both into an empty store");
                    }
                }
            }
        }
    }

    [Fact]
    public void Merge_SparseStoreWhoseRangeIsWithinTheBound_WithADenseOne_FollowsTheRule()
    {
        // maxBins + 1 consecutive bins: the store goes sparse and collapses to maxBins consecutive bins, a range of
        // maxBins - 1 indices: back within the bound, but sorted arrays hold its bins until Clear.
        const int maxBins = 16;
        foreach (int start in s_starts)
        {
            List<(int Index, long Count)> run = Run(start, maxBins + 1);
            List<(int Index, long Count)> inside = [(start + 3, 5), (start + maxBins, 2)];
            (SortedDictionary<int, long> Bins, bool Collapsed) expected = Expected([.. run, .. inside], maxBins);

            BinStore sparse = Fill(run, maxBins);
            Assert.True(sparse.MaxIndex - sparse.MinIndex < maxBins);
            BinStore dense = Fill(inside, maxBins);
            sparse.Merge(in dense, maxBins);
            AssertHolds(expected, sparse, $"from {start}: dense into sparse");

            BinStore dense2 = Fill(inside, maxBins);
            BinStore sparse2 = Fill(run, maxBins);
            dense2.Merge(in sparse2, maxBins);
            AssertHolds(expected, dense2, $"from {start}: sparse into dense");
        }
    }

    [Fact]
    public void Merge_TwoCollapsedStoresOfTheSameBins_StaysCollapsed()
    {
        // The union of the values occupies maxBins + 1 bins, so the merge is collapsed, although the two stores hold
        // the same maxBins bins and the merge itself folds nothing.
        const int maxBins = 16;
        foreach (int start in s_starts)
        {
            List<(int Index, long Count)> run = Run(start, maxBins + 1);
            BinStore a = Fill(run, maxBins);
            BinStore b = Fill(run, maxBins);
            Assert.True(a.IsCollapsed && b.IsCollapsed);
            a.Merge(in b, maxBins);
            AssertHolds(Expected([.. run, .. run], maxBins), a, $"from {start}");
        }
    }

    [Fact]
    public void NextBin_SparseStoreWithGaps_IsTheLowestBinAboveAnyIndex()
    {
        // Bins spread quadratically (gaps everywhere, a range far past the bound): sparse, with fewer bins than the
        // bound and with more (collapsed). AssertHolds asks NextBin of every index of the range and around it.
        foreach (int maxBins in new[] { 16, 17 })
        {
            foreach (int count in new[] { maxBins / 2, maxBins + 3 })
            {
                foreach (int start in s_starts)
                {
                    List<(int Index, long Count)> adds = [.. Enumerable.Range(0, count).Select(k => (start + (k * k), (long)(k + 1))), (start + (10 * maxBins * maxBins), 1)];
                    AssertHolds(Expected(adds, maxBins), Fill(adds, maxBins), $"maxBins {maxBins}, {count} spread bins from {start}");
                    adds.Reverse();
                    AssertHolds(Expected(adds, maxBins), Fill(adds, maxBins), $"maxBins {maxBins}, {count} spread bins from {start}, added downwards");
                }
            }
        }
    }
}
