namespace Analytics.Core;

/// <summary>
/// The bins of one side of a <see cref="QuantileSketch"/> (positive values, or magnitudes of negative values): a
/// dense array that covers a window of bin indices around [<see cref="MinIndex"/>, <see cref="MaxIndex"/>].
/// </summary>
/// <remarks>
/// <para>Bounded: the store never spans more than <c>maxBins</c> indices. Bins below
/// <c>floor = MaxIndex - maxBins + 1</c> are counted in bin <c>floor</c> (the lowest magnitudes collapse into one
/// bin). The floor depends only on the highest index seen, so collapsing commutes with merging: merging two
/// stores and re-collapsing at the merged floor gives exactly the store of the union of their values.</para>
/// <para>Invariants while not empty: bins <see cref="MinIndex"/> and <see cref="MaxIndex"/> are non-zero,
/// <c>MaxIndex - MinIndex &lt; maxBins</c>, and every array slot outside [MinIndex, MaxIndex] is zero; when empty,
/// every slot is zero. <see cref="Clear"/> keeps the array.</para>
/// <para>A mutable struct held in a field of its sketch: always use it through the field, never a copy.</para>
/// </remarks>
internal struct BinStore
{
    private const int InitialCapacity = 16;

    private long[]? _counts;
    private int _offset;
    private int _minIndex;
    private int _maxIndex;
    private long _total;

    /// <summary>Sum of the bin counts.</summary>
    public readonly long Total => _total;

    /// <summary>Lowest non-empty bin (valid when <see cref="Total"/> &gt; 0).</summary>
    public readonly int MinIndex => _minIndex;

    /// <summary>Highest non-empty bin (valid when <see cref="Total"/> &gt; 0).</summary>
    public readonly int MaxIndex => _maxIndex;

    /// <summary>Length of the dense array (for memory accounting).</summary>
    public readonly int Capacity => _counts?.Length ?? 0;

    /// <summary>Count of bin <paramref name="index"/>.</summary>
    public readonly long CountAt(int index)
    {
        long[]? counts = _counts;
        int slot = index - _offset;
        return counts is not null && (uint)slot < (uint)counts.Length ? counts[slot] : 0;
    }

    /// <summary>Number of non-empty bins.</summary>
    public readonly int CountNonEmptyBins()
    {
        if (_total == 0)
        {
            return 0;
        }

        int n = 0;
        ReadOnlySpan<long> span = _counts.AsSpan(_minIndex - _offset, _maxIndex - _minIndex + 1);
        foreach (long c in span)
        {
            if (c != 0)
            {
                n++;
            }
        }

        return n;
    }

    /// <summary>Adds <paramref name="count"/> (&gt; 0) to bin <paramref name="index"/>, collapsing past <paramref name="maxBins"/>.</summary>
    public void Add(int index, long count, int maxBins)
    {
        CoreAssert.True(count > 0, "bin counts are positive");
        if (_total == 0)
        {
            Start(index, maxBins);
        }
        else if (index > _maxIndex)
        {
            RaiseMax(index, maxBins);
        }

        int floor = _maxIndex - maxBins + 1;
        if (index < floor)
        {
            index = floor;
        }

        if (index < _minIndex)
        {
            Cover(index, _maxIndex, _minIndex, _maxIndex, maxBins);
            _minIndex = index;
        }

        _counts![index - _offset] += count;
        _total += count;
    }

    /// <summary>Adds every bin of <paramref name="other"/> (same bin mapping) into this store.</summary>
    public void Merge(ref readonly BinStore other, int maxBins)
    {
        if (other._total == 0)
        {
            return;
        }

        // The highest bin first: it fixes the floor, so the window is arranged at most twice.
        Add(other._maxIndex, other.CountAt(other._maxIndex), maxBins);
        int floor = _maxIndex - maxBins + 1;
        int lowest = Math.Max(other._minIndex, floor);
        if (lowest < _minIndex)
        {
            Cover(lowest, _maxIndex, _minIndex, _maxIndex, maxBins);
            _minIndex = lowest;
        }

        long[] target = _counts!;
        ReadOnlySpan<long> source = other._counts.AsSpan(other._minIndex - other._offset, other._maxIndex - other._minIndex);
        long added = 0;
        for (int i = 0; i < source.Length; i++)
        {
            long c = source[i];
            if (c != 0)
            {
                target[Math.Max(other._minIndex + i, floor) - _offset] += c;
                added += c;
            }
        }

        _total += added;
    }

    /// <summary>Doubles every count (merging a store into itself).</summary>
    public void DoubleCounts()
    {
        if (_total != 0)
        {
            foreach (ref long c in _counts.AsSpan(_minIndex - _offset, _maxIndex - _minIndex + 1))
            {
                c *= 2;
            }

            _total *= 2;
        }
    }

    /// <summary>Finds the bin holding the value of rank <paramref name="rank"/> (0-based) counted from the lowest index.</summary>
    public readonly int IndexAtRankAscending(long rank)
    {
        CoreAssert.True(rank >= 0 && rank < _total, "rank inside the store");
        long[] counts = _counts!;
        long seen = 0;
        for (int i = _minIndex; i < _maxIndex; i++)
        {
            seen += counts[i - _offset];
            if (seen > rank)
            {
                return i;
            }
        }

        return _maxIndex;
    }

    /// <summary>Finds the bin holding the value of rank <paramref name="rank"/> (0-based) counted from the highest index.</summary>
    public readonly int IndexAtRankDescending(long rank)
    {
        CoreAssert.True(rank >= 0 && rank < _total, "rank inside the store");
        long[] counts = _counts!;
        long seen = 0;
        for (int i = _maxIndex; i > _minIndex; i--)
        {
            seen += counts[i - _offset];
            if (seen > rank)
            {
                return i;
            }
        }

        return _minIndex;
    }

    /// <summary>Empties the store, keeping its array.</summary>
    public void Clear()
    {
        if (_total != 0)
        {
            _counts.AsSpan(_minIndex - _offset, _maxIndex - _minIndex + 1).Clear();
            _total = 0;
        }
    }

    /// <summary>Whether both stores hold the same bins with the same counts.</summary>
    public readonly bool BinsEqual(ref readonly BinStore other)
    {
        if (_total != other._total)
        {
            return false;
        }

        if (_total == 0)
        {
            return true;
        }

        return _minIndex == other._minIndex
            && _maxIndex == other._maxIndex
            && _counts.AsSpan(_minIndex - _offset, _maxIndex - _minIndex + 1)
                .SequenceEqual(other._counts.AsSpan(other._minIndex - other._offset, _maxIndex - _minIndex + 1));
    }

    private void Start(int index, int maxBins)
    {
        if (_counts is null || _counts.Length == 0)
        {
            _counts = new long[Math.Min(InitialCapacity, maxBins)];
        }

        _offset = index - (_counts.Length / 2);
        _minIndex = index;
        _maxIndex = index;
    }

    private void RaiseMax(int newMax, int maxBins)
    {
        int newFloor = newMax - maxBins + 1;
        if (newFloor <= _minIndex)
        {
            Cover(_minIndex, newMax, _minIndex, _maxIndex, maxBins);
            _maxIndex = newMax;
            return;
        }

        // Collapse the bins below the new floor into it.
        int top = Math.Min(newFloor - 1, _maxIndex);
        Span<long> collapsed = _counts.AsSpan(_minIndex - _offset, top - _minIndex + 1);
        long moved = 0;
        foreach (long c in collapsed)
        {
            moved += c;
        }

        collapsed.Clear();
        if (newFloor <= _maxIndex)
        {
            Cover(newFloor, newMax, newFloor, _maxIndex, maxBins);
        }
        else
        {
            Cover(newFloor, newMax, 1, 0, maxBins);
        }

        _counts![newFloor - _offset] += moved;
        _minIndex = newFloor;
        _maxIndex = newMax;
    }

    /// <summary>
    /// Makes the array cover [<paramref name="lo"/>, <paramref name="hi"/>], keeping the bins in
    /// [<paramref name="contentLo"/>, <paramref name="contentHi"/>] (empty when contentLo &gt; contentHi).
    /// </summary>
    private void Cover(int lo, int hi, int contentLo, int contentHi, int maxBins)
    {
        long[] counts = _counts!;
        if (lo >= _offset && hi - _offset < counts.Length)
        {
            return;
        }

        int width = hi - lo + 1;
        CoreAssert.True(width <= maxBins, "a store never spans more than maxBins");
        int length = counts.Length;
        long[] target = counts;
        if (width > length)
        {
            length = Math.Max(width, Math.Min(length * 2, maxBins));
            target = new long[length];
        }

        // Centre the needed range, leaving room to grow either way.
        int newOffset = lo - ((length - width) / 2);
        if (contentLo <= contentHi)
        {
            int n = contentHi - contentLo + 1;
            int start = contentLo - newOffset;
            Array.Copy(counts, contentLo - _offset, target, start, n);
            if (ReferenceEquals(target, counts))
            {
                Array.Clear(target, 0, start);
                Array.Clear(target, start + n, length - start - n);
            }
        }
        else if (ReferenceEquals(target, counts))
        {
            Array.Clear(target);
        }

        _counts = target;
        _offset = newOffset;
    }
}
