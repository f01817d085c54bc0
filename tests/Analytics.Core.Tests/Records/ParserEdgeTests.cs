using System.Text;

namespace Analytics.Core.Tests.Records;

/// <summary>
/// The parser's details at their edges: mutation testing of the parsers (tests/mutation, the <c>parsers</c> target) found
/// these cases pinned by no test. Each comment names the mutant it kills.
/// </summary>
public class ParserDetailEdgeTests
{
    private const long Arrival = TestEvents.Arrival; // 1_737_367_200_000

    private static (int Samples, PoisonReason Reason, string Detail) Parse(string json, long arrival = Arrival)
    {
        byte[] data = Encoding.UTF8.GetBytes(json);
        byte[] scratch = new byte[MetricRecordParser.ScratchSize];
        var parser = new MetricRecordParser(data, scratch, MetricSchema.Default, arrival);
        int n = 0;
        while (parser.TryReadSample(out _))
        {
            n++;
        }

        return (n, parser.Reason, parser.GetDetail());
    }

    // P2 (MetricRecordParser.cs:231 ValueTwice -> MetricTwice) survived.
    [Theory]
    [InlineData("""{"metric":"m","value":1,"value":2,"timestamp":1737367200000}""", "the sample names the value 'value' twice at byte 24")]
    [InlineData("""{"metric":"m","metric":"n","value":1,"timestamp":1737367200000}""", "the sample names the metric name 'metric' twice at byte 14")]
    [InlineData("""{"metric":"m","value":1,"timestamp":1737367200000,"timestamp":1}""", "the sample names the timestamp 'timestamp' twice at byte 50")]
    [InlineData("""{"metric":"m","value":1,"timestamp":1737367200000,"dimensions":{},"dimensions":{}}""", "the sample names the dimensions 'dimensions' twice at byte 66")]
    public void DuplicateField_DetailNamesTheFieldAndItsOffset(string json, string detail)
    {
        var r = Parse(json);
        Assert.Equal(PoisonReason.DuplicateField, r.Reason);
        Assert.Equal(detail, r.Detail);
    }

    // P4 (MetricRecordParser.cs:259 drop "|| metricLength == 0") survived: "" was then called "only white space".
    [Fact]
    public void EmptyMetric_IsCalledEmpty_NotInvisible()
    {
        var r = Parse("""{"metric":"","value":1,"timestamp":1737367200000}""");
        Assert.Equal(PoisonReason.InvalidMetricName, r.Reason);
        Assert.StartsWith("the metric name 'metric' is empty", r.Detail, StringComparison.Ordinal);
    }

    // P10/P11 (MetricRecordParser.cs:330 "<=" -> "<", ">=" -> ">") survived: the epoch-seconds hint at its bounds.
    [Theory]
    [InlineData(Arrival - (24 * 3600 * 1000))] // seconds*1000 exactly arrival - MaxAge
    [InlineData(Arrival + (5 * 60 * 1000))]    // seconds*1000 exactly arrival + MaxFutureSkew
    public void EpochSecondsHint_HoldsAtTheWindowBounds(long secondsTimesThousand)
    {
        long seconds = secondsTimesThousand / 1000;
        var r = Parse("{\"metric\":\"m\",\"value\":1,\"timestamp\":" + seconds + "}");
        Assert.Equal(PoisonReason.TimestampTooOld, r.Reason);
        Assert.Contains("it looks like epoch seconds", r.Detail, StringComparison.Ordinal);
    }
}

/// <summary>The envelope scanner's syntax checks inside unknown values (mutation testing: these mutants survived).</summary>
public class ScannerUnknownValueSyntaxTests
{
    private static byte[] EventWithUnknown(string unknownValue) => Encoding.UTF8.GetBytes(
        "{\"Records\":[{\"kinesis\":{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":\"pk\",\"sequenceNumber\":\"1\"," +
        "\"data\":\"eA==\",\"approximateArrivalTimestamp\":1545084650.987},\"x\":" + unknownValue + "," +
        "\"eventID\":\"shardId-000000000001:1\",\"eventSourceARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/s\"}]}");

    private static int ReadAll(byte[] bytes)
    {
        var reader = new KinesisEventReader(bytes);
        int n = 0;
        while (reader.Read())
        {
            n++;
        }

        return n;
    }

    [Theory]
    [InlineData("{\"a\"=1}")]           // T1: KinesisEventReader.cs:662, the colon after a nested name not checked
    [InlineData("{\"a\"x\"b\"}")]       // T1 again, a string value
    [InlineData("[1;2]")]               // T2: KinesisEventReader.cs:710, the comma between array elements not checked
    [InlineData("[\"a\" \"b\"]")]       // T2 again
    [InlineData("{\"a\":1 \"b\":2}")]   // T5: KinesisEventReader.cs:673, the comma between nested members not required
    [InlineData("{\"a\":tru}")]         // literals
    [InlineData("[01]")]                // numbers with a leading zero
    public void MalformedUnknownValue_IsNotAKinesisEvent(string unknownValue)
    {
        Assert.Throws<KinesisEventFormatException>(() => ReadAll(EventWithUnknown(unknownValue)));
    }

    [Fact]
    public void UnknownValueOfSeventyNestedObjects_IsNotAKinesisEvent() // T6: KinesisEventReader.cs:668 "depth + 1" -> "depth"
    {
        string deep = string.Concat(Enumerable.Repeat("{\"a\":", 70)) + "1" + new string('}', 70);
        Assert.Throws<KinesisEventFormatException>(() => ReadAll(EventWithUnknown(deep)));
    }

    [Fact]
    public void AnEscapedEventId_IsNotAKinesisEvent() // E6: KinesisEventReader.cs:459 "|| escaped" dropped
    {
        // JsonKinesisEventReader refuses it ("a record's eventID holds JSON escapes"); the mutant scanner took the raw bytes.
        byte[] bytes = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(EventWithUnknown("null"))
            .Replace("\"eventID\":\"shardId-", "\"eventID\":\"shardId\\u002d", StringComparison.Ordinal));
        Assert.Throws<KinesisEventFormatException>(() => ReadAll(bytes));
    }

    [Fact]
    public void WellFormedUnknownValue_IsScanned()
    {
        Assert.Equal(1, ReadAll(EventWithUnknown("{\"a\":[1,{\"b\":\"c\"}],\"d\":null}")));
    }
}

/// <summary>Timestamp boundaries no test pinned (mutation testing of MetricRecordParser.cs's timestamp reading).</summary>
public class TimestampBoundaryTests
{
    private static (PoisonReason Reason, string Detail) Parse(string timestamp)
    {
        byte[] data = Encoding.UTF8.GetBytes("{\"metric\":\"m\",\"value\":1,\"timestamp\":" + timestamp + "}");
        byte[] scratch = new byte[MetricRecordParser.ScratchSize];
        var parser = new MetricRecordParser(data, scratch, MetricSchema.Default, TestEvents.Arrival);
        while (parser.TryReadSample(out _))
        {
        }

        return (parser.Reason, parser.GetDetail());
    }

    [Theory]
    [InlineData("0", PoisonReason.TimestampTooOld)]                        // :366 ">= 0" -> "> 0"
    [InlineData("253402300799999", PoisonReason.TimestampInFuture)]        // :366 "<= Max" -> "< Max"
    [InlineData("-0.0", PoisonReason.TimestampTooOld)]                     // :380/:384 (no test reached the negative-zero path)
    [InlineData("-5e-1", PoisonReason.InvalidTimestamp)]                   // :432 "||" -> "&&" (floor of -0.5 taken as -3)
    [InlineData("-5e-2", PoisonReason.InvalidTimestamp)]                   // :432 again (floor of -0.05 taken as 0)
    [InlineData("-1.5", PoisonReason.InvalidTimestamp)]                    // :380 ">= 0" -> "< 0"
    [InlineData("9223372036854775808.5", PoisonReason.InvalidTimestamp)]   // :473 "Max - digit" -> "Max + digit" (wraps to long.MinValue)
    [InlineData("\"1970-01-01T00:00:00Z\"", PoisonReason.TimestampTooOld)] // :406 "< 0" -> "<= 0"
    [InlineData("\"9999-12-31T23:59:59.999Z\"", PoisonReason.TimestampInFuture)] // :407 "> Max" -> ">= Max"
    public void TimestampAtABoundary_HasTheRightReason(string timestamp, PoisonReason reason)
    {
        Assert.Equal(reason, Parse(timestamp).Reason);
    }

    [Fact]
    public void NegativeTimestamp_IsNotCalledMicroseconds() // :388 conditional -> true
    {
        var (reason, detail) = Parse("-1");
        Assert.Equal(PoisonReason.InvalidTimestamp, reason);
        Assert.DoesNotContain("microseconds", detail, StringComparison.Ordinal);
    }

    /// <summary>
    /// The hint that a number looks like epoch microseconds or nanoseconds holds exactly when the value, read as either,
    /// falls in the accepted window (the arrival less <c>MaxAge</c>, 24 h, to the arrival plus <c>MaxFutureSkew</c>, 5 min):
    /// eleven wording mutants of that window survived without these.
    /// </summary>
    [Theory]
    [InlineData(1000, 0, true)]
    [InlineData(1000, -86_400_000, true)]
    [InlineData(1000, -86_400_001, false)]
    [InlineData(1000, 300_000, true)]
    [InlineData(1000, 300_001, false)]
    [InlineData(1_000_000, 0, true)]
    [InlineData(1_000_000, -86_400_000, true)]
    [InlineData(1_000_000, -86_401_000, false)]
    [InlineData(1_000_000, 300_000, true)]
    [InlineData(1_000_000, 301_000, false)]
    public void FinerUnitsHint_HoldsExactlyInsideTheWindow(long unitsPerMs, long offsetMs, bool hinted)
    {
        long value = (TestEvents.Arrival + offsetMs) * unitsPerMs;
        var (reason, detail) = Parse(value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(PoisonReason.InvalidTimestamp, reason);
        Assert.Equal(hinted, detail.Contains("looks like epoch microseconds or nanoseconds", StringComparison.Ordinal));
    }

    /// <summary>A number past year 9999 that is neither microseconds nor nanoseconds of the window gets no hint.</summary>
    [Fact]
    public void ANumberInNeitherUnit_HasNoHint()
    {
        var (reason, detail) = Parse("5000000000000000");
        Assert.Equal(PoisonReason.InvalidTimestamp, reason);
        Assert.DoesNotContain("looks like", detail, StringComparison.Ordinal);
    }

    [Fact]
    public void FloorFromDigits_AtLongMaxValue()
    {
        Assert.True(MetricRecordParser.TryFloorNonNegative("9223372036854775807"u8, out long max) && max == long.MaxValue); // :473 ">" -> ">="
        Assert.False(MetricRecordParser.TryFloorNonNegative("9223372036854775808"u8, out _));                              // :473 "-" -> "+"
        Assert.False(MetricRecordParser.TryFloorNonNegative("-5e-1"u8, out _));                                            // :432
    }
}

/// <summary>Where the base64 stops (mutation testing: RecordDecoder.cs's offsets in the detail were never checked).</summary>
public class Base64DetailOffsetTests
{
    private static RecordVerdict ValidateSingle(byte[] eventJson)
    {
        var reader = new KinesisEventReader(eventJson);
        Assert.True(reader.Read());
        return new RecordValidator().Validate(reader.Current);
    }

    [Fact]
    public void InvalidBase64_DetailSaysWhereItStops()
    {
        RecordVerdict plain = ValidateSingle(TestEvents.Single([], TestEvents.Arrival, "eHh4eHh4@@@@"));
        Assert.Equal(PoisonReason.InvalidBase64, plain.Reason);
        Assert.Contains("from character 8 on", plain.Detail, StringComparison.Ordinal);   // :106 failedAt = consumed

        RecordVerdict escaped = ValidateSingle(TestEvents.Single([], TestEvents.Arrival, "eHh4eHh4\\/@@@"));
        Assert.Equal(PoisonReason.InvalidBase64, escaped.Reason);
        Assert.Contains("from character 8 on", escaped.Detail, StringComparison.Ordinal); // :97 failedAt = written / 3 * 4
    }
}

/// <summary>The tokenizer past 64 levels, escaped overlong dimensions and long field names (mutation testing).</summary>
public class TokenizerLimitTests
{
    private static PoisonReason Reason(string json, MetricSchema schema)
    {
        byte[] data = Encoding.UTF8.GetBytes(json);
        byte[] scratch = new byte[MetricRecordParser.ScratchSize];
        var parser = new MetricRecordParser(data, scratch, schema, TestEvents.Arrival);
        while (parser.TryReadSample(out _))
        {
        }

        return parser.Reason;
    }

    [Fact]
    public void AnArrayAtLevel64UnderAnObjectRoot_IsReadAsAnArray() // :170 "level < 64" -> "level <= 64"
    {
        var schema = new MetricSchema(MetricParserOptions.Default with { MaxDepth = 400 });
        string x = string.Concat(Enumerable.Repeat("{\"k\":", 63)) + "[1,2]" + new string('}', 63);
        Assert.Equal(PoisonReason.None, Reason("{\"metric\":\"m\",\"x\":" + x + ",\"value\":1,\"timestamp\":1737367200000}", schema));
    }

    [Fact]
    public void EscapedOverlongDimensionKeyOrValue_IsTooLong() // :512 "Math.Min(limit, destination.Length)" -> "destination.Length"
    {
        string key = "\\u0061" + new string('a', 300);
        string value = "\\u0061" + new string('a', 1100);
        Assert.Equal(PoisonReason.DimensionTooLong, Reason("{\"metric\":\"m\",\"value\":1,\"timestamp\":1737367200000,\"dimensions\":{\"" + key + "\":\"v\"}}", MetricSchema.Default));
        Assert.Equal(PoisonReason.DimensionTooLong, Reason("{\"metric\":\"m\",\"value\":1,\"timestamp\":1737367200000,\"dimensions\":{\"k\":\"" + value + "\"}}", MetricSchema.Default));
    }

    [Fact]
    public void AnEscapedNameAgainstA256ByteFieldName_IsNoException() // :491 "< StackLimit" -> "<= StackLimit"
    {
        string field = new('m', 256);
        var schema = new MetricSchema(MetricParserOptions.Default with { MetricField = field });
        string escaped = "\\u006d" + new string('m', 255);
        Assert.Equal(PoisonReason.None, Reason("{\"" + escaped + "\":\"cpu\",\"value\":1,\"timestamp\":1737367200000}", schema));
    }
}
