using System.Buffers.Text;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>Outcome of unescaping a JSON string.</summary>
internal enum UnescapeStatus
{
    Ok,
    TooLong,
    InvalidEscape,
}

/// <summary>JSON string helpers that never throw and never allocate.</summary>
internal static class JsonText
{
    /// <summary>
    /// Copies the current string token of <paramref name="reader"/> into <paramref name="destination"/>, unescaped,
    /// failing when the result would exceed <paramref name="limit"/> bytes.
    /// </summary>
    public static UnescapeStatus CopyString(ref readonly Utf8JsonReader reader, Span<byte> destination, int limit, out int written)
    {
        ReadOnlySpan<byte> raw = reader.ValueSpan;
        if (!reader.ValueIsEscaped)
        {
            written = raw.Length;
            if (raw.Length > limit)
            {
                return UnescapeStatus.TooLong;
            }

            raw.CopyTo(destination);
            return UnescapeStatus.Ok;
        }

        return Unescape(raw, destination.Slice(0, Math.Min(limit, destination.Length)), out written);
    }

    /// <summary>
    /// <see cref="Utf8JsonReader.ValueTextEquals(ReadOnlySpan{byte})"/> that never throws: that one throws
    /// <see cref="InvalidOperationException"/> when the token's escapes encode a lone surrogate, which JSON allows.
    /// Such a token equals no text (<paramref name="text"/> is valid UTF-8).
    /// </summary>
    public static bool ValueTextEquals(ref readonly Utf8JsonReader reader, ReadOnlySpan<byte> text)
    {
        ReadOnlySpan<byte> raw = reader.ValueSpan;
        if (!reader.ValueIsEscaped)
        {
            return raw.SequenceEqual(text);
        }

        // Unescaping never lengthens. One byte more than the text tells "longer" from "equal" (TooLong).
        const int StackLimit = 256;
        if (text.Length > raw.Length)
        {
            return false;
        }

        Span<byte> unescaped = text.Length < StackLimit ? stackalloc byte[StackLimit] : new byte[text.Length + 1];
        return Unescape(raw, unescaped.Slice(0, text.Length + 1), out int written) == UnescapeStatus.Ok
            && unescaped.Slice(0, written).SequenceEqual(text);
    }

    /// <summary>
    /// Whether the current string token is text: its escapes encode no lone surrogate. Utf8JsonReader's accessors
    /// that unescape (TryGetDateTimeOffset, TryGetBytesFromBase64, GetString) throw on one; call this first.
    /// </summary>
    public static bool IsText(ref readonly Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped)
        {
            return true;
        }

        ReadOnlySpan<byte> raw = reader.ValueSpan;
        int i = raw.IndexOf((byte)'\\');
        while (i >= 0 && i + 1 < raw.Length)
        {
            if (raw[i + 1] != (byte)'u' || !TryHex4(raw, i + 2, out int unit))
            {
                i += 2; // A simple escape (the reader has checked the syntax).
            }
            else if (unit is >= 0xD800 and <= 0xDBFF)
            {
                if (i + 12 > raw.Length || raw[i + 6] != (byte)'\\' || raw[i + 7] != (byte)'u' || !TryHex4(raw, i + 8, out int low) || low is < 0xDC00 or > 0xDFFF)
                {
                    return false;
                }

                i += 12;
            }
            else if (unit is >= 0xDC00 and <= 0xDFFF)
            {
                return false;
            }
            else
            {
                i += 6;
            }

            int next = i < raw.Length ? raw.Slice(i).IndexOf((byte)'\\') : -1;
            i = next < 0 ? -1 : i + next;
        }

        return true;
    }

    /// <summary>
    /// Whether two JSON string contents (the bytes between the quotes, escapes as they stand) spell the same text:
    /// the same bytes are, two contents without escapes that differ are not; otherwise each is unescaped (on the stack up
    /// to 512 bytes, more than a stream's or a consumer's ARN holds). A content whose escapes are not text (a lone
    /// surrogate) is compared as it is spelled, as the pipeline keeps it.
    /// </summary>
    public static bool SameText(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.SequenceEqual(b))
        {
            return true;
        }

        if (a.IndexOf((byte)'\\') < 0 && b.IndexOf((byte)'\\') < 0)
        {
            return false;
        }

        // Unescaping never lengthens a content.
        const int StackLimit = 512;
        Span<byte> first = a.Length <= StackLimit ? stackalloc byte[StackLimit] : new byte[a.Length];
        Span<byte> second = b.Length <= StackLimit ? stackalloc byte[StackLimit] : new byte[b.Length];
        ReadOnlySpan<byte> left = Unescape(a, first, out int leftLength) == UnescapeStatus.Ok ? first.Slice(0, leftLength) : a;
        ReadOnlySpan<byte> right = Unescape(b, second, out int rightLength) == UnescapeStatus.Ok ? second.Slice(0, rightLength) : b;
        return left.SequenceEqual(right);
    }

    /// <summary>
    /// The text a JSON string content spells (the bytes between the quotes, escapes resolved); a content whose escapes
    /// are not text (a lone surrogate) as it is spelled. Allocates the string, and a buffer only when it holds escapes.
    /// </summary>
    public static string GetText(ReadOnlySpan<byte> raw) => KinesisRecord.GetString(raw, raw.IndexOf((byte)'\\') >= 0);

    /// <summary>Unescapes the raw bytes of a JSON string (without quotes). Lone surrogates are invalid.</summary>
    public static UnescapeStatus Unescape(ReadOnlySpan<byte> raw, Span<byte> destination, out int written)
    {
        written = 0;
        int i = 0;
        while (i < raw.Length)
        {
            int backslash = raw.Slice(i).IndexOf((byte)'\\');
            int plain = backslash < 0 ? raw.Length - i : backslash;
            if (written + plain > destination.Length)
            {
                return UnescapeStatus.TooLong;
            }

            raw.Slice(i, plain).CopyTo(destination.Slice(written));
            written += plain;
            i += plain;
            if (backslash < 0)
            {
                break;
            }

            if (i + 1 >= raw.Length)
            {
                return UnescapeStatus.InvalidEscape;
            }

            byte c = raw[i + 1];
            i += 2;
            byte simple = c switch
            {
                (byte)'"' => (byte)'"',
                (byte)'\\' => (byte)'\\',
                (byte)'/' => (byte)'/',
                (byte)'b' => (byte)'\b',
                (byte)'f' => (byte)'\f',
                (byte)'n' => (byte)'\n',
                (byte)'r' => (byte)'\r',
                (byte)'t' => (byte)'\t',
                _ => 0,
            };
            if (simple != 0)
            {
                if (written >= destination.Length)
                {
                    return UnescapeStatus.TooLong;
                }

                destination[written++] = simple;
                continue;
            }

            if (c != (byte)'u' || !TryHex4(raw, i, out int codeUnit))
            {
                return UnescapeStatus.InvalidEscape;
            }

            i += 4;
            int scalar = codeUnit;
            if (codeUnit is >= 0xD800 and <= 0xDBFF)
            {
                if (i + 6 > raw.Length || raw[i] != (byte)'\\' || raw[i + 1] != (byte)'u' || !TryHex4(raw, i + 2, out int low) || low is < 0xDC00 or > 0xDFFF)
                {
                    return UnescapeStatus.InvalidEscape;
                }

                i += 6;
                scalar = 0x10000 + ((codeUnit - 0xD800) << 10) + (low - 0xDC00);
            }
            else if (codeUnit is >= 0xDC00 and <= 0xDFFF)
            {
                return UnescapeStatus.InvalidEscape;
            }

            int needed = scalar < 0x80 ? 1 : scalar < 0x800 ? 2 : scalar < 0x10000 ? 3 : 4;
            if (written + needed > destination.Length)
            {
                return UnescapeStatus.TooLong;
            }

            Span<byte> d = destination.Slice(written);
            switch (needed)
            {
                case 1:
                    d[0] = (byte)scalar;
                    break;
                case 2:
                    d[0] = (byte)(0xC0 | (scalar >> 6));
                    d[1] = (byte)(0x80 | (scalar & 0x3F));
                    break;
                case 3:
                    d[0] = (byte)(0xE0 | (scalar >> 12));
                    d[1] = (byte)(0x80 | ((scalar >> 6) & 0x3F));
                    d[2] = (byte)(0x80 | (scalar & 0x3F));
                    break;
                default:
                    d[0] = (byte)(0xF0 | (scalar >> 18));
                    d[1] = (byte)(0x80 | ((scalar >> 12) & 0x3F));
                    d[2] = (byte)(0x80 | ((scalar >> 6) & 0x3F));
                    d[3] = (byte)(0x80 | (scalar & 0x3F));
                    break;
            }

            written += needed;
        }

        return UnescapeStatus.Ok;
    }

    private static bool TryHex4(ReadOnlySpan<byte> raw, int start, out int value)
    {
        value = 0;
        if (start + 4 > raw.Length)
        {
            return false;
        }

        return Utf8Parser.TryParse(raw.Slice(start, 4), out ushort v, out int consumed, 'X') && consumed == 4 && (value = v) >= 0;
    }

    /// <summary>
    /// The byte offset in <paramref name="json"/> of the error a <see cref="Utf8JsonReader"/> over it threw, from the
    /// exception's line and byte-in-line (never from its message, which quotes the input).
    /// </summary>
    public static int ErrorOffset(ReadOnlySpan<byte> json, JsonException exception)
    {
        long line = exception.LineNumber ?? 0;
        long inLine = exception.BytePositionInLine ?? 0;
        int lineStart = 0;
        for (long i = 0; i < line; i++)
        {
            int newline = json.Slice(lineStart).IndexOf((byte)'\n');
            if (newline < 0)
            {
                return json.Length;
            }

            lineStart += newline + 1;
        }

        return (int)Math.Min(json.Length, lineStart + inLine);
    }

    /// <summary>Whether the span holds only JSON white space.</summary>
    public static bool IsWhiteSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r';
}
