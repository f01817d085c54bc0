using System.Globalization;
using System.Text;
using Analytics.Core.Tests.Records;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Validation;

/// <summary>The smaller verdict problems of the hardening issue, and details that name the configured field and the real offset.</summary>
public class VerdictTests
{
    private const long Arrival = TestEvents.Arrival; // 2025-01-20T10:00:00Z

    private static RecordVerdict ValidateSingle(byte[] eventJson, RecordValidator? validator = null)
    {
        var reader = new KinesisEventReader(eventJson);
        Assert.True(reader.Read());
        return (validator ?? new RecordValidator()).Validate(reader.Current);
    }

    private static RecordVerdict Data(string json, RecordValidator? validator = null) =>
        (validator ?? new RecordValidator()).ValidateData(Encoding.UTF8.GetBytes(json), Arrival);

    // ---- TooLarge on the unescaped length ----------------------------------------------------------------

    /// <summary>Base64 written with <c>\/</c> must get the verdict of its unescaped twin, at and around the limit.</summary>
    [Theory]
    [InlineData(1024, PoisonReason.None)]
    [InlineData(1025, PoisonReason.TooLarge)]
    [InlineData(999, PoisonReason.None)]
    public void Validate_EscapedBase64_MeasuresTheUnescapedData(int size, PoisonReason expected)
    {
        var validator = new RecordValidator(MetricParserOptions.Default with { MaxRecordBytes = 1024 });
        string sample = TestEvents.Sample("m", 1, Arrival);
        string padded = sample[..^1] + ",\"pad\":\"" + new string('?', size - sample.Length - 9) + "\"}"; // "???" is "Pz8/" in base64
        byte[] data = Encoding.UTF8.GetBytes(padded);
        Assert.Equal(size, data.Length);
        string base64 = Convert.ToBase64String(data);
        Assert.Contains('/', base64);

        RecordVerdict plain = ValidateSingle(TestEvents.Single(data, Arrival), validator);
        RecordVerdict escaped = ValidateSingle(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(TestEvents.Single(data, Arrival)).Replace(base64, base64.Replace("/", "\\/", StringComparison.Ordinal), StringComparison.Ordinal)), validator);

        Assert.Equal(expected, plain.Reason);
        Assert.Equal(expected, escaped.Reason);
    }

    // ---- RFC 3339 timestamps -----------------------------------------------------------------------------

    [Theory]
    [InlineData("2025-01-20T09:59:00Z", "2025-01-20T09:59:00.000+00:00")]
    [InlineData("2025-01-20t09:59:00z", "2025-01-20T09:59:00.000+00:00")]
    [InlineData("2025-01-20T09:59:00.1234567Z", "2025-01-20T09:59:00.123+00:00")]
    [InlineData("2025-01-20T10:59:00+01:00", "2025-01-20T09:59:00.000+00:00")]
    [InlineData("2025-01-20T04:29:00-05:30", "2025-01-20T09:59:00.000+00:00")]
    [InlineData("2025-01-20T09:59Z", "2025-01-20T09:59:00.000+00:00")]
    [InlineData("2025-01-20T09:59:60Z", "2025-01-20T09:59:59.999+00:00")] // leap second: the last millisecond of its minute
    [InlineData("2025-01-20T09:59:60.5Z", "2025-01-20T09:59:59.999+00:00")]
    [InlineData("2025-01-20T09:59:00\\u002B00:00", "2025-01-20T09:59:00.000+00:00")] // escaped '+'
    [InlineData("2025-01-21T09:58:00+23:59", "2025-01-20T09:59:00.000+00:00")] // RFC 3339 offsets reach 23:59
    [InlineData("\\u0032025-01-20\\u005409:59:00\\u005a", "2025-01-20T09:59:00.000+00:00")]
    public void Parse_Rfc3339Timestamps_AreRead(string written, string expected)
    {
        string json = "{\"metric\":\"m\",\"value\":1,\"timestamp\":\"" + written + "\"}";
        byte[] scratch = new byte[MetricRecordParser.ScratchSize];
        var parser = new MetricRecordParser(Encoding.UTF8.GetBytes(json), scratch, MetricSchema.Default, Arrival);
        Assert.True(parser.TryReadSample(out MetricSample sample), parser.GetDetail());
        Assert.Equal(DateTimeOffset.Parse(expected, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds(), sample.TimestampMs);
    }

    /// <summary>
    /// Any number of fraction digits is valid, escaped or not: an escaped timestamp longer than the parser's stack buffer
    /// (64 bytes unescaped) gets its unescaped twin's verdict (found by review: it was refused as malformed).
    /// </summary>
    [Theory]
    [InlineData(3, 23)]
    [InlineData(40, 0)]
    [InlineData(43, 19)]
    [InlineData(44, 19)]
    [InlineData(80, 99)]
    [InlineData(2000, 5)]
    public void Parse_LongFraction_EscapedAnywhere_ReadsAsItsUnescapedTwin(int digits, int escapeAt)
    {
        string plain = "2025-01-20T09:59:00." + "123" + new string('7', digits - 3) + "Z";
        int at = Math.Min(escapeAt, plain.Length - 1);
        string escaped = plain[..at] + "\\u" + ((int)plain[at]).ToString("X4", CultureInfo.InvariantCulture) + plain[(at + 1)..];
        long expected = DateTimeOffset.Parse("2025-01-20T09:59:00.123Z", CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
        byte[] scratch = new byte[MetricRecordParser.ScratchSize];
        foreach (string written in new[] { plain, escaped })
        {
            string json = "{\"metric\":\"m\",\"value\":1,\"timestamp\":\"" + written + "\"}";
            var parser = new MetricRecordParser(Encoding.UTF8.GetBytes(json), scratch, MetricSchema.Default, Arrival);
            Assert.True(parser.TryReadSample(out MetricSample sample), written + ": " + parser.GetDetail());
            Assert.Equal(expected, sample.TimestampMs);
        }
    }

    /// <summary>
    /// RFC 3339 string timestamps allocate nothing: plain, escaped, and escaped past the stack buffer (the rented buffer;
    /// a mutant that allocated one per record went unnoticed before this test, found by review).
    /// </summary>
    [Theory]
    [InlineData("2025-01-20T09:59:00.123Z")]
    [InlineData("2025-01-20T09:59:00.123\\u002B00:00")]
    [InlineData("2025-01-20T09:59:00.123" + "77777777777777777777777777777777777777777777777777777777777777777777777777777777" + "\\u005A")]
    public void Parse_StringTimestamps_AllocateNothing(string written)
    {
        byte[][] records = [.. Enumerable.Range(0, 50).Select(_ => Encoding.UTF8.GetBytes("{\"metric\":\"m\",\"value\":1,\"timestamp\":\"" + written + "\"}"))];
        byte[] scratch = new byte[MetricRecordParser.ScratchSize];
        int ParseAll()
        {
            int read = 0;
            foreach (byte[] record in records)
            {
                var parser = new MetricRecordParser(record, scratch, MetricSchema.Default, Arrival);
                read += parser.TryReadSample(out MetricSample sample) && sample.TimestampMs == s_expectedMs ? 1 : 0;
            }

            return read;
        }

        Assert.Equal(50, ParseAll());
        int read = 0;
        long allocated = AllocationMeasure.Least(() => read = ParseAll());
        Assert.Equal((50, 0L), (read, allocated));
    }

    private static readonly long s_expectedMs = DateTimeOffset.Parse("2025-01-20T09:59:00.123Z", CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();

    /// <summary>Any instant near the arrival, written in any RFC 3339 way, reads back to its millisecond.</summary>
    [Fact]
    public void Parse_GeneratedRfc3339Timestamps_ReadBackToTheInstant()
    {
        Gen<(DateTimeOffset Instant, string Text)> gen =
            from ms in Gen.Choose(-86_000_000, 290_000)
            from offsetMinutes in Gen.Choose(-14 * 60, 14 * 60) // DateTimeOffset's range; RFC 3339's up to 23:59 is tested on its own
            from fraction in Gen.Choose(0, 9)
            from lowerT in Gen.Elements(true, false)
            from lowerZ in Gen.Elements(true, false)
            from useZ in Gen.Elements(true, false)
            from escapeAt in Gen.Choose(-1, 24)
            let instant = DateTimeOffset.FromUnixTimeMilliseconds(Arrival + ms)
            let offset = useZ ? TimeSpan.Zero : TimeSpan.FromMinutes(offsetMinutes)
            let local = instant.ToOffset(offset)
            let frac = fraction == 0 ? "" : "." + local.ToString("fffffff", CultureInfo.InvariantCulture)[..Math.Min(fraction, 7)].PadRight(fraction, '0')
            let zone = useZ ? (lowerZ ? "z" : "Z") : local.ToString("zzz", CultureInfo.InvariantCulture)
            let text = local.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + (lowerT ? "t" : "T") + local.ToString("HH:mm:ss", CultureInfo.InvariantCulture) + frac + zone
            let escaped = escapeAt < 0 || escapeAt >= text.Length ? text : text[..escapeAt] + "\\u" + ((int)text[escapeAt]).ToString("X4", CultureInfo.InvariantCulture) + text[(escapeAt + 1)..]
            select (fraction >= 3 ? instant : DateTimeOffset.FromUnixTimeMilliseconds(Arrival + ms - (((Arrival + ms) % 1000) % (long)Math.Pow(10, 3 - fraction))), escaped);

        byte[] scratch = new byte[MetricRecordParser.ScratchSize];
        Prop.ForAll(gen.ToArbitrary(), g =>
        {
            string json = "{\"metric\":\"m\",\"value\":1,\"timestamp\":\"" + g.Text + "\"}";
            var parser = new MetricRecordParser(Encoding.UTF8.GetBytes(json), scratch, MetricSchema.Default, Arrival);
            Assert.True(parser.TryReadSample(out MetricSample sample), g.Text + ": " + parser.GetDetail());
            Assert.Equal(g.Instant.ToUnixTimeMilliseconds(), sample.TimestampMs);
        }).QuickCheckThrowOnFailure();
    }

    [Theory]
    [InlineData("2025-01-20T09:59:00", "has no time zone")]
    [InlineData("2025-01-20T09:59:00.5", "has no time zone")]
    [InlineData("2025-01-20 09:59:00Z", "not an RFC 3339 date-time")]
    [InlineData("2025-01-20T09:59:00.Z", "not an RFC 3339 date-time")]
    [InlineData("2025-01-20T09:59:00ZZ", "not an RFC 3339 date-time")]
    [InlineData("2025-01-20T09:59:00+0100", "not an RFC 3339 date-time")]
    [InlineData("20250120T095900Z", "not an RFC 3339 date-time")]
    [InlineData("2025-02-30T09:59:00Z", "out of range")]
    [InlineData("2025-01-20T24:00:00Z", "out of range")]
    [InlineData("2025-01-20T09:59:61Z", "out of range")]
    [InlineData("2025-01-20T09:59:00+24:00", "out of range")]
    [InlineData("1969-12-31T23:59:59Z", "before 1970")]
    [InlineData("9999-12-31T23:59:59-01:00", "after 9999")]
    public void Parse_BadTimestampStrings_SayPreciselyWhatIsWrong(string written, string expected)
    {
        RecordVerdict verdict = Data("{\"metric\":\"m\",\"value\":1,\"timestamp\":\"" + written + "\"}");
        Assert.Equal(PoisonReason.InvalidTimestamp, verdict.Reason);
        Assert.Contains(expected, verdict.Detail, StringComparison.Ordinal);
        Assert.Contains("'timestamp'", verdict.Detail, StringComparison.Ordinal);
        Assert.EndsWith("at byte 36", verdict.Detail, StringComparison.Ordinal); // the string's opening quote
    }

    [Fact]
    public void Parse_EpochSeconds_IsTooOldWithAHintAboutMilliseconds()
    {
        RecordVerdict verdict = Data(TestEvents.Sample("m", 1, Arrival / 1000));
        Assert.Equal(PoisonReason.TimestampTooOld, verdict.Reason);
        Assert.Contains("epoch seconds", verdict.Detail, StringComparison.Ordinal);

        RecordVerdict old = Data(TestEvents.Sample("m", 1, Arrival - (2 * 86_400_000L)));
        Assert.Equal(PoisonReason.TimestampTooOld, old.Reason);
        Assert.DoesNotContain("epoch seconds", old.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EpochMicroseconds_IsInvalidWithAHintAboutMilliseconds()
    {
        RecordVerdict verdict = Data("{\"metric\":\"m\",\"value\":1,\"timestamp\":" + (Arrival * 1000).ToString(CultureInfo.InvariantCulture) + "}");
        Assert.Equal(PoisonReason.InvalidTimestamp, verdict.Reason);
        Assert.Contains("microseconds", verdict.Detail, StringComparison.Ordinal);
    }

    // ---- KPL magic, names ------------------------------------------------------------------------------------

    [Theory]
    [InlineData(4)]
    [InlineData(10)]
    [InlineData(19)]
    public void Validate_OnlyTheKplMagic_IsAggregateMalformedNotInvalidUtf8(int length)
    {
        byte[] data = new byte[length];
        KplTestEncoder.Magic.CopyTo(data, 0);
        RecordVerdict verdict = ValidateSingle(TestEvents.Single(data, Arrival));
        Assert.Equal(PoisonReason.AggregateMalformed, verdict.Reason);
        Assert.Contains("too short", verdict.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\\u0001", PoisonReason.InvalidMetricName)]
    [InlineData(" \\t\\u007f\\u0085\\u00a0", PoisonReason.InvalidMetricName)]
    [InlineData("\\u2028", PoisonReason.InvalidMetricName)]
    [InlineData("a\\u0001", PoisonReason.None)]
    [InlineData(" x ", PoisonReason.None)]
    [InlineData("\\u00e9", PoisonReason.None)]
    public void Parse_MetricNameOfOnlyControlsOrSpaces_IsInvalid(string metric, PoisonReason expected)
    {
        RecordVerdict verdict = Data("{\"metric\":\"" + metric + "\",\"value\":1,\"timestamp\":" + Arrival.ToString(CultureInfo.InvariantCulture) + "}");
        Assert.Equal(expected, verdict.Reason);
    }

    [Fact]
    public void Parse_EmptyDimensionKey_IsInvalidDimensionKey()
    {
        RecordVerdict verdict = Data(TestEvents.Sample("m", 1, Arrival, ("a", "1"), ("", "2")));
        Assert.Equal(PoisonReason.InvalidDimensionKey, verdict.Reason);
        Assert.Contains("is empty", verdict.Detail, StringComparison.Ordinal);
        Assert.True(Data(TestEvents.Sample("m", 1, Arrival, ("a", ""))).IsValid); // an empty value is a value
    }

    // ---- details name the configured field and the real offset ---------------------------------------------

    private static readonly RecordValidator s_custom = new(MetricParserOptions.Default with
    {
        MetricField = "name",
        ValueField = "val",
        TimestampField = "ts",
        DimensionsField = "tags",
    });

    [Theory]
    [InlineData("{\"name\":\"cpu\",\"val\":1,\"ts\":1737367200000,\"tags\":1}", PoisonReason.WrongType, "'tags' are not an object", 48)]
    [InlineData("{\"name\":\"cpu\",\"val\":1,\"tags\":{}}", PoisonReason.MissingField, "no timestamp 'ts'", 31)]
    [InlineData("{\"val\":1,\"ts\":1737367200000}", PoisonReason.MissingField, "no metric name 'name'", 27)]
    [InlineData("{\"name\":\"cpu\",\"ts\":1737367200000 }", PoisonReason.MissingField, "no value 'val'", 33)]
    [InlineData("{\"name\":\"cpu\",\"val\":1,\"ts\":1737280000000}", PoisonReason.TimestampTooOld, "'ts' lies more than 24 h before", 27)]
    [InlineData("{\"name\":\"cpu\",\"val\":1,\"ts\":1737367500001}", PoisonReason.TimestampInFuture, "'ts' lies more than 5 min after", 27)]
    [InlineData("{\"name\":\"cpu\",\"val\":\"1\",\"ts\":1737367200000}", PoisonReason.WrongType, "value 'val' is not a JSON number", 20)]
    [InlineData("{\"name\":1,\"val\":1,\"ts\":1737367200000}", PoisonReason.WrongType, "metric name 'name' is not a string", 8)]
    [InlineData("{\"name\":\"a\",\"val\":1,\"ts\":1737367200000,\"ts\":1}", PoisonReason.DuplicateField, "names the timestamp 'ts' twice", 39)]
    [InlineData("{\"name\":\"a\",\"val\":1,\"ts\":1737367200000,\"tags\":{\"k\":\"v\",\"k\":\"w\"}}", PoisonReason.DuplicateField, "key of the dimensions 'tags' repeats", 55)]
    [InlineData("{\"name\":\"a\",\"val\":1,\"ts\":1737367200000}\n{\"name\":\"a\",\"val\":1}", PoisonReason.MissingField, "no timestamp 'ts'", 59)]
    public void Validate_CustomSchema_DetailNamesTheFieldAndTheRealOffset(string json, PoisonReason reason, string expected, int offset)
    {
        RecordVerdict verdict = Data(json, s_custom);
        Assert.Equal(reason, verdict.Reason);
        Assert.Contains(expected, verdict.Detail, StringComparison.Ordinal);
        Assert.EndsWith("at byte " + offset.ToString(CultureInfo.InvariantCulture), verdict.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"metric\":\"m\",\"value\":tru}", "invalid JSON syntax", 25)] // where the literal broke
    [InlineData("{\"metric\":\"m\",\n\"value\":1,\n\"x\":[1,}", "invalid JSON syntax", 33)] // line 3, not line 1
    [InlineData("{\"metric\":\"m\",\"value\":1", "the JSON ends before the sample object is complete", 23)]
    public void Validate_InvalidJson_GivesOurWordsAndTheOffsetOfTheError(string json, string expected, int offset)
    {
        RecordVerdict verdict = Data(json);
        Assert.Equal(PoisonReason.InvalidJson, verdict.Reason);
        Assert.Equal(expected + " at byte " + offset.ToString(CultureInfo.InvariantCulture), verdict.Detail);
    }
}
