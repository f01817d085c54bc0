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
        using var models = new DestinationRedriveTests.OneTableModels();
        models.S3Model.CreateBucket(QuarantineBucket);
        (VirtualClock clock, DynamoDbModel dynamoDb, S3Model s3Model, Amazon.DynamoDBv2.AmazonDynamoDBClient dynamoDbClient, AmazonS3Client s3) = (models.Clock, models.DynamoDb, models.S3Model, models.DynamoDbClient, models.S3);

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

        // The function's pipeline options, as `redrive --max-pairs 20000` gives them (the library's 10,000 quarantined the
        // container and wrote none of its samples, reporting nothing).
        var options = new DestinationRedriveOptions(DestinationBucket, "aws/lambda/", "agg", new KinesisFunctionSettings { MaxPairs = 20_000 }.ToProcessorOptions() with { TimeProvider = clock }, QuarantineBucket);
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

    /// <summary>
    /// The other side of <see cref="DestinationRedriveMaxPairsTests"/>: a function with <c>ANALYTICS_MAX_PAIRS=20000</c>
    /// (the settings take up to 1,000,000) aggregates a KPL container of 10,001 user records of series of their own; its
    /// batch is given up before anything is written (a crash before the flush). The redrive, with the library's cap of
    /// 10,000 and no option for the function's, called the container <c>CardinalityLimit</c> poison: it quarantined it and
    /// wrote none of its samples, and reported nothing undecided. Given the function's cap, it applies every sample.
    /// </summary>
    [Fact]
    public async Task AContainerWithinTheFunctionsPairCap_IsAppliedByTheRedrive_NotQuarantined()
    {
        using var models = new DestinationRedriveTests.OneTableModels();
        models.S3Model.CreateBucket(QuarantineBucket);
        (VirtualClock clock, DynamoDbModel dynamoDb, S3Model s3Model, Amazon.DynamoDBv2.AmazonDynamoDBClient dynamoDbClient, AmazonS3Client s3) = (models.Clock, models.DynamoDb, models.S3Model, models.DynamoDbClient, models.S3);

        const int users = 10_001;
        long timestamp = Emulate.Start.AddSeconds(1).ToUnixTimeMilliseconds();
        byte[] container = Analytics.Core.Tests.KplTestEncoder.Aggregate([.. Enumerable.Range(0, users).Select(i => new Analytics.Core.Tests.KplTestUserRecord(
            "k", null, Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"m{i}\",\"value\":1,\"timestamp\":{timestamp}}}")), []))]);
        string record = "{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":\"k\",\"sequenceNumber\":\"" + Sequence(1) + "\",\"data\":\"" + Convert.ToBase64String(container) +
            "\",\"approximateArrivalTimestamp\":1735689660.000},\"eventSource\":\"aws:kinesis\",\"eventSourceARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/s\",\"eventID\":\"" + Shard + ":" + Sequence(1) + "\"}";

        // The function's verdict: under its cap the container is valid, its 10,001 pairs aggregated, nothing quarantined.
        var counted = new CountingSinks();
        using (var function = new KinesisBatchProcessor(counted, counted, new KinesisFunctionSettings { MaxPairs = 20_000 }.ToProcessorOptions() with { TimeProvider = clock }))
        {
            var response = new System.Buffers.ArrayBufferWriter<byte>();
            BatchSummary summary = clock.Pump(function.ProcessAsync(Encoding.UTF8.GetBytes("{\"Records\":[" + record + "]}"), clock.GetUtcNow().AddMinutes(1), response, CancellationToken.None));
            Assert.Null(summary.ReportedFailure);
            Assert.Equal((users, 0), (counted.Pairs, counted.Quarantined));
        }

        await s3.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest
        {
            BucketName = DestinationBucket,
            Key = "aws/lambda/u/" + Shard + "/2025/01/01/2025-01-01T00.05.00-x",
            ContentBody = "{\"requestContext\":{\"condition\":\"RetryAttemptsExhausted\",\"approximateInvokeCount\":4},\"KinesisBatchInfo\":{\"shardId\":\"" + Shard + "\",\"startSequenceNumber\":\"" + Sequence(1) +
                "\",\"endSequenceNumber\":\"" + Sequence(1) + "\",\"batchSize\":1},\"payload\":" + JsonSerializer.Serialize("{\"Records\":[" + record + "]}") + "}",
            UseChunkEncoding = false,
        });

        // The function's pipeline options, as `redrive --max-pairs 20000` gives them (the library's 10,000 quarantined the
        // container and wrote none of its samples, reporting nothing).
        var options = new DestinationRedriveOptions(DestinationBucket, "aws/lambda/", "agg", new KinesisFunctionSettings { MaxPairs = 20_000 }.ToProcessorOptions() with { TimeProvider = clock }, QuarantineBucket);
        RedriveObjectResult result = Assert.Single(clock.Pump(new DestinationRedrive(s3, dynamoDbClient, options).RunAsync(CancellationToken.None)));

        int items = dynamoDb.GetItems("agg").Count(i => i["sk"].S != "lease");
        int quarantined = s3Model.GetObjects(QuarantineBucket).Count;
        Assert.True(items == users && quarantined == 0, $"{items} of {users} items in the table, {quarantined} quarantine objects; the redrive reported {result.Applied} applied, {result.Cases.Count} cases, error '{result.Error}'");
    }

    /// <summary>Sinks that keep nothing: every pair durable, every poison record quarantined, both counted.</summary>
    private sealed class CountingSinks : IAggregateSink, IQuarantineSink
    {
        public int Pairs { get; private set; }

        public int Quarantined { get; private set; }

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            Pairs += batch.Count;
            batch.MarkAllDurable();
            return Task.CompletedTask;
        }

        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
        {
            Quarantined += records.Count;
            return Task.FromResult(records.Count);
        }
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
