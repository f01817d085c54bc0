using System.Buffers;
using System.Buffers.Text;

namespace Analytics.Core;

/// <summary>Decodes a record's base64 data into a reusable buffer, classifying what cannot be decoded.</summary>
internal sealed class RecordDecoder
{
    private byte[] _buffer = [];

    /// <summary>Decodes <paramref name="record"/>'s data; on success <paramref name="data"/> is valid until the next call.</summary>
    public PoisonReason TryDecode(in KinesisRecord record, int maxRecordBytes, out ReadOnlySpan<byte> data, out string message)
    {
        data = default;
        message = string.Empty;
        ReadOnlySpan<byte> base64 = record.RawBase64Data;
        if (base64.IsEmpty)
        {
            message = "the record's data is empty";
            return PoisonReason.EmptyData;
        }

        // Three bytes per four characters: anything whose decoded size must pass the limit is refused undecoded.
        if ((long)(base64.Length / 4 * 3) - 2 > maxRecordBytes)
        {
            message = "the record is larger than the limit";
            return PoisonReason.TooLarge;
        }

        int needed = Math.Max(record.MaxDecodedLength, base64.Length);
        if (_buffer.Length < needed)
        {
            _buffer = new byte[Math.Max(needed, Math.Min(2 * _buffer.Length, 8 * 1024 * 1024))];
        }

        if (!record.TryDecodeData(_buffer, out int written))
        {
            message = "the record's data is not valid base64";
            return PoisonReason.InvalidBase64;
        }

        if (written > maxRecordBytes)
        {
            message = "the record is larger than the limit";
            return PoisonReason.TooLarge;
        }

        data = _buffer.AsSpan(0, written);
        return PoisonReason.None;
    }
}
