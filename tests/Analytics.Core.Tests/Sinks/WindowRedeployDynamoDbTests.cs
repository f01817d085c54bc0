using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests;

/// <summary>
/// A redeployment that changes the aggregation window size, or the sketch's accuracy, while a tumbling window is open,
/// against the local DynamoDB server: the old version's state is written under its own options, the rest under the new
/// ones, each sample once, also when Lambda repeats the final invocation.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class WindowRedeployDynamoDbTests(LocalServersFixture servers)
{
    private static TestRecord Record(int n, string host, double value) => TestEvents.HostRecord(n, host, value);

    [Fact]
    public async Task WindowSizeChangedMidWindow_EverySampleStoredOnce_UnderTheSizeItWasAggregatedWith()
    {
        string table = await servers.CreateTableAsync("window-redeploy");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        ProcessorOptions oldOptions = ProcessorOptions.Default;
        ProcessorOptions newOptions = ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { WindowSize = TimeSpan.FromMinutes(5) } };

        using var oldFunction = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), oldOptions);
        JsonElement open = await TestEvents.RunAsync(oldFunction, TestEvents.BuildWindow([Record(1, "a", 1), Record(2, "b", 2)], "{}"));

        using var newFunction = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), newOptions);
        byte[] final = TestEvents.BuildWindow([Record(3, "a", 4)], open.GetProperty("state").GetRawText(), final: true);
        await TestEvents.RunAsync(newFunction, final);
        await TestEvents.RunAsync(newFunction, final); // the same final invocation again (its response was lost)

        List<Dictionary<string, AttributeValue>> items = (await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items;
        var stored = items
            .Select(i => (i["pk"].S, i["sk"].S, i["windowEnd"].S, long.Parse(i["count"].N, CultureInfo.InvariantCulture)))
            .OrderBy(i => i.Item1, StringComparer.Ordinal).ThenBy(i => i.Item2, StringComparer.Ordinal)
            .ToArray();

        // Samples at 09:59:59: the old version's 60 s window starts at 09:59, the new version's 5 min one at 09:55.
        Assert.Equal(
            [
                ("m|host=a", "2025-01-20T09:55:00.000Z", "2025-01-20T10:00:00.000Z", 1L),
                ("m|host=a", "2025-01-20T09:59:00.000Z", "2025-01-20T10:00:00.000Z", 1L),
                ("m|host=b", "2025-01-20T09:59:00.000Z", "2025-01-20T10:00:00.000Z", 1L),
            ],
            stored);
    }

    [Fact]
    public async Task AccuracyChangedMidWindow_TheOldStateAndTheNewRecordsShareTheWindowsItem_EachSampleOnce()
    {
        // The old state is flushed under the options it was aggregated with and the new version's records under its
        // own, into the same (series, window) item: the second write counts its bins in the item's options.
        string table = await servers.CreateTableAsync("accuracy-window-redeploy");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        ProcessorOptions newOptions = ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { RelativeAccuracy = 0.05, MaxBins = 4096 } };

        using var oldFunction = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        JsonElement open = await TestEvents.RunAsync(oldFunction, TestEvents.BuildWindow([Record(1, "a", 1), Record(2, "a", 2)], "{}"));

        using var newFunction = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), newOptions);
        byte[] final = TestEvents.BuildWindow([Record(3, "a", 4), Record(4, "a", 100)], open.GetProperty("state").GetRawText(), final: true);
        JsonElement first = await TestEvents.RunAsync(newFunction, final);
        JsonElement again = await TestEvents.RunAsync(newFunction, final); // the same final invocation again (its response was lost)

        Assert.Equal(0, first.GetProperty("batchItemFailures").GetArrayLength());
        Assert.Equal(0, again.GetProperty("batchItemFailures").GetArrayLength());
        Dictionary<string, AttributeValue> item = Assert.Single((await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items);
        Assert.True(MetricAggregate.TryRead(((MemoryStream)item["sketch"].B).ToArray(), out MetricAggregate? stored, out _));
        Assert.Equal((4L, 107.0, 1.0, 100.0), (stored.Count, stored.Sum, stored.Min, stored.Max));
    }
}
