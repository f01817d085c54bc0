using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Analytics.SampleLambda;

/// <summary>
/// The runtime loop's own log lines, in the shape of the library's JSON log lines (<c>level</c>, <c>message</c>,
/// <c>timestamp</c>), so CloudWatch Logs Insights queries see them next to the invocation lines. Only the error's type
/// and message are written, never an event's bytes.
/// </summary>
internal static class RuntimeLog
{
    /// <summary>Writes one <c>Error</c> line.</summary>
    /// <param name="log">The destination.</param>
    /// <param name="message">What failed: <c>init failed</c>, <c>invocation failed</c>, <c>runtime loop failed</c>.</param>
    /// <param name="error">The failure.</param>
    /// <param name="requestId">The invocation, when there is one.</param>
    /// <param name="timeProvider">The clock of the timestamp.</param>
    /// <returns>A task that completes when the line is written.</returns>
    public static Task ErrorAsync(TextWriter log, string message, Exception error, string? requestId = null, TimeProvider? timeProvider = null) =>
        log.WriteLineAsync(Line("Error", message, error, requestId, timeProvider));

    /// <summary>Writes one <c>Warn</c> line: a setting that works but loses data where it runs.</summary>
    /// <param name="log">The destination.</param>
    /// <param name="message">What the operator should know.</param>
    public static void Warn(TextWriter log, string message) => log.WriteLine(Line("Warn", message, null, null, null));

    private static string Line(string level, string message, Exception? error, string? requestId, TimeProvider? timeProvider)
    {
        using var buffer = new MemoryStream(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("level", level);
            writer.WriteString("message", message);
            writer.WriteString("timestamp", (timeProvider ?? TimeProvider.System).GetUtcNow().UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffff'Z'", CultureInfo.InvariantCulture));
            if (requestId is not null)
            {
                writer.WriteString("requestId", requestId);
            }

            if (error is not null)
            {
                writer.WriteString("errorType", error.GetType().Name);
                writer.WriteString("errorMessage", error.Message);
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
