namespace Analytics.Core;

/// <summary>
/// Appends each aggregate of a batch as one line of JSON to a local file (see <see cref="AggregateJsonLine"/>):
/// the default sink for local runs and tests, with no network.
/// </summary>
/// <remarks>
/// Appending is not idempotent: a re-delivered batch appends again. Use a sink with watermarks (the DynamoDB sink)
/// where re-delivery must not double-count. Several writers (sink instances, processes) may share one file: each
/// batch is appended as one unit under an exclusive lock on the file, so lines never interleave, and an append that
/// fails part way is cut back, so the file never ends in half a line.
/// </remarks>
public sealed class JsonLinesAggregateSink : IAggregateSink
{
    private readonly JsonLinesFile _file;
    private readonly List<int> _pairs = [];

    /// <summary>Creates the sink.</summary>
    /// <param name="path">The file; created when missing, appended to otherwise.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    public JsonLinesAggregateSink(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _file = new JsonLinesFile(path);
    }

    /// <inheritdoc/>
    public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        _pairs.Clear();
        for (int i = 0; i < batch.Count; i++)
        {
            _pairs.Add(i);
        }

        await _file.AppendAsync(
            _pairs,
            (writer, pair) => AggregateJsonLine.Write(writer, batch.GetSeriesKey(pair), batch.GetWindowStartMs(pair), batch.GetWindowEndMs(pair), batch.GetAggregate(pair)),
            cancellationToken).ConfigureAwait(false);
        foreach (int pair in _pairs)
        {
            batch.MarkDurable(pair);
        }
    }
}
