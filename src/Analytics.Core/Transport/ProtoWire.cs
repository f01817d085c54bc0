namespace Analytics.Core;

/// <summary>
/// The few pieces of the protobuf wire format the KPL container needs, over spans: varints, tags, lengths and
/// skipping a field by its wire type. Nothing here throws or reads outside the span; every failure is a
/// <see cref="ProtoWireStatus"/>, and on failure <c>position</c> is left where it was.
/// </summary>
internal static class ProtoWire
{
    /// <summary>The longest varint (a 64-bit value in 7-bit groups).</summary>
    public const int MaxVarintBytes = 10;

    public const int WireVarint = 0;
    public const int WireFixed64 = 1;
    public const int WireLengthDelimited = 2;
    public const int WireStartGroup = 3;
    public const int WireEndGroup = 4;
    public const int WireFixed32 = 5;

    /// <summary>Reads a base-128 varint of at most 10 bytes whose value fits 64 bits.</summary>
    public static ProtoWireStatus ReadVarint(ReadOnlySpan<byte> buffer, ref int position, out ulong value)
    {
        value = 0;
        int pos = position;
        for (int i = 0; i < MaxVarintBytes; i++)
        {
            if ((uint)pos >= (uint)buffer.Length)
            {
                value = 0;
                return ProtoWireStatus.TruncatedVarint;
            }

            byte b = buffer[pos++];
            if (i == MaxVarintBytes - 1 && b > 1)
            {
                // The 10th byte holds only bit 63: anything more is an 11th byte or an overflow.
                value = 0;
                return ProtoWireStatus.OverlongVarint;
            }

            value |= (ulong)(b & 0x7F) << (7 * i);
            if (b < 0x80)
            {
                position = pos;
                return ProtoWireStatus.Ok;
            }
        }

        value = 0;
        return ProtoWireStatus.OverlongVarint;
    }

    /// <summary>Reads a field tag: a varint that fits 32 bits, with a field number of at least 1.</summary>
    public static ProtoWireStatus ReadTag(ReadOnlySpan<byte> buffer, ref int position, out int fieldNumber, out int wireType)
    {
        fieldNumber = 0;
        wireType = 0;
        int pos = position;
        ProtoWireStatus status = ReadVarint(buffer, ref pos, out ulong tag);
        if (status != ProtoWireStatus.Ok)
        {
            return status;
        }

        if (tag > uint.MaxValue || (tag >> 3) == 0)
        {
            return ProtoWireStatus.InvalidTag;
        }

        fieldNumber = (int)(tag >> 3);
        wireType = (int)(tag & 7);
        position = pos;
        return ProtoWireStatus.Ok;
    }

    /// <summary>Reads the length prefix of a length-delimited field and checks that the payload fits the buffer.</summary>
    public static ProtoWireStatus ReadLength(ReadOnlySpan<byte> buffer, ref int position, out int length)
    {
        length = 0;
        int pos = position;
        ProtoWireStatus status = ReadVarint(buffer, ref pos, out ulong value);
        if (status != ProtoWireStatus.Ok)
        {
            return status;
        }

        if (value > (ulong)(buffer.Length - pos))
        {
            return ProtoWireStatus.PastEnd;
        }

        length = (int)value;
        position = pos;
        return ProtoWireStatus.Ok;
    }

    /// <summary>Skips the payload of a field whose tag has been read. Groups (3, 4) and wire types 6, 7 fail.</summary>
    public static ProtoWireStatus SkipField(ReadOnlySpan<byte> buffer, ref int position, int wireType)
    {
        int pos = position;
        ProtoWireStatus status;
        switch (wireType)
        {
            case WireVarint:
                status = ReadVarint(buffer, ref pos, out _);
                break;
            case WireFixed64:
                status = Advance(buffer, ref pos, 8);
                break;
            case WireLengthDelimited:
                status = ReadLength(buffer, ref pos, out int length);
                if (status == ProtoWireStatus.Ok)
                {
                    pos += length;
                }

                break;
            case WireFixed32:
                status = Advance(buffer, ref pos, 4);
                break;
            case WireStartGroup:
            case WireEndGroup:
                return ProtoWireStatus.Group;
            default:
                return ProtoWireStatus.InvalidWireType;
        }

        if (status == ProtoWireStatus.Ok)
        {
            position = pos;
        }

        return status;
    }

    private static ProtoWireStatus Advance(ReadOnlySpan<byte> buffer, ref int position, int count)
    {
        if (buffer.Length - position < count)
        {
            return ProtoWireStatus.PastEnd;
        }

        position += count;
        return ProtoWireStatus.Ok;
    }
}
