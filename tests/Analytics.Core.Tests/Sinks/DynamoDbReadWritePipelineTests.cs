using Amazon.DynamoDBv2;
using FsCheck;
using FsCheck.Xunit;

namespace Analytics.Core.Tests;

/// <summary>
/// The sink writes a chunk's pairs while it reads the next chunk, within its bound of requests in flight: a batch too big
/// for its time still makes progress. (With every read first, a new environment, which has no learnt cost and so gives
/// the sink its whole batch, could spend its time on reads and end with nothing durable.)
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class DynamoDbReadWritePipelineTests(LocalServersFixture servers)
{
    private const string Shard = "shardId-000000000005";

    [Fact]
    public async Task ReadsOfLaterChunksNeverAnswer_TheFirstChunksPairsAreWrittenAndTheCheckpointMovesPastThem()
    {
        string table = await servers.CreateTableAsync("pipeline");
        using var client = new ScriptedDynamoDbClient(servers.DynamoDbUrl)
        {
            // The first chunk's read answers; every later one waits until the sink's time is up.
            BeforeBatchGet = (n, token) => n == 1 ? Task.CompletedTask : Task.Delay(Timeout.Infinite, token),
        };
        ShardRecord[] records = ShardStream.DistinctSeries(250);
        AggregateBatch batch = ShardStream.Build(Shard, records);
        Assert.Equal(250, batch.Count);
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });

        // The invocation's time runs out once the first chunk is durable, or after 20 s (where nothing was written).
        using var deadline = new CancellationTokenSource();
        Task write = sink.WriteAsync(batch, deadline.Token);
        for (int waited = 0; waited < 2_000 && batch.DurableCount < 100 && !write.IsCompleted; waited++)
        {
            await Task.Delay(10);
        }

        await deadline.CancelAsync();
        await write.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(100, batch.DurableCount);
        Assert.All(Enumerable.Range(0, 100), pair => Assert.True(batch.IsDurable(pair)));
        Assert.Equal(100, ShardStream.Checkpoint(batch));
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        await ShardStream.AssertTableAsync(direct, table, ShardStream.Expect((Shard, records[..100])));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task AFiveChunkBatch_IsWrittenWhole_WithinTheBoundInFlight_AndItsFirstPutBeforeTheThirdRead(int maxConcurrency)
    {
        string table = await servers.CreateTableAsync("pipeline");
        using var client = new ScriptedDynamoDbClient(servers.DynamoDbUrl);
        ShardRecord[] records = ShardStream.DistinctSeries(450);
        AggregateBatch batch = ShardStream.Build(Shard, records);
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table, MaxConcurrency = maxConcurrency });

        await sink.WriteAsync(batch, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Null(ShardStream.Checkpoint(batch));
        Assert.InRange(client.MaxInFlight, 1, maxConcurrency);
        string[] begun = [.. client.Begun];
        Assert.Equal(5, begun.Count(k => k == "batch-get"));
        Assert.Equal(450, begun.Count(k => k == "put"));
        Assert.DoesNotContain("get", begun); // no pair is read alone: each waits for its chunk's read
        int thirdRead = Array.FindAll(Enumerable.Range(0, begun.Length).ToArray(), i => begun[i] == "batch-get")[2];
        Assert.True(Array.IndexOf(begun, "put") < thirdRead, string.Join(",", begun.Take(12)));
        using AmazonDynamoDBClient direct = servers.CreateDynamoDbClient();
        await ShardStream.AssertTableAsync(direct, table, ShardStream.Expect((Shard, records)));
    }

    /// <summary>
    /// The pipeline's steps are every chunk's read and every pair once each; a pair comes after its chunk's read, and a
    /// chunk's read after the pairs two chunks before it (reads run at most one chunk ahead).
    /// </summary>
    [Property(MaxTest = 300, Replay = "(8675309,1234567)")]
    public void PipelineStep_TakesEachReadAndPairOnce_EachPairAfterItsRead_ReadsOneChunkAhead(PositiveInt pairs)
    {
        int count = 1 + (pairs.Get % 1_000);
        int chunks = (count + 99) / 100;
        int[] readAt = Enumerable.Repeat(-1, chunks).ToArray();
        int[] pairAt = Enumerable.Repeat(-1, count).ToArray();
        for (int step = 0; step < chunks + count; step++)
        {
            (bool read, int index) = DynamoDbAggregateSink.PipelineStep(step, chunks, count);
            int[] at = read ? readAt : pairAt;
            Assert.InRange(index, 0, at.Length - 1);
            Assert.Equal(-1, at[index]);
            at[index] = step;
        }

        for (int pair = 0; pair < count; pair++)
        {
            Assert.True(readAt[pair / 100] < pairAt[pair], $"pair {pair} at {pairAt[pair]}, its read at {readAt[pair / 100]}");
            if (pair / 100 >= 2)
            {
                Assert.True(readAt[pair / 100] > pairAt[((pair / 100) - 1) * 100 - 1], $"chunk {pair / 100} read before chunk {(pair / 100) - 2}'s pairs ended");
            }
        }

        // Pairs are taken in order: the checkpoint moves as they become durable.
        Assert.True(pairAt.Zip(pairAt.Skip(1)).All(p => p.First < p.Second));
    }
}
