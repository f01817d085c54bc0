using System.Globalization;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests.Pipeline;
using Analytics.SampleLambda;

namespace Analytics.Core.Tests;

/// <summary>
/// Known limit (docs/dynamodb.md, "Changing the window size"): a batch that the old window size wrote and Lambda then
/// delivers again to the new size. These tests pin what happens today against the local DynamoDB server, so that a
/// change that mends it (or widens it) is seen: smaller windows count a retried batch's later records twice; larger
/// windows lose a re-delivered record that the old size had not applied. Without the size change both are exact (the
/// control rows). Found by a review as a careless operator; the sizes come from the sample's ANALYTICS_WINDOW_SECONDS.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class WindowSizeChangeTests(LocalServersFixture servers)
{
    /// <summary>2025-01-20T09:50:00Z: a boundary of both sizes, ten minutes before the records' arrival.</summary>
    private const long Window = TestEvents.Arrival - 600_000;

    private static TestRecord Record(int n, long timestampMs, double value) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", value, timestampMs, ("host", "a"))), TestEvents.Arrival);

    private static ProcessorOptions WithWindowSeconds(string seconds) =>
        SampleSettings.FromEnvironment(name => name == SampleSettings.WindowSecondsVariable ? seconds : null).ToProcessorOptions();

    private async Task<long> CountAsync(IAmazonDynamoDB client, string table) =>
        (await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items
            .Sum(i => long.Parse(i["count"].N, CultureInfo.InvariantCulture));

    /// <summary>
    /// Records at 09:50:10, 09:51:10 and 09:52:10, applied whole by the old size; the answer is lost and Lambda retries the
    /// batch on the new size. 300 s to 60 s: the 09:51 and 09:52 records go to new items and are counted again (5, not
    /// 3), and the retry reports nothing.
    /// </summary>
    [Theory]
    [InlineData("300", "60", 5)]
    [InlineData("60", "60", 3)]
    [InlineData("300", "300", 3)]
    public async Task ARetriedBatch_AcrossASmallerWindow_IsCountedTwice(string before, string after, long counted)
    {
        string table = await servers.CreateTableAsync("window-down");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        byte[] batch = TestEvents.Build([Record(1, Window + 10_000, 1), Record(2, Window + 70_000, 2), Record(3, Window + 130_000, 3)]);

        using var oldSize = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), WithWindowSeconds(before));
        Assert.Equal(0, (await TestEvents.RunAsync(oldSize, batch)).GetProperty("batchItemFailures").GetArrayLength());
        using var newSize = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), WithWindowSeconds(after));
        Assert.Equal(0, (await TestEvents.RunAsync(newSize, batch)).GetProperty("batchItemFailures").GetArrayLength());

        Assert.Equal(counted, await CountAsync(client, table));
    }

    /// <summary>
    /// Records 1 (09:50:20), 2 (09:51:10) and 3 (09:50:10) on 60 s windows: the 09:50 item takes 1 and 3, the put of the
    /// 09:51 item fails, and the function reports record 2 as its checkpoint. Lambda re-delivers 2 and 3 to the new size.
    /// 60 s to 300 s: both go to the 09:50 item, whose watermark (record 3) is past record 2, which is skipped and lost
    /// (2, not 3), and the re-delivery reports nothing. Kept at 60 s, record 2 goes to its own item and is applied.
    /// </summary>
    [Theory]
    [InlineData("300", 2)]
    [InlineData("60", 3)]
    public async Task AReDeliveredCheckpoint_AcrossALargerWindow_LosesARecord(string after, long counted)
    {
        string table = await servers.CreateTableAsync("window-up");
        string failing = DynamoDbKeys.Timestamp(Window + 60_000);
        ScriptedDynamoDbClient? self = null;
        using var scripted = new ScriptedDynamoDbClient(servers.DynamoDbUrl)
        {
            // The 09:51 put fails once the 09:50 put has been answered (a failure stops the writes still in flight): it
            // waits until it is the only request in flight, not a fixed second (a loaded machine took longer than that).
            BeforePut = async put =>
            {
                if (put.Item["sk"].S == failing)
                {
                    for (int i = 0; i < 3_000 && self!.InFlight > 1; i++)
                    {
                        await Task.Delay(10);
                    }

                    throw new AmazonDynamoDBException("internal server error (test)");
                }
            },
        };
        self = scripted;
        byte[] batch = TestEvents.Build([Record(1, Window + 20_000, 1), Record(2, Window + 70_000, 2), Record(3, Window + 10_000, 3)]);
        byte[] fromCheckpoint = TestEvents.Build([Record(2, Window + 70_000, 2), Record(3, Window + 10_000, 3)]);
        var failFast = DynamoDbAggregateSinkOptions.Default with { TableName = table, Retry = DynamoDbAggregateSinkOptions.Default.Retry with { MaxAttempts = 1 } };

        using var oldSize = new KinesisBatchProcessor(new DynamoDbAggregateSink(scripted, failFast), new RecordingQuarantineSink(), WithWindowSeconds("60"));
        JsonElement first = await TestEvents.RunAsync(oldSize, batch);
        Assert.Equal(TestEvents.Seq(2), first.GetProperty("batchItemFailures")[0].GetProperty("itemIdentifier").GetString());
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        Assert.Equal(2, await CountAsync(client, table));

        using var newSize = new KinesisBatchProcessor(
            new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table }), new RecordingQuarantineSink(), WithWindowSeconds(after));
        Assert.Equal(0, (await TestEvents.RunAsync(newSize, fromCheckpoint)).GetProperty("batchItemFailures").GetArrayLength());

        Assert.Equal(counted, await CountAsync(client, table));
    }
}
