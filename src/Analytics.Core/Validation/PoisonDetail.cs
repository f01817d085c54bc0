using System.Text;

namespace Analytics.Core;

/// <summary>
/// Poison details: built only from the library's own words, configured field names and numbers (offsets, counts),
/// never from a record's bytes, and at most <see cref="MaxBytes"/> UTF-8 bytes long.
/// </summary>
internal static class PoisonDetail
{
    /// <summary>The most UTF-8 bytes of a detail, in the quarantine and in log lines.</summary>
    public const int MaxBytes = 256;

    /// <summary>Cuts <paramref name="detail"/> to <see cref="MaxBytes"/> UTF-8 bytes on a character boundary.</summary>
    public static string Bound(string detail)
    {
        if (detail.Length <= MaxBytes / 3 || Encoding.UTF8.GetByteCount(detail) <= MaxBytes)
        {
            return detail;
        }

        const string Ellipsis = "...";
        int bytes = 0;
        int end = 0;
        while (end < detail.Length)
        {
            int width = char.IsHighSurrogate(detail[end]) && end + 1 < detail.Length ? 2 : 1;
            int size = Encoding.UTF8.GetByteCount(detail.AsSpan(end, width));
            if (bytes + size > MaxBytes - Ellipsis.Length)
            {
                break;
            }

            bytes += size;
            end += width;
        }

        return string.Concat(detail.AsSpan(0, end), Ellipsis);
    }
}
