using System.Buffers;
using System.Buffers.Text;
using System.Runtime.CompilerServices;

namespace Analytics.Core;

/// <summary>The kind of token a <see cref="JsonTokenizer"/> stands on.</summary>
internal enum JsonToken : byte
{
    None,
    StartObject,
    EndObject,
    StartArray,
    EndArray,
    PropertyName,
    String,
    Number,
    True,
    False,
    Null,
}

/// <summary>
/// A forward-only JSON tokenizer over one value in UTF-8 that reports a syntax error as a result (the offset of the
/// offending byte), never as an exception, and never allocates below 128 levels of nesting.
/// </summary>
/// <remarks>
/// <para>It exists so that a hostile record costs what a valid one costs: <see cref="System.Text.Json.Utf8JsonReader"/>
/// can only report invalid JSON by throwing, and a thrown and caught exception costs about 10 μs, some 15 times
/// the tokenizing of a whole valid payload. Measured (TokenizerBenchmarks, docs/performance.md): on 100 payloads broken in the
/// middle 1,070 μs with Utf8JsonReader (the exception) against 17 μs with this tokenizer, 63 times less; on valid
/// payloads the two were within the run's noise (98 μs and 72 μs). It accepts exactly what Utf8JsonReader accepts with default options (RFC 8259; no
/// comments, no trailing commas) and reports an error at the same <see cref="Read"/> call and the same byte offset
/// (tests compare the two on generated and mutated input). The input must be valid UTF-8: the caller checks it once
/// for the whole record.</para>
/// <para>Offsets are indices into the span given to the constructor. Reading starts at <c>start</c>, which must hold
/// the first byte of the value (not white space).</para>
/// </remarks>
[SkipLocalsInit]
internal ref struct JsonTokenizer
{
    private const int InlineDepth = 128;

    // '"', '\\' and the control characters a JSON string may not hold raw: the bytes that end a run of plain
    // string content. SearchValues scans 16 or 32 bytes per step (as Utf8JsonReader does; not measured apart).
    private static readonly SearchValues<byte> s_stringSpecial = SearchValues.Create(
        "\"\\\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u000A\u000B\u000C\u000D\u000E\u000F\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F"u8);

    private readonly ReadOnlySpan<byte> _data;
    private int _position;
    private int _depth;
    private ulong _stack0; // bit d: 1 when nesting level d + 1 is an object
    private ulong _stack1;
    private ulong[]? _stackMore;
    private JsonToken _token;
    private int _tokenStart;
    private int _valueStart;
    private int _valueLength;
    private bool _escaped;
    private int _errorOffset;

    /// <summary>Starts before the value at <paramref name="start"/>.</summary>
    public JsonTokenizer(ReadOnlySpan<byte> data, int start)
    {
        _data = data;
        _position = start;
        _depth = 0;
        _stack0 = 0;
        _stack1 = 0;
        _stackMore = null;
        _token = JsonToken.None;
        _tokenStart = start;
        _valueStart = start;
        _valueLength = 0;
        _escaped = false;
        _errorOffset = -1;
    }

    /// <summary>The current token.</summary>
    public readonly JsonToken TokenType => _token;

    /// <summary>The offset of the current token's first byte (a string's or property name's opening quote).</summary>
    public readonly int TokenStartIndex => _tokenStart;

    /// <summary>The current token's bytes: a string's or property name's raw content without quotes, a number's text.</summary>
    public readonly ReadOnlySpan<byte> ValueSpan => _data.Slice(_valueStart, _valueLength);

    /// <summary>Whether the current string or property name holds a backslash escape.</summary>
    public readonly bool ValueIsEscaped => _escaped;

    /// <summary>
    /// The nesting depth of the current token as <see cref="System.Text.Json.Utf8JsonReader.CurrentDepth"/> counts it:
    /// a container's start and end tokens have the depth of the level that holds them.
    /// </summary>
    public readonly int CurrentDepth => _token is JsonToken.StartObject or JsonToken.StartArray ? _depth - 1 : _depth;

    /// <summary>The offset just after the current token.</summary>
    public readonly int Position => _position;

    /// <summary>After <see cref="Read"/> returned <see langword="false"/>: the offset of the syntax error (the data's length when it ended early).</summary>
    public readonly int ErrorOffset => _errorOffset;

    /// <summary>Moves to the next token.</summary>
    /// <returns><see langword="false"/> at a syntax error (see <see cref="ErrorOffset"/>); then the tokenizer stays put.</returns>
    public bool Read()
    {
        ReadOnlySpan<byte> data = _data;
        int pos = _position;
        if (_token == JsonToken.None)
        {
            return ReadValue(pos);
        }

        while (pos < data.Length && JsonText.IsWhiteSpace(data[pos]))
        {
            pos++;
        }

        if (pos >= data.Length)
        {
            return Error(data.Length);
        }

        byte c = data[pos];
        switch (_token)
        {
            case JsonToken.StartObject:
                return c == (byte)'}' ? EndContainer(pos, JsonToken.EndObject) : c == (byte)'"' ? ReadPropertyName(pos) : Error(pos);
            case JsonToken.StartArray:
                return c == (byte)']' ? EndContainer(pos, JsonToken.EndArray) : ReadValue(pos);
            case JsonToken.PropertyName:
                return ReadValue(pos);
            default:
                // A value or a container's end: a separator or the end of the enclosing container follows.
                if (_depth == 0)
                {
                    return Error(pos);
                }

                bool inObject = InObject;
                if (c == (byte)',')
                {
                    int comma = pos;
                    pos++;
                    while (pos < data.Length && JsonText.IsWhiteSpace(data[pos]))
                    {
                        pos++;
                    }

                    if (pos >= data.Length)
                    {
                        // Where Utf8JsonReader points: at the comma when it is the last byte, else at the end.
                        return Error(pos == comma + 1 ? comma : data.Length);
                    }

                    return !inObject ? ReadValue(pos) : data[pos] == (byte)'"' ? ReadPropertyName(pos) : Error(pos);
                }

                return c == (inObject ? (byte)'}' : (byte)']')
                    ? EndContainer(pos, inObject ? JsonToken.EndObject : JsonToken.EndArray)
                    : Error(pos);
        }
    }

    private readonly bool InObject
    {
        get
        {
            int level = _depth - 1;
            ulong word = level < 64 ? _stack0 : level < InlineDepth ? _stack1 : _stackMore![(level - InlineDepth) / 64];
            return (word & (1UL << (level % 64))) != 0;
        }
    }

    private bool ReadValue(int pos)
    {
        ReadOnlySpan<byte> data = _data;
        byte c = data[pos];
        _tokenStart = pos;
        _escaped = false;
        switch (c)
        {
            case (byte)'{':
                return StartContainer(pos, JsonToken.StartObject);
            case (byte)'[':
                return StartContainer(pos, JsonToken.StartArray);
            case (byte)'"':
                if (!ScanString(pos))
                {
                    return false;
                }

                _token = JsonToken.String;
                return true;
            case (byte)'t':
                return ReadLiteral(pos, "true"u8, JsonToken.True);
            case (byte)'f':
                return ReadLiteral(pos, "false"u8, JsonToken.False);
            case (byte)'n':
                return ReadLiteral(pos, "null"u8, JsonToken.Null);
            default:
                return c == (byte)'-' || (uint)(c - '0') <= 9 ? ReadNumber(pos) : Error(pos);
        }
    }

    private bool StartContainer(int pos, JsonToken token)
    {
        int level = _depth;
        ulong bit = 1UL << (level % 64);
        bool isObject = token == JsonToken.StartObject;
        if (level < 64)
        {
            _stack0 = isObject ? _stack0 | bit : _stack0 & ~bit;
        }
        else if (level < InlineDepth)
        {
            _stack1 = isObject ? _stack1 | bit : _stack1 & ~bit;
        }
        else
        {
            // Deeper than 128 levels: only when the schema allows it (MaxDepth), so the cost is the configuration's.
            int index = (level - InlineDepth) / 64;
            if (_stackMore is null || index >= _stackMore.Length)
            {
                Array.Resize(ref _stackMore, index + 4);
            }

            _stackMore[index] = isObject ? _stackMore[index] | bit : _stackMore[index] & ~bit;
        }

        _depth++;
        _token = token;
        _tokenStart = pos;
        _valueStart = pos;
        _valueLength = 1;
        _position = pos + 1;
        return true;
    }

    private bool EndContainer(int pos, JsonToken token)
    {
        _depth--;
        _token = token;
        _tokenStart = pos;
        _valueStart = pos;
        _valueLength = 1;
        _escaped = false;
        _position = pos + 1;
        return true;
    }

    private bool ReadPropertyName(int pos)
    {
        _tokenStart = pos;
        if (!ScanString(pos))
        {
            return false;
        }

        ReadOnlySpan<byte> data = _data;
        int after = _position;
        while (after < data.Length && JsonText.IsWhiteSpace(data[after]))
        {
            after++;
        }

        if (after >= data.Length)
        {
            return Error(data.Length);
        }

        if (data[after] != (byte)':')
        {
            return Error(after);
        }

        _position = after + 1;
        _token = JsonToken.PropertyName;
        return true;
    }

    /// <summary>Scans the string whose opening quote is at <paramref name="quote"/>; sets the value span and the position after the closing quote.</summary>
    private bool ScanString(int quote)
    {
        ReadOnlySpan<byte> data = _data;
        int start = quote + 1;
        int i = start;
        bool escaped = false;
        while (true)
        {
            int next = i < data.Length ? data.Slice(i).IndexOfAny(s_stringSpecial) : -1;
            if (next < 0)
            {
                return Error(data.Length);
            }

            i += next;
            byte c = data[i];
            if (c == (byte)'"')
            {
                break;
            }

            if (c != (byte)'\\')
            {
                return Error(i); // a raw control character
            }

            escaped = true;
            i++;
            if (i >= data.Length)
            {
                return Error(data.Length);
            }

            c = data[i];
            if (c == (byte)'u')
            {
                for (int h = 1; h <= 4; h++)
                {
                    if (i + h >= data.Length)
                    {
                        return Error(data.Length);
                    }

                    if (!char.IsAsciiHexDigit((char)data[i + h]))
                    {
                        return Error(i + h);
                    }
                }

                i += 5;
            }
            else if (c is (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t')
            {
                i++;
            }
            else
            {
                return Error(i);
            }
        }

        _valueStart = start;
        _valueLength = i - start;
        _escaped = escaped;
        _position = i + 1;
        return true;
    }

    private bool ReadLiteral(int pos, ReadOnlySpan<byte> literal, JsonToken token)
    {
        ReadOnlySpan<byte> rest = _data.Slice(pos);
        int common = rest.CommonPrefixLength(literal);
        if (common < literal.Length)
        {
            return Error(pos + common);
        }

        _token = token;
        _valueStart = pos;
        _valueLength = literal.Length;
        _position = pos + literal.Length;
        return true;
    }

    private bool ReadNumber(int pos)
    {
        ReadOnlySpan<byte> data = _data;
        int i = pos;
        if (data[i] == (byte)'-')
        {
            i++;
            if (i >= data.Length)
            {
                return Error(data.Length);
            }
        }

        if (data[i] == (byte)'0')
        {
            i++;
        }
        else if (IsDigit(data[i]))
        {
            i = SkipDigits(data, i + 1);
        }
        else
        {
            return Error(i);
        }

        if (i < data.Length && data[i] == (byte)'.')
        {
            i++;
            if (i >= data.Length)
            {
                return Error(data.Length);
            }

            if (!IsDigit(data[i]))
            {
                return Error(i);
            }

            i = SkipDigits(data, i + 1);
        }

        if (i < data.Length && (data[i] | 0x20) == (byte)'e')
        {
            i++;
            if (i < data.Length && data[i] is (byte)'+' or (byte)'-')
            {
                i++;
            }

            if (i >= data.Length)
            {
                return Error(data.Length);
            }

            if (!IsDigit(data[i]))
            {
                return Error(i);
            }

            i = SkipDigits(data, i + 1);
        }

        // A number inside a container must be followed by something; Utf8JsonReader's delimiters after a number
        // ('/' would start a comment, refused by the next Read).
        if (i >= data.Length && _depth > 0)
        {
            return Error(data.Length);
        }

        if (i < data.Length && data[i] is not ((byte)',' or (byte)'}' or (byte)']' or (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t' or (byte)'/'))
        {
            return Error(i);
        }

        _token = JsonToken.Number;
        _valueStart = pos;
        _valueLength = i - pos;
        _position = i;
        return true;
    }

    private static bool IsDigit(byte b) => (uint)(b - '0') <= 9;

    private static int SkipDigits(ReadOnlySpan<byte> data, int i)
    {
        while (i < data.Length && IsDigit(data[i]))
        {
            i++;
        }

        return i;
    }

    private bool Error(int offset)
    {
        _errorOffset = offset;
        return false;
    }

    /// <summary>The current number token as a double, as <see cref="System.Text.Json.Utf8JsonReader.TryGetDouble"/> reads it.</summary>
    public readonly bool TryGetDouble(out double value) =>
        Utf8Parser.TryParse(ValueSpan, out value, out int consumed) && consumed == _valueLength;

    /// <summary>The current number token as an integer, as <see cref="System.Text.Json.Utf8JsonReader.TryGetInt64"/> reads it.</summary>
    public readonly bool TryGetInt64(out long value) =>
        Utf8Parser.TryParse(ValueSpan, out value, out int consumed) && consumed == _valueLength;

    /// <summary>Whether the current string or property name, unescaped, is <paramref name="text"/>; a lone-surrogate escape equals nothing.</summary>
    public readonly bool ValueTextEquals(ReadOnlySpan<byte> text)
    {
        ReadOnlySpan<byte> raw = ValueSpan;
        if (!_escaped)
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
        return JsonText.Unescape(raw, unescaped.Slice(0, text.Length + 1), out int written) == UnescapeStatus.Ok
            && unescaped.Slice(0, written).SequenceEqual(text);
    }

    /// <summary>Copies the current string, unescaped, failing when it would exceed <paramref name="limit"/> bytes.</summary>
    public readonly UnescapeStatus CopyString(Span<byte> destination, int limit, out int written)
    {
        ReadOnlySpan<byte> raw = ValueSpan;
        if (!_escaped)
        {
            written = raw.Length;
            if (raw.Length > limit)
            {
                return UnescapeStatus.TooLong;
            }

            raw.CopyTo(destination);
            return UnescapeStatus.Ok;
        }

        return JsonText.Unescape(raw, destination.Slice(0, Math.Min(limit, destination.Length)), out written);
    }
}
