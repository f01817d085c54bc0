using System.Globalization;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Analytics.Core.Tests;
using Analytics.Tools;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// What the redrive tests on the local servers do around the objects they write: run the <c>redrive</c> command as an
/// operator does, read the one aggregate item back, and apply records live as the function would.
/// </summary>
internal static class RedriveTool
{
    /// <summary>
    /// Runs <c>redrive</c> (spills from <paramref name="spill"/>, destination objects from <paramref name="failure"/> when
    /// given, no minimum age, <paramref name="extra"/> appended); its standard output, and its error output too when
    /// <paramref name="errorsToo"/>.
    /// </summary>
    public static async Task<(int Exit, string Output)> RunRedriveAsync(LocalServersFixture servers, string table, string spill, string? failure, bool errorsToo = false, params string[] extra)
    {
        var output = new StringWriter(CultureInfo.InvariantCulture);
        string[] args = ["redrive", "--table", table, "--spill-bucket", spill, "--min-age-minutes", "0", "--dynamodb-endpoint", servers.DynamoDbUrl.ToString(), "--s3-endpoint", servers.S3Url.ToString()];
        args = failure is null ? args : [.. args, "--failure-bucket", failure];
        int exit = await ToolsCommand.RunAsync([.. args, .. extra], output, errorsToo ? output : TextWriter.Null);
        return (exit, output.ToString());
    }

    /// <summary>The table's one aggregate item (the redrive lease left out), read consistently.</summary>
    public static async Task<Dictionary<string, AttributeValue>> ItemAsync(AmazonDynamoDBClient dynamoDb, string table) =>
        Assert.Single((await dynamoDb.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items, i => i["sk"].S != "lease");

    /// <summary>Runs the records through the function's pipeline with the real sinks, as a live invocation.</summary>
    public static async Task<BatchSummary> ApplyLiveAsync(AmazonDynamoDBClient dynamoDb, AmazonS3Client s3, string table, string quarantine, string[] records)
    {
        using var processor = new KinesisBatchProcessor(
            new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table }),
            new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = quarantine }),
            ProcessorOptions.Default);
        var response = new System.Buffers.ArrayBufferWriter<byte>();
        return await processor.ProcessAsync(Encoding.UTF8.GetBytes("{\"Records\":[" + string.Join(",", records) + "]}"), DateTimeOffset.UtcNow.AddMinutes(1), response);
    }
}
