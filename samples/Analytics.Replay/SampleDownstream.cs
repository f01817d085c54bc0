using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Analytics.Core;
using Analytics.Core.Testing;
using Analytics.Replay.Incident;

namespace Analytics.Replay;

/// <summary>
/// The sample handler's downstream: the DynamoDB and S3 models on the emulator's clock, configured from the scenario's
/// <c>downstream</c>, the clients the real sinks write through, and the read-back of both in the <c>invoke</c>
/// command's line formats.
/// </summary>
internal sealed class SampleDownstream : IDisposable
{
    public const string TableName = "aggregates";
    public const string BucketName = "quarantine";

    private static readonly JsonWriterOptions s_lineOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly AmazonDynamoDBClient _dynamoDbClient;
    private readonly AmazonS3Client _s3Client;
    private readonly AwsRetryOptions _dynamoDbRetry;
    private readonly AwsRetryOptions _s3Retry;
    private readonly ThrottleEpisodeHandler? _episodes;

    /// <param name="httpClients">
    /// Whether the DynamoDB client sends every request through the AWS SDK's pipeline and the JSON protocol (the
    /// model's <c>CreateHttpClient</c>) instead of handing item operations to the model directly; the outputs are the
    /// same, the HTTP path is slower.
    /// </param>
    public SampleDownstream(TimeProvider clock, int seed, DateTimeOffset start, DownstreamFile? file, bool httpClients = false)
    {
        ArgumentNullException.ThrowIfNull(clock);
        DynamoDb = new DynamoDbModel(clock, DynamoDbModelOptions.Default with
        {
            Seed = seed,
            Latency = Latency(file?.Dynamodb),
            ThrottleFraction = file?.Dynamodb?.ThrottleFraction ?? 0,
            Outages = Outages(file?.Dynamodb, start),
            RequestTimeout = Analytics.SampleLambda.SampleSinks.DynamoDbTimeout,
        });
        S3 = new S3Model(clock, S3ModelOptions.Default with
        {
            Seed = seed,
            Latency = Latency(file?.S3),
            ThrottleFraction = file?.S3?.ThrottleFraction ?? 0,
            Outages = Outages(file?.S3, start),
            RequestTimeout = Analytics.SampleLambda.SampleSinks.S3Timeout,
        });

        // Set up before the clock moves: no request, so no latency or fault decides whether the run can start.
        DynamoDb.CreateTable(TableName, DynamoDbItem.PartitionKey, DynamoDbItem.SortKey);
        S3.CreateBucket(BucketName);
        if (file?.Dynamodb?.ThrottleEpisodes is { Count: > 0 } episodes)
        {
            _episodes = new ThrottleEpisodeHandler(
                DynamoDb.HttpHandler,
                episodes.Select(e => new ThrottleEpisode(start.AddSeconds(e.FromSecond), start.AddSeconds(e.ToSecond), e.Fraction)).ToList(),
                clock,
                Latency(file.Dynamodb),
                seed);
            _dynamoDbClient = _episodes.CreateClient(DynamoDb, httpClients);
        }
        else
        {
            _dynamoDbClient = httpClients ? DynamoDb.CreateHttpClient() : DynamoDb.CreateClient();
        }

        _s3Client = S3.CreateClient();

        // Each sink's own default retry counts and delays, on the virtual clock with seeded jitter.
        _dynamoDbRetry = DynamoDbAggregateSinkOptions.Default.Retry with { TimeProvider = clock, JitterSeed = seed };
        _s3Retry = S3QuarantineSinkOptions.Default.Retry with { TimeProvider = clock, JitterSeed = seed };
    }

    public DynamoDbModel DynamoDb { get; }

    public S3Model S3 { get; }

    /// <summary>The client every handler writes to DynamoDB through (through the throttling episodes, when there are any).</summary>
    public IAmazonDynamoDB DynamoDbClient => _dynamoDbClient;

    /// <summary>DynamoDB requests throttled by the scenario's throttling episodes (they never reached the model).</summary>
    public long EpisodeThrottles => _episodes?.Throttles ?? 0;

    /// <summary>A new aggregate sink (one per execution environment, as each Lambda sandbox builds its own).</summary>
    public DynamoDbAggregateSink CreateAggregateSink(bool perShardWatermarkOnly = false) =>
        new(_dynamoDbClient, DynamoDbAggregateSinkOptions.Default with { TableName = TableName, Retry = _dynamoDbRetry, PerShardWatermarkOnly = perShardWatermarkOnly });

    /// <summary>A new spill sink beside <paramref name="table"/>, in the quarantine bucket under <c>spill/</c> as the template has it (one per execution environment).</summary>
    public S3SpillSink CreateSpillSink(DynamoDbAggregateSink table) =>
        new(_s3Client, S3SpillSinkOptions.Default with { BucketName = BucketName, Retry = _s3Retry }, table);

    /// <summary>A new quarantine sink (one per execution environment).</summary>
    public S3QuarantineSink CreateQuarantineSink() =>
        new(_s3Client, S3QuarantineSinkOptions.Default with { BucketName = BucketName, Retry = _s3Retry });

    /// <summary>
    /// The table read back as <c>aggregates.jsonl</c> lines (the <c>invoke</c> and <c>query</c> format), ordered by series
    /// and then window, with the sink's own item-layout code.
    /// </summary>
    /// <returns>The number of lines.</returns>
    /// <exception cref="InvalidDataException">An item is not an aggregate of the sink's layout.</exception>
    public int WriteAggregates(IBufferWriter<byte> output)
    {
        var scratch = new MetricAggregate(AggregatorOptions.Default);
        int lines = 0;
        foreach (Dictionary<string, AttributeValue> item in DynamoDb.GetItems(TableName))
        {
            if (!DynamoDbItem.TryReadPair(item, scratch, out MetricAggregate aggregate, out string metric, out List<KeyValuePair<string, string>> dimensions, out long startMs, out long endMs) ||
                !SeriesKey.TryCreate(SeriesKey.Encode(metric, dimensions), out SeriesKey key))
            {
                throw new InvalidDataException($"The modeled table holds an item that is not an aggregate of the sink's layout (pk '{Key(item, DynamoDbItem.PartitionKey)}', sk '{Key(item, DynamoDbItem.SortKey)}').");
            }

            using (var writer = new Utf8JsonWriter(output, s_lineOptions))
            {
                AggregateJsonLine.Write(writer, key, startMs, endMs, aggregate);
            }

            output.Write("\n"u8);
            lines++;
        }

        return lines;
    }

    /// <summary>
    /// The bucket read back as <c>quarantine.jsonl</c> lines (the <c>invoke</c> format, which is the S3 object's body
    /// on one line), in object key order.
    /// </summary>
    /// <returns>The number of lines.</returns>
    public int WriteQuarantine(IBufferWriter<byte> output)
    {
        int lines = 0;
        foreach (S3ModelObject stored in QuarantineObjects())
        {
            using JsonDocument body = JsonDocument.Parse(stored.Body);
            using (var writer = new Utf8JsonWriter(output, s_lineOptions))
            {
                writer.WriteStartObject();
                foreach (JsonProperty property in body.RootElement.EnumerateObject())
                {
                    property.WriteTo(writer);
                }

                writer.WriteEndObject();
            }

            output.Write("\n"u8);
            lines++;
        }

        return lines;
    }

    /// <summary>
    /// The spill sink's objects left in the bucket (under <c>spill/</c>, not its per-shard markers) as <c>spill.jsonl</c>
    /// lines in key order, <c>{"key":"spill/...","object":{...}}</c> as <c>destination.jsonl</c> writes an S3 object: what
    /// a redrive would apply, so a run's records can be accounted for from its files alone (found by review: nothing
    /// written showed the spills).
    /// </summary>
    public int WriteSpills(System.Buffers.IBufferWriter<byte> output)
    {
        int lines = 0;
        using var json = new System.Text.Json.Utf8JsonWriter(output);
        foreach (S3ModelObject o in S3.GetObjects(BucketName).Where(o => o.Key.StartsWith(S3SpillSinkOptions.Default.KeyPrefix + "/", StringComparison.Ordinal) && o.Key.EndsWith(".json", StringComparison.Ordinal)))
        {
            json.WriteStartObject();
            json.WriteString("key", o.Key);
            json.WritePropertyName("object");
            json.WriteRawValue(o.Body.Span, skipInputValidation: false);
            json.WriteEndObject();
            json.Flush();
            output.Write("\n"u8);
            json.Reset();
            lines++;
        }

        return lines;
    }

    /// <summary>The quarantine's objects (the bucket also holds the spill sink's, under <c>spill/</c>).</summary>
    public IEnumerable<S3ModelObject> QuarantineObjects() =>
        S3.GetObjects(BucketName).Where(o => o.Key.StartsWith(S3QuarantineSinkOptions.Default.KeyPrefix + "/", StringComparison.Ordinal));

    public void Dispose()
    {
        _dynamoDbClient.Dispose();
        _episodes?.Dispose();
        _s3Client.Dispose();
        DynamoDb.Dispose();
        S3.Dispose();
    }

    private static LatencyDistribution Latency(ServiceModelFile? file) =>
        file?.LatencyMs is { } latency ? LatencyDistribution.FromMilliseconds(latency.P50, latency.P99) : LatencyDistribution.None;

    private static List<OutageWindow>? Outages(ServiceModelFile? file, DateTimeOffset start) =>
        file?.Outages?.Select(o => new OutageWindow(start.AddSeconds(o.FromSecond), start.AddSeconds(o.ToSecond)) { Unanswered = o.Unanswered }).ToList();

    private static string? Key(Dictionary<string, AttributeValue> item, string name) =>
        item.TryGetValue(name, out AttributeValue? value) ? value.S : null;
}
