using System.Buffers;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.S3;
using Analytics.Core.Tests;
using Xunit.Abstractions;

namespace Analytics.Core.Testing.Tests;

/// <summary>The real AWS sinks over the emulator's DynamoDB and S3 models, a table that throttles every request.</summary>
public sealed class ModelFailureVisibilityTests(ITestOutputHelper output)
{
    /// <summary>
    /// Coverage probe: every DynamoDB request throttled by the model, the quarantine bucket missing in the S3 model, records
    /// whose partition key, metric name and dimension value are secrets: both sinks are Failed with their error's type and
    /// reason, and no line holds the secret.
    /// </summary>
    [Fact]
    public async Task ModelThrottlesEveryRequest_AndTheBucketIsMissing_BothSinksFailedWithTheirErrors_NoSecret()
    {
        using var dynamo = new DynamoDbModel(TimeProvider.System, DynamoDbModelOptions.Default with { Seed = 65, ThrottleFraction = 1.0 });
        using var s3 = new S3Model(TimeProvider.System, S3ModelOptions.Default);
        dynamo.CreateTable("metrics", "pk", "sk");
        using AmazonDynamoDBClient dynamoClient = dynamo.CreateClient();
        using AmazonS3Client s3Client = s3.CreateClient();
        var retry = AwsRetryOptions.Default with { MaxAttempts = 3, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(5) };
        var aggregates = new DynamoDbAggregateSink(dynamoClient, DynamoDbAggregateSinkOptions.Default with { TableName = "metrics", Retry = retry });
        var quarantine = new S3QuarantineSink(s3Client, S3QuarantineSinkOptions.Default with { BucketName = "no-such-bucket", Retry = retry });
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default);
        byte[] evt = TestEvents.Build(
        [
            new Analytics.Core.Tests.TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("SECRET-M", 1, TestEvents.Arrival - 1000, ("u", "SECRET-D"))), TestEvents.Arrival, "SECRET-PK-123"),
            new Analytics.Core.Tests.TestRecord(TestEvents.Seq(2), TestEvents.Utf8("{\"metric\":\"SECRET-BAD\","), TestEvents.Arrival, "SECRET-PK-123"),
        ]);

        var lines = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(20), new ArrayBufferWriter<byte>());
        JsonLog.WriteInvocation(summary, JsonLogOptions.Default, lines);
        EmfMetrics.Write(summary, EmfOptions.Default, lines);
        string text = Encoding.UTF8.GetString(lines.WrittenSpan);
        output.WriteLine(text);

        Assert.DoesNotContain("SECRET", text, StringComparison.Ordinal);
        Assert.Equal(SinkOutcome.Failed, summary.AggregateSinkOutcome);
        Assert.StartsWith("Amazon.DynamoDBv2.Model.ProvisionedThroughputExceededException: ", summary.AggregateSinkError, StringComparison.Ordinal);
        Assert.Equal(SinkOutcome.Failed, summary.QuarantineSinkOutcome);
        Assert.Contains("no-such-bucket", summary.QuarantineSinkError, StringComparison.Ordinal);
        Assert.StartsWith("{\"level\":\"Error\"", text, StringComparison.Ordinal);
    }
}
