using System.Buffers.Binary;

namespace Analytics.Core;

/// <summary>Writes the primitives of the aggregate binary form into a span sized by the caller.</summary>
internal ref struct BinaryFormatWriter
{
    /// <summary>Most bytes a varint takes.</summary>
    public const int MaxVarIntBytes = 10;

    private readonly Span<byte> _destination;
    private int _position;

    public BinaryFormatWriter(Span<byte> destination)
    {
        _destination = destination;
        _position = 0;
    }

    public readonly int Position => _position;

    public void WriteByte(byte value) => _destination[_position++] = value;

    public void WriteDouble(double value)
    {
        BinaryPrimitives.WriteDoubleLittleEndian(_destination.Slice(_position), value);
        _position += 8;
    }

    public void WriteVarUInt(ulong value)
    {
        while (value >= 0x80)
        {
            _destination[_position++] = (byte)(value | 0x80);
            value >>= 7;
        }

        _destination[_position++] = (byte)value;
    }

    public void WriteVarInt(long value) => WriteVarUInt((ulong)((value << 1) ^ (value >> 63)));

    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_destination.Slice(_position));
        _position += bytes.Length;
    }
}

/// <summary>Reads the primitives of the aggregate binary form; every read checks bounds and reports failure.</summary>
internal ref struct BinaryFormatReader
{
    private readonly ReadOnlySpan<byte> _source;
    private int _position;

    public BinaryFormatReader(ReadOnlySpan<byte> source)
    {
        _source = source;
        _position = 0;
    }

    public readonly int Position => _position;

    public bool TryReadByte(out byte value)
    {
        if (_position >= _source.Length)
        {
            value = 0;
            return false;
        }

        value = _source[_position++];
        return true;
    }

    public bool TryReadDouble(out double value)
    {
        if (_source.Length - _position < 8)
        {
            value = 0;
            return false;
        }

        value = BinaryPrimitives.ReadDoubleLittleEndian(_source.Slice(_position));
        _position += 8;
        return true;
    }

    /// <summary>Reads an unsigned LEB128 varint of at most 10 bytes that fits 64 bits, in its shortest form.</summary>
    public bool TryReadVarUInt(out ulong value)
    {
        value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_position >= _source.Length)
            {
                return false;
            }

            byte b = _source[_position++];
            if (shift == 63 && b > 1)
            {
                return false;
            }

            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                // A zero last byte after the first is an overlong form: one value, one encoding.
                return b != 0 || shift == 0;
            }
        }

        return false;
    }

    /// <summary>Reads a varint no larger than <paramref name="max"/>.</summary>
    public bool TryReadVarUInt(ulong max, out ulong value) => TryReadVarUInt(out value) && value <= max;

    /// <summary>Reads a zigzag varint.</summary>
    public bool TryReadVarInt(out long value)
    {
        if (!TryReadVarUInt(out ulong raw))
        {
            value = 0;
            return false;
        }

        value = (long)(raw >> 1) ^ -(long)(raw & 1);
        return true;
    }

    public bool TryReadBytes(int length, out ReadOnlySpan<byte> bytes)
    {
        if (length < 0 || _source.Length - _position < length)
        {
            bytes = default;
            return false;
        }

        bytes = _source.Slice(_position, length);
        _position += length;
        return true;
    }
}
