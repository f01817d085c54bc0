using System.Buffers;
using System.Text;
using Analytics.Core.Tests.Pipeline;
using Analytics.Core.Tests.Records;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Validation;

/// <summary>
/// No byte of a record's data reaches a log line or a poison detail: records carry a random marker in every place a
/// hostile producer can put text (invalid literals, strings, numbers, partition keys, KPL user records), and the
/// marker must not appear in any poison line, invocation line, detail or envelope error message.
/// </summary>
public class NoPayloadInLogsTests
{
    /// <summary>A marker of 8 to 40 characters that none of the library's own words contain.</summary>
    private static readonly Gen<string> s_marker =
        Gen.Choose(8, 40).SelectMany(n => Gen.ArrayOf(Gen.Elements("QXJWZKqxjwzk".ToCharArray()), n)).Select(c => "Qq" + new string(c));

    /// <summary>Poison payloads holding the marker; each names where the marker sits.</summary>
    private static byte[][] PoisonPayloads(string m) =>
    [
        U($"{{\"metric\":\"cpu\",\"value\":1,\"timestamp\":{TestEvents.Arrival},\"x\":tru{m}}}"),
        U($"{{\"metric\":\"cpu\",\"value\":{m},\"timestamp\":{TestEvents.Arrival}}}"),
        U($"{{\"metric\":\"cpu\",\"value\":1,\"timestamp\":{TestEvents.Arrival}}}{m}"),
        U($"{{\"metric\":\"cpu\",\"value\":1,\"timestamp\":{TestEvents.Arrival}}}\n{m}"),
        U($"{m}{{\"metric\":\"cpu\"}}"),
        U($"{{\"metric\":\"cpu\",\"value\":1,\"timestamp\":{TestEvents.Arrival},\"{m}\" {m}}}"),
        U($"{{\"metric\":\"cpu\",\"value\":1,\"timestamp\":{TestEvents.Arrival},\"x\":\"{m}\\q\"}}"),
        U($"{{\"metric\":\"cpu\",\"value\":1,\"timestamp\":{TestEvents.Arrival},\"x\":[{m}, nul]}}"),
        U($"{{\"metric\":\"cpu\",\"value\":1,\"timestamp\":\"{m}\"}}"),
        U($"{{\"metric\":\"cpu\",\"value\":\"{m}\",\"timestamp\":{TestEvents.Arrival}}}"),
        U($"{{\"metric\":\"{string.Concat(Enumerable.Repeat(m, 300 / m.Length + 1))}\",\"value\":1,\"timestamp\":{TestEvents.Arrival}}}"),
        U($"{{\"metric\":\"cpu\",\"value\":1,\"timestamp\":{TestEvents.Arrival},\"dimensions\":{{\"{m}\":1}}}}"),
        U($"{{\"metric\":\"cpu\",\"value\":1,\"timestamp\":{TestEvents.Arrival},\"dimensions\":{{\"k\":\"{m}\",\"k\":\"{m}\"}}}}"),
        [.. U($"{{\"metric\":\"{m}"), 0xC3, .. U($"{m}\",\"value\":1,\"timestamp\":{TestEvents.Arrival}}}")],
        [.. KplTestEncoder.Magic, .. U(m)],
        KplTestEncoder.Aggregate([new KplTestUserRecord(m, null, U($"{{\"metric\":{m}}}"), [])]),
        U(new string(' ', 3) + $"{{\"{m}\":{{\"{m}\":[{m}"),
        U($"{{\"metric\":\"cpu\",\"value\":1e{m.Length}99999,\"timestamp\":{TestEvents.Arrival}}}"),
    ];

    /// <summary>The index of the KPL container in <see cref="PoisonPayloads"/>: its poison user record is quarantined alone.</summary>
    private const int KplContainerIndex = 15;

    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    private static void AssertClean(string text, string marker, string where)
    {
        Assert.False(text.Contains(marker, StringComparison.OrdinalIgnoreCase), $"{where} holds payload: {text}");
        Assert.False(text.Contains(marker[2..10], StringComparison.OrdinalIgnoreCase), $"{where} holds part of the payload: {text}");
    }

    [Fact]
    public void Pipeline_PoisonWithMarker_NoLogLineOrDetailHoldsIt()
    {
        Prop.ForAll(s_marker.ToArbitrary(), marker =>
        {
            byte[][] payloads = PoisonPayloads(marker);
            var log = new ArrayBufferWriter<byte>();
            var details = new List<string>();
            var options = ProcessorOptions.Default with
            {
                OnPoison = r =>
                {
                    details.Add(r.Detail);
                    JsonLog.WritePoison(r, new JsonLogOptions { MinimumLevel = JsonLogLevel.Debug }, log);
                },
            };
            var quarantine = new RecordingQuarantineSink();
            using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, options);
            byte[] evt = TestEvents.Build(payloads.Select((p, i) => new TestRecord(TestEvents.Seq(i + 1), p, TestEvents.Arrival, PartitionKey: marker)));
            BatchSummary summary = processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddMinutes(1), new ArrayBufferWriter<byte>()).GetAwaiter().GetResult();
            JsonLog.WriteInvocation(summary, new JsonLogOptions { MinimumLevel = JsonLogLevel.Debug }, log);

            Assert.Equal(payloads.Length, summary.PoisonRecords);
            Assert.Equal(payloads.Length, details.Count);
            AssertClean(Encoding.UTF8.GetString(log.WrittenSpan), marker, "the log");
            foreach (string detail in details)
            {
                AssertClean(detail, marker, "a detail");
                Assert.InRange(Encoding.UTF8.GetByteCount(detail), 1, PoisonDetailLimit);
            }

            // The quarantine keeps the payload (of a KPL container's poison user record: that user record's data).
            payloads[KplContainerIndex] = U($"{{\"metric\":{marker}}}");
            Assert.Equal(payloads.Select(Convert.ToBase64String), quarantine.Records.Select(r => r.Data));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Validator_PoisonWithMarker_DetailIsOurOwnWords()
    {
        var validator = new RecordValidator();
        Prop.ForAll(s_marker.ToArbitrary(), marker =>
        {
            foreach (byte[] payload in PoisonPayloads(marker))
            {
                RecordVerdict verdict = validator.ValidateData(payload, TestEvents.Arrival);
                Assert.False(verdict.IsValid);
                AssertClean(verdict.Detail, marker, "a validator detail");
                Assert.InRange(Encoding.UTF8.GetByteCount(verdict.Detail), 1, PoisonDetailLimit);
            }
        }).QuickCheckThrowOnFailure();
    }

    /// <summary>Generated garbage around a marker, mutated at random positions: never a marker byte in the detail.</summary>
    [Fact]
    public void Validator_MutatedSamplesWithMarker_NeverQuoteThePayload()
    {
        Gen<(string Marker, byte[] Data)> gen =
            from marker in s_marker
            from cut in Gen.Choose(0, 60)
            from junk in Gen.Elements("tru", "nul", "fals", "-", "0x", "\"\\u12", "}", "]", ",", ":", "\u0001", "'")
            let sample = TestEvents.Sample("cpu", 1, TestEvents.Arrival)
            let at = Math.Min(cut, sample.Length)
            select (marker, U(sample[..at] + junk + marker + sample[at..]));

        var validator = new RecordValidator();
        Prop.ForAll(gen.ToArbitrary(), p =>
        {
            RecordVerdict verdict = validator.ValidateData(p.Data, TestEvents.Arrival);
            if (!verdict.IsValid)
            {
                AssertClean(verdict.Detail, p.Marker, "a validator detail");
                Assert.InRange(Encoding.UTF8.GetByteCount(verdict.Detail), 1, PoisonDetailLimit);
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Reader_BrokenEnvelopeWithMarker_MessageHoldsNoneOfIt()
    {
        Prop.ForAll(s_marker.ToArbitrary(), marker =>
        {
            string[] envelopes =
            [
                $"{{\"Records\":[{{\"kinesis\":{{\"data\":tru{marker}}}}}]}}",
                $"{{\"Records\":[{{\"kinesis\":{{\"data\":\"{marker}\",\"sequenceNumber\":{marker}}}}}]}}",
                $"{{\"Records\":[{{\"kinesis\":{{\"partitionKey\":\"{marker}\\x\"}}}}]}}",
                $"{{\"Records\":[]}}{marker}",
                $"{marker}",
            ];
            foreach (string json in envelopes)
            {
                var e = Assert.Throws<KinesisEventFormatException>(() =>
                {
                    var reader = new KinesisEventReader(Encoding.UTF8.GetBytes(json));
                    while (reader.Read())
                    {
                    }
                });
                AssertClean(e.Message, marker, "an envelope error");
            }
        }).QuickCheckThrowOnFailure();
    }

    private const int PoisonDetailLimit = 256;

    [Fact]
    public void JsonLog_LongDetail_IsCutTo256Bytes()
    {
        var record = new QuarantinedRecord
        {
            ShardId = "s",
            SequenceNumber = "1",
            PartitionKey = "k",
            Reason = PoisonReason.InvalidJson,
            Detail = new string('é', 1000),
            Data = "AA==",
        };
        var log = new ArrayBufferWriter<byte>();
        Assert.True(JsonLog.WritePoison(record, new JsonLogOptions { MinimumLevel = JsonLogLevel.Debug }, log));
        using var line = System.Text.Json.JsonDocument.Parse(log.WrittenMemory);
        string detail = line.RootElement.GetProperty("detail").GetString()!;
        Assert.InRange(Encoding.UTF8.GetByteCount(detail), 1, PoisonDetailLimit);
        Assert.StartsWith("éé", detail, StringComparison.Ordinal);
    }
}
