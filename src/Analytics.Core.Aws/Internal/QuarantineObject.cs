using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Analytics.Core;

/// <summary>Key and body of the S3 object that keeps one poison record.</summary>
internal static class QuarantineObject
{
    private static readonly JsonWriterOptions s_writerOptions = new()
    {
        // The body is a data file, never embedded in HTML: keep base64 '+' and non-ASCII text readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// <c>&lt;prefix&gt;/&lt;stream&gt;/&lt;shardId&gt;/&lt;sequenceNumber&gt;[-&lt;subSequenceNumber&gt;].json</c>: the same
    /// record always maps to the same key, so a re-delivered batch overwrites instead of duplicating.
    /// </summary>
    public static string Key(string prefix, QuarantinedRecord record)
    {
        var sb = new StringBuilder(prefix.Length + record.SequenceNumber.Length + 64);
        string trimmed = prefix.Trim('/');
        if (trimmed.Length > 0)
        {
            sb.Append(trimmed).Append('/');
        }

        sb.Append(StreamName(record.EventSourceArn)).Append('/').Append(record.ShardId).Append('/').Append(record.SequenceNumber);
        if (record.SubSequenceNumber is int sub)
        {
            sb.Append('-').Append(sub.ToString(CultureInfo.InvariantCulture));
        }

        return sb.Append(".json").ToString();
    }

    /// <summary>The stream name of a Kinesis ARN (<c>arn:aws:kinesis:region:account:stream/name[/consumer/...]</c>), or <c>unknown</c>.</summary>
    public static string StreamName(string? arn)
    {
        if (string.IsNullOrEmpty(arn))
        {
            return "unknown";
        }

        const string marker = ":stream/";
        int at = arn.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0)
        {
            return "unknown";
        }

        ReadOnlySpan<char> rest = arn.AsSpan(at + marker.Length);
        int slash = rest.IndexOf('/');
        ReadOnlySpan<char> name = slash < 0 ? rest : rest.Slice(0, slash);
        return name.IsEmpty ? "unknown" : name.ToString();
    }

    /// <summary>Writes the record as one JSON object, the shape of <see cref="QuarantineJsonLine"/>.</summary>
    public static void WriteBody(QuarantinedRecord record, IBufferWriter<byte> destination)
    {
        using var writer = new Utf8JsonWriter(destination, s_writerOptions);
        QuarantineJsonLine.Write(writer, record);
        writer.Flush();
    }
}
