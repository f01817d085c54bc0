using System.Globalization;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.S3;
using Analytics.Tools;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A spill bucket and the aggregate table <c>t</c> on the DynamoDB and S3 models (one virtual clock), clients behind
/// <see cref="ModelFaults"/>, and runs of <see cref="SpillRedrive"/> with the lines they write.
/// </summary>
internal sealed class SpillRedriveModels() : ModelWorld(Table, Bucket)
{
    public const string Bucket = "spills";
    public const string Table = "agg";

    /// <summary>Stores an object now (by the models' clock), as the spill sink's PutObject would.</summary>
    public void Put(string key, string body) => S3.Deliver(Bucket, key, Encoding.UTF8.GetBytes(body), "application/json");

    /// <summary>The keys in the bucket, in key order.</summary>
    public List<string> Keys() => [.. S3.GetObjects(Bucket).Select(o => o.Key)];

    /// <summary>Every item of the table as (pk, sk, count, sum), in key order.</summary>
    public List<(string Pk, string Sk, long Count, double Sum)> Items() =>
        [.. DynamoDb.GetItems(Table)
            .Select(i => (i["pk"].S, i["sk"].S, long.Parse(i["count"].N, CultureInfo.InvariantCulture), double.Parse(i["sum"].N, CultureInfo.InvariantCulture)))
            .OrderBy(i => i.Item1, StringComparer.Ordinal).ThenBy(i => i.Item2, StringComparer.Ordinal)];

    /// <summary>A sink for <paramref name="table"/> whose retries wait on the models' clock.</summary>
    public DynamoDbAggregateSink Sink(string table = Table) =>
        new(DynamoDbClient, DynamoDbAggregateSinkOptions.Default with
        {
            TableName = table,
            Retry = DynamoDbAggregateSinkOptions.Default.Retry with { TimeProvider = Clock, JitterSeed = 1 },
        });

    /// <summary>One run over <paramref name="prefix"/> on the models' clock; its report and the lines it wrote (to <paramref name="output"/> when given).</summary>
    public (RedriveReport Report, string[] Lines) Run(
        string prefix = "spill",
        TimeSpan minAge = default,
        Func<CancellationToken, Task>? heartbeat = null,
        int maxObjects = SpillRedrive.MaxObjectsPerRun,
        string table = Table,
        CancellationToken cancellationToken = default,
        StringWriter? output = null,
        long maxOtherObjectBytes = SpillRedrive.MaxOtherObjectBytes)
    {
        output ??= new StringWriter();
        RedriveReport report = Pump(SpillRedrive.ApplyAsync(S3Client, Bucket, prefix, Sink(table), output, minAge, Clock, cancellationToken, heartbeat, maxObjects, maxOtherObjectBytes: maxOtherObjectBytes));
        return (report, output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
    }
}
