using System.Buffers;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.S3;
using Xunit.Abstractions;
using static Analytics.Core.Tests.StoredItems;

namespace Analytics.Core.Tests;

/// <summary>
/// An operator who configures the AWS sinks from the READMEs and gets details wrong: a table that does not exist or has
/// another key schema, a bucket that does not exist, an item written by something else, retry options out of range.
/// Every case runs against the real local servers; none may end with records marked done that are not stored once.
/// </summary>
[Collection(LocalServersCollection.Second)]
public sealed class CarelessOperatorTests(LocalServersFixture servers, ITestOutputHelper output)
{
    private const string Shard = "shardId-000000000007";
    private const long WindowMs = 1_714_564_800_000; // 2024-05-01T12:00:00Z
    private const string First = "49590338271490256608559692538361571095921575989136588898";
    private const string Second = "49590338271490256608559692538361571095921575989136589000";

    [Fact]
    public async Task DynamoDbSink_TableDoesNotExist_ThrowsResourceNotFound_NothingDurable()
    {
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = "no-such-table-here" });
        AggregateBatch batch = ShardStream.Build(Shard, ShardStream.Generate(seed: 1, count: 20));

        ResourceNotFoundException e = await Assert.ThrowsAsync<ResourceNotFoundException>(() => sink.WriteAsync(batch, CancellationToken.None));

        output.WriteLine(BatchSummaryError(e));
        Assert.StartsWith("Table 'no-such-table-here' (DynamoDbAggregateSinkOptions.TableName) was not found", e.Message, StringComparison.Ordinal);
        Assert.Equal("ResourceNotFoundException", e.ErrorCode);
        Assert.Equal(0, batch.DurableCount);
    }

    [Theory]
    [InlineData("other-key-names")]
    [InlineData("number-sort-key")]
    [InlineData("hash-key-only")]
    public async Task DynamoDbSink_TableWithAnotherKeySchema_Throws_NothingDurable_NothingWritten(string schema)
    {
        string table = await CreateTableAsync(schema);
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        AggregateBatch batch = ShardStream.Build(Shard, ShardStream.Generate(seed: 2, count: 20));

        AmazonDynamoDBException e = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => sink.WriteAsync(batch, CancellationToken.None));

        output.WriteLine(BatchSummaryError(e));
        Assert.StartsWith($"Table '{table}' (DynamoDbAggregateSinkOptions.TableName) does not have the sink's key schema, pk (S, HASH) and sk (S, RANGE)", e.Message, StringComparison.Ordinal);
        Assert.Equal("ValidationException", e.ErrorCode);
        Assert.Equal(0, batch.DurableCount);
        Assert.Equal(0, await ShardStream.CountItemsAsync(client, table));
    }

    /// <summary>
    /// Only the key-schema error is named as one: another validation error (an item over DynamoDB's size limit, an
    /// empty string, as DynamoDB words them), or an error of another code that quotes the key-schema text, passes as
    /// DynamoDB raised it, the same exception. Labelled "does not have the sink's key schema", it would send the operator
    /// to a table that is fine.
    /// </summary>
    [Theory]
    [InlineData("ValidationException", "Item size has exceeded the maximum allowed size")]
    [InlineData("ValidationException", "One or more parameter values were invalid: An AttributeValue may not contain an empty string")]
    [InlineData("ConditionalCheckFailedException", "The provided key element does not match the schema")]
    public async Task DynamoDbSink_AnotherValidationError_PassesUnchanged_NotNamedAKeySchemaError(string errorCode, string message)
    {
        string table = await servers.CreateTableAsync("careless-validation");
        using var client = new ScriptedDynamoDbClient(servers.DynamoDbUrl);
        var raised = new AmazonDynamoDBException(message, Amazon.Runtime.ErrorType.Sender, errorCode, "req-validation", System.Net.HttpStatusCode.BadRequest);
        for (int i = 0; i < 100; i++)
        {
            client.PutFailures.Enqueue(raised);
        }

        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        AggregateBatch batch = ShardStream.Build(Shard, ShardStream.Generate(seed: 4, count: 20));

        AmazonDynamoDBException e = await Assert.ThrowsAnyAsync<AmazonDynamoDBException>(() => sink.WriteAsync(batch, CancellationToken.None));

        Assert.Same(raised, e);
        Assert.Equal(0, batch.DurableCount);
    }

    /// <summary>
    /// An item at the sink's key whose <c>wk</c> or <c>wm</c> is not a map (another writer's layout, say one watermark as
    /// a string): the sink cannot tell what the item holds, so it must refuse, not apply the records again.
    /// </summary>
    [Theory]
    [InlineData("wk", "string")]
    [InlineData("wk", "list")]
    [InlineData("wm", "string")]
    [InlineData("rk", "string")]
    public async Task DynamoDbSink_StoredWatermarksNotAMap_RefusedNotAppliedAgain(string attribute, string shape)
    {
        string table = await servers.CreateTableAsync("careless");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        ShardRecord[] records = [Record(First, 10, "pk-0")];
        await sink.WriteAsync(ShardStream.Build(Shard, records), CancellationToken.None);
        Dictionary<string, AttributeValue> written = await GetOnlyItemAsync(client, table);

        // Another writer stores the watermark in its own shape, keeping ver and sketch.
        AttributeValue replaced = shape == "string" ? S(First) : new AttributeValue { L = [S(Shard), S(First)] };
        Dictionary<string, AttributeValue> foreign = new(written, StringComparer.Ordinal) { [attribute] = replaced };
        if (attribute != "wk")
        {
            foreign.Remove("wk");
        }

        await client.PutItemAsync(new PutItemRequest { TableName = table, Item = foreign });

        // Lambda re-delivers the same record: it is in the item already.
        AggregateBatch again = ShardStream.Build(Shard, records);
        Exception? thrown = await Xunit.Record.ExceptionAsync(() => sink.WriteAsync(again, CancellationToken.None));

        // Never doubled: the record's one sample is counted once.
        Assert.Equal("1", (await GetOnlyItemAsync(client, table))["count"].N);
        InvalidDataException e = Assert.IsType<InvalidDataException>(thrown);
        output.WriteLine(e.Message);
        Assert.Contains("'" + attribute + "'", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, again.DurableCount);
    }

    [Fact]
    public async Task DynamoDbSink_ItemWrittenBySomethingElse_WithoutVersion_Refused()
    {
        string table = await servers.CreateTableAsync("careless");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        ShardRecord[] records = [Record(First, 10, "pk-0")];
        AggregateBatch probe = ShardStream.Build(Shard, records);
        await sink.WriteAsync(probe, CancellationToken.None);
        Dictionary<string, AttributeValue> written = await GetOnlyItemAsync(client, table);

        // Something else owns the item: same key, its own attributes.
        await client.PutItemAsync(new PutItemRequest
        {
            TableName = table,
            Item = new() { ["pk"] = written["pk"], ["sk"] = written["sk"], ["count"] = new AttributeValue { N = "7" }, ["owner"] = S("etl") },
        });

        AggregateBatch batch = ShardStream.Build(Shard, [Record(Second, 5, "pk-0")]);
        InvalidDataException e = await Assert.ThrowsAsync<InvalidDataException>(() => sink.WriteAsync(batch, CancellationToken.None));

        output.WriteLine(e.Message);
        Assert.Equal(0, batch.DurableCount);
        Assert.Equal("etl", (await GetOnlyItemAsync(client, table))["owner"].S);
    }

    [Fact]
    public async Task Pipeline_QuarantineBucketMissing_SummarySaysFailed_PoisonNotMarkedDone()
    {
        string table = await servers.CreateTableAsync("careless");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();
        using KinesisBatchProcessor processor = Processor(dynamoDb, table, s3, "quarantine-that-was-never-created");
        ShardRecord[] records = ShardStream.Generate(seed: 3, count: 10);

        (BatchSummary summary, string? failure) = await InvokeAsync(processor, records, poison: [4]);

        output.WriteLine(summary.QuarantineSinkError);
        Assert.Equal(SinkOutcome.Failed, summary.QuarantineSinkOutcome);
        Assert.Contains("Bucket 'quarantine-that-was-never-created' (S3QuarantineSinkOptions.BucketName): The specified bucket does not exist", summary.QuarantineSinkError, StringComparison.Ordinal);
        Assert.Equal(records[4].SequenceNumber, failure);
    }

    [Fact]
    public async Task Pipeline_AggregateTableMissing_SummarySaysFailed_FirstRecordReported()
    {
        string bucket = await servers.CreateBucketAsync("careless");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();
        using KinesisBatchProcessor processor = Processor(dynamoDb, "metricz", s3, bucket);
        ShardRecord[] records = ShardStream.Generate(seed: 4, count: 10);

        (BatchSummary summary, string? failure) = await InvokeAsync(processor, records, poison: []);

        output.WriteLine(summary.AggregateSinkError);
        Assert.Equal(SinkOutcome.Failed, summary.AggregateSinkOutcome);
        Assert.Contains("Table 'metricz' (DynamoDbAggregateSinkOptions.TableName) was not found", summary.AggregateSinkError, StringComparison.Ordinal);
        Assert.Equal(records[0].SequenceNumber, failure);
    }

    private static KinesisBatchProcessor Processor(AmazonDynamoDBClient dynamoDb, string table, AmazonS3Client s3, string bucket) => new(
        new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table }),
        new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket }),
        ProcessorOptions.Default);

    // DynamoDB's longest table name and a legacy bucket's longest, 255 characters; one more is neither (found by review).
    private const string Name255 = "t123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX";
    private const string Name256 = Name255 + "c";

    /// <summary>
    /// A name copied with a space, a URL or a key prefix, or shorter or longer than both services allow (3 to 255 characters): refused when the sink is built (an init error naming the
    /// option), not sent. Sent, s3rver and S3 answer "the specified bucket does not exist" of a bucket that does, and
    /// DynamoDB's answer quotes the request's keys (series from record payloads) where the name should be.
    /// </summary>
    [Theory]
    [InlineData(" metrics")]
    [InlineData("metrics\n")]
    [InlineData("s3://quarantine")]
    [InlineData("quarantine/poison")]
    [InlineData("arn:aws:dynamodb:us-east-1:123456789012:table/metrics ")]
    [InlineData("m")]
    [InlineData("mt")]
    [InlineData(Name256)]
    [InlineData("arn:aws:dynamodb:us-east-1:123456789012:table/metrics\u007f")]
    public void Constructors_NameThatIsNoTableOrBucket_ThrowNamingTheOptionAndTheValue(string name)
    {
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();

        ArgumentException table = Assert.Throws<ArgumentException>(() => new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = name }));
        ArgumentException quarantine = Assert.Throws<ArgumentException>(() => new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = name }));
        ArgumentException spill = Assert.Throws<ArgumentException>(() => new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = name }, null));

        Assert.StartsWith("TableName '" + name + "' is not a DynamoDB table name", table.Message, StringComparison.Ordinal);
        Assert.StartsWith("BucketName '" + name + "' is not an S3 bucket name", quarantine.Message, StringComparison.Ordinal);
        Assert.StartsWith("BucketName '" + name + "' is not an S3 bucket name", spill.Message, StringComparison.Ordinal);
        Assert.Equal("options", table.ParamName);
    }

    /// <summary>A sink built without its table or bucket, or allowed no request at a time: refused, naming the option.</summary>
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Constructors_NoTableOrBucket_ThrowSayingTheOptionIsRequired(string? name)
    {
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();

        ArgumentException table = Assert.Throws<ArgumentException>(() => new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = name! }));
        ArgumentException quarantine = Assert.Throws<ArgumentException>(() => new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = name! }));
        ArgumentException spill = Assert.Throws<ArgumentException>(() => new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = name! }, null));

        Assert.StartsWith("TableName is required.", table.Message, StringComparison.Ordinal);
        Assert.StartsWith("BucketName is required.", quarantine.Message, StringComparison.Ordinal);
        Assert.StartsWith("BucketName is required.", spill.Message, StringComparison.Ordinal);

        ArgumentOutOfRangeException concurrency = Assert.Throws<ArgumentOutOfRangeException>(() => new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = "metrics", MaxConcurrency = 0 }));
        Assert.StartsWith("MaxConcurrency must be at least 1; it is 0. Start from DynamoDbAggregateSinkOptions.Default with { ... }", concurrency.Message, StringComparison.Ordinal);
        ArgumentOutOfRangeException fromDefault = Assert.Throws<ArgumentOutOfRangeException>(() => new S3QuarantineSink(s3, default(S3QuarantineSinkOptions) with { BucketName = "quarantine" }));
        Assert.StartsWith("MaxConcurrency must be at least 1; it is 0. Start from S3QuarantineSinkOptions.Default with { ... }: in default(S3QuarantineSinkOptions)", fromDefault.Message, StringComparison.Ordinal);
        ArgumentOutOfRangeException attempts = Assert.Throws<ArgumentOutOfRangeException>(() => new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = "metrics", Retry = AwsRetryOptions.Default with { MaxAttempts = 0 } }));
        Assert.StartsWith("Retry.MaxAttempts (AwsRetryOptions) must be at least 1; it is 0.", attempts.Message, StringComparison.Ordinal);
        Assert.Equal("options", concurrency.ParamName);
    }

    [Theory]
    [InlineData("metrics")]
    [InlineData("abc")]
    [InlineData("my.metrics_table-2")]
    [InlineData("Legacy_Bucket.2017")]
    [InlineData(Name255)]
    public void Constructors_TableOrBucketName_Accepted(string name)
    {
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();

        _ = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = name });
        _ = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = name });
        _ = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = name }, null);
    }

    [Theory]
    [InlineData("arn:aws:dynamodb:us-east-1:123456789012:table/metrics")]
    [InlineData("arn:aws-cn:dynamodb:cn-north-1:123456789012:table/my.metrics_table-2")]
    public void DynamoDbSink_TableArn_Accepted(string arn)
    {
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();

        _ = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = arn });
    }

    [Theory]
    [InlineData("arn:aws:s3:us-west-2:123456789012:accesspoint/poison")]
    [InlineData("arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap")]
    [InlineData("arn:aws:s3:us-west-2:123456789012:accesspoint:poison")]
    [InlineData("arn:aws-us-gov:s3:us-gov-west-1:123456789012:accesspoint/poison")]
    [InlineData("arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01ac5d28a6a232904/accesspoint/poison")]
    [InlineData("arn:aws:s3-outposts:us-west-2:123456789012:outpost:op-01ac5d28a6a232904:accesspoint:poison")]
    public void S3Sinks_AccessPointArn_Accepted(string arn)
    {
        using AmazonS3Client s3 = servers.CreateS3Client();

        _ = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = arn });
        _ = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = arn }, null);
    }

    /// <summary>
    /// For ARNs in the client's region, the sinks take an S3 ARN when the AWS SDK resolves a PutObject to it (found by
    /// review: the ':' forms of access point ARNs, which the SDK takes, were refused, and an Outposts bucket's ARN, which
    /// it refuses, was taken). Object Lambda access points, which the SDK resolves but which take no writes, are refused
    /// on purpose (above). Not checked by the sinks: an ARN of another region than the client's, and an access point
    /// name's characters; the SDK refuses both when the sink writes.
    /// </summary>
    [Theory]
    [InlineData("arn:aws:s3:us-west-2:123456789012:accesspoint/poison")]
    [InlineData("arn:aws:s3:us-west-2:123456789012:accesspoint:poison")]
    [InlineData("arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01234567890123456/accesspoint/poison")]
    [InlineData("arn:aws:s3-outposts:us-west-2:123456789012:outpost:op-01234567890123456:accesspoint:poison")]
    [InlineData("arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01234567890123456/bucket/poison")]
    [InlineData("arn:aws:s3:::quarantine")]
    [InlineData("arn:aws:s3:us-west-2:123456789012:bucket/poison")]
    public void S3Sinks_TakeAnArn_WhenTheSdkResolvesAPutObjectToIt(string arn)
    {
        using var s3 = new AmazonS3Client(new Amazon.Runtime.AnonymousAWSCredentials(), Amazon.RegionEndpoint.USWest2);
        Exception? sdk = Xunit.Record.Exception(() => s3.DetermineServiceOperationEndpoint(new Amazon.S3.Model.PutObjectRequest { BucketName = arn, Key = "quarantine/x" }));
        Exception? sink = Xunit.Record.Exception(() => new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = arn }));

        Assert.True((sdk is null) == (sink is null), $"SDK: {sdk?.Message ?? "resolves"}; sink: {sink?.Message ?? "takes it"}");
    }

    /// <summary>
    /// A bucket's host name given as its name (found by review, copied from the console's properties or an object URL):
    /// its characters are a name's, so it passed, and S3 would then answer "bucket does not exist" of a bucket that does.
    /// Both S3 sinks refuse it, naming the bucket to give.
    /// </summary>
    [Theory]
    [InlineData("metrics-quarantine.s3.amazonaws.com", "metrics-quarantine")]
    [InlineData("metrics-quarantine.s3.eu-west-1.amazonaws.com", "metrics-quarantine")]
    [InlineData("my.dotted.bucket.s3-eu-west-1.amazonaws.com", "my.dotted.bucket")]
    [InlineData("metrics-quarantine.S3.dualstack.us-east-1.AMAZONAWS.COM", "metrics-quarantine")]
    [InlineData("s3.eu-west-1.amazonaws.com", "")]
    public void S3Sinks_ABucketsHostName_IsRefused_NamingTheBucket(string hostName, string bucket)
    {
        using AmazonS3Client s3 = servers.CreateS3Client();

        ArgumentException quarantine = Assert.Throws<ArgumentException>(() => new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = hostName }));
        ArgumentException spill = Assert.Throws<ArgumentException>(() => new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = hostName }, null));

        string expected = bucket.Length > 0
            ? $"BucketName '{hostName}' is the bucket's host name, not its name: give the name alone, '{bucket}'."
            : $"BucketName '{hostName}' is an AWS host name, not a bucket name: give the bucket's name alone.";
        Assert.StartsWith(expected, quarantine.Message, StringComparison.Ordinal);
        Assert.StartsWith(expected, spill.Message, StringComparison.Ordinal);

        // A dotted name that is no host name is still a name, and a table may end so (DynamoDB takes dots).
        Assert.Null(Xunit.Record.Exception(() => new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = "metrics.quarantine.example" })));
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        Assert.Null(Xunit.Record.Exception(() => new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = "metrics.amazonaws.com" })));
    }

    /// <summary>
    /// An ARN the service does not take in place of the name (found by review): any string starting with <c>arn:</c>
    /// passed the check, so a bucket's own ARN (what <c>!GetAtt Bucket.Arn</c> gives) built the sink, and then every
    /// quarantine write failed in the SDK ("Invalid ARN"), naming no option, while each batch with a poison record was
    /// re-delivered. The bucket's ARN now says which name to give.
    /// </summary>
    [Theory]
    [InlineData("arn:aws:s3:::quarantine", false, "is the bucket's own ARN, which S3 does not take in place of its name: give the name, 'quarantine'.")]
    [InlineData("arn:aws:dynamodb:us-east-1:123456789012:table/metrics", false, "is not an ARN S3 takes")]
    [InlineData("arn:aws:sqs:us-east-1:123456789012:poison", false, "is not an ARN S3 takes")]
    [InlineData("arn:aws:s3-object-lambda:us-west-2:123456789012:accesspoint/poison", false, "is not an ARN S3 takes")]
    [InlineData("arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01ac5d28a6a232904/bucket/poison", false, "is not an ARN S3 takes")]
    [InlineData("arn:aws:s3:us-west-2:123456789012:accesspoint/poison", true, "is not a DynamoDB table's ARN")]
    [InlineData("arn:aws:dynamodb:us-east-1:123456789012:table/metrics/stream/2024-01-01T00:00:00.000", true, "is not a DynamoDB table's ARN")]
    [InlineData("arn:aws:dynamodb:us-east-1:123456789012:metrics", true, "is not a DynamoDB table's ARN")]
    [InlineData("arn:aws:s3", true, "is not an ARN")]
    [InlineData("arn:aws:s3", false, "is not an ARN")]
    [InlineData("arn:aws:dynamodb::123456789012:table/metrics", true, "is not a DynamoDB table's ARN")]
    [InlineData("arn:aws:dynamodb:us-east-1::table/metrics", true, "is not a DynamoDB table's ARN")]
    [InlineData("arn:aws:s3:us-east-1:123456789012:table/metrics", true, "is not a DynamoDB table's ARN")]
    [InlineData("arn:aws:dynamodb:us-east-1:123456789012:index/metrics", true, "is not a DynamoDB table's ARN")]
    [InlineData("arn:aws:sqs:::poison", false, "is not an ARN S3 takes")]
    [InlineData("arn:aws:s3:us-west-2::accesspoint/poison", false, "is not an ARN S3 takes")]
    [InlineData("arn:aws:s3:us-west-2:123456789012:accesspoint/", false, "is not an ARN S3 takes")]
    [InlineData("arn:aws:s3-outposts::123456789012:outpost/op-01ac5d28a6a232904/accesspoint/poison", false, "is not an ARN S3 takes")]
    [InlineData("arn:aws:s3-outposts:us-west-2:123456789012:outpost//accesspoint/poison", false, "is not an ARN S3 takes")]
    [InlineData("arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01ac5d28a6a232904/accesspoint/", false, "is not an ARN S3 takes")]
    public void Constructors_ArnTheServiceDoesNotTake_ThrowNamingTheOptionAndTheValue(string arn, bool table, string problem)
    {
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();

        if (table)
        {
            ArgumentException e = Assert.Throws<ArgumentException>(() => new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = arn }));
            Assert.StartsWith($"TableName '{arn}' {problem}", e.Message, StringComparison.Ordinal);
        }
        else
        {
            ArgumentException quarantine = Assert.Throws<ArgumentException>(() => new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = arn }));
            ArgumentException spill = Assert.Throws<ArgumentException>(() => new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = arn }, null));
            Assert.StartsWith($"BucketName '{arn}' {problem}", quarantine.Message, StringComparison.Ordinal);
            Assert.StartsWith($"BucketName '{arn}' {problem}", spill.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// "No cap" written as <c>MaxDelay = TimeSpan.MaxValue</c> with a long base delay: the first retry's wait passed the
    /// longest timer and threw <see cref="ArgumentOutOfRangeException"/> ("dueTime") from the sink, naming no option.
    /// The wait is now cut to the longest timer; the deadline ends it as any other, and nothing is marked durable.
    /// </summary>
    [Fact]
    public async Task DynamoDbSink_RetryDelayLongerThanTheLongestTimer_WaitsUntilTheDeadline_InsteadOfThrowing()
    {
        await using var proxy = new FaultProxy(servers.DynamoDbUrl, FaultProfile.None, seed: 5) { Mode = FaultMode.Down };
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient(proxy.Url, timeout: TimeSpan.FromSeconds(1));
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with
        {
            TableName = "metrics",
            Retry = AwsRetryOptions.Default with { BaseDelay = TimeSpan.FromDays(60), MaxDelay = TimeSpan.MaxValue, JitterSeed = 1 },
        });
        AggregateBatch batch = ShardStream.Build(Shard, ShardStream.Generate(seed: 5, count: 5));
        using var deadline = new CancellationTokenSource();

        // The deadline comes 200 ms after the first attempt failed and the sink began its backoff, not 1 s of real time
        // in: a refusal later than that (a loaded machine) left nothing failed, and the sink returned without throwing.
        Task write = sink.WriteAsync(batch, deadline.Token);
        await S3QuarantineSinkTests.WaitUntilAsync(() => sink.Retries > 0 || write.IsCompleted);
        deadline.CancelAfter(TimeSpan.FromMilliseconds(200));

        // Stopped by the deadline, not by the delay (an ArgumentOutOfRangeException of the timer, before): a cancellation
        // that carries the failed attempt.
        OperationCanceledException stopped = await Assert.ThrowsAsync<OperationCanceledException>(() => write.WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.True(deadline.IsCancellationRequested);
        FaultProxy.AssertConnectionFailure(stopped);
        Assert.Equal(0, batch.DurableCount);
    }

    [Fact]
    public async Task SpillSink_BucketMissing_ThrowsNamingTheBucketAndTheOption()
    {
        string table = await servers.CreateTableAsync("careless");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        var spill = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = "spill-bucket-never-created" }, sink);
        AggregateBatch batch = ShardStream.Build(Shard, ShardStream.Generate(seed: 6, count: 10));
        var names = new Dictionary<int, (string, string)>();
        List<SpilledPair> pairs = [.. Enumerable.Range(0, batch.Count).Select(i => new SpilledPair(i, batch.GetSamples(i, names)))];

        AmazonS3Exception e = await Assert.ThrowsAsync<AmazonS3Exception>(() => spill.WriteAsync(new SpillBatch(batch, First, pairs), CancellationToken.None));

        output.WriteLine(BatchSummaryError(e));
        Assert.StartsWith("Bucket 'spill-bucket-never-created' (S3SpillSinkOptions.BucketName): ", e.Message, StringComparison.Ordinal);
        Assert.Equal("NoSuchBucket", e.ErrorCode);
    }

    /// <summary>
    /// A spill bucket that does not exist, with a healthy table (found by review): the live write's read of the shard's
    /// spill marker took S3's 404 NoSuchBucket for "no marker", and the invocation said nothing until the table failed
    /// and the spill with it. Now every aggregate is written and its records are done, and the invocation's log line
    /// carries S3's error with the bucket and its option.
    /// </summary>
    [Fact]
    public async Task SpillBucketMissing_TableHealthy_EveryAggregateWritten_TheInvocationSaysTheBucketIsMissing()
    {
        string table = await servers.CreateTableAsync("careless");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using AmazonS3Client s3 = servers.CreateS3Client();
        string quarantine = await servers.CreateBucketAsync("careless");
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        using var processor = new KinesisBatchProcessor(sink, new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = quarantine }), ProcessorOptions.Default with
        {
            SpillSink = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = "spill-bucket-never-created" }, sink),
        });
        ShardRecord[] records = [Record(First, 3, "a"), Record(Second, 4, "b")];

        (BatchSummary summary, string? failure) = await InvokeAsync(processor, records, poison: []);

        output.WriteLine(summary.AggregateSinkError);
        Assert.Null(failure);
        Assert.Equal(1, summary.AggregatesWritten);
        Assert.Equal(1, await ShardStream.CountItemsAsync(dynamoDb, table));
        Assert.Equal(SinkOutcome.Failed, summary.AggregateSinkOutcome);
        Assert.StartsWith("Amazon.S3.AmazonS3Exception: Bucket 'spill-bucket-never-created' (S3SpillSinkOptions.BucketName): ", summary.AggregateSinkError, StringComparison.Ordinal);
        Assert.Contains("no spill can be written", summary.AggregateSinkError, StringComparison.Ordinal);
        Assert.Equal("The aggregate sink threw AmazonS3Exception; 1 of 1 pairs durable.", summary.AggregateSinkIssue);
    }

    /// <summary>
    /// What the live write's marker read reports: S3's refusals of the bucket itself (a role without <c>s3:ListBucket</c>
    /// gets 403 AccessDenied for a marker that does not exist; a bucket of another region, 301 PermanentRedirect) are the
    /// invocation's error once every aggregate is written; a slow or failing S3 (503 SlowDown, 500) is not: the write
    /// keeps no pre-write entry then, as before, and the redrive reports what that leaves undecided.
    /// </summary>
    [Theory]
    [InlineData("AccessDenied", 403, true)]
    [InlineData("PermanentRedirect", 301, true)]
    [InlineData("SlowDown", 503, false)]
    [InlineData("InternalError", 500, false)]
    public async Task SpillMarkerRead_RefusedForTheBucket_IsTheInvocationsError_ATransientFailureIsNot(string code, int status, bool reported)
    {
        string table = await servers.CreateTableAsync("careless");
        string bucket = await servers.CreateBucketAsync("careless");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using var s3 = new MarkerRefusingS3Client(servers, new AmazonS3Exception("S3's words", Amazon.Runtime.ErrorType.Sender, code, "req-1", (System.Net.HttpStatusCode)status));
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        _ = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = bucket }, sink);
        AggregateBatch batch = ShardStream.Build(Shard, ShardStream.Generate(seed: 8, count: 10));

        Exception? thrown = await Xunit.Record.ExceptionAsync(() => sink.WriteAsync(batch, CancellationToken.None));

        Assert.Equal(batch.Count, batch.DurableCount);
        Assert.Equal(1, s3.MarkerReads);
        if (reported)
        {
            AmazonS3Exception e = Assert.IsType<AmazonS3Exception>(thrown);
            output.WriteLine(BatchSummaryError(e));
            Assert.Equal(code, e.ErrorCode);
            Assert.StartsWith($"Bucket '{bucket}' (S3SpillSinkOptions.BucketName): S3's words", e.Message, StringComparison.Ordinal);
        }
        else
        {
            Assert.Null(thrown);
        }
    }

    /// <summary>
    /// The whole message of a refused marker read: S3's words (named by the bucket), one sentence break, and what it means
    /// for the invocation (no spill can be written there, and every item was written), whether S3 ended its words with a
    /// full stop or not.
    /// </summary>
    [Theory]
    [InlineData("Access Denied", "Access Denied. ")]
    [InlineData("Access Denied.", "Access Denied. ")]
    [InlineData("Access Denied. \n", "Access Denied. ")]
    public async Task SpillMarkerRead_RefusedForTheBucket_TheErrorSaysWhatItMeans(string words, string restated)
    {
        string table = await servers.CreateTableAsync("careless");
        string bucket = await servers.CreateBucketAsync("careless");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        using var s3 = new MarkerRefusingS3Client(servers, new AmazonS3Exception(words, Amazon.Runtime.ErrorType.Sender, "AccessDenied", "req-1", System.Net.HttpStatusCode.Forbidden));
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        _ = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = bucket }, sink);
        AggregateBatch batch = ShardStream.Build(Shard, ShardStream.Generate(seed: 8, count: 10));

        AmazonS3Exception e = await Assert.ThrowsAsync<AmazonS3Exception>(() => sink.WriteAsync(batch, CancellationToken.None));

        Assert.Equal(batch.Count, batch.DurableCount);
        Assert.Equal(
            $"Bucket '{bucket}' (S3SpillSinkOptions.BucketName): {restated}The shard's spill marker could not be read there, so no spill can be written: " +
            $"all {batch.Count} aggregate item(s) of shard {Shard} were written to the table.",
            e.Message);
        Assert.Equal(("AccessDenied", System.Net.HttpStatusCode.Forbidden), (e.ErrorCode, e.StatusCode));
    }

    /// <summary>An S3 client whose GetObject of a spill marker fails with <paramref name="error"/>; everything else reaches the local server.</summary>
    private sealed class MarkerRefusingS3Client(LocalServersFixture servers, AmazonS3Exception error) : AmazonS3Client(LocalServersFixture.S3Credentials, servers.S3Config())
    {
        private int _markerReads;

        public int MarkerReads => _markerReads;

        public override Task<Amazon.S3.Model.GetObjectResponse> GetObjectAsync(Amazon.S3.Model.GetObjectRequest request, CancellationToken cancellationToken = default)
        {
            if (request.Key.EndsWith(".marker", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _markerReads);
                throw error;
            }

            return base.GetObjectAsync(request, cancellationToken);
        }
    }

    /// <summary>
    /// <c>ANALYTICS_WINDOW_SECONDS</c> changed from 300 to 60 while a 5-minute window is still open: both sizes' windows
    /// starting at 12:00 are the same item. The 1-minute batch set <c>windowEnd</c> to 12:01 over a sample of 12:03:20,
    /// so the item claimed a window that did not hold its samples. It keeps the longer end now (both orders).
    /// </summary>
    [Theory]
    [InlineData(300, 60)]
    [InlineData(60, 300)]
    public async Task DynamoDbSink_WindowSizeChangedWhileAWindowIsOpen_TheItemsWindowCoversEverySample(int firstSeconds, int thenSeconds)
    {
        string table = await servers.CreateTableAsync("careless");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        ShardRecord first = new(First, [new TestSample("m", [], WindowMs + (firstSeconds > thenSeconds ? 200_000 : 10_000), 5)]);
        ShardRecord then = new(Second, [new TestSample("m", [], WindowMs + (firstSeconds > thenSeconds ? 10_000 : 200_000), 7)]);

        await sink.WriteAsync(ShardStream.Build(Shard, [first], AggregatorOptions.Default with { WindowSize = TimeSpan.FromSeconds(firstSeconds) }), CancellationToken.None);
        AggregateBatch batch = ShardStream.Build(Shard, [then], AggregatorOptions.Default with { WindowSize = TimeSpan.FromSeconds(thenSeconds) });
        await sink.WriteAsync(batch, CancellationToken.None);

        Assert.Equal(1, batch.DurableCount);
        Dictionary<string, AttributeValue> item = await GetOnlyItemAsync(client, table);
        Assert.Equal(("2", "2024-05-01T12:00:00.000Z", "2024-05-01T12:05:00.000Z"), (item["count"].N, item["windowStart"].S, item["windowEnd"].S));
    }

    private static string BatchSummaryError(Exception e) => BatchSummary.DescribeError(e);

    private async Task<string> CreateTableAsync(string schema)
    {
        string name = "careless-" + schema + "-" + Guid.NewGuid().ToString("N")[..8];
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var request = new CreateTableRequest { TableName = name, BillingMode = BillingMode.PAY_PER_REQUEST };
        switch (schema)
        {
            case "other-key-names":
                request.AttributeDefinitions = [new("id", ScalarAttributeType.S), new("ts", ScalarAttributeType.S)];
                request.KeySchema = [new("id", KeyType.HASH), new("ts", KeyType.RANGE)];
                break;
            case "number-sort-key":
                request.AttributeDefinitions = [new("pk", ScalarAttributeType.S), new("sk", ScalarAttributeType.N)];
                request.KeySchema = [new("pk", KeyType.HASH), new("sk", KeyType.RANGE)];
                break;
            case "hash-key-only":
                request.AttributeDefinitions = [new("pk", ScalarAttributeType.S)];
                request.KeySchema = [new("pk", KeyType.HASH)];
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(schema), schema, null);
        }

        await client.CreateTableAsync(request);
        for (int i = 0; i < 300; i++)
        {
            if ((await client.DescribeTableAsync(name)).Table.TableStatus == TableStatus.ACTIVE)
            {
                return name;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException(name + " did not become ACTIVE.");
    }

    private static ShardRecord Record(string sequenceNumber, double value, string partitionKey) =>
        new(sequenceNumber, [new TestSample("m", [], WindowMs, value)], partitionKey);

    private static async Task<(BatchSummary Summary, string? Failure)> InvokeAsync(KinesisBatchProcessor processor, ShardRecord[] records, HashSet<int> poison)
    {
        var events = new List<TestRecord>();
        for (int i = 0; i < records.Length; i++)
        {
            string data = poison.Contains(i)
                ? "{not json " + i
                : string.Join('\n', records[i].Samples.Select(s => TestEvents.Sample(s.Metric, s.Value, s.TimestampMs, [.. s.Dimensions.Select(d => (d.Key, d.Value))])));
            events.Add(new TestRecord(records[i].SequenceNumber, Encoding.UTF8.GetBytes(data), WindowMs + 300_000 + i, PartitionKey: records[i].PartitionKey));
        }

        var response = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build(events), DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30), response)
            .WaitAsync(TimeSpan.FromSeconds(60));
        using var json = JsonDocument.Parse(response.WrittenMemory);
        JsonElement failures = json.RootElement.GetProperty("batchItemFailures");
        return (summary, failures.GetArrayLength() == 0 ? null : failures[0].GetProperty("itemIdentifier").GetString());
    }
}
