using Amazon.DynamoDBv2;
using Amazon.S3;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The DynamoDB and S3 models on one virtual clock, with a table (key <c>pk</c>, <c>sk</c>) and buckets, and clients
/// whose requests can be made to fail (<see cref="ModelFaults"/>): the world the redrive tests run in.
/// </summary>
internal class ModelWorld : IDisposable
{
    public ModelWorld(string table, params string[] buckets)
    {
        Clock = new VirtualClock(Emulate.Start);
        DynamoDb = new DynamoDbModel(Clock, DynamoDbModelOptions.Default);
        S3 = new S3Model(Clock, S3ModelOptions.Default);
        DynamoDb.CreateTable(table, "pk", "sk");
        foreach (string bucket in buckets)
        {
            S3.CreateBucket(bucket);
        }

        Faults = new ModelFaults(DynamoDb.HttpHandler, S3.HttpHandler);
        DynamoDbClient = Faults.CreateDynamoDbClient();
        S3Client = Faults.CreateS3Client();
    }

    public VirtualClock Clock { get; }

    public DynamoDbModel DynamoDb { get; }

    public S3Model S3 { get; }

    public ModelFaults Faults { get; }

    public AmazonDynamoDBClient DynamoDbClient { get; }

    public AmazonS3Client S3Client { get; }

    /// <summary>Waits for the task on the clock: every timer it sets is fired in order.</summary>
    public T Pump<T>(Task<T> task) => Clock.Pump(task);

    public void Dispose()
    {
        DynamoDbClient.Dispose();
        S3Client.Dispose();
        Faults.Dispose();
        DynamoDb.Dispose();
        S3.Dispose();
    }
}
