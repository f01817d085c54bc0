namespace Analytics.Core.Tests.Aggregation;

/// <summary>
/// What a <see cref="BinStore"/> allocates and holds, against the documented storage rules (docs/aggregation.md,
/// "Storage" and "Memory per pair"): the dense array starts at 16 slots and grows by doubling up to <c>maxBins</c>;
/// the sorted arrays grow by doubling too and never pass <c>maxBins + 1</c> slots; a store reused after
/// <see cref="BinStore.Clear"/> for the same values allocates nothing; <see cref="BinStore.ArrayBytes"/> is what the
/// arrays held take on the heap. Allocation is deterministic and counted per thread: each scenario runs twice and
/// the second run is measured, so that first-call costs of the runtime are not counted.
/// </summary>
public class BinStoreMemoryTests
{
    /// <summary>Heap size of an array on 64-bit .NET: a 24-byte header, the elements, rounded up to 8 bytes.</summary>
    private static int HeapBytes(int elementSize, int length) => (24 + (elementSize * length) + 7) & ~7;

    private static long Measure(Action action)
    {
        action();
        return AllocationMeasure.Least(action);
    }

    [Theory]
    [InlineData(2)] // sorted arrays of 4 slots
    [InlineData(9)] // 17 slots (maxBins + 1): an int[] whose elements are not a multiple of 8 bytes
    public void ArrayBytes_DenseThenSparse_IsWhatTheArraysHeldTookOnTheHeap(int denseBins)
    {
        const int maxBins = 16;
        int reported = 0;
        long allocated = Measure(() =>
        {
            // Nothing is dropped on the way: the first dense array, then one pair of sorted arrays with room to spare.
            var store = new BinStore();
            for (int i = 0; i < denseBins; i++)
            {
                store.Add(i, 1, maxBins);
            }

            store.Add(100, 1, maxBins);
            reported = store.ArrayBytes;
        });

        Assert.Equal(allocated, reported);
        Assert.True(reported > HeapBytes(8, 16), $"{reported} B: the sorted arrays are counted");
    }

    [Fact]
    public void ArrayBytes_AfterASparseMerge_GrowsByWhatTheMergeTookOnTheHeap()
    {
        const int maxBins = 16;
        int grown = 0;
        long merged = long.MaxValue; // the fewest of the runs: the runtime may allocate on the thread now and then
        Measure(() =>
        {
            var store = new BinStore();
            store.Add(0, 1, maxBins);
            var other = new BinStore();
            other.Add(5, 1, maxBins);
            other.Add(500, 1, maxBins);
            int before = store.ArrayBytes;
            long start = GC.GetAllocatedBytesForCurrentThread();
            store.Merge(in other, maxBins); // into sorted arrays: the other store spans more than maxBins indices
            merged = Math.Min(merged, GC.GetAllocatedBytesForCurrentThread() - start);
            grown = store.ArrayBytes - before;
        });

        // The store keeps its dense array and takes new sorted arrays: what it holds grew by what the merge allocated.
        Assert.True(merged > 0);
        Assert.Equal(merged, grown);
    }

    [Fact]
    public void DenseArray_StartsAt16Slots_AndGrowsByDoublingUpToMaxBins()
    {
        foreach ((int maxBins, int width) in new[] { (2048, 300), (40, 39), (16, 16) })
        {
            foreach (bool upwards in new[] { true, false })
            {
                int[] reported = new int[width];
                long allocated = Measure(() =>
                {
                    var store = new BinStore();
                    for (int w = 1; w <= width; w++)
                    {
                        store.Add(upwards ? w : -w, 1, maxBins);
                        reported[w - 1] = store.ArrayBytes;
                    }
                });

                // The documented rule, slot by slot: 16, then twice as many each time the range no longer fits.
                long expectedAllocated = 0;
                int slots = 0;
                for (int w = 1; w <= width; w++)
                {
                    if (slots < w)
                    {
                        slots = slots == 0 ? Math.Min(16, maxBins) : Math.Min(2 * slots, maxBins);
                        expectedAllocated += HeapBytes(8, slots);
                    }

                    Assert.True(HeapBytes(8, slots) == reported[w - 1], $"maxBins {maxBins}, {w} bins {(upwards ? "upwards" : "downwards")}: {reported[w - 1]} B, expected {slots} slots");
                }

                Assert.Equal(expectedAllocated, allocated);
            }
        }
    }

    [Fact]
    public void SortedArrays_NeverHoldMoreThanMaxBinsPlusOneSlots()
    {
        // The documented worst case per store: a full dense array plus sorted arrays of maxBins + 1 slots.
        const int maxBins = 16;
        int bound = HeapBytes(8, maxBins) + HeapBytes(4, maxBins + 1) + HeapBytes(8, maxBins + 1);
        foreach (int denseBins in new[] { 1, 8, 9, 15, 16 })
        {
            var store = new BinStore();
            for (int i = 0; i < denseBins; i++)
            {
                store.Add(i, 1, maxBins);
            }

            // Far bins one by one: the store goes sparse, fills up to the bound, then collapses with each new bin.
            for (int far = 1; far <= 3 * maxBins; far++)
            {
                store.Add(100 * far, 1, maxBins);
                Assert.True(store.ArrayBytes <= bound, $"{denseBins} dense bins, {far} far bins: {store.ArrayBytes} B, bound {bound} B");
                Assert.Equal(Math.Min(denseBins + far, maxBins), store.CountNonEmptyBins());
            }
        }

        // Merges: two sparse stores of maxBins bins each, none shared (the union collapses), into either of them, into a
        // dense store, into an empty one; and merged again.
        foreach (int shift in new[] { 500, -500 })
        {
            BinStore a = Spread(0, maxBins);
            BinStore b = Spread(shift, maxBins);
            a.Merge(in b, maxBins);
            Assert.True(a.ArrayBytes <= bound, $"sparse into sparse ({shift}): {a.ArrayBytes} B, bound {bound} B");
            Assert.Equal(maxBins, a.CountNonEmptyBins());

            var dense = new BinStore();
            dense.Add(3, 1, maxBins);
            dense.Merge(in b, maxBins);
            dense.Merge(in a, maxBins);
            Assert.True(dense.ArrayBytes <= bound, $"sparse into dense ({shift}): {dense.ArrayBytes} B, bound {bound} B");

            var empty = new BinStore();
            empty.Merge(in a, maxBins);
            empty.Merge(in b, maxBins);
            Assert.True(empty.ArrayBytes <= bound, $"sparse into empty ({shift}): {empty.ArrayBytes} B, bound {bound} B");
            Assert.Equal(maxBins, empty.CountNonEmptyBins());
        }

        static BinStore Spread(int shift, int maxBins)
        {
            var store = new BinStore();
            for (int k = 1; k <= maxBins; k++)
            {
                store.Add((1000 * k) + shift, k, maxBins);
            }

            return store;
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(12)]
    [InlineData(16)]
    public void SortedArrays_GoingSparse_AreAllocatedOnceWithRoomToDouble(int denseBins)
    {
        // A store of denseBins bins goes sparse; with room to double (at most maxBins + 1 slots), the new bins that
        // follow, up to that room, take no other allocation than the first dense array and one pair of sorted arrays.
        const int maxBins = 16;
        int room = Math.Min(2 * denseBins, maxBins + 1);
        int bins = 0;
        long allocated = Measure(() =>
        {
            var store = new BinStore();
            for (int i = 0; i < denseBins; i++)
            {
                store.Add(i, 1, maxBins);
            }

            for (int far = 1; far <= room - denseBins; far++)
            {
                store.Add(100 * far, 1, maxBins);
            }

            bins = store.CountNonEmptyBins();
        });

        Assert.Equal(Math.Min(room, maxBins), bins);
        Assert.Equal(HeapBytes(8, 16) + HeapBytes(4, room) + HeapBytes(8, room), allocated);
    }

    [Fact]
    public void SortedArrays_GrowingBinByBin_AllocateGeometrically()
    {
        // Two bins far apart (sorted arrays of two slots), then 500 new bins one at a time. Growing by doubling,
        // the arrays allocated add up to less than twice the last ones, which have less than twice the slots needed:
        // under 2 × 12 B × 2 × 502 plus a 48-byte pair of headers per doubling (at most 10 of them).
        const int maxBins = 2048;
        const int added = 500;
        int bins = 0;
        long allocated = Measure(() =>
        {
            var store = new BinStore();
            store.Add(0, 1, maxBins);
            store.Add(3000, 1, maxBins);
            for (int i = 1; i <= added; i++)
            {
                store.Add(3000 + i, 1, maxBins);
            }

            bins = store.CountNonEmptyBins();
        });

        Assert.Equal(added + 2, bins);

        long bound = HeapBytes(8, 16) + (2 * 12 * 2 * (added + 2)) + (48 * 10);
        Assert.True(allocated <= bound, $"{allocated} B allocated, bound {bound} B");
    }

    [Fact]
    public void Clear_ThenTheSameSparseValues_AllocatesNothing()
    {
        // The documented example of a far outlier: 1..1000 and 1e25 (sorted arrays), on both sides. A sketch reused
        // for values it has seen before allocates nothing.
        double[] values = [.. Enumerable.Range(1, 1000).Select(i => (double)i), 1e25, .. Enumerable.Range(1, 1000).Select(i => -(double)i), -1e25];
        var sketch = new QuantileSketch();
        foreach (double v in values)
        {
            sketch.Add(v);
        }

        Assert.True(sketch.Positive.MaxIndex - sketch.Positive.MinIndex >= sketch.MaxBins, "the positive store is sparse");
        long allocated = Measure(() =>
        {
            sketch.Clear();
            foreach (double v in values)
            {
                sketch.Add(v);
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal(values.Length, sketch.Count);
        Assert.Equal(1e25, sketch.GetQuantile(1));
    }
}
