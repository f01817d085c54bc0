using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Amazon.S3;
using Analytics.Core;

namespace Analytics.SampleLambda;

/// <summary>Where the function writes: a DynamoDB table and an S3 bucket, or JSON-lines files in a directory.</summary>
/// <param name="OutputDirectory">Where <c>aggregates.jsonl</c> and <c>quarantine.jsonl</c> go when no table or bucket is set.</param>
/// <param name="AggregateTable">DynamoDB table for the aggregates; null for the file.</param>
/// <param name="QuarantineBucket">S3 bucket for poison records; null for the file.</param>
/// <param name="DynamoDbEndpoint">An explicit DynamoDB endpoint (a local server); null for the AWS environment's.</param>
/// <param name="S3Endpoint">An explicit S3 endpoint (a local server, addressed path-style); null for the AWS environment's.</param>
/// <param name="SpillBucket">S3 bucket for spills of what the table could not take; null for none (needs <paramref name="AggregateTable"/>).</param>
/// <param name="Names">What the operator set to give each target, for messages; null: <see cref="SinkTargetNames.Environment"/>.</param>
/// <param name="PerShardWatermarkOnly">The DynamoDB sink's <see cref="DynamoDbAggregateSinkOptions.PerShardWatermarkOnly"/>.</param>
internal sealed record SinkTargets(
    string OutputDirectory,
    string? AggregateTable = null,
    string? QuarantineBucket = null,
    Uri? DynamoDbEndpoint = null,
    Uri? S3Endpoint = null,
    string? SpillBucket = null,
    SinkTargetNames? Names = null,
    bool PerShardWatermarkOnly = false)
{
    internal const string AggregatesFileName = "aggregates.jsonl";
    internal const string QuarantineFileName = "quarantine.jsonl";

    /// <summary>The aggregates file, used when <see cref="AggregateTable"/> is null.</summary>
    public string AggregatesPath => Path.Combine(OutputDirectory, AggregatesFileName);

    /// <summary>The quarantine file, used when <see cref="QuarantineBucket"/> is null.</summary>
    public string QuarantinePath => Path.Combine(OutputDirectory, QuarantineFileName);
}

/// <summary>The setting (environment variable or command-line option) that gives each target, named in its errors.</summary>
/// <param name="AggregateTable">The table's setting.</param>
/// <param name="QuarantineBucket">The quarantine bucket's setting.</param>
/// <param name="SpillBucket">The spill bucket's setting.</param>
internal sealed record SinkTargetNames(string AggregateTable, string QuarantineBucket, string SpillBucket)
{
    /// <summary>Under Lambda: the environment variables.</summary>
    public static readonly SinkTargetNames Environment = new(SampleSettings.AggregateTableVariable, SampleSettings.QuarantineBucketVariable, SampleSettings.SpillBucketVariable);
}

/// <summary>
/// A table or bucket setting the sinks refuse (a name neither service can take): the message names the setting the
/// operator set (the environment variable, or the <c>invoke</c> option), not the library option it fills.
/// </summary>
internal sealed class SinkTargetException(string message, Exception inner) : InvalidOperationException(message, inner);

/// <summary>The one place the function's sinks and their AWS clients are built; disposing it disposes the clients.</summary>
internal sealed class SampleSinks : IDisposable
{
    private readonly AmazonDynamoDBClient? _dynamoDb;
    private readonly AmazonS3Client? _s3;

    private SampleSinks(IAggregateSink aggregates, IQuarantineSink quarantine, ISpillSink? spill, AmazonDynamoDBClient? dynamoDb, AmazonS3Client? s3)
    {
        Aggregates = aggregates;
        Quarantine = quarantine;
        Spill = spill;
        _dynamoDb = dynamoDb;
        _s3 = s3;
    }

    public IAggregateSink Aggregates { get; }

    public IQuarantineSink Quarantine { get; }

    /// <summary>Where spills go (the processor's <see cref="ProcessorOptions.SpillSink"/>); null: no spilling.</summary>
    public ISpillSink? Spill { get; }

    /// <summary>Builds the sinks for <paramref name="targets"/>.</summary>
    /// <param name="targets">Where to write.</param>
    /// <returns>The sinks.</returns>
    /// <exception cref="SinkTargetException">A table or bucket name the sinks refuse; the message names its setting.</exception>
    public static SampleSinks Create(SinkTargets targets)
    {
        SinkTargetNames names = targets.Names ?? SinkTargetNames.Environment;

        // Few SDK retries and a short timeout: the sinks retry themselves, within the invocation's deadline.
        AmazonDynamoDBClient? dynamoDb = targets.AggregateTable is null ? null : DynamoDbClient(targets.DynamoDbEndpoint);
        AmazonS3Client? s3 = targets.QuarantineBucket is null && targets.SpillBucket is null ? null : S3Client(targets.S3Endpoint);
        try
        {
            DynamoDbAggregateSink? table = dynamoDb is null ? null : Named(names.AggregateTable, targets.AggregateTable!, () => new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = targets.AggregateTable!, PerShardWatermarkOnly = targets.PerShardWatermarkOnly }));
            IAggregateSink aggregates = table is null ? new JsonLinesAggregateSink(targets.AggregatesPath) : table;
            IQuarantineSink quarantine = targets.QuarantineBucket is null
                ? new JsonLinesQuarantineSink(targets.QuarantinePath)
                : Named(names.QuarantineBucket, targets.QuarantineBucket, () => new S3QuarantineSink(s3!, S3QuarantineSinkOptions.Default with { BucketName = targets.QuarantineBucket }));

            // Spills hold what the table could not take; the spill sink reads the table before spilling.
            ISpillSink? spill = targets.SpillBucket is null || table is null
                ? null
                : Named(names.SpillBucket, targets.SpillBucket, () => new S3SpillSink(s3!, S3SpillSinkOptions.Default with { BucketName = targets.SpillBucket }, table));
            return new SampleSinks(aggregates, quarantine, spill, dynamoDb, s3);
        }
        catch (SinkTargetException)
        {
            dynamoDb?.Dispose();
            s3?.Dispose();
            throw;
        }
    }

    /// <summary>Builds a sink; its refusal of <paramref name="value"/> names <paramref name="setting"/>, which the operator set.</summary>
    private static T Named<T>(string setting, string value, Func<T> create)
    {
        try
        {
            return create();
        }
        catch (ArgumentException e)
        {
            // The sink's message ("<option> '<value>' is not ...") names its own option (DynamoDbAggregateSinkOptions.TableName,
            // ...), which the operator never saw: they set the variable or the flag.
            string message = MessageAlone(e);
            string quoted = "'" + value + "'";
            int at = message.IndexOf(quoted, StringComparison.Ordinal);
            throw new SinkTargetException(at >= 0 ? $"{setting} {message[at..]}" : $"{setting}: {message}", e);
        }
    }

    /// <summary>An argument exception's message without the " (Parameter '...')" the runtime appends: the sinks' messages name their option themselves.</summary>
    internal static string MessageAlone(ArgumentException e) =>
        e.ParamName is { } parameter ? e.Message.Replace($" (Parameter '{parameter}')", string.Empty, StringComparison.Ordinal) : e.Message;

    /// <summary>How long the DynamoDB client waits for an answer under Lambda (longer for a local endpoint).</summary>
    internal static readonly TimeSpan DynamoDbTimeout = TimeSpan.FromSeconds(2);

    /// <summary>How long the S3 client waits for an answer under Lambda (longer for a local endpoint).</summary>
    internal static readonly TimeSpan S3Timeout = TimeSpan.FromSeconds(5);

    /// <summary>A DynamoDB client: the AWS environment's, or one for a local endpoint.</summary>
    /// <param name="endpoint">A local endpoint; null under Lambda.</param>
    /// <returns>The client.</returns>
    public static AmazonDynamoDBClient DynamoDbClient(Uri? endpoint)
    {
        var config = new AmazonDynamoDBConfig { MaxErrorRetry = 1, Timeout = endpoint is null ? DynamoDbTimeout : TimeSpan.FromSeconds(5) };
        if (endpoint is null)
        {
            return new AmazonDynamoDBClient(config);
        }

        config.ServiceURL = endpoint.ToString();
        config.AuthenticationRegion = LocalRegion();
        return new AmazonDynamoDBClient(LocalCredentials(), config);
    }

    /// <summary>An S3 client: the AWS environment's, or a path-style one for a local endpoint.</summary>
    /// <param name="endpoint">A local endpoint; null under Lambda.</param>
    /// <returns>The client.</returns>
    public static AmazonS3Client S3Client(Uri? endpoint)
    {
        var config = new AmazonS3Config { MaxErrorRetry = 1, Timeout = endpoint is null ? S3Timeout : TimeSpan.FromSeconds(10) };
        if (endpoint is null)
        {
            return new AmazonS3Client(config);
        }

        config.ServiceURL = endpoint.ToString();
        config.AuthenticationRegion = LocalRegion();
        config.ForcePathStyle = true;
        return new AmazonS3Client(LocalCredentials(), config);
    }

    public void Dispose()
    {
        _dynamoDb?.Dispose();
        _s3?.Dispose();
    }

    /// <summary>For a local endpoint: the environment's keys when set, else the pair s3rver accepts (dynalite accepts any).</summary>
    private static BasicAWSCredentials LocalCredentials()
    {
        string? key = Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID");
        string? secret = Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY");
        return string.IsNullOrEmpty(key) || string.IsNullOrEmpty(secret) ? new BasicAWSCredentials("S3RVER", "S3RVER") : new BasicAWSCredentials(key, secret);
    }

    private static string LocalRegion() => Environment.GetEnvironmentVariable("AWS_REGION") is { Length: > 0 } region ? region : "us-east-1";
}
