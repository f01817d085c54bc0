namespace ConsumerNet8.Aws;

// README:start
using Amazon.DynamoDBv2;
using Amazon.Lambda.Core;
using Amazon.S3;
using Analytics.Core;

public class Function
{
    private static readonly KinesisFunctionSettings s_settings = KinesisFunctionSettings.FromEnvironment();
    private static readonly KinesisFunctionOptions s_options = s_settings.ToFunctionOptions();

    // Once per sandbox. Few SDK retries and a short timeout: the sinks retry themselves within the deadline.
    private static readonly KinesisFunction s_function = new(
        new DynamoDbAggregateSink(
            new AmazonDynamoDBClient(new AmazonDynamoDBConfig { MaxErrorRetry = 1, Timeout = TimeSpan.FromSeconds(2) }),
            DynamoDbAggregateSinkOptions.Default with { TableName = s_settings.AggregateTable ?? "metrics" }),
        new S3QuarantineSink(
            new AmazonS3Client(new AmazonS3Config { MaxErrorRetry = 1, Timeout = TimeSpan.FromSeconds(5) }),
            S3QuarantineSinkOptions.Default with { BucketName = s_settings.QuarantineBucket ?? "metrics-quarantine" }),
        s_options);

    public Task<Stream> Handler(Stream input, ILambdaContext context) =>
        s_function.HandleAsync(input, context.RemainingTime);
}
// README:end
