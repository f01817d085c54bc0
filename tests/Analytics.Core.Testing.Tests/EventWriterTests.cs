using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The emulator writes event bytes without a JSON writer, for speed; they must be the bytes a
/// <see cref="Utf8JsonWriter"/> with the relaxed encoder writes (the emulator's earlier code, kept here as the oracle).
/// </summary>
public class EventWriterTests
{
    private static readonly JsonWriterOptions s_options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    [Property(MaxTest = 300)]
    public Property Event_IsTheBytesAUtf8JsonWriterWrites(NonEmptyString[] keys, byte[][] data, long arrival, NonEmptyString functionName, NonEmptyString region, PositiveInt shardIndex)
    {
        string[] usable = keys.Select(k => k.Get).Where(IsWellFormed).ToArray();
        if (usable.Length == 0 || data.Length == 0 || !IsWellFormed(functionName.Get) || !IsWellFormed(region.Get))
        {
            return true.ToProperty();
        }

        long arrivalMs = arrival % 10_000_000_000_000L; // both signs: before 1970 too
        string roleArn = $"arn:aws:iam::123456789012:role/{functionName.Get}-role";
        string streamArn = $"arn:aws:kinesis:{region.Get}:123456789012:stream/s";
        var shard = new ShardState { Index = shardIndex.Get % 1000, Id = $"shardId-{shardIndex.Get % 1000:D12}", Seconds = [] };
        var writer = new EventWriter(streamArn, region.Get, roleArn);
        var records = new List<SimRecord>();
        for (int i = 0; i < data.Length; i++)
        {
            string key = usable[i % usable.Length];
            var record = new SimRecord
            {
                Shard = shard,
                SequenceNumber = $"4960{shard.Index:D12}{Math.Max(0, arrivalMs + i):D20}{i + 1:D20}",
                PartitionKey = key,
                EscapedKey = EventWriter.EscapedKey(key),
                Data = data[i] ?? [],
                ArrivalMs = arrivalMs + (i * 7),
            };
            record.JsonLength = writer.RecordLength(record);
            records.Add(record);
        }

        byte[] expected = OracleEvent(records, streamArn, region.Get, roleArn);
        byte[] actual = writer.Event(records, null, new Batch { Records = records }, shard.Id);
        bool lengths = records.All(r => r.JsonLength == OracleRecord(r, streamArn, region.Get, roleArn).Length);
        return (lengths && expected.AsSpan().SequenceEqual(actual))
            .Label($"expected {Encoding.UTF8.GetString(expected)}\nactual   {Encoding.UTF8.GetString(actual)}");
    }

    /// <summary>
    /// A record made by the stream keeps only its counter and writes its sequence number when asked: the digits must be
    /// those of the format the emulator always had, in the event and as a string.
    /// </summary>
    [Property(MaxTest = 300)]
    public Property SequenceNumber_FromTheCounter_IsTheFormatKinesisLikeNumbersHave(NonNegativeInt shardIndex, long arrival, NonNegativeInt counter, bool bigCounter)
    {
        var shard = new ShardState { Index = shardIndex.Get, Id = $"shardId-{shardIndex.Get:D12}", Seconds = [] };
        long count = bigCounter ? long.MaxValue - counter.Get : counter.Get;
        string expected = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"4960{shardIndex.Get:D12}{Math.Max(0, arrival):D20}{count:D20}");
        var record = new SimRecord { Shard = shard, Counter = count, PartitionKey = "k", EscapedKey = "k"u8.ToArray(), Data = [1], ArrivalMs = arrival };
        var explicitRecord = new SimRecord { Shard = shard, SequenceNumber = expected, PartitionKey = "k", EscapedKey = "k"u8.ToArray(), Data = [1], ArrivalMs = arrival };
        var writer = new EventWriter("arn:aws:kinesis:eu-west-1:1:stream/s", "eu-west-1", "arn:aws:iam::1:role/r");
        byte[] digits = new byte[SimRecord.SequenceNumberLength];
        int written = record.WriteSequenceNumber(digits);
        string formatted = record.FormatSequenceNumber();
        return (written == expected.Length
                && Encoding.ASCII.GetString(digits) == expected
                && formatted == expected
                && record.SequenceNumber == expected
                && writer.RecordLength(record) == writer.RecordLength(explicitRecord)
                && writer.RecordJson(record).AsSpan().SequenceEqual(writer.RecordJson(explicitRecord)))
            .Label($"expected {expected}, wrote {Encoding.ASCII.GetString(digits)}, formatted {formatted}");
    }

    [Fact]
    public void Event_EscapesKeysAsTheWriterDoes_AndWritesArrivalBefore1970()
    {
        // Characters the relaxed encoder still escapes (quote, backslash, controls, U+2028) and one it does not (é).
        var shard = new ShardState { Index = 3, Id = "shardId-000000000003", Seconds = [] };
        var writer = new EventWriter("arn:aws:kinesis:eu-west-1:1:stream/s", "eu-west-1", "arn:aws:iam::1:role/f\"n-role");
        string key = "k\"\\\u0001\u2028é<>&";
        var record = new SimRecord
        {
            Shard = shard,
            SequenceNumber = "1",
            PartitionKey = key,
            EscapedKey = EventWriter.EscapedKey(key),
            Data = [0xFB, 0xFF],
            ArrivalMs = -1,
        };
        record.JsonLength = writer.RecordLength(record);

        byte[] json = writer.RecordJson(record);

        Assert.Equal(OracleRecord(record, "arn:aws:kinesis:eu-west-1:1:stream/s", "eu-west-1", "arn:aws:iam::1:role/f\"n-role"), json);
        using JsonDocument parsed = JsonDocument.Parse(json);
        Assert.Equal(key, parsed.RootElement.GetProperty("kinesis").GetProperty("partitionKey").GetString());
        Assert.Equal("-1.999", parsed.RootElement.GetProperty("kinesis").GetProperty("approximateArrivalTimestamp").GetRawText());
        Assert.Equal(new byte[] { 0xFB, 0xFF }, parsed.RootElement.GetProperty("kinesis").GetProperty("data").GetBytesFromBase64());
    }

    private static bool IsWellFormed(string s) => Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(s)) == s;

    private static byte[] OracleEvent(List<SimRecord> records, string streamArn, string region, string roleArn)
    {
        var bytes = new List<byte>("{\"Records\":["u8.ToArray());
        for (int i = 0; i < records.Count; i++)
        {
            if (i > 0)
            {
                bytes.Add((byte)',');
            }

            bytes.AddRange(OracleRecord(records[i], streamArn, region, roleArn));
        }

        bytes.AddRange("]}"u8.ToArray());
        return [.. bytes];
    }

    private static byte[] OracleRecord(SimRecord record, string streamArn, string region, string roleArn)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, s_options))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("kinesis");
            writer.WriteString("kinesisSchemaVersion", "1.0");
            writer.WriteString("partitionKey", record.PartitionKey);
            writer.WriteString("sequenceNumber", record.SequenceNumber);
            writer.WriteBase64String("data", record.Data);
            writer.WritePropertyName("approximateArrivalTimestamp");
            writer.WriteRawValue(LambdaJson.EpochSeconds(record.ArrivalMs), skipInputValidation: true);
            writer.WriteEndObject();
            writer.WriteString("eventSource", "aws:kinesis");
            writer.WriteString("eventVersion", "1.0");
            writer.WriteString("eventID", record.Shard.Id + ":" + record.SequenceNumber);
            writer.WriteString("eventName", "aws:kinesis:record");
            writer.WriteString("invokeIdentityArn", roleArn);
            writer.WriteString("awsRegion", region);
            writer.WriteString("eventSourceARN", streamArn);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
