using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Analytics.Core;

/// <summary>
/// The table's primary key. <c>pk</c> is the series in a readable, unambiguous form; <c>sk</c> the window start as
/// fixed-width ISO-8601 UTC, so a query over one series returns its windows in time order.
/// </summary>
internal static class DynamoDbKeys
{
    /// <summary>DynamoDB's limit for a partition key value, in UTF-8 bytes.</summary>
    public const int MaxPartitionKeyBytes = 2048;

    /// <summary>Marks the hashed form; <c>\#</c> is not an escape sequence of the readable form, so it never occurs there.</summary>
    private const string HashedMarker = "|\\#sha256:";

    /// <summary>
    /// <c>metric|k1=v1|k2=v2</c> with the dimensions in the key's canonical (ordinal) order and <c>\</c>, <c>|</c>
    /// and <c>=</c> escaped with a backslash. When that exceeds 2048 UTF-8 bytes:
    /// <c>metric|\#sha256:&lt;hex of SHA-256 of the encoded series key&gt;</c>.
    /// </summary>
    public static string PartitionKey(SeriesKey key)
    {
        var sb = new StringBuilder(key.Encoded.Length + 16);
        AppendEscaped(sb, key.Metric);
        foreach (SeriesKey.Dimension d in key.Dimensions)
        {
            sb.Append('|');
            AppendEscaped(sb, d.Key);
            sb.Append('=');
            AppendEscaped(sb, d.Value);
        }

        string readable = sb.ToString();
        if (Encoding.UTF8.GetByteCount(readable) <= MaxPartitionKeyBytes)
        {
            return readable;
        }

        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(key.Encoded, hash);
        sb.Clear();
        AppendEscaped(sb, key.Metric);
        sb.Append(HashedMarker).Append(Convert.ToHexString(hash));
        return sb.ToString();
    }

    /// <summary>The thread's last few timestamps (a batch's pairs share a few window starts and ends; formatting one is most of a pair's key).</summary>
    [ThreadStatic]
    private static (long EpochMs, string Text)[]? s_timestamps;

    /// <summary>Window start as <c>yyyy-MM-ddTHH:mm:ss.fffZ</c> (fixed width, so string order is time order).</summary>
    public static string Timestamp(long epochMs)
    {
        // 16 slots: with 4, a window's start and end shared a slot in a quarter of the windows, and each pair formatted both.
        (long EpochMs, string Text)[] recent = s_timestamps ??= new (long, string)[16];
        int slot = (int)(((ulong)epochMs * 0x9E3779B97F4A7C15UL) >> 60);
        if (recent[slot].Text is { } cached && recent[slot].EpochMs == epochMs)
        {
            return cached;
        }

        string text = DateTimeOffset.FromUnixTimeMilliseconds(epochMs).UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fff'Z'", CultureInfo.InvariantCulture);
        recent[slot] = (epochMs, text);
        return text;
    }

    /// <summary>The inverse of <see cref="Timestamp"/>: exactly <c>yyyy-MM-ddTHH:mm:ss.fffZ</c>.</summary>
    public static bool TryParseTimestamp(string? text, out long epochMs)
    {
        epochMs = 0;
        if (text is null || !DateTime.TryParseExact(text, "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out DateTime time))
        {
            return false;
        }

        epochMs = new DateTimeOffset(time, TimeSpan.Zero).ToUnixTimeMilliseconds();
        return true;
    }

    private static void AppendEscaped(StringBuilder sb, ReadOnlySpan<byte> utf8)
    {
        foreach (char c in Encoding.UTF8.GetString(utf8))
        {
            if (c is '\\' or '|' or '=')
            {
                sb.Append('\\');
            }

            sb.Append(c);
        }
    }
}
