using System.Buffers;
using System.Globalization;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core;

/// <summary>Attribute names and the conversion between a stored aggregate item and its parts.</summary>
internal static class DynamoDbItem
{
    public const string PartitionKey = "pk";
    public const string SortKey = "sk";
    public const string Metric = "metric";
    public const string Dimensions = "dimensions";
    public const string WindowStart = "windowStart";
    public const string WindowEnd = "windowEnd";
    public const string Count = "count";
    public const string Sum = "sum";
    public const string Min = "min";
    public const string Max = "max";
    public const string Sketch = "sketch";
    public const string Watermarks = "wm";
    public const string KeyWatermarks = "wk";
    public const string Version = "ver";

    /// <summary>
    /// The stream whose records the item holds (its ARN without a consumer part): the watermarks are per shard id, which
    /// repeats across streams, so a write from another stream is refused instead of being judged by them.
    /// </summary>
    public const string Stream = "stream";

    /// <summary>Shard id → (partition key → highest sequence number of that key applied by a redrive of spills).</summary>
    public const string RedriveMarks = "rk";

    /// <summary>
    /// Shard id → (partition key → list of <c>"after:before:from"</c>): the key's live watermark before and after the
    /// first write of the key to the item after a spill whose outcome is unknown (<see cref="SpillMarker"/>), and the
    /// key's first record in that write; <c>before</c> is empty when there was none, and <c>:from</c> is absent in entries
    /// written before it was kept. A redrive decides the spill's lost put from it.
    /// </summary>
    public const string PreWriteMarks = "pw";

    /// <summary>
    /// The name in <c>pw[shardId]</c> of the entries a write keeps under
    /// <see cref="DynamoDbAggregateSinkOptions.PerShardWatermarkOnly"/>: the shard's floor (<c>wm</c>) before and after the
    /// write, and the write's first record in the item, for all its partition keys at once. No stored partition key is
    /// this name: a key that starts with U+FFFD is stored as U+FFFD and its bytes in base64, which has no <c>*</c>.
    /// </summary>
    public const string ShardFloorEntries = "\uFFFD*";

    /// <summary>
    /// Shard id → (partition key → list of <c>"first:last"</c>): ranges of the key's records that <c>redrive</c>'s
    /// destination phase applied to this item, one per write: every record of the key from <c>first</c> to <c>last</c>
    /// that belongs to this item is in it. The spill redrive skips a spilled sample inside one (the batch was both
    /// spilled and given up, and its destination object was applied first); the live sink keeps them as stored.
    /// </summary>
    public const string DestinationMarks = "dr";

    /// <summary>Most pre-write entries kept per (shard, partition key); later writes keep none (the redrive then reports undecided).</summary>
    public const int MaxPreWriteEntries = 4;

    /// <summary>
    /// Most attributes <see cref="Build"/> writes: the eight always there, the five marker maps, dimensions, the stream,
    /// sum, min, max and the two flags (an item is sized for them, so building one never grows its dictionary).
    /// </summary>
    private const int MaxAttributes = 20;

    /// <summary>DynamoDB's item size limit, 400 KB.</summary>
    public const int ItemSizeLimit = 400 * 1024;

    /// <summary>The largest item the sink writes: the limit less a 50 KB margin.</summary>
    public const int MaxItemBytes = ItemSizeLimit - (50 * 1024);

    /// <summary>
    /// The stream an event source ARN names: <c>arn:aws:kinesis:region:account:stream/name</c>, without the
    /// <c>/consumer/...</c> part of an enhanced fan-out consumer; an ARN of another shape as it is; null for none.
    /// </summary>
    public static string? StreamOf(string? eventSourceArn)
    {
        if (string.IsNullOrEmpty(eventSourceArn))
        {
            return null;
        }

        const string marker = ":stream/";
        int at = eventSourceArn.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0)
        {
            return eventSourceArn;
        }

        int slash = eventSourceArn.IndexOf('/', at + marker.Length);
        return slash < 0 ? eventSourceArn : eventSourceArn[..slash];
    }

    /// <summary>The stream the stored item holds records of (<see cref="Stream"/>); null when the item or the attribute is absent.</summary>
    public static string? GetStream(Dictionary<string, AttributeValue>? item)
    {
        if (item is null || !item.TryGetValue(Stream, out AttributeValue? stream))
        {
            return null;
        }

        if (stream.S is null)
        {
            AwsThrowHelper.ThrowInvalidData("The stored aggregate item's '" + Stream + "' attribute is not a string.");
        }

        return stream.S;
    }

    /// <summary>
    /// The stream the stored item belongs to when that is not <paramref name="stream"/>: its watermarks, per shard id, say
    /// nothing about <paramref name="stream"/>'s records. Null when they are the same stream, or either is unknown.
    /// </summary>
    public static string? OtherStream(Dictionary<string, AttributeValue>? item, string? stream) =>
        stream is not null && GetStream(item) is { } owner && !string.Equals(owner, stream, StringComparison.Ordinal) ? owner : null;

    /// <summary>The version of a stored item; 0 when there is none.</summary>
    public static long GetVersion(Dictionary<string, AttributeValue>? item)
    {
        if (item is null)
        {
            return 0;
        }

        long version = 0;
        if (!item.TryGetValue(Version, out AttributeValue? v) || v.N is null ||
            !long.TryParse(v.N, NumberStyles.Integer, CultureInfo.InvariantCulture, out version) || version < 1)
        {
            AwsThrowHelper.ThrowInvalidData("The stored aggregate item has no valid 'ver' attribute.");
        }

        return version;
    }

    /// <summary>
    /// The entry of <paramref name="shardId"/> in the per-shard map attribute <paramref name="name"/>; null when the item,
    /// the attribute or the entry is absent. An attribute of that name that is not a map (another writer's layout) is
    /// refused: read as "no marks", every record it covers would be applied again.
    /// </summary>
    private static AttributeValue? ShardEntry(Dictionary<string, AttributeValue>? item, string name, string shardId)
    {
        if (item is null || !item.TryGetValue(name, out AttributeValue? marks))
        {
            return null;
        }

        if (NotAMap(marks))
        {
            AwsThrowHelper.ThrowInvalidData("The stored aggregate item's '" + name + "' attribute is not a map of shard ids.");
        }

        return marks.M.TryGetValue(shardId, out AttributeValue? entry) ? entry : null;
    }

    /// <summary>
    /// Whether a stored value is not a map: it has none, or (with <c>AWSConfigs.InitializeCollections</c> set, the SDK v3
    /// behaviour, every collection of a value reads as empty) an empty one beside a value of another type. Read as an
    /// empty map, a string where the marks should be would mean "no marks", and every record they cover applied again.
    /// </summary>
    internal static bool NotAMap(AttributeValue value) =>
        value.M is null ||
        (value.M.Count == 0 && (value.S is not null || value.N is not null || value.B is not null || value.BOOL is not null || value.NULL is not null ||
                                value.L is { Count: > 0 } || value.SS is { Count: > 0 } || value.NS is { Count: > 0 } || value.BS is { Count: > 0 }));

    /// <summary>The highest sequence number of <paramref name="shardId"/> already applied to the item; null for none.</summary>
    public static string? GetWatermark(Dictionary<string, AttributeValue>? item, string shardId)
    {
        if (ShardEntry(item, Watermarks, shardId) is not { } mark)
        {
            return null;
        }

        if (!StoredSequenceNumber.IsValid(mark.S))
        {
            AwsThrowHelper.ThrowInvalidData("The stored watermark of shard " + shardId + " is not a sequence number.");
        }

        return mark.S;
    }

    /// <summary>
    /// The per-partition-key watermarks of <paramref name="shardId"/> stored in the item (<c>wk[shardId]</c>): key →
    /// highest sequence number of that key applied; null when there are none.
    /// </summary>
    public static Dictionary<string, AttributeValue>? GetKeyWatermarks(Dictionary<string, AttributeValue>? item, string shardId) =>
        GetSequenceMarks(item, KeyWatermarks, shardId, "partition-key watermark");

    /// <summary>How many partition-key watermarks the item holds, over all shards: live ones (<c>wk</c>) and redrive marks (<c>rk</c>).</summary>
    public static int CountKeyWatermarks(Dictionary<string, AttributeValue> item)
    {
        int count = 0;
        foreach (string name in (string[])[KeyWatermarks, RedriveMarks])
        {
            if (item.TryGetValue(name, out AttributeValue? marks) && marks.M is not null)
            {
                foreach (KeyValuePair<string, AttributeValue> shard in marks.M)
                {
                    count += shard.Value.M?.Count ?? 0;
                }
            }
        }

        return count;
    }

    /// <summary>The redrive marks of <paramref name="shardId"/> stored in the item (<c>rk[shardId]</c>); null when there are none.</summary>
    public static Dictionary<string, AttributeValue>? GetRedriveMarks(Dictionary<string, AttributeValue>? item, string shardId) =>
        GetSequenceMarks(item, RedriveMarks, shardId, "redrive mark");

    /// <summary>
    /// The map <c>name[shardId]</c> of partition key → sequence number, each checked to be one; null when there is none.
    /// </summary>
    /// <param name="item">The stored item, or null.</param>
    /// <param name="name">The per-shard attribute (<c>wk</c> or <c>rk</c>).</param>
    /// <param name="shardId">The shard.</param>
    /// <param name="what">One entry's name in messages, singular ("redrive mark").</param>
    private static Dictionary<string, AttributeValue>? GetSequenceMarks(Dictionary<string, AttributeValue>? item, string name, string shardId, string what)
    {
        if (ShardEntry(item, name, shardId) is not { } shard)
        {
            return null;
        }

        if (NotAMap(shard))
        {
            AwsThrowHelper.ThrowInvalidData("The stored " + what + "s of shard " + shardId + " are not a map.");
        }

        foreach (KeyValuePair<string, AttributeValue> mark in shard.M)
        {
            if (!StoredSequenceNumber.IsValid(mark.Value.S))
            {
                AwsThrowHelper.ThrowInvalidData("A stored " + what + " of shard " + shardId + " is not a sequence number.");
            }
        }

        return shard.M;
    }

    /// <summary>
    /// The pre-write watermarks of <paramref name="shardId"/> (<c>pw[shardId]</c>): key → entries (after, before, from),
    /// in the order written; null when there are none. <c>from</c> is the key's first record in the writing pair (null
    /// in entries written before it was kept).
    /// </summary>
    public static Dictionary<string, List<(string After, string? Before, string? From)>>? GetPreWriteMarks(Dictionary<string, AttributeValue>? item, string shardId)
    {
        if (ShardEntry(item, PreWriteMarks, shardId) is not { } shard)
        {
            return null;
        }

        if (NotAMap(shard))
        {
            AwsThrowHelper.ThrowInvalidData("The stored pre-write watermarks of shard " + shardId + " are not a map.");
        }

        var marks = new Dictionary<string, List<(string, string?, string?)>>(shard.M.Count, StringComparer.Ordinal);
        foreach (KeyValuePair<string, AttributeValue> key in shard.M)
        {
            var entries = new List<(string, string?, string?)>();
            foreach (AttributeValue entry in key.Value.L ?? [])
            {
                string[] parts = entry.S?.Split(':') ?? [];
                string after = parts.Length is 2 or 3 ? parts[0] : string.Empty;
                string before = parts.Length is 2 or 3 ? parts[1] : string.Empty;
                string? from = parts.Length == 3 ? parts[2] : null;
                if (!StoredSequenceNumber.IsValid(after) || (before.Length > 0 && !StoredSequenceNumber.IsValid(before)) || (from is not null && !StoredSequenceNumber.IsValid(from)))
                {
                    AwsThrowHelper.ThrowInvalidData("A stored pre-write watermark of shard " + shardId + " is not 'after:before' or 'after:before:from' sequence numbers.");
                }

                entries.Add((after, before.Length > 0 ? before : null, from));
            }

            if (key.Value.L is null || entries.Count == 0)
            {
                AwsThrowHelper.ThrowInvalidData("The stored pre-write watermarks of a key of shard " + shardId + " are not a non-empty list.");
            }

            marks[key.Key] = entries;
        }

        return marks;
    }

    /// <summary>
    /// The destination redrive's ranges of <paramref name="shardId"/> (<c>dr[shardId]</c>): key → (first, last) ranges,
    /// in the order written; null when there are none.
    /// </summary>
    public static Dictionary<string, List<(string First, string Last)>>? GetDestinationMarks(Dictionary<string, AttributeValue>? item, string shardId)
    {
        if (ShardEntry(item, DestinationMarks, shardId) is not { } shard)
        {
            return null;
        }

        if (NotAMap(shard))
        {
            AwsThrowHelper.ThrowInvalidData("The stored destination redrive ranges of shard " + shardId + " are not a map.");
        }

        var marks = new Dictionary<string, List<(string, string)>>(shard.M.Count, StringComparer.Ordinal);
        foreach (KeyValuePair<string, AttributeValue> key in shard.M)
        {
            var ranges = new List<(string, string)>();
            foreach (AttributeValue entry in key.Value.L ?? [])
            {
                int colon = entry.S?.IndexOf(':') ?? -1;
                string first = colon > 0 ? entry.S![..colon] : string.Empty;
                string last = colon > 0 ? entry.S![(colon + 1)..] : string.Empty;
                if (!StoredSequenceNumber.IsValid(first) || !StoredSequenceNumber.IsValid(last) || SequenceNumber.Compare(first, last) > 0)
                {
                    AwsThrowHelper.ThrowInvalidData("A stored destination redrive range of shard " + shardId + " is not 'first:last' sequence numbers in order.");
                }

                ranges.Add((first, last));
            }

            if (key.Value.L is null || ranges.Count == 0)
            {
                AwsThrowHelper.ThrowInvalidData("The stored destination redrive ranges of a key of shard " + shardId + " are not a non-empty list.");
            }

            marks[key.Key] = ranges;
        }

        return marks;
    }

    /// <summary>The stored form of one shard's destination redrive ranges (an empty map: none left).</summary>
    public static Dictionary<string, AttributeValue> ToDestinationMarks(Dictionary<string, List<(string First, string Last)>> marks)
    {
        var map = new Dictionary<string, AttributeValue>(marks.Count, StringComparer.Ordinal);
        foreach ((string key, List<(string First, string Last)> ranges) in marks)
        {
            if (ranges.Count > 0)
            {
                map[key] = new AttributeValue { L = [.. ranges.Select(r => new AttributeValue { S = r.First + ":" + r.Last })] };
            }
        }

        return map;
    }

    /// <summary>The stored form of one shard's pre-write watermarks (null for none left).</summary>
    public static Dictionary<string, AttributeValue>? ToPreWriteMarks(Dictionary<string, List<(string After, string? Before, string? From)>> marks)
    {
        var map = new Dictionary<string, AttributeValue>(marks.Count, StringComparer.Ordinal);
        foreach ((string key, List<(string After, string? Before, string? From)> entries) in marks)
        {
            if (entries.Count > 0)
            {
                map[key] = new AttributeValue { L = [.. entries.Select(e => new AttributeValue { S = e.After + ":" + e.Before + (e.From is null ? string.Empty : ":" + e.From) })] };
            }
        }

        return map;
    }

    /// <summary>
    /// The item's size as DynamoDB counts it: per attribute, the UTF-8 length of its name plus its value's size (strings:
    /// UTF-8 length; binary: bytes; numbers: 1 byte per 2 significant digits plus 1; booleans and nulls: 1; maps and
    /// lists: 3 plus 1 per element plus the elements' names and values).
    /// </summary>
    public static int Size(Dictionary<string, AttributeValue> item)
    {
        int size = 0;
        foreach (KeyValuePair<string, AttributeValue> attribute in item)
        {
            size += System.Text.Encoding.UTF8.GetByteCount(attribute.Key) + ValueSize(attribute.Value);
        }

        return size;
    }

    private static int ValueSize(AttributeValue value)
    {
        if (value.S is not null)
        {
            return System.Text.Encoding.UTF8.GetByteCount(value.S);
        }

        if (value.N is not null)
        {
            int digits = 0;
            foreach (char c in value.N)
            {
                digits += c is >= '0' and <= '9' ? 1 : 0;
            }

            return ((digits + 1) / 2) + 1;
        }

        if (value.B is not null)
        {
            return (int)value.B.Length;
        }

        if (value.M is not null)
        {
            int size = 3;
            foreach (KeyValuePair<string, AttributeValue> entry in value.M)
            {
                size += 1 + System.Text.Encoding.UTF8.GetByteCount(entry.Key) + ValueSize(entry.Value);
            }

            return size;
        }

        if (value.L is not null)
        {
            int size = 3;
            foreach (AttributeValue entry in value.L)
            {
                size += 1 + ValueSize(entry);
            }

            return size;
        }

        return 1;
    }

    /// <summary>
    /// The aggregate a write stores: the item's (none when <paramref name="item"/> is null) merged with
    /// <paramref name="fresh"/>, in the accuracy and bin bound the item's sketch was written with. So a redeploy that
    /// changes <see cref="AggregatorOptions.RelativeAccuracy"/> or <see cref="AggregatorOptions.MaxBins"/> never stops
    /// the writes to the windows already stored: their items keep their options (the samples of the new version counted
    /// in their bins, <see cref="MetricAggregate.MergeRebinned"/>), and new windows get the new ones. Returns
    /// <paramref name="merged"/> (cleared and filled) when the options are the sink's, a new aggregate otherwise.
    /// </summary>
    /// <exception cref="InvalidDataException">The item's sketch is not a valid aggregate of any options.</exception>
    public static MetricAggregate MergeStored(Dictionary<string, AttributeValue>? item, MetricAggregate fresh, MetricAggregate merged)
    {
        merged.Clear();
        if (item is null)
        {
            merged.Merge(fresh);
            return merged;
        }

        ReadOnlySpan<byte> bytes = SketchBytes(item);
        if (!TryRead(bytes, merged, out MetricAggregate stored))
        {
            AwsThrowHelper.ThrowInvalidData("The stored aggregate item's 'sketch' is not a valid aggregate.");
        }

        stored.MergeRebinned(fresh);
        return stored;
    }

    /// <summary>A whole stored sketch: into <paramref name="scratch"/> when written with its options, else into a new aggregate of its own.</summary>
    private static bool TryRead(ReadOnlySpan<byte> bytes, MetricAggregate scratch, out MetricAggregate aggregate)
    {
        aggregate = scratch;
        if (scratch.TryReadFrom(bytes, out int read))
        {
            return read == bytes.Length;
        }

        return MetricAggregate.TryRead(bytes, out MetricAggregate? own, out read) && read == bytes.Length && (aggregate = own) is not null;
    }

    private static ReadOnlySpan<byte> SketchBytes(Dictionary<string, AttributeValue> item)
    {
        if (!item.TryGetValue(Sketch, out AttributeValue? sketch) || sketch.B is null)
        {
            AwsThrowHelper.ThrowInvalidData("The stored aggregate item has no 'sketch' attribute.");
        }

        return sketch.B.TryGetBuffer(out ArraySegment<byte> segment) ? segment.AsSpan() : sketch.B.ToArray();
    }

    /// <summary>
    /// Reads a stored item back into its parts: the series, the window and the aggregate (from <c>sketch</c>), in the
    /// accuracy and bin bound it was written with: <paramref name="scratch"/> when they are its own, a new aggregate
    /// otherwise (a table written before and after a change of options holds both). <see langword="false"/> when the
    /// item is not in this layout.
    /// </summary>
    public static bool TryReadPair(
        Dictionary<string, AttributeValue> item,
        MetricAggregate scratch,
        out MetricAggregate aggregate,
        out string metric,
        out List<KeyValuePair<string, string>> dimensions,
        out long windowStartMs,
        out long windowEndMs)
    {
        aggregate = scratch;
        metric = string.Empty;
        dimensions = [];
        windowStartMs = windowEndMs = 0;
        if (!item.TryGetValue(Metric, out AttributeValue? m) || m.S is null ||
            !item.TryGetValue(WindowStart, out AttributeValue? start) || !DynamoDbKeys.TryParseTimestamp(start.S, out windowStartMs) ||
            !item.TryGetValue(WindowEnd, out AttributeValue? end) || !DynamoDbKeys.TryParseTimestamp(end.S, out windowEndMs) ||
            !item.TryGetValue(Sketch, out AttributeValue? sketch) || sketch.B is null)
        {
            return false;
        }

        if (!TryRead(sketch.B.ToArray(), scratch, out aggregate))
        {
            return false;
        }

        metric = m.S;
        if (item.TryGetValue(Dimensions, out AttributeValue? d) && d.M is not null)
        {
            foreach (KeyValuePair<string, AttributeValue> entry in d.M)
            {
                if (entry.Value.S is null)
                {
                    return false;
                }

                dimensions.Add(new(entry.Key, entry.Value.S));
            }
        }

        return true;
    }

    /// <summary>
    /// A per-shard map of an item after this write: <paramref name="stored"/> itself when the shard's entry stays as it is,
    /// else a copy with the entry set to <paramref name="entry"/> (or removed).
    /// </summary>
    private static AttributeValue? With(AttributeValue? stored, string shardId, AttributeValue? entry, bool remove)
    {
        Dictionary<string, AttributeValue>? old = stored?.M;
        if (entry is null && (!remove || old is null || !old.ContainsKey(shardId)))
        {
            return stored;
        }

        var copy = new Dictionary<string, AttributeValue>((old?.Count ?? 0) + 1, StringComparer.Ordinal);
        if (old is not null)
        {
            foreach (KeyValuePair<string, AttributeValue> kv in old)
            {
                copy[kv.Key] = kv.Value;
            }
        }

        if (entry is null)
        {
            copy.Remove(shardId);
        }
        else
        {
            copy[shardId] = entry;
        }

        return new AttributeValue { M = copy };
    }

    /// <summary>Builds the full item that replaces the stored one.</summary>
    public static Dictionary<string, AttributeValue> Build(
        in PairKey key,
        MetricAggregate aggregate,
        ArrayBufferWriter<byte> scratch,
        Dictionary<string, AttributeValue>? previous,
        string shardId,
        string? shardWatermark,
        Dictionary<string, AttributeValue>? keyWatermarks,
        long version,
        Dictionary<string, AttributeValue>? redriveMarks = null,
        Dictionary<string, AttributeValue>? preWriteMarks = null,
        string? stream = null,
        Dictionary<string, AttributeValue>? destinationMarks = null)
    {
        // wm: per shard, a floor (every record of the shard at or below it is applied); kept as stored, raised only by a
        // tumbling-window flush (shardWatermark). wk: per shard, per partition key, the highest sequence number applied.
        // rk: per shard, per partition key, the highest sequence number a redrive of spills applied. pw: per shard, the
        // pre-write entries. dr: per shard, the destination redrive's ranges. A map this write leaves as stored is the stored value itself (nothing changes the values of
        // an item read back; a live write never changes rk); one it changes is a copy, sized for one more entry, so
        // building an item never grows a map, and never makes an empty one only to drop it.
        AttributeValue? oldWm = null, oldWk = null, oldRk = null, oldPw = null, oldDr = null;
        if (previous is not null)
        {
            previous.TryGetValue(Watermarks, out oldWm);
            previous.TryGetValue(KeyWatermarks, out oldWk);
            previous.TryGetValue(RedriveMarks, out oldRk);
            previous.TryGetValue(PreWriteMarks, out oldPw);
            previous.TryGetValue(DestinationMarks, out oldDr);
        }

        // A stored one that is not a map is refused, whichever write this is: kept "as stored", the put below would leave
        // it out (only maps are written), and what it said would be gone (a floor, pre-write entries that decide a spill,
        // ranges the destination redrive applied).
        foreach ((string name, AttributeValue? stored) in (ReadOnlySpan<(string, AttributeValue?)>)[(Watermarks, oldWm), (KeyWatermarks, oldWk), (RedriveMarks, oldRk), (PreWriteMarks, oldPw), (DestinationMarks, oldDr)])
        {
            if (stored is not null && NotAMap(stored))
            {
                AwsThrowHelper.ThrowInvalidData("The stored aggregate item's '" + name + "' attribute is not a map of shard ids.");
            }
        }

        AttributeValue? watermarks = With(oldWm, shardId, shardWatermark is null ? null : new AttributeValue { S = shardWatermark }, remove: false);
        AttributeValue? keyMarks = With(oldWk, shardId, keyWatermarks is null ? null : new AttributeValue { M = keyWatermarks }, remove: false);
        AttributeValue? redrive = With(oldRk, shardId, redriveMarks is null ? null : new AttributeValue { M = redriveMarks }, remove: false);

        // pw is kept as stored unless this write replaces the shard's entries (an empty map removes them).
        AttributeValue? preWrite = With(oldPw, shardId, preWriteMarks is { Count: > 0 } ? new AttributeValue { M = preWriteMarks } : null, remove: preWriteMarks is { Count: 0 });

        // dr likewise: kept as stored unless this write replaces the shard's ranges (an empty map removes them).
        AttributeValue? destination = With(oldDr, shardId, destinationMarks is { Count: > 0 } ? new AttributeValue { M = destinationMarks } : null, remove: destinationMarks is { Count: 0 });

        scratch.ResetWrittenCount();
        aggregate.WriteTo(scratch);

        // The key and the readable attributes a write leaves as they are (all but after a window-size change) are the
        // stored values themselves, as the maps above: the stored item is read for this write alone and never changed.
        var item = new Dictionary<string, AttributeValue>(MaxAttributes, StringComparer.Ordinal)
        {
            [PartitionKey] = Text(previous, PartitionKey, key.Pk),
            [SortKey] = Text(previous, SortKey, key.Sk),
            [Metric] = Text(previous, Metric, key.Metric),
            [WindowStart] = Text(previous, WindowStart, key.Sk),
            [WindowEnd] = Text(previous, WindowEnd, WindowEndAfterMerge(key.WindowEnd, previous)),
            [Count] = new AttributeValue { N = aggregate.Count.ToString(CultureInfo.InvariantCulture) },
            [Sketch] = new AttributeValue { B = Bytes(scratch.WrittenSpan.ToArray()) },
            [Version] = new AttributeValue { N = version.ToString(CultureInfo.InvariantCulture) },
        };
        foreach ((string name, AttributeValue? map) in (ReadOnlySpan<(string, AttributeValue?)>)[(Watermarks, watermarks), (KeyWatermarks, keyMarks), (RedriveMarks, redrive), (PreWriteMarks, preWrite), (DestinationMarks, destination)])
        {
            if (map?.M is { Count: > 0 })
            {
                item[name] = map;
            }
        }

        if (key.Dimensions.Length > 0 && previous is not null && previous.TryGetValue(Dimensions, out AttributeValue? storedDimensions) &&
            SameDimensions(storedDimensions, key.Dimensions))
        {
            item[Dimensions] = storedDimensions;
        }
        else if (key.Dimensions.Length > 0)
        {
            var dimensions = new Dictionary<string, AttributeValue>(key.Dimensions.Length, StringComparer.Ordinal);
            foreach (KeyValuePair<string, string> d in key.Dimensions)
            {
                dimensions[d.Key] = new AttributeValue { S = d.Value };
            }

            item[Dimensions] = new AttributeValue { M = dimensions };
        }

        // The stream is the stored one (a writer of another stream was refused before) or, on an item without one,
        // the writer's: an item written before the attribute existed belongs to the first stream that writes it now.
        if ((GetStream(previous) ?? stream) is { } owner)
        {
            item[Stream] = Text(previous, Stream, owner);
        }

        AddNumber(item, Sum, aggregate.Sum);
        AddNumber(item, Min, aggregate.Min);
        AddNumber(item, Max, aggregate.Max);
        if (aggregate.SumOverflowed)
        {
            item["sumOverflowed"] = new AttributeValue { BOOL = true };
        }

        if (aggregate.IsCollapsed)
        {
            item["quantilesCollapsed"] = new AttributeValue { BOOL = true };
        }

        return item;
    }

    /// <summary>A read-only stream over <paramref name="bytes"/> that lends its buffer (a reader may copy it without a copy of its own).</summary>
    private static MemoryStream Bytes(byte[] bytes) => new(bytes, 0, bytes.Length, writable: false, publiclyVisible: true);

    /// <summary>The stored string attribute when it holds exactly <paramref name="value"/> and nothing else, else a new one.</summary>
    private static AttributeValue Text(Dictionary<string, AttributeValue>? previous, string name, string value) =>
        previous is not null && previous.TryGetValue(name, out AttributeValue? stored) && IsOnlyString(stored, value)
            ? stored
            : new AttributeValue { S = value };

    /// <summary>The stored dimensions map when it holds exactly the series' dimensions as strings.</summary>
    private static bool SameDimensions(AttributeValue stored, KeyValuePair<string, string>[] dimensions)
    {
        if (!IsOnlyMap(stored) || stored.M.Count != dimensions.Length)
        {
            return false;
        }

        foreach (KeyValuePair<string, string> d in dimensions)
        {
            if (!stored.M.TryGetValue(d.Key, out AttributeValue? value) || !IsOnlyString(value, d.Value))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsOnlyString(AttributeValue? v, string value) =>
        v is not null && string.Equals(v.S, value, StringComparison.Ordinal) && v.N is null && v.B is null && v.M is null && v.L is null &&
        v.SS is null && v.NS is null && v.BS is null && v.BOOL is null && v.NULL is null;

    private static bool IsOnlyMap(AttributeValue v) =>
        v.M is not null && v.S is null && v.N is null && v.B is null && v.L is null &&
        v.SS is null && v.NS is null && v.BS is null && v.BOOL is null && v.NULL is null;

    /// <summary>
    /// The window end of the merged item: the later of this batch's and the stored one. The two differ only when the window
    /// size changed (say <c>ANALYTICS_WINDOW_SECONDS</c> from 300 to 60) while items of the old size are still written:
    /// windows of both sizes that start together share the item, and the merged samples span the longer window.
    /// </summary>
    private static string WindowEndAfterMerge(string windowEnd, Dictionary<string, AttributeValue>? previous) =>
        previous is not null && previous.TryGetValue(WindowEnd, out AttributeValue? stored) &&
        !string.Equals(stored.S, windowEnd, StringComparison.Ordinal) && // every put but after a size change: no parsing
        DynamoDbKeys.TryParseTimestamp(stored.S, out long storedMs) && DynamoDbKeys.TryParseTimestamp(windowEnd, out long ms) && storedMs > ms
            ? stored.S
            : windowEnd;

    /// <summary>
    /// Writes a double as a DynamoDB number when it is in DynamoDB's range (magnitude from 1E-130 to below 1E+126, or
    /// zero; a double's round-trip text has at most 17 of the 38 digits DynamoDB keeps); otherwise leaves the attribute
    /// out: the exact value is always in <c>sketch</c>.
    /// </summary>
    private static void AddNumber(Dictionary<string, AttributeValue> item, string name, double value)
    {
        double magnitude = Math.Abs(value);
        if (!double.IsFinite(value) || (magnitude != 0 && (magnitude < 1e-130 || magnitude >= 1e126)))
        {
            return;
        }

        item[name] = new AttributeValue { N = NumberText(value) };
    }

    /// <summary>
    /// <paramref name="value"/>'s round-trip text (<c>"R"</c>); a whole number below 10^15 (most counts, sums, minima and
    /// maxima) formatted as the integer it is, the same text for a fraction of the cost.
    /// </summary>
    internal static string NumberText(double value) =>
        value == Math.Truncate(value) && Math.Abs(value) < 1e15 && !(value == 0 && double.IsNegative(value))
            ? ((long)value).ToString(CultureInfo.InvariantCulture)
            : value.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>The key and the readable attributes of one (series, window) pair, computed once per batch.</summary>
/// <remarks><see cref="Dimensions"/> is shared by every pair of the series (<see cref="SeriesTexts"/>): never changed.</remarks>
internal readonly record struct PairKey(string Pk, string Sk, string WindowEnd, string Metric, KeyValuePair<string, string>[] Dimensions)
{
    public static PairKey From(AggregateBatch batch, int pair)
    {
        SeriesTexts texts = SeriesTexts.Of(batch.GetSeriesKey(pair));
        return new PairKey(
            texts.Pk,
            DynamoDbKeys.Timestamp(batch.GetWindowStartMs(pair)),
            DynamoDbKeys.Timestamp(batch.GetWindowEndMs(pair)),
            texts.Metric,
            texts.Dimensions);
    }

    public Dictionary<string, AttributeValue> ToKey() => new(StringComparer.Ordinal)
    {
        [DynamoDbItem.PartitionKey] = new AttributeValue { S = Pk },
        [DynamoDbItem.SortKey] = new AttributeValue { S = Sk },
    };
}

/// <summary>
/// A series' texts as the item holds them: its partition key, metric and dimensions. A batch writes each of its series
/// every invocation, and the same series come back invocation after invocation; the texts of the last series seen in
/// each of <see cref="Slots"/> slots (chosen by a hash of the encoded key, compared in full) are reused instead of
/// decoded, escaped and allocated again per pair. An entry is immutable and a slot is replaced whole, so threads share
/// the slots without a lock; a series that misses costs what it did without the cache, plus its entry.
/// </summary>
internal sealed class SeriesTexts
{
    /// <summary>
    /// Slots in the cache: a power of two, twice the series of the issue's 10-shard stream (4,000), as slots are chosen
    /// by hash and collide. With keys of at most <see cref="MaxKeptKeyBytes"/> it holds at most about 12 MB (8,192
    /// entries of the key, its partition key and its dimensions as strings), about 3 MB for keys of 100 bytes.
    /// </summary>
    internal const int Slots = 8192;

    /// <summary>Encoded keys longer than this are not kept (a series key can be 38 KB; such series are rare), which bounds the cache's memory.</summary>
    private const int MaxKeptKeyBytes = 256;

    private static readonly SeriesTexts?[] s_slots = new SeriesTexts?[Slots];

    private readonly byte[] _encoded;

    private SeriesTexts(byte[] encoded, string pk, string metric, KeyValuePair<string, string>[] dimensions)
    {
        _encoded = encoded;
        Pk = pk;
        Metric = metric;
        Dimensions = dimensions;
    }

    /// <summary>The partition key (<see cref="DynamoDbKeys.PartitionKey"/>).</summary>
    public string Pk { get; }

    /// <summary>The metric name.</summary>
    public string Metric { get; }

    /// <summary>The dimensions in the key's order, decoded from UTF-8.</summary>
    public KeyValuePair<string, string>[] Dimensions { get; }

    /// <summary>The texts of <paramref name="series"/>, from the cache when its slot holds the same encoded key.</summary>
    public static SeriesTexts Of(SeriesKey series)
    {
        ReadOnlySpan<byte> encoded = series.Encoded;
        var hash = default(HashCode);
        hash.AddBytes(encoded);
        int slot = hash.ToHashCode() & (Slots - 1);
        if (Volatile.Read(ref s_slots[slot]) is { } kept && encoded.SequenceEqual(kept._encoded))
        {
            return kept;
        }

        var dimensions = new KeyValuePair<string, string>[series.DimensionCount];
        int i = 0;
        foreach (SeriesKey.Dimension d in series.Dimensions)
        {
            dimensions[i++] = new(System.Text.Encoding.UTF8.GetString(d.Key), System.Text.Encoding.UTF8.GetString(d.Value));
        }

        var texts = new SeriesTexts(encoded.Length <= MaxKeptKeyBytes ? encoded.ToArray() : [], DynamoDbKeys.PartitionKey(series), series.GetMetricString(), dimensions);
        if (encoded.Length <= MaxKeptKeyBytes)
        {
            Volatile.Write(ref s_slots[slot], texts);
        }

        return texts;
    }
}
