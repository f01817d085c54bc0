using System.Buffers;
using System.Buffers.Text;
using System.Globalization;

namespace Analytics.Core;

/// <summary>Decodes a record's base64 data into a reusable buffer, classifying what cannot be decoded.</summary>
internal sealed class RecordDecoder
{
    /// <summary>The longest JSON escape of one character (<c>\u002F</c>).</summary>
    private const int MaxEscapeLength = 6;

    private byte[] _buffer = [];

    /// <summary>Decodes <paramref name="record"/>'s data; on success <paramref name="data"/> is valid until the next call.</summary>
    /// <returns><see langword="true"/> when decoded; otherwise <paramref name="reason"/> and <paramref name="detail"/> say why.</returns>
    public bool TryDecode(in KinesisRecord record, int maxRecordBytes, out ReadOnlySpan<byte> data, out PoisonReason reason, out string detail)
    {
        reason = Classify(record, maxRecordBytes, out data, out detail);
        return reason == PoisonReason.None;
    }

    private PoisonReason Classify(in KinesisRecord record, int maxRecordBytes, out ReadOnlySpan<byte> data, out string message)
    {
        data = default;
        message = string.Empty;
        ReadOnlySpan<byte> base64 = record.RawBase64Data;
        if (base64.IsEmpty)
        {
            message = "the record's data is empty";
            return PoisonReason.EmptyData;
        }

        // Four base64 characters give three bytes (less two of padding): anything whose decoded size must pass the
        // limit is refused undecoded. JSON escapes (such as \/) only lengthen the text, so escaped data is measured
        // after unescaping, except when even six bytes per character could not bring it under the limit.
        long atLeast = record.DataIsEscaped ? (base64.Length / MaxEscapeLength / 4 * 3) - 2 : (base64.Length / 4 * 3) - 2;
        if (atLeast > maxRecordBytes)
        {
            message = string.Create(CultureInfo.InvariantCulture, $"the record's base64 decodes to more than {maxRecordBytes} bytes, the limit");
            return PoisonReason.TooLarge;
        }

        int needed = Math.Max(record.MaxDecodedLength, base64.Length);
        if (_buffer.Length < needed)
        {
            _buffer = new byte[Math.Max(needed, Math.Min(2 * _buffer.Length, 8 * 1024 * 1024))];
        }

        if (!TryDecode(record, _buffer, out int written, out int failedAt))
        {
            message = failedAt < 0
                ? "the record's data holds an invalid JSON escape"
                : string.Create(CultureInfo.InvariantCulture, $"the record's data is not valid base64 from character {failedAt} on");
            return PoisonReason.InvalidBase64;
        }

        if (written > maxRecordBytes)
        {
            message = TooLargeDetail(written, maxRecordBytes);
            return PoisonReason.TooLarge;
        }

        data = _buffer.AsSpan(0, written);
        return PoisonReason.None;
    }

    /// <summary>The detail of a record of <paramref name="length"/> decoded bytes over the limit.</summary>
    /// <param name="length">The record's decoded bytes (with <paramref name="atLeast"/>: a bound it passes).</param>
    /// <param name="maxRecordBytes">The limit it passes.</param>
    /// <param name="atLeast">Only known to be more than <paramref name="length"/> (refused before decoding).</param>
    public static string TooLargeDetail(int length, int maxRecordBytes, bool atLeast = false) =>
        atLeast
            ? string.Create(CultureInfo.InvariantCulture, $"the record holds more than {length} bytes, more than the limit of {maxRecordBytes}")
            : string.Create(CultureInfo.InvariantCulture, $"the record holds {length} bytes, more than the limit of {maxRecordBytes}");

    /// <summary>Like <see cref="KinesisRecord.TryDecodeData"/>, and says where the base64 stopped (-1: a bad escape).</summary>
    private static bool TryDecode(in KinesisRecord record, Span<byte> destination, out int written, out int failedAt)
    {
        ReadOnlySpan<byte> source = record.RawBase64Data;
        failedAt = 0;
        if (record.DataIsEscaped)
        {
            // Escapes only ever lengthen text: unescaping in place into the destination's tail is safe.
            Span<byte> tail = destination.Slice(destination.Length - source.Length);
            if (JsonText.Unescape(source, tail, out int unescaped) != UnescapeStatus.Ok)
            {
                written = 0;
                failedAt = -1;
                return false;
            }

            tail = tail.Slice(0, unescaped);
            if (Base64.DecodeFromUtf8InPlace(tail, out written) != OperationStatus.Done)
            {
                failedAt = written / 3 * 4;
                return false;
            }

            tail.Slice(0, written).CopyTo(destination);
            return true;
        }

        OperationStatus status = Base64.DecodeFromUtf8(source, destination, out int consumed, out written);
        failedAt = consumed;
        return status == OperationStatus.Done && consumed == source.Length;
    }
}
