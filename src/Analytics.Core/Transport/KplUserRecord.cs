namespace Analytics.Core;

/// <summary>One user record unpacked from a KPL aggregated Kinesis record.</summary>
/// <remarks>
/// Every span is a view into the aggregated record's bytes (the span passed to
/// <see cref="KplAggregate.TryRead"/>); it stays valid only while those bytes do. Copy what must outlive them.
/// All user records of a container share the container's Kinesis sequence number.
/// </remarks>
public readonly ref struct KplUserRecord
{
    internal KplUserRecord(ReadOnlySpan<byte> partitionKey, ReadOnlySpan<byte> explicitHashKey, ReadOnlySpan<byte> data, int subSequenceNumber)
    {
        PartitionKey = partitionKey;
        ExplicitHashKey = explicitHashKey;
        Data = data;
        SubSequenceNumber = subSequenceNumber;
    }

    /// <summary>The user record's partition key, UTF-8 as the producer wrote it (not re-validated).</summary>
    public ReadOnlySpan<byte> PartitionKey { get; }

    /// <summary>The explicit hash key (a decimal string, UTF-8), or empty when the user record has none.</summary>
    public ReadOnlySpan<byte> ExplicitHashKey { get; }

    /// <summary>The user record's payload; may be empty.</summary>
    public ReadOnlySpan<byte> Data { get; }

    /// <summary>The 0-based position of the user record in its container.</summary>
    public int SubSequenceNumber { get; }
}
