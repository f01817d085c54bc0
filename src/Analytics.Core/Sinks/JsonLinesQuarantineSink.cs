using System.Text.Json;

namespace Analytics.Core;

/// <summary>
/// Appends each poison record as one line of JSON to a local file:
/// <c>{"shardId":"..","sequenceNumber":"..","partitionKey":"..","reason":"..","detail":"..","data":"&lt;base64&gt;"}</c>
/// (with <c>"subSequenceNumber"</c> for a KPL aggregated record: its first poison user record, and
/// <c>"poisonSubSequenceNumbers"</c> when it holds several, whose <c>data</c> is then the whole container).
/// </summary>
/// <remarks>
/// Several writers (sink instances, processes) may share one file: each batch is appended as one unit under an
/// exclusive lock on the file, so lines never interleave, and an append that fails part way is cut back.
/// </remarks>
public sealed class JsonLinesQuarantineSink : IQuarantineSink
{
    private readonly JsonLinesFile _file;

    /// <summary>Creates the sink.</summary>
    /// <param name="path">The file; created when missing, appended to otherwise.</param>
    public JsonLinesQuarantineSink(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _file = new JsonLinesFile(path);
    }

    /// <inheritdoc/>
    public async Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        await _file.AppendAsync(records, WriteLine, cancellationToken).ConfigureAwait(false);
        return records.Count;
    }

    private static void WriteLine(Utf8JsonWriter writer, QuarantinedRecord r)
    {
        writer.WriteStartObject();
        writer.WriteString("shardId"u8, r.ShardId);
        writer.WriteString("sequenceNumber"u8, r.SequenceNumber);
        if (r.SubSequenceNumber is int sub)
        {
            writer.WriteNumber("subSequenceNumber"u8, sub);
        }

        if (r.PoisonSubSequenceNumbers is { Count: > 1 } subs)
        {
            writer.WriteStartArray("poisonSubSequenceNumbers"u8);
            foreach (int poisonSub in subs)
            {
                writer.WriteNumberValue(poisonSub);
            }

            writer.WriteEndArray();
        }

        writer.WriteString("partitionKey"u8, r.PartitionKey);
        if (r.PartitionKeyBase64 is not null)
        {
            writer.WriteString("partitionKeyBase64"u8, r.PartitionKeyBase64);
        }

        writer.WriteString("reason"u8, r.Reason.ToString());
        writer.WriteString("detail"u8, r.Detail);
        writer.WriteString("data"u8, r.Data);
        writer.WriteEndObject();
    }
}
