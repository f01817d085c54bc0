namespace Analytics.Core;

/// <summary>
/// Appends each poison record as one line of JSON to a local file, in the shape of <see cref="QuarantineJsonLine"/>
/// (the S3 quarantine sink's objects hold the same JSON).
/// </summary>
/// <remarks>
/// Several writers (sink instances, processes) may share one file: each batch is appended as one unit under an
/// exclusive lock on the file, so lines never interleave, and an append that fails part way is cut back.
/// </remarks>
public sealed class JsonLinesQuarantineSink : IQuarantineSink
{
    private readonly JsonLinesFile _file;

    /// <summary>Creates the sink.</summary>
    /// <param name="path">The file; created when missing, appended to otherwise.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    public JsonLinesQuarantineSink(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _file = new JsonLinesFile(path);
    }

    /// <inheritdoc/>
    public async Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        await _file.AppendAsync(records, QuarantineJsonLine.Write, cancellationToken).ConfigureAwait(false);
        return records.Count;
    }
}
