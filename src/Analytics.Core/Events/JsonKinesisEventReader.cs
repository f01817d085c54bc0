using System.Text.Json;

namespace Analytics.Core;

/// <summary>
/// The envelope reader on <see cref="Utf8JsonReader"/>: the definition of what <see cref="KinesisEventReader"/>
/// accepts, and its fallback. <see cref="KinesisEventReader"/> reads the usual shape of an event itself and hands
/// everything else (any error, escaped names, the tumbling-window fields, rare number forms) to this reader, which
/// replays the records already returned and goes on from there: so every envelope error is reported by this code,
/// with its words and offset. Tests compare the two on generated and mutated events.
/// </summary>
/// <remarks>
/// <para>Unknown fields are skipped anywhere. A payload that is not a Kinesis event throws
/// <see cref="KinesisEventFormatException"/> naming the problem and its byte offset; a record's data is never
/// interpreted here, so bad data is never an exception (it is the validator's business).</para>
/// <para>No exception message holds a byte of the event's record data (nor text quoted by
/// <see cref="Utf8JsonReader"/>): only the library's words and the offset.</para>
/// </remarks>
internal ref struct JsonKinesisEventReader
{
    private const int MaxEnvelopeDepth = 64;
    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    private readonly ReadOnlySpan<byte> _event;
    private readonly int _origin;
    private Utf8JsonReader _json;
    private Phase _phase;
    private KinesisRecord _current;
    private int _recordCount;

    /// <summary>
    /// Starts reading an event. Nothing is checked yet: a payload that is not a Kinesis event (one that does not start
    /// with a JSON object included) throws from <see cref="Read"/>, from its first call on.
    /// </summary>
    /// <param name="utf8Event">The event as UTF-8 JSON (a leading BOM is skipped).</param>
    public JsonKinesisEventReader(ReadOnlySpan<byte> utf8Event)
    {
        _origin = utf8Event.StartsWith(Utf8Bom) ? 3 : 0;
        _event = utf8Event.Slice(_origin);
        _json = new Utf8JsonReader(_event, new JsonReaderOptions { MaxDepth = MaxEnvelopeDepth });
        _phase = Phase.Start;
        _current = default;
        _recordCount = 0;
        ShardId = default;
        EventSourceArn = default;
        State = default;
        WindowStart = default;
        WindowEnd = default;
        HasWindow = false;
        IsFinalInvokeForWindow = false;
        IsWindowTerminatedEarly = false;
    }

    private enum Phase
    {
        Start,
        TopLevel,
        InRecords,
        Done,
    }

    /// <summary>The current record; valid after <see cref="Read"/> returned <see langword="true"/>.</summary>
    public readonly KinesisRecord Current => _current;

    /// <summary>How many records have been read so far.</summary>
    public readonly int RecordCount => _recordCount;

    /// <summary>The event's top-level <c>shardId</c> (tumbling-window events) as the JSON spells it (escapes unresolved), else empty.</summary>
    public ReadOnlySpan<byte> ShardId { get; private set; }

    /// <summary>The event's top-level <c>eventSourceARN</c> (tumbling-window events) as the JSON spells it (escapes unresolved), else empty.</summary>
    public ReadOnlySpan<byte> EventSourceArn { get; private set; }

    /// <summary>The raw JSON of the top-level <c>state</c> object (tumbling-window events), else empty.</summary>
    public ReadOnlySpan<byte> State { get; private set; }

    /// <summary>Whether the event carries a <c>window</c> (a tumbling-window invocation).</summary>
    public bool HasWindow { get; private set; }

    /// <summary>The window's start, when <see cref="HasWindow"/>.</summary>
    public DateTimeOffset WindowStart { get; private set; }

    /// <summary>The window's end, when <see cref="HasWindow"/>.</summary>
    public DateTimeOffset WindowEnd { get; private set; }

    /// <summary>The event's <c>isFinalInvokeForWindow</c>.</summary>
    public bool IsFinalInvokeForWindow { get; private set; }

    /// <summary>The event's <c>isWindowTerminatedEarly</c>.</summary>
    public bool IsWindowTerminatedEarly { get; private set; }

    /// <summary>Reads the next record.</summary>
    /// <returns><see langword="true"/> with the record in <see cref="Current"/>; <see langword="false"/> once the event is fully read.</returns>
    /// <exception cref="KinesisEventFormatException">The payload is not a Kinesis event.</exception>
    public bool Read()
    {
        try
        {
            return ReadCore();
        }
        catch (JsonException e)
        {
            // The exception's message quotes the event's bytes (record data among them): only its position is used.
            int at = JsonText.ErrorOffset(_event, e);
            ThrowHelper.ThrowEventFormat(at >= _event.Length ? "invalid JSON: the event ends too early" : "invalid JSON syntax", _origin + at);
            return false;
        }
    }

    private bool ReadCore()
    {
        if (_phase == Phase.Start)
        {
            if (!_json.Read() || _json.TokenType != JsonTokenType.StartObject)
            {
                ThrowHelper.ThrowEventFormat("the event is not a JSON object", _origin + _json.TokenStartIndex);
            }

            _phase = Phase.TopLevel;
        }

        while (true)
        {
            switch (_phase)
            {
                case Phase.InRecords:
                    Next();
                    if (_json.TokenType == JsonTokenType.EndArray)
                    {
                        _phase = Phase.TopLevel;
                        continue;
                    }

                    if (_json.TokenType != JsonTokenType.StartObject)
                    {
                        ThrowHelper.ThrowEventFormat("an element of Records is not an object", Position);
                    }

                    ReadRecordObject();
                    _recordCount++;
                    return true;

                case Phase.TopLevel:
                    Next();
                    if (_json.TokenType == JsonTokenType.EndObject)
                    {
                        FinishEvent();
                        return false;
                    }

                    ReadTopLevelProperty();
                    continue;

                default:
                    return false;
            }
        }
    }

    private readonly long Position => _origin + _json.TokenStartIndex;

    private void Next()
    {
        if (!_json.Read())
        {
            ThrowHelper.ThrowEventFormat("the JSON ends too early", _origin + _json.BytesConsumed);
        }
    }

    private void FinishEvent()
    {
        _phase = Phase.Done;
        if (_json.Read())
        {
            ThrowHelper.ThrowEventFormat("trailing content after the event object", Position);
        }

        if (!_sawRecords)
        {
            ThrowHelper.ThrowEventFormat("the event has no Records array", _origin + _json.BytesConsumed);
        }

        // Window state, or a window's end, without the window: as a plain batch the state's aggregates would be
        // dropped and the answer would lack the state Lambda requires of a window invocation (failed, retried as is).
        if (!HasWindow && (_stateHasEntries || IsFinalInvokeForWindow || IsWindowTerminatedEarly))
        {
            ThrowHelper.ThrowEventFormat("the event carries tumbling-window state or isFinalInvokeForWindow/isWindowTerminatedEarly but no window", _origin + _json.BytesConsumed);
        }

        // A window flush is applied once per shard (its watermark is the shard's): one of no known shard could not be.
        if (HasWindow && ShardId.IsEmpty && _recordShard.IsEmpty)
        {
            ThrowHelper.ThrowEventFormat("a tumbling-window event without records names no shardId", _origin + _json.BytesConsumed);
        }
    }

    private bool _sawRecords;

    /// <summary>Whether the top-level <c>state</c> object names any entry.</summary>
    private bool _stateHasEntries;
    private int _seenTopLevel;
    private ReadOnlySpan<byte> _recordShard;
    private ReadOnlySpan<byte> _lastSequenceNumber;

    private void ReadTopLevelProperty()
    {
        if (JsonText.ValueTextEquals(ref _json, "Records"u8))
        {
            Next();
            if (_json.TokenType != JsonTokenType.StartArray || _sawRecords)
            {
                ThrowHelper.ThrowEventFormat(_sawRecords ? "Records appears twice" : "Records is not an array", Position);
            }

            _sawRecords = true;
            _phase = Phase.InRecords;
        }
        else if (JsonText.ValueTextEquals(ref _json, "shardId"u8))
        {
            SeeTopLevel(TopShardId, "shardId");
            ShardId = ReadStringValue("shardId");
            if (!_recordShard.IsEmpty && !JsonText.SameText(ShardId, _recordShard))
            {
                ThrowHelper.ThrowEventFormat("the event's shardId is not the shard of its records' eventID", Position);
            }
        }
        else if (JsonText.ValueTextEquals(ref _json, "eventSourceARN"u8))
        {
            ReadOnlySpan<byte> arn = ReadStringValue("eventSourceARN");
            if (!EventSourceArn.IsEmpty && !JsonText.SameText(arn, EventSourceArn))
            {
                ThrowHelper.ThrowEventFormat("the event's eventSourceARN is not its records' eventSourceARN", Position);
            }

            EventSourceArn = arn;
        }
        else if (JsonText.ValueTextEquals(ref _json, "state"u8))
        {
            SeeTopLevel(TopState, "state");
            Next();
            if (_json.TokenType == JsonTokenType.Null)
            {
                return;
            }

            if (_json.TokenType != JsonTokenType.StartObject)
            {
                ThrowHelper.ThrowEventFormat("state is not an object", Position);
            }

            int start = (int)_json.TokenStartIndex;
            Utf8JsonReader probe = _json;
            _stateHasEntries = probe.Read() && probe.TokenType != JsonTokenType.EndObject;
            _json.Skip();
            State = _event.Slice(start, (int)_json.BytesConsumed - start);
        }
        else if (JsonText.ValueTextEquals(ref _json, "window"u8))
        {
            SeeTopLevel(TopWindow, "window");
            ReadWindow();
        }
        else if (JsonText.ValueTextEquals(ref _json, "isFinalInvokeForWindow"u8))
        {
            SeeTopLevel(TopIsFinal, "isFinalInvokeForWindow");
            IsFinalInvokeForWindow = ReadBoolValue("isFinalInvokeForWindow");
        }
        else if (JsonText.ValueTextEquals(ref _json, "isWindowTerminatedEarly"u8))
        {
            SeeTopLevel(TopTerminatedEarly, "isWindowTerminatedEarly");
            IsWindowTerminatedEarly = ReadBoolValue("isWindowTerminatedEarly");
        }
        else
        {
            Next();
            _json.Skip();
        }
    }

    private const int TopShardId = 1, TopState = 2, TopWindow = 4, TopIsFinal = 8, TopTerminatedEarly = 16;

    /// <summary>A top-level field named twice is ambiguous as well: the event is refused.</summary>
    private void SeeTopLevel(int field, string name)
    {
        if ((_seenTopLevel & field) != 0)
        {
            ThrowHelper.ThrowEventFormat("the event names " + name + " twice", Position);
        }

        _seenTopLevel |= field;
    }

    private void ReadWindow()
    {
        Next();
        if (_json.TokenType == JsonTokenType.Null)
        {
            return;
        }

        if (_json.TokenType != JsonTokenType.StartObject)
        {
            ThrowHelper.ThrowEventFormat("window is not an object", Position);
        }

        bool hasStart = false;
        bool hasEnd = false;
        while (true)
        {
            Next();
            if (_json.TokenType == JsonTokenType.EndObject)
            {
                break;
            }

            bool isStart = JsonText.ValueTextEquals(ref _json, "start"u8);
            bool isEnd = !isStart && JsonText.ValueTextEquals(ref _json, "end"u8);
            Next();
            if (!isStart && !isEnd)
            {
                _json.Skip();
                continue;
            }

            DateTimeOffset value = default;
            if (_json.TokenType != JsonTokenType.String || !JsonText.IsText(ref _json) || !_json.TryGetDateTimeOffset(out value))
            {
                ThrowHelper.ThrowEventFormat("window.start and window.end must be ISO-8601 strings", Position);
            }

            if (isStart)
            {
                WindowStart = value;
                hasStart = true;
            }
            else
            {
                WindowEnd = value;
                hasEnd = true;
            }
        }

        if (!hasStart || !hasEnd)
        {
            ThrowHelper.ThrowEventFormat("window lacks start or end", Position);
        }

        HasWindow = true;
    }

    private ReadOnlySpan<byte> ReadStringValue(string name)
    {
        Next();
        if (_json.TokenType != JsonTokenType.String)
        {
            ThrowHelper.ThrowEventFormat(name + " is not a string", Position);
        }

        return _json.ValueSpan;
    }

    private bool ReadBoolValue(string name)
    {
        Next();
        return _json.TokenType switch
        {
            JsonTokenType.True => true,
            JsonTokenType.False or JsonTokenType.Null => false,
            _ => ThrowNotBool(name),
        };
    }

    private readonly bool ThrowNotBool(string name)
    {
        ThrowHelper.ThrowEventFormat(name + " is not a boolean", Position);
        return false;
    }

    private void ReadRecordObject()
    {
        // Relative to the event after the BOM: Position counts the BOM already (it did twice, before the scanner's tests).
        int recordOffset = (int)_json.TokenStartIndex;
        ReadOnlySpan<byte> eventId = default;
        bool sawEventId = false;
        bool sawKinesis = false;
        ReadOnlySpan<byte> sequenceNumber = default;
        ReadOnlySpan<byte> partitionKey = default;
        bool partitionKeyEscaped = false;
        bool hasPartitionKey = false;
        ReadOnlySpan<byte> data = default;
        bool dataEscaped = false;
        bool hasData = false;
        long arrivalMs = long.MinValue;

        while (true)
        {
            Next();
            if (_json.TokenType == JsonTokenType.EndObject)
            {
                break;
            }

            if (JsonText.ValueTextEquals(ref _json, "kinesis"u8))
            {
                // A field named twice is ambiguous: which one would count is a silent choice, so it is an error.
                ThrowIfRepeated(sawKinesis, "kinesis");
                Next();
                if (_json.TokenType != JsonTokenType.StartObject)
                {
                    ThrowHelper.ThrowEventFormat("a record's kinesis field is not an object", Position);
                }

                sawKinesis = true;
                while (true)
                {
                    Next();
                    if (_json.TokenType == JsonTokenType.EndObject)
                    {
                        break;
                    }

                    if (JsonText.ValueTextEquals(ref _json, "sequenceNumber"u8))
                    {
                        ThrowIfRepeated(!sequenceNumber.IsEmpty, "kinesis.sequenceNumber");
                        sequenceNumber = ReadStringValue("kinesis.sequenceNumber");
                        if (!SequenceNumber.IsValid(sequenceNumber))
                        {
                            ThrowHelper.ThrowEventFormat("kinesis.sequenceNumber is not a decimal sequence number", Position);
                        }
                    }
                    else if (JsonText.ValueTextEquals(ref _json, "data"u8))
                    {
                        ThrowIfRepeated(hasData, "kinesis.data");
                        data = ReadStringValue("kinesis.data");
                        dataEscaped = _json.ValueIsEscaped;
                        hasData = true;
                    }
                    else if (JsonText.ValueTextEquals(ref _json, "partitionKey"u8))
                    {
                        ThrowIfRepeated(hasPartitionKey, "kinesis.partitionKey");
                        partitionKey = ReadStringValue("kinesis.partitionKey");
                        partitionKeyEscaped = _json.ValueIsEscaped;
                        hasPartitionKey = true;
                    }
                    else if (JsonText.ValueTextEquals(ref _json, "approximateArrivalTimestamp"u8))
                    {
                        ThrowIfRepeated(arrivalMs != long.MinValue, "kinesis.approximateArrivalTimestamp");
                        Next();
                        if (_json.TokenType != JsonTokenType.Number || !TryReadArrival(out arrivalMs))
                        {
                            ThrowHelper.ThrowEventFormat("kinesis.approximateArrivalTimestamp is not epoch seconds", Position);
                        }
                    }
                    else
                    {
                        Next();
                        _json.Skip();
                    }
                }
            }
            else if (JsonText.ValueTextEquals(ref _json, "eventID"u8))
            {
                ThrowIfRepeated(sawEventId, "eventID");
                eventId = ReadStringValue("eventID");
                if (_json.ValueIsEscaped)
                {
                    ThrowHelper.ThrowEventFormat("a record's eventID holds JSON escapes; it must be <shardId>:<sequenceNumber>", Position);
                }

                sawEventId = true;
            }
            else if (JsonText.ValueTextEquals(ref _json, "eventSourceARN"u8))
            {
                ReadOnlySpan<byte> arn = ReadStringValue("eventSourceARN");
                if (EventSourceArn.IsEmpty)
                {
                    EventSourceArn = arn;
                }
                else if (!JsonText.SameText(arn, EventSourceArn))
                {
                    ThrowHelper.ThrowEventFormat("records of two streams (eventSourceARN) in one event", Position);
                }
            }
            else
            {
                Next();
                _json.Skip();
            }
        }

        long at = _origin + recordOffset;
        if (!sawKinesis)
        {
            ThrowHelper.ThrowEventFormat("a record has no kinesis object", at);
        }

        if (sequenceNumber.IsEmpty)
        {
            ThrowHelper.ThrowEventFormat("a record has no kinesis.sequenceNumber", at);
        }

        if (!hasData)
        {
            ThrowHelper.ThrowEventFormat("a record has no kinesis.data", at);
        }

        if (arrivalMs == long.MinValue)
        {
            ThrowHelper.ThrowEventFormat("a record has no kinesis.approximateArrivalTimestamp", at);
        }

        ReadOnlySpan<byte> shard = CheckEventId(eventId, sawEventId, sequenceNumber, at);
        CheckOrder(sequenceNumber, at);
        _current = new KinesisRecord(sequenceNumber, partitionKey, partitionKeyEscaped, shard, data, dataEscaped, arrivalMs, (int)at);
    }

    /// <summary>
    /// The eventID is <c>&lt;shardId&gt;:&lt;sequenceNumber&gt;</c>: its sequence number must be the record's, and its
    /// shard that of every other record and of the event's top-level <c>shardId</c>.
    /// </summary>
    private ReadOnlySpan<byte> CheckEventId(ReadOnlySpan<byte> eventId, bool sawEventId, ReadOnlySpan<byte> sequenceNumber, long at)
    {
        if (!sawEventId)
        {
            ThrowHelper.ThrowEventFormat("a record has no eventID (<shardId>:<sequenceNumber>)", at);
        }

        int colon = eventId.IndexOf((byte)':');
        if (colon <= 0)
        {
            ThrowHelper.ThrowEventFormat("a record's eventID is not <shardId>:<sequenceNumber>", at);
        }

        ReadOnlySpan<byte> shard = eventId.Slice(0, colon);
        if (!eventId.Slice(colon + 1).SequenceEqual(sequenceNumber))
        {
            ThrowHelper.ThrowEventFormat("a record's eventID names another sequence number than its kinesis.sequenceNumber", at);
        }

        ReadOnlySpan<byte> expected = _recordShard.IsEmpty ? ShardId : _recordShard;
        if (!expected.IsEmpty && !JsonText.SameText(shard, expected))
        {
            ThrowHelper.ThrowEventFormat(_recordShard.IsEmpty
                ? "a record's eventID names another shard than the event's shardId"
                : "records of two shards in one event", at);
        }

        _recordShard = shard;
        return shard;
    }

    /// <summary>
    /// Lambda delivers a shard's records in increasing sequence-number order (every batch, also with a
    /// ParallelizationFactor above 1). A record that does not follow its predecessor (out of order, or the same
    /// sequence number twice) would make any checkpoint wrong, so the event is refused.
    /// </summary>
    private void CheckOrder(ReadOnlySpan<byte> sequenceNumber, long at)
    {
        if (!_lastSequenceNumber.IsEmpty)
        {
            int c = Core.SequenceNumber.Compare(sequenceNumber, _lastSequenceNumber);
            if (c <= 0)
            {
                ThrowHelper.ThrowEventFormat(c == 0
                    ? "two records have the same sequence number"
                    : "a record's sequence number is lower than the one before it (records out of order)", at);
            }
        }

        _lastSequenceNumber = sequenceNumber;
    }

    private readonly void ThrowIfRepeated(bool seen, string name)
    {
        if (seen)
        {
            ThrowHelper.ThrowEventFormat("a record names " + name + " twice", Position);
        }
    }

    /// <summary>
    /// The largest arrival read as epoch seconds: a larger number is taken as milliseconds (one .NET converter writes
    /// those). Both paths compare with it, so every spelling of one number gives one arrival.
    /// </summary>
    private const long MillisecondsThreshold = 157_753_180_800;

    /// <summary>
    /// Epoch seconds with a millisecond fraction (<c>1545084650.987</c>, or <c>1.607497475E9</c>); values above
    /// <see cref="MillisecondsThreshold"/> are taken as milliseconds.
    /// </summary>
    private readonly bool TryReadArrival(out long milliseconds)
    {
        // Fast path for what Lambda writes: seconds with up to three fraction digits ("1545084650.987").
        ReadOnlySpan<byte> text = _json.ValueSpan;
        if (text.Length <= 16 && TryParseSecondsWithMillis(text, out milliseconds))
        {
            return true;
        }

        milliseconds = 0;
        if (!_json.TryGetDecimal(out decimal value) || value < 0)
        {
            return false;
        }

        decimal ms = value > MillisecondsThreshold ? value : value * 1000m;
        if (ms > 253_402_300_799_999m)
        {
            return false;
        }

        milliseconds = (long)decimal.Round(ms, MidpointRounding.AwayFromZero);
        return true;
    }

    /// <summary>Parses <c>d+(.d{0,3})?</c> seconds, below the milliseconds threshold, exactly into milliseconds.</summary>
    internal static bool TryParseSecondsWithMillis(ReadOnlySpan<byte> text, out long milliseconds)
    {
        milliseconds = 0;
        long seconds = 0;
        int i = 0;
        for (; i < text.Length && (uint)(text[i] - '0') <= 9; i++)
        {
            seconds = (seconds * 10) + (text[i] - '0');
        }

        if (i == 0 || i > 12 || seconds > MillisecondsThreshold)
        {
            return false;
        }

        long millis = 0;
        int fractionDigits = 0;
        if (i < text.Length)
        {
            if (text[i] != (byte)'.' || text.Length - i - 1 is 0 or > 3)
            {
                return false;
            }

            for (i++; i < text.Length; i++, fractionDigits++)
            {
                if ((uint)(text[i] - '0') > 9)
                {
                    return false;
                }

                millis = (millis * 10) + (text[i] - '0');
            }
        }

        for (; fractionDigits < 3; fractionDigits++)
        {
            millis *= 10;
        }

        // Above the threshold (157753180800.5 too, not only a larger whole part), so milliseconds: the decimal path
        // decides, as for every other spelling of the number (found by mutation review: 157753180800.5 was read as
        // seconds, 157753180800.5000 as milliseconds).
        long total = (seconds * 1000) + millis;
        if (total > MillisecondsThreshold * 1000)
        {
            return false;
        }

        milliseconds = total;
        return true;
    }
}
