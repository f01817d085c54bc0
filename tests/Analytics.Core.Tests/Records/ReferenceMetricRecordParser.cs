using System.Text.Json;
using System.Text.Unicode;

namespace Analytics.Core.Tests.Records;

/// <summary>
/// The record parser as it was before it had a tokenizer of its own: Utf8JsonReader, with a syntax error caught as
/// <see cref="JsonException"/>. Kept unchanged as the oracle the new parser must agree with, reason, message and
/// byte offset, on every input (see <see cref="MetricRecordParserAgreementTests"/>).
/// </summary>
internal ref struct ReferenceMetricRecordParser
{
    /// <summary>The size of the scratch buffer the parser needs.</summary>
    internal const int ScratchSize = SeriesKey.MaxEncodedBytes + MetricScratch + DimensionScratch;

    private const int MetricScratch = SeriesKey.MaxMetricBytes;
    private const int DimensionScratch = SeriesKey.MaxDimensions * (SeriesKey.MaxDimensionKeyBytes + SeriesKey.MaxDimensionValueBytes);
    private const long MaxTimestampMs = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

    private readonly ReadOnlySpan<byte> _data;
    private readonly Span<byte> _scratch;
    private readonly MetricSchema _schema;
    private readonly long _arrivalMs;
    private int _position;
    private int _sampleCount;
    private bool _started;
    private PoisonReason _reason;
    private string _detailMessage;
    private int _detailOffset;

    /// <summary>Starts reading a record.</summary>
    /// <param name="data">The record's decoded data.</param>
    /// <param name="scratch">A buffer of at least <see cref="ScratchSize"/> bytes; sample keys are built in it.</param>
    /// <param name="schema">The schema.</param>
    /// <param name="arrivalTimestampMs">The record's approximate arrival, epoch milliseconds: the time reference for timestamp checks.</param>
    /// <exception cref="ArgumentException"><paramref name="scratch"/> is too small.</exception>
    public ReferenceMetricRecordParser(ReadOnlySpan<byte> data, Span<byte> scratch, MetricSchema schema, long arrivalTimestampMs)
    {
        ArgumentNullException.ThrowIfNull(schema);
        if (scratch.Length < ScratchSize)
        {
            ThrowHelper.ThrowArgument(nameof(scratch), "The scratch buffer must hold MetricRecordParser.ScratchSize bytes.");
        }

        _data = data;
        _scratch = scratch;
        _schema = schema;
        _arrivalMs = arrivalTimestampMs;
        _position = 0;
        _sampleCount = 0;
        _started = false;
        _reason = PoisonReason.None;
        _detailMessage = string.Empty;
        _detailOffset = 0;
    }

    /// <summary>Why the record is poison, or <see cref="PoisonReason.None"/>.</summary>
    public readonly PoisonReason Reason => _reason;

    /// <summary>Byte offset in the data where the problem was found (the offset of <see cref="GetDetail"/>).</summary>
    public readonly int DetailOffset => _detailOffset;

    /// <summary>What is wrong, without the offset (a constant text; no allocation).</summary>
    public readonly string DetailMessage => _detailMessage;

    /// <summary>Samples read so far.</summary>
    public readonly int SampleCount => _sampleCount;

    /// <summary>The detail of <see cref="Reason"/> as one short line: message and byte offset (allocates).</summary>
    /// <returns>The detail, or an empty string when the record is not poison.</returns>
    public readonly string GetDetail() =>
        _reason == PoisonReason.None ? string.Empty : $"{_detailMessage} at byte {_detailOffset}";

    /// <summary>Reads the next sample.</summary>
    /// <param name="sample">The sample, when the method returns <see langword="true"/>.</param>
    /// <returns><see langword="false"/> at the end of the record or at the first error (see <see cref="Reason"/>).</returns>
    public bool TryReadSample(out MetricSample sample)
    {
        sample = default;
        if (_reason != PoisonReason.None)
        {
            return false;
        }

        if (!_started && !Start())
        {
            return false;
        }

        bool sawNewline = false;
        while (_position < _data.Length && JsonText.IsWhiteSpace(_data[_position]))
        {
            sawNewline |= _data[_position] == (byte)'\n';
            _position++;
        }

        if (_position == _data.Length)
        {
            return _sampleCount == 0 && Fail(PoisonReason.EmptyData, "the record holds no sample", 0);
        }

        if (_sampleCount > 0 && !sawNewline)
        {
            return Fail(PoisonReason.InvalidJson, "trailing content after a JSON value on the same line", _position);
        }

        if (_data[_position] != (byte)'{')
        {
            return Fail(PoisonReason.InvalidJson, "a top-level value is not a JSON object", _position);
        }

        var reader = new Utf8JsonReader(_data.Slice(_position), new JsonReaderOptions { MaxDepth = _schema.Options.MaxDepth + 1 });
        int keyLength;
        double value;
        long timestamp;
        try
        {
            if (!ParseSample(ref reader, out keyLength, out value, out timestamp))
            {
                return false;
            }
        }
        catch (JsonException e)
        {
            // Utf8JsonReader has no non-throwing mode; a syntax error is rare and always poison, so this is off the
            // hot path. Its message quotes the record's bytes, so it is never used: the detail is our own words and
            // the offset of the error.
            int at = _position + JsonText.ErrorOffset(_data.Slice(_position), e);
            return Fail(
                PoisonReason.InvalidJson,
                at >= _data.Length ? "the JSON ends before the sample object is complete" : "invalid JSON syntax",
                Math.Min(at, _data.Length));
        }

        _position += (int)reader.BytesConsumed;
        _sampleCount++;
        sample = new MetricSample(_scratch.Slice(0, keyLength), value, timestamp);
        return true;
    }

    private bool Start()
    {
        _started = true;
        if (_data.Length > _schema.Options.MaxRecordBytes)
        {
            return Fail(PoisonReason.TooLarge, "the record is larger than the limit", _schema.Options.MaxRecordBytes);
        }

        if (_data.IsEmpty)
        {
            return Fail(PoisonReason.EmptyData, "the record is empty", 0);
        }

        if (!Utf8.IsValid(_data))
        {
            return Fail(PoisonReason.InvalidUtf8, "the record is not valid UTF-8", InvalidUtf8Offset(_data));
        }

        if (_data.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            _position = 3;
        }

        return true;
    }

    /// <summary>The offset of the first byte that does not start a valid UTF-8 sequence (poison path only).</summary>
    private static int InvalidUtf8Offset(ReadOnlySpan<byte> data)
    {
        int offset = 0;
        while (offset < data.Length && System.Text.Rune.DecodeFromUtf8(data.Slice(offset), out _, out int consumed) == System.Buffers.OperationStatus.Done)
        {
            offset += consumed;
        }

        return offset;
    }

    private bool ParseSample(ref Utf8JsonReader reader, out int keyLength, out double value, out long timestamp)
    {
        keyLength = 0;
        value = 0;
        timestamp = 0;
        reader.Read(); // the StartObject checked by the caller

        const int HasMetric = 1, HasValue = 2, HasTimestamp = 4, HasDimensions = 8;
        ParserMessages messages = _schema.Messages;
        int seen = 0;
        int timestampOffset = 0;
        int endOffset;
        int metricLength = 0;
        int dimensionCount = 0;
        Span<int> dims = stackalloc int[SeriesKey.MaxDimensions * 4];
        Span<byte> metricScratch = _scratch.Slice(SeriesKey.MaxEncodedBytes, MetricScratch);
        Span<byte> dimScratch = _scratch.Slice(SeriesKey.MaxEncodedBytes + MetricScratch);

        while (true)
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                endOffset = _position + (int)reader.TokenStartIndex;
                break;
            }

            int fieldOffset = _position + (int)reader.TokenStartIndex;
            int field =
                JsonText.ValueTextEquals(ref reader, _schema.MetricField) ? HasMetric :
                JsonText.ValueTextEquals(ref reader, _schema.ValueField) ? HasValue :
                JsonText.ValueTextEquals(ref reader, _schema.TimestampField) ? HasTimestamp :
                JsonText.ValueTextEquals(ref reader, _schema.DimensionsField) ? HasDimensions : 0;
            if ((seen & field) != 0)
            {
                return Fail(
                    PoisonReason.DuplicateField,
                    field switch
                    {
                        HasMetric => messages.MetricTwice,
                        HasValue => messages.ValueTwice,
                        HasTimestamp => messages.TimestampTwice,
                        _ => messages.DimensionsTwice,
                    },
                    fieldOffset);
            }

            seen |= field;
            reader.Read();
            int valueOffset = _position + (int)reader.TokenStartIndex;
            switch (field)
            {
                case HasMetric:
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        return Fail(PoisonReason.WrongType, messages.MetricNotString, valueOffset);
                    }

                    UnescapeStatus metricStatus = JsonText.CopyString(ref reader, metricScratch, SeriesKey.MaxMetricBytes, out metricLength);
                    if (metricStatus == UnescapeStatus.InvalidEscape)
                    {
                        return Fail(PoisonReason.InvalidUtf8, messages.MetricLoneSurrogate, valueOffset);
                    }

                    if (metricStatus == UnescapeStatus.TooLong || metricLength == 0)
                    {
                        return Fail(PoisonReason.InvalidMetricName, metricLength == 0 ? messages.MetricEmpty : messages.MetricTooLong, valueOffset);
                    }

                    if (!HasVisibleCharacter(metricScratch.Slice(0, metricLength)))
                    {
                        return Fail(PoisonReason.InvalidMetricName, messages.MetricNotVisible, valueOffset);
                    }

                    break;

                case HasValue:
                    if (!ReadValue(ref reader, valueOffset, out value))
                    {
                        return false;
                    }

                    break;

                case HasTimestamp:
                    timestampOffset = valueOffset;
                    if (!ReadTimestamp(ref reader, valueOffset, out timestamp))
                    {
                        return false;
                    }

                    break;

                case HasDimensions:
                    if (!ReadDimensions(ref reader, valueOffset, dimScratch, dims, out dimensionCount))
                    {
                        return false;
                    }

                    break;

                default:
                    if (!SkipValue(ref reader))
                    {
                        return false;
                    }

                    break;
            }
        }

        // A missing field is reported at the sample's closing brace: where the producer should have written it.
        if ((seen & HasMetric) == 0)
        {
            return Fail(PoisonReason.MissingField, messages.MetricMissing, endOffset);
        }

        if ((seen & HasValue) == 0)
        {
            return Fail(PoisonReason.MissingField, messages.ValueMissing, endOffset);
        }

        if ((seen & HasTimestamp) == 0)
        {
            return Fail(PoisonReason.MissingField, messages.TimestampMissing, endOffset);
        }

        if (timestamp > _arrivalMs + _schema.MaxFutureSkewMs)
        {
            return Fail(PoisonReason.TimestampInFuture, messages.TimestampInFuture, timestampOffset);
        }

        if (timestamp < _arrivalMs - _schema.MaxAgeMs)
        {
            // Epoch seconds read as milliseconds land in January 1970: say so.
            bool looksSeconds = timestamp <= MaxTimestampMs / 1000 && timestamp * 1000 >= _arrivalMs - _schema.MaxAgeMs && timestamp * 1000 <= _arrivalMs + _schema.MaxFutureSkewMs;
            return Fail(PoisonReason.TimestampTooOld, looksSeconds ? messages.TimestampTooOldSeconds : messages.TimestampTooOld, timestampOffset);
        }

        keyLength = WriteKey(metricScratch.Slice(0, metricLength), dimScratch, dims.Slice(0, dimensionCount * 4));
        return true;
    }

    private bool ReadValue(ref Utf8JsonReader reader, int offset, out double value)
    {
        value = 0;
        switch (reader.TokenType)
        {
            case JsonTokenType.Number:
                if (!reader.TryGetDouble(out value) || !double.IsFinite(value))
                {
                    return Fail(PoisonReason.NonFiniteValue, _schema.Messages.ValueOverflow, offset);
                }

                return true;
            case JsonTokenType.String when JsonText.ValueTextEquals(ref reader, "NaN"u8) || JsonText.ValueTextEquals(ref reader, "Infinity"u8) || JsonText.ValueTextEquals(ref reader, "-Infinity"u8):
                return Fail(PoisonReason.NonFiniteValue, _schema.Messages.ValueNotFinite, offset);
            default:
                return Fail(PoisonReason.WrongType, _schema.Messages.ValueNotNumber, offset);
        }
    }

    /// <summary>The floor of a JSON number, computed with big integers from its text; null when it is far out of any timestamp's range.</summary>
    private static System.Numerics.BigInteger? ExactFloor(ReadOnlySpan<byte> token)
    {
        string text = System.Text.Encoding.ASCII.GetString(token);
        int e = text.IndexOfAny(['e', 'E']);
        string mantissa = e < 0 ? text : text[..e];
        long exponent = e < 0 ? 0 : long.TryParse(text[(e + 1)..], System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long x) ? x : (text[e + 1] == '-' ? long.MinValue / 2 : long.MaxValue / 2);
        int dot = mantissa.IndexOf('.');
        string digits = dot < 0 ? mantissa : mantissa.Remove(dot, 1);
        long scale = exponent - (dot < 0 ? 0 : mantissa.Length - dot - 1);
        var value = System.Numerics.BigInteger.Parse(digits, System.Globalization.CultureInfo.InvariantCulture);
        if (scale > 40)
        {
            return value.IsZero ? 0 : null;
        }

        if (scale >= 0)
        {
            return value * System.Numerics.BigInteger.Pow(10, (int)scale);
        }

        if (-scale > digits.Length + 1)
        {
            return value.Sign < 0 ? -1 : 0;
        }

        var divisor = System.Numerics.BigInteger.Pow(10, (int)-scale);
        var quotient = System.Numerics.BigInteger.DivRem(value, divisor, out System.Numerics.BigInteger remainder);
        return remainder.Sign < 0 ? quotient - 1 : quotient;
    }

    private bool ReadTimestamp(ref Utf8JsonReader reader, int offset, out long timestamp)
    {
        timestamp = 0;
        ParserMessages messages = _schema.Messages;
        switch (reader.TokenType)
        {
            case JsonTokenType.Number:
                if (reader.TryGetInt64(out timestamp))
                {
                    if (timestamp is >= 0 and <= MaxTimestampMs)
                    {
                        return true;
                    }
                }
                else if (ExactFloor(reader.ValueSpan) is { } floor)
                {
                    // The floor of the decimal number as written (a double would round 1737367259999.9999 up).
                    if (floor >= 0 && floor <= MaxTimestampMs)
                    {
                        timestamp = (long)floor;
                        return true;
                    }
                }

                // Epoch microseconds or nanoseconds pass 9999 as milliseconds: say so when they would fit.
                return Fail(PoisonReason.InvalidTimestamp, LooksFiner(ref reader) ? messages.TimestampNotEpochMsMicros : messages.TimestampNotEpochMs, offset);
            case JsonTokenType.String:
                // RFC 3339 strings are short; an escaped one (a JSON writer may escape '+' as \u002B) is unescaped first.
                scoped ReadOnlySpan<byte> text = reader.ValueSpan;
                if (reader.ValueIsEscaped)
                {
                    // Any number of fraction digits: the buffer holds the whole text (unescaping never lengthens).
                    byte[] unescaped = new byte[text.Length];
                    if (JsonText.Unescape(text, unescaped, out int length) != UnescapeStatus.Ok)
                    {
                        return Fail(PoisonReason.InvalidTimestamp, messages.TimestampMalformed, offset);
                    }

                    text = unescaped.AsSpan(0, length);
                }

                switch (Rfc3339.Parse(text, out timestamp))
                {
                    case Rfc3339Status.Ok:
                        return timestamp < 0 ? Fail(PoisonReason.InvalidTimestamp, messages.TimestampBefore1970, offset)
                            : timestamp > MaxTimestampMs ? Fail(PoisonReason.InvalidTimestamp, messages.TimestampAfter9999, offset)
                            : true;
                    case Rfc3339Status.NoZone:
                        return Fail(PoisonReason.InvalidTimestamp, messages.TimestampNoZone, offset);
                    case Rfc3339Status.OutOfRange:
                        return Fail(PoisonReason.InvalidTimestamp, messages.TimestampOutOfRange, offset);
                    default:
                        return Fail(PoisonReason.InvalidTimestamp, messages.TimestampMalformed, offset);
                }

            default:
                return Fail(PoisonReason.WrongType, messages.TimestampWrongType, offset);
        }
    }

    /// <summary>Whether a number timestamp read as microseconds or nanoseconds lies within the record's time window.</summary>
    private readonly bool LooksFiner(ref Utf8JsonReader reader)
    {
        if (!reader.TryGetDouble(out double value) || value <= MaxTimestampMs)
        {
            return false;
        }

        double low = _arrivalMs - _schema.MaxAgeMs, high = _arrivalMs + _schema.MaxFutureSkewMs;
        double micros = value / 1e3, nanos = value / 1e6;
        return (micros >= low && micros <= high) || (nanos >= low && nanos <= high);
    }

    /// <summary>Whether a name holds a character other than white space and control characters (C0, DEL, C1).</summary>
    private static bool HasVisibleCharacter(ReadOnlySpan<byte> utf8)
    {
        for (int i = 0; i < utf8.Length; i++)
        {
            byte b = utf8[i];
            if (b is > 0x20 and < 0x7F)
            {
                return true;
            }

            if (b >= 0x80)
            {
                // Non-ASCII: visible unless a C1 control (C2 80..C2 9F) or a Unicode white space.
                System.Text.Rune.DecodeFromUtf8(utf8.Slice(i), out System.Text.Rune rune, out int consumed);
                if (!System.Text.Rune.IsControl(rune) && !System.Text.Rune.IsWhiteSpace(rune))
                {
                    return true;
                }

                i += consumed - 1;
            }
        }

        return false;
    }

    private bool ReadDimensions(ref Utf8JsonReader reader, int offset, Span<byte> scratch, scoped Span<int> dims, out int count)
    {
        count = 0;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return Fail(PoisonReason.WrongType, _schema.Messages.DimensionsNotObject, offset);
        }

        int used = 0;
        while (true)
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                return true;
            }

            int keyOffset = _position + (int)reader.TokenStartIndex;
            if (count == SeriesKey.MaxDimensions)
            {
                return Fail(PoisonReason.TooManyDimensions, _schema.Messages.DimensionsTooMany, keyOffset);
            }

            UnescapeStatus status = JsonText.CopyString(ref reader, scratch.Slice(used), SeriesKey.MaxDimensionKeyBytes, out int keyLength);
            if (status != UnescapeStatus.Ok)
            {
                return status == UnescapeStatus.TooLong
                    ? Fail(PoisonReason.DimensionTooLong, _schema.Messages.DimensionKeyTooLong, keyOffset)
                    : Fail(PoisonReason.InvalidUtf8, _schema.Messages.DimensionKeyLoneSurrogate, keyOffset);
            }

            if (keyLength == 0)
            {
                return Fail(PoisonReason.InvalidDimensionKey, _schema.Messages.DimensionKeyEmpty, keyOffset);
            }

            int keyStart = used;
            used += keyLength;
            reader.Read();
            int valueOffset = _position + (int)reader.TokenStartIndex;
            if (reader.TokenType != JsonTokenType.String)
            {
                return Fail(PoisonReason.WrongType, _schema.Messages.DimensionValueNotString, valueOffset);
            }

            status = JsonText.CopyString(ref reader, scratch.Slice(used), SeriesKey.MaxDimensionValueBytes, out int valueLength);
            if (status != UnescapeStatus.Ok)
            {
                return status == UnescapeStatus.TooLong
                    ? Fail(PoisonReason.DimensionTooLong, _schema.Messages.DimensionValueTooLong, valueOffset)
                    : Fail(PoisonReason.InvalidUtf8, _schema.Messages.DimensionValueLoneSurrogate, valueOffset);
            }

            // Insertion sort by key bytes keeps the canonical order as we go; equal keys are ambiguous.
            int i = count;
            ReadOnlySpan<byte> key = scratch.Slice(keyStart, keyLength);
            while (i > 0)
            {
                int c = key.SequenceCompareTo(scratch.Slice(dims[(i - 1) * 4], dims[((i - 1) * 4) + 1]));
                if (c == 0)
                {
                    return Fail(PoisonReason.DuplicateField, _schema.Messages.DimensionKeyRepeats, keyOffset);
                }

                if (c > 0)
                {
                    break;
                }

                dims.Slice((i - 1) * 4, 4).CopyTo(dims.Slice(i * 4, 4));
                i--;
            }

            dims[i * 4] = keyStart;
            dims[(i * 4) + 1] = keyLength;
            dims[(i * 4) + 2] = used;
            dims[(i * 4) + 3] = valueLength;
            used += valueLength;
            count++;
        }
    }

    private bool SkipValue(ref Utf8JsonReader reader)
    {
        if (reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
        {
            return true;
        }

        int depth = reader.CurrentDepth;
        int maxDepth = _schema.Options.MaxDepth;
        do
        {
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && reader.CurrentDepth + 1 > maxDepth)
            {
                return Fail(PoisonReason.NestingTooDeep, "objects and arrays nest too deep", _position + (int)reader.TokenStartIndex);
            }

            reader.Read();
        }
        while (reader.CurrentDepth > depth);

        return true;
    }

    private readonly int WriteKey(ReadOnlySpan<byte> metric, ReadOnlySpan<byte> dimScratch, ReadOnlySpan<int> dims)
    {
        Span<byte> key = _scratch.Slice(0, SeriesKey.MaxEncodedBytes);
        int count = dims.Length / 4;
        int pos = SeriesKey.WriteHeader(metric, count, key);
        for (int i = 0; i < count; i++)
        {
            pos += SeriesKey.WriteDimension(
                dimScratch.Slice(dims[i * 4], dims[(i * 4) + 1]),
                dimScratch.Slice(dims[(i * 4) + 2], dims[(i * 4) + 3]),
                key.Slice(pos));
        }

        return pos;
    }

    private bool Fail(PoisonReason reason, string message, int offset)
    {
        _reason = reason;
        _detailMessage = message;
        _detailOffset = offset;
        return false;
    }
}
