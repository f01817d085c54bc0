using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Events;

public class KinesisEventReaderTests
{
    private static byte[] LoadTestData(string name) => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "TestData", name));

    [Fact]
    public void Read_AwsDocumentedExample_YieldsBothRecords()
    {
        byte[] json = LoadTestData("aws-kinesis-event.json");
        var reader = new KinesisEventReader(json);

        Assert.True(reader.Read());
        KinesisRecord first = reader.Current;
        Assert.Equal("49590338271490256608559692538361571095921575989136588898", first.GetSequenceNumberString());
        Assert.Equal("1", first.GetPartitionKeyString());
        Assert.Equal("shardId-000000000006", first.GetShardIdString());
        Assert.Equal(1545084650987, first.ApproximateArrivalTimestampMs);
        byte[] data = new byte[first.MaxDecodedLength];
        Assert.True(first.TryDecodeData(data, out int written));
        Assert.Equal("Hello, this is a test.", Encoding.UTF8.GetString(data, 0, written));

        Assert.True(reader.Read());
        Assert.Equal(1545084711166, reader.Current.ApproximateArrivalTimestampMs);
        Assert.False(reader.Read());
        Assert.Equal(2, reader.RecordCount);
        Assert.False(reader.HasWindow);
        Assert.Equal("arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream", Encoding.UTF8.GetString(reader.EventSourceArn));
    }

    [Fact]
    public void Read_AwsTumblingWindowExample_ReadsWindowAndNumericState()
    {
        byte[] json = LoadTestData("aws-kinesis-tumbling-window-event.json");
        var reader = new KinesisEventReader(json);
        Assert.True(reader.Read());
        Assert.Equal(1607497475000, reader.Current.ApproximateArrivalTimestampMs);
        Assert.False(reader.Read());

        Assert.True(reader.HasWindow);
        Assert.Equal(new DateTimeOffset(2020, 12, 9, 7, 4, 0, TimeSpan.Zero), reader.WindowStart);
        Assert.Equal(new DateTimeOffset(2020, 12, 9, 7, 6, 0, TimeSpan.Zero), reader.WindowEnd);
        Assert.Equal("shardId-000000000006", Encoding.UTF8.GetString(reader.ShardId));
        Assert.False(reader.IsFinalInvokeForWindow);
        Assert.False(reader.IsWindowTerminatedEarly);
        using JsonDocument state = JsonDocument.Parse(reader.State.ToArray());
        Assert.Equal(282, state.RootElement.GetProperty("1").GetInt32());
        Assert.Equal(715, state.RootElement.GetProperty("2").GetInt32());
    }

    [Theory]
    [InlineData("1545084650.987", 1545084650987)]
    [InlineData("1.607497475E9", 1607497475000)]
    [InlineData("1545084650", 1545084650000)]
    [InlineData("1545084650987", 1545084650987)] // above 157753180800: already milliseconds
    [InlineData("1545084650.9876", 1545084650988)]
    [InlineData("1545084650.9", 1545084650900)]
    [InlineData("1545084650.98", 1545084650980)]
    [InlineData("0.5", 500)]
    [InlineData("157753180800", 157753180800000)] // at the threshold: still seconds
    [InlineData("157753180801", 157753180801)]    // above it: milliseconds
    public void Read_ArrivalTimestamp_AcceptsSecondsAndMilliseconds(string number, long expectedMs)
    {
        string json = "{\"Records\":[{\"kinesis\":{\"sequenceNumber\":\"1\",\"data\":\"\",\"partitionKey\":\"k\",\"approximateArrivalTimestamp\":" + number + "},\"eventID\":\"shardId-1:1\"}]}";
        var reader = new KinesisEventReader(Encoding.UTF8.GetBytes(json));
        Assert.True(reader.Read());
        Assert.Equal(expectedMs, reader.Current.ApproximateArrivalTimestampMs);
    }

    [Fact]
    public void Read_EscapedBase64AndPartitionKey_Unescapes()
    {
        string json = """{"Records":[{"kinesis":{"sequenceNumber":"5","data":"P\/8=","partitionKey":"caf\u00e9","approximateArrivalTimestamp":1},"eventID":"shardId-1:5"}]}""";
        var reader = new KinesisEventReader(Encoding.UTF8.GetBytes(json));
        Assert.True(reader.Read());
        Assert.True(reader.Current.DataIsEscaped);
        Assert.Equal("café", reader.Current.GetPartitionKeyString());
        byte[] data = new byte[16];
        Assert.True(reader.Current.TryDecodeData(data, out int written));
        Assert.Equal(new byte[] { 0x3F, 0xFF }, data[..written]);
    }

    [Fact]
    public void Read_Bom_IsSkipped()
    {
        byte[] json = [0xEF, 0xBB, 0xBF, .. LoadTestData("aws-kinesis-event.json")];
        var reader = new KinesisEventReader(json);
        Assert.True(reader.Read());
    }

    [Theory]
    [InlineData("not json", "invalid JSON")]
    [InlineData("[1,2]", "not a JSON object")]
    [InlineData("{}", "no Records array")]
    [InlineData("{\"Records\":{}}", "Records is not an array")]
    [InlineData("{\"Records\":[1]}", "not an object")]
    [InlineData("{\"Records\":[{\"kinesis\":{\"data\":\"\",\"approximateArrivalTimestamp\":1}}]}", "no kinesis.sequenceNumber")]
    [InlineData("{\"Records\":[{\"kinesis\":{\"sequenceNumber\":\"1\",\"approximateArrivalTimestamp\":1}}]}", "no kinesis.data")]
    [InlineData("{\"Records\":[{\"kinesis\":{\"sequenceNumber\":\"01\",\"data\":\"\",\"approximateArrivalTimestamp\":1}}]}", "not a decimal sequence number")]
    [InlineData("{\"Records\":[{\"eventID\":\"x\"}]}", "no kinesis object")]
    [InlineData("{\"Records\":[]} trailing", "invalid JSON")]
    [InlineData("{\"Records\":[", "")]
    public void Read_NotAKinesisEvent_ThrowsWithReasonAndOffset(string json, string expected)
    {
        var e = Assert.Throws<KinesisEventFormatException>(() =>
        {
            var reader = new KinesisEventReader(Encoding.UTF8.GetBytes(json));
            while (reader.Read())
            {
            }
        });
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.InRange(e.BytePosition, 0, json.Length);
    }

    [Fact]
    public void Read_UnknownFieldsAnywhere_AreSkipped()
    {
        string json = """
            {"zz":{"a":[1,{"b":null}]},"Records":[{"x":[[]],"kinesis":{"q":{"r":1},"sequenceNumber":"7","data":"AA==","approximateArrivalTimestamp":2,"partitionKey":"p"},"eventID":"shardId-1:7"}],"window":null,"more":true}
            """;
        var reader = new KinesisEventReader(Encoding.UTF8.GetBytes(json));
        Assert.True(reader.Read());
        Assert.Equal("7", reader.Current.GetSequenceNumberString());
        Assert.Equal("shardId-1", reader.Current.GetShardIdString());
        Assert.False(reader.Read());
    }

    /// <summary>Differential check: the reader agrees with JsonDocument on generated events with noise fields.</summary>
    [Fact]
    public void Read_GeneratedEvents_AgreeWithJsonDocument()
    {
        Gen<(long Seq, byte[] Data, long Arrival, string Key)> record =
            from seq in Gen.Choose(0, int.MaxValue)
            from data in ArbMap.Default.GeneratorFor<byte[]>()
            from arrival in Gen.Choose(0, int.MaxValue)
            from key in ArbMap.Default.GeneratorFor<NonEmptyString>()
            select ((long)seq, data, (long)arrival * 1000, key.Get);

        Prop.ForAll(Gen.ListOf(record).ToArbitrary(), records =>
        {
            // Lambda sends a shard's records in increasing sequence-number order; the reader refuses any other.
            var ordered = records.DistinctBy(r => r.Seq).OrderBy(r => r.Seq).ToList();
            byte[] json = TestEvents.Build(ordered.Select(r => new TestRecord(r.Seq.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Data, r.Arrival, r.Key)));
            using JsonDocument doc = JsonDocument.Parse(json);
            JsonElement[] expected = [.. doc.RootElement.GetProperty("Records").EnumerateArray()];
            var reader = new KinesisEventReader(json);
            int i = 0;
            while (reader.Read())
            {
                JsonElement k = expected[i].GetProperty("kinesis");
                Assert.Equal(k.GetProperty("sequenceNumber").GetString(), reader.Current.GetSequenceNumberString());
                Assert.Equal(k.GetProperty("partitionKey").GetString(), reader.Current.GetPartitionKeyString());
                Assert.Equal(k.GetProperty("data").GetString(), reader.Current.GetBase64DataString());
                Assert.Equal((long)(k.GetProperty("approximateArrivalTimestamp").GetDecimal() * 1000), reader.Current.ApproximateArrivalTimestampMs);
                Assert.Equal(TestEvents.ShardId, reader.Current.GetShardIdString());
                i++;
            }

            Assert.Equal(expected.Length, i);
        }).QuickCheckThrowOnFailure();
    }
}
