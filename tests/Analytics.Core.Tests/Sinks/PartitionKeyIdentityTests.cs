using System.Buffers;
using System.Globalization;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Core.Tests.Pipeline;
using FsCheck.Xunit;

namespace Analytics.Core.Tests;

/// <summary>
/// Two different partition keys never share a watermark slot in the DynamoDB sink, however the event spells them: a key
/// that is not valid text (a JSON escape of a lone surrogate, bytes that are not UTF-8) against a key whose text reads
/// like it. Sharing a slot loses records at ParallelizationFactor above 1: Lambda orders records per key only, so the
/// other key's lower sequence number arrives after the slot passed it and is skipped as already applied.
/// </summary>
[Collection(LocalServersCollection.Name)]
public sealed class PartitionKeyIdentityTests(LocalServersFixture servers)
{
    private const string Placeholder = "KEY-PLACEHOLDER";

    /// <summary>Pairs of partition keys as they stand between the quotes of the event's JSON, each pair two different keys.</summary>
    public static TheoryData<byte[], byte[]> CollidingSpellings => new()
    {
        // A lone surrogate (kept as its JSON text when it does not unescape) and the literal text "a\ud800".
        { Utf8(@"a\ud800"), Utf8(@"a\\ud800") },

        // Two lone surrogates, and a lone surrogate against the replacement character a decoder puts in its place.
        { Utf8(@"a\ud800"), Utf8(@"a\udbff") },
        { Utf8(@"a\ud800"), Utf8("a\uFFFD") },

        // Bytes that are not UTF-8, raw in the event: against each other and against the replacement character.
        { [(byte)'a', 0xFF], [(byte)'a', 0xFE] },
        { [(byte)'a', 0xFF], Utf8("a\uFFFD") },
    };

    [Theory]
    [MemberData(nameof(CollidingSpellings))]
    public async Task TwoKeysThatDecodeAlike_ConcurrentBatchesOfOneShard_BothRecordsAreCounted(byte[] first, byte[] second)
    {
        string table = await servers.CreateTableAsync("keys");
        using AmazonDynamoDBClient client = servers.CreateDynamoDbClient();
        var sink = new DynamoDbAggregateSink(client, DynamoDbAggregateSinkOptions.Default with { TableName = table });
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);

        // ParallelizationFactor 2: the second key's batch (sequence 2) runs first, then the first key's (sequence 1).
        byte[] later = Event(TestEvents.Seq(2), second, value: 10);
        byte[] earlier = Event(TestEvents.Seq(1), first, value: 5);
        BatchSummary one = await processor.ProcessAsync(later, DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        BatchSummary two = await processor.ProcessAsync(earlier, DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());

        // Each record is either counted or quarantined with a reason; here both are valid metric records.
        Assert.Equal((0, 0), (one.PoisonRecords, two.PoisonRecords));
        Dictionary<string, AttributeValue> item = Assert.Single((await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items);
        Assert.Equal(("2", "15"), (item["count"].N, item["sum"].N));

        // Re-delivered, both are skipped: a key's slot is found again.
        await processor.ProcessAsync(earlier, DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        await processor.ProcessAsync(later, DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        item = Assert.Single((await client.ScanAsync(new ScanRequest { TableName = table, ConsistentRead = true })).Items);
        Assert.Equal(("2", "15"), (item["count"].N, item["sum"].N));
        Assert.Equal(2, item["wk"].M[TestEvents.ShardId].M.Count);
    }

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>An event of one record whose partition key is <paramref name="rawKey"/> between the quotes, byte for byte.</summary>
    private static byte[] Event(string sequenceNumber, byte[] rawKey, double value)
    {
        byte[] data = TestEvents.Utf8(TestEvents.Sample("m", value, TestEvents.Arrival));
        byte[] evt = TestEvents.Build([new TestRecord(sequenceNumber, data, TestEvents.Arrival, Placeholder)]);
        int at = evt.AsSpan().IndexOf(Encoding.UTF8.GetBytes(Placeholder));
        Assert.True(at > 0);
        return [.. evt.AsSpan(0, at), .. rawKey, .. evt.AsSpan(at + Placeholder.Length)];
    }
}

/// <summary>
/// The key a sink sees for each record (<see cref="AggregateBatch.GetPartitionKeyText"/>) is equal for two records
/// exactly when their keys are: the same text however escaped, or, for a key that is not text, the same spelling. The
/// oracle decodes each spelling with System.Text.Json, not with the library's reader.
/// </summary>
public sealed class PartitionKeyTextProperties
{
    /// <summary>Pieces of a key between the event's quotes: plain, escaped, raw non-ASCII, lone surrogates, bytes that are not UTF-8.</summary>
    private static readonly byte[][] s_pieces =
    [
        "a"u8.ToArray(), "\\\\"u8.ToArray(), "\\u0061"u8.ToArray(), "\\u00e9"u8.ToArray(), "\u00e9"u8.ToArray(),
        "\\ud800"u8.ToArray(), "\\uD800"u8.ToArray(), "\\udbff"u8.ToArray(), "\\ud83d\\ude00"u8.ToArray(), "\U0001F600"u8.ToArray(),
        "\uFFFD"u8.ToArray(), "\\uFFFD"u8.ToArray(), "\\\""u8.ToArray(), "ud800"u8.ToArray(), [0xFF], [0xFE], [0xED, 0xA0, 0x80],
    ];

    [Property(MaxTest = 100)]
    public async Task KeyText_IsEqualForTwoRecords_ExactlyWhenTheirKeysAre(int seed)
    {
        var random = new Random(seed);
        byte[][] spellings = [.. Enumerable.Range(0, 24).Select(_ => Enumerable.Range(0, random.Next(1, 4)).SelectMany(_ => s_pieces[random.Next(s_pieces.Length)]).ToArray())];

        string[] texts = await KeyTextsAsync(spellings);

        for (int i = 0; i < spellings.Length; i++)
        {
            for (int j = 0; j < spellings.Length; j++)
            {
                bool sameKey = Meaning(spellings[i]) == Meaning(spellings[j]);
                Assert.True(sameKey == (texts[i] == texts[j]), $"{Show(spellings[i])} and {Show(spellings[j])}: same key {sameKey}, texts '{texts[i]}' and '{texts[j]}'");
            }
        }
    }

    /// <summary>
    /// Keys that are not text, around and past the 256 bytes the processor first sets aside for a key it keeps as its
    /// spelling (a mark byte and the bytes): each is read, the same spelling is the same key and a spelling one byte
    /// apart another. A key of that length is in no other test (a mutation run's survivors: the scratch space grown one
    /// byte short, which throws on such a key).
    /// </summary>
    [Theory]
    [InlineData(0xFF, 255)]
    [InlineData(0xFF, 256)]
    [InlineData(0xFF, 257)]
    [InlineData(0xFF, 600)]
    [InlineData(-1, 43)]
    [InlineData(-1, 100)]
    public async Task LongKeysThatAreNotText_AreKeptWhole(int repeatedByte, int count)
    {
        byte[] key = repeatedByte < 0
            ? [.. Enumerable.Repeat("\\ud800"u8.ToArray(), count).SelectMany(piece => piece)]
            : [.. Enumerable.Repeat((byte)repeatedByte, count)];
        byte[] other = [.. key.AsSpan(0, key.Length - 1), (byte)(repeatedByte < 0 ? '1' : 0xFE)];

        string[] texts = await KeyTextsAsync([key, other, key]);

        Assert.Equal(texts[0], texts[2]);
        Assert.NotEqual(texts[0], texts[1]);
        Assert.NotEqual(Meaning(key), Meaning(other));
    }

    /// <summary>What the spelling means: its text when it decodes to valid text, else the spelling itself (marked as such).</summary>
    private static string Meaning(byte[] spelling)
    {
        byte[] json = [(byte)'"', .. spelling, (byte)'"'];
        try
        {
            var reader = new System.Text.Json.Utf8JsonReader(json);
            reader.Read();
            string text = reader.GetString()!;
            if (System.Text.Unicode.Utf8.IsValid(spelling) && IsWellFormed(text))
            {
                return "text:" + text;
            }
        }
        catch (Exception e) when (e is InvalidOperationException or System.Text.Json.JsonException or ArgumentException)
        {
        }

        return "spelling:" + Convert.ToHexString(spelling);
    }

    /// <summary>No lone surrogate: a strict UTF-8 encoder takes it.</summary>
    private static bool IsWellFormed(string text)
    {
        try
        {
            _ = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetByteCount(text);
            return true;
        }
        catch (EncoderFallbackException)
        {
            return false;
        }
    }

    private static string Show(byte[] spelling) => Convert.ToHexString(spelling);

    /// <summary>Each record's key as the sink sees it: one record per spelling, each its own series.</summary>
    private static async Task<string[]> KeyTextsAsync(byte[][] spellings)
    {
        var records = new List<TestRecord>();
        for (int i = 0; i < spellings.Length; i++)
        {
            byte[] data = TestEvents.Utf8(TestEvents.Sample("m" + i.ToString(CultureInfo.InvariantCulture), 1, TestEvents.Arrival));
            records.Add(new TestRecord(TestEvents.Seq(i + 1), data, TestEvents.Arrival, Placeholder(i)));
        }

        byte[] evt = TestEvents.Build(records);
        for (int i = 0; i < spellings.Length; i++)
        {
            byte[] placeholder = Encoding.UTF8.GetBytes(Placeholder(i));
            int at = evt.AsSpan().IndexOf(placeholder);
            evt = [.. evt.AsSpan(0, at), .. spellings[i], .. evt.AsSpan(at + placeholder.Length)];
        }

        var sink = new KeyTextSink();
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default);
        BatchSummary summary = await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        Assert.Equal(0, summary.PoisonRecords);
        return [.. Enumerable.Range(0, spellings.Length).Select(i => sink.Texts[TestEvents.Seq(i + 1)])];
    }

    private static string Placeholder(int i) => "KEY-" + i.ToString("D4", CultureInfo.InvariantCulture);

    private sealed class KeyTextSink : IAggregateSink
    {
        public Dictionary<string, string> Texts { get; } = [];

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            for (int pair = 0; pair < batch.Count; pair++)
            {
                Assert.Equal(1, batch.GetPartitionKeyCount(pair));
                Texts[Encoding.ASCII.GetString(batch.GetFirstSequenceNumber(pair))] = batch.GetPartitionKeyText(pair, 0);
            }

            batch.MarkAllDurable();
            return Task.CompletedTask;
        }
    }
}
