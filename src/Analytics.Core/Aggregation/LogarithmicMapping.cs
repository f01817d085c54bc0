namespace Analytics.Core;

/// <summary>
/// Maps a positive magnitude to the index of its logarithmic bin and back: bin <c>i</c> holds the magnitudes in
/// <c>(γ^(i-1), γ^i]</c> with <c>γ = (1 + α) / (1 - α)</c>, and is represented by <c>2γ^i / (γ + 1)</c>, which is
/// within <c>α·x</c> of every <c>x</c> in the bin.
/// </summary>
/// <remarks>
/// The bins are computed for an accuracy a hair tighter than α (by a factor 1 - 1e-7) so that the rounding of
/// <see cref="Math.Log(double)"/> and <see cref="Math.Exp(double)"/> near a bin boundary cannot push an estimate past α.
/// Every positive double, subnormals included, has a bin; the index range is [<see cref="MinIndex"/>, <see cref="MaxIndex"/>].
/// </remarks>
internal sealed class LogarithmicMapping
{
    private const double Margin = 1 - 1e-7;

    private readonly double _multiplier;
    private readonly double _lnGamma;
    private readonly double _lnRepresentativeFactor;

    public LogarithmicMapping(double relativeAccuracy, int maxBins)
    {
        RelativeAccuracy = relativeAccuracy;
        MaxBins = maxBins;
        double alpha = relativeAccuracy * Margin;
        double gamma = (1 + alpha) / (1 - alpha);
        _lnGamma = Math.Log(gamma);
        _multiplier = 1 / _lnGamma;
        _lnRepresentativeFactor = Math.Log(2 / (1 + gamma));
        MinIndex = Index(double.Epsilon);
        MaxIndex = Index(double.MaxValue);
    }

    /// <summary>α as configured (not the tightened value the bins use).</summary>
    public double RelativeAccuracy { get; }

    /// <summary>Most bins per store.</summary>
    public int MaxBins { get; }

    /// <summary>Index of the smallest positive double.</summary>
    public int MinIndex { get; }

    /// <summary>Index of the largest double.</summary>
    public int MaxIndex { get; }

    /// <summary>The bin index of a positive finite magnitude.</summary>
    public int Index(double magnitude)
    {
        CoreAssert.True(magnitude > 0 && double.IsFinite(magnitude), "magnitude is positive and finite");
        return (int)Math.Ceiling(Math.Log(magnitude) * _multiplier);
    }

    /// <summary>The representative magnitude of bin <paramref name="index"/> (may be +∞ for the last bins; callers clamp).</summary>
    public double Value(int index) => Math.Exp((index * _lnGamma) + _lnRepresentativeFactor);

    /// <summary>Whether two mappings put every value into the same bins.</summary>
    public bool IsCompatibleWith(LogarithmicMapping other) =>
        ReferenceEquals(this, other)
        || (RelativeAccuracy.Equals(other.RelativeAccuracy) && MaxBins == other.MaxBins);
}
