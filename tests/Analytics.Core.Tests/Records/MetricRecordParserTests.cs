using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Records;

public class MetricRecordParserTests
{
    private static (List<(byte[] Key, double Value, long Ts)> Samples, PoisonReason Reason, string Detail) Parse(byte[] data, MetricSchema? schema = null, long arrival = TestEvents.Arrival)
    {
        byte[] scratch = new byte[MetricRecordParser.ScratchSize];
        var parser = new MetricRecordParser(data, scratch, schema ?? MetricSchema.Default, arrival);
        var samples = new List<(byte[], double, long)>();
        while (parser.TryReadSample(out MetricSample s))
        {
            samples.Add((s.Key.Encoded.ToArray(), s.Value, s.TimestampMs));
        }

        return (samples, parser.Reason, parser.GetDetail());
    }

    /// <summary>
    /// The scratch buffer must hold <see cref="MetricRecordParser.ScratchSize"/> bytes (a smaller one is refused, one of
    /// that size or larger taken) and the schema must be given (the mutation run found neither check tested).
    /// </summary>
    [Fact]
    public void Constructor_RefusesASmallScratchBufferAndANullSchema_AndTakesOneOfTheSizeOrLarger()
    {
        byte[] data = TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000));
        ArgumentException small = Assert.Throws<ArgumentException>(() =>
        {
            var parser = new MetricRecordParser(data, new byte[MetricRecordParser.ScratchSize - 1], MetricSchema.Default, TestEvents.Arrival);
        });
        Assert.Equal("scratch", small.ParamName);
        Assert.Contains("ScratchSize", small.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() =>
        {
            var parser = new MetricRecordParser(data, new byte[MetricRecordParser.ScratchSize], null!, TestEvents.Arrival);
        });
        foreach (int size in (int[])[MetricRecordParser.ScratchSize, MetricRecordParser.ScratchSize + 1])
        {
            var parser = new MetricRecordParser(data, new byte[size], MetricSchema.Default, TestEvents.Arrival);
            Assert.True(parser.TryReadSample(out MetricSample sample), parser.GetDetail());
            Assert.Equal(1, sample.Value);
        }
    }

    [Fact]
    public void TryReadSample_GeneratedValidRecords_ParseBackToTheGeneratedSamples()
    {
        Prop.ForAll(SampleGenerators.Record.ToArbitrary(), record =>
        {
            var (samples, error, detail) = Parse(record.Data);
            Assert.True(error == PoisonReason.None, $"{error}: {detail}");
            Assert.Equal(record.Samples.Length, samples.Count);
            for (int i = 0; i < samples.Count; i++)
            {
                ExpectedSample e = record.Samples[i];
                Assert.Equal(e.Key, samples[i].Key);
                Assert.Equal(BitConverter.DoubleToInt64Bits(e.Value), BitConverter.DoubleToInt64Bits(samples[i].Value));
                Assert.Equal(e.TimestampMs, samples[i].Ts);
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void TryReadSample_EscapedAndUnescapedNames_GiveTheSameKey()
    {
        byte[] a = TestEvents.Utf8("""{"metric":"caf\u00e9","value":1,"timestamp":1737367200000,"dimensions":{"r\u00e9gion":"eu","az":"a"}}""");
        byte[] b = TestEvents.Utf8("""{"metric":"café","value":1,"timestamp":1737367200000,"dimensions":{"az":"a","région":"eu"}}""");
        Assert.Equal(Parse(a).Samples.Single().Key, Parse(b).Samples.Single().Key);
        Assert.Equal(SeriesKey.Encode("café", [new("région", "eu"), new("az", "a")]), Parse(a).Samples.Single().Key);
    }

    [Fact]
    public void TryReadSample_MissingAndEmptyDimensions_AreTheSameKey()
    {
        byte[] a = TestEvents.Utf8("""{"metric":"m","value":1,"timestamp":1737367200000}""");
        byte[] b = TestEvents.Utf8("""{"metric":"m","value":1,"timestamp":1737367200000,"dimensions":{}}""");
        Assert.Equal(Parse(a).Samples.Single().Key, Parse(b).Samples.Single().Key);
    }

    [Fact]
    public void TryReadSample_CustomFieldNames_MapAnotherSchema()
    {
        var schema = new MetricSchema(MetricParserOptions.Default with { MetricField = "name", ValueField = "v", TimestampField = "t", DimensionsField = "tags" });
        byte[] data = TestEvents.Utf8("""{"name":"cpu","v":0.5,"t":1737367200000,"tags":{"host":"a"},"metric":"ignored"}""");
        var (samples, error, _) = Parse(data, schema);
        Assert.Equal(PoisonReason.None, error);
        Assert.Equal(SeriesKey.Encode("cpu", [new("host", "a")]), samples.Single().Key);
    }

    [Fact]
    public void TryReadSample_ArbitraryBytes_NeverThrowAndEndValidOrWithAReason()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), bytes =>
        {
            var (samples, error, detail) = Parse(bytes);
            return error == PoisonReason.None ? samples.Count > 0 : detail.Length > 0;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void TryReadSample_MutatedValidRecords_NeverThrowAndEndValidOrWithAReason()
    {
        Gen<(GeneratedRecord, int, byte)> mutated =
            from r in SampleGenerators.Record
            from pos in Gen.Choose(0, r.Data.Length - 1)
            from b in ArbMap.Default.GeneratorFor<byte>()
            select (r, pos, b);
        Prop.ForAll(mutated.ToArbitrary(), m =>
        {
            byte[] data = (byte[])m.Item1.Data.Clone();
            data[m.Item2] = m.Item3;
            var (samples, error, _) = Parse(data);
            return error != PoisonReason.None || samples.Count > 0;
        }).QuickCheckThrowOnFailure();
    }

    public static TheoryData<string, PoisonReason> PoisonCases() => new()
    {
        { "   \n\r\n ", PoisonReason.EmptyData },
        { "", PoisonReason.EmptyData },
        { """{"metric":"m","value":1,"timestamp":1737367200000""", PoisonReason.InvalidJson },
        { """{"metric":"m","value":1,"timestamp":1737367200000} x""", PoisonReason.InvalidJson },
        { """{"metric":"m","value":1,"timestamp":1737367200000}{"metric":"m","value":1,"timestamp":1737367200000}""", PoisonReason.InvalidJson },
        { """[{"metric":"m","value":1,"timestamp":1737367200000}]""", PoisonReason.InvalidJson },
        { "42", PoisonReason.InvalidJson },
        { """{"metric":"m","value":NaN,"timestamp":1737367200000}""", PoisonReason.InvalidJson },
        { """{"value":1,"timestamp":1737367200000}""", PoisonReason.MissingField },
        { """{"metric":"m","timestamp":1737367200000}""", PoisonReason.MissingField },
        { """{"metric":"m","value":1}""", PoisonReason.MissingField },
        { """{"metric":"m","metric":"n","value":1,"timestamp":1737367200000}""", PoisonReason.DuplicateField },
        { """{"metric":"m","value":1,"val\u0075e":2,"timestamp":1737367200000}""", PoisonReason.DuplicateField },
        { """{"metric":"m","value":1,"timestamp":1737367200000,"dimensions":{"a":"1","a":"2"}}""", PoisonReason.DuplicateField },
        { """{"metric":"m","value":1,"timestamp":1737367200000,"dimensions":{"a":"1","\u0061":"2"}}""", PoisonReason.DuplicateField },
        { """{"metric":"m","value":"1","timestamp":1737367200000}""", PoisonReason.WrongType },
        { """{"metric":"m","value":null,"timestamp":1737367200000}""", PoisonReason.WrongType },
        { """{"metric":1,"value":1,"timestamp":1737367200000}""", PoisonReason.WrongType },
        { """{"metric":"m","value":1,"timestamp":true}""", PoisonReason.WrongType },
        { """{"metric":"m","value":1,"timestamp":1737367200000,"dimensions":{"a":1}}""", PoisonReason.WrongType },
        { """{"metric":"m","value":1,"timestamp":1737367200000,"dimensions":null}""", PoisonReason.WrongType },
        { """{"metric":"m","value":1,"timestamp":1737367200000,"dimensions":["a"]}""", PoisonReason.WrongType },
        { """{"metric":"m","value":1e400,"timestamp":1737367200000}""", PoisonReason.NonFiniteValue },
        { """{"metric":"m","value":-1e999,"timestamp":1737367200000}""", PoisonReason.NonFiniteValue },
        { """{"metric":"m","value":"NaN","timestamp":1737367200000}""", PoisonReason.NonFiniteValue },
        { """{"metric":"m","value":"-Infinity","timestamp":1737367200000}""", PoisonReason.NonFiniteValue },
        { """{"metric":"m","value":1,"timestamp":"2025-01-20T10:00:00"}""", PoisonReason.InvalidTimestamp },
        { """{"metric":"m","value":1,"timestamp":"yesterday"}""", PoisonReason.InvalidTimestamp },
        { """{"metric":"m","value":1,"timestamp":-5}""", PoisonReason.InvalidTimestamp },
        { """{"metric":"m","value":1,"timestamp":1e300}""", PoisonReason.InvalidTimestamp },
        { """{"metric":"","value":1,"timestamp":1737367200000}""", PoisonReason.InvalidMetricName },
        { """{"metric":"m","value":1,"timestamp":1737367500001}""", PoisonReason.TimestampInFuture },
        { """{"metric":"m","value":1,"timestamp":"2025-01-20T12:05:01+02:00"}""", PoisonReason.TimestampInFuture },
        { """{"metric":"m","value":1,"timestamp":1737280799999}""", PoisonReason.TimestampTooOld },
        { """{"metric":"\ud800","value":1,"timestamp":1737367200000}""", PoisonReason.InvalidUtf8 },
        { """{"metric":"m","value":1,"timestamp":1737367200000}""" + "\n{\"metric\":\"m\"}", PoisonReason.MissingField },
    };

    [Theory]
    [MemberData(nameof(PoisonCases))]
    public void TryReadSample_PoisonRecord_GetsItsReason(string json, PoisonReason expected)
    {
        var (_, error, detail) = Parse(TestEvents.Utf8(json));
        Assert.Equal(expected, error);
        Assert.Contains("at byte", detail, StringComparison.Ordinal);
    }

    [Fact]
    public void TryReadSample_TimestampWindowEdges_AreInclusive()
    {
        long arrival = TestEvents.Arrival;
        Assert.Equal(PoisonReason.None, Parse(TestEvents.Utf8(TestEvents.Sample("m", 1, arrival + 300_000))).Reason);
        Assert.Equal(PoisonReason.None, Parse(TestEvents.Utf8(TestEvents.Sample("m", 1, arrival - 86_400_000))).Reason);
    }

    [Fact]
    public void TryReadSample_InvalidUtf8_IsPoison()
    {
        byte[] data = TestEvents.Utf8("""{"metric":"m?","value":1,"timestamp":1737367200000}""");
        data[12] = 0xFF;
        var (_, error, detail) = Parse(data);
        Assert.Equal(PoisonReason.InvalidUtf8, error);
        Assert.Contains("at byte 12", detail, StringComparison.Ordinal);
    }

    [Fact]
    public void TryReadSample_InvalidUtf8AfterMultiByteCharacters_ReportsTheExactOffset()
    {
        // "é€😀" take 2 + 3 + 4 bytes; the stray continuation byte comes right after them.
        byte[] prefix = TestEvents.Utf8("{\"metric\":\"é€😀");
        byte[] data = [.. prefix, 0x80, .. TestEvents.Utf8("\",\"value\":1,\"timestamp\":1737367200000}")];
        var (_, error, detail) = Parse(data);
        Assert.Equal(PoisonReason.InvalidUtf8, error);
        Assert.EndsWith($"at byte {prefix.Length}", detail, StringComparison.Ordinal);
    }

    [Fact]
    public void TryReadSample_Limits_AreEnforcedOnUnescapedBytes()
    {
        string name255 = new('n', 255);
        Assert.Equal(PoisonReason.None, Parse(TestEvents.Utf8(TestEvents.Sample(name255, 1, TestEvents.Arrival))).Reason);
        Assert.Equal(PoisonReason.InvalidMetricName, Parse(TestEvents.Utf8(TestEvents.Sample(name255 + "n", 1, TestEvents.Arrival))).Reason);

        // 255 escaped characters (6 bytes each in JSON) still make a 255-byte name.
        string escaped = string.Concat(Enumerable.Repeat("\\u0061", 255));
        Assert.Equal(PoisonReason.None, Parse(TestEvents.Utf8("{\"metric\":\"" + escaped + "\",\"value\":1,\"timestamp\":1737367200000}")).Reason);

        Assert.Equal(PoisonReason.DimensionTooLong, Parse(TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival, (new string('k', 256), "v")))).Reason);
        Assert.Equal(PoisonReason.None, Parse(TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival, (new string('k', 255), new string('v', 1024))))).Reason);
        Assert.Equal(PoisonReason.DimensionTooLong, Parse(TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival, ("k", new string('v', 1025))))).Reason);

        (string, string)[] thirty = Enumerable.Range(0, 30).Select(i => ("k" + i, "v")).ToArray();
        Assert.Equal(PoisonReason.None, Parse(TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival, thirty))).Reason);
        Assert.Equal(PoisonReason.TooManyDimensions, Parse(TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival, [.. thirty, ("k30", "v")]))).Reason);
    }

    [Fact]
    public void TryReadSample_Nesting_IsLimitedByMaxDepth()
    {
        static string Nested(int depth) => new string('[', depth) + new string(']', depth);

        // The sample object is level 1, so an ignored field may nest 31 more levels under the default of 32.
        Assert.Equal(PoisonReason.None, Parse(TestEvents.Utf8("{\"metric\":\"m\",\"value\":1,\"timestamp\":1737367200000,\"x\":" + Nested(31) + "}")).Reason);
        Assert.Equal(PoisonReason.NestingTooDeep, Parse(TestEvents.Utf8("{\"metric\":\"m\",\"value\":1,\"timestamp\":1737367200000,\"x\":" + Nested(32) + "}")).Reason);
        Assert.Equal(PoisonReason.NestingTooDeep, Parse(TestEvents.Utf8("{\"x\":" + Nested(5000) + "}")).Reason);
    }

    [Fact]
    public void TryReadSample_TooLarge_IsPoison()
    {
        var schema = new MetricSchema(MetricParserOptions.Default with { MaxRecordBytes = 64 });
        byte[] data = TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival, ("host", new string('h', 64))));
        (_, PoisonReason reason, string detail) = Parse(data, schema);
        Assert.Equal(PoisonReason.TooLarge, reason);
        Assert.Equal("the record is larger than the limit at byte 64", detail);
    }

    /// <summary>
    /// A valid record's detail is empty; a poison record's reading ends for good: asked again, the parser gives no
    /// sample and keeps its reason and detail (the mutation run found neither tested).
    /// </summary>
    [Fact]
    public void GetDetail_IsEmptyForAValidRecord_AndAPoisonRecordGivesNoSampleWhenAskedAgain()
    {
        byte[] scratch = new byte[MetricRecordParser.ScratchSize];
        var valid = new MetricRecordParser(TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), scratch, MetricSchema.Default, TestEvents.Arrival);
        while (valid.TryReadSample(out _))
        {
        }

        Assert.Equal(PoisonReason.None, valid.Reason);
        Assert.Equal(string.Empty, valid.GetDetail());

        var poison = new MetricRecordParser(TestEvents.Utf8("{\"metric\":\"m\",\"value\":\"x\"}"), scratch, MetricSchema.Default, TestEvents.Arrival);
        Assert.False(poison.TryReadSample(out _));
        PoisonReason reason = poison.Reason;
        string detail = poison.GetDetail();
        Assert.NotEqual(PoisonReason.None, reason);
        Assert.False(poison.TryReadSample(out MetricSample again));
        Assert.True(again.Key.Encoded.IsEmpty && again.Value == 0, "no sample");
        Assert.Equal(reason, poison.Reason);
        Assert.Equal(detail, poison.GetDetail());
    }

    [Fact]
    public void TryReadSample_SameRecord_AlwaysGetsTheSameVerdict()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), bytes => Parse(bytes).Reason == Parse(bytes).Reason && Parse(bytes).Detail == Parse(bytes).Detail)
            .QuickCheckThrowOnFailure();
    }
}
