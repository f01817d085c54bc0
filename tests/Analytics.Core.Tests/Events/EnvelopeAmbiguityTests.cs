using System.Buffers;
using System.Text;
using System.Text.Json;
using Analytics.Core.Tests.Pipeline;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Events;

/// <summary>
/// Ambiguous or inconsistent envelopes, and records out of order or repeated: the reader refuses them with a
/// <see cref="KinesisEventFormatException"/> (Lambda never sends them), so the pipeline never resolves them silently
/// and never reports a checkpoint that skips a record.
/// </summary>
public class EnvelopeAmbiguityTests
{
    private const string Kinesis = "\"partitionKey\":\"k\",\"approximateArrivalTimestamp\":1737367200";

    private static string Rec(string seq, string data = "AA==", string? eventId = null, string extraKinesis = "", string extraRecord = "") =>
        $"{{\"kinesis\":{{\"sequenceNumber\":\"{seq}\",\"data\":\"{data}\",{Kinesis}{extraKinesis}}},\"eventID\":\"{eventId ?? "shardId-1:" + seq}\"{extraRecord}}}";

    private static string Event(params string[] records) => "{\"Records\":[" + string.Join(",", records) + "]}";

    private static KinesisEventFormatException ReadAll(string json)
    {
        return Assert.Throws<KinesisEventFormatException>(() =>
        {
            var reader = new KinesisEventReader(Encoding.UTF8.GetBytes(json));
            while (reader.Read())
            {
            }
        });
    }

    public static TheoryData<string, string> Ambiguous => new()
    {
        { Event(Rec("1", extraKinesis: ",\"data\":\"AQ==\"")), "kinesis.data twice" },
        { Event(Rec("1", extraKinesis: ",\"sequenceNumber\":\"2\"")), "kinesis.sequenceNumber twice" },
        { Event(Rec("1", extraKinesis: ",\"partitionKey\":\"j\"")), "kinesis.partitionKey twice" },
        { Event(Rec("1", extraKinesis: ",\"approximateArrivalTimestamp\":1")), "kinesis.approximateArrivalTimestamp twice" },
        { Event(Rec("1", extraRecord: ",\"kinesis\":{\"sequenceNumber\":\"1\",\"data\":\"AA==\"}")), "kinesis twice" },
        // An empty second kinesis object repeats no field inside it: only the record-level check tells (a mutant of
        // that check survived the record reader's mutation run, as no case had an empty one).
        { Event(Rec("1", extraRecord: ",\"kinesis\":{}")), "kinesis twice" },
        { Event(Rec("1", extraRecord: ",\"eventID\":\"shardId-1:1\"")), "eventID twice" },
        { Event(Rec("1", eventId: "shardId-1:2")), "another sequence number" },
        { Event(Rec("1", eventId: "shardId-1")), "not <shardId>:<sequenceNumber>" },
        { Event(Rec("1", eventId: ":1")), "not <shardId>:<sequenceNumber>" },
        { Event(Rec("1"), Rec("2", eventId: "shardId-2:2")), "two shards" },
        { Event(Rec("1", extraRecord: ",\"eventSourceARN\":\"a\""), Rec("2", extraRecord: ",\"eventSourceARN\":\"b\"")), "two streams" },
        { "{\"shardId\":\"shardId-9\"," + Event(Rec("1"))[1..], "another shard than the event's shardId" },
        { Event(Rec("1"))[..^1] + ",\"shardId\":\"shardId-9\"}", "shardId is not the shard" },
        { "{\"shardId\":\"shardId-1\",\"shardId\":\"shardId-2\"," + Event(Rec("1"))[1..], "shardId twice" },
        { "{\"state\":{},\"state\":{\"a\":1}," + Event(Rec("1"))[1..], "state twice" },
        { "{\"isFinalInvokeForWindow\":true,\"isFinalInvokeForWindow\":false," + Event(Rec("1"))[1..], "isFinalInvokeForWindow twice" },
        { Event("{\"kinesis\":{\"sequenceNumber\":\"1\",\"data\":\"AA==\"," + Kinesis + "}}"), "no eventID" },
        // Complete records whose only fault is the sequence number, so the scanner's own checks decide them (the case
        // without an eventID left the scanner at once, and two of its mutants survived the record reader's run).
        { Event(Rec("01")), "not a decimal sequence number" },
        { Event(Rec("1a")), "not a decimal sequence number" },
        { Event("{\"kinesis\":{\"data\":\"AA==\"," + Kinesis + "},\"eventID\":\"shardId-1:\"}"), "no kinesis.sequenceNumber" },
        { Event(Rec("10"), Rec("5")), "out of order" },
        { Event(Rec("5"), Rec("5")), "same sequence number" },
        { Event(Rec("99"), Rec("100"), Rec("100")), "same sequence number" },
    };

    [Theory]
    [MemberData(nameof(Ambiguous))]
    public void Read_AmbiguousOrInconsistentEnvelope_Throws(string json, string expected)
    {
        KinesisEventFormatException e = ReadAll(json);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.InRange(e.BytePosition, 0, json.Length);
    }

    [Fact]
    public void Read_ConsistentEnvelope_GivesTheShardOfTheEventId()
    {
        string json = "{\"shardId\":\"shardId-1\"," + Event(Rec("9"), Rec("10"), Rec("100"))[1..];
        var reader = new KinesisEventReader(Encoding.UTF8.GetBytes(json));
        var seen = new List<string>();
        while (reader.Read())
        {
            Assert.Equal("shardId-1", reader.Current.GetShardIdString());
            seen.Add(reader.Current.GetSequenceNumberString());
        }

        Assert.Equal(["9", "10", "100"], seen);
    }

    /// <summary>Any permutation of a batch that is not in increasing order is refused; the sorted one is read whole.</summary>
    [Fact]
    public void Read_AnyOrderButIncreasing_IsRefused()
    {
        Gen<int[]> sequences = Gen.ListOf(Gen.Choose(1, 40)).Select(l => l.ToArray()).Where(a => a.Length >= 2);
        Prop.ForAll(sequences.ToArbitrary(), seqs =>
        {
            string json = Event([.. seqs.Select(s => Rec(s.ToString(System.Globalization.CultureInfo.InvariantCulture)))]);
            bool increasing = seqs.Zip(seqs.Skip(1)).All(p => p.First < p.Second);
            if (increasing)
            {
                var reader = new KinesisEventReader(Encoding.UTF8.GetBytes(json));
                int n = 0;
                while (reader.Read())
                {
                    n++;
                }

                Assert.Equal(seqs.Length, n);
            }
            else
            {
                ReadAll(json);
            }
        }).QuickCheckThrowOnFailure();
    }

    /// <summary>
    /// The issue's example: <c>[seq 10, seq 5]</c> with an early deadline reported checkpoint 10 and record 5 was
    /// never processed. Now the invocation fails as a whole (Lambda retries and bisects): nothing is written and no
    /// checkpoint skips record 5.
    /// </summary>
    [Fact]
    public async Task Process_RecordsOutOfOrder_FailsTheInvocationWithoutWritingOrCheckpointing()
    {
        var aggregates = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default);
        long arrival = 1_737_367_200_000;
        byte[] good = TestEvents.Utf8(TestEvents.Sample("m", 1, arrival - 1000));
        byte[] evt = TestEvents.Build([new TestRecord(TestEvents.Seq(10), good, arrival), new TestRecord(TestEvents.Seq(5), good, arrival)]);
        var output = new ArrayBufferWriter<byte>();

        await Assert.ThrowsAsync<KinesisEventFormatException>(async () => await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddMinutes(1), output));
        Assert.Equal(0, output.WrittenCount);
        Assert.Empty(aggregates.Seen);
        Assert.Empty(quarantine.Records);
    }

    /// <summary>The issue's example: poison data then valid data under one record used to aggregate the valid one silently.</summary>
    [Fact]
    public async Task Process_TwoDataFields_FailsTheInvocationInsteadOfAggregatingEither()
    {
        var aggregates = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default);
        string valid = Convert.ToBase64String(TestEvents.Utf8(TestEvents.Sample("m", 1, 1_737_367_199_000)));
        string json = Event(Rec("1", data: "QUJD", extraKinesis: ",\"data\":\"" + valid + "\""));

        await Assert.ThrowsAsync<KinesisEventFormatException>(async () => await processor.ProcessAsync(Encoding.UTF8.GetBytes(json), DateTimeOffset.UtcNow.AddMinutes(1), new ArrayBufferWriter<byte>()));
        Assert.Empty(aggregates.Seen);
        using JsonDocument wellFormed = JsonDocument.Parse(json); // the event itself is valid JSON: only its meaning is ambiguous
        Assert.Equal(2, wellFormed.RootElement.GetProperty("Records")[0].GetProperty("kinesis").EnumerateObject().Count(p => p.Name == "data"));
    }
}
