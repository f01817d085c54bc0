using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests;
using Analytics.Tools;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// <c>query</c> on a table whose items were written with different sketch options (a redeploy that changed the
/// accuracy or bin bound): every item is read in the options it was written with, against the local DynamoDB server.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class QueryOptionsTests(LocalServersFixture servers)
{
    [Fact]
    public async Task ItemsOfOtherOptions_AreReadInTheirOwn()
    {
        string table = await servers.CreateTableAsync("query-options");
        using AmazonDynamoDBClient dynamoDb = servers.CreateDynamoDbClient();
        (double Accuracy, int Bins, double[] Values)[] windows =
        [
            (0.01, 2048, [1, 2, 3, 100]),
            (0.05, 4096, [10, 20, 30, 40, 50]),
            (0.0001, 65_536, [0.5, 7]),
        ];
        for (int w = 0; w < windows.Length; w++)
        {
            var aggregate = new MetricAggregate(new AggregatorOptions { RelativeAccuracy = windows[w].Accuracy, MaxBins = windows[w].Bins });
            foreach (double v in windows[w].Values)
            {
                aggregate.Add(v);
            }

            long start = 1_737_367_200_000 + (w * 60_000L);
            var key = new PairKey("m|host=a", DynamoDbKeys.Timestamp(start), DynamoDbKeys.Timestamp(start + 60_000), "m", [new("host", "a")]);
            Dictionary<string, AttributeValue> item = DynamoDbItem.Build(key, aggregate, new ArrayBufferWriter<byte>(), null, "shardId-000000000000", null, null, 1);
            await dynamoDb.PutItemAsync(new PutItemRequest { TableName = table, Item = item });
        }

        var output = new StringWriter(CultureInfo.InvariantCulture);
        var errors = new StringWriter(CultureInfo.InvariantCulture);
        int exit = await ToolsCommand.RunAsync(["query", "--table", table, "--dynamodb-endpoint", servers.DynamoDbUrl.ToString()], output, errors);

        Assert.True(exit == 0, errors.ToString());
        JsonElement[] lines = [.. output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone())];
        Assert.Equal(windows.Length, lines.Length);
        foreach ((double accuracy, int _, double[] values) in windows)
        {
            JsonElement line = Assert.Single(lines, l => l.GetProperty("count").GetInt64() == values.Length);
            Assert.Equal(values.Sum(), line.GetProperty("sum").GetDouble());
            Assert.Equal(values.Max(), line.GetProperty("max").GetDouble());
            double exactMedian = values.Order().ElementAt((values.Length - 1) / 2);
            Assert.InRange(line.GetProperty("p50").GetDouble(), exactMedian * (1 - accuracy), exactMedian * (1 + accuracy));
        }
    }
}
