using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Records;

/// <summary>
/// The parser's own tokenizer against Utf8JsonReader, and the parser against <see cref="ReferenceMetricRecordParser"/>
/// (the parser as it was over Utf8JsonReader): the same tokens, the same syntax errors at the same offsets, and the same
/// verdict (reason, words, offset) and samples for every record, valid, mutated or JSON-like noise.
/// </summary>
public class MetricRecordParserAgreementTests
{
    private const int Runs = 3000;

    /// <summary>Pieces that make JSON-like text: valid tokens, broken ones, and every byte that matters to the grammar.</summary>
    private static readonly string[] s_pieces =
    [
        "{", "}", "[", "]", ":", ",", " ", "\n", "\t", "\r\n", "\"", "\\",
        "\"metric\"", "\"value\"", "\"timestamp\"", "\"dimensions\"", "\"m\"", "\"a\"", "\"x\":", "\"k\":\"v\"",
        "\"m\\u0065tric\"", "\"\\ud800\"", "\"\\n\"", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\t\"", "\"é\"",
        "1", "0", "-", "-0", "01", "1.", "1.5", ".5", "1e", "1e+", "1E-3", "2e400", "-1e999", "1737367200000", "1737367200000.5",
        "1/", "1x", "true", "false", "null", "tru", "nul", "fals", "truex", "NaN", "\"NaN\"",
        "\"2025-01-20T10:00:00Z\"", "/", "x", "é",
    ];

    private static readonly Gen<byte[]> s_jsonLike =
        from count in Gen.Choose(0, 40)
        from pieces in Gen.ArrayOf(Gen.Elements(s_pieces), count)
        select Encoding.UTF8.GetBytes("{" + string.Concat(pieces));

    private static readonly Gen<byte[]> s_mutated =
        from r in SampleGenerators.Record
        from n in Gen.Choose(1, 3)
        from edits in Gen.ArrayOf(
            from op in Gen.Choose(0, 3)
            from at in Gen.Choose(0, 1 << 20)
            from piece in Gen.Elements(s_pieces)
            select (op, at, piece),
            n)
        select Mutate(r.Data, edits);

    private static readonly Gen<byte[]> s_inputs = Gen.OneOf(s_jsonLike, s_mutated, SampleGenerators.Record.Select(r => r.Data));

    private static byte[] Mutate(byte[] data, (int Op, int At, string Piece)[] edits)
    {
        var bytes = new List<byte>(data);
        foreach ((int op, int at, string piece) in edits)
        {
            int i = bytes.Count == 0 ? 0 : at % bytes.Count;
            byte[] p = Encoding.UTF8.GetBytes(piece);
            switch (op)
            {
                case 0:
                    bytes.InsertRange(i, p);
                    break;
                case 1 when bytes.Count > 0:
                    bytes.RemoveAt(i);
                    break;
                case 2 when bytes.Count > 0:
                    bytes[i] = p[0];
                    break;
                default:
                    bytes.RemoveRange(i, bytes.Count - i); // truncated
                    break;
            }
        }

        return [.. bytes];
    }

    private sealed record Token(JsonToken Type, int Start, string Value, bool Escaped, int Depth);

    /// <summary>Tokens of the first JSON value, then the error offset or -1.</summary>
    private static (List<Token> Tokens, int Error) ByTokenizer(byte[] data)
    {
        var tokens = new List<Token>();
        var t = new JsonTokenizer(data, 0);
        do
        {
            if (!t.Read())
            {
                return (tokens, t.ErrorOffset);
            }

            tokens.Add(new Token(t.TokenType, t.TokenStartIndex, Encoding.UTF8.GetString(t.ValueSpan), t.ValueIsEscaped, t.CurrentDepth));
        }
        while (t.CurrentDepth > 0 || t.TokenType is JsonToken.StartObject or JsonToken.StartArray);

        return (tokens, -1);
    }

    private static (List<Token> Tokens, int Error) ByUtf8JsonReader(byte[] data)
    {
        var tokens = new List<Token>();
        var r = new Utf8JsonReader(data, new JsonReaderOptions { MaxDepth = 1000 });
        try
        {
            do
            {
                r.Read();
                JsonToken type = r.TokenType switch
                {
                    JsonTokenType.StartObject => JsonToken.StartObject,
                    JsonTokenType.EndObject => JsonToken.EndObject,
                    JsonTokenType.StartArray => JsonToken.StartArray,
                    JsonTokenType.EndArray => JsonToken.EndArray,
                    JsonTokenType.PropertyName => JsonToken.PropertyName,
                    JsonTokenType.String => JsonToken.String,
                    JsonTokenType.Number => JsonToken.Number,
                    JsonTokenType.True => JsonToken.True,
                    JsonTokenType.False => JsonToken.False,
                    JsonTokenType.Null => JsonToken.Null,
                    _ => JsonToken.None,
                };
                tokens.Add(new Token(type, (int)r.TokenStartIndex, Encoding.UTF8.GetString(r.ValueSpan), r.ValueIsEscaped, r.CurrentDepth));
            }
            while (r.CurrentDepth > 0 || r.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray);

            return (tokens, -1);
        }
        catch (JsonException e)
        {
            return (tokens, Math.Min(data.Length, JsonText.ErrorOffset(data, e)));
        }
    }

    private static string Show(byte[] data) => Encoding.UTF8.GetString(data).Replace("\n", "\\n", StringComparison.Ordinal);

    [Fact]
    public void Tokenizer_AgreesWithUtf8JsonReader_OnTokensAndErrorOffsets()
    {
        Prop.ForAll(s_inputs.Where(d => d.Length > 0 && d[0] == (byte)'{' && Utf8.IsValid(d)).ToArbitrary(), data =>
        {
            var (ours, ourError) = ByTokenizer(data);
            var (theirs, theirError) = ByUtf8JsonReader(data);
            Assert.True(theirs.SequenceEqual(ours), $"tokens differ on {Show(data)}:\n{string.Join('\n', theirs)}\nvs\n{string.Join('\n', ours)}");
            Assert.True(theirError == ourError, $"error at {theirError} by Utf8JsonReader, {ourError} by ours, on {Show(data)}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(Runs));
    }

    [Theory]
    [InlineData("{\"a\":tru}", 8)]
    [InlineData("{\"a\":1,}", 7)]
    [InlineData("{\"a\" 1}", 5)]
    [InlineData("{\"a\":[1}", 7)]
    [InlineData("{\"a\":01}", 6)]
    [InlineData("{\"a\":\"\\x\"}", 7)]
    [InlineData("{\"a\":\"\\u12G4\"}", 10)]
    [InlineData("{\"a\":\"b\tc\"}", 7)]
    [InlineData("{\"a\":1", 6)]
    [InlineData("{\"a\":\"b", 7)]
    [InlineData("{\"a\":1,", 6)] // the reader points at the comma when nothing follows it
    [InlineData("{\"a\":1, \n ", 10)] // and at the end when white space follows it
    [InlineData("{\"a\":-", 6)] // a number cut after its sign, its point or its exponent: at the end, not past it
    [InlineData("{\"a\":1.", 7)]
    [InlineData("{\"a\":1e", 7)]
    [InlineData("{\"a\":1E+", 8)]
    public void Tokenizer_SyntaxErrors_AreReportedAtTheOffendingByte(string json, int offset)
    {
        byte[] data = Encoding.UTF8.GetBytes(json);
        Assert.Equal(offset, ByTokenizer(data).Error);
        Assert.Equal(offset, ByUtf8JsonReader(data).Error); // the independent expectation agrees
    }

    /// <summary>
    /// A value that is not in a container (the generated inputs all start with an object): a number may end the data
    /// there, and nothing but its delimiters may follow it.
    /// </summary>
    [Theory]
    [InlineData("5", -1)]
    [InlineData("0", -1)]
    [InlineData("-0.5e3", -1)]
    [InlineData("12 ", -1)]
    [InlineData("\"s\"", -1)]
    [InlineData("true", -1)]
    [InlineData("5x", 1)]
    [InlineData("-", 1)]
    [InlineData("1.e", 2)]
    public void Tokenizer_AValueOutsideAnyContainer_IsReadAsUtf8JsonReaderReadsIt(string json, int error)
    {
        byte[] data = Encoding.UTF8.GetBytes(json);
        var (ours, ourError) = ByTokenizer(data);
        var (theirs, theirError) = ByUtf8JsonReader(data);
        Assert.Equal(error, ourError);
        Assert.Equal(theirError, ourError);
        Assert.Equal(theirs, ours);
    }

    /// <summary>
    /// An escaped name compared with a text: nothing allocated for a short text (the unescaped copy is on the stack), and a
    /// text of 256 bytes or more compared through a copy on the heap, as Utf8JsonReader compares it.
    /// </summary>
    [Fact]
    public void ValueTextEquals_OfAnEscapedName_AllocatesNothingForAShortText_AndComparesALongOne()
    {
        byte[] data = "{\"m\\u0065tric\":1}"u8.ToArray();
        var t = new JsonTokenizer(data, 0);
        Assert.True(t.Read() && t.Read() && t.ValueIsEscaped);
        Assert.True(t.ValueTextEquals("metric"u8)); // first call: any one-time cost outside the measurement
        long before = GC.GetAllocatedBytesForCurrentThread();
        bool same = t.ValueTextEquals("metric"u8);
        bool other = t.ValueTextEquals("metrix"u8);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal((true, false, 0L), (same, other, allocated));

        string name = new string('a', 299) + "\\u0062"; // 299 a and an escaped b
        byte[] longData = Encoding.UTF8.GetBytes("{\"" + name + "\":1}");
        byte[][] texts = [Encoding.UTF8.GetBytes(new string('a', 299) + "b"), Encoding.UTF8.GetBytes(new string('a', 300)), Encoding.UTF8.GetBytes(new string('a', 299))];
        var l = new JsonTokenizer(longData, 0);
        Assert.True(l.Read() && l.Read() && l.ValueIsEscaped);
        var r = new Utf8JsonReader(longData);
        Assert.True(r.Read() && r.Read() && r.ValueIsEscaped);
        bool[] ours = new bool[texts.Length], theirs = new bool[texts.Length];
        for (int i = 0; i < texts.Length; i++)
        {
            ours[i] = l.ValueTextEquals(texts[i]);
            theirs[i] = r.ValueTextEquals(texts[i]);
        }

        Assert.Equal([true, false, false], theirs);
        Assert.Equal(theirs, ours);
    }

    private static (string Verdict, List<string> Samples) ByParser(byte[] data, MetricSchema schema)
    {
        byte[] scratch = new byte[MetricRecordParser.ScratchSize];
        var p = new MetricRecordParser(data, scratch, schema, TestEvents.Arrival);
        var samples = new List<string>();
        while (p.TryReadSample(out MetricSample s))
        {
            samples.Add($"{Convert.ToHexString(s.Key.Encoded)} {BitConverter.DoubleToInt64Bits(s.Value)} {s.TimestampMs}");
        }

        return ($"{p.Reason} {p.DetailMessage} @{p.DetailOffset} n={p.SampleCount}", samples);
    }

    private static (string Verdict, List<string> Samples) ByReference(byte[] data, MetricSchema schema)
    {
        byte[] scratch = new byte[ReferenceMetricRecordParser.ScratchSize];
        var p = new ReferenceMetricRecordParser(data, scratch, schema, TestEvents.Arrival);
        var samples = new List<string>();
        while (p.TryReadSample(out MetricSample s))
        {
            samples.Add($"{Convert.ToHexString(s.Key.Encoded)} {BitConverter.DoubleToInt64Bits(s.Value)} {s.TimestampMs}");
        }

        return ($"{p.Reason} {p.DetailMessage} @{p.DetailOffset} n={p.SampleCount}", samples);
    }

    public static TheoryData<int> Depths() => [2, 3, 32];

    [Theory]
    [MemberData(nameof(Depths))]
    public void Parser_AgreesWithTheUtf8JsonReaderParser_OnEveryVerdictAndSample(int maxDepth)
    {
        var schema = new MetricSchema(MetricParserOptions.Default with { MaxDepth = maxDepth });
        Gen<byte[]> ndjson = Gen.OneOf(
            s_inputs,
            from a in s_inputs from b in s_inputs from sep in Gen.Elements("\n", "\r\n", " ", "\n\n", "") select a.Concat(Encoding.UTF8.GetBytes(sep)).Concat(b).ToArray(),
            Gen.ArrayOf(Gen.Elements<byte>(0x7B, 0x5B, 0x7D, 0x5D, 0x22, 0x3A, 0x2C, 0x31, 0x0A, 0xC3, 0xA9, 0xFF, 0xEF, 0xBB, 0xBF)));
        Prop.ForAll(ndjson.ToArbitrary(), data =>
        {
            var ours = ByParser(data, schema);
            var theirs = ByReference(data, schema);
            Assert.True(theirs.Verdict == ours.Verdict, $"{Show(data)}: reference {theirs.Verdict}, ours {ours.Verdict}");
            Assert.Equal(theirs.Samples, ours.Samples);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(Runs));
    }

    /// <summary>
    /// Dimension objects built to stress how repeated keys are found and how keys are ordered: up to 33 keys (past the
    /// limit of 30), drawn from few names so that repeats are common, names that share their length and their first and
    /// last eight bytes (the parser's key fingerprint) or are prefixes of each other, escaped spellings of the same
    /// name, and values that are not strings, placed before or after a repeat. Same verdict, words, offset and series
    /// key as the reference parser, which sorts and checks repeats key by key as they arrive.
    /// </summary>
    [Fact]
    public void Parser_DimensionObjects_AgreeOnRepeatsLimitsAndOrder()
    {
        string[] names =
        [
            "region", "regio", "az", "a", "\u0061", "r\u0065gion",
            "prefix__A__suffix", "prefix__B__suffix", "prefix__\u0041__suffix", "prefix__AB__suffix", "prefix___suffix",
            "0123456789abcdef", "0123456789abcdeg", "k1", "k10", "k2", "é", "\u00e9", "zzzzzzzzzzzzzzzz",
        ];
        Gen<string> entry =
            from name in Gen.OneOf(Gen.Elements(names), Gen.Choose(0, 40).Select(k => "k" + k))
            from value in Gen.Frequency((12, Gen.Constant("\"v\"")), (1, Gen.Constant("1")), (1, Gen.Constant("\"\\ud800\"")))
            select "\"" + name + "\":" + value;
        Gen<byte[]> records =
            from count in Gen.Choose(0, 33)
            from entries in Gen.ArrayOf(entry, count)
            select Encoding.UTF8.GetBytes("{\"metric\":\"m\",\"value\":1,\"timestamp\":1737367200000,\"dimensions\":{" + string.Join(',', entries) + "}}");
        var schema = MetricSchema.Default;
        Prop.ForAll(records.ToArbitrary(), data =>
        {
            var ours = ByParser(data, schema);
            var theirs = ByReference(data, schema);
            Assert.True(theirs.Verdict == ours.Verdict, $"{Show(data)}: reference {theirs.Verdict}, ours {ours.Verdict}");
            Assert.Equal(theirs.Samples, ours.Samples);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(Runs));
    }

    [Fact]
    public void Parser_DeepNestingUnderALargeMaxDepth_AgreesAndStaysAResult()
    {
        // Past the tokenizer's 128 inline levels: its overflow stack must track objects and arrays like the reader.
        var schema = new MetricSchema(MetricParserOptions.Default with { MaxDepth = 400 });
        foreach (int depth in new[] { 127, 128, 129, 200, 399, 400, 401 })
        {
            string open = string.Concat(Enumerable.Range(0, depth).Select(i => i % 3 == 0 ? "{\"k\":" : "["));
            string close = string.Concat(Enumerable.Range(0, depth).Reverse().Select(i => i % 3 == 0 ? "}" : "]"));
            foreach (string inner in new[] { "1", "1]", "1}" })
            {
                byte[] data = Encoding.UTF8.GetBytes("{\"metric\":\"m\",\"x\":" + open + inner + close + ",\"value\":1,\"timestamp\":1737367200000}");
                Assert.Equal(ByReference(data, schema), ByParser(data, schema), new VerdictComparer());
            }
        }
    }

    private sealed class VerdictComparer : IEqualityComparer<(string Verdict, List<string> Samples)>
    {
        public bool Equals((string Verdict, List<string> Samples) x, (string Verdict, List<string> Samples) y) =>
            x.Verdict == y.Verdict && x.Samples.SequenceEqual(y.Samples);

        public int GetHashCode((string Verdict, List<string> Samples) obj) => obj.Verdict.GetHashCode(StringComparison.Ordinal);
    }
}
