using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Analytics.Core.Tests;
using Analytics.Replay;
using Analytics.Tools.Redrive;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// A KPL container of one valid and one poison user record, given up by Lambda while S3 (the quarantine) was down: the
/// failed attempts made the valid user record durable, and could not quarantine the container. The redrive of the
/// destination object must quarantine it (docs/failure-modes.md: "poison records are quarantined again under their
/// deterministic key"; README: every poison record is in the quarantine), and must not apply the valid one again.
/// </summary>
public class DestinationRedriveKplPoisonTests
{
    private const string DestinationBucket = "failures";
    private const string QuarantineBucket = "quarantine";
    private const string Shard = "shardId-000000000000";
    private static readonly string s_sequence = "4959" + 1.ToString("D52", CultureInfo.InvariantCulture);

    /// <summary>
    /// The live attempt: the aggregate sink writes the valid user record's item, the quarantine sink takes nothing (S3
    /// down), and the response names the container (its poison user record is not durable). Retried the same way until
    /// Lambda gives up, it reaches the on-failure destination. The redrive finds the item's watermark of the key at the
    /// container (the failed attempt applied it: "already applied"). It used to run nothing then, so the poison user
    /// record reached neither the quarantine nor the table, with the object reported done; it must run the container for
    /// its poison user record and leave the valid one as it is.
    /// </summary>
    [Fact]
    public async Task AContainerWhoseValidUserRecordsTheFailedAttemptsApplied_IsStillQuarantinedByTheRedrive()
    {
        var clock = new VirtualClock(Emulate.Start);
        using var dynamoDb = new DynamoDbModel(clock, DynamoDbModelOptions.Default);
        using var s3Model = new S3Model(clock, S3ModelOptions.Default);
        dynamoDb.CreateTable("agg", "pk", "sk");
        s3Model.CreateBucket(DestinationBucket);
        s3Model.CreateBucket(QuarantineBucket);
        using Amazon.DynamoDBv2.AmazonDynamoDBClient dynamoDbClient = dynamoDb.CreateClient();
        using AmazonS3Client s3 = s3Model.CreateClient();
        ProcessorOptions processorOptions = ProcessorOptions.Default with { TimeProvider = clock };

        string record = KplRecord();
        var sink = new DynamoDbAggregateSink(dynamoDbClient, DynamoDbAggregateSinkOptions.Default with { TableName = "agg" });
        using (var live = new KinesisBatchProcessor(sink, new QuarantineDown(), processorOptions))
        {
            var response = new ArrayBufferWriter<byte>();
            Task<BatchSummary> attempt = live.ProcessAsync(Encoding.UTF8.GetBytes("{\"Records\":[" + record + "]}"), clock.GetUtcNow().AddMinutes(1), response, CancellationToken.None);
            BatchSummary summary = clock.Pump(attempt);
            Assert.Equal(s_sequence, summary.ReportedFailure);
        }

        Assert.Equal("1", Assert.Single(dynamoDb.GetItems("agg"))["count"].N);

        await s3.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest
        {
            BucketName = DestinationBucket,
            Key = "aws/lambda/u/" + Shard + "/2025/01/01/2025-01-01T00.05.00-x",
            ContentBody = "{\"requestContext\":{\"condition\":\"RetryAttemptsExhausted\",\"approximateInvokeCount\":4},\"KinesisBatchInfo\":{\"shardId\":\"" + Shard + "\",\"startSequenceNumber\":\"" + s_sequence +
                "\",\"endSequenceNumber\":\"" + s_sequence + "\",\"batchSize\":1},\"payload\":" + JsonSerializer.Serialize("{\"Records\":[" + record + "]}") + "}",
            UseChunkEncoding = false,
        });

        var options = new DestinationRedriveOptions(DestinationBucket, "aws/lambda/", "agg", processorOptions, QuarantineBucket);
        RedriveObjectResult result = Assert.Single(clock.Pump(new DestinationRedrive(s3, dynamoDbClient, options).RunAsync(CancellationToken.None)));

        // The valid user record is not applied twice.
        Assert.Equal("1", Assert.Single(dynamoDb.GetItems("agg"))["count"].N);
        Assert.Null(result.Error);

        // The poison user record is in the quarantine, named by its sub-sequence number.
        IReadOnlyList<S3ModelObject> objects = s3Model.GetObjects(QuarantineBucket);
        Assert.True(objects.Count == 1, $"{objects.Count} quarantine objects; the redrive reported {result.Applied} applied, {result.AlreadyApplied} already applied, {result.Cases.Count(c => c.Status == RedriveStatus.Undecided)} undecided, error '{result.Error}'");
        S3ModelObject quarantined = objects[0];
        using JsonDocument body = JsonDocument.Parse(quarantined.Body);
        Assert.Equal(s_sequence, body.RootElement.GetProperty("sequenceNumber").GetString());
        Assert.Equal(1, body.RootElement.GetProperty("subSequenceNumber").GetInt32());
    }

    /// <summary>A Kinesis record of shard 0, key a: a KPL container of a valid user record (metric m) and a poison one (JSON cut short).</summary>
    private static string KplRecord()
    {
        byte[] valid = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"m\",\"value\":5,\"timestamp\":{Emulate.Start.AddSeconds(1).ToUnixTimeMilliseconds()}}}"));
        byte[] poison = Encoding.UTF8.GetBytes("{\"metric\":\"m\",\"value\":");
        byte[] container = KplTestEncoder.Aggregate([new KplTestUserRecord("a", null, valid, []), new KplTestUserRecord("a", null, poison, [])]);
        return "{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":\"a\",\"sequenceNumber\":\"" + s_sequence + "\",\"data\":\"" + Convert.ToBase64String(container) +
            "\",\"approximateArrivalTimestamp\":1735689601.000},\"eventSource\":\"aws:kinesis\",\"eventSourceARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/s\",\"eventID\":\"" + Shard + ":" + s_sequence + "\"}";
    }

    /// <summary>The quarantine while S3 is down: nothing durable.</summary>
    private sealed class QuarantineDown : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => Task.FromResult(0);
    }
}
