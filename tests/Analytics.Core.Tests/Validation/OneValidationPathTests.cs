using System.Buffers;
using System.Text;
using System.Text.Json;
using Analytics.Core.Tests.Pipeline;
using Analytics.Core.Tests.Records;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Validation;

/// <summary>Every public way to validate a record gives the pipeline's verdict (plain records and KPL containers alike).</summary>
public class OneValidationPathTests
{
    private static readonly Gen<byte[]> s_poisonData = Gen.Elements(
        "{not json",
        "{\"metric\":\"m\",\"value\":\"1\",\"timestamp\":1737367200000}",
        "{\"metric\":\"m\",\"value\":1}",
        "{\"metric\":\"m\",\"value\":1,\"timestamp\":\"2025-01-20T10:00:00\"}",
        "{\"metric\":\"\\u0001\",\"value\":1,\"timestamp\":1737367200000}",
        "{\"metric\":\"m\",\"value\":1,\"timestamp\":1737367200,\"dimensions\":{\"\":\"v\"}}",
        "   ",
        "[1]").Select(Encoding.UTF8.GetBytes);

    private static readonly Gen<byte[]> s_userData = Gen.OneOf(SampleGenerators.Record.Select(r => r.Data), s_poisonData);

    /// <summary>Plain valid or poison records, random bytes, and KPL containers of valid and poison user records.</summary>
    private static readonly Gen<byte[]> s_recordData = Gen.OneOf(
        SampleGenerators.Record.Select(r => r.Data),
        s_poisonData,
        ArbMap.Default.GeneratorFor<byte[]>(),
        Gen.Choose(1, 4).SelectMany(n => Gen.ArrayOf(s_userData, n))
            .Select(users => KplTestEncoder.Aggregate([.. users.Select((d, i) => new KplTestUserRecord("pk" + i, null, d, []))])),
        Gen.Choose(4, 19).Select(n => (byte[])[.. KplTestEncoder.Magic, .. new byte[n - 4]]));

    [Fact]
    public void Validate_AnyRecord_GivesThePipelinesVerdict()
    {
        Prop.ForAll(Gen.ArrayOf(s_recordData, 6).ToArbitrary(), datas =>
        {
            var quarantine = new RecordingQuarantineSink();
            using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default);
            byte[] evt = TestEvents.Build(datas.Select((d, i) => new TestRecord(TestEvents.Seq(i + 1), d, TestEvents.Arrival)));
            processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddMinutes(1), new ArrayBufferWriter<byte>()).GetAwaiter().GetResult();

            var validator = new RecordValidator();
            var reader = new KinesisEventReader(evt);
            int i = 0;
            while (reader.Read())
            {
                RecordVerdict verdict = validator.Validate(reader.Current);
                RecordVerdict fromData = validator.ValidateData(datas[i], TestEvents.Arrival);
                QuarantinedRecord[] poison = [.. quarantine.Records.Where(r => r.SequenceNumber == TestEvents.Seq(i + 1))];
                Assert.Equal(poison.Length == 0, verdict.IsValid);
                Assert.Equal(verdict.Reason, fromData.Reason);
                if (poison.Length > 0)
                {
                    Assert.Equal(poison[0].Reason, verdict.Reason);
                    if (poison[0].PoisonSubSequenceNumbers is { Count: > 1 } subs)
                    {
                        // A container's poison user records make one entry that names the first one's verdict.
                        string prefix = $"user record {subs[0]}: ";
                        Assert.StartsWith(prefix, verdict.Detail, StringComparison.Ordinal);
                        string expected = PoisonDetail.Bound($"{subs.Count} user records of the container are poison; the first, {subs[0]}: {verdict.Detail[prefix.Length..]}");
                        Assert.Equal(expected, poison[0].Detail);
                    }
                    else
                    {
                        Assert.Equal(poison[0].SubSequenceNumber is int sub ? $"user record {sub}: {poison[0].Detail}" : poison[0].Detail, verdict.Detail);
                    }
                }

                i++;
            }
        }).QuickCheckThrowOnFailure();
    }

    /// <summary>The README's lower-layer loop used to call a valid KPL container InvalidUtf8.</summary>
    [Fact]
    public void Validate_ValidKplContainer_IsValidWithAllItsSamples()
    {
        byte[] a = TestEvents.Utf8(TestEvents.Sample("a", 1, TestEvents.Arrival));
        byte[] b = TestEvents.Utf8(TestEvents.Sample("b", 2, TestEvents.Arrival) + "\n" + TestEvents.Sample("c", 3, TestEvents.Arrival));
        byte[] container = KplTestEncoder.Aggregate([new KplTestUserRecord("p", null, a, []), new KplTestUserRecord("q", null, b, [])]);
        var reader = new KinesisEventReader(TestEvents.Single(container, TestEvents.Arrival));
        Assert.True(reader.Read());

        RecordVerdict verdict = new RecordValidator().Validate(reader.Current);

        Assert.True(verdict.IsValid, verdict.Detail);
        Assert.Equal(3, verdict.SampleCount);
    }

    [Fact]
    public async Task Quarantine_PartitionKeyNotUtf8_KeepsItsBytesInBase64()
    {
        // A container whose only user record has the partition key FF FE 41 (not UTF-8) and poison data.
        var message = new List<byte>();
        KplTestEncoder.WriteBytesField(message, 1, [0xFF, 0xFE, 0x41]);
        var user = new List<byte>();
        KplTestEncoder.WriteVarintField(user, 1, 0);
        KplTestEncoder.WriteBytesField(user, 3, "{bad"u8);
        KplTestEncoder.WriteBytesField(message, 3, [.. user]);
        byte[] container = KplTestEncoder.Wrap([.. message]);
        byte[] plain = "{bad"u8.ToArray();

        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default);
        byte[] evt = TestEvents.Build([new TestRecord(TestEvents.Seq(1), container, TestEvents.Arrival), new TestRecord(TestEvents.Seq(2), plain, TestEvents.Arrival, PartitionKey: "caf\u00e9")]);
        await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddMinutes(1), new ArrayBufferWriter<byte>());

        Assert.Equal(2, quarantine.Records.Count);
        Assert.Equal(Convert.ToBase64String([0xFF, 0xFE, 0x41]), quarantine.Records[0].PartitionKeyBase64);
        Assert.Equal("\uFFFD\uFFFDA", quarantine.Records[0].PartitionKey);
        Assert.Null(quarantine.Records[1].PartitionKeyBase64);
        Assert.Equal("café", quarantine.Records[1].PartitionKey);

        // The file sink keeps it too.
        string path = Path.Combine(Path.GetTempPath(), "pk-" + Guid.NewGuid().ToString("N") + ".jsonl");
        try
        {
            await new JsonLinesQuarantineSink(path).WriteAsync(quarantine.Records, CancellationToken.None);
            string[] lines = await File.ReadAllLinesAsync(path);
            using JsonDocument first = JsonDocument.Parse(lines[0]);
            Assert.Equal([0xFF, 0xFE, 0x41], Convert.FromBase64String(first.RootElement.GetProperty("partitionKeyBase64").GetString()!));
            using JsonDocument second = JsonDocument.Parse(lines[1]);
            Assert.False(second.RootElement.TryGetProperty("partitionKeyBase64", out _));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
