using System.Globalization;
using System.Text;
using Analytics.Core.Tests;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The spill object's key and body (docs/failure-modes.md): what the spill sink writes, byte for byte, and what the
/// redrive reads back or refuses, with its reason. The batch behind a body is the processor's own (<see cref="SpillBatches"/>).
/// </summary>
public class SpillObjectFormatTests
{
    private static readonly AggregatorOptions s_options = AggregatorOptions.Default with { WindowSize = TimeSpan.FromMinutes(5), RelativeAccuracy = 0.02, MaxBins = 512 };

    /// <summary>The key joins the prefix without its slashes, the stream's name from the ARN (or <c>unknown</c>), the shard and the spill id.</summary>
    [Theory]
    [InlineData("spill", TestEvents.StreamArn, "spill/metrics/shardId-1/42.json")]
    [InlineData("/spill/a/", TestEvents.StreamArn, "spill/a/metrics/shardId-1/42.json")]
    [InlineData("", TestEvents.StreamArn, "metrics/shardId-1/42.json")]
    [InlineData("//", TestEvents.StreamArn, "metrics/shardId-1/42.json")]
    [InlineData("spill", null, "spill/unknown/shardId-1/42.json")]
    [InlineData("spill", "arn:aws:kinesis:us-east-1:123456789012:stream/other", "spill/other/shardId-1/42.json")]
    public void Key_JoinsTrimmedPrefixStreamShardAndSpillId(string prefix, string? arn, string expected) =>
        Assert.Equal(expected, SpillObject.Key(prefix, arn, "shardId-1", "42"));

    /// <summary>
    /// Every field of the body, in order and exactly: the header from the batch (shard, stream, spill id, the
    /// aggregator's window, accuracy and bins), then per pair its item key, readable series, flag and samples. Text is
    /// written unescaped where JSON allows (non-ASCII, <c>&lt;&amp;&gt;</c>), doubles in their shortest round-trip form.
    /// </summary>
    [Fact]
    public void Body_HoldsEveryFieldExactly()
    {
        byte[] body = SpillBatches.During([SpillBatches.Record(1, "m", 1, "a")], s_options, spill => SpillBatches.Body(spill, TwoPairs()));

        string expected =
            "{\"format\":\"analytics.core.spill/1\",\"shardId\":\"shardId-000000000007\",\"eventSourceArn\":\"arn:aws:kinesis:us-east-1:123456789012:stream/metrics\"," +
            "\"spillId\":\"" + TestEvents.Seq(1) + "\",\"windowMs\":300000,\"relativeAccuracy\":0.02,\"maxBins\":512,\"pairs\":[" +
            "{\"pk\":\"m|region=Zürich\",\"sk\":\"2025-01-01T00:00:00.000Z\",\"windowEnd\":\"2025-01-01T00:05:00.000Z\",\"metric\":\"m\"," +
            "\"dimensions\":{\"region\":\"Zürich \\\"<&>\\\"\",\"az\":\"b\"},\"outcomeUnknown\":false," +
            "\"samples\":[[\"123\",\"a\",-1.5],[\"4567\",\"k\\\"é\",0.1]]}," +
            "{\"pk\":\"n\",\"sk\":\"2025-01-01T00:05:00.000Z\",\"windowEnd\":\"2025-01-01T00:10:00.000Z\",\"metric\":\"n\",\"dimensions\":{},\"outcomeUnknown\":true," +
            "\"samples\":[[\"9\",\"b\",1E+300],[\"10\",\"c\",5E-324],[\"11\",\"d\",-123456789.125],[\"12\",\"e\",1.7976931348623157E+308]]}]}";
        Assert.Equal(expected, Encoding.UTF8.GetString(body));
    }

    /// <summary>
    /// The table the samples are for follows the spill id when the sink knows it (a redrive into another table leaves the
    /// object), and reads back; without it the field is absent and reads back as none. A null or non-string table is refused.
    /// </summary>
    [Fact]
    public void Body_NamesTheTable_WhenTheSinkKnowsIt()
    {
        byte[] body = SpillBatches.During([SpillBatches.Record(1, "m", 1, "a")], s_options, spill => SpillBatches.Body(spill, [], table: "metrics-agg"), withArn: false);
        string text = Encoding.UTF8.GetString(body);

        Assert.Equal(
            "{\"format\":\"analytics.core.spill/1\",\"shardId\":\"shardId-000000000007\",\"spillId\":\"" + TestEvents.Seq(1) + "\",\"table\":\"metrics-agg\",\"windowMs\":300000,\"relativeAccuracy\":0.02,\"maxBins\":512,\"pairs\":[]}",
            text);
        Assert.True(SpillObject.TryRead(body, out SpillObjectContent? content, out string? error), error);
        Assert.Equal("metrics-agg", content!.Table);
        Assert.False(SpillObject.TryRead(Encoding.UTF8.GetBytes(text.Replace("\"metrics-agg\"", "null", StringComparison.Ordinal)), out _, out error));
        Assert.Equal("malformed spill object: FormatException", error);
        Assert.False(SpillObject.TryRead(Encoding.UTF8.GetBytes(text.Replace("\"metrics-agg\"", "7", StringComparison.Ordinal)), out _, out error));
        Assert.Equal("malformed spill object: InvalidOperationException", error);
    }

    /// <summary>
    /// A sink with one watermark per shard is named by <c>"shardFloor":true</c> before the sketch parameters, and reads
    /// back; the default layout writes no field and reads back as false. A value that is not a boolean is refused.
    /// </summary>
    [Fact]
    public void Body_SaysTheSinkKeptOneWatermarkPerShard_OnlyWhenItDid()
    {
        byte[] body = SpillBatches.During([SpillBatches.Record(1, "m", 1, "a")], s_options, spill => SpillBatches.Body(spill, [], shardFloor: true), withArn: false);
        byte[] plain = SpillBatches.During([SpillBatches.Record(1, "m", 1, "a")], s_options, spill => SpillBatches.Body(spill, []), withArn: false);
        string text = Encoding.UTF8.GetString(body);

        Assert.Equal(
            "{\"format\":\"analytics.core.spill/1\",\"shardId\":\"shardId-000000000007\",\"spillId\":\"" + TestEvents.Seq(1) + "\",\"shardFloor\":true,\"windowMs\":300000,\"relativeAccuracy\":0.02,\"maxBins\":512,\"pairs\":[]}",
            text);
        Assert.True(SpillObject.TryRead(body, out SpillObjectContent? content, out string? error), error);
        Assert.True(content!.ShardFloor);
        Assert.DoesNotContain("shardFloor", Encoding.UTF8.GetString(plain), StringComparison.Ordinal);
        Assert.True(SpillObject.TryRead(plain, out content, out error), error);
        Assert.False(content!.ShardFloor);
        Assert.True(SpillObject.TryRead(Encoding.UTF8.GetBytes(text.Replace("\"shardFloor\":true", "\"shardFloor\":false", StringComparison.Ordinal)), out content, out error), error);
        Assert.False(content!.ShardFloor);
        Assert.False(SpillObject.TryRead(Encoding.UTF8.GetBytes(text.Replace("\"shardFloor\":true", "\"shardFloor\":\"true\"", StringComparison.Ordinal)), out _, out error));
        Assert.Equal("malformed spill object: InvalidOperationException", error);
    }

    /// <summary>A batch whose event carried no stream ARN writes no <c>eventSourceArn</c> field, and reads back without one.</summary>
    [Fact]
    public void Body_WithoutStreamArn_HasNoArnField()
    {
        byte[] body = SpillBatches.During([SpillBatches.Record(1, "m", 1, "a")], s_options, spill => SpillBatches.Body(spill, []), withArn: false);

        Assert.Equal(
            "{\"format\":\"analytics.core.spill/1\",\"shardId\":\"shardId-000000000007\",\"spillId\":\"" + TestEvents.Seq(1) + "\",\"windowMs\":300000,\"relativeAccuracy\":0.02,\"maxBins\":512,\"pairs\":[]}",
            Encoding.UTF8.GetString(body));
        Assert.True(SpillObject.TryRead(body, out SpillObjectContent? content, out string? error), error);
        Assert.Null(content!.EventSourceArn);
        Assert.Null(content.Table);
        Assert.Empty(content.Pairs);
    }

    /// <summary>The body of <see cref="Body_HoldsEveryFieldExactly"/> reads back field for field, every double bit for bit.</summary>
    [Fact]
    public void Body_ReadsBackFieldForField()
    {
        List<(PairKey Key, bool OutcomeUnknown, IReadOnlyList<SpilledSample> Samples)> pairs = TwoPairs();
        byte[] body = SpillBatches.During([SpillBatches.Record(1, "m", 1, "a")], s_options, spill => SpillBatches.Body(spill, pairs));

        Assert.True(SpillObject.TryRead(body, out SpillObjectContent? content, out string? error), error);
        Assert.Null(error);
        AssertContent(content!, TestEvents.StreamArn, TestEvents.Seq(1), s_options, pairs);
    }

    /// <summary>
    /// For any content (text with quotes, escapes, control and non-ASCII characters; any finite double; sequence numbers
    /// of 1 to 129 digits; with or without the stream ARN; any valid aggregator options), what is written reads back
    /// exactly.
    /// </summary>
    [Property(MaxTest = 60)]
    public Property WriteThenRead_GivesBackExactlyWhatWasWritten() =>
        Prop.ForAll(Arb.From(s_case), c =>
        {
            byte[] body = SpillBatches.During([SpillBatches.Record(c.First, "m", 1, "a")], c.Options, spill => SpillBatches.Body(spill, c.Pairs), c.WithArn);
            Assert.True(SpillObject.TryRead(body, out SpillObjectContent? content, out string? error), error);
            AssertContent(content!, c.WithArn ? TestEvents.StreamArn : null, TestEvents.Seq(c.First), c.Options, c.Pairs);
        });

    /// <summary>A sample's sequence number may have up to <see cref="SequenceNumber.MaxDigits"/> digits, and a partition key may be empty.</summary>
    [Fact]
    public void Read_AcceptsTheLongestSequenceNumberAndAnEmptyPartitionKey()
    {
        string longest = new('9', SequenceNumber.MaxDigits);

        Assert.True(SpillObject.TryRead(Body(samples: $"[\"{longest}\",\"\",-0.5]"), out SpillObjectContent? content, out string? error), error);

        Assert.Equal([(longest, string.Empty, -0.5)], Assert.Single(content!.Pairs).Samples);
    }

    /// <summary>The options' bounds are the aggregator's own, both ends accepted: windows of 1 s and 1 h, 16 and 65,536 bins, accuracy 0.0001 and 0.5.</summary>
    [Theory]
    [InlineData(1_000, 0.0001, 16)]
    [InlineData(3_600_000, 0.5, 65_536)]
    public void Read_AcceptsOptionsAtTheirBounds(long windowMs, double accuracy, int maxBins)
    {
        string good = Encoding.UTF8.GetString(Body());
        string body = good
            .Replace("\"windowMs\":60000", "\"windowMs\":" + windowMs.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("\"relativeAccuracy\":0.01", "\"relativeAccuracy\":" + accuracy.ToString("R", CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("\"maxBins\":2048", "\"maxBins\":" + maxBins.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);

        Assert.True(SpillObject.TryRead(Encoding.UTF8.GetBytes(body), out SpillObjectContent? content, out string? error), error);

        Assert.Equal((TimeSpan.FromMilliseconds(windowMs), accuracy, maxBins), (content!.Options.WindowSize, content.Options.RelativeAccuracy, content.Options.MaxBins));
    }

    /// <summary>
    /// A body is one object and nothing after it but whitespace: data after it (a second object, a stray byte) is not
    /// something the spill sink wrote, so the object is refused rather than applied in part.
    /// </summary>
    [Fact]
    public void Read_RefusesDataAfterTheObject()
    {
        string good = Encoding.UTF8.GetString(Body());

        Assert.True(SpillObject.TryRead(Encoding.UTF8.GetBytes(good + " \r\n"), out _, out string? error), error);
        foreach (string trailing in new[] { good, "x", "]", "0" })
        {
            Assert.False(SpillObject.TryRead(Encoding.UTF8.GetBytes(good + trailing), out SpillObjectContent? content, out error));
            Assert.Null(content);
            Assert.Equal("malformed spill object: JsonReaderException", error);
        }
    }

    /// <summary>
    /// The shard, the spill id and each pair's item key and series are strings: a null one is refused like any other
    /// malformed field, instead of being read as a null the redrive would then use as a key.
    /// </summary>
    [Theory]
    [InlineData("\"shardId\":\"shardId-000000000000\"", "\"shardId\":null")]
    [InlineData("\"spillId\":\"49590000000000000000000000000000000000000000000000000001\"", "\"spillId\":null")]
    [InlineData("\"pk\":\"m|region=r\"", "\"pk\":null")]
    [InlineData("\"sk\":\"2025-01-01T00:00:00.000Z\"", "\"sk\":null")]
    [InlineData("\"windowEnd\":\"2025-01-01T00:01:00.000Z\"", "\"windowEnd\":null")]
    [InlineData("\"metric\":\"m\"", "\"metric\":null")]
    public void Read_RefusesANullKeyField(string field, string nulled)
    {
        string good = Encoding.UTF8.GetString(Body());
        Assert.Contains(field, good, StringComparison.Ordinal);

        Assert.False(SpillObject.TryRead(Encoding.UTF8.GetBytes(good.Replace(field, nulled, StringComparison.Ordinal)), out SpillObjectContent? content, out string? error));

        Assert.Null(content);
        Assert.Equal("malformed spill object: FormatException", error);
    }

    /// <summary>Each way a body can fail to be a spill object of this format is refused, with its reason, and nothing read.</summary>
    [Theory]
    [MemberData(nameof(Refusals))]
    public void Read_RefusesAMalformedBody_WithItsReason(string body, string reason)
    {
        Assert.False(SpillObject.TryRead(Encoding.UTF8.GetBytes(body), out SpillObjectContent? content, out string? error));
        Assert.Null(content);
        Assert.Equal(reason, error);
    }

    public static TheoryData<string, string> Refusals()
    {
        const string NotSpill = "not a spill object of format analytics.core.spill/1";
        const string Sample = "malformed spill object: a sample is not [sequence number, partition key, finite value]";
        const string OptionsOutOfRange = "malformed spill object: relativeAccuracy or maxBins out of range (0.0001 to 0.5, 16 to 65,536)";
        string good = Encoding.UTF8.GetString(Body());
        return new TheoryData<string, string>
        {
            { "not json", "malformed spill object: JsonReaderException" },
            { good[..^1], "malformed spill object: JsonReaderException" },
            { string.Empty, "malformed spill object: JsonReaderException" },
            { "[" + good + "]", NotSpill },
            { "\"analytics.core.spill/1\"", NotSpill },
            { good.Replace("\"format\":\"analytics.core.spill/1\",", string.Empty, StringComparison.Ordinal), NotSpill },
            { good.Replace("analytics.core.spill/1", "analytics.core.spill/2", StringComparison.Ordinal), NotSpill },
            { good.Replace("\"analytics.core.spill/1\"", "null", StringComparison.Ordinal), NotSpill },
            { good.Replace("\"analytics.core.spill/1\"", "1", StringComparison.Ordinal), "malformed spill object: InvalidOperationException" },
            { good.Replace("\"windowMs\"", "\"window\"", StringComparison.Ordinal), "malformed spill object: KeyNotFoundException" },
            { good.Replace("\"windowMs\":60000", "\"windowMs\":\"60000\"", StringComparison.Ordinal), "malformed spill object: InvalidOperationException" },
            { good.Replace("\"windowMs\":60000", "\"windowMs\":60000.5", StringComparison.Ordinal), "malformed spill object: FormatException" },
            { good.Replace("\"relativeAccuracy\"", "\"accuracy\"", StringComparison.Ordinal), "malformed spill object: KeyNotFoundException" },
            { good.Replace("\"relativeAccuracy\":0.01", "\"relativeAccuracy\":\"0.01\"", StringComparison.Ordinal), "malformed spill object: InvalidOperationException" },
            { good.Replace("\"maxBins\"", "\"bins\"", StringComparison.Ordinal), "malformed spill object: KeyNotFoundException" },
            { good.Replace("\"maxBins\":2048", "\"maxBins\":3000000000", StringComparison.Ordinal), "malformed spill object: FormatException" },
            { good.Replace("\"windowMs\":60000", "\"windowMs\":0", StringComparison.Ordinal), "malformed spill object: windowMs is 0, not 1 s to 1 h" },
            { good.Replace("\"windowMs\":60000", "\"windowMs\":999", StringComparison.Ordinal), "malformed spill object: windowMs is 999, not 1 s to 1 h" },
            { good.Replace("\"windowMs\":60000", "\"windowMs\":3600001", StringComparison.Ordinal), "malformed spill object: windowMs is 3600001, not 1 s to 1 h" },
            { good.Replace("\"maxBins\":2048", "\"maxBins\":5", StringComparison.Ordinal), OptionsOutOfRange },
            { good.Replace("\"relativeAccuracy\":0.01", "\"relativeAccuracy\":0.9", StringComparison.Ordinal), OptionsOutOfRange },
            { good.Replace("\"pairs\"", "\"pair\"", StringComparison.Ordinal), "malformed spill object: KeyNotFoundException" },
            { Replace(good, "\"pairs\":[", "\"pairs\":{\"p\":", "]}", "}}"), "malformed spill object: InvalidOperationException" },
            { good.Replace("\"shardId\"", "\"shard\"", StringComparison.Ordinal), "malformed spill object: KeyNotFoundException" },
            { good.Replace("\"spillId\"", "\"spill\"", StringComparison.Ordinal), "malformed spill object: KeyNotFoundException" },
            { good.Replace("\"eventSourceArn\":\"arn:aws:kinesis:us-east-1:123456789012:stream/s\"", "\"eventSourceArn\":7", StringComparison.Ordinal), "malformed spill object: InvalidOperationException" },
            { good.Replace("\"pk\"", "\"p\"", StringComparison.Ordinal), "malformed spill object: KeyNotFoundException" },
            { good.Replace("\"sk\"", "\"s\"", StringComparison.Ordinal), "malformed spill object: KeyNotFoundException" },
            { good.Replace("\"windowEnd\"", "\"end\"", StringComparison.Ordinal), "malformed spill object: KeyNotFoundException" },
            { good.Replace("\"metric\"", "\"name\"", StringComparison.Ordinal), "malformed spill object: KeyNotFoundException" },
            { good.Replace("\"dimensions\"", "\"dims\"", StringComparison.Ordinal), "malformed spill object: KeyNotFoundException" },
            { good.Replace("{\"region\":\"r\"}", "[]", StringComparison.Ordinal), "malformed spill object: InvalidOperationException" },
            { good.Replace("{\"region\":\"r\"}", "{\"region\":null}", StringComparison.Ordinal), "malformed spill object: a dimension value is not a string" },
            { good.Replace("{\"region\":\"r\"}", "{\"region\":1}", StringComparison.Ordinal), "malformed spill object: InvalidOperationException" },
            { good.Replace("\"outcomeUnknown\"", "\"unknown\"", StringComparison.Ordinal), "malformed spill object: KeyNotFoundException" },
            { good.Replace("\"outcomeUnknown\":false", "\"outcomeUnknown\":\"false\"", StringComparison.Ordinal), "malformed spill object: InvalidOperationException" },
            { good.Replace("\"samples\"", "\"values\"", StringComparison.Ordinal), "malformed spill object: KeyNotFoundException" },
            { Encoding.UTF8.GetString(Body(samples: "{}")), "malformed spill object: InvalidOperationException" },
            { Encoding.UTF8.GetString(Body(samples: "\"x\"")), "malformed spill object: InvalidOperationException" },
            { Encoding.UTF8.GetString(Body(samples: "[\"1\",\"a\"]")), "malformed spill object: IndexOutOfRangeException" },
            { Encoding.UTF8.GetString(Body(samples: "[1,\"a\",1.5]")), "malformed spill object: InvalidOperationException" },
            { Encoding.UTF8.GetString(Body(samples: "[\"1\",\"a\",\"1.5\"]")), "malformed spill object: InvalidOperationException" },
            { Encoding.UTF8.GetString(Body(samples: "[\"1\",\"a\",1e400]")), Sample },
            { Encoding.UTF8.GetString(Body(samples: "[\"1\",2,1.5]")), "malformed spill object: InvalidOperationException" },
            { Encoding.UTF8.GetString(Body(samples: "[\"\",\"a\",1.5]")), Sample },
            { Encoding.UTF8.GetString(Body(samples: "[null,\"a\",1.5]")), Sample },
            { Encoding.UTF8.GetString(Body(samples: "[\"12a\",\"a\",1.5]")), Sample },
            { Encoding.UTF8.GetString(Body(samples: "[\"a12\",\"a\",1.5]")), Sample },
            { Encoding.UTF8.GetString(Body(samples: "[\"-1\",\"a\",1.5]")), Sample },
            { Encoding.UTF8.GetString(Body(samples: $"[\"{new string('1', SequenceNumber.MaxDigits + 1)}\",\"a\",1.5]")), Sample },
            { Encoding.UTF8.GetString(Body(samples: "[\"1\",null,1.5]")), Sample },
            { Encoding.UTF8.GetString(Body(samples: "[\"012\",\"a\",1.5]")), Sample },
            { Encoding.UTF8.GetString(Body(samples: "[\"00\",\"a\",1.5]")), Sample },
        };
    }

    /// <summary>A valid body of one pair (series <c>m</c>, one dimension <c>region=r</c>) whose samples are <paramref name="samples"/>.</summary>
    private static byte[] Body(string samples = "[\"1\",\"a\",1.5],[\"2\",\"a\",2]") =>
        Encoding.UTF8.GetBytes(RedriveObjects.SpillBody(0, "m", "a", [1.5]).Replace("[\"" + RedriveObjects.Sequence(1) + "\",\"a\",1.5]", samples, StringComparison.Ordinal));

    private static string Replace(string s, string a, string b, string c, string d) =>
        s.Replace(a, b, StringComparison.Ordinal)[..^c.Length] + d;

    private static List<(PairKey Key, bool OutcomeUnknown, IReadOnlyList<SpilledSample> Samples)> TwoPairs() =>
    [
        (new PairKey("m|region=Zürich", "2025-01-01T00:00:00.000Z", "2025-01-01T00:05:00.000Z", "m", [new("region", "Zürich \"<&>\""), new("az", "b")]),
            false, [new("123", "a", -1.5), new("4567", "k\"é", 0.1)]),
        (new PairKey("n", "2025-01-01T00:05:00.000Z", "2025-01-01T00:10:00.000Z", "n", []),
            true, [new("9", "b", 1e300), new("10", "c", double.Epsilon), new("11", "d", -123456789.125), new("12", "e", double.MaxValue)]),
    ];

    private static void AssertContent(SpillObjectContent content, string? arn, string spillId, AggregatorOptions options, IReadOnlyList<(PairKey Key, bool OutcomeUnknown, IReadOnlyList<SpilledSample> Samples)> pairs)
    {
        Assert.Equal(TestEvents.ShardId, content.ShardId);
        Assert.Equal(arn, content.EventSourceArn);
        Assert.Equal(spillId, content.SpillId);
        Assert.Equal((options.WindowSize, BitConverter.DoubleToInt64Bits(options.RelativeAccuracy), options.MaxBins), (content.Options.WindowSize, BitConverter.DoubleToInt64Bits(content.Options.RelativeAccuracy), content.Options.MaxBins));
        Assert.Equal(pairs.Count, content.Pairs.Count);
        for (int i = 0; i < pairs.Count; i++)
        {
            SpillObjectPair read = content.Pairs[i];
            (PairKey key, bool unknown, IReadOnlyList<SpilledSample> samples) = pairs[i];
            Assert.Equal((key.Pk, key.Sk, key.WindowEnd, key.Metric, unknown), (read.Key.Pk, read.Key.Sk, read.Key.WindowEnd, read.Key.Metric, read.OutcomeUnknown));
            Assert.Equal(key.Dimensions, read.Key.Dimensions);
            Assert.Equal(
                samples.Select(s => (s.SequenceNumber, s.PartitionKey, BitConverter.DoubleToInt64Bits(s.Value))),
                read.Samples.Select(s => (s.SequenceNumber, s.PartitionKey, BitConverter.DoubleToInt64Bits(s.Value))));
        }
    }

    private sealed record Case(long First, bool WithArn, AggregatorOptions Options, List<(PairKey Key, bool OutcomeUnknown, IReadOnlyList<SpilledSample> Samples)> Pairs)
    {
        public override string ToString() => $"first {First}, arn {WithArn}, {Options}, {Pairs.Count} pairs: " +
            string.Join("; ", Pairs.Select(p => $"{p.Key.Pk}|{p.Key.Sk}|{string.Join(",", p.Key.Dimensions)} {p.OutcomeUnknown} [{string.Join(",", p.Samples.Select(s => s.Value.ToString("R", CultureInfo.InvariantCulture)))}]"));
    }

    private static readonly string[] s_pieces = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u0001", "\u007f", "é", "€", "<", "&", "+", "\U0001F600", "|", "="];

    private static readonly Gen<string> s_text = Gen.Elements(s_pieces).ArrayOf().Select(string.Concat);

    // Sequence numbers as Kinesis writes them: 1 to 129 digits, no leading zero (a lone "0" included).
    private static readonly Gen<string> s_sequence = Gen.Choose(1, SequenceNumber.MaxDigits).SelectMany(n =>
        Gen.Elements((n == 1 ? "0123456789" : "123456789").ToCharArray()).SelectMany(first =>
            Gen.Elements("0123456789".ToCharArray()).ArrayOf(n - 1).Select(rest => first + new string(rest))));

    private static readonly Gen<double> s_value = Gen.OneOf(
        ArbMap.Default.GeneratorFor<double>().Where(double.IsFinite),
        Gen.Elements(double.MaxValue, double.MinValue, double.Epsilon, -double.Epsilon, 1e-300, -1e300, 0.1, -0.0, 0.0, 1.0 / 3, 123456789.125),
        Gen.Choose(int.MinValue, int.MaxValue).Select(i => BitConverter.Int64BitsToDouble(((long)i << 32) | (uint)i)).Where(double.IsFinite));

    private static readonly Gen<SpilledSample> s_sample =
        from seq in s_sequence
        from key in s_text
        from value in s_value
        select new SpilledSample(seq, key, value);

    private static readonly Gen<(PairKey, bool, IReadOnlyList<SpilledSample>)> s_pair =
        from pk in s_text
        from sk in s_text
        from end in s_text
        from metric in s_text
        from dims in Gen.Zip(s_text, s_text).ArrayOf()
        from unknown in ArbMap.Default.GeneratorFor<bool>()
        from samples in s_sample.ArrayOf()
        select (new PairKey(pk, sk, end, metric, [.. dims.DistinctBy(d => d.Item1).Select(d => new KeyValuePair<string, string>(d.Item1, d.Item2))]), unknown, (IReadOnlyList<SpilledSample>)samples);

    private static readonly Gen<AggregatorOptions> s_aggregator =
        from windowMs in Gen.Choose(1000, 3_600_000)
        from accuracy in Gen.Choose(1, 5000).Select(n => n / 10_000.0)
        from bins in Gen.Choose(16, 65_536) // the documented range
        select AggregatorOptions.Default with { WindowSize = TimeSpan.FromMilliseconds(windowMs), RelativeAccuracy = accuracy, MaxBins = bins };

    private static readonly Gen<Case> s_case =
        from first in Gen.Choose(1, 9_999_999)
        from withArn in ArbMap.Default.GeneratorFor<bool>()
        from options in s_aggregator
        from pairs in s_pair.ArrayOf()
        select new Case(first, withArn, options, [.. pairs]);
}
