namespace Analytics.Core;

/// <summary>
/// A mergeable quantile sketch with a relative-error guarantee (DDSketch-style logarithmic bins): for every
/// quantile <c>q</c>, the estimate <c>y</c> of the exact quantile <c>x</c> (the value of rank
/// <c>floor(q·(n−1))</c> among the sorted values, counting from 0) satisfies <c>|y − x| ≤ α·|x|</c>; for a subnormal <c>x</c> (below 2.2e-308)
/// <c>|y − x| ≤ α·|x| + ε</c>, ε = 4.9e-324, since the doubles there are ε apart.
/// </summary>
/// <remarks>
/// <para>Positive values and the magnitudes of negative values are counted in two stores of logarithmic bins
/// (bin <c>i</c> holds magnitudes in <c>(γ^(i−1), γ^i]</c>, <c>γ = (1 + α) / (1 − α)</c>); zeros have their own
/// count. Only non-empty ranges of bins take memory: each store is a dense array over the indices in use, grown on
/// demand and kept by <see cref="Clear"/>.</para>
/// <para>Bounded: each store holds at most <c>maxBins</c> non-empty bins. A store spans a dense array while its
/// bins lie within <c>maxBins</c> consecutive indices (with the defaults, α = 1 % and 2048 bins, a range of magnitudes of
/// about 6·10^17, 17.8 decades, per sign) and sorted bins beyond that, so far outliers cost one bin each and move
/// nothing else. Only when the values of one sign occupy more than <c>maxBins</c> distinct bins do the bins of the
/// lowest magnitudes (closest to zero) collapse: every bin below the <c>maxBins</c>-th highest non-empty bin is
/// counted in that bin, and <see cref="IsCollapsed"/> is set. The rule depends only on the set of bins used, so
/// merging stays exact. The guarantee then still holds for every quantile whose exact value lies in one of the
/// <c>maxBins − 1</c> highest non-empty bins of its sign; the estimate of a collapsed value is the collapsed bin's
/// representative, clamped to [min, max]. <c>q = 0</c> and <c>q = 1</c> return the exact minimum and maximum.</para>
/// <para>Exactly zero (either sign) is counted as zero; every other finite double, subnormals included, has a bin.</para>
/// <para>Not thread safe.</para>
/// </remarks>
public sealed class QuantileSketch
{
    private readonly LogarithmicMapping _mapping;
    private BinStore _negative;
    private BinStore _positive;
    private long _zeroCount;
    private long _count;
    private double _min = double.PositiveInfinity;
    private double _max = double.NegativeInfinity;

    /// <summary>Creates an empty sketch (internal: a consumer's sketch comes with a <see cref="MetricAggregate"/>,
    /// whose options set the same parameters).</summary>
    /// <param name="relativeAccuracy">α, from 0.0001 to 0.5.</param>
    /// <param name="maxBins">Bin bound per side (positive and negative values), from 16 to 65,536.</param>
    /// <exception cref="ArgumentOutOfRangeException">A parameter is outside its range.</exception>
    internal QuantileSketch(double relativeAccuracy = 0.01, int maxBins = 2048)
        : this(AggregatorOptions.CreateMapping(relativeAccuracy, maxBins, nameof(relativeAccuracy), nameof(maxBins)))
    {
    }

    internal QuantileSketch(LogarithmicMapping mapping) => _mapping = mapping;

    /// <summary>Number of values.</summary>
    public long Count => _count;

    /// <summary>
    /// Whether the values of one sign occupied more than <see cref="MaxBins"/> distinct bins, so the bins of the lowest
    /// magnitudes were collapsed into one: quantiles that fall on those values lose the relative-error guarantee (see
    /// the remarks). Merging keeps the flag (the union of the values occupies at least as many bins).
    /// </summary>
    public bool IsCollapsed => _negative.IsCollapsed || _positive.IsCollapsed;

    /// <summary>The relative accuracy α.</summary>
    public double RelativeAccuracy => _mapping.RelativeAccuracy;

    /// <summary>The bin bound per side.</summary>
    public int MaxBins => _mapping.MaxBins;

    internal LogarithmicMapping Mapping => _mapping;

    /// <summary>Smallest value; +∞ when empty.</summary>
    internal double MinValue => _min;

    /// <summary>Largest value; −∞ when empty.</summary>
    internal double MaxValue => _max;

    internal long ZeroCount => _zeroCount;

    internal ref readonly BinStore Negative => ref _negative;

    internal ref readonly BinStore Positive => ref _positive;

    /// <summary>Adds a finite value.</summary>
    /// <param name="value">The value.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is NaN or infinite.</exception>
    public void Add(double value)
    {
        if (!double.IsFinite(value))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(value), "The value must be finite.");
        }

        AddFinite(value);
    }

    /// <summary>Merges another sketch of the same accuracy into this one.</summary>
    /// <param name="other">The other sketch.</param>
    /// <exception cref="ArgumentNullException"><paramref name="other"/> is null.</exception>
    /// <exception cref="ArgumentException">The other sketch has a different accuracy or bin bound.</exception>
    public void Merge(QuantileSketch other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (!_mapping.IsCompatibleWith(other._mapping))
        {
            ThrowHelper.ThrowArgument(nameof(other), "The sketches have different accuracies or bin bounds.");
        }

        MergeCompatible(other);
    }

    /// <summary>The estimated quantile.</summary>
    /// <param name="q">0..1.</param>
    /// <returns>The estimate, within α·|x| of the exact quantile x (plus 4.9e-324 for a subnormal x); NaN when the sketch is empty.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="q"/> is outside [0, 1] or NaN.</exception>
    public double GetQuantile(double q)
    {
        if (!(q >= 0 && q <= 1))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(q), "The quantile must be between 0 and 1.");
        }

        if (_count == 0)
        {
            return double.NaN;
        }

        // The ends are exact at any count. Past 2^53 samples (merges and stored aggregates reach it) q × (count − 1)
        // rounds in doubles and could land below the last rank, answering a bin's value for q = 1.
        if (q == 1)
        {
            return _max;
        }

        long rank = (long)Math.Floor(q * (_count - 1));
        if (rank <= 0)
        {
            return _min;
        }

        if (rank >= _count - 1)
        {
            return _max;
        }

        double estimate;
        if (rank < _negative.Total)
        {
            estimate = -_mapping.Value(_negative.IndexAtRankDescending(rank));
        }
        else if (rank < _negative.Total + _zeroCount)
        {
            estimate = 0;
        }
        else
        {
            estimate = _mapping.Value(_positive.IndexAtRankAscending(rank - _negative.Total - _zeroCount));
        }

        return Math.Clamp(estimate, _min, _max);
    }

    /// <summary>Empties the sketch, keeping its storage.</summary>
    public void Clear()
    {
        _negative.Clear();
        _positive.Clear();
        _zeroCount = 0;
        _count = 0;
        _min = double.PositiveInfinity;
        _max = double.NegativeInfinity;
    }

    internal void AddFinite(double value)
    {
        CoreAssert.True(double.IsFinite(value), "values are finite");
        if (value > 0)
        {
            _positive.Add(_mapping.Index(value), 1, _mapping.MaxBins);
        }
        else if (value < 0)
        {
            _negative.Add(_mapping.Index(-value), 1, _mapping.MaxBins);
        }
        else
        {
            // -0.0 and 0.0 are one value: keep min and max independent of which came first.
            value = 0;
            _zeroCount++;
        }

        _count++;
        if (value < _min)
        {
            _min = value;
        }

        if (value > _max)
        {
            _max = value;
        }
    }

    internal void MergeCompatible(QuantileSketch other)
    {
        CoreAssert.True(_mapping.IsCompatibleWith(other._mapping), "same bins");
        if (other._count == 0)
        {
            return;
        }

        if (ReferenceEquals(other, this))
        {
            _negative.DoubleCounts();
            _positive.DoubleCounts();
            _zeroCount *= 2;
            _count *= 2;
            return;
        }

        _negative.Merge(in other._negative, _mapping.MaxBins);
        _positive.Merge(in other._positive, _mapping.MaxBins);
        _zeroCount += other._zeroCount;
        _count += other._count;
        _min = Math.Min(_min, other._min);
        _max = Math.Max(_max, other._max);
    }

    /// <summary>
    /// Merges a sketch of another mapping: each of its bins counted in this mapping's bin of the bin's representative,
    /// clamped to the other's minimum and maximum (which only brings it closer to the values the bin holds); a
    /// collapsed store stays collapsed.
    /// </summary>
    internal void MergeRebinned(QuantileSketch other)
    {
        if (other._count == 0)
        {
            return;
        }

        CoreAssert.True(!ReferenceEquals(other, this), "another sketch");
        Rebin(ref _negative, in other._negative, other._mapping, -other._max, -other._min);
        Rebin(ref _positive, in other._positive, other._mapping, other._min, other._max);
        _zeroCount += other._zeroCount;
        _count += other._count;
        _min = Math.Min(_min, other._min);
        _max = Math.Max(_max, other._max);

        void Rebin(ref BinStore into, ref readonly BinStore from, LogarithmicMapping mapping, double lowest, double highest)
        {
            if (from.Total == 0)
            {
                return;
            }

            // Magnitudes of this sign lie within [lowest, highest] (clamped to positive: the bounds may be of the other sign).
            double low = Math.Max(lowest, double.Epsilon);
            for (int index = from.MinIndex; index != int.MaxValue; index = from.NextBin(index))
            {
                double magnitude = Math.Clamp(mapping.Value(index), low, Math.Max(highest, low));
                into.Add(_mapping.Index(magnitude), from.CountAt(index), _mapping.MaxBins);
            }

            if (from.IsCollapsed)
            {
                into.MarkCollapsed();
            }
        }
    }

    /// <summary>Adds a bin read from the binary form (the reader has checked it).</summary>
    internal void AddBin(bool negative, int index, long count)
    {
        if (negative)
        {
            _negative.Add(index, count, _mapping.MaxBins);
        }
        else
        {
            _positive.Add(index, count, _mapping.MaxBins);
        }
    }

    /// <summary>Sets the totals read from the binary form after its bins were added.</summary>
    internal void SetTotals(long count, long zeroCount, double min, double max)
    {
        _count = count;
        _zeroCount = zeroCount;
        _min = min;
        _max = max;
    }

    /// <summary>Whether both sketches hold exactly the same count, zeros, minimum, maximum and bins.</summary>
    internal bool ContentEquals(QuantileSketch other) =>
        _count == other._count
        && _zeroCount == other._zeroCount
        && (_count == 0 || (_min.Equals(other._min) && _max.Equals(other._max)))
        && _negative.BinsEqual(in other._negative)
        && _positive.BinsEqual(in other._positive);

    /// <summary>Bytes of bin arrays held (for memory accounting).</summary>
    internal int BinArrayBytes => _negative.ArrayBytes + _positive.ArrayBytes;

    /// <summary>Marks a store collapsed (read from the binary form).</summary>
    internal void MarkCollapsed(bool negative)
    {
        if (negative)
        {
            _negative.MarkCollapsed();
        }
        else
        {
            _positive.MarkCollapsed();
        }
    }
}
