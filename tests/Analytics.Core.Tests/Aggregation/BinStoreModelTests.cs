using FsCheck.Xunit;

namespace Analytics.Core.Tests.Aggregation;

/// <summary>
/// <see cref="BinStore"/> against a plain model: a map from bin index to count where, as documented, once more than
/// <c>maxBins</c> bins are non-empty every bin below the <c>maxBins</c>-th highest one is counted in that bin. Random sequences of adds,
/// merges, self-doublings and clears (reusing the store) with small bin bounds, so collapses happen often.
/// </summary>
public class BinStoreModelTests
{
    /// <summary>The model: what the store must hold, built without any of its machinery.</summary>
    private sealed class Model(int maxBins)
    {
        public SortedDictionary<int, long> Bins { get; } = [];

        public void Add(int index, long count)
        {
            Bins[index] = Bins.GetValueOrDefault(index) + count;
            Collapse();
        }

        public void Merge(Model other)
        {
            foreach ((int index, long count) in other.Bins.ToList())
            {
                Add(index, count);
            }
        }

        public void Double()
        {
            foreach (int index in Bins.Keys.ToList())
            {
                Bins[index] *= 2;
            }
        }

        public void Clear() => Bins.Clear();

        private void Collapse()
        {
            if (Bins.Count <= maxBins)
            {
                return;
            }

            int floor = Bins.Keys.Reverse().ElementAt(maxBins - 1);
            long moved = 0;
            foreach (int index in Bins.Keys.Where(i => i < floor).ToList())
            {
                moved += Bins[index];
                Bins.Remove(index);
            }

            Bins[floor] += moved;
        }
    }

    private static void AssertSame(Model model, in BinStore store, string step)
    {
        long total = model.Bins.Values.Sum();
        Assert.True(total == store.Total, $"{step}: total {store.Total}, expected {total}");
        Assert.True(model.Bins.Count == store.CountNonEmptyBins(), $"{step}: {store.CountNonEmptyBins()} non-empty bins, expected {model.Bins.Count}");
        if (total == 0)
        {
            return;
        }

        int min = model.Bins.Keys.First();
        int max = model.Bins.Keys.Last();
        Assert.True((min, max) == (store.MinIndex, store.MaxIndex), $"{step}: range [{store.MinIndex}, {store.MaxIndex}], expected [{min}, {max}]");
        for (int i = min - 40; i <= max + 40; i++)
        {
            long expected = model.Bins.GetValueOrDefault(i);
            long actual = store.CountAt(i);
            Assert.True(expected == actual, $"{step}: bin {i} holds {actual}, expected {expected}");
        }

        // Every rank, both ways, against the bins laid out in order.
        var ascending = model.Bins.SelectMany(b => Enumerable.Repeat(b.Key, (int)Math.Min(b.Value, 50))).ToList();
        if (ascending.Count == total)
        {
            for (int r = 0; r < total; r++)
            {
                Assert.True(ascending[r] == store.IndexAtRankAscending(r), $"{step}: ascending rank {r}");
                Assert.True(ascending[(int)total - 1 - r] == store.IndexAtRankDescending(r), $"{step}: descending rank {r}");
            }
        }
    }

    private static void Add(ref BinStore store, Model model, int index, long count, int maxBins)
    {
        store.Add(index, count, maxBins);
        model.Add(index, count);
    }

    [Property(MaxTest = 200)]
    public void RandomOperations_MatchTheModel(int seed)
    {
        var random = new Random(seed);
        int maxBins = random.Next(2) == 0 ? 16 : random.Next(16, 48);
        int spread = random.Next(3) switch { 0 => maxBins / 2, 1 => maxBins * 2, _ => maxBins * 8 };
        int centre = random.Next(-1000, 1000);
        var store = new BinStore();
        var model = new Model(maxBins);

        for (int step = 0; step < 60; step++)
        {
            string what;
            switch (random.Next(10))
            {
                case < 6:
                    {
                        int index = centre + random.Next(-spread, spread + 1);
                        long count = random.Next(1, 4);
                        Add(ref store, model, index, count, maxBins);
                        what = $"add {count} at {index}";
                        break;
                    }

                case 6:
                    {
                        var other = new BinStore();
                        var otherModel = new Model(maxBins);
                        int otherCentre = centre + random.Next(-spread, spread + 1);
                        for (int i = random.Next(0, 12); i > 0; i--)
                        {
                            Add(ref other, otherModel, otherCentre + random.Next(-spread, spread + 1), random.Next(1, 4), maxBins);
                        }

                        store.Merge(in other, maxBins);
                        model.Merge(otherModel);
                        AssertSame(otherModel, other, $"step {step}: merged-from store changed");
                        what = $"merge {otherModel.Bins.Count} bins";
                        break;
                    }

                case 7:
                    store.DoubleCounts();
                    model.Double();
                    what = "double";
                    break;

                case 8:
                    store.Clear();
                    model.Clear();
                    centre += random.Next(-spread, spread + 1);
                    what = "clear";
                    break;

                default:
                    {
                        // A jump far above: a far outlier takes a bin of its own; past maxBins bins the lowest collapse.
                        int index = centre + random.Next(maxBins, 3 * maxBins);
                        Add(ref store, model, index, 1, maxBins);
                        what = $"jump to {index}";
                        break;
                    }
            }

            AssertSame(model, store, $"seed {seed}, step {step} ({what})");
            if (store.Total > 0)
            {
                Assert.True(store.CountNonEmptyBins() <= maxBins, $"step {step}: more than {maxBins} non-empty bins");
            }
        }
    }

    [Property(MaxTest = 200)]
    public void BinsEqual_IsEqualityOfTheBins_WhateverTheLayout(int seed)
    {
        var random = new Random(seed);
        const int maxBins = 32;
        var adds = new List<(int Index, long Count)>();
        for (int i = random.Next(0, 20); i > 0; i--)
        {
            adds.Add((random.Next(-20, 20), random.Next(1, 3)));
        }

        var a = new BinStore();
        var modelA = new Model(maxBins);
        foreach ((int index, long count) in adds)
        {
            Add(ref a, modelA, index, count, maxBins);
        }

        // The same bins added in another order (another array layout), or one change.
        var b = new BinStore();
        var modelB = new Model(maxBins);
        List<(int Index, long Count)> other = [.. adds.OrderBy(_ => random.Next())];
        switch (random.Next(4))
        {
            case 0 when other.Count > 0:
                other.RemoveAt(random.Next(other.Count));
                break;
            case 1:
                other.Add((random.Next(-20, 20), 1));
                break;
            case 2 when other.Count > 0:
                int k = random.Next(other.Count);
                other[k] = (other[k].Index + (random.Next(2) == 0 ? 1 : -1), other[k].Count);
                break;
        }

        foreach ((int index, long count) in other)
        {
            Add(ref b, modelB, index, count, maxBins);
        }

        bool expected = modelA.Bins.Count == modelB.Bins.Count && modelA.Bins.All(p => modelB.Bins.GetValueOrDefault(p.Key) == p.Value);
        Assert.Equal(expected, a.BinsEqual(in b));
        Assert.Equal(expected, b.BinsEqual(in a));
    }

    [Fact]
    public void BinsEqual_SameTotalsDifferentBins_IsFalse()
    {
        var a = new BinStore();
        var b = new BinStore();
        a.Add(1, 1, 64);
        a.Add(5, 1, 64);
        a.Add(9, 1, 64);
        b.Add(1, 1, 64);
        b.Add(6, 1, 64);
        b.Add(9, 1, 64);
        Assert.False(a.BinsEqual(in b)); // same total, same lowest and highest bin, a middle bin differs

        var c = new BinStore();
        c.Add(2, 2, 64);
        c.Add(9, 1, 64);
        var d = new BinStore();
        d.Add(1, 1, 64);
        d.Add(2, 1, 64);
        d.Add(9, 1, 64);
        Assert.False(c.BinsEqual(in d)); // same total and highest bin, different lowest
        Assert.False(d.BinsEqual(in c));

        var e = new BinStore();
        e.Add(1, 2, 64);
        e.Add(8, 1, 64);
        var f = new BinStore();
        f.Add(1, 2, 64);
        f.Add(9, 1, 64);
        Assert.False(e.BinsEqual(in f)); // same total and lowest bin, different highest

        var empty = new BinStore();
        var alsoEmpty = new BinStore();
        Assert.True(empty.BinsEqual(in alsoEmpty));
        Assert.False(a.BinsEqual(in empty));
        Assert.False(empty.BinsEqual(in a));
    }
}
