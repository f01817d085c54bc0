using System.Buffers.Text;
using System.Text;

namespace Analytics.Core;

/// <summary>
/// One record of a Lambda Kinesis event, as a view over the event's UTF-8 bytes.
/// </summary>
/// <remarks>
/// The spans point into the buffer given to <see cref="KinesisEventReader"/>; they are valid as long as it is.
/// Nothing is copied or decoded until asked for.
/// </remarks>
public readonly ref struct KinesisRecord
{
    internal KinesisRecord(
        ReadOnlySpan<byte> sequenceNumber,
        ReadOnlySpan<byte> partitionKey,
        bool partitionKeyIsEscaped,
        ReadOnlySpan<byte> shardId,
        ReadOnlySpan<byte> base64Data,
        bool dataIsEscaped,
        long approximateArrivalMs,
        int byteOffset)
    {
        SequenceNumber = sequenceNumber;
        RawPartitionKey = partitionKey;
        PartitionKeyIsEscaped = partitionKeyIsEscaped;
        ShardId = shardId;
        RawBase64Data = base64Data;
        DataIsEscaped = dataIsEscaped;
        ApproximateArrivalTimestampMs = approximateArrivalMs;
        ByteOffset = byteOffset;
    }

    /// <summary>The sequence number: decimal digits, UTF-8. Compare with <see cref="Core.SequenceNumber.Compare(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>.</summary>
    public ReadOnlySpan<byte> SequenceNumber { get; }

    /// <summary>The partition key as it stands in the JSON (escaped when <see cref="PartitionKeyIsEscaped"/>).</summary>
    public ReadOnlySpan<byte> RawPartitionKey { get; }

    /// <summary>Whether <see cref="RawPartitionKey"/> contains JSON escapes.</summary>
    public bool PartitionKeyIsEscaped { get; }

    /// <summary>The shard id, from the part of <c>eventID</c> before the colon (never empty).</summary>
    public ReadOnlySpan<byte> ShardId { get; }

    /// <summary>The record's <c>data</c>: base64 text as it stands in the JSON (escaped when <see cref="DataIsEscaped"/>).</summary>
    public ReadOnlySpan<byte> RawBase64Data { get; }

    /// <summary>Whether <see cref="RawBase64Data"/> contains JSON escapes (some serializers write <c>\/</c>).</summary>
    public bool DataIsEscaped { get; }

    /// <summary>
    /// The approximate arrival time, epoch milliseconds: the event's <c>approximateArrivalTimestamp</c>, epoch seconds
    /// with a fraction as Lambda writes it; a number above 157,753,180,800 (as seconds, a time after 6968-12-31) is read
    /// as milliseconds, which one .NET serializer writes.
    /// </summary>
    public long ApproximateArrivalTimestampMs { get; }

    /// <summary>Byte offset of the record's object in the event.</summary>
    public int ByteOffset { get; }

    /// <summary>The approximate arrival time.</summary>
    public DateTimeOffset ApproximateArrivalTimestamp => DateTimeOffset.FromUnixTimeMilliseconds(ApproximateArrivalTimestampMs);

    /// <summary>The largest number of bytes <see cref="TryDecodeData"/> can write for this record.</summary>
    public int MaxDecodedLength => Base64.GetMaxDecodedFromUtf8Length(RawBase64Data.Length);

    /// <summary>Decodes the base64 data into <paramref name="destination"/>.</summary>
    /// <param name="destination">At least <see cref="MaxDecodedLength"/> bytes.</param>
    /// <param name="written">The number of bytes decoded.</param>
    /// <returns><see langword="false"/> when the data is not valid base64 (or the destination is too small).</returns>
    public bool TryDecodeData(Span<byte> destination, out int written)
    {
        ReadOnlySpan<byte> source = RawBase64Data;
        if (DataIsEscaped)
        {
            // Escapes only ever lengthen text: unescaping in place into the destination's tail is safe.
            if (destination.Length < source.Length ||
                JsonText.Unescape(source, destination.Slice(destination.Length - source.Length), out int unescaped) != UnescapeStatus.Ok)
            {
                written = 0;
                return false;
            }

            Span<byte> tail = destination.Slice(destination.Length - source.Length, unescaped);
            if (Base64.DecodeFromUtf8InPlace(tail, out written) != System.Buffers.OperationStatus.Done)
            {
                return false;
            }

            tail.Slice(0, written).CopyTo(destination);
            return true;
        }

        System.Buffers.OperationStatus status = Base64.DecodeFromUtf8(source, destination, out int consumed, out written);
        return status == System.Buffers.OperationStatus.Done && consumed == source.Length;
    }

    /// <summary>The partition key as a string (allocates).</summary>
    /// <returns>The unescaped partition key.</returns>
    public string GetPartitionKeyString() => GetString(RawPartitionKey, PartitionKeyIsEscaped);

    /// <summary>The sequence number as a string (allocates).</summary>
    /// <returns>The sequence number.</returns>
    public string GetSequenceNumberString() => Encoding.UTF8.GetString(SequenceNumber);

    /// <summary>The shard id as a string (allocates).</summary>
    /// <returns>The shard id.</returns>
    public string GetShardIdString() => Encoding.UTF8.GetString(ShardId);

    /// <summary>The base64 data, unescaped, as a string (allocates; used for quarantine).</summary>
    /// <returns>The base64 text.</returns>
    public string GetBase64DataString() => GetString(RawBase64Data, DataIsEscaped);

    /// <summary>
    /// The unescaped partition key in base64 when it is not valid UTF-8, else null (allocates only then). A key whose
    /// escape encodes a lone surrogate (text no UTF-8 holds) gives the escaped bytes as the event spells them: its
    /// <see cref="GetPartitionKeyString"/> is that JSON text, which the key whose text is those characters also gives,
    /// so the base64 is what tells the two apart.
    /// </summary>
    internal string? GetPartitionKeyBase64IfNotUtf8()
    {
        if (!PartitionKeyIsEscaped)
        {
            return Utf8Text.Base64IfNotUtf8(RawPartitionKey);
        }

        byte[] buffer = new byte[RawPartitionKey.Length];
        return JsonText.Unescape(RawPartitionKey, buffer, out int written) == UnescapeStatus.Ok
            ? Utf8Text.Base64IfNotUtf8(buffer.AsSpan(0, written))
            : Convert.ToBase64String(RawPartitionKey);
    }

    internal static string GetString(ReadOnlySpan<byte> raw, bool escaped)
    {
        if (!escaped)
        {
            return Encoding.UTF8.GetString(raw);
        }

        byte[] buffer = new byte[raw.Length];
        return JsonText.Unescape(raw, buffer, out int written) == UnescapeStatus.Ok
            ? Encoding.UTF8.GetString(buffer, 0, written)
            : Encoding.UTF8.GetString(raw);
    }
}
