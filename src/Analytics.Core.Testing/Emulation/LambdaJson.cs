using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Analytics.Core.Testing;

/// <summary>The JSON Lambda writes: event records, events, and on-failure invocation records.</summary>
internal static class LambdaJson
{
    /// <summary>Lambda's invocation payload limit (6 MB).</summary>
    public const int MaxPayloadBytes = 6 * 1024 * 1024;

    /// <summary>Over this, a window's state terminates the window early (1 MB).</summary>
    public const int MaxWindowStateBytes = 1024 * 1024;

    private static readonly JsonWriterOptions s_writerOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = false };

    private static readonly byte[] s_recordsOpen = "{\"Records\":["u8.ToArray();

    /// <summary>The record's object in the <c>Records</c> array, fields in the order Lambda writes them.</summary>
    public static byte[] RecordJson(SimRecord record, string streamArn, string region, string roleArn)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + (record.Data.Length * 4 / 3));
        using (var writer = new Utf8JsonWriter(buffer, s_writerOptions))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("kinesis");
            writer.WriteString("kinesisSchemaVersion", "1.0");
            writer.WriteString("partitionKey", record.PartitionKey);
            writer.WriteString("sequenceNumber", record.SequenceNumber);
            writer.WriteBase64String("data", record.Data);
            writer.WritePropertyName("approximateArrivalTimestamp");
            writer.WriteRawValue(EpochSeconds(record.ArrivalMs), skipInputValidation: true);
            writer.WriteEndObject();
            writer.WriteString("eventSource", "aws:kinesis");
            writer.WriteString("eventVersion", "1.0");
            writer.WriteString("eventID", record.Shard.Id + ":" + record.SequenceNumber);
            writer.WriteString("eventName", "aws:kinesis:record");
            writer.WriteString("invokeIdentityArn", roleArn);
            writer.WriteString("awsRegion", region);
            writer.WriteString("eventSourceARN", streamArn);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Epoch seconds with a millisecond fraction, as Lambda writes <c>approximateArrivalTimestamp</c>.</summary>
    public static string EpochSeconds(long unixMs)
    {
        long seconds = Math.DivRem(unixMs, 1000, out long ms);
        if (ms < 0)
        {
            seconds--;
            ms += 1000;
        }

        return string.Create(CultureInfo.InvariantCulture, $"{seconds}.{ms:D3}");
    }

    /// <summary>ISO-8601 UTC with milliseconds, as in on-failure records.</summary>
    public static string IsoMs(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>ISO-8601 UTC to the second, as in a tumbling window's bounds.</summary>
    public static string IsoSeconds(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>The size of an event holding records whose fragments total <paramref name="fragments"/> bytes.</summary>
    public static long EventSize(long fragments, int count) => s_recordsOpen.Length + fragments + Math.Max(0, count - 1) + 2;

    /// <summary>The event of a batch (with the tumbling-window fields when <paramref name="window"/> is set).</summary>
    public static byte[] Event(IReadOnlyList<SimRecord> records, WindowState? window, Batch batch, string shardId, string streamArn)
    {
        int size = s_recordsOpen.Length + 2 + records.Count;
        foreach (SimRecord record in records)
        {
            size += record.Json!.Length;
        }

        var buffer = new ArrayBufferWriter<byte>(size + (window is null ? 0 : 256 + window.State.Length));
        buffer.Write(s_recordsOpen);
        for (int i = 0; i < records.Count; i++)
        {
            if (i > 0)
            {
                buffer.Write(","u8);
            }

            buffer.Write(records[i].Json);
        }

        buffer.Write("]"u8);
        if (window is not null)
        {
            buffer.Write(Encoding.UTF8.GetBytes(string.Create(
                CultureInfo.InvariantCulture,
                $",\"window\":{{\"start\":\"{IsoSeconds(window.StartMs)}\",\"end\":\"{IsoSeconds(window.EndMs)}\"}},\"state\":")));
            buffer.Write(Encoding.UTF8.GetBytes(window.State));
            buffer.Write(Encoding.UTF8.GetBytes(string.Create(
                CultureInfo.InvariantCulture,
                $",\"shardId\":\"{shardId}\",\"eventSourceARN\":\"{streamArn}\",\"isFinalInvokeForWindow\":{(batch.IsWindowFinal ? "true" : "false")},\"isWindowTerminatedEarly\":{(batch.TerminatedEarly ? "true" : "false")}")));
        }

        buffer.Write("}"u8);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The on-failure invocation record (plus <c>payload</c> for S3), fields in the documented order.</summary>
    public static string InvocationRecord(
        string requestId, string functionArn, string condition, int invokeCount, bool functionError, long nowMs,
        string shardId, IReadOnlyList<SimRecord> records, string streamArn, byte[]? payload)
    {
        var buffer = new ArrayBufferWriter<byte>(1024 + (payload?.Length * 2 ?? 0));
        using (var writer = new Utf8JsonWriter(buffer, s_writerOptions))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("requestContext");
            writer.WriteString("requestId", requestId);
            writer.WriteString("functionArn", functionArn);
            writer.WriteString("condition", condition);
            writer.WriteNumber("approximateInvokeCount", invokeCount);
            writer.WriteEndObject();
            writer.WriteStartObject("responseContext");
            writer.WriteNumber("statusCode", 200);
            writer.WriteString("executedVersion", "$LATEST");
            if (functionError)
            {
                writer.WriteString("functionError", "Unhandled");
            }

            writer.WriteEndObject();
            writer.WriteString("version", "1.0");
            writer.WriteString("timestamp", IsoMs(nowMs));
            writer.WriteStartObject("KinesisBatchInfo");
            writer.WriteString("shardId", shardId);
            writer.WriteString("startSequenceNumber", records[0].SequenceNumber);
            writer.WriteString("endSequenceNumber", records[^1].SequenceNumber);
            writer.WriteString("approximateArrivalOfFirstRecord", IsoMs(records[0].ArrivalMs));
            writer.WriteString("approximateArrivalOfLastRecord", IsoMs(records[^1].ArrivalMs));
            writer.WriteNumber("batchSize", records.Count);
            writer.WriteString("streamArn", streamArn);
            writer.WriteEndObject();
            if (payload is not null)
            {
                writer.WriteString("payload", Encoding.UTF8.GetString(payload));
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
