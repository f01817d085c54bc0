using System.Buffers;
using System.CommandLine;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Core;
using Analytics.SampleLambda;

namespace Analytics.Tools;

/// <summary>
/// <c>query</c>: prints every aggregate of a DynamoDB aggregate table as one JSON line each, in the
/// <c>aggregates.jsonl</c> format, ordered by series and window, so runs against DynamoDB and against the file sinks
/// can be compared line by line. Items are read with the sink's own layout code.
/// </summary>
internal static class QueryCommand
{
    public static Command Create()
    {
        (Option<Uri?> endpoint, Option<string> table) = ToolsCommand.TableOptions();
        var command = new Command("query", "Prints every aggregate in the table as one JSON line (the aggregates.jsonl format) on stdout, ordered by series, then window start.")
        {
            endpoint, table,
        };
        command.SetAction((parsed, cancellationToken) =>
            RunAsync(parsed.GetValue(endpoint)!, parsed.GetValue(table)!, parsed.InvocationConfiguration.Output, parsed.InvocationConfiguration.Error, cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(Uri endpoint, string table, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var items = new List<Dictionary<string, AttributeValue>>();
        try
        {
            using AmazonDynamoDBClient client = SampleSinks.DynamoDbClient(endpoint);
            Dictionary<string, AttributeValue>? start = null;
            do
            {
                ScanResponse page = await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true, ExclusiveStartKey = start }, cancellationToken).ConfigureAwait(false);
                items.AddRange(page.Items ?? []);
                start = page.LastEvaluatedKey is { Count: > 0 } ? page.LastEvaluatedKey : null;
            }
            while (start is not null);
        }
        catch (Exception ex)
        {
            await stderr.WriteLineAsync($"error: could not read table '{table}' at {endpoint}: {ex.GetType().Name}: {ex.Message}").ConfigureAwait(false);
            return CommandLine.Failed;
        }

        items.Sort(static (a, b) =>
        {
            int bySeries = string.CompareOrdinal(Key(a, DynamoDbItem.PartitionKey), Key(b, DynamoDbItem.PartitionKey));
            return bySeries != 0 ? bySeries : string.CompareOrdinal(Key(a, DynamoDbItem.SortKey), Key(b, DynamoDbItem.SortKey));
        });

        var line = new ArrayBufferWriter<byte>(512);
        var scratch = new MetricAggregate(AggregatorOptions.Default);
        var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        foreach (Dictionary<string, AttributeValue> item in items)
        {
            // The lease a running redrive holds (Redrive.RedriveLease): not an aggregate.
            if (Key(item, DynamoDbItem.PartitionKey) == Redrive.RedriveLease.Pk && Key(item, DynamoDbItem.SortKey) == Redrive.RedriveLease.Sk)
            {
                continue;
            }

            if (!DynamoDbItem.TryReadPair(item, scratch, out MetricAggregate aggregate, out string metric, out List<KeyValuePair<string, string>> dimensions, out long startMs, out long endMs) ||
                !SeriesKey.TryCreate(SeriesKey.Encode(metric, dimensions), out SeriesKey key))
            {
                await stderr.WriteLineAsync($"error: item pk='{Key(item, DynamoDbItem.PartitionKey)}' sk='{Key(item, DynamoDbItem.SortKey)}' is not an aggregate of the sink's layout").ConfigureAwait(false);
                return CommandLine.Failed;
            }

            line.ResetWrittenCount();
            using (var writer = new Utf8JsonWriter(line, options))
            {
                AggregateJsonLine.Write(writer, key, startMs, endMs, aggregate);
            }

            await stdout.WriteLineAsync(Encoding.UTF8.GetString(line.WrittenSpan)).ConfigureAwait(false);
        }

        await stdout.FlushAsync(cancellationToken).ConfigureAwait(false);
        return CommandLine.Success;
    }

    private static string? Key(Dictionary<string, AttributeValue> item, string name) =>
        item.TryGetValue(name, out AttributeValue? value) ? value.S : null;
}
