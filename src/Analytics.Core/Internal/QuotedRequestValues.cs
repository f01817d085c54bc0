using System.Text.RegularExpressions;

namespace Analytics.Core;

/// <summary>
/// Leaves out what an AWS service's error message quotes of the request. A validation error of the JSON protocols
/// (DynamoDB's, and the local servers' that copy it) reads <c>1 validation error detected: Value '&lt;the request's value&gt;'
/// at '&lt;member&gt;' failed to satisfy constraint: &lt;constraint&gt;</c>, and the value can be a whole item's key: a series'
/// metric name and dimension values, which come from record payloads (found by review: a table given by its ARN to a
/// server that refuses ARNs put the series of the batch in <c>aggregateSinkError</c>). Everything from the first
/// <c>Value '</c> on is dropped but the last error's member and constraint, read from the end of the message, where
/// only the service writes: a value, even one written to look like that tail, always comes before it.
/// </summary>
internal static partial class QuotedRequestValues
{
    private const string Opening = "Value '";

    /// <summary><paramref name="message"/> without the request values it quotes; itself when it quotes none.</summary>
    public static string LeaveOut(string message)
    {
        int value = message.IndexOf(Opening, StringComparison.Ordinal);
        if (value < 0)
        {
            return message;
        }

        string kept = message[..value] + "Value [left out: it quotes the request]";
        Match tail = LastConstraint().Match(message);
        return tail.Success && tail.Index > value ? kept + " at '" + tail.Groups[1].Value + "' failed to satisfy constraint: " + tail.Groups[2].Value : kept;
    }

    // The last error's member (a path of names and indexes) and constraint (the service's words, no quote), ending the message.
    [GeneratedRegex(@"' at '([A-Za-z0-9_.\[\]]{1,100})' failed to satisfy constraint: ([^'\r\n]{1,200})\z", RegexOptions.CultureInvariant | RegexOptions.RightToLeft)]
    private static partial Regex LastConstraint();
}
