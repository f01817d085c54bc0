using System.Collections;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Analytics.Core;

/// <summary>
/// Forwards the JSON log lines of a <see cref="KinesisFunction"/> to a <c>Microsoft.Extensions.Logging</c>
/// <see cref="ILogger"/>: each line at its level (Debug, Information, Warning, Error), with its top-level fields as the
/// entry's structured state and the JSON line as its formatted message.
/// </summary>
/// <remarks>
/// Set it as <see cref="KinesisFunctionOptions.LogWriter"/>. The metrics (EMF) line does not go through the logger: a
/// logger's formatting would stop CloudWatch from reading it as metrics. Lines never hold record payload.
/// </remarks>
public sealed class LoggerJsonLogWriter : IJsonLogWriter
{
    private readonly ILogger _logger;

    /// <summary>Creates the bridge.</summary>
    /// <param name="logger">The logger, e.g. <c>loggerFactory.CreateLogger("Analytics.Core")</c>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="logger"/> is null.</exception>
    public LoggerJsonLogWriter(ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        _logger = logger;
    }

    /// <summary>The event id of every entry: 1 for <c>invocation</c>, 2 for <c>stage</c>, 3 for <c>poison</c>, 0 otherwise; the name is the line's <c>message</c>.</summary>
    private static EventId GetEventId(string? message) => message switch
    {
        "invocation" => new EventId(1, message),
        "stage" => new EventId(2, message),
        "poison" => new EventId(3, message),
        _ => new EventId(0, message),
    };

    /// <inheritdoc/>
    public void WriteLine(JsonLogLevel level, ReadOnlySpan<byte> utf8Json)
    {
        LogLevel logLevel = level switch
        {
            JsonLogLevel.Debug => LogLevel.Debug,
            JsonLogLevel.Info => LogLevel.Information,
            JsonLogLevel.Warn => LogLevel.Warning,
            JsonLogLevel.Error => LogLevel.Error,
            _ => LogLevel.None,
        };
        if (logLevel == LogLevel.None || !_logger.IsEnabled(logLevel))
        {
            return;
        }

        var state = new JsonLogLine(utf8Json);
        _logger.Log(logLevel, GetEventId(state.Message), state, null, static (s, _) => s.Line);
    }

    /// <summary>
    /// The entry's state: the line's top-level fields, and nothing else. No <c>{OriginalFormat}</c>: providers read it
    /// as a message template, and Serilog rendered the braces in a line (a sink error's <c>{recordsIn:X4}</c>, an
    /// escaped <c>{{</c>) as holes, so its message was no longer the line nor JSON. Without it every provider takes
    /// the formatted message, the line: OpenTelemetry as the body, Serilog as <c>{JsonLogLine:l}</c>.
    /// </summary>
    private sealed class JsonLogLine : IReadOnlyList<KeyValuePair<string, object?>>
    {
        private readonly List<KeyValuePair<string, object?>> _fields = [];

        public JsonLogLine(ReadOnlySpan<byte> utf8Json)
        {
            Line = Encoding.UTF8.GetString(utf8Json);
            var reader = new Utf8JsonReader(utf8Json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string name = reader.GetString()!;
                reader.Read();
                object? value = reader.TokenType switch
                {
                    JsonTokenType.String => reader.GetString(),
                    JsonTokenType.Number => reader.TryGetInt64(out long l) ? (object)l : reader.GetDouble(),
                    JsonTokenType.True => true,
                    JsonTokenType.False => false,
                    JsonTokenType.Null => null,
                    _ => RawValue(ref reader, utf8Json),
                };
                if (name == "message")
                {
                    Message = value as string;
                }

                _fields.Add(new(name, value));
            }
        }

        public string Line { get; }

        public string? Message { get; }

        public int Count => _fields.Count;

        public KeyValuePair<string, object?> this[int index] => _fields[index];

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => _fields.GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => Line;

        private static string RawValue(ref Utf8JsonReader reader, ReadOnlySpan<byte> utf8Json)
        {
            int start = (int)reader.TokenStartIndex;
            reader.Skip();
            int end = (int)reader.BytesConsumed;
            return Encoding.UTF8.GetString(utf8Json.Slice(start, end - start));
        }
    }
}
