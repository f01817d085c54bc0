using System.Buffers;
using System.Text;

namespace Analytics.Core;

/// <summary>The check of a sequence number read back from the table or the bucket (a mark, a spilled sample, a marker's last).</summary>
internal static class StoredSequenceNumber
{
    /// <summary>
    /// Whether <paramref name="s"/> is a sequence number as Kinesis writes them (<see cref="SequenceNumber.IsValid"/>): digits,
    /// at most <see cref="SequenceNumber.MaxDigits"/>, no leading zero. Sequence numbers are compared by length first,
    /// so a stored one with a leading zero would pass every record of its shard or key, and each would be skipped as
    /// already applied.
    /// </summary>
    public static bool IsValid(string? s)
    {
        if (s is null || s.Length > SequenceNumber.MaxDigits)
        {
            return false;
        }

        // The rule is SequenceNumber's, over the ASCII bytes (a character that is not ASCII is not a digit either).
        Span<byte> ascii = stackalloc byte[s.Length];
        return Ascii.FromUtf16(s, ascii, out _) == OperationStatus.Done && SequenceNumber.IsValid(ascii);
    }
}
