using System.Buffers;
using System.Text;

namespace Analytics.Core;

/// <summary>
/// Aggregates samples into (series, window) pairs: tumbling event-time windows aligned to the Unix epoch, one
/// <see cref="MetricAggregate"/> per pair, with a cap on the number of pairs.
/// </summary>
/// <remarks>
/// <para>Window of a timestamp <c>t</c> (epoch ms): <c>[start, start + size)</c> with
/// <c>start = floor(t / size) · size</c>, floor also for negative timestamps.</para>
/// <para>Series keys are interned by their bytes in an arena with an open hash table, so a sample of a known
/// (series, window) pair allocates nothing; pairs are indexed 0..<see cref="PairCount"/> − 1 in creation order, and
/// an index is stable until <see cref="Clear"/>. <see cref="Clear"/> keeps every array and aggregate for reuse:
/// an aggregate returned by <see cref="GetAggregate"/> is recycled by a later pair after <see cref="Clear"/>.</para>
/// <para>Memory is bounded by <see cref="AggregatorOptions.MaxPairs"/>: a sample that would create a pair past it is
/// refused. Merges (<see cref="Merge"/>, <see cref="TryMergeFrom"/>) never drop data and are not capped; while
/// <see cref="PairCount"/> is at or above the cap, samples only reach existing pairs.</para>
/// <para>Binary form (<see cref="WriteTo"/>): a format version byte (1), α (double), the bin bound and the window
/// size in ms (varints), the number of series (varint), then per series its key, front-coded against the previous
/// key (varint length of the shared prefix, varint length of the rest, the rest), its number of pairs (varint) and
/// per pair the window index <c>start / size</c> (zigzag varint) and the aggregate body of
/// <see cref="MetricAggregate"/>. Series come in creation order, the pairs of a series in creation order; a copy read
/// back writes the same bytes. See docs/aggregation.md for sizes.</para>
/// <para>Not thread safe.</para>
/// </remarks>
internal sealed class MetricAggregator
{
    /// <summary>Version byte that starts the binary form.</summary>
    internal const byte FormatVersion = 1;

    /// <summary>Earliest accepted window start: 0001-01-01T00:00Z, the start of <see cref="DateTimeOffset"/>.</summary>
    internal const long MinWindowStartMs = -62_135_596_800_000;

    /// <summary>
    /// Latest accepted window end (exclusive): 9999-12-31T23:59:59.999Z, the last millisecond <see cref="DateTimeOffset"/>
    /// can hold, so every window's end converts to a date (the window that would end at 10000-01-01 is refused).
    /// </summary>
    internal const long MaxWindowEndMs = 253_402_300_799_999;

    private const int InitialCapacity = 16;

    private readonly AggregatorOptions _options;
    private readonly LogarithmicMapping _mapping;
    private readonly long _windowSizeMs;

    private byte[] _arena = new byte[1024];
    private int _arenaUsed;
    private SeriesEntry[] _series = new SeriesEntry[InitialCapacity];
    private int[] _seriesBuckets = new int[InitialCapacity];
    private int _seriesCount;

    private PairEntry[] _pairs = new PairEntry[InitialCapacity];
    private int[] _pairBuckets = new int[InitialCapacity];
    private MetricAggregate?[] _aggregates = new MetricAggregate?[InitialCapacity];
    private int _pairCount;

    private MetricAggregate? _scratch;
    private readonly byte[][] _readKeys = new byte[2][];
    private int[] _writeOrder = [];
    private int[] _writeStart = [];

    /// <summary>Creates an empty aggregator.</summary>
    /// <param name="options">The options.</param>
    /// <exception cref="ArgumentOutOfRangeException">
    /// An option is out of range: <see cref="AggregatorOptions.WindowSize"/> not 1 s to 1 h in whole milliseconds,
    /// <see cref="AggregatorOptions.MaxPairs"/> not 1 to 10,000,000, <see cref="AggregatorOptions.RelativeAccuracy"/>
    /// not 0.0001 to 0.5, or <see cref="AggregatorOptions.MaxBins"/> not 16 to 65,536.
    /// </exception>
    public MetricAggregator(AggregatorOptions options)
    {
        options.Validate(nameof(options));
        _options = options;
        _mapping = new LogarithmicMapping(options.RelativeAccuracy, options.MaxBins);
        _windowSizeMs = options.WindowSizeMs;
    }

    /// <summary>The options.</summary>
    public AggregatorOptions Options => _options;

    /// <summary>Number of (series, window) pairs, indexed 0..PairCount-1 in creation order.</summary>
    public int PairCount => _pairCount;

    /// <summary>Adds one sample.</summary>
    /// <param name="seriesKey">The series.</param>
    /// <param name="timestampMs">Event time, epoch ms; its window must lie within the years 0001 to 9999.</param>
    /// <param name="value">A finite value.</param>
    /// <returns>
    /// <see langword="false"/>, with nothing changed, when the sample would create a pair past
    /// <see cref="AggregatorOptions.MaxPairs"/>, or when the value is not finite, the timestamp out of range or the
    /// key <see langword="default"/>.
    /// </returns>
    public bool TryAdd(SeriesKey seriesKey, long timestampMs, double value)
    {
        if (!double.IsFinite(value) || seriesKey.Encoded.Length < 2 || !IsTimestampInRange(timestampMs))
        {
            return false;
        }

        if (!TryGetOrAddPair(seriesKey.Encoded, timestampMs, out int pair))
        {
            return false;
        }

        _aggregates[pair]!.AddFinite(value);
        return true;
    }

    /// <summary>The series of a pair.</summary>
    /// <param name="pair">Pair index.</param>
    /// <returns>The key.</returns>
    /// <remarks>A view of the aggregator's storage, valid until <see cref="Clear"/> or a rollback of the pair.</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pair"/> is not 0 to <see cref="PairCount"/> − 1.</exception>
    public SeriesKey GetSeriesKey(int pair)
    {
        CheckPair(pair);
        ref readonly SeriesEntry s = ref _series[_pairs[pair].Series];
        return SeriesKey.FromTrusted(_arena.AsSpan(s.Offset, s.Length));
    }

    /// <summary>Window start of a pair, epoch ms.</summary>
    /// <param name="pair">Pair index.</param>
    /// <returns>Start.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pair"/> is not 0 to <see cref="PairCount"/> − 1.</exception>
    public long GetWindowStartMs(int pair)
    {
        CheckPair(pair);
        return _pairs[pair].WindowStart;
    }

    /// <summary>The aggregate of a pair.</summary>
    /// <param name="pair">Pair index.</param>
    /// <returns>The aggregate; it belongs to the aggregator and is recycled after <see cref="Clear"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pair"/> is not 0 to <see cref="PairCount"/> − 1.</exception>
    public MetricAggregate GetAggregate(int pair)
    {
        CheckPair(pair);
        return _aggregates[pair]!;
    }

    /// <summary>Merges another aggregator's pairs into this one (not capped by <see cref="AggregatorOptions.MaxPairs"/>).</summary>
    /// <param name="other">The other.</param>
    /// <exception cref="ArgumentNullException"><paramref name="other"/> is null.</exception>
    /// <exception cref="ArgumentException">The other aggregator has another window size, accuracy or bin bound.</exception>
    public void Merge(MetricAggregator other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other._windowSizeMs != _windowSizeMs || !_mapping.IsCompatibleWith(other._mapping))
        {
            ThrowHelper.ThrowArgument(nameof(other), "The aggregators have different window sizes, accuracies or bin bounds.");
        }

        int count = other._pairCount;
        for (int p = 0; p < count; p++)
        {
            ref readonly PairEntry e = ref other._pairs[p];
            ref readonly SeriesEntry s = ref other._series[e.Series];
            GetOrAddPair(other._arena.AsSpan(s.Offset, s.Length), e.WindowStart, enforceCap: false, out int pair);
            _aggregates[pair]!.MergeCompatible(other._aggregates[p]!);
        }
    }

    /// <summary>Removes all pairs, keeping storage.</summary>
    public void Clear()
    {
        Array.Clear(_seriesBuckets);
        Array.Clear(_pairBuckets);
        _seriesCount = 0;
        _pairCount = 0;
        _arenaUsed = 0;
    }

    /// <summary>A decoded summary of every pair, in pair order, with p50, p90, p95 and p99.</summary>
    /// <returns>One snapshot per pair; allocates.</returns>
    internal IReadOnlyList<AggregateSnapshot> GetSnapshots()
    {
        var result = new AggregateSnapshot[_pairCount];
        var metrics = new string?[_seriesCount];
        var dimensions = new IReadOnlyList<KeyValuePair<string, string>>?[_seriesCount];
        for (int p = 0; p < _pairCount; p++)
        {
            ref readonly PairEntry e = ref _pairs[p];
            if (metrics[e.Series] is null)
            {
                ref readonly SeriesEntry s = ref _series[e.Series];
                SeriesKey key = SeriesKey.FromTrusted(_arena.AsSpan(s.Offset, s.Length));
                metrics[e.Series] = key.GetMetricString();
                var dims = new KeyValuePair<string, string>[key.DimensionCount];
                int i = 0;
                foreach (SeriesKey.Dimension d in key.Dimensions)
                {
                    dims[i++] = new(Encoding.UTF8.GetString(d.Key), Encoding.UTF8.GetString(d.Value));
                }

                dimensions[e.Series] = dims;
            }

            result[p] = new AggregateSnapshot(
                metrics[e.Series]!,
                dimensions[e.Series]!,
                DateTimeOffset.FromUnixTimeMilliseconds(e.WindowStart),
                DateTimeOffset.FromUnixTimeMilliseconds(e.WindowStart + _windowSizeMs),
                _aggregates[p]!);
        }

        return result;
    }

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
    /// Finds the pair of (<paramref name="seriesKey"/>, window of <paramref name="timestampMs"/>), creating it when
    /// new and under the cap.
    /// </summary>
    /// <param name="seriesKey">An encoded, canonical series key (from the record parser).</param>
    /// <param name="timestampMs">Event time, epoch ms, in range (see <see cref="IsTimestampInRange"/>).</param>
    /// <param name="pair">The pair index.</param>
    /// <returns><see langword="false"/> when the pair is new and <see cref="PairCount"/> has reached the cap.</returns>
    internal bool TryGetOrAddPair(ReadOnlySpan<byte> seriesKey, long timestampMs, out int pair) =>
        TryGetOrAddPair(seriesKey, timestampMs, enforceCap: true, out pair);

    /// <summary>As <see cref="TryGetOrAddPair(ReadOnlySpan{byte}, long, out int)"/>; without <paramref name="enforceCap"/> it always succeeds.</summary>
    internal bool TryGetOrAddPair(ReadOnlySpan<byte> seriesKey, long timestampMs, bool enforceCap, out int pair)
    {
        CoreAssert.True(IsTimestampInRange(timestampMs), "timestamps are checked before aggregation");
        return GetOrAddPair(seriesKey, WindowStartOf(timestampMs), enforceCap, out pair);
    }

    /// <summary>Adds a finite value to an existing pair.</summary>
    internal void AddToPair(int pair, double value)
    {
        CoreAssert.True((uint)pair < (uint)_pairCount, "pair exists");
        _aggregates[pair]!.AddFinite(value);
    }

    /// <summary>Removes the pairs created after <see cref="PairCount"/> was <paramref name="pairCount"/>, and the series only they used.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pairCount"/> is not 0 to <see cref="PairCount"/>.</exception>
    internal void RollbackTo(int pairCount)
    {
        if ((uint)pairCount > (uint)_pairCount)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(pairCount), "The mark must be 0 to PairCount.");
        }

        // Entries go in at the head of their bucket chain and are removed newest first, so each one removed is
        // the head of its chain (rehashing keeps that order).
        for (int p = _pairCount - 1; p >= pairCount; p--)
        {
            ref readonly PairEntry e = ref _pairs[p];
            int bucket = e.HashCode & (_pairBuckets.Length - 1);
            CoreAssert.True(_pairBuckets[bucket] == p + 1, "the newest pair heads its chain");
            _pairBuckets[bucket] = e.Next;
            if (e.CreatedSeries)
            {
                int s = _seriesCount - 1;
                CoreAssert.True(e.Series == s, "the newest pair that created a series created the newest series");
                ref readonly SeriesEntry se = ref _series[s];
                int seriesBucket = se.HashCode & (_seriesBuckets.Length - 1);
                CoreAssert.True(_seriesBuckets[seriesBucket] == s + 1, "the newest series heads its chain");
                _seriesBuckets[seriesBucket] = se.Next;
                _arenaUsed = se.Offset;
                _seriesCount = s;
            }
        }

        _pairCount = pairCount;
    }

    /// <summary>Start of the window holding <paramref name="timestampMs"/>: floor(t / size) · size.</summary>
    internal long WindowStartOf(long timestampMs)
    {
        long remainder = timestampMs % _windowSizeMs;
        if (remainder < 0)
        {
            remainder += _windowSizeMs;
        }

        return timestampMs - remainder;
    }

    /// <summary>Whether the window of <paramref name="timestampMs"/> lies within <see cref="DateTimeOffset"/>'s range.</summary>
    internal bool IsTimestampInRange(long timestampMs) =>
        timestampMs >= MinWindowStartMs && timestampMs < MaxWindowEndMs
        && WindowStartOf(timestampMs) >= MinWindowStartMs && WindowStartOf(timestampMs) <= MaxWindowEndMs - _windowSizeMs;

    /// <summary>Number of distinct series keys.</summary>
    internal int SeriesCount => _seriesCount;

    /// <summary>Bytes of the key arena in use.</summary>
    internal int ArenaBytesUsed => _arenaUsed;

    private static int HashKey(ReadOnlySpan<byte> key)
    {
        var hash = default(HashCode);
        hash.AddBytes(key);
        return hash.ToHashCode();
    }

    private static int HashPair(int series, long windowStart) => HashCode.Combine(series, windowStart);

    private void CheckPair(int pair)
    {
        if ((uint)pair >= (uint)_pairCount)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(pair), "The pair index must be 0 to PairCount - 1.");
        }
    }

    private bool GetOrAddPair(ReadOnlySpan<byte> seriesKey, long windowStart, bool enforceCap, out int pair)
    {
        int seriesHash = HashKey(seriesKey);
        int series = FindSeries(seriesKey, seriesHash);
        int pairHash = 0;
        if (series >= 0)
        {
            pairHash = HashPair(series, windowStart);
            for (int i = _pairBuckets[pairHash & (_pairBuckets.Length - 1)] - 1; i >= 0;)
            {
                ref readonly PairEntry e = ref _pairs[i];
                if (e.HashCode == pairHash && e.Series == series && e.WindowStart == windowStart)
                {
                    pair = i;
                    return true;
                }

                i = e.Next - 1;
            }
        }

        if (enforceCap && _pairCount >= _options.MaxPairs)
        {
            pair = -1;
            return false;
        }

        bool createdSeries = false;
        if (series < 0)
        {
            series = AddSeries(seriesKey, seriesHash);
            pairHash = HashPair(series, windowStart);
            createdSeries = true;
        }

        pair = AddPair(series, windowStart, pairHash, createdSeries);
        return true;
    }

    private int FindSeries(ReadOnlySpan<byte> key, int hash)
    {
        for (int i = _seriesBuckets[hash & (_seriesBuckets.Length - 1)] - 1; i >= 0;)
        {
            ref readonly SeriesEntry e = ref _series[i];
            if (e.HashCode == hash && _arena.AsSpan(e.Offset, e.Length).SequenceEqual(key))
            {
                return i;
            }

            i = e.Next - 1;
        }

        return -1;
    }

    private int AddSeries(ReadOnlySpan<byte> key, int hash)
    {
        if (_arena.Length - _arenaUsed < key.Length)
        {
            Array.Resize(ref _arena, Math.Max(_arena.Length * 2, _arenaUsed + key.Length));
        }

        key.CopyTo(_arena.AsSpan(_arenaUsed));
        if (_seriesCount == _series.Length)
        {
            Array.Resize(ref _series, _series.Length * 2);
            _seriesBuckets = new int[_series.Length];
            for (int i = 0; i < _seriesCount; i++)
            {
                ref SeriesEntry e = ref _series[i];
                ref int head = ref _seriesBuckets[e.HashCode & (_seriesBuckets.Length - 1)];
                e.Next = head;
                head = i + 1;
            }
        }

        int index = _seriesCount++;
        ref int bucket = ref _seriesBuckets[hash & (_seriesBuckets.Length - 1)];
        _series[index] = new SeriesEntry { Offset = _arenaUsed, Length = key.Length, HashCode = hash, Next = bucket };
        bucket = index + 1;
        _arenaUsed += key.Length;
        return index;
    }

    private int AddPair(int series, long windowStart, int hash, bool createdSeries)
    {
        if (_pairCount == _pairs.Length)
        {
            Array.Resize(ref _pairs, _pairs.Length * 2);
            _pairBuckets = new int[_pairs.Length];
            for (int i = 0; i < _pairCount; i++)
            {
                ref PairEntry e = ref _pairs[i];
                ref int head = ref _pairBuckets[e.HashCode & (_pairBuckets.Length - 1)];
                e.Next = head;
                head = i + 1;
            }
        }

        if (_pairCount == _aggregates.Length)
        {
            Array.Resize(ref _aggregates, _pairs.Length);
        }

        int index = _pairCount++;
        ref int bucket = ref _pairBuckets[hash & (_pairBuckets.Length - 1)];
        _pairs[index] = new PairEntry { WindowStart = windowStart, Series = series, HashCode = hash, Next = bucket, CreatedSeries = createdSeries };
        bucket = index + 1;

        MetricAggregate? aggregate = _aggregates[index];
        if (aggregate is null)
        {
            _aggregates[index] = new MetricAggregate(_mapping);
        }
        else
        {
            aggregate.Clear();
        }

        return index;
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

                scratch.Clear();
                if (!scratch.TryReadBody(ref r))
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

    private struct SeriesEntry
    {
        public int Offset;
        public int Length;
        public int HashCode;
        public int Next;
    }

    private struct PairEntry
    {
        public long WindowStart;
        public int Series;
        public int HashCode;
        public int Next;
        public bool CreatedSeries;
    }
}
