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
internal sealed partial class MetricAggregator
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
    private HashChains _seriesIndex = new(InitialCapacity);
    private int _seriesCount;

    private PairEntry[] _pairs = new PairEntry[InitialCapacity];
    private HashChains _pairIndex = new(InitialCapacity);
    private MetricAggregate?[] _aggregates = new MetricAggregate?[InitialCapacity];
    private int _pairCount;

    // Binary form: the reader's scratch aggregate and key buffers, the writer's grouping of pairs by series.
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
        _seriesIndex.Clear();
        _pairIndex.Clear();
        _seriesCount = 0;
        _pairCount = 0;
        _arenaUsed = 0;
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

    private void CheckPair(int pair)
    {
        if ((uint)pair >= (uint)_pairCount)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(pair), "The pair index must be 0 to PairCount - 1.");
        }
    }
}
