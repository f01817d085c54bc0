namespace Analytics.Core;

/// <summary>
/// Enumerates the user records of a KPL aggregated record that <see cref="KplAggregate.TryRead"/> has already
/// validated as a whole, for <c>foreach (KplUserRecord user in reader)</c>. Reading allocates nothing.
/// </summary>
/// <remarks>
/// <para>The reader and every <see cref="KplUserRecord"/> it returns are views into the span passed to
/// <see cref="KplAggregate.TryRead"/>; they are valid only while those bytes are.</para>
/// <para>Key lookups are O(1) through a per-thread table. Opening another container on the same thread while
/// this reader is still in use is allowed; this reader then resolves keys by scanning its own bytes.</para>
/// <para><c>default(KplRecordReader)</c> is an empty reader.</para>
/// </remarks>
public ref struct KplRecordReader
{
    private const int FieldPartitionKeyTable = 1;
    private const int FieldExplicitHashKeyTable = 2;
    private const int FieldRecords = 3;

    private readonly ReadOnlySpan<byte> _message;
    private readonly KplKeyTables? _tables;
    private readonly int _generation;
    private readonly int _count;
    private int _position;
    private int _next;

    internal KplRecordReader(ReadOnlySpan<byte> message, int count, KplKeyTables tables, int generation)
    {
        _message = message;
        _count = count;
        _tables = tables;
        _generation = generation;
        _position = 0;
        _next = 0;
        Current = default;
    }

    /// <summary>The number of user records in the container.</summary>
    public readonly int Count => _count;

    /// <summary>The user record at the reader's position; <see langword="default"/> before the first and after the last.</summary>
    public KplUserRecord Current { get; private set; }

    /// <summary>Returns the reader itself, so that <c>foreach</c> can walk it.</summary>
    /// <returns>This reader.</returns>
    public readonly KplRecordReader GetEnumerator() => this;

    /// <summary>Moves to the next user record.</summary>
    /// <returns><see langword="false"/> after the last user record.</returns>
    public bool MoveNext()
    {
        ReadOnlySpan<byte> message = _message;
        while (_position < message.Length)
        {
            int pos = _position;
            if (ProtoWire.ReadTag(message, ref pos, out int field, out int wire) != ProtoWireStatus.Ok)
            {
                break;
            }

            if (field == FieldRecords && wire == ProtoWire.WireLengthDelimited)
            {
                if (ProtoWire.ReadLength(message, ref pos, out int length) != ProtoWireStatus.Ok)
                {
                    break;
                }

                _position = pos + length;
                if (TryDecode(message.Slice(pos, length), out KplUserRecord record))
                {
                    _next++;
                    Current = record;
                    return true;
                }

                break;
            }

            if (ProtoWire.SkipField(message, ref pos, wire) != ProtoWireStatus.Ok)
            {
                break;
            }

            _position = pos;
        }

        // Only reached at the end, or on bytes that validation would have refused (never in practice).
        CoreAssert.True(_position >= message.Length && _next == _count, "a validated container reads to its end");
        _position = message.Length;
        Current = default;
        return false;
    }

    private readonly bool TryDecode(ReadOnlySpan<byte> body, out KplUserRecord record)
    {
        record = default;
        ulong partitionKeyIndex = 0;
        ulong hashKeyIndex = 0;
        bool hasHashKey = false;
        ReadOnlySpan<byte> data = default;
        int pos = 0;
        while (pos < body.Length)
        {
            if (ProtoWire.ReadTag(body, ref pos, out int field, out int wire) != ProtoWireStatus.Ok)
            {
                return false;
            }

            if (field is 1 or 2 && wire == ProtoWire.WireVarint)
            {
                if (ProtoWire.ReadVarint(body, ref pos, out ulong value) != ProtoWireStatus.Ok)
                {
                    return false;
                }

                if (field == 1)
                {
                    partitionKeyIndex = value;
                }
                else
                {
                    hashKeyIndex = value;
                    hasHashKey = true;
                }
            }
            else if (field == 3 && wire == ProtoWire.WireLengthDelimited)
            {
                if (ProtoWire.ReadLength(body, ref pos, out int length) != ProtoWireStatus.Ok)
                {
                    return false;
                }

                data = body.Slice(pos, length);
                pos += length;
            }
            else if (ProtoWire.SkipField(body, ref pos, wire) != ProtoWireStatus.Ok)
            {
                return false;
            }
        }

        if (!TryGetKey(FieldPartitionKeyTable, partitionKeyIndex, out ReadOnlySpan<byte> partitionKey))
        {
            return false;
        }

        ReadOnlySpan<byte> hashKey = default;
        if (hasHashKey && !TryGetKey(FieldExplicitHashKeyTable, hashKeyIndex, out hashKey))
        {
            return false;
        }

        record = new KplUserRecord(partitionKey, hashKey, data, _next);
        return true;
    }

    private readonly bool TryGetKey(int tableField, ulong index, out ReadOnlySpan<byte> key)
    {
        KplKeyTables? tables = _tables;
        if (tables is not null && tables.Generation == _generation)
        {
            int count = tableField == FieldPartitionKeyTable ? tables.PartitionKeyCount : tables.HashKeyCount;
            if (index >= (ulong)count)
            {
                key = default;
                return false;
            }

            int start;
            int length;
            if (tableField == FieldPartitionKeyTable)
            {
                tables.GetPartitionKey((int)index, out start, out length);
            }
            else
            {
                tables.GetHashKey((int)index, out start, out length);
            }

            key = _message.Slice(start, length);
            return true;
        }

        return TryScanKey(tableField, index, out key);
    }

    /// <summary>Finds a table entry by walking the message; used when the per-thread table has moved on.</summary>
    private readonly bool TryScanKey(int tableField, ulong index, out ReadOnlySpan<byte> key)
    {
        ReadOnlySpan<byte> message = _message;
        ulong seen = 0;
        int pos = 0;
        while (pos < message.Length)
        {
            if (ProtoWire.ReadTag(message, ref pos, out int field, out int wire) != ProtoWireStatus.Ok)
            {
                break;
            }

            if (field == tableField && wire == ProtoWire.WireLengthDelimited)
            {
                if (ProtoWire.ReadLength(message, ref pos, out int length) != ProtoWireStatus.Ok)
                {
                    break;
                }

                if (seen == index)
                {
                    key = message.Slice(pos, length);
                    return true;
                }

                seen++;
                pos += length;
            }
            else if (ProtoWire.SkipField(message, ref pos, wire) != ProtoWireStatus.Ok)
            {
                break;
            }
        }

        key = default;
        return false;
    }
}
