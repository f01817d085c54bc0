using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Core;

namespace Analytics.Tools.Redrive;

/// <summary>
/// Whether <c>--table</c> is the table of the objects' stream. The sink refuses a write to an item of another stream,
/// but an item that does not exist has no stream to compare: given another function's table, whose items are all of
/// another stream, a redrive merged the objects' samples into new items there, deleted the spills and marked the
/// destination objects done, exit 0, and the samples never reached their own table. So before a stream's objects are
/// applied, the table is scanned (its <c>stream</c> attribute only, at most <see cref="MaxScanned"/> items) for an item
/// of that stream; a table that holds items of other streams and none of this one is refused for it.
/// </summary>
/// <remarks>
/// A table that holds no item with a stream (new, or written before the attribute existed) is accepted: there is nothing
/// to tell. A table moved to a new stream (docs/dynamodb.md) is accepted for it once the function has written one item
/// of it, which it does as soon as DynamoDB takes its writes again.
/// </remarks>
internal sealed class TableStreams
{
    /// <summary>Most items one check reads before it judges from what it has seen.</summary>
    public const int MaxScanned = 10_000;

    private readonly IAmazonDynamoDB _dynamoDb;
    private readonly string _table;
    private readonly Dictionary<string, string?> _verdicts = new(StringComparer.Ordinal);

    /// <summary>A check of <paramref name="table"/>, remembering its verdict per stream for the run.</summary>
    /// <param name="dynamoDb">The client.</param>
    /// <param name="table">The aggregate table.</param>
    public TableStreams(IAmazonDynamoDB dynamoDb, string table)
    {
        _dynamoDb = dynamoDb;
        _table = table;
    }

    /// <summary>Why objects of <paramref name="stream"/> must not be applied to the table; null when they may (or the stream is not known).</summary>
    /// <param name="stream">The objects' stream (<see cref="DynamoDbItem.StreamOf"/>).</param>
    /// <param name="cancellationToken">Stops the scan.</param>
    /// <returns>The reason, naming the table and both streams, or null.</returns>
    public async Task<string?> MismatchAsync(string? stream, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(stream))
        {
            return null;
        }

        if (_verdicts.TryGetValue(stream, out string? known))
        {
            return known;
        }

        var others = new SortedSet<string>(StringComparer.Ordinal);
        int scanned = 0;
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            ScanResponse page = await _dynamoDb.ScanAsync(
                new ScanRequest
                {
                    TableName = _table,
                    ProjectionExpression = "#stream",
                    ExpressionAttributeNames = new Dictionary<string, string>(StringComparer.Ordinal) { ["#stream"] = DynamoDbItem.Stream },
                    ExclusiveStartKey = start,
                    Limit = Math.Min(1000, MaxScanned - scanned),
                },
                cancellationToken).ConfigureAwait(false);
            foreach (Dictionary<string, AttributeValue> item in page.Items ?? [])
            {
                if (item.TryGetValue(DynamoDbItem.Stream, out AttributeValue? of) && of.S is { Length: > 0 } s)
                {
                    if (s == stream)
                    {
                        _verdicts[stream] = null;
                        return null;
                    }

                    others.Add(s);
                }
            }

            scanned += page.Items?.Count ?? 0;
            start = page.LastEvaluatedKey is { Count: > 0 } ? page.LastEvaluatedKey : null;
        }
        while (start is not null && scanned < MaxScanned);

        string? why = others.Count == 0 ? null : string.Create(
            CultureInfo.InvariantCulture,
            $"table '{_table}' holds items of stream {string.Join(", ", others.Take(3))}{(others.Count > 3 ? ", ..." : string.Empty)}, and the object is of stream {stream}, of which it holds none{(start is null ? string.Empty : $" in the {scanned} items read")}; one stream per table (docs/dynamodb.md): give the table of stream {stream} as --table (a table moved to that stream is accepted once the function has written an item of it)");
        _verdicts[stream] = why;
        return why;
    }
}
