using System.Buffers;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>
/// What a shard's spills whose outcome is unknown ask of the live sink, kept in one small S3 object per shard next to
/// the spill objects: the highest sequence number of such a spilled sample (<see cref="Last"/>) and the windows of
/// their items (<see cref="Windows"/>; null: every window).
/// </summary>
/// <remarks>
/// While a marker is there, the live sink's first write of a partition key to an item of those windows after the
/// spills keeps the key's watermark from before that write (<c>pw</c> in the item), which is how a redrive later tells
/// whether a spilled attempt's lost put landed (docs/failure-modes.md, "What the first write after a spill keeps").
/// Every decision made from it is checked against the spill's own range, so a marker that is missing, late or
/// overwritten by a concurrent spill makes the redrive report samples undecided, never decide them wrongly.
/// </remarks>
internal sealed record SpillMarker(string Last, IReadOnlySet<string>? Windows)
{
    public const string Format = "analytics.core.spill-marker/1";

    /// <summary>The marker's object name in its shard's folder.</summary>
    public const string FileName = "unresolved.marker";

    /// <summary>Most windows a marker lists; past it, it covers every window.</summary>
    public const int MaxWindows = 10_000;

    /// <summary><c>&lt;prefix&gt;/&lt;stream&gt;/&lt;shardId&gt;/unresolved.marker</c>: beside the shard's spill objects, outside a listing of <c>.json</c> keys.</summary>
    public static string Key(string prefix, string? eventSourceArn, string shardId)
    {
        string trimmed = prefix.Trim('/');
        return (trimmed.Length > 0 ? trimmed + "/" : string.Empty) + QuarantineObject.StreamName(eventSourceArn) + "/" + shardId + "/" + FileName;
    }

    /// <summary>The marker key of the shard a spill object key (<see cref="SpillObject.Key"/>) belongs to.</summary>
    public static string KeyBeside(string spillObjectKey) =>
        spillObjectKey[..(spillObjectKey.LastIndexOf('/') + 1)] + FileName;

    /// <summary>Whether the live sink keeps the pre-write watermark for a write of the window <paramref name="sk"/> that moves a key's watermark from <paramref name="before"/>.</summary>
    public bool Applies(string sk, string? before) =>
        (Windows is null || Windows.Contains(sk)) && (before is null || SequenceNumber.Compare(before, Last) <= 0);

    /// <summary>This marker with a spill's unknown samples added: the higher last sequence number, the union of windows.</summary>
    public static SpillMarker Merge(SpillMarker? existing, string last, IEnumerable<string> windows)
    {
        string highest = existing is null || SequenceNumber.Compare(last, existing.Last) > 0 ? last : existing.Last;
        if (existing is { Windows: null })
        {
            return new SpillMarker(highest, null);
        }

        var all = new HashSet<string>(existing?.Windows ?? (IEnumerable<string>)[], StringComparer.Ordinal);
        all.UnionWith(windows);
        return new SpillMarker(highest, all.Count > MaxWindows ? null : all);
    }

    /// <summary>The stored form; <paramref name="writtenBy"/> (the spill id of the spill writing it) makes every spill's write a new body, so a redrive's ETag check sees it.</summary>
    public byte[] ToJson(string? writtenBy = null)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("format", Format);
            writer.WriteString("last", Last);
            if (writtenBy is not null)
            {
                writer.WriteString("writtenBy", writtenBy);
            }

            if (Windows is null)
            {
                writer.WriteBoolean("allWindows", true);
            }
            else
            {
                writer.WriteStartArray("windows");
                foreach (string window in Windows.Order(StringComparer.Ordinal))
                {
                    writer.WriteStringValue(window);
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Reads a marker; a body that is not one counts as a marker for every window up to the highest sequence number (the safe reading: keep more, never less).</summary>
    public static SpillMarker Read(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using JsonDocument document = JsonDocument.ParseValue(ref reader);
            JsonElement root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("format", out JsonElement format) && format.ValueEquals(Format) &&
                root.TryGetProperty("last", out JsonElement last) && last.GetString() is { } text && StoredSequenceNumber.IsValid(text) &&
                !reader.Read())
            {
                if (root.TryGetProperty("windows", out JsonElement windows) && windows.ValueKind == JsonValueKind.Array)
                {
                    var set = new HashSet<string>(StringComparer.Ordinal);
                    foreach (JsonElement w in windows.EnumerateArray())
                    {
                        set.Add(w.GetString() ?? string.Empty);
                    }

                    return new SpillMarker(text, set);
                }

                return new SpillMarker(text, null);
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
        }

        return Unreadable;
    }

    /// <summary>What an unreadable marker means: keep the pre-write watermark of every write.</summary>
    public static SpillMarker Unreadable { get; } = new(new string('9', SequenceNumber.MaxDigits), null);
}

/// <summary>Where the live sink reads its shard's <see cref="SpillMarker"/> from (the S3 spill sink).</summary>
internal interface ISpillMarkerSource
{
    /// <summary>The shard's marker, and why it could not be read when the bucket is at fault; never throws.</summary>
    Task<MarkerRead> ReadMarkerAsync(string shardId, string? eventSourceArn, CancellationToken cancellationToken);
}

/// <summary>A read of a shard's spill marker.</summary>
/// <param name="Marker">
/// The marker; null when there is none or it could not be read in time (the write then keeps no pre-write entry, and the
/// redrive reports what that leaves undecided).
/// </param>
/// <param name="BucketError">
/// When S3 refused the read for the bucket itself (it does not exist, access is denied, it is in another region): S3's
/// error naming the bucket and its option. A spill could not be written there either; null otherwise.
/// </param>
internal readonly record struct MarkerRead(SpillMarker? Marker, Amazon.S3.AmazonS3Exception? BucketError);
