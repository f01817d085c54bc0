using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests.Sinks;

/// <summary>
/// AWS does not document how Lambda's writer escapes the event's strings: it may write a character as it is, or as a
/// <c>\uXXXX</c> escape (every non-ASCII one, say, or <c>/</c> as <c>\/</c>). Every spelling of an event is the same
/// event: the same aggregates, the same watermarks in the table, the same quarantine entries and the same
/// <c>batchItemFailures</c>. A field read as it stands in one place and unescaped in another would make a redelivery
/// in the other spelling a different key, or a different stream, counted twice, skipped or refused.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class EventSpellingTests(LocalServersFixture servers)
{
    /// <summary>Keys that need no escape, and keys with non-ASCII characters (a non-BMP one among them) and a slash.</summary>
    private static readonly string[] s_keys = ["plain", "ké", "日本", "k😀", "a/b"];

    /// <summary>
    /// The event spelled with every character of <paramref name="fields"/>' string values escaped (<c>/</c> as <c>\/</c>,
    /// every other character as <c>\uxxxx</c> in lower case, a non-BMP one as its surrogate pair), the rest as before.
    /// </summary>
    internal static byte[] Respell(byte[] evt, params string[] fields) => Respell(evt, raw: false, fields);

    /// <summary>
    /// The event with <paramref name="fields"/>' string values escaped everywhere (<paramref name="raw"/> false) or only
    /// where JSON requires (<paramref name="raw"/>: other characters as their UTF-8), the rest as System.Text.Json writes it.
    /// </summary>
    internal static byte[] Respell(byte[] evt, bool raw, params string[] fields)
    {
        using JsonDocument document = JsonDocument.Parse(evt);
        var sb = new StringBuilder();
        Write(document.RootElement, sb, escapeAll: false, raw, fields);
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static void Write(JsonElement element, StringBuilder sb, bool escapeAll, bool raw, string[] fields)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                sb.Append('{');
                bool first = true;
                foreach (JsonProperty property in element.EnumerateObject())
                {
                    sb.Append(first ? "" : ",").Append(JsonSerializer.Serialize(property.Name, TestJson.Default.String)).Append(':');
                    Write(property.Value, sb, fields.Contains(property.Name), raw, fields);
                    first = false;
                }

                sb.Append('}');
                break;
            case JsonValueKind.Array:
                sb.Append('[');
                bool firstElement = true;
                foreach (JsonElement item in element.EnumerateArray())
                {
                    sb.Append(firstElement ? "" : ",");
                    Write(item, sb, escapeAll: false, raw, fields);
                    firstElement = false;
                }

                sb.Append(']');
                break;
            case JsonValueKind.String when escapeAll && raw:
                sb.Append('"').Append(JsonEncodedText.Encode(element.GetString()!, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping).ToString()).Append('"');
                break;
            case JsonValueKind.String when escapeAll:
                sb.Append('"');
                foreach (char c in element.GetString()!)
                {
                    sb.Append(c == '/' ? "\\/" : "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture));
                }

                sb.Append('"');
                break;
            default:
                sb.Append(element.GetRawText());
                break;
        }
    }

    /// <summary>Records of every key, one a poison record (not JSON), over two hosts.</summary>
    private static byte[] PlainEvent() =>
        TestEvents.Build(Enumerable.Range(0, 12).Select(i => new TestRecord(
            TestEvents.Seq(i + 1),
            i == 7 ? TestEvents.Utf8("not json") : TestEvents.Utf8(TestEvents.Sample("m", i + 1, TestEvents.Arrival - 1000, ("host", "h" + (i % 2)))),
            TestEvents.Arrival,
            s_keys[i % s_keys.Length])));

    private static async Task<List<Dictionary<string, AttributeValue>>> ItemsAsync(IAmazonDynamoDB client, string table) =>
        [.. (await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items.OrderBy(i => i["pk"].S + "|" + i["sk"].S, StringComparer.Ordinal)];


    private async Task<(string Response, List<string> Items, List<QuarantinedRecord> Quarantined)> RunAsync(string table, params byte[][] events)
    {
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(sink, quarantine, ProcessorOptions.Default);
        string response = "";
        foreach (byte[] evt in events)
        {
            var output = new ArrayBufferWriter<byte>();
            await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), output);
            response += Encoding.UTF8.GetString(output.WrittenSpan);
        }

        return (response, [.. (await ItemsAsync(client, table)).Select(ItemText.Of)], quarantine.Records);
    }

    /// <summary>
    /// The partition key and the stream's ARN spelled with every character escaped: the table holds the same items
    /// (counts, sums, per-key watermarks, the stream) as after the plain event, the quarantine the same entries; and the
    /// escaped event delivered again after the plain one (a redelivery in the other spelling) changes nothing.
    /// </summary>
    [Theory]
    [InlineData("partitionKey")]
    [InlineData("eventSourceARN")]
    [InlineData("partitionKey", "eventSourceARN")]
    public async Task AnEventWithItsStringsEscaped_IsTheSameEvent_InTheTableTheQuarantineAndTheResponse(params string[] fields)
    {
        byte[] plain = PlainEvent();
        byte[] escaped = Respell(plain, fields);
        Assert.True(escaped.AsSpan().IndexOf(fields.Contains("partitionKey") ? "\\ud83d\\ude00"u8 : "\\/\\u006d"u8) >= 0, "the event must carry the escapes");

        var expected = await RunAsync(await servers.CreateTableAsync("spelling"), plain);
        var actual = await RunAsync(await servers.CreateTableAsync("spelling"), escaped);
        var raw = await RunAsync(await servers.CreateTableAsync("spelling"), Respell(plain, raw: true, fields));
        string againTable = await servers.CreateTableAsync("spelling");
        var again = await RunAsync(againTable, plain, escaped);

        Assert.Equal("{\"batchItemFailures\":[]}", expected.Response);
        Assert.Equal(expected.Response, actual.Response);
        Assert.Equal(string.Join("\n", expected.Items), string.Join("\n", actual.Items));
        Assert.Equal(string.Join("\n", expected.Items), string.Join("\n", raw.Items));
        Assert.Contains(expected.Items, i => i.Contains("stream=S:" + TestEvents.StreamArn, StringComparison.Ordinal));
        Assert.Equal(expected.Response + expected.Response, again.Response);
        Assert.Equal(string.Join("\n", expected.Items), string.Join("\n", again.Items));

        QuarantinedRecord poison = Assert.Single(expected.Quarantined);
        QuarantinedRecord escapedPoison = Assert.Single(actual.Quarantined);
        Assert.Equal((TestEvents.StreamArn, s_keys[7 % s_keys.Length]), (poison.EventSourceArn, poison.PartitionKey));
        Assert.Equal((poison.EventSourceArn, poison.PartitionKey, poison.PartitionKeyBase64, poison.SequenceNumber), (escapedPoison.EventSourceArn, escapedPoison.PartitionKey, escapedPoison.PartitionKeyBase64, escapedPoison.SequenceNumber));
    }
}

/// <summary>
/// A sink that fails one partition key's pairs fails the same records whatever the spelling: the same
/// <c>batchItemFailures</c>, non-empty.
/// </summary>
public sealed class PartialResponseSpellingTests
{
    private sealed class KeyRefusingSink(string refused) : IAggregateSink
    {
        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            for (int pair = 0; pair < batch.Count; pair++)
            {
                if (!Enumerable.Range(0, batch.GetPartitionKeyCount(pair)).Any(k => batch.GetPartitionKeyText(pair, k) == refused))
                {
                    batch.MarkDurable(pair);
                }
            }

            return Task.CompletedTask;
        }
    }

    [Theory]
    [InlineData("k😀")]
    [InlineData("ké")]
    [InlineData("a/b")]
    public async Task TheFailuresOfOneKey_AreTheSameInEverySpelling(string refused)
    {
        string[] keys = ["plain", "ké", "k😀", "a/b"];
        // One series per key (the host is the key's index), so a pair is one key's and its records fail alone.
        byte[] plain = TestEvents.Build(Enumerable.Range(0, 8).Select(i => new TestRecord(
            TestEvents.Seq(i + 1), TestEvents.Utf8(TestEvents.Sample("m", i, TestEvents.Arrival - 1000, ("host", "h" + (i % keys.Length)))), TestEvents.Arrival, keys[i % keys.Length])));
        // As System.Text.Json writes it (non-ASCII escaped in upper case), every character escaped, only what JSON needs.
        byte[][] spellings = [plain, EventSpellingTests.Respell(plain, "partitionKey"), EventSpellingTests.Respell(plain, raw: true, "partitionKey")];
        Assert.True(spellings[0].AsSpan().IndexOf(Encoding.UTF8.GetBytes("\"ké\"")) < 0 && spellings[2].AsSpan().IndexOf(Encoding.UTF8.GetBytes("\"ké\"")) >= 0, "only the third spelling carries the key as UTF-8");

        var responses = new List<string>();
        foreach (byte[] evt in spellings)
        {
            using var processor = new KinesisBatchProcessor(new KeyRefusingSink(refused), new RecordingQuarantineSink(), ProcessorOptions.Default);
            var output = new ArrayBufferWriter<byte>();
            await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), output);
            responses.Add(Encoding.UTF8.GetString(output.WrittenSpan));
        }

        // The refused key's first record is the first failure (Lambda retries from the lowest).
        int first = Array.IndexOf(keys, refused);
        Assert.Contains("\"itemIdentifier\":\"" + TestEvents.Seq(first + 1) + "\"", responses[0], StringComparison.Ordinal);
        Assert.Equal([responses[0], responses[0]], responses.Skip(1));
    }
}

/// <summary>
/// The top-level <c>shardId</c> and <c>eventSourceARN</c> of a tumbling-window event, and the records' ARN, in any JSON
/// spelling: the shard and stream the sinks are given are the text they spell. A window's final invocation without
/// records takes its shard from the top-level <c>shardId</c> alone, and the sinks keep a window flush's watermark per
/// shard, so a shard taken as it is spelled would be another shard.
/// </summary>
public sealed class WindowEnvelopeSpellingTests
{
    /// <summary>The window's envelope strings spelled as <paramref name="spell"/> writes them (JSON string content).</summary>
    private static byte[] Respell(byte[] evt, Func<string, string> spell)
    {
        string text = Encoding.UTF8.GetString(evt);
        text = text.Replace("\"" + TestEvents.ShardId + "\"", "\"" + spell(TestEvents.ShardId) + "\"", StringComparison.Ordinal);
        text = text.Replace("\"" + TestEvents.StreamArn + "\"", "\"" + spell(TestEvents.StreamArn) + "\"", StringComparison.Ordinal);
        return Encoding.UTF8.GetBytes(text);
    }

    private static string EscapeAll(string s) =>
        string.Concat(s.Select(c => c == '/' ? "\\/" : "\\u" + ((int)c).ToString("X4", CultureInfo.InvariantCulture)));

    private static async Task<List<string>> RunAsync(Func<string, string> spell)
    {
        var sink = new SourceRecordingSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        var seen = new List<string>();
        TestRecord[] records = [TestEvents.HostRecord(1, "a", 1), TestEvents.HostRecord(2, "b", 2)];
        string state = "{}";
        foreach ((TestRecord[] batch, bool final) in new[] { (records, false), (Array.Empty<TestRecord>(), true) })
        {
            byte[] evt = Respell(TestEvents.BuildWindow(batch, state, final), spell);
            var output = new ArrayBufferWriter<byte>();
            BatchSummary summary = await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), output);
            using JsonDocument response = JsonDocument.Parse(output.WrittenMemory);
            state = response.RootElement.GetProperty("state").GetRawText();
            seen.Add(summary.ShardId + " " + summary.EventSourceArn + " " + summary.Records);
        }

        seen.AddRange(sink.Sources.Select(w => "write " + w.ShardId + " " + w.Arn));
        return seen;
    }

    [Theory]
    [InlineData("escaped")]
    [InlineData("slash")]
    public async Task AWindowsShardAndStream_AreTheSameInEverySpelling(string spelling)
    {
        List<string> plain = await RunAsync(s => s);
        List<string> other = await RunAsync(spelling == "escaped" ? EscapeAll : s => s.Replace("/", "\\/", StringComparison.Ordinal));

        Assert.Equal(
            [TestEvents.ShardId + " " + TestEvents.StreamArn + " 2", TestEvents.ShardId + " " + TestEvents.StreamArn + " 0", "write " + TestEvents.ShardId + " " + TestEvents.StreamArn],
            plain);
        Assert.Equal(plain, other);
    }
}
