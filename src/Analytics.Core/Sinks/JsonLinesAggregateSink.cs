using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>
/// Appends each aggregate of a batch as one line of JSON to a local file (see <see cref="AggregateJsonLine"/>):
/// the default sink for local runs and tests, with no network.
/// </summary>
/// <remarks>
/// Appending is not idempotent: a re-delivered batch appends again. Use a sink with watermarks (the DynamoDB sink)
/// where re-delivery must not double-count.
/// </remarks>
public sealed class JsonLinesAggregateSink : IAggregateSink
{
    private readonly string _path;
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);

    /// <summary>Creates the sink.</summary>
    /// <param name="path">The file; created when missing, appended to otherwise.</param>
    public JsonLinesAggregateSink(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _path = path;
    }

    /// <inheritdoc/>
    public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        _buffer.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(_buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            for (int i = 0; i < batch.Count; i++)
            {
                AggregateJsonLine.Write(writer, batch.GetSeriesKey(i), batch.GetWindowStartMs(i), batch.GetWindowEndMs(i), batch.GetAggregate(i));
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

        for (int i = 0; i < batch.Count; i++)
        {
            batch.MarkDurable(i);
        }
    }
}
