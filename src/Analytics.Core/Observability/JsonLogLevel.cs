namespace Analytics.Core;

/// <summary>Severity of a structured log line written by <see cref="JsonLog"/>; written as its name into <c>"level"</c>.</summary>
/// <remarks>Ordered: a line is written when its level is at least <see cref="JsonLogOptions.MinimumLevel"/>.</remarks>
public enum JsonLogLevel
{
    /// <summary>Detail for development.</summary>
    Debug = 0,

    /// <summary>One line per invocation and one per stage timing.</summary>
    Info = 1,

    /// <summary>Poison records, and invocations that reported a failure or ran into the deadline.</summary>
    Warn = 2,

    /// <summary>Errors.</summary>
    Error = 3,

    /// <summary>As <see cref="JsonLogOptions.MinimumLevel"/>: write nothing.</summary>
    None = 4,
}
