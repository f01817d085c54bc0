using System.Text;
using System.Text.Json;

namespace Analytics.Core.Testing;

/// <summary>What a <see cref="ScriptRule"/> does.</summary>
public enum ScriptAction
{
    /// <summary>The invocation fails (the handler throws) when a record's data matches.</summary>
    Raise,

    /// <summary>Each matching record's sequence number goes into <c>batchItemFailures</c>; the next rule applies.</summary>
    Report,

    /// <summary>Returns <see cref="ScriptRule.Body"/> literally.</summary>
    Respond,

    /// <summary>Waits <see cref="ScriptRule.Ms"/> in virtual time (when a record matches, or always without <see cref="ScriptRule.WhenData"/>); the next rule applies.</summary>
    SleepMs,
}

/// <summary>A rule of a <see cref="ScriptedHandler"/>.</summary>
/// <param name="Action">What it does.</param>
/// <param name="WhenData">The record data (UTF-8 text) it applies to; <see langword="null"/>: always.</param>
/// <param name="Body">For <see cref="ScriptAction.Respond"/>, the response.</param>
/// <param name="Ms">For <see cref="ScriptAction.SleepMs"/>, how long.</param>
public sealed record ScriptRule(ScriptAction Action, string? WhenData = null, string? Body = null, int Ms = 0);

/// <summary>
/// A function scripted by rules, tried in order per invocation; with no rule ending it, it succeeds (returning the
/// reported failures, and for a tumbling window the state it received).
/// </summary>
public sealed class ScriptedHandler : ILambdaHandler
{
    private readonly TimeProvider _clock;
    private readonly ScriptRule[] _rules;
    private readonly bool _readsData;

    /// <summary>Creates the handler.</summary>
    /// <param name="clock">The clock its sleeps wait on (the emulator's).</param>
    /// <param name="rules">The rules.</param>
    /// <exception cref="ArgumentException">A rule lacks what its action needs, or has a setting of another action (a body on a raise, ms on a report).</exception>
    public ScriptedHandler(TimeProvider clock, IEnumerable<ScriptRule> rules)
    {
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(rules);
        _clock = clock;
        _rules = rules.ToArray();
        _readsData = _rules.Any(r => r.WhenData is not null);
        foreach (ScriptRule rule in _rules)
        {
            if (rule.Action is ScriptAction.Raise or ScriptAction.Report && rule.WhenData is null)
            {
                throw new ArgumentException($"A {rule.Action} rule needs whenData.", nameof(rules));
            }

            if (rule.Action == ScriptAction.Respond && rule.Body is null)
            {
                throw new ArgumentException("A respond rule needs a body.", nameof(rules));
            }

            if (rule.Action == ScriptAction.SleepMs && rule.Ms < 0)
            {
                throw new ArgumentException("A sleepMs rule needs ms of 0 or more.", nameof(rules));
            }

            // A setting of another action would do nothing without a word.
            if (rule.Action != ScriptAction.Respond && rule.Body is not null)
            {
                throw new ArgumentException($"Only a respond rule has a body; this rule is {rule.Action}.", nameof(rules));
            }

            if (rule.Action != ScriptAction.SleepMs && rule.Ms != 0)
            {
                throw new ArgumentException($"Only a sleepMs rule has ms; this rule is {rule.Action}.", nameof(rules));
            }
        }
    }

    /// <inheritdoc />
    public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        var records = new List<(string Sequence, string Text)>();
        string? state = null;
        if (!_readsData)
        {
            // No rule looks at records: only the window's state is read, and the records are skipped unparsed.
            state = StateOf(utf8Event.Span);
        }
        else
        {
            using (JsonDocument document = JsonDocument.Parse(utf8Event))
            {
                foreach (JsonElement record in document.RootElement.GetProperty("Records").EnumerateArray())
                {
                    JsonElement kinesis = record.GetProperty("kinesis");
                    string text = Encoding.UTF8.GetString(kinesis.GetProperty("data").GetBytesFromBase64());
                    records.Add((kinesis.GetProperty("sequenceNumber").GetString()!, text));
                }

                if (document.RootElement.TryGetProperty("state", out JsonElement received))
                {
                    state = received.GetRawText();
                }
            }
        }

        var reported = new List<string>();
        foreach (ScriptRule rule in _rules)
        {
            bool matches = rule.WhenData is null || records.Exists(r => string.Equals(r.Text, rule.WhenData, StringComparison.Ordinal));
            if (!matches)
            {
                continue;
            }

            switch (rule.Action)
            {
                case ScriptAction.Raise:
                    throw new InvalidOperationException("Scripted failure.");
                case ScriptAction.Respond:
                    return Encoding.UTF8.GetBytes(rule.Body!);
                case ScriptAction.SleepMs:
                    await Task.Delay(TimeSpan.FromMilliseconds(rule.Ms), _clock, CancellationToken.None).ConfigureAwait(false);
                    break;
                case ScriptAction.Report:
                    reported.AddRange(records.Where(r => string.Equals(r.Text, rule.WhenData, StringComparison.Ordinal)).Select(r => r.Sequence));
                    break;
            }
        }

        var response = new StringBuilder("{\"batchItemFailures\":[");
        for (int i = 0; i < reported.Count; i++)
        {
            response.Append(i == 0 ? "" : ",").Append("{\"itemIdentifier\":\"").Append(reported[i]).Append("\"}");
        }

        response.Append(']');
        if (state is not null)
        {
            response.Append(",\"state\":").Append(state);
        }

        return Encoding.UTF8.GetBytes(response.Append('}').ToString());
    }

    // The raw text of the event's top-level "state" (as JsonElement.GetRawText gives it), or null.
    private static string? StateOf(ReadOnlySpan<byte> utf8Event)
    {
        // An event without a tumbling window has no state. Without the bytes "state" between quotes, and without a \u
        // escape that could spell a letter of it, no property is named state: the records need not be tokenized.
        if (utf8Event.IndexOf("\"state\""u8) < 0 && utf8Event.IndexOf("\\u"u8) < 0)
        {
            return null;
        }

        var reader = new Utf8JsonReader(utf8Event);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool isState = reader.ValueTextEquals("state"u8);
            reader.Read();
            long start = reader.TokenStartIndex;
            reader.Skip();
            if (isState)
            {
                return Encoding.UTF8.GetString(utf8Event[(int)start..(int)reader.BytesConsumed]);
            }
        }

        return null;
    }
}
