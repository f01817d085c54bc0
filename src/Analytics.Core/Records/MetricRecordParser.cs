using System.Text.Json;
using System.Text.Unicode;

namespace Analytics.Core;

/// <summary>
/// Reads the metric samples of one record's decoded data and validates them, without allocating and without
/// throwing on bad input.
/// </summary>
/// <remarks>
/// <para>The data is one JSON object or several separated by newlines (NDJSON; <c>\n</c> or <c>\r\n</c>, blank
/// lines ignored, a trailing newline allowed, a leading UTF-8 BOM tolerated). Each object is a sample; fields are
/// named by the <see cref="MetricSchema"/>; other fields are skipped however they nest (within the depth limit).</para>
/// <para>Call <see cref="TryReadSample"/> until it returns <see langword="false"/>, then look at <see cref="Error"/>:
/// <see cref="PoisonReason.None"/> means the record ended cleanly. A record with any bad sample is poison as a
/// whole: callers must not commit a record's samples before the parser has reached its end.</para>
/// <para>A verdict depends only on the bytes and the record's arrival time, never on the wall clock.</para>
/// </remarks>
[System.Runtime.CompilerServices.SkipLocalsInit]
public ref struct MetricRecordParser
{
    /// <summary>The size of the scratch buffer the parser needs.</summary>
    public const int ScratchSize = SeriesKey.MaxEncodedBytes + MetricScratch + DimensionScratch;

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
    private PoisonReason _error;
    private string _errorMessage;
    private int _errorOffset;

    /// <summary>Starts reading a record.</summary>
    /// <param name="data">The record's decoded data.</param>
    /// <param name="scratch">A buffer of at least <see cref="ScratchSize"/> bytes; sample keys are built in it.</param>
    /// <param name="schema">The schema.</param>
    /// <param name="arrivalTimestampMs">The record's approximate arrival, epoch milliseconds: the time reference for timestamp checks.</param>
    /// <exception cref="ArgumentException"><paramref name="scratch"/> is too small.</exception>
    public MetricRecordParser(ReadOnlySpan<byte> data, Span<byte> scratch, MetricSchema schema, long arrivalTimestampMs)
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
        _error = PoisonReason.None;
        _errorMessage = string.Empty;
        _errorOffset = 0;
    }

    /// <summary>Why the record is poison, or <see cref="PoisonReason.None"/>.</summary>
    public readonly PoisonReason Error => _error;

    /// <summary>Byte offset in the data where the problem was found.</summary>
    public readonly int ErrorOffset => _errorOffset;

    /// <summary>What is wrong, without the offset (a constant text; no allocation).</summary>
    public readonly string ErrorMessage => _errorMessage;

    /// <summary>Samples read so far.</summary>
    public readonly int SampleCount => _sampleCount;

    /// <summary>The error as one short line: message and byte offset (allocates).</summary>
    /// <returns>The detail, or an empty string when there is no error.</returns>
    public readonly string GetErrorDetail() =>
        _error == PoisonReason.None ? string.Empty : $"{_errorMessage} at byte {_errorOffset}";

    /// <summary>Reads the next sample.</summary>
    /// <param name="sample">The sample, when the method returns <see langword="true"/>.</param>
    /// <returns><see langword="false"/> at the end of the record or at the first error (see <see cref="Error"/>).</returns>
    public bool TryReadSample(out MetricSample sample)
    {
        sample = default;
        if (_error != PoisonReason.None)
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
            // Utf8JsonReader has no non-throwing mode; a syntax error is rare and always poison, so this is off the hot path.
            return Fail(PoisonReason.InvalidJson, "invalid JSON (" + FirstSentence(e.Message) + ")", _position + (int)reader.BytesConsumed);
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
        int seen = 0;
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
                break;
            }

            int fieldOffset = _position + (int)reader.TokenStartIndex;
            int field =
                reader.ValueTextEquals(_schema.MetricField) ? HasMetric :
                reader.ValueTextEquals(_schema.ValueField) ? HasValue :
                reader.ValueTextEquals(_schema.TimestampField) ? HasTimestamp :
                reader.ValueTextEquals(_schema.DimensionsField) ? HasDimensions : 0;
            if ((seen & field) != 0)
            {
                return Fail(PoisonReason.DuplicateField, "a sample names a field twice", fieldOffset);
            }

            seen |= field;
            reader.Read();
            int valueOffset = _position + (int)reader.TokenStartIndex;
            switch (field)
            {
                case HasMetric:
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        return Fail(PoisonReason.WrongType, "the metric name is not a string", valueOffset);
                    }

                    UnescapeStatus metricStatus = JsonText.CopyString(ref reader, metricScratch, SeriesKey.MaxMetricBytes, out metricLength);
                    if (metricStatus == UnescapeStatus.InvalidEscape)
                    {
                        return Fail(PoisonReason.InvalidUtf8, "the metric name escapes a lone surrogate", valueOffset);
                    }

                    if (metricStatus == UnescapeStatus.TooLong || metricLength == 0)
                    {
                        return Fail(PoisonReason.InvalidMetricName, "the metric name is empty or longer than 255 bytes", valueOffset);
                    }

                    break;

                case HasValue:
                    if (!ReadValue(ref reader, valueOffset, out value))
                    {
                        return false;
                    }

                    break;

                case HasTimestamp:
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

        if ((seen & HasMetric) == 0)
        {
            return Fail(PoisonReason.MissingField, "a sample has no metric name", _position);
        }

        if ((seen & HasValue) == 0)
        {
            return Fail(PoisonReason.MissingField, "a sample has no value", _position);
        }

        if ((seen & HasTimestamp) == 0)
        {
            return Fail(PoisonReason.MissingField, "a sample has no timestamp", _position);
        }

        if (timestamp > _arrivalMs + _schema.MaxFutureSkewMs)
        {
            return Fail(PoisonReason.TimestampInFuture, "the timestamp lies too far after the record's arrival", _position);
        }

        if (timestamp < _arrivalMs - _schema.MaxAgeMs)
        {
            return Fail(PoisonReason.TimestampTooOld, "the timestamp lies too far before the record's arrival", _position);
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
                    return Fail(PoisonReason.NonFiniteValue, "the value overflows a double", offset);
                }

                return true;
            case JsonTokenType.String when reader.ValueTextEquals("NaN"u8) || reader.ValueTextEquals("Infinity"u8) || reader.ValueTextEquals("-Infinity"u8):
                return Fail(PoisonReason.NonFiniteValue, "the value is not finite", offset);
            default:
                return Fail(PoisonReason.WrongType, "the value is not a JSON number", offset);
        }
    }

    private bool ReadTimestamp(ref Utf8JsonReader reader, int offset, out long timestamp)
    {
        timestamp = 0;
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
                else if (reader.TryGetDouble(out double ms) && ms is >= 0 and <= MaxTimestampMs)
                {
                    timestamp = (long)Math.Floor(ms);
                    return true;
                }

                return Fail(PoisonReason.InvalidTimestamp, "the timestamp is not epoch milliseconds between 1970 and 9999", offset);
            case JsonTokenType.String:
                ReadOnlySpan<byte> text = reader.ValueSpan;
                if (reader.ValueIsEscaped || !HasZoneDesignator(text) || !reader.TryGetDateTimeOffset(out DateTimeOffset parsed))
                {
                    return Fail(PoisonReason.InvalidTimestamp, "the timestamp is not ISO-8601 with Z or an offset", offset);
                }

                timestamp = parsed.ToUnixTimeMilliseconds();
                if (timestamp < 0)
                {
                    return Fail(PoisonReason.InvalidTimestamp, "the timestamp lies before 1970", offset);
                }

                return true;
            default:
                return Fail(PoisonReason.WrongType, "the timestamp is neither a number nor a string", offset);
        }
    }

    private static bool HasZoneDesignator(ReadOnlySpan<byte> text)
    {
        if (text.Length < 11 || text.IndexOf((byte)'T') < 0 && text.IndexOf((byte)'t') < 0)
        {
            return false;
        }

        byte last = text[^1];
        if (last is (byte)'Z' or (byte)'z')
        {
            return true;
        }

        // ...+hh:mm or ...-hh:mm after the time part.
        return text.Length >= 6 && text[^3] == (byte)':' && text[^6] is (byte)'+' or (byte)'-';
    }

    private bool ReadDimensions(ref Utf8JsonReader reader, int offset, Span<byte> scratch, scoped Span<int> dims, out int count)
    {
        count = 0;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return Fail(PoisonReason.WrongType, "dimensions is not an object", offset);
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
                return Fail(PoisonReason.TooManyDimensions, "a sample has more than 30 dimensions", keyOffset);
            }

            UnescapeStatus status = JsonText.CopyString(ref reader, scratch.Slice(used), SeriesKey.MaxDimensionKeyBytes, out int keyLength);
            if (status != UnescapeStatus.Ok)
            {
                return status == UnescapeStatus.TooLong
                    ? Fail(PoisonReason.DimensionTooLong, "a dimension key is longer than 255 bytes", keyOffset)
                    : Fail(PoisonReason.InvalidUtf8, "a dimension key escapes a lone surrogate", keyOffset);
            }

            int keyStart = used;
            used += keyLength;
            reader.Read();
            int valueOffset = _position + (int)reader.TokenStartIndex;
            if (reader.TokenType != JsonTokenType.String)
            {
                return Fail(PoisonReason.WrongType, "a dimension value is not a string", valueOffset);
            }

            status = JsonText.CopyString(ref reader, scratch.Slice(used), SeriesKey.MaxDimensionValueBytes, out int valueLength);
            if (status != UnescapeStatus.Ok)
            {
                return status == UnescapeStatus.TooLong
                    ? Fail(PoisonReason.DimensionTooLong, "a dimension value is longer than 1024 bytes", valueOffset)
                    : Fail(PoisonReason.InvalidUtf8, "a dimension value escapes a lone surrogate", valueOffset);
            }

            // Insertion sort by key bytes keeps the canonical order as we go; equal keys are ambiguous.
            int i = count;
            ReadOnlySpan<byte> key = scratch.Slice(keyStart, keyLength);
            while (i > 0)
            {
                int c = key.SequenceCompareTo(scratch.Slice(dims[(i - 1) * 4], dims[((i - 1) * 4) + 1]));
                if (c == 0)
                {
                    return Fail(PoisonReason.DuplicateField, "a dimension key repeats", keyOffset);
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
        _error = reason;
        _errorMessage = message;
        _errorOffset = offset;
        return false;
    }

    private static string FirstSentence(string message)
    {
        int dot = message.IndexOf(". ", StringComparison.Ordinal);
        return dot > 0 ? message.Substring(0, dot) : message.TrimEnd('.');
    }
}
