namespace Analytics.Core;

/// <summary>CONTRACT STUB: the aggregator issue implements this (DDSketch-style, relative-error, mergeable).</summary>
public sealed class QuantileSketch
{
    /// <summary>Creates an empty sketch.</summary>
    /// <param name="relativeAccuracy">α.</param>
    /// <param name="maxBins">Bin bound per side.</param>
    public QuantileSketch(double relativeAccuracy = 0.01, int maxBins = 2048) => throw new NotImplementedException();

    /// <summary>Number of values.</summary>
    public long Count => throw new NotImplementedException();

    /// <summary>Adds a finite value.</summary>
    /// <param name="value">The value.</param>
    public void Add(double value) => throw new NotImplementedException();

    /// <summary>Merges another sketch of the same accuracy into this one.</summary>
    /// <param name="other">The other sketch.</param>
    public void Merge(QuantileSketch other) => throw new NotImplementedException();

    /// <summary>The estimated quantile.</summary>
    /// <param name="q">0..1.</param>
    /// <returns>The estimate.</returns>
    public double GetQuantile(double q) => throw new NotImplementedException();

    /// <summary>Empties the sketch, keeping its storage.</summary>
    public void Clear() => throw new NotImplementedException();
}
