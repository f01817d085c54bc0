namespace Analytics.Core;

/// <summary>How samples are grouped into windows and summarized.</summary>
/// <remarks>Set only what differs: <c>AggregatorOptions.Default with { WindowSize = TimeSpan.FromMinutes(5) }</c>.</remarks>
public readonly record struct AggregatorOptions
{
    /// <summary>Creates the default options.</summary>
    public AggregatorOptions()
    {
    }

    /// <summary>The default options.</summary>
    public static AggregatorOptions Default => new();

    /// <summary>
    /// Size of the tumbling event-time windows, aligned to the Unix epoch; 1 s to 1 h, whole milliseconds.
    /// Default 60 s.
    /// </summary>
    public TimeSpan WindowSize { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Most distinct (series, window) pairs one aggregator holds. The pipeline splits a batch before a record that
    /// would add a pair past it (the record starts the next batch); only a record that alone holds more pairs is
    /// <see cref="PoisonReason.CardinalityLimit"/>. 1 to 10,000,000; default 10,000 (<c>ANALYTICS_MAX_PAIRS</c> takes 1
    /// to 1,000,000).
    /// </summary>
    public int MaxPairs { get; init; } = 10_000;

    /// <summary>
    /// Relative accuracy α of the quantile sketch: estimates are within α·|x| of the exact quantile (α·|x| + 4.9e-324 for a subnormal x, where doubles are too sparse); 0.0001 to 0.5.
    /// Default 0.01.
    /// </summary>
    public double RelativeAccuracy { get; init; } = 0.01;

    /// <summary>
    /// Most non-empty bins a sketch keeps on each side of zero before it collapses the lowest ones (flagged by
    /// <see cref="QuantileSketch.IsCollapsed"/>); 16 to 65,536. Default 2048.
    /// </summary>
    public int MaxBins { get; init; } = 2048;

    internal const double MinRelativeAccuracy = 0.0001;
    internal const double MaxRelativeAccuracy = 0.5;
    internal const int MinBins = 16;
    internal const int MaxBinsLimit = 65_536;
    internal const int MaxPairsLimit = 10_000_000;

    /// <summary>The window size in milliseconds (valid after <see cref="Validate"/>).</summary>
    internal long WindowSizeMs => WindowSize.Ticks / TimeSpan.TicksPerMillisecond;

    /// <summary>Checks every option; throws for the first one out of range.</summary>
    internal void Validate(string paramName)
    {
        if (WindowSize < TimeSpan.FromSeconds(1) || WindowSize > TimeSpan.FromHours(1)
            || WindowSize.Ticks % TimeSpan.TicksPerMillisecond != 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(paramName, $"WindowSize must be 1 s to 1 h in whole milliseconds; it is {WindowSize}.");
        }

        if (MaxPairs < 1 || MaxPairs > MaxPairsLimit)
        {
            ThrowHelper.ThrowArgumentOutOfRange(paramName, $"MaxPairs must be 1 to {MaxPairsLimit}; it is {MaxPairs}.");
        }

        _ = CreateMapping(RelativeAccuracy, MaxBins, paramName, paramName);
    }

    /// <summary>Checks the sketch parameters and builds their bin mapping.</summary>
    internal static LogarithmicMapping CreateMapping(double relativeAccuracy, int maxBins, string accuracyParam, string binsParam)
    {
        if (!(relativeAccuracy >= MinRelativeAccuracy && relativeAccuracy <= MaxRelativeAccuracy))
        {
            ThrowHelper.ThrowArgumentOutOfRange(accuracyParam, $"RelativeAccuracy must be {MinRelativeAccuracy} to {MaxRelativeAccuracy}; it is {relativeAccuracy}.");
        }

        if (maxBins < MinBins || maxBins > MaxBinsLimit)
        {
            ThrowHelper.ThrowArgumentOutOfRange(binsParam, $"MaxBins must be {MinBins} to {MaxBinsLimit}; it is {maxBins}.");
        }

        return new LogarithmicMapping(relativeAccuracy, maxBins);
    }
}
