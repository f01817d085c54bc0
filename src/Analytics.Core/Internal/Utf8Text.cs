namespace Analytics.Core;

/// <summary>Keeps text that is not valid UTF-8 recoverable.</summary>
internal static class Utf8Text
{
    /// <summary>The bytes in base64 when they are not valid UTF-8; null when they are (no allocation then).</summary>
    public static string? Base64IfNotUtf8(ReadOnlySpan<byte> bytes) =>
        System.Text.Unicode.Utf8.IsValid(bytes) ? null : Convert.ToBase64String(bytes);
}
