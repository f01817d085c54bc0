using System.Buffers;
using System.Text;
using System.Text.Json;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests;

/// <summary>
/// Tests written by a mutation review (2026-12-07): each kills a mutant that survived the existing tests (the mutant is named
/// in the test's comment as file:line, original -> mutant).
/// </summary>
public class MutationGapTests
{
    /// <summary>The arrival, in epoch milliseconds, that the reader takes from a record whose arrival is <paramref name="number"/>.</summary>
    internal static long ReadArrival(string number)
    {
        string json = "{\"Records\":[{\"kinesis\":{\"sequenceNumber\":\"1\",\"data\":\"\",\"partitionKey\":\"k\",\"approximateArrivalTimestamp\":" +
            number + "},\"eventID\":\"shardId-1:1\"}]}";
        var reader = new KinesisEventReader(Encoding.UTF8.GetBytes(json));
        Assert.True(reader.Read());
        return reader.Current.ApproximateArrivalTimestampMs;
    }

    /// <summary>
    /// The documented rule (JsonKinesisEventReader.TryReadArrival): values above 157,753,180,800 are milliseconds, so the
    /// threshold itself is seconds, whatever the number's spelling. Spellings the fast parser does not take (an exponent,
    /// four fraction digits) go through the decimal path, whose comparison no test reached.
    /// Kills JsonKinesisEventReader.cs:598 "value > MillisecondsThreshold" -> "value >= MillisecondsThreshold".
    /// </summary>
    [Theory]
    [InlineData("1.577531808E11")]
    [InlineData("157753180800.0000")]
    [InlineData("1577531808000E-1")]
    public void ArrivalAtTheThreshold_InAnySpelling_IsSeconds(string number) =>
        Assert.Equal(157_753_180_800L * 1000, ReadArrival(number));

    /// <summary>
    /// The latest arrival .NET can hold (9999-12-31T23:59:59.999Z) in milliseconds is accepted; one millisecond more is
    /// refused as not epoch seconds. Kills JsonKinesisEventReader.cs:599 "ms > 253_402_300_799_999m" -> "ms >= ...".
    /// </summary>
    [Fact]
    public void ArrivalAtTheLastMillisecondOf9999_IsAccepted_OneMoreIsRefused()
    {
        Assert.Equal(DateTimeOffset.MaxValue.ToUnixTimeMilliseconds(), ReadArrival("253402300799999"));
        KinesisEventFormatException e = Assert.Throws<KinesisEventFormatException>(() => ReadArrival("253402300800000"));
        Assert.Contains("approximateArrivalTimestamp", e.Message, StringComparison.Ordinal);
    }

    private static TestRecord HostRecord(int n, string host, double value) => TestEvents.HostRecord(n, host, value);

    /// <summary>Runs one window event under <paramref name="maxStateBytes"/>: whether it flushed, and the response's state object text.</summary>
    private static async Task<(bool Flushed, string State)> RunWindowAsync(TestRecord[] records, string stateJson, int maxStateBytes)
    {
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { MaxStateBytes = maxStateBytes });
        var output = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.BuildWindow(records, stateJson), DateTimeOffset.UtcNow.AddSeconds(30), output);
        using JsonDocument response = JsonDocument.Parse(output.WrittenMemory);
        return (summary.Flushed, response.RootElement.GetProperty("state").GetRawText());
    }

    /// <summary>
    /// MaxStateBytes bounds the state object as the response carries it: a state of exactly that many bytes is kept, one
    /// more is flushed, for every length of the encoded state (base64 pads to a multiple of four, so the encoded length's
    /// remainder mod 3 matters; the existing boundary test met only one remainder).
    /// Kills WindowState.cs "(_encoded.WrittenCount + 2L) / 3 * 4" -> "(... + 1L) / 3 * 4".
    /// </summary>
    [Fact]
    public async Task StateOfExactlyMaxStateBytes_IsKept_OneLessIsFlushed_ForEveryPaddingOfTheBase64()
    {
        string key = ProcessorOptions.Default.StateKey;
        var remainders = new HashSet<int>();
        for (int series = 1; series <= 9; series++)
        {
            TestRecord[] records = [.. Enumerable.Range(1, series).Select(i => HostRecord(i, "h" + i, i))];
            (bool flushed, string state) = await RunWindowAsync(records, "{}", ProcessorOptions.Default.MaxStateBytes);
            Assert.False(flushed);
            string entry = JsonDocument.Parse(state).RootElement.GetProperty(key).GetString()!;
            remainders.Add(Convert.FromBase64String(entry).Length % 3);
            int size = Encoding.UTF8.GetByteCount(state);

            Assert.False((await RunWindowAsync(records, "{}", size)).Flushed);
            Assert.True((await RunWindowAsync(records, "{}", size - 1)).Flushed);
        }

        // The runs met every remainder of the encoded length (so every padding of its base64).
        Assert.Equal([0, 1, 2], remainders.Order());
    }

    /// <summary>
    /// The entries of others count against MaxStateBytes with everything they add to the state object as the response
    /// writes it: name (escaped again by the response's writer: a name with a non-ASCII letter grows), value and the
    /// comma that separates them from ours. With the bound at the object's size the state is kept, one byte less flushed.
    /// Kills WindowState.cs "... + 1" (the separator) -> "...".
    /// </summary>
    [Theory]
    [InlineData("other")]
    [InlineData("caf\\u00e9")]
    [InlineData("café")]
    [InlineData("a<b")]
    public async Task ForeignEntriesCountAsTheResponseWritesThem(string name)
    {
        TestRecord[] records = [HostRecord(1, "a", 1), HostRecord(2, "b", 2)];
        string incoming = "{\"" + name + "\":\"xxxxxxxxxx\"}";
        (bool kept, string state) = await RunWindowAsync(records, incoming, ProcessorOptions.Default.MaxStateBytes);
        Assert.False(kept);
        int size = Encoding.UTF8.GetByteCount(state);

        (bool flushed, string again) = await RunWindowAsync(records, incoming, size);
        Assert.False(flushed);
        Assert.Equal(state, again);
        Assert.True((await RunWindowAsync(records, incoming, size - 1)).Flushed);
    }

    /// <summary>
    /// A redeploy that changed the aggregator's options, and a re-delivery starting exactly at the old state's last
    /// record: that record is in the old state (flushed under its own options and range), so only the records after it
    /// go on, under a range that starts after the old one. The existing test re-delivered from inside the range, never
    /// from its last record. Kills KinesisBatchProcessor.Window.cs:56 "Compare(redelivered, previousLast) &lt;= 0" -> "&lt; 0"
    /// (record 3 was flushed twice, the second time under a range reaching into the flushed one).
    /// </summary>
    [Theory]
    [InlineData("window")]
    [InlineData("accuracy")]
    [InlineData("bins")]
    public async Task RedeployAndReDeliveryFromTheStatesLastRecord_EachRecordIsFlushedOnce(string changed)
    {
        RecordingAggregateSink sink = await RedeployAsync(changed, [HostRecord(1, "a", 1), HostRecord(2, "a", 2), HostRecord(3, "b", 3)], [HostRecord(3, "b", 3), HostRecord(4, "a", 4), HostRecord(5, "c", 5)]);

        // Every record once over all flushes: 1 + 2 + 3 + 4 + 5, five samples.
        Assert.Equal((5L, 15.0), (sink.Seen.Sum(s => s.Count), sink.Seen.Sum(s => s.Sum)));
        Assert.Equal(
            [("host=a", 2L, 3.0, TestEvents.Seq(1), TestEvents.Seq(3)), ("host=b", 1L, 3.0, TestEvents.Seq(1), TestEvents.Seq(3)), ("host=a", 1L, 4.0, TestEvents.Seq(4), TestEvents.Seq(5)), ("host=c", 1L, 5.0, TestEvents.Seq(4), TestEvents.Seq(5))],
            sink.Seen.Select(s => (s.Dimensions, s.Count, s.Sum, s.FirstSequenceNumber, s.LastSequenceNumber)));
    }

    /// <summary>
    /// A window opened by a function with the default aggregator options (<paramref name="opened"/>, its state kept), then
    /// the window's last invocation by a redeployed one whose options changed (<paramref name="changed"/>), given
    /// <paramref name="redelivered"/> and that state: what the new function flushed.
    /// </summary>
    private static async Task<RecordingAggregateSink> RedeployAsync(string changed, TestRecord[] opened, TestRecord[] redelivered)
    {
        AggregatorOptions before = AggregatorOptions.Default;
        AggregatorOptions after = WindowHardeningTests.Changed(before, changed);
        using var oldFunction = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { Aggregator = before });
        JsonElement open = await TestEvents.RunAsync(oldFunction, TestEvents.BuildWindow(opened, "{}"));

        var sink = new RecordingAggregateSink();
        using var newFunction = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { Aggregator = after });
        await TestEvents.RunAsync(newFunction, TestEvents.BuildWindow(redelivered, open.GetProperty("state").GetRawText(), final: true));
        return sink;
    }

    /// <summary>
    /// A KPL container padded (with an unknown field, which the format lets a reader skip) to exactly
    /// <paramref name="containerBytes"/>, holding one valid user record.
    /// </summary>
    private static byte[] PaddedContainer(int containerBytes)
    {
        byte[] sample = TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000));
        var head = new List<byte> { 0x0A, 0x01, (byte)'k' }; // partition_key_table: "k"
        var record = new List<byte> { 0x08, 0x00, 0x1A }; // partition_key_index 0, data:
        AppendVarint(record, (ulong)sample.Length);
        record.AddRange(sample);
        head.Add(0x1A); // records
        AppendVarint(head, (ulong)record.Count);
        head.AddRange(record);

        // Field 15, length-delimited: its tag, its length's varint and the padding fill what is left of the size.
        int left = containerBytes - 4 - 16 - head.Count - 1;
        int padding = left - 1;
        while (padding + VarintLength((ulong)padding) != left)
        {
            padding--;
        }

        var protobuf = new List<byte>(head) { 0x7A };
        AppendVarint(protobuf, (ulong)padding);
        protobuf.AddRange(new byte[padding]);
        byte[] container = KplTestEncoder.Wrap(protobuf.ToArray());
        Assert.Equal(containerBytes, container.Length);
        return container;

        static void AppendVarint(List<byte> to, ulong value)
        {
            while (value >= 0x80)
            {
                to.Add((byte)(value | 0x80));
                value >>= 7;
            }

            to.Add((byte)value);
        }

        static int VarintLength(ulong value)
        {
            int n = 1;
            while (value >= 0x80)
            {
                value >>= 7;
                n++;
            }

            return n;
        }
    }

    /// <summary>
    /// A KPL container is read up to 6 MiB (KplAggregate.MaxContainerBytes, "the largest aggregated record the pipeline
    /// reads"): one of exactly 6 MiB is valid, one byte more is TooLarge. Kills RecordUnits.cs:66
    /// "data.Length > containerLimit" -> "data.Length >= containerLimit" (a container at the limit was refused whole).
    /// </summary>
    [Fact]
    public void ContainerOfExactlySixMebibytes_IsValid_OneByteMoreIsTooLarge()
    {
        const int SixMebibytes = 6 * 1024 * 1024;
        var validator = new RecordValidator();
        RecordVerdict atLimit = validator.ValidateData(PaddedContainer(SixMebibytes), TestEvents.Arrival);
        Assert.Equal((PoisonReason.None, 1), (atLimit.Reason, atLimit.SampleCount));
        Assert.Equal(PoisonReason.TooLarge, validator.ValidateData(PaddedContainer(SixMebibytes + 1), TestEvents.Arrival).Reason);
    }

    /// <summary>
    /// A redeploy that changed the aggregator's options, and a re-delivery of the whole state's range: the batch starts
    /// at the state's first record (as WindowHardeningTests' property lets a batch start "anywhere from the state's first
    /// record"). That is the state of the records before and up to this batch's, not a state from after it: it is flushed
    /// under its own options and only the records past it go on. Refused, the invocation fails on every retry (Lambda
    /// hands back the same batch and state): the shard is blocked. Kills KinesisBatchProcessor.Window.cs:31
    /// "Compare(early, stateFirst) &lt; 0" -> "&lt;= 0".
    /// </summary>
    [Theory]
    [InlineData("window")]
    [InlineData("accuracy")]
    [InlineData("bins")]
    public async Task RedeployAndReDeliveryOfTheWholeStateRange_IsNotRefused_EachRecordIsFlushedOnce(string changed)
    {
        RecordingAggregateSink sink = await RedeployAsync(changed, [HostRecord(1, "a", 1), HostRecord(2, "b", 2)], [HostRecord(1, "a", 1), HostRecord(2, "b", 2), HostRecord(3, "c", 3)]);

        Assert.Equal((3L, 6.0), (sink.Seen.Sum(s => s.Count), sink.Seen.Sum(s => s.Sum)));
        Assert.Equal(
            [("host=a", 1L, TestEvents.Seq(1), TestEvents.Seq(2)), ("host=b", 1L, TestEvents.Seq(1), TestEvents.Seq(2)), ("host=c", 1L, TestEvents.Seq(3), TestEvents.Seq(3))],
            sink.Seen.Select(s => (s.Dimensions, s.Count, s.FirstSequenceNumber, s.LastSequenceNumber)));
    }

    /// <summary>
    /// An entry of ours that ends right after the first sequence number (no length byte for the last one) is refused as
    /// truncated, with WindowStateFormatException like every broken entry, not an IndexOutOfRangeException. The existing
    /// cases were truncated further inside. Kills WindowState.cs:147 "2 + firstLength &gt;= bytes.Length" -> "&gt;".
    /// </summary>
    [Theory]
    [InlineData(new byte[] { 1, 1, (byte)'1' })]
    [InlineData(new byte[] { 1, 3, (byte)'1', (byte)'2', (byte)'3' })]
    public void Restore_EntryEndingAfterItsFirstSequenceNumber_IsTruncated(byte[] entry)
    {
        string key = ProcessorOptions.Default.StateKey;
        var state = new WindowState(AggregatorOptions.Default, key);
        byte[] incoming = Encoding.UTF8.GetBytes("{\"" + key + "\":\"" + Convert.ToBase64String(entry) + "\"}");

        WindowStateFormatException e = Assert.Throws<WindowStateFormatException>(() => state.Restore(incoming));
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A record that names kinesis.sequenceNumber twice is ambiguous and refused (KinesisEventReader's contract), also
    /// when its eventID agrees with the second value: the existing case had the eventID name the first, so a scanner
    /// that kept the last value fell back on the eventID mismatch and the fallback refused it anyway. Checked with the
    /// duplicate before and after the other fields. Kills KinesisEventReader.cs:426 "!sequenceNumber.IsEmpty ||" dropped
    /// (the scanner took the second sequence number silently).
    /// </summary>
    [Theory]
    [InlineData("\"sequenceNumber\":\"1\",\"data\":\"\",\"partitionKey\":\"k\",\"approximateArrivalTimestamp\":1,\"sequenceNumber\":\"2\"")]
    [InlineData("\"sequenceNumber\":\"1\",\"sequenceNumber\":\"2\",\"data\":\"\",\"partitionKey\":\"k\",\"approximateArrivalTimestamp\":1")]
    public void SequenceNumberNamedTwice_EventIdAgreeingWithTheSecond_IsRefused(string kinesisFields)
    {
        byte[] json = Encoding.UTF8.GetBytes("{\"Records\":[{\"kinesis\":{" + kinesisFields + "},\"eventID\":\"shardId-1:2\"}]}");
        KinesisEventFormatException e = Assert.Throws<KinesisEventFormatException>(() =>
        {
            var reader = new KinesisEventReader(json);
            while (reader.Read())
            {
            }
        });
        Assert.Contains("kinesis.sequenceNumber twice", e.Message, StringComparison.Ordinal);
    }
}

/// <summary>
/// Findings of a mutation review (2026-12-07): the code failed these before it was mended.
/// </summary>
public class MutationFindingTests
{

    /// <summary>
    /// One number, one arrival: 157753180800.5 is above the documented threshold (157,753,180,800), so it is
    /// milliseconds (157,753,180,801 rounded), however it is spelled. The fast parser compares only the integer part
    /// with the threshold and takes the short spelling as seconds (157,753,180,800,500 ms), while the decimal path takes
    /// the spelling with four fraction digits as milliseconds.
    /// </summary>
    [Theory]
    [InlineData("157753180800.5")]
    [InlineData("157753180800.5000")]
    [InlineData("1.577531808005E11")]
    public void ArrivalJustAboveTheThreshold_IsMilliseconds_InEverySpelling(string number) =>
        Assert.Equal(157_753_180_801L, MutationGapTests.ReadArrival(number));

    /// <summary>
    /// ProcessorOptions.MaxStateBytes may be set up to 1,000,000, "Lambda's 1 MB cap on a window's state", and the
    /// processor never counts on what Lambda does with a state past the cap. Found by this review: the bound counted our
    /// entry's base64 and the other entries, not the object's braces nor our entry's name and quotes, so at the largest
    /// bound a kept state was 1,000,024 bytes in the response. Now a state object of exactly 1,000,000 bytes is kept and
    /// one byte more is flushed.
    /// </summary>
    [Fact]
    public async Task StateKeptUnderTheLargestMaxStateBytes_FitsLambdasCap()
    {
        const int LambdaCap = 1_000_000;
        TestRecord[] records = [TestEvents.HostRecord(1, "a", 1), TestEvents.HostRecord(2, "b", 2)];

        async Task<(bool Flushed, string State)> Run(string stateJson)
        {
            using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { MaxStateBytes = LambdaCap });
            var output = new ArrayBufferWriter<byte>();
            BatchSummary summary = await processor.ProcessAsync(TestEvents.BuildWindow(records, stateJson), DateTimeOffset.UtcNow.AddSeconds(30), output);
            using JsonDocument response = JsonDocument.Parse(output.WrittenMemory);
            return (summary.Flushed, response.RootElement.GetProperty("state").GetRawText());
        }

        int alone = Encoding.UTF8.GetByteCount((await Run("{}")).State);

        // Another entry (a handler's own, passed through) that brings the whole object to the cap exactly: "o":"x...", and a comma.
        int fill = LambdaCap - alone - "\"o\":\"\",".Length;
        (bool flushed, string state) = await Run("{\"o\":\"" + new string('x', fill) + "\"}");
        Assert.False(flushed);
        Assert.Equal(LambdaCap, Encoding.UTF8.GetByteCount(state));

        Assert.True((await Run("{\"o\":\"" + new string('x', fill + 1) + "\"}")).Flushed);
    }
}
