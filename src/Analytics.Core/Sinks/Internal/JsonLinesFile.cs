using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>What the JSON-lines file sinks share: one reusable buffer of lines, appended to a file and flushed.</summary>
internal sealed class JsonLinesFile(string path)
{
    private static readonly JsonWriterOptions s_options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly ArrayBufferWriter<byte> _buffer = new(16 * 1024);

    /// <summary>Writes one line per item with <paramref name="writeLine"/>, then appends them all and flushes.</summary>
    public async Task AppendAsync<T>(IReadOnlyList<T> items, Action<Utf8JsonWriter, T> writeLine, CancellationToken cancellationToken)
    {
        _buffer.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(_buffer, s_options))
        {
            for (int i = 0; i < items.Count; i++)
            {
                writeLine(writer, items[i]);
                writer.Flush();
                writer.Reset();
                _buffer.Write("\n"u8);
            }
        }

        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 4096, useAsync: true);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(_buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
