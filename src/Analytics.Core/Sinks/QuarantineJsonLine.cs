using System.Globalization;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>
/// Writes one quarantined record in the JSON shape shared by the quarantine sinks (a line of the local file, the body
/// of an S3 object):
/// <c>{"shardId":"..","sequenceNumber":"..","partitionKey":"..","approximateArrival":"..Z","reason":"..","detail":"..","data":"&lt;base64&gt;"}</c>,
/// with <c>"subSequenceNumber"</c> for a KPL aggregated record (its first poison user record),
/// <c>"poisonSubSequenceNumbers"</c> when it holds several (<c>data</c> is then the whole container), and
/// <c>"partitionKeyBase64"</c> when the key is not valid UTF-8 (see <see cref="QuarantinedRecord"/>).
/// </summary>
/// <remarks>
/// The arrival time is ISO-8601 UTC with milliseconds and <c>Z</c>; the reason is the name of its
/// <see cref="PoisonReason"/>. For text to appear unescaped (base64 <c>+</c>, <c>café</c>), give the writer
/// <see cref="System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping"/>, as the sinks here do.
/// </remarks>
public static class QuarantineJsonLine
{
    /// <summary>Writes the record as one JSON object (without the newline).</summary>
    /// <param name="writer">The destination.</param>
    /// <param name="record">The record.</param>
    /// <exception cref="ArgumentNullException"><paramref name="writer"/> or <paramref name="record"/> is null.</exception>
    public static void Write(Utf8JsonWriter writer, QuarantinedRecord record)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(record);
        writer.WriteStartObject();
        writer.WriteString("shardId"u8, record.ShardId);
        writer.WriteString("sequenceNumber"u8, record.SequenceNumber);
        if (record.SubSequenceNumber is int sub)
        {
            writer.WriteNumber("subSequenceNumber"u8, sub);
        }

        if (record.PoisonSubSequenceNumbers is { Count: > 1 } subs)
        {
            writer.WriteStartArray("poisonSubSequenceNumbers"u8);
            foreach (int poisonSub in subs)
            {
                writer.WriteNumberValue(poisonSub);
            }

            writer.WriteEndArray();
        }

        writer.WriteString("partitionKey"u8, record.PartitionKey);
        if (record.PartitionKeyBase64 is not null)
        {
            writer.WriteString("partitionKeyBase64"u8, record.PartitionKeyBase64);
        }

        Span<char> arrival = stackalloc char[32];
        record.ApproximateArrival.UtcDateTime.TryFormat(arrival, out int written, "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fff'Z'", CultureInfo.InvariantCulture);
        writer.WriteString("approximateArrival"u8, arrival.Slice(0, written));
        writer.WriteString("reason"u8, record.Reason.ToString());
        writer.WriteString("detail"u8, record.Detail);
        writer.WriteString("data"u8, record.Data);
        writer.WriteEndObject();
    }
}
