using Amazon.DynamoDBv2;
using Amazon.S3;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests;

/// <summary>
/// The AWS sinks never resume on the caller's synchronization context, as the processor does not
/// (<see cref="SinkContinuationContextTests"/>): a write is started on a thread whose context only queues what is
/// posted to it, and must complete (its requests complete on I/O threads) with nothing posted there. A continuation sent
/// back to that context would never run here; under a real one (a UI's, a legacy host's) a caller that blocks on the
/// task deadlocks. Against the local servers, as the sinks run.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class AwsSinkContinuationContextTests(LocalServersFixture servers)
{
    private const string Shard = "shardId-000000000003";

    /// <summary>Starts <paramref name="write"/> under a queueing context, then waits for it from a thread without one.</summary>
    private static async Task<T> WithoutPostingAsync<T>(Func<Task<T>> write)
    {
        var context = new QueueingSynchronizationContext();
        Task<T> task = UnderContext.Start(context, write);

        bool completed = await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(20))).ConfigureAwait(false) == task;
        int posted = 0;
        if (!completed)
        {
            // Let what was posted run, so that the write ends before the test reports.
            await Task.Run(() => posted = context.Pump()).ConfigureAwait(false);
        }

        Assert.True(completed, $"the write did not complete without its caller's context ({posted} continuations were posted to it)");
        return await task.ConfigureAwait(false);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DynamoDbAggregateSink_CompletesWithoutItsCallersContext(bool itemsStored)
    {
        string table = await servers.CreateTableAsync("context");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        ShardRecord[] records = ShardStream.Generate(seed: 5, count: 60);
        if (itemsStored)
        {
            // The second write reads the first one's items back and adds to them.
            await sink.WriteAsync(ShardStream.Build(Shard, records[..30]), CancellationToken.None);
        }

        AggregateBatch batch = ShardStream.Build(Shard, itemsStored ? records[30..] : records);
        await WithoutPostingAsync(async () =>
        {
            await sink.WriteAsync(batch, CancellationToken.None).ConfigureAwait(false);
            return 0;
        });

        Assert.All(Enumerable.Range(0, batch.Count), pair => Assert.True(batch.IsDurable(pair)));
        await ShardStream.AssertTableAsync(client, table, ShardStream.Expect((Shard, records)));
    }

    [Fact]
    public async Task S3QuarantineSink_CompletesWithoutItsCallersContext()
    {
        string bucket = await servers.CreateBucketAsync("context");
        using AmazonS3Client s3 = servers.CreateS3Client();
        var sink = new S3QuarantineSink(s3, S3QuarantineSinkOptions.Default with { BucketName = bucket, MaxConcurrency = 2 });
        QuarantinedRecord[] records = S3QuarantineSinkTests.MakeRecords(6);

        int stored = await WithoutPostingAsync(() => sink.WriteAsync(records, CancellationToken.None));

        Assert.Equal(records.Length, stored);
    }
}
