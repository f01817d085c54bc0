using System.Buffers;
using Amazon.DynamoDBv2.Model;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests;

/// <summary>
/// The stored item's parts that decide exactly-once (versions, the shard floor <c>wm</c>, the per-key watermarks
/// <c>wk</c>), read and built without a server: a stored value the sink cannot trust is refused, and a new item keeps
/// every other shard's watermarks as stored.
/// </summary>
public sealed class DynamoDbItemTests
{
    private const string Shard = "shardId-000000000001";
    private const string Other = "shardId-000000000002";

    /// <summary>
    /// No partition key a producer can send is stored under the name of the shard floor's pre-write entries
    /// (<see cref="DynamoDbItem.ShardFloorEntries"/>, U+FFFD then <c>*</c>): not that text itself, nor any bytes at all,
    /// which are stored as the text they are or as U+FFFD and base64 (no <c>*</c>).
    /// </summary>
    [FsCheck.Xunit.Property(MaxTest = 500)]
    public Property NoPartitionKey_IsStoredAsTheShardFloorsEntryName(byte[] key, bool startWithTheName) =>
        Prop.ToProperty(AggregateBatch.KeyText(startWithTheName ? [.. System.Text.Encoding.UTF8.GetBytes(DynamoDbItem.ShardFloorEntries), .. key] : key) != DynamoDbItem.ShardFloorEntries);

    [Fact]
    public void GetVersion_NoItemIsZero_AStoredVersionIsRead()
    {
        Assert.Equal(0, DynamoDbItem.GetVersion(null));
        Assert.Equal(1, DynamoDbItem.GetVersion(Item(("ver", N("1")))));
        Assert.Equal(long.MaxValue, DynamoDbItem.GetVersion(Item(("ver", N("9223372036854775807")))));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("x")]
    [InlineData("9223372036854775808")]
    public void GetVersion_MissingOrNotAPositiveInteger_IsInvalidData(string? version)
    {
        Dictionary<string, AttributeValue> item = version is null ? Item(("pk", S("p"))) : Item(("ver", N(version)));
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetVersion(item));
        Assert.Contains("'ver'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GetVersion_AStringInsteadOfANumber_IsInvalidData() =>
        Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetVersion(Item(("ver", S("3")))));

    [Fact]
    public void GetWatermark_OnlyThisShardsMarkIsRead()
    {
        Dictionary<string, AttributeValue> item = Item(("wm", M((Other, S("7")), (Shard, S("42")))));
        Assert.Equal("42", DynamoDbItem.GetWatermark(item, Shard));
        Assert.Equal("7", DynamoDbItem.GetWatermark(item, Other));
        Assert.Null(DynamoDbItem.GetWatermark(item, "shardId-000000000003"));
        Assert.Null(DynamoDbItem.GetWatermark(Item(("ver", N("1"))), Shard));
        // Not a map: another writer's layout, refused (read as "no watermark" it would apply the records again).
        Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetWatermark(Item(("wm", S("42"))), Shard));
        Assert.Null(DynamoDbItem.GetWatermark(null, Shard));
    }

    [Theory]
    [InlineData("")]
    [InlineData("12a")]
    [InlineData("-12")]
    [InlineData(" 12")]
    [InlineData("1/")]
    [InlineData("1:")]
    public void GetWatermark_NotASequenceNumber_IsInvalidData(string mark)
    {
        Dictionary<string, AttributeValue> item = Item(("wm", M((Shard, S(mark)))));
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetWatermark(item, Shard));
        Assert.Contains(Shard, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GetWatermark_LengthIsBoundBySequenceNumberDigits()
    {
        string longest = new('9', SequenceNumber.MaxDigits);
        Assert.Equal(longest, DynamoDbItem.GetWatermark(Item(("wm", M((Shard, S(longest))))), Shard));
        Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetWatermark(Item(("wm", M((Shard, S(longest + "9"))))), Shard));
        Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetWatermark(Item(("wm", M((Shard, N("5"))))), Shard));
    }

    [Fact]
    public void GetKeyWatermarks_OnlyThisShardsMarks()
    {
        Dictionary<string, AttributeValue> item = Item(("wk", M(
            (Shard, M(("a", S("10")), ("b", S("11")))),
            (Other, M(("c", S("12")))))));
        Dictionary<string, AttributeValue>? marks = DynamoDbItem.GetKeyWatermarks(item, Shard);
        Assert.NotNull(marks);
        Assert.Equal(["a=10", "b=11"], marks.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => m.Key + "=" + m.Value.S));
        Assert.Null(DynamoDbItem.GetKeyWatermarks(item, "shardId-000000000003"));
        Assert.Null(DynamoDbItem.GetKeyWatermarks(Item(("wm", M((Shard, S("1"))))), Shard));
        Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetKeyWatermarks(Item(("wk", S("1"))), Shard));
        Assert.Null(DynamoDbItem.GetKeyWatermarks(null, Shard));
    }

    [Theory]
    [InlineData("")]
    [InlineData("1x")]
    [InlineData("nope")]
    public void GetKeyWatermarks_AMarkNotASequenceNumber_IsInvalidData(string mark)
    {
        Dictionary<string, AttributeValue> item = Item(("wk", M((Shard, M(("a", S("10")), ("b", S(mark)))))));
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetKeyWatermarks(item, Shard));
        Assert.Contains(Shard, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\"b\"", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GetKeyWatermarks_ShardEntryNotAMap_OrMarkTooLongOrNotAString_IsInvalidData()
    {
        Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetKeyWatermarks(Item(("wk", M((Shard, S("10"))))), Shard));
        string longest = new('1', SequenceNumber.MaxDigits);
        Assert.NotNull(DynamoDbItem.GetKeyWatermarks(Item(("wk", M((Shard, M(("a", S(longest))))))), Shard));
        Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetKeyWatermarks(Item(("wk", M((Shard, M(("a", S(longest + "1"))))))), Shard));
        Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetKeyWatermarks(Item(("wk", M((Shard, M(("a", N("1"))))))), Shard));
    }

    [Fact]
    public void CountKeyWatermarks_SumsEveryShard()
    {
        Dictionary<string, AttributeValue> item = Item(("wk", M(
            (Shard, M(("a", S("10")), ("b", S("11")))),
            (Other, M(("c", S("12")), ("d", S("13")), ("e", S("14")))))));
        Assert.Equal(5, DynamoDbItem.CountKeyWatermarks(item));
        Assert.Equal(0, DynamoDbItem.CountKeyWatermarks(Item(("ver", N("1")))));
        Assert.Equal(0, DynamoDbItem.CountKeyWatermarks(Item(("wk", S("1")))));
    }

    [Fact]
    public void Size_FollowsDynamoDbsRules()
    {
        // Strings: UTF-8 bytes of name and value. "é" is 2 bytes.
        Assert.Equal(2 + 3, DynamoDbItem.Size(Item(("pk", S("abc")))));
        Assert.Equal(2 + 0, DynamoDbItem.Size(Item(("é", S("")))));
        Assert.Equal(1 + 4, DynamoDbItem.Size(Item(("s", S("éé")))));

        // Numbers: 1 byte per 2 digits (rounded up) plus 1; signs and points are not digits.
        Assert.Equal(1 + 1 + 1, DynamoDbItem.Size(Item(("n", N("7")))));
        Assert.Equal(1 + 1 + 1, DynamoDbItem.Size(Item(("n", N("42")))));
        Assert.Equal(1 + 2 + 1, DynamoDbItem.Size(Item(("n", N("-1.23")))));
        Assert.Equal(1 + 3 + 1, DynamoDbItem.Size(Item(("n", N("123456")))));

        // Binary: its bytes. Booleans: 1.
        Assert.Equal(1 + 5, DynamoDbItem.Size(Item(("b", new AttributeValue { B = new MemoryStream(new byte[5]) }))));
        Assert.Equal(4 + 1, DynamoDbItem.Size(Item(("flag", new AttributeValue { BOOL = true }))));

        // Maps and lists: 3, plus per element 1 and its name and value.
        Assert.Equal(2 + 3, DynamoDbItem.Size(Item(("wk", M()))));
        Assert.Equal(2 + 3 + (1 + 1 + 2) + (1 + 2 + 1), DynamoDbItem.Size(Item(("wk", M(("a", S("10")), ("bb", S("9")))))));
        Assert.Equal(1 + 3 + (1 + 3) + (1 + 2), DynamoDbItem.Size(Item(("l", new AttributeValue { L = [S("abc"), N("5")] }))));

        // Attributes add up.
        Assert.Equal((2 + 3) + (3 + 2), DynamoDbItem.Size(Item(("pk", S("abc")), ("ver", N("12")))));
    }

    [Fact]
    public void Build_NewItem_HasOnlyThisShardsMarks()
    {
        MetricAggregate aggregate = Aggregate(1, 2, 3);
        Dictionary<string, AttributeValue> item = DynamoDbItem.Build(
            Key(), aggregate, new ArrayBufferWriter<byte>(), previous: null, Shard, shardWatermark: null,
            keyWatermarks: new Dictionary<string, AttributeValue>(StringComparer.Ordinal) { ["a"] = S("5") }, version: 1);

        Assert.False(item.ContainsKey("wm"));
        Assert.Equal([Shard], item["wk"].M.Keys);
        Assert.Equal("5", item["wk"].M[Shard].M["a"].S);
        Assert.Equal("1", item["ver"].N);
        Assert.Equal("3", item["count"].N);
        Assert.Equal("6", item["sum"].N);
        Assert.Equal("1", item["min"].N);
        Assert.Equal("3", item["max"].N);
    }

    [Fact]
    public void Build_OnAPreviousItem_KeepsOtherShardsMarksAndRaisesOnlyItsOwn()
    {
        Dictionary<string, AttributeValue> previous = Item(
            ("wm", M((Other, S("100")), (Shard, S("50")))),
            ("wk", M((Other, M(("x", S("101")))), (Shard, M(("a", S("51")))))));

        // A per-key write: the floor stays, this shard's key marks are replaced, the other shard's stay.
        Dictionary<string, AttributeValue> perKey = DynamoDbItem.Build(
            Key(), Aggregate(1), new ArrayBufferWriter<byte>(), previous, Shard, shardWatermark: null,
            keyWatermarks: new Dictionary<string, AttributeValue>(StringComparer.Ordinal) { ["a"] = S("60"), ["b"] = S("61") }, version: 8);
        Assert.Equal("50", perKey["wm"].M[Shard].S);
        Assert.Equal("100", perKey["wm"].M[Other].S);
        Assert.Equal("101", perKey["wk"].M[Other].M["x"].S);
        Assert.Equal(["a=60", "b=61"], perKey["wk"].M[Shard].M.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => m.Key + "=" + m.Value.S));
        Assert.Equal("8", perKey["ver"].N);

        // A window flush: this shard's floor is raised, every key mark stays as stored.
        Dictionary<string, AttributeValue> flush = DynamoDbItem.Build(
            Key(), Aggregate(1), new ArrayBufferWriter<byte>(), previous, Shard, shardWatermark: "70", keyWatermarks: null, version: 9);
        Assert.Equal("70", flush["wm"].M[Shard].S);
        Assert.Equal("100", flush["wm"].M[Other].S);
        Assert.Equal("51", flush["wk"].M[Shard].M["a"].S);
        Assert.Equal("101", flush["wk"].M[Other].M["x"].S);

        // The previous item is not changed by building the next one.
        Assert.Equal("50", previous["wm"].M[Shard].S);
        Assert.Equal("51", previous["wk"].M[Shard].M["a"].S);
    }

    /// <summary>
    /// The key, the readable attributes and the stream a write leaves as they are, are the stored values themselves (a
    /// new value each per write was a large part of what building an item allocated); what the write changes, and a
    /// stored value that is not exactly the string the write would write, are new values; the item is the same either
    /// way.
    /// </summary>
    [Fact]
    public void Build_KeepsTheStoredValuesItLeavesAlone_AndWritesTheSameItem()
    {
        var marks = new Dictionary<string, AttributeValue>(StringComparer.Ordinal) { ["a"] = S("60") };
        Dictionary<string, AttributeValue> first = DynamoDbItem.Build(
            Key(), Aggregate(1), new ArrayBufferWriter<byte>(), null, Shard, null, marks, version: 1, stream: "arn:s");
        Dictionary<string, AttributeValue> next = DynamoDbItem.Build(
            Key(), Aggregate(1, 2), new ArrayBufferWriter<byte>(), first, Shard, null, marks, version: 2, stream: "arn:s");

        foreach (string kept in (string[])["pk", "sk", "metric", "windowStart", "windowEnd", "dimensions", "stream"])
        {
            Assert.Same(first[kept], next[kept]);
        }

        foreach (string changed in (string[])["count", "sum", "max", "sketch", "ver"])
        {
            Assert.NotSame(first[changed], next[changed]);
        }

        // The same item as one built on a copy of the stored values, which shares nothing with it.
        Dictionary<string, AttributeValue> fromCopy = DynamoDbItem.Build(
            Key(), Aggregate(1, 2), new ArrayBufferWriter<byte>(), Copy(first), Shard, null, marks, version: 2, stream: "arn:s");
        Assert.Equal(ItemText.Of(fromCopy), ItemText.Of(next));

        // A stored value that is not exactly what the write would write is not kept: another window end (a window-size
        // change keeps the later one), dimensions of another series, a value with a second type set.
        Dictionary<string, AttributeValue> odd = Copy(first);
        odd["windowEnd"] = S(DynamoDbKeys.Timestamp(90_000));
        odd["dimensions"] = M(("k", S("other")));
        odd["metric"] = new AttributeValue { S = "m", N = "1" };
        Dictionary<string, AttributeValue> rebuilt = DynamoDbItem.Build(
            Key(), Aggregate(1, 2), new ArrayBufferWriter<byte>(), odd, Shard, null, marks, version: 2, stream: "arn:s");
        Assert.NotSame(odd["windowEnd"], rebuilt["windowEnd"]);
        Assert.Equal(DynamoDbKeys.Timestamp(120_000), rebuilt["windowEnd"].S);
        Assert.NotSame(odd["dimensions"], rebuilt["dimensions"]);
        Assert.Equal("v", rebuilt["dimensions"].M["k"].S);
        Assert.NotSame(odd["metric"], rebuilt["metric"]);
        Assert.Null(rebuilt["metric"].N);
        Assert.Same(odd["pk"], rebuilt["pk"]);
    }

    /// <summary>
    /// Property: a number's text in the item is its round-trip text ("R") for any double: whole numbers near 10^15 and
    /// past it, negative zero, fractions, the smallest and largest magnitudes.
    /// </summary>
    [FsCheck.Xunit.Property(MaxTest = 3000)]
    public Property NumberText_IsTheRoundTripText(int mantissa, int exponent, bool fraction, bool negative)
    {
        double magnitude = Math.Abs((double)mantissa) * Math.Pow(10, exponent % 20) + (fraction ? 0.25 : 0);
        double value = negative ? -magnitude : magnitude;
        return (DynamoDbItem.NumberText(value) == value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)).Label(value.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData(-0.0)]
    [InlineData(999_999_999_999_999.0)]
    [InlineData(1e15)]
    [InlineData(-1e15)]
    [InlineData(123456789012345.0)]
    [InlineData(0.1)]
    [InlineData(1e-130)]
    [InlineData(9.98e125)]
    public void NumberText_AtTheEdges_IsTheRoundTripText(double value) =>
        Assert.Equal(value.ToString("R", System.Globalization.CultureInfo.InvariantCulture), DynamoDbItem.NumberText(value));

    /// <summary>
    /// A stored per-shard attribute that is not a map (another writer's layout, a hand edit) is refused by every write,
    /// not only by the writes that read it: kept "as stored", the put would leave it out (only maps are written), and
    /// what it said would be gone: pre-write entries that decide a spill, ranges the destination redrive applied.
    /// </summary>
    [Theory]
    [InlineData("wm")]
    [InlineData("wk")]
    [InlineData("rk")]
    [InlineData("pw")]
    [InlineData("dr")]
    public void Build_OnAStoredMarkAttributeThatIsNotAMap_IsInvalidData(string name)
    {
        Dictionary<string, AttributeValue> previous = Item((name, S("not a map")));
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => DynamoDbItem.Build(
            Key(), Aggregate(1), new ArrayBufferWriter<byte>(), previous, Shard, null,
            new Dictionary<string, AttributeValue>(StringComparer.Ordinal) { ["a"] = S("60") }, version: 2));
        Assert.Contains("'" + name + "'", e.Message, StringComparison.Ordinal);
    }

    private static Dictionary<string, AttributeValue> Copy(Dictionary<string, AttributeValue> item) =>
        item.ToDictionary(kv => kv.Key, kv => Copy(kv.Value), StringComparer.Ordinal);

    private static AttributeValue Copy(AttributeValue v) => new()
    {
        S = v.S,
        N = v.N,
        B = v.B is null ? null : new MemoryStream(v.B.ToArray()),
        BOOL = v.BOOL,
        M = v.M is null ? null : Copy(v.M),
        L = v.L?.Select(Copy).ToList(),
    };


    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(1e-130, "1E-130")]
    [InlineData(9.98e125, "9.98E+125")]
    [InlineData(-9.98e125, "-9.98E+125")]
    [InlineData(9.995e125, "9.995E+125")]
    [InlineData(-9.99999999999999e125, "-9.99999999999999E+125")]
    public void Build_NumbersInDynamoDbsRange_AreWritten(double value, string expected)
    {
        Dictionary<string, AttributeValue> item = DynamoDbItem.Build(Key(), Aggregate(value), new ArrayBufferWriter<byte>(), null, Shard, "1", null, 1);
        Assert.Equal(expected, item["sum"].N);
        Assert.Equal(expected, item["min"].N);
        Assert.Equal(expected, item["max"].N);
    }

    [Theory]
    [InlineData(1e126)]
    [InlineData(-1e126)]
    [InlineData(9e-131)]
    [InlineData(-9e-131)]
    public void Build_NumbersOutsideDynamoDbsRange_AreLeftOut_TheSketchKeepsThem(double value)
    {
        Dictionary<string, AttributeValue> item = DynamoDbItem.Build(Key(), Aggregate(value), new ArrayBufferWriter<byte>(), null, Shard, "1", null, 1);
        Assert.False(item.ContainsKey("sum"));
        Assert.False(item.ContainsKey("min"));
        Assert.False(item.ContainsKey("max"));
        Assert.Equal(value, Stored(item).Sum);
    }

    [Fact]
    public void BuildThenTryReadPair_RoundTrips() =>
        Prop.ForAll(
            Gen.Choose(-1000, 1000).Select(i => i / 8.0).NonEmptyListOf().ToArbitrary(),
            Gen.Elements("a", "b", "é").ListOf().Select(l => l.Distinct().ToList()).ToArbitrary(),
            (values, dimensionKeys) =>
            {
                var dimensions = dimensionKeys.Select(k => new KeyValuePair<string, string>(k, "v" + k)).ToArray();
                var key = new PairKey("pk", DynamoDbKeys.Timestamp(60_000), DynamoDbKeys.Timestamp(120_000), "m", dimensions);
                MetricAggregate aggregate = Aggregate([.. values]);
                Dictionary<string, AttributeValue> item = DynamoDbItem.Build(key, aggregate, new ArrayBufferWriter<byte>(), null, Shard, "1", null, 1);

                var back = new MetricAggregate(AggregatorOptions.Default);
                bool read = DynamoDbItem.TryReadPair(item, back, out MetricAggregate got, out string metric, out List<KeyValuePair<string, string>> dims, out long start, out long end);
                return read && metric == "m" && start == 60_000 && end == 120_000 &&
                       ReferenceEquals(got, back) && back.Count == values.Count && back.Sum == aggregate.Sum &&
                       dims.OrderBy(d => d.Key, StringComparer.Ordinal).SequenceEqual(dimensions.OrderBy(d => d.Key, StringComparer.Ordinal)) &&
                       item.ContainsKey("dimensions") == (dimensions.Length > 0);
            }).QuickCheckThrowOnFailure();

    [Theory]
    [InlineData("metric")]
    [InlineData("windowStart")]
    [InlineData("windowEnd")]
    [InlineData("sketch")]
    [InlineData("sketch-truncated")]
    [InlineData("sketch-trailing")]
    [InlineData("dimension-not-a-string")]
    public void TryReadPair_AnItemNotInTheLayout_IsFalse(string broken)
    {
        Dictionary<string, AttributeValue> item = DynamoDbItem.Build(
            Key(), Aggregate(1, 2), new ArrayBufferWriter<byte>(), null, Shard, "1", null, 1);
        var back = new MetricAggregate(AggregatorOptions.Default);
        Assert.True(DynamoDbItem.TryReadPair(item, back, out _, out _, out _, out _, out _));

        byte[] sketch = ((MemoryStream)item["sketch"].B).ToArray();
        switch (broken)
        {
            case "sketch-truncated":
                item["sketch"] = new AttributeValue { B = new MemoryStream(sketch[..^1]) };
                break;
            case "sketch-trailing":
                item["sketch"] = new AttributeValue { B = new MemoryStream([.. sketch, 0]) };
                break;
            case "dimension-not-a-string":
                item["dimensions"].M["k"] = N("1");
                break;
            case "windowStart" or "windowEnd":
                item[broken] = S("2024-05-01 12:00:00");
                break;
            default:
                item.Remove(broken);
                break;
        }

        Assert.False(DynamoDbItem.TryReadPair(item, back, out _, out _, out _, out _, out _));
    }

    [Fact]
    public void MergeStored_MissingOrInvalidSketch_IsInvalidData()
    {
        Dictionary<string, AttributeValue> item = DynamoDbItem.Build(Key(), Aggregate(1, 2), new ArrayBufferWriter<byte>(), null, Shard, "1", null, 1);
        byte[] sketch = ((MemoryStream)item["sketch"].B).ToArray();
        Assert.Equal(2, Stored(item).Count);

        item["sketch"] = new AttributeValue { B = new MemoryStream([.. sketch, 0]) };
        Assert.Throws<InvalidDataException>(() => Stored(item));
        item["sketch"] = new AttributeValue { B = new MemoryStream(sketch[..^1]) };
        Assert.Throws<InvalidDataException>(() => Stored(item));
        item.Remove("sketch");
        Assert.Throws<InvalidDataException>(() => Stored(item));
    }

    /// <summary>The item's aggregate as a write reads it (merged with nothing new).</summary>
    private static MetricAggregate Stored(Dictionary<string, AttributeValue> item) =>
        DynamoDbItem.MergeStored(item, new MetricAggregate(AggregatorOptions.Default), new MetricAggregate(AggregatorOptions.Default));

    private static PairKey Key() =>
        new("m|k=v", DynamoDbKeys.Timestamp(60_000), DynamoDbKeys.Timestamp(120_000), "m", [new("k", "v")]);

    private static MetricAggregate Aggregate(params double[] values)
    {
        var aggregate = new MetricAggregate(AggregatorOptions.Default);
        foreach (double v in values)
        {
            aggregate.Add(v);
        }

        return aggregate;
    }

    /// <summary>
    /// With <c>AWSConfigs.InitializeCollections</c> set (the SDK v3 behaviour the v4 migration guide offers), every value
    /// read back carries empty collections beside its own type: a string where marks should be has an empty <c>M</c>.
    /// Read as a map, it would mean "no marks" and every record they cover would be applied again; it is refused like
    /// a string without the empty map. The values are built as the SDK builds them then (the global flag is not set:
    /// tests run in parallel).
    /// </summary>
    [Fact]
    public void Marks_AStringWithTheEmptyMapOfInitializedCollections_IsRefusedAsNotAMap()
    {
        static AttributeValue Initialized(AttributeValue v) => new() { S = v.S, N = v.N, M = v.M ?? [], L = v.L ?? [], SS = [], NS = [], BS = [] };
        AttributeValue text = Initialized(S("49590338271490256608559692538361571095921575989136588898"));
        AttributeValue shardMarks = Initialized(new AttributeValue { M = new() { [Shard] = text } });

        foreach (string name in (string[])["wm", "wk", "rk", "pw"])
        {
            Assert.Throws<InvalidDataException>(() => Read(name, Item((name, text))));
        }

        Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetKeyWatermarks(Item(("wk", shardMarks)), Shard));
        Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetRedriveMarks(Item(("rk", shardMarks)), Shard));
        Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetPreWriteMarks(Item(("pw", shardMarks)), Shard));

        // An initialized value that is a map is still read as one, and so is an empty map of the same shape.
        AttributeValue keyMarks = Initialized(new AttributeValue { M = new() { ["pk-0"] = text } });
        Assert.Equal(text.S, DynamoDbItem.GetKeyWatermarks(Item(("wk", Initialized(new AttributeValue { M = new() { [Shard] = keyMarks } }))), Shard)!["pk-0"].S);
        Assert.Null(DynamoDbItem.GetKeyWatermarks(Item(("wk", Initialized(new AttributeValue { M = new() { [Other] = keyMarks } }))), Shard));
        Assert.False(DynamoDbItem.NotAMap(Initialized(new AttributeValue())));
    }

    private static object? Read(string name, Dictionary<string, AttributeValue> item) => name switch
    {
        "wm" => DynamoDbItem.GetWatermark(item, Shard),
        "wk" => DynamoDbItem.GetKeyWatermarks(item, Shard),
        "rk" => DynamoDbItem.GetRedriveMarks(item, Shard),
        _ => DynamoDbItem.GetPreWriteMarks(item, Shard),
    };

    private static Dictionary<string, AttributeValue> Item(params (string Name, AttributeValue Value)[] attributes) =>
        attributes.ToDictionary(a => a.Name, a => a.Value, StringComparer.Ordinal);

    private static AttributeValue M(params (string Name, AttributeValue Value)[] entries) =>
        new() { M = entries.ToDictionary(e => e.Name, e => e.Value, StringComparer.Ordinal) };

    private static AttributeValue S(string value) => new() { S = value };

    private static AttributeValue N(string value) => new() { N = value };
}
