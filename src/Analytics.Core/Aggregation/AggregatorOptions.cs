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

    /// <summary>Size of the tumbling event-time windows, aligned to the Unix epoch; 1 s to 1 h. Default 60 s.</summary>
    public TimeSpan WindowSize { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Most distinct (series, window) pairs one aggregator holds; a record that would add a pair past it is
    /// <see cref="PoisonReason.CardinalityLimit"/>. Default 10,000.
    /// </summary>
    public int MaxPairs { get; init; } = 10_000;

    /// <summary>Relative accuracy α of the quantile sketch: estimates are within α·|x| of the exact quantile. Default 0.01.</summary>
    public double RelativeAccuracy { get; init; } = 0.01;

    /// <summary>Most bins a sketch keeps on each side of zero before it collapses the lowest ones. Default 2048.</summary>
    public int MaxBins { get; init; } = 2048;
}
