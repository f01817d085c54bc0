using System.Buffers;

namespace Analytics.Core;

/// <summary>CONTRACT STUB: the aggregator issue implements this: count, sum, min, max and a quantile sketch.</summary>
public sealed class MetricAggregate
{
    /// <summary>Creates an empty aggregate.</summary>
    /// <param name="options">Sketch accuracy and bounds.</param>
    public MetricAggregate(AggregatorOptions options) => throw new NotImplementedException();

    /// <summary>Number of samples.</summary>
    public long Count => throw new NotImplementedException();

    /// <summary>Sum of the samples.</summary>
    public double Sum => throw new NotImplementedException();

    /// <summary>Smallest sample.</summary>
    public double Min => throw new NotImplementedException();

    /// <summary>Largest sample.</summary>
    public double Max => throw new NotImplementedException();

    /// <summary>The quantile sketch.</summary>
    public QuantileSketch Sketch => throw new NotImplementedException();

    /// <summary>Adds a sample.</summary>
    /// <param name="value">A finite value.</param>
    public void Add(double value) => throw new NotImplementedException();

    /// <summary>Merges another aggregate into this one.</summary>
    /// <param name="other">The other aggregate.</param>
    public void Merge(MetricAggregate other) => throw new NotImplementedException();

    /// <summary>The estimated quantile.</summary>
    /// <param name="q">0..1.</param>
    /// <returns>The estimate.</returns>
    public double GetQuantile(double q) => throw new NotImplementedException();

    /// <summary>Empties the aggregate, keeping its storage.</summary>
    public void Clear() => throw new NotImplementedException();

    /// <summary>Writes the compact versioned binary form.</summary>
    /// <param name="writer">The destination.</param>
    public void WriteTo(IBufferWriter<byte> writer) => throw new NotImplementedException();

    /// <summary>Reads the binary form, replacing this aggregate's content.</summary>
    /// <param name="source">The bytes.</param>
    /// <param name="bytesRead">How many bytes the aggregate took.</param>
    /// <returns><see langword="false"/> when the bytes are not a valid aggregate.</returns>
    public bool TryReadFrom(ReadOnlySpan<byte> source, out int bytesRead) => throw new NotImplementedException();
}
