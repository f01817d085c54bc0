using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>
/// Appends each poison record as one line of JSON to a local file:
/// <c>{"shardId":"..","sequenceNumber":"..","partitionKey":"..","reason":"..","detail":"..","data":"&lt;base64&gt;"}</c>
/// (with <c>"subSequenceNumber"</c> for a user record of a KPL aggregated record).
/// </summary>
public sealed class JsonLinesQuarantineSink : IQuarantineSink
{
    private readonly string _path;
    private readonly ArrayBufferWriter<byte> _buffer = new(16 * 1024);

    /// <summary>Creates the sink.</summary>
    /// <param name="path">The file; created when missing, appended to otherwise.</param>
    public JsonLinesQuarantineSink(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _path = path;
    }

    /// <inheritdoc/>
    public async Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        _buffer.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(_buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            foreach (QuarantinedRecord r in records)
            {
                writer.WriteStartObject();
                writer.WriteString("shardId"u8, r.ShardId);
                writer.WriteString("sequenceNumber"u8, r.SequenceNumber);
                if (r.SubSequenceNumber is int sub)
                {
                    writer.WriteNumber("subSequenceNumber"u8, sub);
                }

                writer.WriteString("partitionKey"u8, r.PartitionKey);
                writer.WriteString("reason"u8, r.Reason.ToString());
                writer.WriteString("detail"u8, r.Detail);
                writer.WriteString("data"u8, r.Data);
                writer.WriteEndObject();
                writer.Flush();
                writer.Reset();
                _buffer.Write("\n"u8);
            }
        }

        string? directory = Path.GetDirectoryName(Path.GetFullPath(_path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        var stream = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read, 4096, useAsync: true);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(_buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        return records.Count;
    }
}
