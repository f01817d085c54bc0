using System.Buffers;
using System.Text.Unicode;

namespace Analytics.Core;

/// <summary>
/// Reads the metric samples of one record's decoded data and validates them, without allocating and without
/// throwing on bad input.
/// </summary>
/// <remarks>
/// <para>The data is one JSON object or several separated by newlines (NDJSON; <c>\n</c> or <c>\r\n</c>, blank
/// lines ignored, a trailing newline allowed, a leading UTF-8 BOM tolerated). Each object is a sample; fields are
/// named by the <see cref="MetricParserOptions"/> (compiled into a <see cref="MetricSchema"/>); other fields are skipped however they nest (within the depth limit).</para>
/// <para>Internal: the public way to validate a record is <see cref="RecordValidator"/>, which also de-aggregates KPL
/// containers, so it gives the pipeline's verdict.</para>
/// <para>Call <see cref="TryReadSample"/> until it returns <see langword="false"/>, then look at <see cref="Reason"/>:
/// <see cref="PoisonReason.None"/> means the record ended cleanly. A record with any bad sample is poison as a
/// whole: callers must not commit a record's samples before the parser has reached its end.</para>
/// <para>A verdict depends only on the bytes and the record's arrival time, never on the wall clock. Timestamps are
/// epoch milliseconds or RFC 3339 date-times (see docs/validation.md). <see cref="DetailMessage"/> names the
/// configured field and never holds bytes of the record.</para>
/// </remarks>
[System.Runtime.CompilerServices.SkipLocalsInit]
internal ref struct MetricRecordParser
{
    /// <summary>The size of the scratch buffer the parser needs.</summary>
    internal const int ScratchSize = SeriesKey.MaxEncodedBytes + MetricScratch + DimensionScratch;

    private const int MetricScratch = SeriesKey.MaxMetricBytes;
    private const int DimensionScratch = SeriesKey.MaxDimensions * (SeriesKey.MaxDimensionKeyBytes + SeriesKey.MaxDimensionValueBytes);
    private const long MaxTimestampMs = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    private const int MaxTimestampTextBytes = 64;

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

        // Our own tokenizer, not Utf8JsonReader: that one can report a syntax error only by throwing, so a hostile
        // producer could make every record cost a thrown and caught exception (microseconds each).
        var reader = new JsonTokenizer(_data, _position);
        if (!ParseSample(ref reader, out int keyLength, out double value, out long timestamp))
        {
            return false;
        }

        _position = reader.Position;
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

    /// <summary>Records the syntax error the tokenizer stopped at: our own words and its offset, never the record's bytes.</summary>
    private bool SyntaxError(ref readonly JsonTokenizer reader)
    {
        int at = reader.ErrorOffset;
        return Fail(
            PoisonReason.InvalidJson,
            at >= _data.Length ? "the JSON ends before the sample object is complete" : "invalid JSON syntax",
            Math.Min(at, _data.Length));
    }

    private bool ParseSample(ref JsonTokenizer reader, out int keyLength, out double value, out long timestamp)
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
            if (!reader.Read())
            {
                return SyntaxError(ref reader);
            }

            if (reader.TokenType == JsonToken.EndObject)
            {
                endOffset = reader.TokenStartIndex;
                break;
            }

            int fieldOffset = reader.TokenStartIndex;
            int field =
                reader.ValueTextEquals(_schema.MetricField) ? HasMetric :
                reader.ValueTextEquals(_schema.ValueField) ? HasValue :
                reader.ValueTextEquals(_schema.TimestampField) ? HasTimestamp :
                reader.ValueTextEquals(_schema.DimensionsField) ? HasDimensions : 0;
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
            if (!reader.Read())
            {
                return SyntaxError(ref reader);
            }

            int valueOffset = reader.TokenStartIndex;
            switch (field)
            {
                case HasMetric:
                    if (reader.TokenType != JsonToken.String)
                    {
                        return Fail(PoisonReason.WrongType, messages.MetricNotString, valueOffset);
                    }

                    UnescapeStatus metricStatus = reader.CopyString(metricScratch, SeriesKey.MaxMetricBytes, out metricLength);
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

    private bool ReadValue(ref JsonTokenizer reader, int offset, out double value)
    {
        value = 0;
        switch (reader.TokenType)
        {
            case JsonToken.Number:
                if (!reader.TryGetDouble(out value) || !double.IsFinite(value))
                {
                    return Fail(PoisonReason.NonFiniteValue, _schema.Messages.ValueOverflow, offset);
                }

                return true;
            case JsonToken.String when reader.ValueTextEquals("NaN"u8) || reader.ValueTextEquals("Infinity"u8) || reader.ValueTextEquals("-Infinity"u8):
                return Fail(PoisonReason.NonFiniteValue, _schema.Messages.ValueNotFinite, offset);
            default:
                return Fail(PoisonReason.WrongType, _schema.Messages.ValueNotNumber, offset);
        }
    }

    private bool ReadTimestamp(ref JsonTokenizer reader, int offset, out long timestamp)
    {
        timestamp = 0;
        ParserMessages messages = _schema.Messages;
        switch (reader.TokenType)
        {
            case JsonToken.Number:
                if (reader.TryGetInt64(out timestamp))
                {
                    if (timestamp is >= 0 and <= MaxTimestampMs)
                    {
                        return true;
                    }
                }
                else if (TryFloorNonNegative(reader.ValueSpan, out timestamp))
                {
                    // The floor of the decimal number as written: read as a double first, 1737367259999.9999 would
                    // round up to the next millisecond (doubles there are 0.000244 apart), into the next window.
                    if (timestamp <= MaxTimestampMs)
                    {
                        return true;
                    }
                }
                else if (reader.TryGetDouble(out double ms) && ms is >= 0 and <= MaxTimestampMs)
                {
                    // Only a negative zero ("-0.0", "-0e5") gets here within range: its floor is 0.
                    timestamp = (long)Math.Floor(ms);
                    return true;
                }

                // Epoch microseconds or nanoseconds pass 9999 as milliseconds: say so when they would fit.
                return Fail(PoisonReason.InvalidTimestamp, LooksFiner(ref reader) ? messages.TimestampNotEpochMsMicros : messages.TimestampNotEpochMs, offset);
            case JsonToken.String:
                // RFC 3339 strings are short; an escaped one (a JSON writer may escape '+' as \u002B) is unescaped first.
                Span<byte> unescaped = stackalloc byte[MaxTimestampTextBytes];
                scoped ReadOnlySpan<byte> text = reader.ValueSpan;
                Rfc3339Status status;
                if (!reader.ValueIsEscaped)
                {
                    status = Rfc3339.Parse(text, out timestamp);
                }
                else
                {
                    UnescapeStatus unescape = JsonText.Unescape(text, unescaped, out int length);
                    byte[]? rented = null;
                    if (unescape == UnescapeStatus.TooLong)
                    {
                        // Any number of fraction digits is valid: an escaped string longer than the stack buffer is
                        // unescaped into a rented one (unescaping never lengthens), so it gets its unescaped twin's verdict.
                        rented = ArrayPool<byte>.Shared.Rent(text.Length);
                        unescape = JsonText.Unescape(text, rented, out length);
                    }

                    status = unescape == UnescapeStatus.Ok
                        ? Rfc3339.Parse(rented is null ? unescaped.Slice(0, length) : rented.AsSpan(0, length), out timestamp)
                        : Rfc3339Status.Malformed;
                    if (rented is not null)
                    {
                        ArrayPool<byte>.Shared.Return(rented);
                    }
                }

                switch (status)
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

    /// <summary>
    /// The floor of a JSON number that is not negative, from its digits (exact, unlike a double): the digits of the
    /// integer and fraction parts that the exponent leaves before the decimal point. False for a negative number or
    /// one whose floor passes <see cref="long.MaxValue"/>.
    /// </summary>
    /// <param name="number">A JSON number token, as the tokenizer validated it.</param>
    /// <param name="floor">The floor.</param>
    internal static bool TryFloorNonNegative(ReadOnlySpan<byte> number, out long floor)
    {
        floor = 0;
        if (number.IsEmpty || number[0] == (byte)'-')
        {
            return false;
        }

        int e = number.IndexOfAny((byte)'e', (byte)'E');
        ReadOnlySpan<byte> mantissa = e < 0 ? number : number.Slice(0, e);
        long exponent = 0;
        if (e >= 0)
        {
            ReadOnlySpan<byte> digits = number.Slice(e + 1);
            bool negative = digits[0] == (byte)'-';
            if (digits[0] is (byte)'+' or (byte)'-')
            {
                digits = digits.Slice(1);
            }

            foreach (byte b in digits)
            {
                // Past a million either way the answer no longer depends on it (0, or too large).
                exponent = Math.Min((exponent * 10) + (b - '0'), 1_000_000);
            }

            exponent = negative ? -exponent : exponent;
        }

        int dot = mantissa.IndexOf((byte)'.');
        ReadOnlySpan<byte> integer = dot < 0 ? mantissa : mantissa.Slice(0, dot);
        ReadOnlySpan<byte> fraction = dot < 0 ? default : mantissa.Slice(dot + 1);

        // The digits of integer and fraction, of which the first integer.Length + exponent are the floor's.
        long keep = integer.Length + exponent;
        ulong value = 0;
        for (long i = 0; i < keep; i++)
        {
            int digit = i < integer.Length ? integer[(int)i] - '0' : i - integer.Length < fraction.Length ? fraction[(int)(i - integer.Length)] - '0' : 0;
            if (value == 0 && digit == 0 && i >= integer.Length + fraction.Length)
            {
                break; // only zeros left to append to zero
            }

            if (value > ((ulong)long.MaxValue - (ulong)digit) / 10)
            {
                return false;
            }

            value = (value * 10) + (ulong)digit;
        }

        floor = (long)value;
        return true;
    }

    /// <summary>Whether a number timestamp read as microseconds or nanoseconds lies within the record's time window.</summary>
    private readonly bool LooksFiner(ref JsonTokenizer reader)
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

    private bool ReadDimensions(ref JsonTokenizer reader, int offset, Span<byte> scratch, scoped Span<int> dims, out int count)
    {
        count = 0;
        if (reader.TokenType != JsonToken.StartObject)
        {
            return Fail(PoisonReason.WrongType, _schema.Messages.DimensionsNotObject, offset);
        }

        // Repeated keys are found as the keys arrive, by a fingerprint of each key (its bytes compared only when two
        // fingerprints match), and the keys are sorted into canonical order once the object is complete. A record
        // refused inside its dimensions (a 31st key, a value not a string, ...) so never pays for the sort, while the
        // reasons and offsets stay those of sorting as we go (the parser agreement properties pin both).
        // Measured (PoisonBenchmarks, quiet machine, a run before and one after): a batch of 100 TooManyDimensions records
        // 249.1 -> 212.4 us, 2.48 -> 1.99 x a valid batch; the valid batch 100.6 -> 106.5 us, within the drift between
        // the two runs (other kinds moved by more both ways).
        Span<long> prints = stackalloc long[SeriesKey.MaxDimensions];
        int used = 0;
        while (true)
        {
            if (!reader.Read())
            {
                return SyntaxError(ref reader);
            }

            if (reader.TokenType == JsonToken.EndObject)
            {
                SortByKey(scratch, dims, count);
                return true;
            }

            int keyOffset = reader.TokenStartIndex;
            if (count == SeriesKey.MaxDimensions)
            {
                return Fail(PoisonReason.TooManyDimensions, _schema.Messages.DimensionsTooMany, keyOffset);
            }

            UnescapeStatus status = reader.CopyString(scratch.Slice(used), SeriesKey.MaxDimensionKeyBytes, out int keyLength);
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
            if (!reader.Read())
            {
                return SyntaxError(ref reader);
            }

            int valueOffset = reader.TokenStartIndex;
            if (reader.TokenType != JsonToken.String)
            {
                return Fail(PoisonReason.WrongType, _schema.Messages.DimensionValueNotString, valueOffset);
            }

            status = reader.CopyString(scratch.Slice(used), SeriesKey.MaxDimensionValueBytes, out int valueLength);
            if (status != UnescapeStatus.Ok)
            {
                return status == UnescapeStatus.TooLong
                    ? Fail(PoisonReason.DimensionTooLong, _schema.Messages.DimensionValueTooLong, valueOffset)
                    : Fail(PoisonReason.InvalidUtf8, _schema.Messages.DimensionValueLoneSurrogate, valueOffset);
            }

            // Equal keys are ambiguous.
            ReadOnlySpan<byte> key = scratch.Slice(keyStart, keyLength);
            long print = Fingerprint(key);
            for (int j = 0; j < count; j++)
            {
                if (prints[j] == print && key.SequenceEqual(scratch.Slice(dims[j * 4], dims[(j * 4) + 1])))
                {
                    return Fail(PoisonReason.DuplicateField, _schema.Messages.DimensionKeyRepeats, keyOffset);
                }
            }

            prints[count] = print;
            dims[count * 4] = keyStart;
            dims[(count * 4) + 1] = keyLength;
            dims[(count * 4) + 2] = used;
            dims[(count * 4) + 3] = valueLength;
            used += valueLength;
            count++;
        }
    }

    /// <summary>
    /// A key's fingerprint: its length and its first and last eight bytes. Equal keys have equal fingerprints; keys of
    /// fewer than eight bytes have distinct ones; longer keys that share length, head and tail are told apart by their
    /// bytes. Not a hash a producer could attack: a collision costs one byte comparison, as every pair did before.
    /// </summary>
    private static long Fingerprint(ReadOnlySpan<byte> key)
    {
        ulong head = 0, tail = 0;
        if (key.Length >= 8)
        {
            head = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(key);
            tail = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(key.Slice(key.Length - 8));
        }
        else
        {
            foreach (byte b in key)
            {
                head = (head << 8) | b;
            }
        }

        return (long)(head ^ System.Numerics.BitOperations.RotateLeft(tail, 29) ^ ((ulong)key.Length << 56));
    }

    /// <summary>Insertion sort of the (key, value) entries by key bytes: the canonical order. The keys are distinct.</summary>
    private static void SortByKey(ReadOnlySpan<byte> scratch, Span<int> dims, int count)
    {
        for (int n = 1; n < count; n++)
        {
            int keyStart = dims[n * 4], keyLength = dims[(n * 4) + 1], valueStart = dims[(n * 4) + 2], valueLength = dims[(n * 4) + 3];
            ReadOnlySpan<byte> key = scratch.Slice(keyStart, keyLength);
            int i = n;
            while (i > 0 && CompareKeys(key, scratch.Slice(dims[(i - 1) * 4], dims[((i - 1) * 4) + 1])) < 0)
            {
                dims.Slice((i - 1) * 4, 4).CopyTo(dims.Slice(i * 4, 4));
                i--;
            }

            dims[i * 4] = keyStart;
            dims[(i * 4) + 1] = keyLength;
            dims[(i * 4) + 2] = valueStart;
            dims[(i * 4) + 3] = valueLength;
        }
    }

    /// <summary>
    /// <see cref="MemoryExtensions.SequenceCompareTo{T}(ReadOnlySpan{T}, ReadOnlySpan{T})"/> with the same sign, comparing
    /// the first bytes inline: dimension keys mostly differ there, and the insertion sort above compares up to
    /// 435 times for a record of 30 dimensions (the most a valid record has; a record refused inside its dimensions
    /// is not sorted).
    /// Measured (DimensionSortBenchmarks, one run, under load average 40, run log not kept): sorting the 30 keys k0 to
    /// k29 3,717 ns with SequenceCompareTo, 1,825 ns with this (2.0 times less); the 3 keys of a benchmark record 42.6 ns
    /// and 29.6 ns.
    /// </summary>
    internal static int CompareKeys(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        int n = Math.Min(Math.Min(a.Length, b.Length), 8);
        for (int k = 0; k < n; k++)
        {
            int d = a[k] - b[k];
            if (d != 0)
            {
                return d;
            }
        }

        return a.SequenceCompareTo(b);
    }

    private bool SkipValue(ref JsonTokenizer reader)
    {
        if (reader.TokenType is not (JsonToken.StartObject or JsonToken.StartArray))
        {
            return true;
        }

        int depth = reader.CurrentDepth;
        int maxDepth = _schema.Options.MaxDepth;
        do
        {
            if (reader.TokenType is JsonToken.StartObject or JsonToken.StartArray && reader.CurrentDepth + 1 > maxDepth)
            {
                return Fail(PoisonReason.NestingTooDeep, "objects and arrays nest too deep", reader.TokenStartIndex);
            }

            if (!reader.Read())
            {
                return SyntaxError(ref reader);
            }
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
