namespace ConsumerNet8.Spill;

// README:start
using Amazon.DynamoDBv2;
using Amazon.S3;
using Analytics.Core;

public static class Spilling
{
    public static KinesisBatchProcessor Create(IAmazonDynamoDB dynamoDb, IAmazonS3 s3, IQuarantineSink quarantine)
    {
        var table = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = "metrics" });
        return new KinesisBatchProcessor(table, quarantine, ProcessorOptions.Default with
        {
            // The same DynamoDbAggregateSink instance the processor writes with: the spill sink reads the shard's marker through it.
            SpillSink = new S3SpillSink(s3, S3SpillSinkOptions.Default with { BucketName = "metrics-spill" }, table),
        });
    }
}
// README:end
