using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;

namespace Analytics.Core.Fuzz;

/// <summary>An oracle saw behaviour the library does not promise: afl-fuzz records the input as a crash.</summary>
internal sealed class OracleFailure(string message) : Exception(message);

/// <summary>The checks shared by the targets.</summary>
internal static class Oracle
{
    /// <summary>The arrival time of every fuzzed record (2025-01-20T10:05:00Z), so the seeds' timestamps are in range.</summary>
    public const long ArrivalMs = 1_737_367_500_000;

    [DoesNotReturn]
    public static void Fail(string message) => throw new OracleFailure(message);

    public static void True([DoesNotReturnIf(false)] bool condition, string message)
    {
        if (!condition)
        {
            Fail(message);
        }
    }

    /// <summary>
    /// A poison verdict has a reason and a detail in the library's words: not empty, at most 256 UTF-8 bytes, printable
    /// ASCII only (the default field names are ASCII, so any other character came from the record). A valid one has none.
    /// </summary>
    public static void Verdict(PoisonReason reason, string? detail, string what)
    {
        True(Enum.IsDefined(reason), $"{what}: undefined reason {(int)reason}");
        if (reason == PoisonReason.None)
        {
            True(string.IsNullOrEmpty(detail), $"{what}: a valid verdict with a detail");
            return;
        }

        True(!string.IsNullOrEmpty(detail), $"{what}: {reason} without a detail");
        True(Encoding.UTF8.GetByteCount(detail) <= 256, $"{what}: a detail of more than 256 bytes");
        PrintableAscii(detail, what);
    }

    /// <summary>
    /// Library messages are printable ASCII (the default field names are ASCII) and never a JsonException's text,
    /// which quotes input bytes and ends with LineNumber and BytePositionInLine.
    /// </summary>
    public static void PrintableAscii(string message, string what)
    {
        foreach (char c in message)
        {
            True(c is >= ' ' and <= '~', $"{what}: the message holds a character the library never writes (U+{(int)c:X4}), a sign of record bytes");
        }

        True(!message.Contains("BytePositionInLine", StringComparison.Ordinal) && !message.Contains("LineNumber", StringComparison.Ordinal), $"{what}: the message is Utf8JsonReader's, which quotes the input");
    }

    /// <summary>Whether <paramref name="utf8"/> is one JSON value by <see cref="JsonDocument"/>; its root kind when it is.</summary>
    public static bool IsJson(ReadOnlySpan<byte> utf8, int maxDepth, out JsonValueKind kind)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(utf8.ToArray(), new JsonDocumentOptions { MaxDepth = maxDepth });
            kind = document.RootElement.ValueKind;
            return true;
        }
        catch (JsonException)
        {
            kind = JsonValueKind.Undefined;
            return false;
        }
    }
}
