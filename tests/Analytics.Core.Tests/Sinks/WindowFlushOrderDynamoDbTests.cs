using System.Globalization;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests;

/// <summary>
/// A window invocation whose quarantine write fails, retried by Lambda with <c>BisectBatchOnFunctionError</c>, against
/// the local DynamoDB server. The flush used to run beside the quarantine write: it landed (raising the items'
/// watermark to the batch's last record) while the invocation failed, the bisected retry gathered the records into
/// other states, and the window's next flush straddled the landed watermark: refused on every retry, the shard blocked.
/// The poison records are now durable before the flush starts.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class WindowFlushOrderDynamoDbTests(LocalServersFixture servers)
{
    private static TestRecord Record(int n, string host, double value) => TestEvents.HostRecord(n, host, value);

    private static TestRecord Poison(int n) => new(TestEvents.Seq(n), "{broken"u8.ToArray(), TestEvents.Arrival);

    [Fact]
    public async Task QuarantineFailsOnce_BisectedRetries_DrainTheWindow_EachSampleOnce()
    {
        // A state of one pair stays under the bound, one of two passes it (an early flush).
        int onePair;
        using (var probe = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default))
        {
            JsonElement probed = await TestEvents.RunAsync(probe, TestEvents.BuildWindow([Record(1, "c", 4)], "{}"));
            onePair = probed.GetProperty("state").EnumerateObject().Single().Value.GetString()!.Length;
        }

        string table = await servers.CreateTableAsync("window-flush-order");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        var quarantine = new FailingFirstQuarantineSink();
        using var function = new KinesisBatchProcessor(sink, quarantine, ProcessorOptions.Default with { MaxStateBytes = onePair });

        // The whole batch: three pairs (an early flush) and a poison record whose quarantine write fails.
        await Assert.ThrowsAsync<BatchFailedException>(() =>
            TestEvents.RunAsync(function, TestEvents.BuildWindow([Record(1, "a", 1), Record(2, "b", 2), Poison(3), Record(4, "c", 4)], "{}")));

        // Lambda bisects: the first half (two pairs: flushed early), then the second half (one pair: kept in the state).
        JsonElement first = await TestEvents.RunAsync(function, TestEvents.BuildWindow([Record(1, "a", 1), Record(2, "b", 2)], "{}"));
        JsonElement second = await TestEvents.RunAsync(function, TestEvents.BuildWindow([Poison(3), Record(4, "c", 4)], first.GetProperty("state").GetRawText()));

        // The window's last invocation flushes the state, records 4 and 5.
        await TestEvents.RunAsync(function, TestEvents.BuildWindow([Record(5, "c", 8)], second.GetProperty("state").GetRawText(), final: true));

        List<Dictionary<string, AttributeValue>> items = (await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items;
        Assert.Equal(
            [("m|host=a", 1L, 1.0), ("m|host=b", 1L, 2.0), ("m|host=c", 2L, 12.0)],
            items.Select(i => (i["pk"].S, long.Parse(i["count"].N, CultureInfo.InvariantCulture), double.Parse(i["sum"].N, CultureInfo.InvariantCulture)))
                .OrderBy(i => i.Item1, StringComparer.Ordinal));
        Assert.Equal([TestEvents.Seq(3)], quarantine.Records.Select(r => r.SequenceNumber));
    }

    /// <summary>Makes nothing durable on its first call (a write that failed), everything after.</summary>
    private sealed class FailingFirstQuarantineSink : IQuarantineSink
    {
        private int _calls;

        public List<QuarantinedRecord> Records { get; } = [];

        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
        {
            if (_calls++ == 0)
            {
                return Task.FromResult(0);
            }

            Records.AddRange(records);
            return Task.FromResult(records.Count);
        }
    }
}
