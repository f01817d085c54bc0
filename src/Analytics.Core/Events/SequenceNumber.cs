namespace Analytics.Core;

/// <summary>Kinesis sequence numbers: decimal strings of up to 129 digits, compared as big integers.</summary>
public static class SequenceNumber
{
    /// <summary>The most digits a sequence number has: 129.</summary>
    /// <remarks>A property, not a constant, so a later version can change it without recompiling callers.</remarks>
    public static int MaxDigits => 129;

    /// <summary>Compares two sequence numbers as integers: by length first, then digit by digit.</summary>
    /// <param name="left">Decimal digits, UTF-8, no leading zeros.</param>
    /// <param name="right">Decimal digits, UTF-8, no leading zeros.</param>
    /// <returns>Negative, zero or positive as <paramref name="left"/> is less than, equal to or greater than <paramref name="right"/>.</returns>
    public static int Compare(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right) =>
        left.Length != right.Length ? left.Length.CompareTo(right.Length) : left.SequenceCompareTo(right);

    /// <summary>Compares two sequence numbers given as strings.</summary>
    /// <param name="left">Decimal digits, no leading zeros.</param>
    /// <param name="right">Decimal digits, no leading zeros.</param>
    /// <returns>Negative, zero or positive as <paramref name="left"/> is less than, equal to or greater than <paramref name="right"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="left"/> or <paramref name="right"/> is null.</exception>
    public static int Compare(string left, string right)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        return left.Length != right.Length ? left.Length.CompareTo(right.Length) : string.CompareOrdinal(left, right);
    }

    /// <summary>Whether the bytes are a valid sequence number: <c>0|([1-9]\d{0,128})</c>.</summary>
    /// <param name="digits">The candidate, UTF-8.</param>
    /// <returns><see langword="true"/> when valid.</returns>
    public static bool IsValid(ReadOnlySpan<byte> digits)
    {
        if (digits.IsEmpty || digits.Length > MaxDigits)
        {
            return false;
        }

        if (digits[0] == (byte)'0')
        {
            return digits.Length == 1;
        }

        return !digits.ContainsAnyExceptInRange((byte)'0', (byte)'9');
    }

    /// <summary>The sequence number after <paramref name="sequenceNumber"/> (decimal digits plus one): the first a range past it may claim.</summary>
    internal static string Successor(string sequenceNumber)
    {
        char[] digits = sequenceNumber.ToCharArray();
        for (int i = digits.Length - 1; i >= 0; i--)
        {
            if (digits[i] != '9')
            {
                digits[i]++;
                return new string(digits);
            }

            digits[i] = '0';
        }

        return "1" + new string(digits);
    }
}
