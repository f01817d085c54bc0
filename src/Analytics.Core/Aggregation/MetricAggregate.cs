using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace Analytics.Core;

/// <summary>The summary of the samples of one (series, window) pair: count, sum, min, max and a quantile sketch.</summary>
/// <remarks>
/// <para>Mergeable: merging the aggregates of two sets of samples gives the aggregate of their union, exactly for
/// the count, minimum, maximum and sketch bins, and up to floating-point rounding for the sum.</para>
/// <para>Binary form (<see cref="WriteTo"/>): a format version byte (1), α as a little-endian double, the bin bound
/// as a varint, then the body: the count (varint); nothing more for 0; the value (double) for 1; otherwise the sum,
/// minimum and maximum (doubles) and the negative then the positive bins, each as a varint bin count, the first
/// index (zigzag varint) and its count, then per further bin the index delta and the count (varints). The zero
/// count is the remainder. See docs/aggregation.md for sizes.</para>
/// <para>Not thread safe.</para>
/// </remarks>
public sealed class MetricAggregate
{
    /// <summary>Version byte that starts the binary form.</summary>
    internal const byte FormatVersion = 1;

    private readonly QuantileSketch _sketch;
    private double _sum;
    private bool _sumOverflowed;

    /// <summary>Creates an empty aggregate.</summary>
    /// <param name="options">Sketch accuracy and bounds (the window options are not used here).</param>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="AggregatorOptions.RelativeAccuracy"/> or <see cref="AggregatorOptions.MaxBins"/> is out of range.</exception>
    public MetricAggregate(AggregatorOptions options)
        : this(AggregatorOptions.CreateMapping(options.RelativeAccuracy, options.MaxBins, nameof(options), nameof(options)))
    {
    }

    internal MetricAggregate(LogarithmicMapping mapping) => _sketch = new QuantileSketch(mapping);

    /// <summary>Number of samples.</summary>
    public long Count => _sketch.Count;

    /// <summary>
    /// Sum of the samples (0 when empty). Always finite: when the running sum passes the range of a double it stays
    /// at ±<see cref="double.MaxValue"/> (or at 0 when sums past both ends were merged) and <see cref="SumOverflowed"/>
    /// is set.
    /// </summary>
    public double Sum => _sum;

    /// <summary>
    /// Whether the sum of the samples passed ±<see cref="double.MaxValue"/>: <see cref="Sum"/> then only says the
    /// sign (0 for unknown). Count, minimum, maximum and quantiles are unaffected. Sticky: merging keeps it.
    /// </summary>
    public bool SumOverflowed => _sumOverflowed;

    /// <summary>Whether the quantile sketch collapsed its lowest bins (see <see cref="QuantileSketch.IsCollapsed"/>).</summary>
    public bool IsCollapsed => _sketch.IsCollapsed;

    /// <summary>Smallest sample; NaN when empty.</summary>
    public double Min => _sketch.Count == 0 ? double.NaN : _sketch.MinValue;

    /// <summary>Largest sample; NaN when empty.</summary>
    public double Max => _sketch.Count == 0 ? double.NaN : _sketch.MaxValue;

    /// <summary>The quantile sketch (it also holds the count, minimum and maximum).</summary>
    public QuantileSketch Sketch => _sketch;

    /// <summary>Adds a sample.</summary>
    /// <param name="value">A finite value.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is NaN or infinite.</exception>
    public void Add(double value)
    {
        if (!double.IsFinite(value))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(value), "The value must be finite.");
        }

        AddFinite(value);
    }

    /// <summary>Merges another aggregate into this one.</summary>
    /// <param name="other">The other aggregate.</param>
    /// <exception cref="ArgumentNullException"><paramref name="other"/> is null.</exception>
    /// <exception cref="ArgumentException">The other aggregate has a different accuracy or bin bound.</exception>
    public void Merge(MetricAggregate other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (!_sketch.Mapping.IsCompatibleWith(other._sketch.Mapping))
        {
            ThrowHelper.ThrowArgument(nameof(other), "The aggregates have different accuracies or bin bounds.");
        }

        MergeCompatible(other);
    }

    /// <summary>The estimated quantile.</summary>
    /// <param name="q">0..1.</param>
    /// <returns>The estimate, within α·|x| of the exact quantile x (plus 4.9e-324 for a subnormal x; see <see cref="QuantileSketch"/>); NaN when empty.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="q"/> is outside [0, 1] or NaN.</exception>
    public double GetQuantile(double q) => _sketch.GetQuantile(q);

    /// <summary>Empties the aggregate, keeping its storage.</summary>
    public void Clear()
    {
        _sketch.Clear();
        _sum = 0;
        _sumOverflowed = false;
    }

    /// <summary>Writes the compact versioned binary form.</summary>
    /// <param name="writer">The destination.</param>
    /// <exception cref="ArgumentNullException"><paramref name="writer"/> is null.</exception>
    public void WriteTo(IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        int binsNegative = _sketch.Negative.CountNonEmptyBins();
        int binsPositive = _sketch.Positive.CountNonEmptyBins();
        Span<byte> span = writer.GetSpan(1 + 8 + BinaryFormatWriter.MaxVarIntBytes + GetMaxBodySize(binsNegative, binsPositive));
        var w = new BinaryFormatWriter(span);
        w.WriteByte(FormatVersion);
        w.WriteDouble(_sketch.RelativeAccuracy);
        w.WriteVarUInt((ulong)_sketch.MaxBins);
        WriteBody(ref w, binsNegative, binsPositive);
        writer.Advance(w.Position);
    }

    /// <summary>Reads the binary form, replacing this aggregate's content.</summary>
    /// <param name="source">The bytes.</param>
    /// <param name="bytesRead">How many bytes the aggregate took.</param>
    /// <returns>
    /// <see langword="false"/> when the bytes are not a valid aggregate, or were written with another accuracy or bin
    /// bound; the aggregate is then empty. Never throws for any input.
    /// </returns>
    public bool TryReadFrom(ReadOnlySpan<byte> source, out int bytesRead)
    {
        var r = new BinaryFormatReader(source);
        Clear();
        bytesRead = 0;
        if (!r.TryReadByte(out byte version) || version != FormatVersion
            || !r.TryReadDouble(out double alpha) || !alpha.Equals(_sketch.RelativeAccuracy)
            || !r.TryReadVarUInt(out ulong maxBins) || maxBins != (ulong)_sketch.MaxBins
            || !TryReadBody(ref r))
        {
            Clear();
            return false;
        }

        bytesRead = r.Position;
        return true;
    }

    /// <summary>
    /// Merges an aggregate that may have another accuracy or bin bound, keeping this one's: the count, minimum and
    /// maximum exactly, the sum as <see cref="Merge"/> does, and each of the other's bins as its representative
    /// (clamped to the other's minimum and maximum) counted in this aggregate's bins. With equal options it is
    /// <see cref="Merge"/>. Otherwise every quantile of the result is within <c>(1 + α)(1 + α′) − 1</c> of the exact one
    /// (α this aggregate's accuracy, α′ the other's) instead of α: for bringing together what a change of options
    /// split, as the DynamoDB sink does for windows stored before the change.
    /// </summary>
    /// <param name="other">The other aggregate.</param>
    /// <exception cref="ArgumentNullException"><paramref name="other"/> is null.</exception>
    public void MergeRebinned(MetricAggregate other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (_sketch.Mapping.IsCompatibleWith(other._sketch.Mapping))
        {
            MergeCompatible(other);
            return;
        }

        MergeSum(other);
        _sketch.MergeRebinned(other._sketch);
    }

    /// <summary>Reads the binary form in the accuracy and bin bound it was written with (see <see cref="TryReadFrom"/>).</summary>
    /// <param name="source">The bytes.</param>
    /// <param name="aggregate">A new aggregate with the options and content the bytes hold; null when they are not a valid aggregate.</param>
    /// <param name="bytesRead">How many bytes the aggregate took.</param>
    /// <returns><see langword="false"/> when the bytes are not a valid aggregate of options in <see cref="AggregatorOptions"/>' ranges. Never throws for any input.</returns>
    public static bool TryRead(ReadOnlySpan<byte> source, [NotNullWhen(true)] out MetricAggregate? aggregate, out int bytesRead)
    {
        var r = new BinaryFormatReader(source);
        aggregate = null;
        bytesRead = 0;
        if (!r.TryReadByte(out byte version) || version != FormatVersion
            || !r.TryReadDouble(out double accuracy) || !(accuracy >= AggregatorOptions.MinRelativeAccuracy && accuracy <= AggregatorOptions.MaxRelativeAccuracy)
            || !r.TryReadVarUInt(out ulong bins) || bins < AggregatorOptions.MinBins || bins > AggregatorOptions.MaxBinsLimit)
        {
            return false;
        }

        var read = new MetricAggregate(new LogarithmicMapping(accuracy, (int)bins));
        if (!read.TryReadFrom(source, out bytesRead))
        {
            return false;
        }

        aggregate = read;
        return true;
    }

    internal void AddFinite(double value)
    {
        _sketch.AddFinite(value);
        if (!_sumOverflowed)
        {
            AddToSum(value);
        }
    }

    internal void MergeCompatible(MetricAggregate other)
    {
        MergeSum(other);
        _sketch.MergeCompatible(other._sketch);
    }

    private void MergeSum(MetricAggregate other)
    {
        if (other._sumOverflowed)
        {
            // Overflowed sums keep only their sign; opposite signs make it unknown (0). Commutative and associative.
            _sum = !_sumOverflowed || _sum == other._sum ? other._sum : 0;
            _sumOverflowed = true;
        }
        else if (!_sumOverflowed)
        {
            AddToSum(other._sum);
        }
    }

    private void AddToSum(double value)
    {
        double sum = _sum + value;
        if (double.IsFinite(sum))
        {
            _sum = sum;
        }
        else
        {
            _sum = sum > 0 ? double.MaxValue : -double.MaxValue;
            _sumOverflowed = true;
        }
    }

    /// <summary>Whether both hold the same count, minimum, maximum and bins, and sums within <paramref name="sumTolerance"/>.</summary>
    internal bool ContentEquals(MetricAggregate other, double sumTolerance) =>
        _sketch.ContentEquals(other._sketch) && _sumOverflowed == other._sumOverflowed
        && (_sumOverflowed ? _sum.Equals(other._sum) : Math.Abs(_sum - other._sum) <= sumTolerance);

    /// <summary>Most bytes the body takes with the given numbers of non-empty bins.</summary>
    internal static int GetMaxBodySize(int binsNegative, int binsPositive) =>
        BinaryFormatWriter.MaxVarIntBytes + 24 + (2 * (2 * BinaryFormatWriter.MaxVarIntBytes)) + ((binsNegative + binsPositive) * 2 * BinaryFormatWriter.MaxVarIntBytes);

    /// <summary>Most bytes the body of this aggregate takes.</summary>
    internal int GetMaxBodySize() => GetMaxBodySize(_sketch.Negative.CountNonEmptyBins(), _sketch.Positive.CountNonEmptyBins());

    internal void WriteBody(ref BinaryFormatWriter w, int binsNegative, int binsPositive)
    {
        long count = _sketch.Count;
        w.WriteVarUInt((ulong)count);
        if (count == 0)
        {
            return;
        }

        if (count == 1)
        {
            // Sum, minimum, maximum and the single bin all follow from the value.
            w.WriteDouble(_sketch.MinValue);
            return;
        }

        // An overflowed sum is written as +∞, −∞ or NaN (unknown sign): the only non-finite sums a reader accepts.
        w.WriteDouble(!_sumOverflowed ? _sum : _sum > 0 ? double.PositiveInfinity : _sum < 0 ? double.NegativeInfinity : double.NaN);
        w.WriteDouble(_sketch.MinValue);
        w.WriteDouble(_sketch.MaxValue);
        WriteStore(ref w, in _sketch.Negative, binsNegative, _sketch.MaxBins);
        WriteStore(ref w, in _sketch.Positive, binsPositive, _sketch.MaxBins);
    }

    /// <summary>Reads a body into this (empty) aggregate; false, with the aggregate in an unspecified state, when invalid.</summary>
    internal bool TryReadBody(ref BinaryFormatReader r)
    {
        CoreAssert.True(_sketch.Count == 0, "reads start empty");
        if (!r.TryReadVarUInt(long.MaxValue, out ulong rawCount))
        {
            return false;
        }

        long count = (long)rawCount;
        if (count == 0)
        {
            return true;
        }

        if (count == 1)
        {
            if (!r.TryReadDouble(out double value) || !double.IsFinite(value) || IsNegativeZero(value))
            {
                return false;
            }

            AddFinite(value);
            return true;
        }

        if (!r.TryReadDouble(out double sum) || !r.TryReadDouble(out double min) || !r.TryReadDouble(out double max)
            || !double.IsFinite(min) || !double.IsFinite(max) || !(min <= max) || IsNegativeZero(min) || IsNegativeZero(max))
        {
            return false;
        }

        if (!TryReadStore(ref r, negative: true, count, out long negativeTotal)
            || !TryReadStore(ref r, negative: false, count - negativeTotal, out long positiveTotal))
        {
            return false;
        }

        long zeroCount = count - negativeTotal - positiveTotal;
        if ((min < 0) != (negativeTotal > 0) || (max > 0) != (positiveTotal > 0) || (zeroCount > 0 && !(min <= 0 && max >= 0)))
        {
            return false;
        }

        _sketch.SetTotals(count, zeroCount, min, max);
        if (double.IsFinite(sum))
        {
            _sum = sum;
        }
        else if (double.IsInfinity(sum) || BitConverter.DoubleToInt64Bits(sum) == BitConverter.DoubleToInt64Bits(double.NaN))
        {
            _sum = double.IsNaN(sum) ? 0 : sum > 0 ? double.MaxValue : -double.MaxValue;
            _sumOverflowed = true;
        }
        else
        {
            return false;
        }

        return true;
    }

    private static bool IsNegativeZero(double value) => value == 0 && double.IsNegative(value);

    /// <summary>A collapsed store (always exactly maxBins bins) writes maxBins + 1 as its bin count.</summary>
    private static void WriteStore(ref BinaryFormatWriter w, ref readonly BinStore store, int bins, int maxBins)
    {
        CoreAssert.True(!store.IsCollapsed || bins == maxBins, "a collapsed store holds exactly maxBins bins");
        w.WriteVarUInt((ulong)(store.IsCollapsed ? maxBins + 1 : bins));
        if (bins == 0)
        {
            return;
        }

        int previous = 0;
        bool first = true;
        for (int i = store.MinIndex; i != int.MaxValue; i = store.NextBin(i))
        {
            long c = store.CountAt(i);
            if (first)
            {
                w.WriteVarInt(i);
                first = false;
            }
            else
            {
                w.WriteVarUInt((ulong)(i - previous));
            }

            w.WriteVarUInt((ulong)c);
            previous = i;
        }
    }

    private bool TryReadStore(ref BinaryFormatReader r, bool negative, long budget, out long total)
    {
        total = 0;
        LogarithmicMapping mapping = _sketch.Mapping;
        if (!r.TryReadVarUInt((ulong)mapping.MaxBins + 1, out ulong bins))
        {
            return false;
        }

        bool collapsed = bins == (ulong)mapping.MaxBins + 1;
        if (collapsed)
        {
            bins = (ulong)mapping.MaxBins;
        }

        if (bins == 0)
        {
            return true;
        }

        if (!r.TryReadVarInt(out long firstIndex) || firstIndex < mapping.MinIndex || firstIndex > mapping.MaxIndex)
        {
            return false;
        }

        long index = firstIndex;
        ulong span = (ulong)(mapping.MaxIndex - mapping.MinIndex);
        for (ulong b = 0; b < bins; b++)
        {
            if (b > 0)
            {
                if (!r.TryReadVarUInt(span, out ulong delta) || delta == 0)
                {
                    return false;
                }

                index += (long)delta;
                if (index > mapping.MaxIndex)
                {
                    return false;
                }
            }

            if (!r.TryReadVarUInt(out ulong c) || c == 0 || c > (ulong)(budget - total))
            {
                return false;
            }

            total += (long)c;
            _sketch.AddBin(negative, (int)index, (long)c);
        }

        if (collapsed)
        {
            _sketch.MarkCollapsed(negative);
        }

        return true;
    }
}
