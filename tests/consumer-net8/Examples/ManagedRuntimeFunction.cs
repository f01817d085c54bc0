namespace ConsumerNet8.Core;

// README:start
using Amazon.Lambda.Core;
using Analytics.Core;

public class Function
{
    // Once per sandbox: the function keeps its buffers across invocations.
    private static readonly KinesisFunction s_function = new(
        new JsonLinesAggregateSink("/tmp/aggregates.jsonl"),   // Analytics.Core.Aws: DynamoDbAggregateSink
        new JsonLinesQuarantineSink("/tmp/quarantine.jsonl"),  // Analytics.Core.Aws: S3QuarantineSink
        KinesisFunctionSettings.FromEnvironment().ToFunctionOptions());

    // Returns {"batchItemFailures":[...]}; writes log lines and one EMF metrics line per invocation to stdout.
    public Task<Stream> Handler(Stream input, ILambdaContext context) =>
        s_function.HandleAsync(input, context.RemainingTime);
}
// README:end
