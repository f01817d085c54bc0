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
    /// <summary>Takes the SDK's metrics and tracing handler out of <paramref name="pipeline"/>.</summary>
    public static void WithoutMetrics(RuntimePipeline pipeline) => pipeline.RemoveHandler<MetricsHandler>();
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
