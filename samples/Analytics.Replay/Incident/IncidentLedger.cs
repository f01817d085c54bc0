using System.Globalization;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2.Model;
using Analytics.Core;
using Analytics.Core.Testing;

namespace Analytics.Replay.Incident;

/// <summary>
/// The independent side of the comparison: watches every record put into the stream, keeps the true count of valid
/// samples per (series, window) and every poison record, and afterwards compares the table's final contents and the
/// quarantine with them. It shares no code with the handlers or the library: a record is valid when it is a JSON
/// object with a string <c>metric</c>, a finite number <c>value</c>, an integer <c>timestamp</c> and string-valued
/// <c>dimensions</c>, as the producer wrote it, within the README's bounds (timestamp age, name and dimension
/// lengths); poison when the README's poison table makes it so. A record that may be valid in a form this reader does
/// not aggregate (a KPL aggregate, NDJSON that is a sequence of JSON values, an RFC 3339 or fractional timestamp) is not judged: a
/// run with one has no lost or double-counted figure, as its pairs are unknown here (found by review: such records
/// read as poison gave false "double counted" figures, and a string timestamp or a lone surrogate crashed the run).
/// </summary>
/// <param name="mappingWindowMs">The mapping's tumbling window (<c>TumblingWindowInSeconds</c>), ms; 0 without one.</param>
internal sealed class IncidentLedger(DateTimeOffset start, int durationSeconds, long windowMs, long mappingWindowMs = 0) : IEmulationObserver
{
    private readonly long _startMs = start.ToUnixTimeMilliseconds();
    private readonly Dictionary<string, long> _lastFinalWindowDispatch = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Series, long Window), Cell> _truth = [];
    private readonly List<(string Shard, string Sequence, string Data, long ArrivalMs)> _poison = [];
    private readonly Dictionary<string, (int Second, long AgeMs)> _oldest = new(StringComparer.Ordinal);
    private readonly List<long> _iteratorAges = [];
    /// <summary>The chart's resolution: 10 s (CloudWatch's high-resolution period), so short runs still show a curve.</summary>
    public const int BucketSeconds = 10;

    private readonly double[] _perBucketAge = Enumerable.Repeat(double.NaN, (durationSeconds + BucketSeconds - 1) / BucketSeconds).ToArray();

    /// <summary>Highest IteratorAge of the invocations that ended in each <see cref="BucketSeconds"/> of virtual time, in seconds; NaN where none ended.</summary>
    public IReadOnlyList<double> IteratorAgePerBucket => _perBucketAge;

    public long ValidRecords { get; private set; }

    /// <summary>Records in a form this reader does not judge (see the class).</summary>
    public long UnjudgedRecords { get; private set; }

    public void OnRecord(StreamRecord record)
    {
        Reading reading = TryRead(record.Data, record.Arrival.ToUnixTimeMilliseconds(), out string? series, out long timestamp);
        if (reading == Reading.Unjudged)
        {
            UnjudgedRecords++;
        }
        else if (reading == Reading.Valid)
        {
            long window = WindowStart(timestamp, windowMs);
            ref Cell cell = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_truth, (series, window), out bool exists);
            if (!exists)
            {
                cell.Shard = record.ShardId;
            }

            cell.Count++;
            cell.LastArrivalMs = Math.Max(cell.LastArrivalMs, record.Arrival.ToUnixTimeMilliseconds());
            ValidRecords++;
        }
        else
        {
            _poison.Add((record.ShardId, record.SequenceNumber, Convert.ToBase64String(record.Data.Span), record.Arrival.ToUnixTimeMilliseconds()));
        }
    }

    public void OnInvocation(InvocationReport invocation)
    {
        if (invocation.IsFinalInvokeForWindow == true && invocation.Outcome == InvocationOutcome.Success)
        {
            // A window's state reaches the table with its final invocation, dispatched after the window's end.
            long dispatched = _startMs + invocation.StartMs;
            _lastFinalWindowDispatch[invocation.ShardId] = Math.Max(dispatched, _lastFinalWindowDispatch.GetValueOrDefault(invocation.ShardId, long.MinValue));
        }

        _iteratorAges.Add(invocation.IteratorAgeMs);
        int bucket = (int)Math.Min(_perBucketAge.Length - 1, invocation.EndMs / (BucketSeconds * 1000L));
        double age = invocation.IteratorAgeMs / 1000.0;
        _perBucketAge[bucket] = double.IsNaN(_perBucketAge[bucket]) ? age : Math.Max(_perBucketAge[bucket], age);
    }

    public void OnDestination(DestinationRecord record)
    {
    }

    public void OnSecond(ShardSecond metrics)
    {
        if (!_oldest.TryGetValue(metrics.ShardId, out (int Second, long AgeMs) last) || metrics.Second >= last.Second)
        {
            _oldest[metrics.ShardId] = (metrics.Second, metrics.OldestUnprocessedAgeMs);
        }
    }

    /// <summary>
    /// Compares the final table (<paramref name="table"/>: count per series and window) and the quarantine with the truth;
    /// samples in spill objects (<paramref name="spilled"/>, from <see cref="SpilledCounts"/>) are missing from the table
    /// until a redrive, not lost.
    /// </summary>
    public Verdict Compare(IReadOnlyDictionary<(string Series, long Window), long> table, IReadOnlyDictionary<string, string> quarantineDataByKey, string streamName, IReadOnlyDictionary<(string Series, long Window), long>? spilled = null)
    {
        long doubled = 0, lost = 0, inSpills = 0, checkedRecords = 0, checkedPairs = 0;
        foreach (KeyValuePair<(string Series, long Window), Cell> pair in _truth)
        {
            long stored = table.TryGetValue(pair.Key, out long count) ? count : 0;

            // More than was ever produced is counted twice, whatever is still pending.
            doubled += Math.Max(0, stored - pair.Value.Count);
            long missing = Math.Max(0, pair.Value.Count - stored);
            long spill = Math.Min(missing, spilled is not null && spilled.TryGetValue(pair.Key, out long s) ? s : 0);
            inSpills += spill;

            // Less than produced is a loss only when every record of the pair is behind the mapping (processed or
            // discarded): all of them arrived before its shard's oldest unprocessed record.
            if (IsBehindTheMapping(pair.Value))
            {
                lost += missing - spill;
                checkedRecords += pair.Value.Count;
                checkedPairs++;
            }
        }

        // Pairs in the table that no valid record produced: all of it doubled (or invented).
        foreach (KeyValuePair<(string Series, long Window), long> pair in table)
        {
            if (!_truth.ContainsKey(pair.Key))
            {
                doubled += pair.Value;
            }
        }

        int reached = 0, quarantined = 0;
        foreach ((string shard, string sequence, string data, long arrival) in _poison)
        {
            if (arrival < DoneBefore(shard))
            {
                reached++;
            }

            if (quarantineDataByKey.TryGetValue($"quarantine/{streamName}/{shard}/{sequence}.json", out string? stored) && stored == data)
            {
                quarantined++;
            }
        }

        long[] ages = [.. _iteratorAges.Order()];
        return new Verdict(
            MaxIteratorAgeMs: ages.Length == 0 ? 0 : ages[^1],
            P99IteratorAgeMs: ages.Length == 0 ? 0 : ages[(int)Math.Ceiling(0.99 * ages.Length) - 1],
            ValidRecords: ValidRecords,
            CheckedRecords: checkedRecords,
            CheckedPairs: checkedPairs,
            Lost: lost,
            Doubled: doubled,
            Spilled: inSpills,
            Poison: _poison.Count,
            PoisonReached: reached,
            PoisonQuarantined: quarantined,
            Unjudged: UnjudgedRecords);
    }

    /// <summary>The table of the naive function (<see cref="NaiveTable"/>): count per series and window.</summary>
    public static Dictionary<(string Series, long Window), long> NaiveCounts(IEnumerable<Dictionary<string, AttributeValue>> items, out int otherItems)
    {
        var counts = new Dictionary<(string, long), long>();
        otherItems = 0;
        foreach (Dictionary<string, AttributeValue> item in items)
        {
            if (item.TryGetValue(NaiveTable.PartitionKey, out AttributeValue? pk) && pk.S is not null &&
                item.TryGetValue(NaiveTable.SortKey, out AttributeValue? sk) && long.TryParse(sk.S, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long window) &&
                item.TryGetValue(NaiveTable.Count, out AttributeValue? count) && long.TryParse(count.N, NumberStyles.None, CultureInfo.InvariantCulture, out long n))
            {
                counts[(Canonical(pk.S.Split('|')[0], pk.S.Split('|').Skip(1).Select(d => d.Split('=', 2)).Select(d => new KeyValuePair<string, string>(d[0], d.Length > 1 ? d[1] : string.Empty))), window)] = n;
            }
            else
            {
                otherItems++;
            }
        }

        return counts;
    }

    /// <summary>The table of the library's DynamoDB sink, read with the sink's own layout code: count per series and window.</summary>
    public static Dictionary<(string Series, long Window), long> SinkCounts(IEnumerable<Dictionary<string, AttributeValue>> items, out int otherItems)
    {
        var counts = new Dictionary<(string, long), long>();
        var scratch = new MetricAggregate(AggregatorOptions.Default);
        otherItems = 0;
        foreach (Dictionary<string, AttributeValue> item in items)
        {
            if (DynamoDbItem.TryReadPair(item, scratch, out MetricAggregate aggregate, out string metric, out List<KeyValuePair<string, string>> dimensions, out long startMs, out _))
            {
                counts[(Canonical(metric, dimensions), startMs)] = aggregate.Count;
            }
            else
            {
                otherItems++;
            }
        }

        return counts;
    }

    /// <summary>
    /// Whether every record of a pair is behind the mapping. Without tumbling windows: all of them arrived before the
    /// shard's oldest unprocessed record. With them a processed record is in its window's state until the window's final
    /// invocation (found by review: the window still open at the end was counted lost), so also: the pair's last record
    /// is in a window before the one holding that oldest unprocessed record (or the run's end), and a final invocation of
    /// the shard succeeded after that window ended (one still retrying at the end has not).
    /// </summary>
    private bool IsBehindTheMapping(Cell cell)
    {
        long doneBefore = DoneBefore(cell.Shard);
        if (cell.LastArrivalMs >= doneBefore)
        {
            return false;
        }

        if (mappingWindowMs <= 0)
        {
            return true;
        }

        long windowStart = WindowStart(cell.LastArrivalMs, mappingWindowMs);
        long openStart = WindowStart(doneBefore, mappingWindowMs);
        return windowStart < openStart
            && _lastFinalWindowDispatch.TryGetValue(cell.Shard, out long final) && final >= windowStart + mappingWindowMs;
    }

    /// <summary>
    /// Samples held in the spill sink's objects, per series and window, each record counted once, read from the objects'
    /// documented JSON (<c>analytics.core.spill/1</c>: per pair its metric, dimensions, window start and samples with
    /// their sequence numbers) without the library's code. Other objects (quarantine, markers) are skipped.
    /// </summary>
    public static Dictionary<(string Series, long Window), long> SpilledCounts(IEnumerable<ReadOnlyMemory<byte>> bodies)
    {
        var counts = new Dictionary<(string, long), long>();
        var seen = new HashSet<(string Shard, string Sequence, string Series, long Window)>();
        foreach (ReadOnlyMemory<byte> body in bodies)
        {
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(body);
            }
            catch (JsonException)
            {
                continue;
            }

            using (document)
            {
                JsonElement root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out JsonElement format) || format.ValueKind != JsonValueKind.String || format.GetString() != "analytics.core.spill/1")
                {
                    continue;
                }

                string shard = root.GetProperty("shardId").GetString()!;
                foreach (JsonElement pair in root.GetProperty("pairs").EnumerateArray())
                {
                    string series = Canonical(
                        pair.GetProperty("metric").GetString()!,
                        pair.GetProperty("dimensions").EnumerateObject().Select(d => new KeyValuePair<string, string>(d.Name, d.Value.GetString()!)));
                    long window = DateTimeOffset.Parse(pair.GetProperty("sk").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).ToUnixTimeMilliseconds();
                    foreach (JsonElement sample in pair.GetProperty("samples").EnumerateArray())
                    {
                        if (seen.Add((shard, sample[0].GetString()!, series, window)))
                        {
                            counts[(series, window)] = counts.GetValueOrDefault((series, window)) + 1;
                        }
                    }
                }
            }
        }

        return counts;
    }

    /// <summary>The start of the window of <paramref name="length"/> ms that holds <paramref name="ms"/> (windows from the epoch; before it too).</summary>
    private static long WindowStart(long ms, long length) => ms - (((ms % length) + length) % length);

    private long DoneBefore(string shard) =>
        _oldest.TryGetValue(shard, out (int Second, long AgeMs) last) ? _startMs + (last.Second + 1) * 1000L - last.AgeMs : _startMs;

    private static string Canonical(string metric, IEnumerable<KeyValuePair<string, string>> dimensions)
    {
        List<KeyValuePair<string, string>> sorted = dimensions as List<KeyValuePair<string, string>> ?? [.. dimensions];
        // By key, then value: a total order, so the text does not depend on the sort's stability.
        sorted.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key) is var byKey and not 0 ? byKey : string.CompareOrdinal(a.Value, b.Value));
        var text = new StringBuilder(metric);
        foreach (KeyValuePair<string, string> d in sorted)
        {
            text.Append('\u001f').Append(d.Key).Append('\u001e').Append(d.Value);
        }

        return text.ToString();
    }

    /// <summary>
    /// Judges a record by the README's poison table, read independently: valid in the plain form (one JSON object, a
    /// metric name, a finite value, an integer epoch-ms timestamp within 24 hours before and 5 minutes after its arrival,
    /// string dimensions within their bounds); poison when the table makes it so in any form; not judged only when it
    /// could be valid in a form this reader does not aggregate (a KPL aggregate, NDJSON that is a sequence of JSON values, an
    /// RFC 3339 timestamp, an epoch-ms timestamp with a fraction, nesting near the depth bound).
    /// </summary>
    private static Reading TryRead(ReadOnlyMemory<byte> memory, long arrivalMs, out string series, out long timestamp)
    {
        series = string.Empty;
        timestamp = 0;
        ReadOnlySpan<byte> data = memory.Span;
        if (data.StartsWith((ReadOnlySpan<byte>)[0xF3, 0x89, 0x9A, 0xC2]))
        {
            return Reading.Unjudged; // a KPL aggregate's magic
        }

        if (data.Length > 256 * 1024)
        {
            return Reading.Poison; // TooLarge
        }

        if (data.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            memory = memory[3..];
            data = data[3..];
        }

        try
        {
            using JsonDocument document = JsonDocument.Parse(memory);
            return Judge(document.RootElement, arrivalMs, out series, out timestamp);
        }
        catch (JsonException) when (data.Contains((byte)'\n'))
        {
            // NDJSON (an object may span lines): poison as a whole when it is not a sequence of JSON values; else it may
            // be valid, and is not judged here.
            return IsJsonSequence(data) ? Reading.Unjudged : Reading.Poison;
        }
        catch (JsonException)
        {
            return Reading.Poison;
        }
        catch (InvalidOperationException)
        {
            return Reading.Poison; // an escape that encodes a lone surrogate: InvalidUtf8
        }
    }

    private static Reading Judge(JsonElement root, long arrivalMs, out string series, out long timestamp)
    {
        series = string.Empty;
        timestamp = 0;
        if (root.ValueKind != JsonValueKind.Object || HasDuplicateField(root))
        {
            return Reading.Poison;
        }

        if (Depth(root) >= 30)
        {
            return Reading.Unjudged; // near the bound of 32 levels, whose exact count this reader does not mirror
        }

        if (!root.TryGetProperty("metric", out JsonElement metric) || metric.ValueKind != JsonValueKind.String ||
            metric.GetString() is not { } name || IsBlank(name) || Encoding.UTF8.GetByteCount(name) > 255 ||
            !root.TryGetProperty("value", out JsonElement value) || value.ValueKind != JsonValueKind.Number || !double.IsFinite(value.GetDouble()) ||
            !root.TryGetProperty("timestamp", out JsonElement time))
        {
            return Reading.Poison;
        }

        var dimensions = new List<KeyValuePair<string, string>>();
        if (root.TryGetProperty("dimensions", out JsonElement dims))
        {
            // More than 30 (TooManyDimensions) is poison before any is read, so the duplicate scan below stays short.
            if (dims.ValueKind != JsonValueKind.Object || dims.GetPropertyCount() > 30)
            {
                return Reading.Poison;
            }

            foreach (JsonProperty d in dims.EnumerateObject())
            {
                string key = d.Name;
                if (d.Value.ValueKind != JsonValueKind.String || key.Length == 0 || Encoding.UTF8.GetByteCount(key) > 255 ||
                    Encoding.UTF8.GetByteCount(d.Value.GetString()!) > 1024 || HasKey(dimensions, key))
                {
                    return Reading.Poison; // a dimension twice is DuplicateField
                }

                dimensions.Add(new(key, d.Value.GetString()!));
            }
        }

        const long MaxEpochMs = 253402300799999; // 9999-12-31T23:59:59.999Z
        if (time.ValueKind == JsonValueKind.String)
        {
            // An RFC 3339 date-time with a zone may be valid (a leap second too, which .NET does not parse); this reader
            // does not place it in a window. Text without a zone is refused.
            string text = time.GetString()!;
            bool zoned = text.Length > 10 && (text.EndsWith('Z') || text.EndsWith('z') || text[^6] is '+' or '-');
            return zoned ? Reading.Unjudged : Reading.Poison;
        }

        if (time.ValueKind != JsonValueKind.Number)
        {
            return Reading.Poison;
        }

        if (!time.TryGetInt64(out timestamp))
        {
            double fractional = time.GetDouble();
            return fractional >= 0 && fractional <= MaxEpochMs ? Reading.Unjudged : Reading.Poison;
        }

        if (timestamp < 0 || timestamp > MaxEpochMs || timestamp < arrivalMs - (24 * 3_600_000L) || timestamp > arrivalMs + (5 * 60_000L))
        {
            return Reading.Poison; // InvalidTimestamp, TimestampTooOld, TimestampInFuture
        }

        series = Canonical(name, dimensions);
        return Reading.Valid;
    }

    private static bool IsJsonSequence(ReadOnlySpan<byte> data)
    {
        var reader = new Utf8JsonReader(data, new JsonReaderOptions { AllowMultipleValues = true });
        try
        {
            while (reader.Read())
            {
                reader.Skip();
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>
    /// One of the library's own fields twice: it refuses those (DuplicateField) and skips the rest (a duplicated unknown
    /// member is taken). Compared as written, escapes decoded, without allocating: this runs for every record.
    /// </summary>
    private static bool HasDuplicateField(JsonElement root)
    {
        int metric = 0, value = 0, timestamp = 0, dimensions = 0;
        foreach (JsonProperty p in root.EnumerateObject())
        {
            if ((p.NameEquals("metric") && ++metric > 1) || (p.NameEquals("value") && ++value > 1) ||
                (p.NameEquals("timestamp") && ++timestamp > 1) || (p.NameEquals("dimensions") && ++dimensions > 1))
            {
                return true;
            }
        }

        return false;
    }

    private static bool HasKey(List<KeyValuePair<string, string>> dimensions, string key)
    {
        foreach (KeyValuePair<string, string> d in dimensions)
        {
            if (string.Equals(d.Key, key, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A metric name of only white space and control characters (InvalidMetricName).</summary>
    private static bool IsBlank(string name)
    {
        foreach (char c in name)
        {
            if (!char.IsWhiteSpace(c) && !char.IsControl(c))
            {
                return false;
            }
        }

        return true;
    }

    private static int Depth(JsonElement element)
    {
        int deepest = 0;
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (JsonProperty p in element.EnumerateObject())
                {
                    deepest = Math.Max(deepest, Depth(p.Value));
                }

                return 1 + deepest;
            case JsonValueKind.Array:
                foreach (JsonElement item in element.EnumerateArray())
                {
                    deepest = Math.Max(deepest, Depth(item));
                }

                return 1 + deepest;
            default:
                return 0;
        }
    }

    private enum Reading
    {
        Poison,
        Valid,
        Unjudged,
    }

    private struct Cell
    {
        public string Shard;
        public long Count;
        public long LastArrivalMs;
    }
}

/// <summary>What the comparison measured for one run.</summary>
/// <remarks><c>Spilled</c>: samples missing from the table that are in spill objects, waiting for a redrive (not in <c>Lost</c>).</remarks>
internal sealed record Verdict(
    long MaxIteratorAgeMs,
    long P99IteratorAgeMs,
    long ValidRecords,
    long CheckedRecords,
    long CheckedPairs,
    long Lost,
    long Doubled,
    long Spilled,
    int Poison,
    int PoisonReached,
    int PoisonQuarantined,
    long Unjudged = 0)
{
    /// <summary>Whether lost and double counted were measured: every record was judged valid or poison.</summary>
    public bool Checked => Unjudged == 0;
}
