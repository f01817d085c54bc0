namespace Analytics.Core;

/// <summary>Receives the structured JSON log lines of a <see cref="KinesisFunction"/>, one at a time, with their level.</summary>
/// <remarks>
/// The default writes each line to the process's standard output. The <c>Analytics.Core.Logging</c> package has one
/// that forwards to a <c>Microsoft.Extensions.Logging</c> <c>ILogger</c>. The lines never hold record payload.
/// </remarks>
public interface IJsonLogWriter
{
    /// <summary>Writes one log line.</summary>
    /// <param name="level">The line's level (also its <c>"level"</c> field).</param>
    /// <param name="utf8Json">One JSON object, UTF-8, without the newline; valid only during the call.</param>
    void WriteLine(JsonLogLevel level, ReadOnlySpan<byte> utf8Json);
}
