namespace Analytics.Core;

/// <summary>Options of <see cref="JsonLog"/>: which levels are written and the clock that stamps each line.</summary>
/// <remarks>Set only what differs: <c>JsonLogOptions.Default with { MinimumLevel = JsonLogLevel.Warn }</c>.</remarks>
public readonly record struct JsonLogOptions
{
    /// <summary>Creates the default options.</summary>
    public JsonLogOptions()
    {
    }

    /// <summary>The default options.</summary>
    public static JsonLogOptions Default => new();

    /// <summary>Lines below this level are not written; <see cref="JsonLogLevel.None"/> writes nothing. Default <see cref="JsonLogLevel.Info"/>.</summary>
    public JsonLogLevel MinimumLevel { get; init; } = JsonLogLevel.Info;

    /// <summary>The clock that stamps each line's <c>"timestamp"</c>. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
