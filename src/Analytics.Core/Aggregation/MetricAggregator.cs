using System.Buffers;

namespace Analytics.Core;

/// <summary>CONTRACT STUB: the aggregator issue implements this: (series, window) pairs with bounded memory.</summary>
public sealed class MetricAggregator
{
    /// <summary>Creates an empty aggregator.</summary>
    /// <param name="options">The options.</param>
    public MetricAggregator(AggregatorOptions options) => throw new NotImplementedException();

    /// <summary>The options.</summary>
    public AggregatorOptions Options => throw new NotImplementedException();

    /// <summary>Number of (series, window) pairs, indexed 0..PairCount-1 in creation order.</summary>
    public int PairCount => throw new NotImplementedException();

    /// <summary>Adds one sample; false when it would create a pair past the cap.</summary>
    /// <param name="seriesKey">The series.</param>
    /// <param name="timestampMs">Event time, epoch ms.</param>
    /// <param name="value">A finite value.</param>
    /// <returns>Whether it was added.</returns>
    public bool TryAdd(SeriesKey seriesKey, long timestampMs, double value) => throw new NotImplementedException();

    /// <summary>The series of a pair.</summary>
    /// <param name="pair">Pair index.</param>
    /// <returns>The key.</returns>
    public SeriesKey GetSeriesKey(int pair) => throw new NotImplementedException();

    /// <summary>Window start of a pair, epoch ms.</summary>
    /// <param name="pair">Pair index.</param>
    /// <returns>Start.</returns>
    public long GetWindowStartMs(int pair) => throw new NotImplementedException();

    /// <summary>The aggregate of a pair.</summary>
    /// <param name="pair">Pair index.</param>
    /// <returns>The aggregate.</returns>
    public MetricAggregate GetAggregate(int pair) => throw new NotImplementedException();

    /// <summary>Merges another aggregator's pairs into this one.</summary>
    /// <param name="other">The other.</param>
    public void Merge(MetricAggregator other) => throw new NotImplementedException();

    /// <summary>Removes all pairs, keeping storage.</summary>
    public void Clear() => throw new NotImplementedException();

    /// <summary>Writes all pairs in the compact versioned binary form.</summary>
    /// <param name="writer">The destination.</param>
    public void WriteTo(IBufferWriter<byte> writer) => throw new NotImplementedException();

    /// <summary>Reads the binary form and merges its pairs into this aggregator.</summary>
    /// <param name="source">The bytes.</param>
    /// <returns><see langword="false"/> when the bytes are not valid.</returns>
    public bool TryMergeFrom(ReadOnlySpan<byte> source) => throw new NotImplementedException();

    internal bool TryGetOrAddPair(ReadOnlySpan<byte> seriesKey, long timestampMs, out int pair) => throw new NotImplementedException();

    internal void AddToPair(int pair, double value) => throw new NotImplementedException();

    internal void RollbackTo(int pairCount) => throw new NotImplementedException();
}
