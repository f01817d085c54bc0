using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>
/// Hands out a per-thread <see cref="Utf8JsonWriter"/> for writing JSON lines, so a line costs no allocation (a poison
/// flood writes one line per record). Rent, write one or more lines with <see cref="EndLine"/>, return.
/// </summary>
internal static class JsonLineWriter
{
    private static readonly JsonWriterOptions s_options = new()
    {
        // Log lines are not HTML: keep '+', '<' and non-ASCII readable. Quotes and control characters are still escaped,
        // and invalid UTF-16 becomes U+FFFD, so a line never breaks in two.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    [ThreadStatic]
    private static Utf8JsonWriter? s_cached;

    /// <summary>A writer that writes into <paramref name="destination"/>; hand it back with <see cref="Return"/>.</summary>
    public static Utf8JsonWriter Rent(IBufferWriter<byte> destination)
    {
        Utf8JsonWriter? writer = s_cached;
        if (writer is null)
        {
            return new Utf8JsonWriter(destination, s_options);
        }

        s_cached = null;
        writer.Reset(destination);
        return writer;
    }

    /// <summary>Keeps the writer for the thread's next line, detached from the caller's buffer.</summary>
    public static void Return(Utf8JsonWriter writer)
    {
        writer.Reset(DetachedBuffer.Instance);
        s_cached = writer;
    }

    /// <summary>Closes the line's root object, flushes it, adds <c>\n</c> and readies the writer for the next line.</summary>
    public static void EndLine(Utf8JsonWriter writer, IBufferWriter<byte> destination)
    {
        writer.WriteEndObject();
        writer.Flush();
        destination.GetSpan(1)[0] = (byte)'\n';
        destination.Advance(1);
        writer.Reset(destination);
    }

    /// <summary>Where an idle cached writer points, so it holds no caller's buffer alive. Never written to.</summary>
    private sealed class DetachedBuffer : IBufferWriter<byte>
    {
        public static readonly DetachedBuffer Instance = new();

        public void Advance(int count) => ThrowHelper.ThrowInvalidOperation("A returned JSON line writer was used.");

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            ThrowHelper.ThrowInvalidOperation("A returned JSON line writer was used.");
            return default;
        }

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            ThrowHelper.ThrowInvalidOperation("A returned JSON line writer was used.");
            return default;
        }
    }
}
