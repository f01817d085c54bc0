namespace Analytics.Core;

/// <summary>
/// The bins of one side of a <see cref="QuantileSketch"/> (positive values, or magnitudes of negative values).
/// </summary>
/// <remarks>
/// <para>Content: at most <c>maxBins</c> non-empty bins. When the values occupy more distinct bins, the lowest
/// magnitudes (closest to zero) collapse: every bin below the <c>maxBins</c>-th highest non-empty one is counted in
/// that bin, and <see cref="IsCollapsed"/> becomes true. The rule depends only on the set of bins used, so collapsing
/// commutes with merging: merging two stores gives exactly the store of the union of their values. A few far
/// outliers take a bin each and never collapse the others unless those already fill the bound.</para>
/// <para>Two representations of that content. Dense (the common case): an array over a window of indices around
/// [<see cref="MinIndex"/>, <see cref="MaxIndex"/>], used while that range spans fewer than <c>maxBins</c> indices
/// (so no collapse can occur), with O(1) inserts. Sparse: sorted parallel arrays of the non-empty bins, once the
/// range spans <c>maxBins</c> or more (values spread over more than 17.8 decades with the defaults), until
/// <see cref="Clear"/>; allocated with room to double and doubled when full, up to <c>maxBins + 1</c> slots (a merge
/// into sorted arrays allocates that many).</para>
/// <para>Invariants while not empty: bins <see cref="MinIndex"/> and <see cref="MaxIndex"/> are non-zero; in dense
/// mode <c>MaxIndex - MinIndex &lt; maxBins</c> and every slot of the dense array outside [MinIndex, MaxIndex] is
/// zero; in sparse mode the dense array is all zero. When empty, the store is dense and every slot is zero.</para>
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

    private bool _sparse;
    private bool _collapsed;
    private int[]? _indices;
    private long[]? _sparseCounts;
    private int _binCount;

    /// <summary>Sum of the bin counts.</summary>
    public readonly long Total => _total;

    /// <summary>Lowest non-empty bin (valid when <see cref="Total"/> &gt; 0).</summary>
    public readonly int MinIndex => _minIndex;

    /// <summary>Highest non-empty bin (valid when <see cref="Total"/> &gt; 0).</summary>
    public readonly int MaxIndex => _maxIndex;

    /// <summary>Whether bins of the lowest magnitudes were collapsed into one to keep the bound.</summary>
    public readonly bool IsCollapsed => _collapsed;

    /// <summary>Bytes of the arrays held on the heap (for memory accounting): on 64-bit, a 24-byte header each and the
    /// elements, an <c>int[]</c> of odd length padded to 8 bytes.</summary>
    public readonly int ArrayBytes =>
        (_counts is null or { Length: 0 } ? 0 : 24 + (8 * _counts.Length))
        + (_indices is null ? 0 : 24 + (((4 * _indices.Length) + 7) & ~7) + 24 + (8 * _sparseCounts!.Length));

    /// <summary>Count of bin <paramref name="index"/>.</summary>
    public readonly long CountAt(int index)
    {
        if (_sparse)
        {
            int at = Array.BinarySearch(_indices!, 0, _binCount, index);
            return at >= 0 ? _sparseCounts![at] : 0;
        }

        long[]? counts = _counts;
        int slot = index - _offset;
        return counts is not null && (uint)slot < (uint)counts.Length ? counts[slot] : 0;
    }

    /// <summary>The lowest non-empty bin above <paramref name="index"/>, or <see cref="int.MaxValue"/> when none.</summary>
    public readonly int NextBin(int index)
    {
        if (_total == 0 || index >= _maxIndex)
        {
            return int.MaxValue;
        }

        if (_sparse)
        {
            int at = Array.BinarySearch(_indices!, 0, _binCount, index);
            at = at >= 0 ? at + 1 : ~at;
            return _indices![at];
        }

        // The first non-zero slot after index, searched a vector at a time (most slots between values are empty).
        int from = Math.Max(index + 1, _minIndex);
        int next = _counts.AsSpan(from - _offset, _maxIndex - from + 1).IndexOfAnyExcept(0L);
        return next < 0 ? int.MaxValue : from + next;
    }

    /// <summary>Number of non-empty bins.</summary>
    public readonly int CountNonEmptyBins()
    {
        if (_total == 0)
        {
            return 0;
        }

        if (_sparse)
        {
            return _binCount;
        }

        ReadOnlySpan<long> span = _counts.AsSpan(_minIndex - _offset, _maxIndex - _minIndex + 1);
        return span.Length - span.Count(0L); // counted a vector at a time
    }

    /// <summary>Adds <paramref name="count"/> (&gt; 0) to bin <paramref name="index"/>, collapsing past <paramref name="maxBins"/> bins.</summary>
    public void Add(int index, long count, int maxBins)
    {
        CoreAssert.True(count > 0, "bin counts are positive");
        if (!_sparse)
        {
            if (_total == 0)
            {
                Start(index, maxBins);
            }
            else if (index > _maxIndex)
            {
                if (index - _minIndex >= maxBins)
                {
                    ToSparse(maxBins);
                    AddSparse(index, count, maxBins);
                    return;
                }

                Cover(_minIndex, index, _minIndex, _maxIndex, maxBins);
                _maxIndex = index;
            }
            else if (index < _minIndex)
            {
                if (_maxIndex - index >= maxBins)
                {
                    ToSparse(maxBins);
                    AddSparse(index, count, maxBins);
                    return;
                }

                Cover(index, _maxIndex, _minIndex, _maxIndex, maxBins);
                _minIndex = index;
            }

            _counts![index - _offset] += count;
            _total += count;
            return;
        }

        AddSparse(index, count, maxBins);
    }

    /// <summary>Adds every bin of <paramref name="other"/> (same bin mapping) into this store.</summary>
    public void Merge(ref readonly BinStore other, int maxBins)
    {
        if (other._total == 0)
        {
            return;
        }

        bool empty = _total == 0;
        int lo = empty ? other._minIndex : Math.Min(_minIndex, other._minIndex);
        int hi = empty ? other._maxIndex : Math.Max(_maxIndex, other._maxIndex);
        if (!_sparse && !other._sparse && hi - lo < maxBins)
        {
            // Dense into dense within the bound: no collapse possible.
            if (empty)
            {
                Start(other._maxIndex, maxBins);
                Cover(lo, hi, 1, 0, maxBins);
            }
            else
            {
                Cover(lo, hi, _minIndex, _maxIndex, maxBins);
            }

            long[] target = _counts!;
            ReadOnlySpan<long> source = other._counts.AsSpan(other._minIndex - other._offset, other._maxIndex - other._minIndex + 1);
            int shift = other._minIndex - _offset;
            for (int i = 0; i < source.Length; i++)
            {
                target[shift + i] += source[i];
            }

            _minIndex = lo;
            _maxIndex = hi;
            _total += other._total;
            return;
        }

        MergeSparse(in other, maxBins);
    }

    /// <summary>Doubles every count (merging a store into itself).</summary>
    public void DoubleCounts()
    {
        if (_total == 0)
        {
            return;
        }

        Span<long> counts = _sparse ? _sparseCounts.AsSpan(0, _binCount) : _counts.AsSpan(_minIndex - _offset, _maxIndex - _minIndex + 1);
        foreach (ref long c in counts)
        {
            c *= 2;
        }

        _total *= 2;
    }

    /// <summary>Finds the bin holding the value of rank <paramref name="rank"/> (0-based) counted from the lowest index.</summary>
    public readonly int IndexAtRankAscending(long rank)
    {
        CoreAssert.True(rank >= 0 && rank < _total, "rank inside the store");
        long seen = 0;
        if (_sparse)
        {
            for (int b = 0; b < _binCount - 1; b++)
            {
                seen += _sparseCounts![b];
                if (seen > rank)
                {
                    return _indices![b];
                }
            }

            return _maxIndex;
        }

        long[] counts = _counts!;
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
        long seen = 0;
        if (_sparse)
        {
            for (int b = _binCount - 1; b > 0; b--)
            {
                seen += _sparseCounts![b];
                if (seen > rank)
                {
                    return _indices![b];
                }
            }

            return _minIndex;
        }

        long[] counts = _counts!;
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

    /// <summary>Empties the store, keeping its arrays; it is dense again.</summary>
    public void Clear()
    {
        if (_total != 0 && !_sparse)
        {
            _counts.AsSpan(_minIndex - _offset, _maxIndex - _minIndex + 1).Clear();
        }

        _total = 0;
        _sparse = false;
        _collapsed = false;
        _binCount = 0;
    }

    /// <summary>Marks the store collapsed (read from the binary form, which carries the flag).</summary>
    public void MarkCollapsed() => _collapsed = true;

    /// <summary>Whether both stores hold the same bins with the same counts and the same collapse flag.</summary>
    public readonly bool BinsEqual(ref readonly BinStore other)
    {
        if (_total != other._total || _collapsed != other._collapsed)
        {
            return false;
        }

        if (_total == 0)
        {
            return true;
        }

        if (_minIndex != other._minIndex || _maxIndex != other._maxIndex)
        {
            return false;
        }

        for (int i = _minIndex; i != int.MaxValue; i = NextBin(i))
        {
            if (CountAt(i) != other.CountAt(i) || other.NextBin(i) != NextBin(i))
            {
                return false;
            }
        }

        return true;
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

    /// <summary>Moves the dense content into the sorted arrays (and zeroes the dense array).</summary>
    private void ToSparse(int maxBins)
    {
        int bins = CountNonEmptyBins();
        EnsureSparseCapacity(Math.Max(bins + 1, Math.Min(2 * bins, maxBins + 1)));
        int n = 0;
        Span<long> dense = _counts.AsSpan(_minIndex - _offset, _maxIndex - _minIndex + 1);
        for (int i = 0; i < dense.Length; i++)
        {
            if (dense[i] != 0)
            {
                _indices![n] = _minIndex + i;
                _sparseCounts![n] = dense[i];
                n++;
            }
        }

        dense.Clear();
        _binCount = n;
        _sparse = true;
    }

    private void EnsureSparseCapacity(int capacity)
    {
        if (_indices is null || _indices.Length < capacity)
        {
            int[] indices = new int[capacity];
            long[] counts = new long[capacity];
            if (_indices is not null && _sparse)
            {
                _indices.AsSpan(0, _binCount).CopyTo(indices);
                _sparseCounts.AsSpan(0, _binCount).CopyTo(counts);
            }

            _indices = indices;
            _sparseCounts = counts;
        }
    }

    private void AddSparse(int index, long count, int maxBins)
    {
        int at = Array.BinarySearch(_indices!, 0, _binCount, index);
        if (at < 0)
        {
            at = ~at;
            if (_binCount == _indices!.Length)
            {
                // Full: double (a store in sorted arrays holds at least one bin, and at most maxBins before this one).
                EnsureSparseCapacity(Math.Min(_binCount * 2, maxBins + 1));
            }

            Array.Copy(_indices!, at, _indices!, at + 1, _binCount - at);
            Array.Copy(_sparseCounts!, at, _sparseCounts!, at + 1, _binCount - at);
            _indices![at] = index;
            _sparseCounts![at] = 0;
            _binCount++;
        }

        _sparseCounts![at] += count;
        _total += count;
        CollapseExcess(maxBins);
    }

    /// <summary>
    /// Merges the sorted bins of both stores into new sorted arrays of <paramref name="maxBins"/> + 1 slots, folding
    /// the lowest bins of the union past the bound while writing them.
    /// </summary>
    private void MergeSparse(ref readonly BinStore other, int maxBins)
    {
        // Count the union's bins first: the excess lowest ones are folded into the next as they come, so the arrays
        // never need more than the bound (plus the slot an add inserts before collapsing).
        int union = 0;
        int a = _total == 0 ? int.MaxValue : _minIndex;
        int b = other._minIndex;
        while (a != int.MaxValue || b != int.MaxValue)
        {
            int index = Math.Min(a, b);
            a = a == index ? NextBin(a) : a;
            b = b == index ? other.NextBin(b) : b;
            union++;
        }

        int excess = union - maxBins;
        int[] indices = new int[maxBins + 1];
        long[] counts = new long[indices.Length];
        int n = 0;
        long folded = 0;
        a = _total == 0 ? int.MaxValue : _minIndex;
        b = other._minIndex;
        for (int k = 0; a != int.MaxValue || b != int.MaxValue; k++)
        {
            int index = Math.Min(a, b);
            long c = 0;
            if (a == index)
            {
                c += CountAt(a);
                a = NextBin(a);
            }

            if (b == index)
            {
                c += other.CountAt(b);
                b = other.NextBin(b);
            }

            if (k < excess)
            {
                folded += c;
                continue;
            }

            indices[n] = index;
            counts[n] = c + folded;
            folded = 0;
            n++;
        }

        if (!_sparse && _total != 0)
        {
            _counts.AsSpan(_minIndex - _offset, _maxIndex - _minIndex + 1).Clear();
        }

        _indices = indices;
        _sparseCounts = counts;
        _binCount = n;
        _sparse = true;
        _total += other._total;
        _collapsed |= other._collapsed;
        if (excess > 0)
        {
            _collapsed = true;
        }

        _minIndex = indices[0];
        _maxIndex = indices[n - 1];
    }

    /// <summary>Folds the lowest bins into the <paramref name="maxBins"/>-th highest until at most that many remain.</summary>
    private void CollapseExcess(int maxBins)
    {
        int excess = _binCount - maxBins;
        if (excess > 0)
        {
            long moved = 0;
            for (int i = 0; i < excess; i++)
            {
                moved += _sparseCounts![i];
            }

            _sparseCounts![excess] += moved;
            Array.Copy(_indices!, excess, _indices!, 0, maxBins);
            Array.Copy(_sparseCounts, excess, _sparseCounts, 0, maxBins);
            _binCount = maxBins;
            _collapsed = true;
        }

        _minIndex = _indices![0];
        _maxIndex = _indices[_binCount - 1];
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
        CoreAssert.True(width <= maxBins, "a dense store never spans more than maxBins");
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
