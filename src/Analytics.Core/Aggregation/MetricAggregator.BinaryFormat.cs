using System.Buffers;

namespace Analytics.Core;

internal sealed partial class MetricAggregator
{
    /// <summary>Writes all pairs in the compact versioned binary form.</summary>
    /// <param name="writer">The destination.</param>
    /// <exception cref="ArgumentNullException"><paramref name="writer"/> is null.</exception>
    public void WriteTo(IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var w = new BinaryFormatWriter(writer.GetSpan(1 + 8 + (3 * BinaryFormatWriter.MaxVarIntBytes)));
        w.WriteByte(FormatVersion);
        w.WriteDouble(_mapping.RelativeAccuracy);
        w.WriteVarUInt((ulong)_mapping.MaxBins);
        w.WriteVarUInt((ulong)_windowSizeMs);
        w.WriteVarUInt((ulong)_seriesCount);
        writer.Advance(w.Position);

        // Pairs grouped by series (each group in creation order): a counting sort into reused arrays.
        if (_writeOrder.Length < _pairCount)
        {
            _writeOrder = new int[_pairs.Length];
        }

        if (_writeStart.Length < _seriesCount + 1)
        {
            _writeStart = new int[_series.Length + 1];
        }

        Array.Clear(_writeStart, 0, _seriesCount + 1);
        for (int p = 0; p < _pairCount; p++)
        {
            _writeStart[_pairs[p].Series + 1]++;
        }

        for (int i = 0; i < _seriesCount; i++)
        {
            _writeStart[i + 1] += _writeStart[i];
        }

        for (int p = 0; p < _pairCount; p++)
        {
            _writeOrder[_writeStart[_pairs[p].Series]++] = p;
        }

        ReadOnlySpan<byte> previous = default;
        int next = 0;
        for (int i = 0; i < _seriesCount; i++)
        {
            // Front coding: the keys of one stream share long prefixes (metric name, first dimensions).
            ref readonly SeriesEntry s = ref _series[i];
            ReadOnlySpan<byte> key = _arena.AsSpan(s.Offset, s.Length);
            int shared = key.CommonPrefixLength(previous);
            int end = _writeStart[i];
            w = new BinaryFormatWriter(writer.GetSpan((3 * BinaryFormatWriter.MaxVarIntBytes) + s.Length - shared));
            w.WriteVarUInt((ulong)shared);
            w.WriteVarUInt((ulong)(s.Length - shared));
            w.WriteBytes(key.Slice(shared));
            w.WriteVarUInt((ulong)(end - next));
            writer.Advance(w.Position);
            previous = key;

            for (; next < end; next++)
            {
                int p = _writeOrder[next];
                MetricAggregate aggregate = _aggregates[p]!;
                int binsNegative = aggregate.Sketch.Negative.CountNonEmptyBins();
                int binsPositive = aggregate.Sketch.Positive.CountNonEmptyBins();
                w = new BinaryFormatWriter(writer.GetSpan(BinaryFormatWriter.MaxVarIntBytes + MetricAggregate.GetMaxBodySize(binsNegative, binsPositive)));
                w.WriteVarInt(_pairs[p].WindowStart / _windowSizeMs);
                aggregate.WriteBody(ref w, binsNegative, binsPositive);
                writer.Advance(w.Position);
            }
        }
    }

    /// <summary>Reads the binary form and merges its pairs into this aggregator (not capped by <see cref="AggregatorOptions.MaxPairs"/>).</summary>
    /// <param name="source">The bytes.</param>
    /// <returns>
    /// <see langword="false"/>, with this aggregator unchanged, when the bytes are not valid (truncated, corrupt,
    /// trailing bytes) or were written with another window size, accuracy or bin bound. Never throws for any input.
    /// </returns>
    /// <remarks>The input is validated completely before anything is merged, so a merge is all or nothing.</remarks>
    public bool TryMergeFrom(ReadOnlySpan<byte> source)
    {
        if (!TryReadPairs(source, apply: false))
        {
            return false;
        }

        bool applied = TryReadPairs(source, apply: true);
        CoreAssert.True(applied, "validated input applies");
        return true;
    }

    /// <summary>
    /// The options the binary form's header names (window size, accuracy, bin bound), on top of <paramref name="template"/>;
    /// false when the header is not of this format version or names options out of their valid ranges.
    /// </summary>
    internal static bool TryReadOptions(ReadOnlySpan<byte> source, AggregatorOptions template, out AggregatorOptions options)
    {
        options = template;
        var r = new BinaryFormatReader(source);
        if (!r.TryReadByte(out byte version) || version != FormatVersion
            || !r.TryReadDouble(out double accuracy) || !(accuracy >= AggregatorOptions.MinRelativeAccuracy && accuracy <= AggregatorOptions.MaxRelativeAccuracy)
            || !r.TryReadVarUInt(out ulong bins) || bins < AggregatorOptions.MinBins || bins > AggregatorOptions.MaxBinsLimit
            || !r.TryReadVarUInt(out ulong windowMs) || windowMs < 1_000 || windowMs > 3_600_000)
        {
            return false;
        }

        options = template with
        {
            RelativeAccuracy = accuracy,
            MaxBins = (int)bins,
            WindowSize = TimeSpan.FromTicks((long)windowMs * TimeSpan.TicksPerMillisecond),
        };
        return true;
    }

    /// <summary>Parses the binary form; with <paramref name="apply"/> false only validates, with true merges (input already validated).</summary>
    private bool TryReadPairs(ReadOnlySpan<byte> source, bool apply)
    {
        var r = new BinaryFormatReader(source);
        if (!r.TryReadByte(out byte version) || version != FormatVersion
            || !r.TryReadDouble(out double alpha) || !alpha.Equals(_mapping.RelativeAccuracy)
            || !r.TryReadVarUInt(out ulong maxBins) || maxBins != (ulong)_mapping.MaxBins
            || !r.TryReadVarUInt(out ulong windowSize) || windowSize != (ulong)_windowSizeMs
            || !r.TryReadVarUInt((ulong)source.Length / 4, out ulong seriesCount))
        {
            return false;
        }

        // Keys are decoded into two buffers of at most one key each (the current and the previous one), so
        // no input can make the reader allocate more than that.
        if (_readKeys[0] is null)
        {
            _readKeys[0] = new byte[SeriesKey.MaxEncodedBytes];
            _readKeys[1] = new byte[SeriesKey.MaxEncodedBytes];
        }

        MetricAggregate scratch = _scratch ??= new MetricAggregate(_mapping);
        long minWindow = MinWindowStartMs / _windowSizeMs; // truncation is the ceiling for a negative start
        long maxWindow = (MaxWindowEndMs / _windowSizeMs) - 1;
        int previousLength = 0;
        for (ulong i = 0; i < seriesCount; i++)
        {
            byte[] current = _readKeys[(int)(i & 1)];
            byte[] previous = _readKeys[(int)((i + 1) & 1)];
            if (!r.TryReadVarUInt((ulong)previousLength, out ulong shared)
                || !r.TryReadVarUInt((ulong)(SeriesKey.MaxEncodedBytes - (int)shared), out ulong suffixLength)
                || !r.TryReadBytes((int)suffixLength, out ReadOnlySpan<byte> suffix))
            {
                return false;
            }

            int length = (int)shared + suffix.Length;
            previous.AsSpan(0, (int)shared).CopyTo(current);
            suffix.CopyTo(current.AsSpan((int)shared));
            ReadOnlySpan<byte> key = current.AsSpan(0, length);
            previousLength = length;
            if ((!apply && !IsCanonicalKey(key))
                || !r.TryReadVarUInt((ulong)source.Length / 2, out ulong pairCount) || pairCount == 0)
            {
                return false;
            }

            for (ulong p = 0; p < pairCount; p++)
            {
                if (!r.TryReadVarInt(out long window) || window < minWindow || window > maxWindow)
                {
                    return false;
                }

                // A pair without samples is never written (a record that fails after adding pairs rolls them back), and
                // one read would reach the sink as an empty aggregate: the bytes are not a state of ours.
                scratch.Clear();
                if (!scratch.TryReadBody(ref r) || scratch.Count == 0)
                {
                    return false;
                }

                if (apply)
                {
                    GetOrAddPair(key, window * _windowSizeMs, enforceCap: false, out int pair);
                    _aggregates[pair]!.MergeCompatible(scratch);
                }
            }
        }

        scratch.Clear();
        return r.Position == source.Length;
    }

    /// <summary>Whether bytes are a well-formed series key in canonical form (metric not empty, dimension keys strictly ascending).</summary>
    private static bool IsCanonicalKey(ReadOnlySpan<byte> encoded)
    {
        if (!SeriesKey.TryCreate(encoded, out SeriesKey key) || key.Metric.IsEmpty)
        {
            return false;
        }

        ReadOnlySpan<byte> previous = default;
        bool first = true;
        foreach (SeriesKey.Dimension d in key.Dimensions)
        {
            if (d.Value.Length > SeriesKey.MaxDimensionValueBytes || (!first && previous.SequenceCompareTo(d.Key) >= 0))
            {
                return false;
            }

            previous = d.Key;
            first = false;
        }

        return true;
    }
}
