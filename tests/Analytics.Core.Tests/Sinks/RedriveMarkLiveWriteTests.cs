using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Core.Tests;

/// <summary>
/// A live write (a re-delivery, or redrive's destination phase, which goes through the live sink) never applies again what a
/// spill redrive applied: the redrive mark <c>rk[shard][key]</c> counts as that key's watermark.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class RedriveMarkLiveWriteTests(LocalServersFixture servers)
{
    [Fact]
    public async Task WriteAsync_RecordsAtOrBelowTheKeysRedriveMark_AreNotAppliedAgain()
    {
        string table = await servers.CreateTableAsync("rk-live");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(dynamoDb, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        ShardRecord[] records = [.. ShardStream.Generate(seed: 41, count: 60).Select((r, i) => r with { PartitionKey = "device-" + (i % 2) })];

        // The first 20 records are live; then a redrive marks device-0 applied up to record 39 on every item it has.
        await sink.WriteAsync(ShardStream.Build(TestEvents.ShardId, records[..20]), CancellationToken.None);
        Dictionary<string, ShardStream.Expected> first = ShardStream.Expect((TestEvents.ShardId, records[..20]));
        string mark = records[39].SequenceNumber;
        int marked = 0;
        ScanResponse scan = await dynamoDb.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true });
        foreach (Dictionary<string, AttributeValue> item in scan.Items)
        {
            await dynamoDb.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = table,
                Key = new() { ["pk"] = item["pk"], ["sk"] = item["sk"] },
                UpdateExpression = "SET rk = :rk",
                ExpressionAttributeValues = new()
                {
                    [":rk"] = new AttributeValue { M = new() { [TestEvents.ShardId] = new AttributeValue { M = new() { ["device-0"] = new AttributeValue { S = mark } } } } },
                },
            });
            marked++;
        }

        Assert.True(marked > 0);

        // Every record is delivered again (a retry from the start): records 20..39 of device-0 reach the items that
        // carry the mark only if the mark is ignored.
        await sink.WriteAsync(ShardStream.Build(TestEvents.ShardId, records), CancellationToken.None);

        // The truth, computed from the records: each sample once, except device-0's records 20..39 on marked items.
        var expected = new Dictionary<string, ShardStream.Expected>(StringComparer.Ordinal);
        for (int i = 0; i < records.Length; i++)
        {
            foreach (TestSample s in records[i].Samples)
            {
                string id = ShardStream.Identity(s.Metric, s.Dimensions, s.TimestampMs - (s.TimestampMs % 60_000));
                if (records[i].PartitionKey == "device-0" && i is >= 20 and < 40 && first.ContainsKey(id))
                {
                    continue;
                }

                if (!expected.TryGetValue(id, out ShardStream.Expected? e))
                {
                    expected[id] = e = new ShardStream.Expected();
                }

                e.Values.Add(s.Value);
                e.Watermarks[TestEvents.ShardId + "/" + records[i].PartitionKey] = records[i].SequenceNumber;
            }
        }

        await ShardStream.AssertTableAsync(dynamoDb, table, expected);
    }
}
