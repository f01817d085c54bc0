namespace Analytics.Core;

/// <summary>Outcome of <see cref="Rfc3339.Parse"/>.</summary>
internal enum Rfc3339Status
{
    Ok,

    /// <summary>Not <c>yyyy-mm-ddThh:mm[:ss[.fraction]]</c> followed by a zone.</summary>
    Malformed,

    /// <summary>A well-formed date and time without <c>Z</c> or <c>±hh:mm</c>.</summary>
    NoZone,

    /// <summary>A field out of its range (month 13, February 30, hour 24, offset 24:00...).</summary>
    OutOfRange,
}

/// <summary>
/// An RFC 3339 date-time reader that never throws nor allocates: <c>yyyy-mm-ddThh:mm:ss[.fraction](Z|±hh:mm)</c>,
/// with <c>T</c> and <c>Z</c> in either case (RFC 3339 section 5.6), seconds optional (as ISO 8601 allows), any
/// number of fraction digits (cut to milliseconds), and a leap second <c>:60</c> read as <c>:59.999</c> of the
/// same minute, so it stays in the minute (and the window) it was written in.
/// </summary>
internal static class Rfc3339
{
    private const long UnixEpochTicks = 621_355_968_000_000_000;

    /// <summary>Parses <paramref name="text"/> (unescaped UTF-8) into epoch milliseconds, which may be negative.</summary>
    public static Rfc3339Status Parse(ReadOnlySpan<byte> text, out long epochMs)
    {
        epochMs = 0;
        int pos = 0;
        if (!Digits(text, ref pos, 4, out int year) || !Expect(text, ref pos, (byte)'-') ||
            !Digits(text, ref pos, 2, out int month) || !Expect(text, ref pos, (byte)'-') ||
            !Digits(text, ref pos, 2, out int day) ||
            pos >= text.Length || (text[pos] | 0x20) != (byte)'t')
        {
            return Rfc3339Status.Malformed;
        }

        pos++;
        if (!Digits(text, ref pos, 2, out int hour) || !Expect(text, ref pos, (byte)':') || !Digits(text, ref pos, 2, out int minute))
        {
            return Rfc3339Status.Malformed;
        }

        int second = 0;
        int millisecond = 0;
        if (pos < text.Length && text[pos] == (byte)':')
        {
            pos++;
            if (!Digits(text, ref pos, 2, out second))
            {
                return Rfc3339Status.Malformed;
            }

            if (pos < text.Length && text[pos] == (byte)'.')
            {
                pos++;
                int start = pos;
                while (pos < text.Length && (uint)(text[pos] - '0') <= 9)
                {
                    if (pos - start < 3)
                    {
                        millisecond = (millisecond * 10) + (text[pos] - '0');
                    }

                    pos++;
                }

                if (pos == start)
                {
                    return Rfc3339Status.Malformed;
                }

                for (int digits = pos - start; digits < 3; digits++)
                {
                    millisecond *= 10;
                }
            }
        }

        int offsetMinutes = 0;
        if (pos == text.Length)
        {
            return Rfc3339Status.NoZone;
        }

        if ((text[pos] | 0x20) == (byte)'z')
        {
            pos++;
        }
        else if (text[pos] is (byte)'+' or (byte)'-')
        {
            int sign = text[pos] == (byte)'-' ? -1 : 1;
            pos++;
            if (!Digits(text, ref pos, 2, out int offsetHour) || !Expect(text, ref pos, (byte)':') || !Digits(text, ref pos, 2, out int offsetMinute))
            {
                return Rfc3339Status.Malformed;
            }

            if (offsetHour > 23 || offsetMinute > 59)
            {
                return Rfc3339Status.OutOfRange;
            }

            offsetMinutes = sign * ((offsetHour * 60) + offsetMinute);
        }
        else
        {
            return Rfc3339Status.Malformed;
        }

        if (pos != text.Length)
        {
            return Rfc3339Status.Malformed;
        }

        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) ||
            hour > 23 || minute > 59 || second > 60)
        {
            return Rfc3339Status.OutOfRange;
        }

        if (second == 60)
        {
            second = 59;
            millisecond = 999;
        }

        long ticks = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc).Ticks;
        epochMs = ((ticks - UnixEpochTicks) / TimeSpan.TicksPerMillisecond) + millisecond - (offsetMinutes * 60_000L);
        return Rfc3339Status.Ok;
    }

    private static bool Digits(ReadOnlySpan<byte> text, ref int pos, int count, out int value)
    {
        value = 0;
        if (pos + count > text.Length)
        {
            return false;
        }

        for (int i = 0; i < count; i++)
        {
            uint d = (uint)(text[pos + i] - '0');
            if (d > 9)
            {
                return false;
            }

            value = (value * 10) + (int)d;
        }

        pos += count;
        return true;
    }

    private static bool Expect(ReadOnlySpan<byte> text, ref int pos, byte expected)
    {
        if (pos < text.Length && text[pos] == expected)
        {
            pos++;
            return true;
        }

        return false;
    }
}
