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
        if (s is null || s.Length is 0 || s.Length > SequenceNumber.MaxDigits || (s[0] == '0' && s.Length > 1))
        {
            return false;
        }

        foreach (char c in s)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return true;
    }
}
