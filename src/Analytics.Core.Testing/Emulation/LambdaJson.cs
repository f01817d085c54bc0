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

    /// <summary>
    /// The longest response Lambda takes from a function: 6 MiB and 100 bytes (6,291,556). Lambda's Runtime API (RAPID,
    /// published as aws/aws-lambda-runtime-interface-emulator) holds <c>MaxPayloadSize = 6*1024*1024 + 100</c> and fails
    /// only a longer response; functions on AWS report "exceeded maximum allowed payload size (6291556 bytes)".
    /// </summary>
    public const int MaxResponseBytes = MaxPayloadBytes + 100;

    /// <summary>
    /// Over this, a window's state terminates the window early: "If the state exceeds 1 MB". AWS does not say whether
    /// 1 MB is 1,000,000 bytes or 1 MiB; the smaller reading, so that a state AWS may end early ends early here too and
    /// the consumer's early-end path is run (ending a window AWS would not end costs a correct consumer nothing).
    /// </summary>
    public const int MaxWindowStateBytes = 1_000_000;

    private static readonly JsonWriterOptions s_writerOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = false };

    private static readonly byte[] s_recordsOpen = "{\"Records\":["u8.ToArray();

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

    /// <summary>The bytes of <see cref="EpochSeconds"/>; returns how many were written (at most 24).</summary>
    public static int WriteEpochSeconds(long unixMs, Span<byte> destination)
    {
        long seconds = Math.DivRem(unixMs, 1000, out long ms);
        if (ms < 0)
        {
            seconds--;
            ms += 1000;
        }

        seconds.TryFormat(destination, out int written, default, CultureInfo.InvariantCulture);
        destination[written] = (byte)'.';
        destination[written + 1] = (byte)('0' + (ms / 100));
        destination[written + 2] = (byte)('0' + (ms / 10 % 10));
        destination[written + 3] = (byte)('0' + (ms % 10));
        return written + 4;
    }

    /// <summary>ISO-8601 UTC with milliseconds, as in on-failure records.</summary>
    public static string IsoMs(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>ISO-8601 UTC to the second, as in a tumbling window's bounds.</summary>
    public static string IsoSeconds(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>The size of an event holding records whose fragments total <paramref name="fragments"/> bytes.</summary>
    public static long EventSize(long fragments, int count) => s_recordsOpen.Length + fragments + Math.Max(0, count - 1) + 2;

    /// <summary>The on-failure invocation record (plus <c>payload</c> for S3), fields in the documented order.</summary>
    public static string InvocationRecord(
        string requestId, string functionArn, string condition, int invokeCount, bool responseContext, string? functionError, long nowMs,
        string shardId, IReadOnlyList<SimRecord> records, string streamArn, ReadOnlyMemory<byte>? payload)
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
            if (responseContext)
            {
                writer.WriteStartObject("responseContext");
                writer.WriteNumber("statusCode", 200);
                writer.WriteString("executedVersion", "$LATEST");
                writer.WriteString("functionError", functionError);
                writer.WriteEndObject();
            }

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
                writer.WriteString("payload", Encoding.UTF8.GetString(payload.Value.Span));
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
