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

    /// <summary>For a user record inside a KPL aggregated record: its index in the container; otherwise null.</summary>
    public int? SubSequenceNumber { get; init; }

    /// <summary>The partition key (bytes that are not valid UTF-8 are replaced with U+FFFD: see <see cref="PartitionKeyBase64"/>).</summary>
    public required string PartitionKey { get; init; }

    /// <summary>
    /// The partition key's exact bytes in base64 when they are not valid UTF-8 (a KPL user record's key can be any
    /// bytes), so the original stays recoverable; null when <see cref="PartitionKey"/> holds the key exactly.
    /// </summary>
    public string? PartitionKeyBase64 { get; init; }

    /// <summary>The record's approximate arrival time.</summary>
    public DateTimeOffset ApproximateArrival { get; init; }

    /// <summary>Why the record is poison.</summary>
    public required PoisonReason Reason { get; init; }

    /// <summary>A short human-readable detail: which field, which byte offset.</summary>
    public required string Detail { get; init; }

    /// <summary>The record's data exactly as it arrived: base64 (for a KPL user record, its own bytes in base64).</summary>
    public required string Data { get; init; }
}
