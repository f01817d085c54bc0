using System.Globalization;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Analytics.Replay;
using Analytics.Tools.Redrive;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The destination redrive runs a shard's given-up records through the function's pipeline in events of 500 records
/// (<see cref="DestinationRedriveOptions.RecordsPerEvent"/>), with the pipeline's cap on pairs (10,000 by default). Valid
/// records that together hold more pairs than the cap make the pipeline split the event (docs/aggregation.md: the batch
/// is split before the record that would pass the cap, and the record starts the next one), which a function's
/// invocation answers with a checkpoint that Lambda re-delivers from. The redrive must go on from there, as Lambda does.
/// </summary>
public class DestinationRedrivePairCapTests
{
    private const string DestinationBucket = "failures";
    private const string QuarantineBucket = "quarantine";
    private const string Shard = "shardId-000000000000";

    /// <summary>
    /// One given-up batch of 500 valid records (BatchSize 500), each an NDJSON record of 21 samples of series of its
    /// own: 10,500 pairs in all. Nothing of it was applied. The redrive must apply every record, once. It applies the
    /// records before the split (9,996 pairs), then stops, leaves the object and its shard, and says "the pipeline
    /// reported a failure at ... (aggregate sink Completed, quarantine sink NotCalled)": exit 1 for valid records and
    /// healthy stores. A second run applies the rest; a shard's given-up records past the cap need a run per 10,000 pairs.
    /// </summary>
    [Fact]
    public async Task AGivenUpBatchOfMorePairsThanTheCap_IsAppliedWhole()
    {
        var clock = new VirtualClock(Emulate.Start);
        using var dynamoDb = new DynamoDbModel(clock, DynamoDbModelOptions.Default);
        using var s3Model = new S3Model(clock, S3ModelOptions.Default);
        dynamoDb.CreateTable("agg", "pk", "sk");
        s3Model.CreateBucket(DestinationBucket);
        s3Model.CreateBucket(QuarantineBucket);
        using Amazon.DynamoDBv2.AmazonDynamoDBClient dynamoDbClient = dynamoDb.CreateClient();
        using AmazonS3Client s3 = s3Model.CreateClient();

        const int records = 500, linesPerRecord = 21;
        string[] events = [.. Enumerable.Range(1, records).Select(n => Record(n, linesPerRecord))];
        string payload = "{\"Records\":[" + string.Join(",", events) + "]}";
        await s3.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest
        {
            BucketName = DestinationBucket,
            Key = "aws/lambda/u/" + Shard + "/2025/01/01/2025-01-01T00.05.00-x",
            ContentBody = "{\"requestContext\":{\"condition\":\"RetryAttemptsExhausted\",\"approximateInvokeCount\":4},\"KinesisBatchInfo\":{\"shardId\":\"" + Shard + "\",\"startSequenceNumber\":\"" + Sequence(1) +
                "\",\"endSequenceNumber\":\"" + Sequence(records) + "\",\"batchSize\":" + records.ToString(CultureInfo.InvariantCulture) + "},\"payload\":" + JsonSerializer.Serialize(payload) + "}",
            UseChunkEncoding = false,
        });

        // The command's pipeline options: the library's defaults but for the window size.
        var options = new DestinationRedriveOptions(DestinationBucket, "aws/lambda/", "agg", ProcessorOptions.Default with { TimeProvider = clock }, QuarantineBucket);
        RedriveObjectResult first = Assert.Single(clock.Pump(new DestinationRedrive(s3, dynamoDbClient, options).RunAsync(CancellationToken.None)));
        List<Dictionary<string, AttributeValue>> afterFirst = [.. dynamoDb.GetItems("agg").Where(i => i["sk"].S != "lease")];

        // Run again, as the report asks: the rest is applied, nothing twice.
        RedriveObjectResult second = Assert.Single(clock.Pump(new DestinationRedrive(s3, dynamoDbClient, options).RunAsync(CancellationToken.None)));
        List<Dictionary<string, AttributeValue>> items = [.. dynamoDb.GetItems("agg").Where(i => i["sk"].S != "lease")];
        Assert.True(second.Error is null && items.Count == records * linesPerRecord && items.All(i => i["count"].N == "1"), $"second run: error '{second.Error}', {items.Count} items");

        // One run must do it: the split is the pipeline's checkpoint, not a failure of the table or the bucket.
        Assert.True(
            first.Error is null && afterFirst.Count == records * linesPerRecord,
            $"first run: error '{first.Error}'; {afterFirst.Count} of {records * linesPerRecord} pairs in the table; the second run applied {second.Applied} more");
    }

    private static string Sequence(int n) => "4959" + n.ToString("D52", CultureInfo.InvariantCulture);

    /// <summary>Record n of shard 0, key k-n: <paramref name="lines"/> NDJSON samples of series of its own, n seconds into the window.</summary>
    private static string Record(int n, int lines)
    {
        long timestamp = Emulate.Start.AddSeconds(n % 60).ToUnixTimeMilliseconds();
        string data = string.Join("\n", Enumerable.Range(0, lines).Select(i => string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"m{n}-{i}\",\"value\":1,\"timestamp\":{timestamp}}}")));
        string seq = Sequence(n);
        return "{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":\"k-" + n.ToString(CultureInfo.InvariantCulture) + "\",\"sequenceNumber\":\"" + seq + "\",\"data\":\"" +
            Convert.ToBase64String(Encoding.UTF8.GetBytes(data)) + "\",\"approximateArrivalTimestamp\":1735689660.000},\"eventSource\":\"aws:kinesis\",\"eventSourceARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/s\",\"eventID\":\"" +
            Shard + ":" + seq + "\"}";
    }
}
