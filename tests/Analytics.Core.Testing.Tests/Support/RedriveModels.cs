using System.Buffers;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Amazon.S3.Model;
using Analytics.Tools.Redrive;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The DynamoDB and S3 models on one virtual clock for a destination redrive: the aggregate table, the bucket that holds
/// the on-failure destination's objects (also the quarantine bucket), clients whose requests can fail
/// (<see cref="ModelFaults"/>), and the function's live pipeline writing into the same table.
/// </summary>
internal sealed class RedriveModels() : ModelWorld(Table, Bucket)
{
    public const string Bucket = "failures";
    public const string Table = "aggregates";

    /// <summary>The redrive's options for this world: objects under <paramref name="prefix"/>, the function's default processor on the clock.</summary>
    public DestinationRedriveOptions Options(string prefix = "aws/lambda/") =>
        new(Bucket, prefix, Table, ProcessorOptions.Default with { TimeProvider = Clock }, Bucket);

    /// <summary>Retry options of the sinks on the clock, with a fixed jitter and <paramref name="attempts"/> attempts.</summary>
    public AwsRetryOptions Retry(int attempts) => AwsRetryOptions.Default with { MaxAttempts = attempts, TimeProvider = Clock, JitterSeed = 1 };

    /// <summary>
    /// The redrive's options for runs whose sinks retry: the backoff on the clock, the pipeline's deadlines on the system
    /// clock. A failed request's exception is handled on another thread, and <see cref="Pump"/> would meanwhile jump the
    /// clock to the deadline, the only timer due (as in <see cref="SpillOutageTests"/>).
    /// </summary>
    public DestinationRedriveOptions RetryingOptions() => Options() with { Processor = ProcessorOptions.Default };

    public Task PutAsync(string key, string body) =>
        S3Client.PutObjectAsync(new PutObjectRequest { BucketName = Bucket, Key = key, ContentBody = body, UseChunkEncoding = false });

    /// <summary>One redrive run to its end on the clock.</summary>
    public IReadOnlyList<RedriveObjectResult> Run(DestinationRedriveOptions options, Func<CancellationToken, Task>? heartbeat = null) =>
        Pump(new DestinationRedrive(S3Client, DynamoDbClient, options).RunAsync(null, heartbeat, CancellationToken.None));

    /// <summary>The live function applies one event of these records through its pipeline and the real sink.</summary>
    public async Task ApplyLiveAsync(params string[] records)
    {
        var sink = new DynamoDbAggregateSink(DynamoDbClient, DynamoDbAggregateSinkOptions.Default with { TableName = Table, Retry = Retry(1) });
        var quarantine = new S3QuarantineSink(S3Client, S3QuarantineSinkOptions.Default with { BucketName = Bucket, Retry = Retry(1) });
        using var live = new KinesisBatchProcessor(sink, quarantine, ProcessorOptions.Default with { TimeProvider = Clock });
        BatchSummary summary = await live.ProcessAsync(Encoding.UTF8.GetBytes("{\"Records\":[" + string.Join(",", records) + "]}"), Clock.GetUtcNow().AddMinutes(1), new ArrayBufferWriter<byte>(), CancellationToken.None);
        Assert.Null(summary.ReportedFailure);
    }

    /// <summary>The item of a metric's series (every sample is in the one window), or null.</summary>
    public Dictionary<string, AttributeValue>? Item(string metric) =>
        DynamoDb.GetItems(Table).SingleOrDefault(i => i["pk"].S == RedriveObjects.Series(metric));

    /// <summary>The samples a metric's item holds (0 when there is no item).</summary>
    public long Count(string metric) => Item(metric) is { } item ? long.Parse(item["count"].N, System.Globalization.CultureInfo.InvariantCulture) : 0;

    /// <summary>The stored marker of a destination object, or null.</summary>
    public S3ModelObject? Marker(string key) =>
        S3.GetObjects(Bucket).SingleOrDefault(o => o.Key == DestinationRedriveOptions.MarkerPrefix + key + ".json");
}
