using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Amazon.Runtime.Internal;
using Amazon.S3;

namespace Analytics.Core.Testing;

/// <summary>
/// The SDK clients the models hand out: the SDK's own clients and pipeline without its <see cref="MetricsHandler"/>.
/// That handler only times the call and records it in a tracing span, and for the span it formats the stack trace of
/// every failed call (<c>Exception.StackTrace</c>: a reflection lookup per frame and the symbol files' line numbers),
/// whether or not anything listens. Profiled in SpillOutageTests, that was 14 % of the class's CPU, two thirds of what
/// its failed calls' exceptions cost; runs through outages fail tens of thousands of calls. Nothing a caller sees
/// depends on it: the same requests, responses, exception types and messages.
/// </summary>
internal static class ModelSdkClients
{
    /// <summary>The address of every DynamoDB client over a model (never resolved: the handler answers).</summary>
    public const string DynamoDbUrl = "http://dynamodb.model.invalid";

    /// <summary>Takes the SDK's metrics and tracing handler out of <paramref name="pipeline"/>.</summary>
    public static void WithoutMetrics(RuntimePipeline pipeline) => pipeline.RemoveHandler<MetricsHandler>();

    /// <summary>
    /// The configuration of a DynamoDB client whose requests <paramref name="handler"/> answers (a model's, or a test's in
    /// front of one): the model's address, resolved once and not through the service's endpoint rules on every request;
    /// no retries of the SDK's own (<c>MaxErrorRetry = 0</c>, the standard mode, no retry throttling), so the sink's own
    /// retries are what is tested; and no real-time timeout, since the model's latency runs on its own clock.
    /// </summary>
    public static AmazonDynamoDBConfig DynamoDbConfig(HttpMessageHandler handler, string region = "us-east-1") => new()
    {
        ServiceURL = DynamoDbUrl,
        EndpointProvider = new ModelEndpointProvider(DynamoDbUrl),
        AuthenticationRegion = region,
        MaxErrorRetry = 0,
        RetryMode = RequestRetryMode.Standard,
        ThrottleRetries = false,
        Timeout = Timeout.InfiniteTimeSpan,
        HttpClientFactory = new ModelHttpClientFactory(handler),
    };

    /// <summary>
    /// The configuration of an S3 client whose requests <paramref name="handler"/> answers: path-style, as
    /// <see cref="DynamoDbConfig"/> otherwise, with checksums only where S3 requires them.
    /// </summary>
    public static AmazonS3Config S3Config(HttpMessageHandler handler, string region = "us-east-1") => new()
    {
        ServiceURL = "http://s3.model.invalid",
        AuthenticationRegion = region,
        ForcePathStyle = true,
        MaxErrorRetry = 0,
        RetryMode = RequestRetryMode.Standard,
        ThrottleRetries = false,
        Timeout = Timeout.InfiniteTimeSpan,
        RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
        ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        HttpClientFactory = new ModelHttpClientFactory(handler),
    };
}

/// <summary>
/// An <see cref="AmazonDynamoDBClient"/> without the SDK's metrics and tracing handler (see <see cref="ModelSdkClients"/>);
/// the model's direct client builds on it.
/// </summary>
internal class ModelDynamoDbClient(AWSCredentials credentials, AmazonDynamoDBConfig config) : AmazonDynamoDBClient(credentials, config)
{
    protected override void CustomizeRuntimePipeline(RuntimePipeline pipeline)
    {
        base.CustomizeRuntimePipeline(pipeline);
        ModelSdkClients.WithoutMetrics(pipeline);
    }
}

/// <summary>An <see cref="AmazonS3Client"/> without the SDK's metrics and tracing handler (see <see cref="ModelSdkClients"/>).</summary>
internal sealed class ModelS3Client(AWSCredentials credentials, AmazonS3Config config) : AmazonS3Client(credentials, config)
{
    protected override void CustomizeRuntimePipeline(RuntimePipeline pipeline)
    {
        base.CustomizeRuntimePipeline(pipeline);
        ModelSdkClients.WithoutMetrics(pipeline);
    }
}
