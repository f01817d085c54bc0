using System.Globalization;
using System.Text.Json;

namespace Analytics.Tools.Redrive;

/// <summary>
/// Why a document is not JSON, by position and kind only. The reader's message quotes the offending byte
/// (<c>'0x00' is an invalid start of a value</c>), and that byte belongs to the object: no byte of an object may reach a
/// report line.
/// </summary>
internal static class JsonErrorText
{
    /// <summary>The depth <see cref="JsonDocument"/> allows by default.</summary>
    private const int MaxDepth = 64;

    /// <summary>The kind of error and its byte offset (from the start of <paramref name="json"/>), never a byte of it.</summary>
    /// <param name="json">The document that did not parse.</param>
    /// <param name="error">The reader's exception: only its line and byte position are used.</param>
    /// <returns>For example <c>invalid JSON at byte 0 (line 1, byte 0 of that line)</c>.</returns>
    public static string Describe(ReadOnlySpan<byte> json, JsonException error)
    {
        long line = error.LineNumber ?? 0;
        long inLine = error.BytePositionInLine ?? 0;
        long offset = Offset(json, line, inLine);
        string kind = TooDeep(json) ? $"nested deeper than {MaxDepth} levels"
            : offset >= json.Length ? "the JSON ends before it is complete"
            : "invalid JSON";
        return string.Create(CultureInfo.InvariantCulture, $"{kind} at byte {offset} of {json.Length} (line {line + 1}, byte {inLine} of that line)");
    }

    /// <summary>The offset of byte <paramref name="inLine"/> of line <paramref name="line"/> (lines end at LF, as the reader counts them).</summary>
    private static long Offset(ReadOnlySpan<byte> json, long line, long inLine)
    {
        long start = 0;
        for (long l = 0; l < line && start < json.Length; l++)
        {
            int next = json[(int)start..].IndexOf((byte)'\n');
            if (next < 0)
            {
                break;
            }

            start += next + 1;
        }

        return start + inLine;
    }

    /// <summary>Whether the reader stops for depth: it fails while it stands at the deepest level it allows.</summary>
    private static bool TooDeep(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MaxDepth });
        try
        {
            while (reader.Read())
            {
            }

            return false;
        }
        catch (JsonException)
        {
            return reader.CurrentDepth >= MaxDepth - 1;
        }
    }
}
