using System.Text;

namespace Analytics.Core;

internal sealed partial class MetricAggregator
{
    /// <summary>A decoded summary of every pair, in pair order, with p50, p90, p95 and p99.</summary>
    /// <returns>One snapshot per pair; allocates.</returns>
    internal IReadOnlyList<AggregateSnapshot> GetSnapshots()
    {
        var result = new AggregateSnapshot[_pairCount];
        var metrics = new string?[_seriesCount];
        var dimensions = new IReadOnlyList<KeyValuePair<string, string>>?[_seriesCount];
        for (int p = 0; p < _pairCount; p++)
        {
            ref readonly PairEntry e = ref _pairs[p];
            if (metrics[e.Series] is null)
            {
                ref readonly SeriesEntry s = ref _series[e.Series];
                SeriesKey key = SeriesKey.FromTrusted(_arena.AsSpan(s.Offset, s.Length));
                metrics[e.Series] = key.GetMetricString();
                var dims = new KeyValuePair<string, string>[key.DimensionCount];
                int i = 0;
                foreach (SeriesKey.Dimension d in key.Dimensions)
                {
                    dims[i++] = new(Encoding.UTF8.GetString(d.Key), Encoding.UTF8.GetString(d.Value));
                }

                dimensions[e.Series] = dims;
            }

            result[p] = new AggregateSnapshot(
                metrics[e.Series]!,
                dimensions[e.Series]!,
                DateTimeOffset.FromUnixTimeMilliseconds(e.WindowStart),
                DateTimeOffset.FromUnixTimeMilliseconds(e.WindowStart + _windowSizeMs),
                _aggregates[p]!);
        }

        return result;
    }
}
