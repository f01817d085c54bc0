using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>
/// What the JSON-lines file sinks share: one reusable buffer of lines, appended to a file as one unit.
/// </summary>
/// <remarks>
/// Safe for concurrent writers (other sink instances, other processes) on the same file: each append holds an
/// exclusive lock on the file (a <see cref="FileShare.None"/> open, an advisory <c>flock</c> on Unix) while it writes
/// all its lines at the end, so lines of different appends never interleave. An append that fails part way (disk
/// full, cancellation) is cut back to where it started, so the file never ends in half a line.
/// </remarks>
internal sealed class JsonLinesFile(string path)
{
    /// <summary>How long an append waits for another writer to release the file before it gives up.</summary>
    internal static readonly TimeSpan LockWait = TimeSpan.FromSeconds(10);

    private static readonly JsonWriterOptions s_options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly ArrayBufferWriter<byte> _buffer = new(16 * 1024);

    /// <summary>Writes one line per item with <paramref name="writeLine"/>, then appends them all at once and flushes.</summary>
    /// <exception cref="IOException">The file stayed locked by another writer for <see cref="LockWait"/>, or the write failed.</exception>
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

        FileStream stream = await OpenExclusiveAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            long start = stream.Seek(0, SeekOrigin.End);
            try
            {
                await stream.WriteAsync(_buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                // Never leave half an append behind: the next one would start mid-line.
                TryTruncate(stream, start);
                throw;
            }
        }
    }

    private async Task<FileStream> OpenExclusiveAsync(CancellationToken cancellationToken)
    {
        long started = Environment.TickCount64;
        int wait = 1;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None, 4096, useAsync: true);
            }
            catch (IOException e) when (IsLockedByAnother(e) && Environment.TickCount64 - started < (long)LockWait.TotalMilliseconds)
            {
                // Another writer holds the file for the few milliseconds of its append.
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                wait = Math.Min(wait * 2, 50);
            }
        }
    }

    /// <summary>A sharing violation: a plain <see cref="IOException"/> on an open of a file that exists.</summary>
    private bool IsLockedByAnother(IOException e) =>
        e.GetType() == typeof(IOException) && File.Exists(path);

    private static void TryTruncate(FileStream stream, long length)
    {
        try
        {
            stream.SetLength(length);
        }
        catch (IOException)
        {
            // The disk is gone or full beyond repair: the original error says more.
        }
    }
}
