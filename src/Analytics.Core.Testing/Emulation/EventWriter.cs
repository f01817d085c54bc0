using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Analytics.Core.Testing;

/// <summary>
/// Writes the event JSON Lambda sends for a batch of one stream's records, byte for byte as a
/// <see cref="Utf8JsonWriter"/> with the relaxed encoder writes it, without one: the parts that are the same for
/// every record (field names, the stream's ARN, region and role) are encoded once, a partition key once per key, and
/// each record's size is known before its bytes are written, so an event is written once, straight into its array
/// (an exact-size one, or one from <see cref="EventBuffers"/>), and a record's fragment is never built on its own.
/// </summary>
internal sealed class EventWriter
{
    private static readonly JavaScriptEncoder s_encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
    private static readonly byte[] s_recordsOpen = "{\"Records\":["u8.ToArray();
    private static readonly byte[] s_beforeKey = "{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":\""u8.ToArray();
    private static readonly byte[] s_beforeSequence = "\",\"sequenceNumber\":\""u8.ToArray();
    private static readonly byte[] s_beforeData = "\",\"data\":\""u8.ToArray();
    private static readonly byte[] s_beforeArrival = "\",\"approximateArrivalTimestamp\":"u8.ToArray();
    private static readonly byte[] s_beforeEventId = "},\"eventSource\":\"aws:kinesis\",\"eventVersion\":\"1.0\",\"eventID\":\""u8.ToArray();
    private readonly byte[] _tail;
    private readonly string _escapedStreamArn;

    /// <summary>Encodes the parts shared by every record of the stream.</summary>
    public EventWriter(string streamArn, string region, string roleArn)
    {
        _escapedStreamArn = Escaped(streamArn);
        _tail = Encoding.UTF8.GetBytes(
            "\",\"eventName\":\"aws:kinesis:record\",\"invokeIdentityArn\":\"" + Escaped(roleArn) + "\",\"awsRegion\":\"" + Escaped(region)
            + "\",\"eventSourceARN\":\"" + Escaped(streamArn) + "\"}");
    }

    /// <summary>A string as it appears between the quotes of a JSON string written with the relaxed encoder.</summary>
    public static string Escaped(string value) => JsonEncodedText.Encode(value, s_encoder).ToString();

    /// <summary>The UTF-8 bytes of a partition key between its quotes (escaped as the writer escapes it).</summary>
    public static byte[] EscapedKey(string partitionKey, EventStringEscaping escaping = EventStringEscaping.Minimal) =>
        escaping == EventStringEscaping.Minimal
            ? JsonEncodedText.Encode(partitionKey, s_encoder).EncodedUtf8Bytes.ToArray()
            : Encoding.UTF8.GetBytes(EscapeNonAscii(Escaped(partitionKey)));

    /// <summary>
    /// <paramref name="escaped"/> (a string as it stands between quotes) with every character that is not ASCII as a
    /// <c>\uXXXX</c> escape, a pair of them outside the BMP, in upper-case hex as the relaxed encoder writes its escapes.
    /// </summary>
    private static string EscapeNonAscii(string escaped)
    {
        var text = new StringBuilder(escaped.Length);
        foreach (char c in escaped)
        {
            if (c < 0x80)
            {
                text.Append(c);
            }
            else
            {
                text.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            }
        }

        return text.ToString();
    }

    /// <summary>The size of the record's object in the <c>Records</c> array.</summary>
    public int RecordLength(SimRecord record)
    {
        Span<byte> arrival = stackalloc byte[24];
        int sequence = record.SequenceNumberChars; // digits only: one byte each, nothing to escape
        return s_beforeKey.Length + record.EscapedKey.Length + s_beforeSequence.Length + sequence + s_beforeData.Length
            + Base64.GetMaxEncodedToUtf8Length(record.Data.Length) + s_beforeArrival.Length + LambdaJson.WriteEpochSeconds(record.ArrivalMs, arrival)
            + s_beforeEventId.Length + record.Shard.Id.Length + 1 + sequence + _tail.Length;
    }

    /// <summary>The record's object, fields in the order Lambda writes them; returns the bytes written.</summary>
    public int WriteRecord(SimRecord record, Span<byte> destination)
    {
        int at = Put(s_beforeKey, destination, 0);
        at = Put(record.EscapedKey, destination, at);
        at = Put(s_beforeSequence, destination, at);
        at += record.WriteSequenceNumber(destination[at..]);
        at = Put(s_beforeData, destination, at);
        Base64.EncodeToUtf8(record.Data, destination[at..], out _, out int encoded);
        at += encoded;
        at = Put(s_beforeArrival, destination, at);
        at += LambdaJson.WriteEpochSeconds(record.ArrivalMs, destination[at..]);
        at = Put(s_beforeEventId, destination, at);
        at = Ascii(record.Shard.Id, destination, at);
        destination[at++] = (byte)':';
        at += record.WriteSequenceNumber(destination[at..]);
        return Put(_tail, destination, at);
    }

    /// <summary>The record's object on its own (for tests and the destination's payload).</summary>
    public byte[] RecordJson(SimRecord record)
    {
        byte[] json = new byte[RecordLength(record)];
        WriteRecord(record, json);
        return json;
    }

    /// <summary>The event of a batch (with the tumbling-window fields when <paramref name="window"/> is set), in an array of its size.</summary>
    public byte[] Event(IReadOnlyList<SimRecord> records, WindowState? window, Batch batch, string shardId)
    {
        byte[]? windowPart = WindowPart(window, batch, shardId);
        // Every byte is written (Write checks the count), so the array need not be zeroed first.
        byte[] json = GC.AllocateUninitializedArray<byte>(Size(records, windowPart));
        Write(records, windowPart, json);
        return json;
    }

    /// <summary>The same event, in an array from <paramref name="buffers"/> (give it back once the invocation succeeded).</summary>
    public ReadOnlyMemory<byte> Event(IReadOnlyList<SimRecord> records, WindowState? window, Batch batch, string shardId, EventBuffers buffers)
    {
        byte[]? windowPart = WindowPart(window, batch, shardId);
        int size = Size(records, windowPart);
        byte[] array = buffers.Rent(size);
        Write(records, windowPart, array.AsSpan(0, size));
        return array.AsMemory(0, size);
    }

    private byte[]? WindowPart(WindowState? window, Batch batch, string shardId) =>
        window is null
            ? null
            : Encoding.UTF8.GetBytes(string.Create(
                CultureInfo.InvariantCulture,
                $",\"window\":{{\"start\":\"{LambdaJson.IsoSeconds(window.StartMs)}\",\"end\":\"{LambdaJson.IsoSeconds(window.EndMs)}\"}},\"state\":{window.State},\"shardId\":\"{shardId}\",\"eventSourceARN\":\"{_escapedStreamArn}\",\"isFinalInvokeForWindow\":{(batch.IsWindowFinal ? "true" : "false")},\"isWindowTerminatedEarly\":{(batch.TerminatedEarly ? "true" : "false")}"));

    private static int Size(IReadOnlyList<SimRecord> records, byte[]? windowPart)
    {
        int size = s_recordsOpen.Length + 2 + Math.Max(0, records.Count - 1) + (windowPart?.Length ?? 0);
        foreach (SimRecord record in records)
        {
            size += record.JsonLength;
        }

        return size;
    }

    private void Write(IReadOnlyList<SimRecord> records, byte[]? windowPart, Span<byte> span)
    {
        int at = Put(s_recordsOpen, span, 0);
        for (int i = 0; i < records.Count; i++)
        {
            if (i > 0)
            {
                span[at++] = (byte)',';
            }

            at += WriteRecord(records[i], span[at..]);
        }

        span[at++] = (byte)']';
        if (windowPart is not null)
        {
            at = Put(windowPart, span, at);
        }

        span[at++] = (byte)'}';
        if (at != span.Length)
        {
            throw new InvalidOperationException($"The event's size was computed as {span.Length} bytes but {at} were written.");
        }
    }

    private static int Put(ReadOnlySpan<byte> bytes, Span<byte> destination, int at)
    {
        bytes.CopyTo(destination[at..]);
        return at + bytes.Length;
    }

    private static int Ascii(string text, Span<byte> destination, int at) =>
        at + Encoding.ASCII.GetBytes(text, destination[at..]);
}
