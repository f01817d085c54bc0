namespace Analytics.Core.Tests;

/// <summary>A decoded user record, as owned arrays.</summary>
internal sealed record KplDecoded(byte[] PartitionKey, byte[] ExplicitHashKey, byte[] Data);

/// <summary>
/// A deliberately simple, allocating decoder of the KPL protobuf for the tests: builds the whole message as
/// lists, with its own exceptions, so the library's single-pass validator can be checked against it on
/// arbitrary (corrupted) input. Same rules as the format: varints of at most 10 bytes fitting 64 bits, groups
/// refused, known fields with their wire types, last scalar wins, required fields present, indexes in range.
/// </summary>
internal static class KplReferenceDecoder
{
    /// <summary>Decodes the protobuf bytes; <see langword="null"/> when malformed.</summary>
    public static List<KplDecoded>? TryDecode(byte[] protobuf)
    {
        try
        {
            return Decode(protobuf);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static List<KplDecoded> Decode(byte[] protobuf)
    {
        var pks = new List<byte[]>();
        var ehks = new List<byte[]>();
        var records = new List<(ulong Pk, ulong? Ehk, byte[] Data)>();
        foreach ((int field, int wire, ulong value, byte[]? bytes) in Fields(protobuf))
        {
            switch (field)
            {
                case 1: pks.Add(Bytes(wire, bytes)); break;
                case 2: ehks.Add(Bytes(wire, bytes)); break;
                case 3: records.Add(DecodeRecord(Bytes(wire, bytes))); break;
                default: break;
            }
        }

        var result = new List<KplDecoded>();
        foreach ((ulong pk, ulong? ehk, byte[] data) in records)
        {
            if (pk >= (ulong)pks.Count || (ehk is ulong e && e >= (ulong)ehks.Count))
            {
                throw new FormatException("index");
            }

            result.Add(new KplDecoded(pks[(int)pk], ehk is ulong h ? ehks[(int)h] : [], data));
        }

        return result;
    }

    private static (ulong Pk, ulong? Ehk, byte[] Data) DecodeRecord(byte[] body)
    {
        ulong? pk = null;
        ulong? ehk = null;
        byte[]? data = null;
        foreach ((int field, int wire, ulong value, byte[]? bytes) in Fields(body))
        {
            switch (field)
            {
                case 1: pk = Varint(wire, value); break;
                case 2: ehk = Varint(wire, value); break;
                case 3: data = Bytes(wire, bytes); break;
                case 4: DecodeTag(Bytes(wire, bytes)); break;
                default: break;
            }
        }

        return (pk ?? throw new FormatException("pk"), ehk, data ?? throw new FormatException("data"));
    }

    private static void DecodeTag(byte[] tag)
    {
        bool key = false;
        foreach ((int field, int wire, _, byte[]? bytes) in Fields(tag))
        {
            if (field is 1 or 2)
            {
                Bytes(wire, bytes);
                key |= field == 1;
            }
        }

        if (!key)
        {
            throw new FormatException("tag key");
        }
    }

    private static ulong Varint(int wire, ulong value) => wire == 0 ? value : throw new FormatException("wire");

    private static byte[] Bytes(int wire, byte[]? bytes) => wire == 2 ? bytes! : throw new FormatException("wire");

    /// <summary>Splits a message into (field, wire type, varint value, payload) tuples.</summary>
    private static List<(int Field, int Wire, ulong Value, byte[]? Bytes)> Fields(byte[] message)
    {
        var fields = new List<(int, int, ulong, byte[]?)>();
        int pos = 0;
        while (pos < message.Length)
        {
            ulong tag = ReadVarint(message, ref pos);
            if (tag > uint.MaxValue || tag >> 3 == 0)
            {
                throw new FormatException("tag");
            }

            int field = (int)(tag >> 3);
            int wire = (int)(tag & 7);
            switch (wire)
            {
                case 0:
                    fields.Add((field, wire, ReadVarint(message, ref pos), null));
                    break;
                case 1:
                case 5:
                    int size = wire == 1 ? 8 : 4;
                    if (message.Length - pos < size)
                    {
                        throw new FormatException("fixed");
                    }

                    pos += size;
                    fields.Add((field, wire, 0, null));
                    break;
                case 2:
                    ulong length = ReadVarint(message, ref pos);
                    if (length > (ulong)(message.Length - pos))
                    {
                        throw new FormatException("length");
                    }

                    fields.Add((field, wire, 0, message[pos..(pos + (int)length)]));
                    pos += (int)length;
                    break;
                default:
                    throw new FormatException("group or invalid wire type");
            }
        }

        return fields;
    }

    private static ulong ReadVarint(byte[] message, ref int pos)
    {
        System.Numerics.BigInteger value = 0;
        for (int shift = 0; ; shift += 7)
        {
            if (pos >= message.Length || shift >= 70)
            {
                throw new FormatException("varint");
            }

            byte b = message[pos++];
            value |= (System.Numerics.BigInteger)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value <= ulong.MaxValue ? (ulong)value : throw new FormatException("varint overflow");
            }
        }
    }
}
