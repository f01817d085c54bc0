namespace Analytics.Core;

/// <summary>
/// A poison record kept with its payload. Lambda's on-failure destination carries no record data, so the
/// quarantine sink is the only place a bad record survives.
/// </summary>
public sealed class QuarantinedRecord
{
    /// <summary>The stream ARN from the event (<c>eventSourceARN</c>), when present.</summary>
    public string? EventSourceArn { get; init; }

    /// <summary>The shard id (from <c>eventID</c>, or the event's <c>shardId</c>).</summary>
    public required string ShardId { get; init; }

    /// <summary>The record's sequence number, a decimal string.</summary>
    public required string SequenceNumber { get; init; }

    /// <summary>
    /// For a KPL aggregated record: the index in the container of its first poison user record; otherwise null.
    /// </summary>
    public int? SubSequenceNumber { get; init; }

    /// <summary>
    /// For a KPL aggregated record: the indices of all its poison user records, ascending (one or more); otherwise
    /// null. A container's poison user records make one quarantine entry, so a container of thousands of tiny bad
    /// user records costs one write and one log line.
    /// </summary>
    public IReadOnlyList<int>? PoisonSubSequenceNumbers { get; init; }

    /// <summary>The partition key (bytes that are not valid UTF-8 are replaced with U+FFFD: see <see cref="PartitionKeyBase64"/>).</summary>
    public required string PartitionKey { get; init; }

    /// <summary>
    /// Set only when <see cref="PartitionKey"/> does not hold the key exactly; null when it does. For a key whose bytes
    /// are not valid UTF-8 (a KPL user record's key can be any bytes): those exact bytes in base64, so the original stays
    /// recoverable. For a key the event spells with the escape of a lone surrogate (<c>\ud800</c>), which no UTF-8
    /// holds: the escape's JSON text as bytes, the same text as <see cref="PartitionKey"/>; its presence is what tells
    /// it from the key whose text is those six characters.
    /// </summary>
    public string? PartitionKeyBase64 { get; init; }

    /// <summary>The record's approximate arrival time.</summary>
    public DateTimeOffset ApproximateArrival { get; init; }

    /// <summary>Why the record (for a KPL container: its first poison user record) is poison.</summary>
    public required PoisonReason Reason { get; init; }

    /// <summary>A short human-readable detail: which field, which byte offset.</summary>
    public required string Detail { get; init; }

    /// <summary>
    /// The data exactly as it arrived, base64: the record's; for a KPL container with one poison user record, that user
    /// record's own bytes; with several, the whole container (de-aggregate it and take
    /// <see cref="PoisonSubSequenceNumbers"/>).
    /// </summary>
    public required string Data { get; init; }
}
