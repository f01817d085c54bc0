using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests.Transport;

/// <summary>
/// A KPL poison detail quotes no value the producer chose (found by review): an out-of-range key index (64 bits) and an
/// unknown field's number (29 bits) were printed in decimal, so a producer could put eight bytes of text per record into
/// the quarantine entry and the consumer's poison log line. The details now say where and what, not the value.
/// </summary>
public class KplDetailPayloadTests
{
    /// <summary>
    /// docs/validation.md, Details: a detail "is built only from the library's own words, the configured field names
    /// and numbers: never a byte of the record", and README: poison lines carry no payload. A KPL user record's
    /// partition_key_index is 8 bytes of the record chosen by the producer; when it is out of range the detail (and so
    /// the quarantine entry and the poison log line) prints it in decimal, i.e. quotes 8 payload bytes verbatim.
    /// </summary>
    [Fact]
    public async Task KplDetail_DoesNotQuotePayloadBytes_AsAnOutOfRangeKeyIndex()
    {
        ulong secret = BitConverter.ToUInt64("ZQXMARK!"u8); // 8 bytes the producer wants in the consumer's logs
        var record = new List<byte>();
        KplTestEncoder.WriteVarintField(record, 1, secret); // partition_key_index
        KplTestEncoder.WriteBytesField(record, 3, Encoding.UTF8.GetBytes("{\"metric\":\"m\",\"value\":1,\"timestamp\":1737367199000}"));
        var message = new List<byte>();
        KplTestEncoder.WriteBytesField(message, 1, "k"u8);
        KplTestEncoder.WriteBytesField(message, 3, [.. record]);
        byte[] blob = KplTestEncoder.Wrap([.. message]);

        var logged = new List<string>();
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, ProcessorOptions.Default with
        {
            OnPoison = r => logged.Add(r.Detail),
        });
        byte[] evt = TestEvents.Build([new TestRecord(TestEvents.Seq(1), blob, TestEvents.Arrival)]);
        await TestEvents.RunAsync(processor, evt);

        QuarantinedRecord q = Assert.Single(quarantine.Records);
        Assert.Equal(PoisonReason.AggregateMalformed, q.Reason);
        string quoted = secret.ToString(CultureInfo.InvariantCulture);
        Assert.DoesNotContain(quoted, q.Detail);
        Assert.Contains("the partition_key_index of user record 0 at byte ", q.Detail, StringComparison.Ordinal);
        Assert.Contains("is outside the partition_key_table of 1 entries", q.Detail, StringComparison.Ordinal);
        Assert.Equal(q.Detail, Assert.Single(logged)); // the poison log line's detail is the same
    }

    /// <summary>The same leak through an unknown field's number: 29 bits of the record, printed in decimal.</summary>
    [Fact]
    public void KplDetail_DoesNotQuotePayloadBytes_AsAnUnknownFieldNumber()
    {
        uint secret = BitConverter.ToUInt32("ZQX\u0001"u8) & 0x1FFFFFFF; // 29 bits the producer chooses
        var message = new List<byte>();
        KplTestEncoder.WriteTag(message, (int)secret, 7); // wire type 7: invalid, so the field is reported
        byte[] blob = KplTestEncoder.Wrap([.. message]);

        RecordVerdict verdict = new RecordValidator(MetricParserOptions.Default).ValidateData(blob, TestEvents.Arrival);

        Assert.Equal(PoisonReason.AggregateMalformed, verdict.Reason);
        Assert.DoesNotContain(secret.ToString(CultureInfo.InvariantCulture), verdict.Detail);
        Assert.Contains("an unknown field (wire type 7)", verdict.Detail, StringComparison.Ordinal);
    }
}
