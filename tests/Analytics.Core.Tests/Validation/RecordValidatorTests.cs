using System.Text;
using Analytics.Core.Tests.Records;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Validation;

public class RecordValidatorTests
{
    private static RecordVerdict ValidateSingle(byte[] eventJson, RecordValidator? validator = null)
    {
        var reader = new KinesisEventReader(eventJson);
        Assert.True(reader.Read());
        return (validator ?? new RecordValidator()).Validate(reader.Current);
    }

    [Theory]
    [InlineData("@@@@")]
    [InlineData("SGVsbG8")]
    [InlineData("SGVsbG8=x")]
    public void Validate_InvalidBase64_IsPoison(string rawBase64)
    {
        RecordVerdict verdict = ValidateSingle(TestEvents.Single([], TestEvents.Arrival, rawBase64));
        Assert.Equal(PoisonReason.InvalidBase64, verdict.Reason);
        Assert.NotEmpty(verdict.Detail);
    }

    [Fact]
    public void Validate_EmptyData_IsPoison() =>
        Assert.Equal(PoisonReason.EmptyData, ValidateSingle(TestEvents.Single([], TestEvents.Arrival)).Reason);

    [Theory]
    [InlineData(1024, PoisonReason.None)]
    [InlineData(1025, PoisonReason.TooLarge)]
    [InlineData(100_000, PoisonReason.TooLarge)]
    public void Validate_SizeLimit_AppliesToDecodedBytes(int size, PoisonReason expected)
    {
        var validator = new RecordValidator(MetricParserOptions.Default with { MaxRecordBytes = 1024 });
        string sample = TestEvents.Sample("m", 1, TestEvents.Arrival);
        string padded = sample[..^1] + ",\"pad\":\"" + new string('x', size - sample.Length - 9) + "\"}";
        Assert.Equal(size, Encoding.UTF8.GetByteCount(padded));
        Assert.Equal(expected, ValidateSingle(TestEvents.Single(Encoding.UTF8.GetBytes(padded), TestEvents.Arrival), validator).Reason);
    }

    [Fact]
    public void Validate_UsesTheRecordsArrivalAsTimeReference()
    {
        long ts = TestEvents.Arrival;
        byte[] data = TestEvents.Utf8(TestEvents.Sample("m", 1, ts));
        Assert.True(ValidateSingle(TestEvents.Single(data, ts)).IsValid);
        Assert.Equal(PoisonReason.TimestampInFuture, ValidateSingle(TestEvents.Single(data, ts - 300_001)).Reason);
        Assert.Equal(PoisonReason.TimestampTooOld, ValidateSingle(TestEvents.Single(data, ts + 86_400_001)).Reason);
    }

    /// <summary>Seeded poison fuzz: every poison class generated from a valid sample gets its own reason.</summary>
    [Fact]
    public void Validate_EveryPoisonClass_GetsItsReason()
    {
        Gen<(PoisonReason Expected, byte[] Data, string? RawBase64)> poison =
            from sample in SampleGenerators.Sample
            from kind in Gen.Choose(0, 15)
            let ok = TestEvents.Sample(sample.Metric, sample.Value, sample.TimestampMs)
            let body = ok.Substring(1, ok.Length - 2)
            select kind switch
            {
                0 => (PoisonReason.InvalidBase64, Array.Empty<byte>(), (string?)"not base64!"),
                1 => (PoisonReason.EmptyData, TestEvents.Utf8(" \r\n\n "), null),
                2 => (PoisonReason.InvalidUtf8, [.. TestEvents.Utf8(ok)[..^1], 0xC3, (byte)'}'], null),
                3 => (PoisonReason.InvalidJson, TestEvents.Utf8(ok[..^1]), null),
                4 => (PoisonReason.NestingTooDeep, TestEvents.Utf8("{" + body + ",\"deep\":" + new string('[', 40) + new string(']', 40) + "}"), null),
                5 => (PoisonReason.MissingField, TestEvents.Utf8("{" + body.Replace("\"timestamp\"", "\"ts\"", StringComparison.Ordinal) + "}"), null),
                6 => (PoisonReason.DuplicateField, TestEvents.Utf8("{" + body + ",\"value\":1}"), null),
                7 => (PoisonReason.WrongType, TestEvents.Utf8("{" + body + ",\"dimensions\":{\"k\":true}}"), null),
                8 => (PoisonReason.NonFiniteValue, TestEvents.Utf8(TestEvents.Sample(sample.Metric, 1, sample.TimestampMs).Replace("\"value\":1", "\"value\":1e309", StringComparison.Ordinal)), null),
                9 => (PoisonReason.InvalidTimestamp, TestEvents.Utf8(TestEvents.Sample(sample.Metric, 1, 0).Replace("\"timestamp\":0", "\"timestamp\":\"2025-01-20 10:00\"", StringComparison.Ordinal)), null),
                10 => (PoisonReason.InvalidMetricName, TestEvents.Utf8(TestEvents.Sample(new string('m', 256), 1, sample.TimestampMs)), null),
                11 => (PoisonReason.DimensionTooLong, TestEvents.Utf8(TestEvents.Sample(sample.Metric, 1, sample.TimestampMs, ("k", new string('v', 1025)))), null),
                12 => (PoisonReason.TooManyDimensions, TestEvents.Utf8(TestEvents.Sample(sample.Metric, 1, sample.TimestampMs, Enumerable.Range(0, 31).Select(i => ("k" + i, "v")).ToArray())), null),
                13 => (PoisonReason.TimestampInFuture, TestEvents.Utf8(TestEvents.Sample(sample.Metric, 1, TestEvents.Arrival + 300_001)), null),
                14 => (PoisonReason.TimestampTooOld, TestEvents.Utf8(TestEvents.Sample(sample.Metric, 1, TestEvents.Arrival - 86_400_001)), null),
                _ => (PoisonReason.TooLarge, TestEvents.Utf8("{" + body + ",\"ignored\":\"" + new string('x', 2000) + "\"}"), null),
            };

        var validator = new RecordValidator(MetricParserOptions.Default with { MaxRecordBytes = 2000 });
        Prop.ForAll(poison.ToArbitrary(), p =>
        {
            RecordVerdict verdict = ValidateSingle(TestEvents.Single(p.Data, TestEvents.Arrival, p.RawBase64), validator);
            Assert.Equal(p.Expected, verdict.Reason);
            Assert.False(string.IsNullOrEmpty(verdict.Detail));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Validate_ArbitraryData_NeverThrows()
    {
        var validator = new RecordValidator();
        Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), ArbMap.Default.ArbFor<string>(), (bytes, raw) =>
        {
            RecordVerdict a = ValidateSingle(TestEvents.Single(bytes, TestEvents.Arrival), validator);
            RecordVerdict b = ValidateSingle(TestEvents.Single([], TestEvents.Arrival, raw ?? ""), validator);
            return (a.IsValid ? a.SampleCount > 0 : a.Detail.Length > 0) && (b.IsValid ? b.SampleCount > 0 : b.Detail.Length > 0) &&
                Encoding.UTF8.GetByteCount(a.Detail) <= 256 && Encoding.UTF8.GetByteCount(b.Detail) <= 256;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Validate_ValidNdjsonRecord_CountsItsSamples()
    {
        string data = TestEvents.Sample("a", 1, TestEvents.Arrival) + "\r\n\r\n" + TestEvents.Sample("b", 2, TestEvents.Arrival) + "\n";
        RecordVerdict verdict = ValidateSingle(TestEvents.Single(Encoding.UTF8.GetBytes(data), TestEvents.Arrival));
        Assert.True(verdict.IsValid);
        Assert.Equal(2, verdict.SampleCount);
    }

    [Fact]
    public void Constructor_DefaultOptions_AreTheDefaultSchema()
    {
        Assert.Equal(MetricParserOptions.Default, new RecordValidator().Options);
        var custom = MetricParserOptions.Default with { MetricField = "name" };
        Assert.Equal(custom, new RecordValidator(custom).Options);
    }

    [Theory]
    [InlineData("", "value")]
    [InlineData("value", "value")]
    public void Constructor_EmptyOrRepeatedFieldName_ThrowsArgumentExceptionNamingOptions(string metricField, string valueField)
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() =>
            new RecordValidator(MetricParserOptions.Default with { MetricField = metricField, ValueField = valueField }));
        Assert.Equal("options", e.ParamName);
    }

    [Fact]
    public void Constructor_LimitOutOfRange_ThrowsArgumentOutOfRange() =>
        Assert.Equal("options", Assert.Throws<ArgumentOutOfRangeException>(() => new RecordValidator(MetricParserOptions.Default with { MaxDepth = 1 })).ParamName);

    [Fact]
    public void DefaultVerdict_IsValidWithAnEmptyDetail()
    {
        RecordVerdict verdict = default;
        Assert.True(verdict.IsValid);
        Assert.Equal(PoisonReason.None, verdict.Reason);
        Assert.Equal(string.Empty, verdict.Detail);
    }

    [Fact]
    public void Validate_CustomFieldNames_ReadTheConfiguredFields()
    {
        var validator = new RecordValidator(MetricParserOptions.Default with { MetricField = "name", ValueField = "val", TimestampField = "ts", DimensionsField = "tags" });
        string custom = "{\"name\":\"cpu\",\"val\":1,\"ts\":" + TestEvents.Arrival + ",\"tags\":{\"az\":\"b\"}}";
        string standard = "{\"metric\":\"cpu\",\"value\":1,\"timestamp\":" + TestEvents.Arrival + "}";

        Assert.Equal(new RecordValidator().ValidateData(Encoding.UTF8.GetBytes(standard), TestEvents.Arrival), validator.ValidateData(Encoding.UTF8.GetBytes(custom), TestEvents.Arrival));
        RecordVerdict missing = validator.ValidateData(Encoding.UTF8.GetBytes(standard), TestEvents.Arrival);
        Assert.Equal(PoisonReason.MissingField, missing.Reason);
        Assert.Contains("'name'", missing.Detail, StringComparison.Ordinal);
    }
}
