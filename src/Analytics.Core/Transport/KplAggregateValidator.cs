using System.Globalization;

namespace Analytics.Core;

/// <summary>
/// Validates the protobuf <c>AggregatedRecord</c> of a KPL container in one pass, before any user record is
/// handed out, and records where the key table entries lie. Every byte offset in a detail message counts from
/// the start of the aggregated record (the magic bytes are offsets 0 to 3).
/// </summary>
/// <remarks>Builds a detail string only on failure; a valid container is validated without allocating.</remarks>
internal static class KplAggregateValidator
{
    private const int FieldPartitionKeyTable = 1;
    private const int FieldExplicitHashKeyTable = 2;
    private const int FieldRecords = 3;

    private const int FieldPartitionKeyIndex = 1;
    private const int FieldExplicitHashKeyIndex = 2;
    private const int FieldData = 3;
    private const int FieldTags = 4;

    private const int FieldTagKey = 1;
    private const int FieldTagValue = 2;

    /// <summary>Validates <paramref name="message"/> and fills <paramref name="tables"/>.</summary>
    /// <param name="message">The protobuf bytes (between the magic and the MD5).</param>
    /// <param name="origin">The offset of <paramref name="message"/> in the aggregated record, for details.</param>
    /// <param name="tables">Emptied tables, filled with the key entries.</param>
    /// <param name="count">The number of user records.</param>
    /// <param name="detail">What is wrong and where, when invalid.</param>
    /// <returns><see langword="true"/> when the whole message is well formed.</returns>
    public static bool TryValidate(ReadOnlySpan<byte> message, int origin, KplKeyTables tables, out int count, out string? detail)
    {
        count = 0;
        var worstPartitionKey = default(WorstIndex);
        var worstHashKey = default(WorstIndex);
        int pos = 0;
        while (pos < message.Length)
        {
            int fieldStart = pos;
            ProtoWireStatus status = ProtoWire.ReadTag(message, ref pos, out int field, out int wire);
            if (status != ProtoWireStatus.Ok)
            {
                detail = Describe(status, "AggregatedRecord field tag", origin + fieldStart);
                return false;
            }

            if (field is FieldPartitionKeyTable or FieldExplicitHashKeyTable or FieldRecords)
            {
                string name = field switch
                {
                    FieldPartitionKeyTable => "partition_key_table entry",
                    FieldExplicitHashKeyTable => "explicit_hash_key_table entry",
                    _ => "user record",
                };
                if (wire != ProtoWire.WireLengthDelimited)
                {
                    detail = WrongWireType(name, field, wire, ProtoWire.WireLengthDelimited, origin + fieldStart);
                    return false;
                }

                int lengthStart = pos;
                status = ProtoWire.ReadLength(message, ref pos, out int length);
                if (status != ProtoWireStatus.Ok)
                {
                    detail = Describe(status, "length of " + name, origin + lengthStart, message.Length - lengthStart);
                    return false;
                }

                if (field == FieldPartitionKeyTable)
                {
                    tables.AddPartitionKey(pos, length);
                }
                else if (field == FieldExplicitHashKeyTable)
                {
                    tables.AddHashKey(pos, length);
                }
                else
                {
                    if (!TryValidateRecord(message.Slice(pos, length), origin + pos, count, origin + fieldStart, out ulong partitionKeyIndex, out ulong hashKeyIndex, out bool hasHashKey, out detail))
                    {
                        return false;
                    }

                    worstPartitionKey.Track(partitionKeyIndex, count, origin + fieldStart);
                    if (hasHashKey)
                    {
                        worstHashKey.Track(hashKeyIndex, count, origin + fieldStart);
                    }

                    count++;
                }

                pos += length;
            }
            else if (!TrySkipUnknown(message, ref pos, field, wire, "AggregatedRecord", -1, origin, fieldStart, out detail))
            {
                return false;
            }
        }

        // Repeated fields may interleave, so indexes are checked against the complete tables at the end.
        if (worstPartitionKey.IsOutside(tables.PartitionKeyCount))
        {
            detail = IndexOutside(worstPartitionKey, "partition_key_index", "partition_key_table", tables.PartitionKeyCount);
            return false;
        }

        if (worstHashKey.IsOutside(tables.HashKeyCount))
        {
            detail = IndexOutside(worstHashKey, "explicit_hash_key_index", "explicit_hash_key_table", tables.HashKeyCount);
            return false;
        }

        detail = null;
        return true;
    }

    private static bool TryValidateRecord(
        ReadOnlySpan<byte> record,
        int origin,
        int recordNumber,
        int recordOffset,
        out ulong partitionKeyIndex,
        out ulong hashKeyIndex,
        out bool hasHashKey,
        out string? detail)
    {
        partitionKeyIndex = 0;
        hashKeyIndex = 0;
        hasHashKey = false;
        bool hasPartitionKey = false;
        bool hasData = false;
        int pos = 0;
        while (pos < record.Length)
        {
            int fieldStart = pos;
            ProtoWireStatus status = ProtoWire.ReadTag(record, ref pos, out int field, out int wire);
            if (status != ProtoWireStatus.Ok)
            {
                detail = Describe(status, RecordPart(recordNumber, "field tag"), origin + fieldStart);
                return false;
            }

            switch (field)
            {
                case FieldPartitionKeyIndex:
                case FieldExplicitHashKeyIndex:
                    string name = field == FieldPartitionKeyIndex ? "partition_key_index" : "explicit_hash_key_index";
                    if (wire != ProtoWire.WireVarint)
                    {
                        detail = WrongWireType(RecordPart(recordNumber, name), field, wire, ProtoWire.WireVarint, origin + fieldStart);
                        return false;
                    }

                    int valueStart = pos;
                    status = ProtoWire.ReadVarint(record, ref pos, out ulong value);
                    if (status != ProtoWireStatus.Ok)
                    {
                        detail = Describe(status, RecordPart(recordNumber, name), origin + valueStart);
                        return false;
                    }

                    // proto2: the last occurrence of a scalar field wins.
                    if (field == FieldPartitionKeyIndex)
                    {
                        partitionKeyIndex = value;
                        hasPartitionKey = true;
                    }
                    else
                    {
                        hashKeyIndex = value;
                        hasHashKey = true;
                    }

                    break;
                case FieldData:
                case FieldTags:
                    string part = field == FieldData ? "data" : "tag";
                    if (wire != ProtoWire.WireLengthDelimited)
                    {
                        detail = WrongWireType(RecordPart(recordNumber, part), field, wire, ProtoWire.WireLengthDelimited, origin + fieldStart);
                        return false;
                    }

                    int lengthStart = pos;
                    status = ProtoWire.ReadLength(record, ref pos, out int length);
                    if (status != ProtoWireStatus.Ok)
                    {
                        detail = Describe(status, RecordPart(recordNumber, "length of " + part), origin + lengthStart, record.Length - lengthStart);
                        return false;
                    }

                    if (field == FieldData)
                    {
                        hasData = true;
                    }
                    else if (!TryValidateTag(record.Slice(pos, length), origin + pos, recordNumber, origin + fieldStart, out detail))
                    {
                        return false;
                    }

                    pos += length;
                    break;
                default:
                    if (!TrySkipUnknown(record, ref pos, field, wire, "Record", recordNumber, origin, fieldStart, out detail))
                    {
                        return false;
                    }

                    break;
            }
        }

        if (!hasPartitionKey)
        {
            detail = string.Create(CultureInfo.InvariantCulture, $"user record {recordNumber} at byte {recordOffset} lacks the required partition_key_index (field 1)");
            return false;
        }

        if (!hasData)
        {
            detail = string.Create(CultureInfo.InvariantCulture, $"user record {recordNumber} at byte {recordOffset} lacks the required data (field 3)");
            return false;
        }

        detail = null;
        return true;
    }

    private static bool TryValidateTag(ReadOnlySpan<byte> tag, int origin, int recordNumber, int tagOffset, out string? detail)
    {
        bool hasKey = false;
        int pos = 0;
        while (pos < tag.Length)
        {
            int fieldStart = pos;
            ProtoWireStatus status = ProtoWire.ReadTag(tag, ref pos, out int field, out int wire);
            if (status != ProtoWireStatus.Ok)
            {
                detail = Describe(status, RecordPart(recordNumber, "tag field tag"), origin + fieldStart);
                return false;
            }

            if (field is FieldTagKey or FieldTagValue)
            {
                string name = field == FieldTagKey ? "tag key" : "tag value";
                if (wire != ProtoWire.WireLengthDelimited)
                {
                    detail = WrongWireType(RecordPart(recordNumber, name), field, wire, ProtoWire.WireLengthDelimited, origin + fieldStart);
                    return false;
                }

                int lengthStart = pos;
                status = ProtoWire.ReadLength(tag, ref pos, out int length);
                if (status != ProtoWireStatus.Ok)
                {
                    detail = Describe(status, RecordPart(recordNumber, "length of " + name), origin + lengthStart, tag.Length - lengthStart);
                    return false;
                }

                hasKey |= field == FieldTagKey;
                pos += length;
            }
            else if (!TrySkipUnknown(tag, ref pos, field, wire, "Tag", recordNumber, origin, fieldStart, out detail))
            {
                return false;
            }
        }

        if (!hasKey)
        {
            detail = string.Create(CultureInfo.InvariantCulture, $"tag at byte {tagOffset} of user record {recordNumber} lacks the required key (field 1)");
            return false;
        }

        detail = null;
        return true;
    }

    private static bool TrySkipUnknown(ReadOnlySpan<byte> buffer, ref int pos, int field, int wire, string messageName, int recordNumber, int origin, int fieldStart, out string? detail)
    {
        int payloadStart = pos;
        ProtoWireStatus status = ProtoWire.SkipField(buffer, ref pos, wire);
        if (status == ProtoWireStatus.Ok)
        {
            detail = null;
            return true;
        }

        // Not the field's number: its 29 bits are the producer's to choose, and a detail never quotes the record (found
        // by review: "unknown field 22565210" carried four bytes of text into the quarantine and the poison log line).
        string what = recordNumber < 0
            ? string.Create(CultureInfo.InvariantCulture, $"an unknown field (wire type {wire}) of {messageName}")
            : string.Create(CultureInfo.InvariantCulture, $"an unknown field (wire type {wire}) of a {messageName} in user record {recordNumber}");
        detail = status is ProtoWireStatus.Group or ProtoWireStatus.InvalidWireType
            ? Describe(status, what, origin + fieldStart)
            : Describe(status, what, origin + payloadStart, buffer.Length - payloadStart);
        return false;
    }

    private static string RecordPart(int recordNumber, string part) =>
        string.Create(CultureInfo.InvariantCulture, $"{part} of user record {recordNumber}");

    private static string WrongWireType(string what, int field, int wire, int expected, int offset) =>
        string.Create(CultureInfo.InvariantCulture, $"wrong wire type {wire} for {what} (field {field}) at byte {offset}; expected {expected}");

    // Not the index's value: its 64 bits are the producer's to choose (found by review: eight bytes of text, printed in
    // decimal, reached the quarantine and the poison log line); where it is and the table's size say what is wrong.
    private static string IndexOutside(WorstIndex worst, string indexName, string tableName, int tableCount) =>
        string.Create(CultureInfo.InvariantCulture, $"the {indexName} of user record {worst.RecordNumber} at byte {worst.Offset} is outside the {tableName} of {tableCount} entries");

    private static string Describe(ProtoWireStatus status, string what, int offset, int remaining = 0) => status switch
    {
        ProtoWireStatus.TruncatedVarint => string.Create(CultureInfo.InvariantCulture, $"truncated varint in {what} at byte {offset}"),
        ProtoWireStatus.OverlongVarint => string.Create(CultureInfo.InvariantCulture, $"varint longer than 10 bytes or above 64 bits in {what} at byte {offset}"),
        ProtoWireStatus.InvalidTag => string.Create(CultureInfo.InvariantCulture, $"invalid field number in {what} at byte {offset}"),
        ProtoWireStatus.PastEnd => string.Create(CultureInfo.InvariantCulture, $"{what} at byte {offset} runs past the end of its parent ({remaining} bytes left)"),
        ProtoWireStatus.Group => string.Create(CultureInfo.InvariantCulture, $"group wire type in {what} at byte {offset}; groups are not allowed"),
        _ => string.Create(CultureInfo.InvariantCulture, $"invalid wire type in {what} at byte {offset}"),
    };

    /// <summary>The largest key index seen so far and the first user record that carries it.</summary>
    private struct WorstIndex
    {
        private bool _any;

        public ulong Index { get; private set; }

        public int RecordNumber { get; private set; }

        public int Offset { get; private set; }

        public void Track(ulong index, int recordNumber, int offset)
        {
            if (!_any || index > Index)
            {
                _any = true;
                Index = index;
                RecordNumber = recordNumber;
                Offset = offset;
            }
        }

        public readonly bool IsOutside(int tableCount) => _any && Index >= (ulong)tableCount;
    }
}
