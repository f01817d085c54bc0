namespace Analytics.Core;

/// <summary>
/// The payload handed to the library is not a Lambda Kinesis event: it is not JSON, has no <c>Records</c> array,
/// a record lacks <c>sequenceNumber</c>, <c>data</c> or <c>eventID</c>, or the envelope is ambiguous or
/// inconsistent (a field named twice, records of two shards, sequence numbers that do not increase).
/// </summary>
/// <remarks>
/// This is a broken envelope, not a poison record: a function should let it fail the invocation, so that
/// Lambda retries, bisects the batch and finally sends it to the on-failure destination.
/// </remarks>
public sealed class KinesisEventFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is wrong (the library never puts bytes of the event's records in it).</param>
    /// <param name="bytePosition">The byte offset in the event where the problem was found.</param>
    public KinesisEventFormatException(string message, long bytePosition)
        : base($"Not a Kinesis event: {message} (at byte {bytePosition}).")
    {
        BytePosition = bytePosition;
    }

    /// <summary>The byte offset in the UTF-8 event where the problem was found.</summary>
    public long BytePosition { get; }
}

/// <summary>
/// The tumbling-window <c>state</c> holds an entry owned by this library that cannot be decoded or is named twice, or
/// an entry of others whose name cannot be passed through (a JSON escape of a lone surrogate).
/// The library never resets such state silently, since that would lose aggregates.
/// </summary>
public sealed class WindowStateFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is wrong.</param>
    public WindowStateFormatException(string message)
        : base(message)
    {
    }
}
