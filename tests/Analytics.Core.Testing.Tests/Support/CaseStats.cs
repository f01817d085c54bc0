using System.Text.Json;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// What a stream-level property's cases exercised, one JSON line per case, appended to the file that
/// <c>TESTS_SOAK_STATS</c> names (nothing, and no figure computed, when it is unset: CI pays nothing). The properties
/// print nothing on success, so without this a soak cannot tell which faults its cases met (windows per case, timeouts,
/// throttles, lost answers, bisected halves, spills, poison); <c>tests/soak-stats.py</c> summarises the file.
/// </summary>
internal static class CaseStats
{
    private static readonly string? s_path = Environment.GetEnvironmentVariable("TESTS_SOAK_STATS") is { Length: > 0 } p ? p : null;
    private static readonly Lock s_lock = new();

    /// <summary>Whether figures are wanted.</summary>
    public static bool On => s_path is not null;

    /// <summary>Appends one case's figures under <paramref name="property"/>.</summary>
    public static void Write(string property, IEnumerable<KeyValuePair<string, object?>> figures)
    {
        if (s_path is null)
        {
            return;
        }

        var line = new Dictionary<string, object?> { ["property"] = property };
        foreach ((string key, object? value) in figures)
        {
            line[key] = value;
        }

        string text = JsonSerializer.Serialize(line) + "\n";
        lock (s_lock)
        {
            File.AppendAllText(s_path, text);
        }
    }
}
