using System.Buffers;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests;

/// <summary>
/// A redeployment that changes the sketch's accuracy and bin bound while a window's item is stored, against the local
/// DynamoDB server: the new version's batches are written (none fails, so the shard moves on), the stored window keeps
/// the options it was written with and holds every sample once, and a later window is written with the new options.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class AccuracyRedeployDynamoDbTests(LocalServersFixture servers)
{
    private static readonly AggregatorOptions s_old = AggregatorOptions.Default;
    private static readonly AggregatorOptions s_new = AggregatorOptions.Default with { RelativeAccuracy = 0.05, MaxBins = 4096 };

    private static TestRecord Record(int n, double value, long timestampMs) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", value, timestampMs, ("host", "a"))), TestEvents.Arrival);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AccuracyAndBinsChanged_WritesToTheStoredWindowGoOn_InItsOwnOptions(bool backAgain)
    {
        string table = await servers.CreateTableAsync("accuracy-redeploy");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        long window = TestEvents.Arrival - 1000;
        long nextWindow = window + 60_000;
        double[] oldValues = [1, 10, 100];
        double[] newValues = [2, 20, 200, 2000];

        using var oldFunction = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { Aggregator = s_old });
        JsonElement first = await TestEvents.RunAsync(oldFunction, TestEvents.Build(oldValues.Select((v, i) => Record(1 + i, v, window))));
        Assert.Equal(0, first.GetProperty("batchItemFailures").GetArrayLength());

        using var newFunction = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { Aggregator = s_new });
        TestRecord[] second = [.. newValues.Select((v, i) => Record(10 + i, v, window)), Record(20, 7, nextWindow)];
        JsonElement secondAnswer = await TestEvents.RunAsync(newFunction, TestEvents.Build(second));
        Assert.Equal(0, secondAnswer.GetProperty("batchItemFailures").GetArrayLength());
        JsonElement again = await TestEvents.RunAsync(newFunction, TestEvents.Build(second)); // a re-delivery: nothing twice
        Assert.Equal(0, again.GetProperty("batchItemFailures").GetArrayLength());
        if (backAgain)
        {
            // The old version still runs beside the new one (a deployment in progress): it writes both windows too.
            JsonElement old = await TestEvents.RunAsync(oldFunction, TestEvents.Build([Record(30, 3, window), Record(31, 30, nextWindow)]));
            Assert.Equal(0, old.GetProperty("batchItemFailures").GetArrayLength());
        }

        List<Dictionary<string, AttributeValue>> items = (await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items;
        Dictionary<string, MetricAggregate> bySk = items.ToDictionary(i => i["sk"].S, Sketch);
        MetricAggregate stored = bySk[DynamoDbKeys.Timestamp(window / 60_000 * 60_000)];
        MetricAggregate later = bySk[DynamoDbKeys.Timestamp(nextWindow / 60_000 * 60_000)];
        Assert.Equal((s_old.RelativeAccuracy, s_old.MaxBins), (stored.Sketch.RelativeAccuracy, stored.Sketch.MaxBins));
        Assert.Equal((s_new.RelativeAccuracy, s_new.MaxBins), (later.Sketch.RelativeAccuracy, later.Sketch.MaxBins));

        double[] all = [.. oldValues, .. newValues, .. (backAgain ? new[] { 3.0 } : [])];
        Array.Sort(all);
        Assert.Equal((all.Length, all.Sum(), all[0], all[^1]), (stored.Count, stored.Sum, stored.Min, stored.Max));
        Assert.Equal(backAgain ? 2 : 1, later.Count);
        double bound = ((1 + s_old.RelativeAccuracy) * (1 + s_new.RelativeAccuracy)) - 1;
        foreach (double q in new[] { 0, 0.25, 0.5, 0.75, 0.9, 1 })
        {
            Assert.InRange(stored.GetQuantile(q), Aggregation.SampleData.ExactQuantile(all, q) * (1 - bound), Aggregation.SampleData.ExactQuantile(all, q) * (1 + bound));
        }
    }

    private static MetricAggregate Sketch(Dictionary<string, AttributeValue> item)
    {
        Assert.True(MetricAggregate.TryRead(((MemoryStream)item["sketch"].B).ToArray(), out MetricAggregate? aggregate, out _));
        return aggregate;
    }
}
