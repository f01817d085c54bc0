using System.Text;

namespace Analytics.Core;

/// <summary>
/// The (series, window) aggregates that one batch of records produced, with the sequence numbers of the records
/// behind each, handed to an <see cref="IAggregateSink"/>.
/// </summary>
/// <remarks>
/// The records of a batch are in sequence order, so for each pair the batch knows the first and the last record that
/// contributed to it, and can recompute the pair from only the records past a watermark. That is what lets a sink
/// apply a re-delivered batch exactly once. With ParallelizationFactor above 1, Lambda keeps the order only per
/// partition key (concurrent batches of one shard interleave their sequence numbers), so the batch also knows, per
/// pair, which partition keys contributed and each key's last record: a sink keeps one watermark per (shard,
/// partition key) and recomputes the pair from the records past their own key's watermark
/// (<see cref="TryGetAggregateAfter(int, IReadOnlyList{string}, MetricAggregate)"/>).
/// <para>During a sink call the batch does not change: its members that read may be called from several threads at
/// once, and <see cref="MarkDurable"/> for different pairs too.</para>
/// </remarks>
public sealed class AggregateBatch
{
    private readonly AggregatorOptions _options;
    private MetricAggregator _aggregator;
    private byte[] _sequenceArena = new byte[4096];
    private int _sequenceArenaUsed;
    private (int Offset, int Length)[] _records = new (int, int)[128];
    private int _recordCount;
    private (int First, int Last)[] _pairRecords = new (int, int)[128];
    private bool[] _durable = new bool[128];
    // Per-record log of contributions, chained per pair (Next: the pair's next sample, -1 at its end), so that
    // recomputing one pair walks only its own samples.
    private (int Record, double Value, int Next)[] _samples = new (int, double, int)[1024];
    private (int First, int Last)[] _pairSamples = new (int, int)[128];
    private int _sampleCount;
    private bool _hasSampleLog;
    private int _pairsNoted;

    // Partition keys: each distinct key of the batch once (UTF-8, in _keyArena), chained per hash bucket; each
    // record's key id. Per pair, built on first use: its keys and each key's first and last record, in _pairKeyEntries.
    private byte[] _keyArena = new byte[1024];
    private int _keyArenaUsed;
    private (int Offset, int Length, int Next)[] _keys = new (int, int, int)[32];
    private int _keyCount;
    private readonly Dictionary<int, int> _keyByHash = [];
    private int[] _recordKey = new int[128];
    private (int Start, int Count)[] _pairKeyRanges = new (int, int)[128];
    private (int Key, int FirstRecord, int LastRecord)[] _pairKeyEntries = new (int, int, int)[128];
    private int[] _keyStamp = new int[32];
    private int[] _keySlot = new int[32];
    // Per sample of the log: the place of its record's key among its pair's keys. Built with the per-pair view, so
    // that the per-key split only reads shared state: sinks call it from several workers at once.
    private int[] _sampleKeySlot = new int[1024];
    private volatile bool _pairKeysBuilt;
    private readonly object _pairKeysLock = new();

    internal AggregateBatch(AggregatorOptions options)
    {
        _options = options;
        _aggregator = new MetricAggregator(options);
    }

    /// <summary>The shard the records came from.</summary>
    public string ShardId { get; private set; } = string.Empty;

    /// <summary>The stream ARN (<c>eventSourceARN</c>), when the event carried it.</summary>
    public string? EventSourceArn { get; private set; }

    /// <summary>Number of (series, window) pairs.</summary>
    public int Count => _aggregator.PairCount;

    /// <summary>The processor's aggregator options (window size, sketch accuracy and bounds) the pairs were built with.</summary>
    public AggregatorOptions AggregatorOptions => _options;

    /// <summary>The window size of the pairs.</summary>
    public TimeSpan WindowSize => _options.WindowSize;

    internal MetricAggregator Aggregator => _aggregator;

    /// <summary>The series of pair <paramref name="pair"/>.</summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <returns>A view valid until the batch is reused.</returns>
    public SeriesKey GetSeriesKey(int pair) => _aggregator.GetSeriesKey(pair);

    /// <summary>Start of the pair's window, epoch milliseconds (inclusive).</summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <returns>Epoch milliseconds.</returns>
    public long GetWindowStartMs(int pair) => _aggregator.GetWindowStartMs(pair);

    /// <summary>End of the pair's window, epoch milliseconds (exclusive).</summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <returns>Epoch milliseconds.</returns>
    public long GetWindowEndMs(int pair) => _aggregator.GetWindowStartMs(pair) + (long)_options.WindowSize.TotalMilliseconds;

    /// <summary>The aggregate of all of the batch's samples for the pair.</summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <returns>The aggregate; do not modify it.</returns>
    public MetricAggregate GetAggregate(int pair) => _aggregator.GetAggregate(pair);

    /// <summary>Sequence number (decimal UTF-8 digits) of the first record that contributed to the pair.</summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <returns>The digits.</returns>
    public ReadOnlySpan<byte> GetFirstSequenceNumber(int pair) => RecordSequence(_pairRecords[pair].First);

    /// <summary>Sequence number (decimal UTF-8 digits) of the last record that contributed to the pair.</summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <returns>The digits.</returns>
    public ReadOnlySpan<byte> GetLastSequenceNumber(int pair) => RecordSequence(_pairRecords[pair].Last);

    /// <summary>
    /// Computes the pair's aggregate from only the records whose sequence number is greater than
    /// <paramref name="watermark"/>.
    /// </summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <param name="watermark">A sequence number (decimal UTF-8 digits) already applied; empty for none.</param>
    /// <param name="destination">Cleared, then filled with the aggregate of the records past the watermark.</param>
    /// <returns><see langword="false"/> when no record past the watermark contributed: there is nothing to apply.</returns>
    /// <exception cref="InvalidOperationException">
    /// The watermark falls strictly inside the pair's records but the batch has no per-record log for it (a
    /// tumbling-window flush spans several invocations): applying it would count some records twice.
    /// </exception>
    /// <exception cref="ArgumentNullException"><paramref name="destination"/> is null.</exception>
    public bool TryGetAggregateAfter(int pair, ReadOnlySpan<byte> watermark, MetricAggregate destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        destination.Clear();
        (int first, int last) = _pairRecords[pair];
        if (!watermark.IsEmpty && SequenceNumber.Compare(RecordSequence(last), watermark) <= 0)
        {
            return false;
        }

        if (watermark.IsEmpty || SequenceNumber.Compare(RecordSequence(first), watermark) > 0)
        {
            destination.Merge(_aggregator.GetAggregate(pair));
            return true;
        }

        if (!_hasSampleLog)
        {
            // Seen by a consumer as "every invocation fails" with no word of the cause: at ParallelizationFactor above 1 a shard's
            // concurrent batches each keep their own window state, and one's flush straddles another's watermark.
            ThrowHelper.ThrowInvalidOperation("The watermark falls inside a window flushed from tumbling-window state; it cannot be split by record. Tumbling windows are exact at ParallelizationFactor 1 only: above it a shard's concurrent batches each keep their own state (docs/dynamodb.md, \"Tumbling windows\").");
        }

        int firstRecordAfter = FirstRecordAfter(watermark);
        for (int i = _pairSamples[pair].First; i >= 0; i = _samples[i].Next)
        {
            if (_samples[i].Record >= firstRecordAfter)
            {
                destination.Add(_samples[i].Value);
            }
        }

        return destination.Count > 0;
    }

    /// <summary>
    /// How many distinct partition keys have records that contributed to the pair; 0 when the batch has no per-record
    /// log (a tumbling-window flush, whose pairs span several invocations).
    /// </summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <returns>The number of keys; index them 0 to the count - 1.</returns>
    public int GetPartitionKeyCount(int pair)
    {
        EnsurePairKeys();
        return _hasSampleLog ? _pairKeyRanges[pair].Count : 0;
    }

    /// <summary>
    /// The partition key of the pair's key <paramref name="key"/>: its UTF-8 without JSON escapes when the key is text;
    /// otherwise (an escape of a lone surrogate, bytes that are not UTF-8) 0xFF, a byte no UTF-8 text holds, followed by
    /// the key's bytes as the event spells them. Two different keys never have the same bytes.
    /// </summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <param name="key">0 to <see cref="GetPartitionKeyCount"/> - 1.</param>
    /// <returns>The key's bytes, valid until the batch is reused.</returns>
    public ReadOnlySpan<byte> GetPartitionKey(int pair, int key)
    {
        (int offset, int length, _) = _keys[PairKeyEntry(pair, key).Key];
        return _keyArena.AsSpan(offset, length);
    }

    /// <summary>
    /// The partition key of the pair's key <paramref name="key"/> as a string that tells it apart from every other key,
    /// for a sink that keeps state per key (the DynamoDB sink's watermarks, a spill's samples): the key itself when its
    /// bytes (<see cref="GetPartitionKey"/>) are UTF-8 that does not start with U+FFFD; otherwise U+FFFD followed by the
    /// bytes in base64. Decoding the bytes instead would give two keys that are not text the same string (U+FFFD for
    /// each bad byte), and one sink slot for two keys loses records at ParallelizationFactor above 1.
    /// </summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <param name="key">0 to <see cref="GetPartitionKeyCount"/> - 1.</param>
    /// <returns>The key as a string (allocates).</returns>
    public string GetPartitionKeyText(int pair, int key) => KeyText(GetPartitionKey(pair, key));

    /// <summary>The first byte of a key that is not text (see <see cref="GetPartitionKey"/>).</summary>
    internal const byte NotTextKeyMark = 0xFF;

    /// <summary>The string <see cref="GetPartitionKeyText"/> gives for a key's bytes.</summary>
    internal static string KeyText(ReadOnlySpan<byte> key) =>
        System.Text.Unicode.Utf8.IsValid(key) && !key.StartsWith("\uFFFD"u8)
            ? Encoding.UTF8.GetString(key)
            : "\uFFFD" + Convert.ToBase64String(key);

    /// <summary>Sequence number (decimal UTF-8 digits) of the last record of the pair's key <paramref name="key"/> that contributed to it.</summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <param name="key">0 to <see cref="GetPartitionKeyCount"/> - 1.</param>
    /// <returns>The digits.</returns>
    public ReadOnlySpan<byte> GetLastSequenceNumber(int pair, int key) => RecordSequence(PairKeyEntry(pair, key).LastRecord);

    /// <summary>Sequence number (decimal UTF-8 digits) of the first record of the pair's key <paramref name="key"/> that contributed to it.</summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <param name="key">0 to <see cref="GetPartitionKeyCount"/> - 1.</param>
    /// <returns>The digits.</returns>
    public ReadOnlySpan<byte> GetFirstSequenceNumber(int pair, int key) => RecordSequence(PairKeyEntry(pair, key).FirstRecord);

    /// <summary>
    /// Computes the pair's aggregate from only the records whose sequence number is greater than the watermark of their
    /// own partition key: the exactly-once split when batches of one shard run concurrently (ParallelizationFactor
    /// above 1) and are ordered only per partition key.
    /// </summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <param name="watermarks">
    /// Per key of the pair (index as in <see cref="GetPartitionKey"/>), the highest sequence number (decimal digits)
    /// already applied for that key; null or empty for none. Exactly <see cref="GetPartitionKeyCount"/> entries.
    /// </param>
    /// <param name="destination">Cleared, then filled with the aggregate of the records past their key's watermark.</param>
    /// <returns><see langword="false"/> when no such record contributed: there is nothing to apply.</returns>
    /// <exception cref="ArgumentException"><paramref name="watermarks"/> does not have one entry per key of the pair.</exception>
    /// <exception cref="InvalidOperationException">The batch has no per-record log (a tumbling-window flush).</exception>
    /// <exception cref="ArgumentNullException"><paramref name="watermarks"/> or <paramref name="destination"/> is null.</exception>
    public bool TryGetAggregateAfter(int pair, IReadOnlyList<string?> watermarks, MetricAggregate destination)
    {
        ArgumentNullException.ThrowIfNull(watermarks);
        ArgumentNullException.ThrowIfNull(destination);
        if (!_hasSampleLog)
        {
            ThrowHelper.ThrowInvalidOperation("A window flushed from tumbling-window state has no per-record log; it cannot be split by partition key.");
        }

        EnsurePairKeys();
        (int start, int count) = _pairKeyRanges[pair];
        if (watermarks.Count != count)
        {
            ThrowHelper.ThrowArgument(nameof(watermarks), $"Expected one watermark per partition key of the pair ({count}); got {watermarks.Count}.");
        }

        destination.Clear();

        // Per key of the pair: the first record past its watermark (a record index; beyond the batch when none is).
        Span<int> firstAfter = count <= 64 ? stackalloc int[count] : new int[count];
        Span<byte> markBytes = stackalloc byte[256];
        bool any = false;
        for (int k = 0; k < count; k++)
        {
            string? mark = watermarks[k];
            int lastRecord = _pairKeyEntries[start + k].LastRecord;
            if (string.IsNullOrEmpty(mark))
            {
                firstAfter[k] = 0;
                any = true;
                continue;
            }

            // ASCII: a byte per char (what Encoding.ASCII.GetBytes(string) gives, without an array per key).
            Span<byte> digits = mark.Length <= markBytes.Length ? markBytes[..mark.Length] : new byte[mark.Length];
            digits = digits[..Encoding.ASCII.GetBytes(mark, digits)]; // a surrogate pair becomes one '?'
            firstAfter[k] = SequenceNumber.Compare(RecordSequence(lastRecord), digits) <= 0 ? int.MaxValue : FirstRecordAfter(digits);
            any |= firstAfter[k] != int.MaxValue;
        }

        if (!any)
        {
            return false;
        }

        for (int i = _pairSamples[pair].First; i >= 0; i = _samples[i].Next)
        {
            if (_samples[i].Record >= firstAfter[_sampleKeySlot[i]])
            {
                destination.Add(_samples[i].Value);
            }
        }

        return destination.Count > 0;
    }

    /// <summary>Marks a pair as durably written; the pipeline will not report its records as failed.</summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pair"/> is not a pair of the batch (below 0, or
    /// <see cref="Count"/> or more).</exception>
    public void MarkDurable(int pair)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(pair);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(pair, Count);
        _durable[pair] = true;
    }

    /// <summary>Marks every pair of the batch as durably written: call it once the sink has stored them all.</summary>
    public void MarkAllDurable() => Array.Fill(_durable, true, 0, Count);

    /// <summary>Pair <paramref name="pair"/>, decoded: metric and dimensions as strings, window, statistics, quantiles.</summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <returns>A new object that owns its data (allocates); it stays valid across <c>await</c> and after the batch is reused.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pair"/> is not a pair of the batch.</exception>
    public AggregatePair GetPair(int pair)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(pair);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(pair, Count);
        SeriesKey key = _aggregator.GetSeriesKey(pair);
        return CreatePair(pair, key.GetMetricString(), DecodeDimensions(key));
    }

    /// <summary>Every pair of the batch, decoded, in pair order (<see cref="AggregatePair.Index"/> 0 to <see cref="Count"/> - 1).</summary>
    /// <returns>A new list (allocates; the strings of a series are shared by its windows).</returns>
    public IReadOnlyList<AggregatePair> GetPairs()
    {
        var pairs = new AggregatePair[Count];
        var series = new Dictionary<string, (string Metric, KeyValuePair<string, string>[] Dimensions)>(StringComparer.Ordinal);
        for (int pair = 0; pair < pairs.Length; pair++)
        {
            SeriesKey key = _aggregator.GetSeriesKey(pair);
            string encoded = Convert.ToBase64String(key.Encoded);
            if (!series.TryGetValue(encoded, out (string Metric, KeyValuePair<string, string>[] Dimensions) names))
            {
                names = (key.GetMetricString(), DecodeDimensions(key));
                series.Add(encoded, names);
            }

            pairs[pair] = CreatePair(pair, names.Metric, names.Dimensions);
        }

        return pairs;
    }

    /// <summary>Whether the sink marked the pair durable.</summary>
    /// <param name="pair">0 to <see cref="Count"/> - 1.</param>
    /// <returns>The mark.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pair"/> is not a pair of the batch (below 0, or
    /// <see cref="Count"/> or more): the marks array is pooled and longer, so an index past the batch would read a mark
    /// left by an earlier batch.</exception>
    public bool IsDurable(int pair)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(pair);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(pair, Count);
        return _durable[pair];
    }

    /// <summary>How many pairs the sink marked durable.</summary>
    internal int DurableCount
    {
        get
        {
            int durable = 0;
            for (int pair = 0; pair < Count; pair++)
            {
                durable += _durable[pair] ? 1 : 0;
            }

            return durable;
        }
    }

    internal int RecordCount => _recordCount;

    private static KeyValuePair<string, string>[] DecodeDimensions(SeriesKey key)
    {
        var dimensions = new KeyValuePair<string, string>[key.DimensionCount];
        int i = 0;
        foreach (SeriesKey.Dimension d in key.Dimensions)
        {
            dimensions[i++] = new(Encoding.UTF8.GetString(d.Key), Encoding.UTF8.GetString(d.Value));
        }

        return dimensions;
    }

    private AggregatePair CreatePair(int pair, string metric, KeyValuePair<string, string>[] dimensions)
    {
        var aggregate = new MetricAggregate(_options);
        aggregate.Merge(_aggregator.GetAggregate(pair));
        long start = _aggregator.GetWindowStartMs(pair);
        return new AggregatePair(
            pair,
            metric,
            dimensions,
            DateTimeOffset.FromUnixTimeMilliseconds(start),
            DateTimeOffset.FromUnixTimeMilliseconds(start + (long)_options.WindowSize.TotalMilliseconds),
            aggregate);
    }

    internal int GetPairFirstRecord(int pair) => _pairRecords[pair].First;

    /// <summary>
    /// The pair's samples in record order, each with its record's sequence number and partition key (for a spill);
    /// <paramref name="names"/> caches each record's strings across pairs.
    /// </summary>
    /// <exception cref="InvalidOperationException">The batch has no per-record log (a tumbling-window flush).</exception>
    internal List<SpilledSample> GetSamples(int pair, Dictionary<int, (string Sequence, string Key)> names)
    {
        if (!_hasSampleLog)
        {
            ThrowHelper.ThrowInvalidOperation("A window flushed from tumbling-window state has no per-record log.");
        }

        var samples = new List<SpilledSample>();
        for (int i = _pairSamples[pair].First; i >= 0; i = _samples[i].Next)
        {
            int record = _samples[i].Record;
            if (!names.TryGetValue(record, out (string Sequence, string Key) name))
            {
                (int offset, int length, _) = _keys[_recordKey[record]];
                name = (Encoding.ASCII.GetString(RecordSequence(record)), KeyText(_keyArena.AsSpan(offset, length)));
                names[record] = name;
            }

            samples.Add(new SpilledSample(name.Sequence, name.Key, _samples[i].Value));
        }

        return samples;
    }

    internal ReadOnlySpan<byte> RecordSequence(int record)
    {
        (int offset, int length) = _records[record];
        return _sequenceArena.AsSpan(offset, length);
    }

    internal void Reset(bool hasSampleLog)
    {
        ShardId = string.Empty;
        EventSourceArn = null;
        _aggregator.Clear();
        _sequenceArenaUsed = 0;
        _recordCount = 0;
        _sampleCount = 0;
        _pairsNoted = 0;
        _hasSampleLog = hasSampleLog;
        ResetKeys();
    }

    internal void SetSource(string shardId, string? eventSourceArn)
    {
        ShardId = shardId;
        EventSourceArn = eventSourceArn;
    }

    /// <summary>
    /// Makes the batch a view of a tumbling window's accumulated aggregator: every pair spans the window's records
    /// from <paramref name="firstSequenceNumber"/> to <paramref name="lastSequenceNumber"/>, with no per-record log.
    /// </summary>
    internal void UseWindow(MetricAggregator aggregator, string shardId, string? eventSourceArn, ReadOnlySpan<byte> firstSequenceNumber, ReadOnlySpan<byte> lastSequenceNumber)
    {
        _aggregator = aggregator;
        SetSource(shardId, eventSourceArn);
        _sequenceArenaUsed = 0;
        _recordCount = 0;
        _sampleCount = 0;
        _hasSampleLog = false;
        ResetKeys();
        int first = AddRecord(firstSequenceNumber, default);
        int last = AddRecord(lastSequenceNumber, default);
        int pairs = aggregator.PairCount;
        if (_pairRecords.Length < pairs)
        {
            Array.Resize(ref _pairRecords, pairs);
            Array.Resize(ref _durable, pairs);
            Array.Resize(ref _pairSamples, pairs);
        }

        Array.Fill(_pairRecords, (first, last), 0, pairs);
        Array.Fill(_durable, false, 0, pairs);
        _pairsNoted = pairs;
    }

    /// <summary>Registers a record (in sequence order) with its partition key (UTF-8) and returns its index.</summary>
    internal int AddRecord(ReadOnlySpan<byte> sequenceNumber, ReadOnlySpan<byte> partitionKey)
    {
        if (_sequenceArenaUsed + sequenceNumber.Length > _sequenceArena.Length)
        {
            Array.Resize(ref _sequenceArena, Math.Max(_sequenceArena.Length * 2, _sequenceArenaUsed + sequenceNumber.Length));
        }

        sequenceNumber.CopyTo(_sequenceArena.AsSpan(_sequenceArenaUsed));
        if (_recordCount == _records.Length)
        {
            Array.Resize(ref _records, _records.Length * 2);
        }

        _records[_recordCount] = (_sequenceArenaUsed, sequenceNumber.Length);
        _sequenceArenaUsed += sequenceNumber.Length;
        if (_recordCount == _recordKey.Length)
        {
            Array.Resize(ref _recordKey, _records.Length);
        }

        _recordKey[_recordCount] = InternKey(partitionKey);
        _pairKeysBuilt = false;
        return _recordCount++;
    }

    /// <summary>Registers a record unless it is the one registered last (a record processed again), and returns its index.</summary>
    internal int AddRecordOnce(ReadOnlySpan<byte> sequenceNumber, ReadOnlySpan<byte> partitionKey) =>
        _recordCount > 0 && RecordSequence(_recordCount - 1).SequenceEqual(sequenceNumber) ? _recordCount - 1 : AddRecord(sequenceNumber, partitionKey);

    /// <summary>
    /// Notes that record <paramref name="record"/> contributed <paramref name="value"/> to <paramref name="pair"/>.
    /// Called only for records already known valid, in record order; new pairs appear in creation order.
    /// </summary>
    internal void NoteContribution(int pair, int record, double value)
    {
        if (pair >= _pairRecords.Length)
        {
            int size = Math.Max(_pairRecords.Length * 2, pair + 1);
            Array.Resize(ref _pairRecords, size);
            Array.Resize(ref _durable, size);
            Array.Resize(ref _pairSamples, size);
        }

        _pairKeysBuilt = false;
        bool isNew = pair == _pairsNoted;
        if (isNew)
        {
            _pairRecords[pair] = (record, record);
            _durable[pair] = false;
            _pairsNoted++;
        }
        else
        {
            CoreAssert.True(pair < _pairsNoted, "pairs are noted in creation order");
            _pairRecords[pair].Last = record;
        }

        if (_hasSampleLog)
        {
            if (_sampleCount == _samples.Length)
            {
                Array.Resize(ref _samples, _samples.Length * 2);
            }

            int sample = _sampleCount++;
            _samples[sample] = (record, value, -1);
            if (isNew)
            {
                _pairSamples[pair] = (sample, sample);
            }
            else
            {
                _samples[_pairSamples[pair].Last].Next = sample;
                _pairSamples[pair].Last = sample;
            }
        }
    }

    private int FirstRecordAfter(ReadOnlySpan<byte> watermark)
    {
        int lo = 0;
        int hi = _recordCount;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (SequenceNumber.Compare(RecordSequence(mid), watermark) <= 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private void ResetKeys()
    {
        _keyArenaUsed = 0;
        _keyCount = 0;
        _keyByHash.Clear();
        _pairKeysBuilt = false;
    }

    /// <summary>The id of <paramref name="key"/> in this batch, added when new.</summary>
    private int InternKey(ReadOnlySpan<byte> key)
    {
        var hash = new HashCode();
        hash.AddBytes(key);
        int code = hash.ToHashCode();
        int head = _keyByHash.TryGetValue(code, out int found) ? found : -1;
        for (int id = head; id >= 0; id = _keys[id].Next)
        {
            if (_keyArena.AsSpan(_keys[id].Offset, _keys[id].Length).SequenceEqual(key))
            {
                return id;
            }
        }

        if (_keyArenaUsed + key.Length > _keyArena.Length)
        {
            Array.Resize(ref _keyArena, Math.Max(_keyArena.Length * 2, _keyArenaUsed + key.Length));
        }

        key.CopyTo(_keyArena.AsSpan(_keyArenaUsed));
        if (_keyCount == _keys.Length)
        {
            Array.Resize(ref _keys, _keys.Length * 2);
        }

        _keys[_keyCount] = (_keyArenaUsed, key.Length, head);
        _keyArenaUsed += key.Length;
        _keyByHash[code] = _keyCount;
        return _keyCount++;
    }

    private (int Key, int FirstRecord, int LastRecord) PairKeyEntry(int pair, int key)
    {
        EnsurePairKeys();
        (int start, int count) = _hasSampleLog ? _pairKeyRanges[pair] : default;
        ArgumentOutOfRangeException.ThrowIfNegative(key);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(key, count);
        return _pairKeyEntries[start + key];
    }

    /// <summary>Builds, once per batch content, each pair's keys with their first and last record by walking the pair's samples.</summary>
    /// <remarks>Sinks read a batch from several workers at once, and any of them may be first here: the view is built
    /// under a lock, published by the volatile flag, and only read afterwards.</remarks>
    private void EnsurePairKeys()
    {
        if (_pairKeysBuilt || !_hasSampleLog)
        {
            return;
        }

        lock (_pairKeysLock)
        {
            if (!_pairKeysBuilt)
            {
                BuildPairKeys();
                _pairKeysBuilt = true;
            }
        }
    }

    private void BuildPairKeys()
    {

        int pairs = Count;
        if (_pairKeyRanges.Length < pairs)
        {
            Array.Resize(ref _pairKeyRanges, Math.Max(pairs, _pairKeyRanges.Length * 2));
        }

        if (_keyStamp.Length < _keyCount)
        {
            _keyStamp = new int[Math.Max(_keyCount, _keyStamp.Length * 2)];
            _keySlot = new int[_keyStamp.Length];
        }

        if (_sampleKeySlot.Length < _sampleCount)
        {
            _sampleKeySlot = new int[Math.Max(_sampleCount, _sampleKeySlot.Length * 2)];
        }

        Array.Clear(_keyStamp, 0, _keyCount);
        int used = 0;
        for (int pair = 0; pair < pairs; pair++)
        {
            int start = used;
            for (int i = _pairSamples[pair].First; i >= 0; i = _samples[i].Next)
            {
                int record = _samples[i].Record;
                int key = _recordKey[record];
                if (_keyStamp[key] != pair + 1)
                {
                    _keyStamp[key] = pair + 1;
                    _keySlot[key] = used;
                    if (used == _pairKeyEntries.Length)
                    {
                        Array.Resize(ref _pairKeyEntries, used * 2);
                    }

                    _pairKeyEntries[used++] = (key, record, record);
                }
                else
                {
                    // Samples of a pair are chained in record order: the latest record seen is the key's last.
                    _pairKeyEntries[_keySlot[key]].LastRecord = record;
                }

                _sampleKeySlot[i] = _keySlot[key] - start;
            }

            _pairKeyRanges[pair] = (start, used - start);
        }
    }
}
