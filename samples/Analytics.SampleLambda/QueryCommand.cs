using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Core;

namespace Analytics.SampleLambda;

/// <summary>
/// <c>query</c>: prints every aggregate of a DynamoDB aggregate table as one JSON line each, in the
/// <c>aggregates.jsonl</c> format, ordered by series and window, so runs against DynamoDB and against the file
/// sinks can be compared line by line.
/// </summary>
internal static class QueryCommand
{
    public const int Success = 0;
    public const int Failed = 1;
    public const int UsageError = 2;

    public const string Usage = """
        usage: bootstrap query --dynamodb-endpoint <url> --table <name>

          prints every aggregate in the table as one JSON line (the aggregates.jsonl format) on stdout,
          ordered by series, then window start.
        exit codes: 0 done; 1 the table could not be read; 2 bad arguments.
        """;

    /// <summary>Runs the command.</summary>
    /// <param name="args">The arguments after <c>query</c>.</param>
    /// <param name="stdout">Receives the JSON lines (or the usage, when asked for).</param>
    /// <param name="stderr">Receives errors.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (!TryParse(args, out DynamoDbTarget? target, out string? error))
        {
            if (error is null)
            {
                await stdout.WriteLineAsync(Usage).ConfigureAwait(false);
                return Success;
            }

            await stderr.WriteLineAsync("error: " + error).ConfigureAwait(false);
            await stderr.WriteLineAsync(Usage).ConfigureAwait(false);
            return UsageError;
        }

        var items = new List<Dictionary<string, AttributeValue>>();
        try
        {
            using AmazonDynamoDBClient client = target.CreateClient();
            Dictionary<string, AttributeValue>? start = null;
            do
            {
                ScanResponse page = await client.ScanAsync(new ScanRequest { TableName = target.Table, ConsistentRead = true, ExclusiveStartKey = start }).ConfigureAwait(false);
                items.AddRange(page.Items ?? []);
                start = page.LastEvaluatedKey is { Count: > 0 } ? page.LastEvaluatedKey : null;
            }
            while (start is not null);
        }
        catch (Exception ex)
        {
            await stderr.WriteLineAsync($"error: could not read table '{target.Table}' at {target.Endpoint}: {ex.Message}").ConfigureAwait(false);
            return Failed;
        }

        items.Sort(static (a, b) =>
        {
            int bySeries = string.CompareOrdinal(a["pk"].S, b["pk"].S);
            return bySeries != 0 ? bySeries : string.CompareOrdinal(a["sk"].S, b["sk"].S);
        });

        var line = new ArrayBufferWriter<byte>(512);
        var aggregate = new MetricAggregate(AggregatorOptions.Default);
        foreach (Dictionary<string, AttributeValue> item in items)
        {
            if (!TryWriteLine(item, aggregate, line))
            {
                await stderr.WriteLineAsync($"error: item pk='{item["pk"].S}' sk='{item["sk"].S}' is not an aggregate of this layout").ConfigureAwait(false);
                return Failed;
            }

            await stdout.WriteLineAsync(Encoding.UTF8.GetString(line.WrittenSpan)).ConfigureAwait(false);
        }

        await stdout.FlushAsync().ConfigureAwait(false);
        return Success;
    }

    private static bool TryParse(string[] args, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DynamoDbTarget? target, out string? error)
    {
        target = null;
        error = null;
        string? endpoint = null;
        string? table = null;
        for (int i = 0; i < args.Length; i++)
        {
            string name = args[i];
            if (name is "-h" or "--help")
            {
                return false;
            }

            if (name is not ("--dynamodb-endpoint" or "--table"))
            {
                error = $"unknown argument '{name}'";
                return false;
            }

            if (i + 1 >= args.Length || args[i + 1].Length == 0)
            {
                error = $"{name} needs a value";
                return false;
            }

            string value = args[++i];
            if ((name == "--table" ? table : endpoint) is not null)
            {
                error = $"{name} is given twice";
                return false;
            }

            if (name == "--table")
            {
                table = value;
            }
            else
            {
                endpoint = value;
            }
        }

        if (endpoint is null || table is null)
        {
            error = "--dynamodb-endpoint and --table are required";
            return false;
        }

        return DynamoDbTarget.TryCreate(endpoint, table, createTable: false, out target, out error) && target is not null;
    }

    private static bool TryWriteLine(Dictionary<string, AttributeValue> item, MetricAggregate aggregate, ArrayBufferWriter<byte> line)
    {
        if (!item.TryGetValue("metric", out AttributeValue? metric) || metric.S is null ||
            !item.TryGetValue("windowStart", out AttributeValue? windowStart) || !TryParseTime(windowStart.S, out long startMs) ||
            !item.TryGetValue("windowEnd", out AttributeValue? windowEnd) || !TryParseTime(windowEnd.S, out long endMs) ||
            !item.TryGetValue("sketch", out AttributeValue? sketch) || sketch.B is null)
        {
            return false;
        }

        byte[] bytes = sketch.B.ToArray();
        if (!aggregate.TryReadFrom(bytes, out int read) || read != bytes.Length)
        {
            return false;
        }

        IEnumerable<KeyValuePair<string, string>> dimensions = item.TryGetValue("dimensions", out AttributeValue? d) && d.M is not null
            ? d.M.Select(static x => new KeyValuePair<string, string>(x.Key, x.Value.S ?? string.Empty))
            : [];
        byte[] encoded = SeriesKey.Encode(metric.S, dimensions);
        if (!SeriesKey.TryCreate(encoded, out SeriesKey key))
        {
            return false;
        }

        line.ResetWrittenCount();
        using var writer = new Utf8JsonWriter(line, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        AggregateJsonLine.Write(writer, key, startMs, endMs, aggregate);
        writer.Flush();
        return true;
    }

    private static bool TryParseTime(string? text, out long epochMs)
    {
        epochMs = 0;
        if (text is null || !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset time))
        {
            return false;
        }

        epochMs = time.ToUnixTimeMilliseconds();
        return true;
    }
}
