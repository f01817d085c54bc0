using System.Buffers;
using Amazon.DynamoDBv2.Model;
using static Analytics.Core.Tests.StoredItems;

namespace Analytics.Core.Tests;

/// <summary>
/// The item's pre-write watermarks <c>pw</c> (shard → partition key → list of <c>"after:before"</c>): how they are read
/// back (a stored value of another shape is refused, never guessed at) and how building the next item keeps, replaces
/// or removes them.
/// </summary>
public sealed class PreWriteMarkStorageTests
{
    private const string Shard = "shardId-000000000001";
    private const string Other = "shardId-000000000002";

    /// <summary>
    /// Entries read back in the order written; an empty "before" is a key that had no watermark; a third part is the
    /// key's first record in the writing pair ("from"), absent in entries written before it was kept; other shards' entries are not
    /// this shard's.
    /// </summary>
    [Fact]
    public void GetPreWriteMarks_ReadsThisShardsEntriesInOrder()
    {
        Dictionary<string, AttributeValue> item = new(StringComparer.Ordinal)
        {
            ["pw"] = Map(
                (Shard, Map(("k0", List("30:20", "50:", "70:60:55", "90::80")), ("k1", List("7:6")))),
                (Other, Map(("k0", List("99:98"))))),
        };

        Dictionary<string, List<(string After, string? Before, string? From)>> marks = DynamoDbItem.GetPreWriteMarks(item, Shard)!;

        Assert.Equal(["k0", "k1"], marks.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([("30", "20", null), ("50", null, null), ("70", "60", "55"), ("90", null, "80")], marks["k0"]);
        Assert.Equal([("7", (string?)"6", (string?)null)], marks["k1"]);
        // Written back as read: the stored form of each entry is the one it was read from.
        Assert.Equal(["30:20", "50:", "70:60:55", "90::80"], DynamoDbItem.ToPreWriteMarks(marks)!["k0"].L.Select(e => e.S));
        Assert.Null(DynamoDbItem.GetPreWriteMarks(item, "shardId-000000000009"));
        Assert.Null(DynamoDbItem.GetPreWriteMarks(new Dictionary<string, AttributeValue>(StringComparer.Ordinal), Shard));
    }

    private const string NotAMap = "are not a map";
    private const string NotEntries = "is not 'after:before' or 'after:before:from' sequence numbers";
    private const string NotAList = "are not a non-empty list";

    private static readonly Dictionary<string, (AttributeValue Value, string Reason)> s_malformed = new(StringComparer.Ordinal)
    {
        ["the shard's value is not a map"] = (S("30:20"), NotAMap),
        ["a key's value is not a list"] = (Map(("k0", S("30:20"))), NotAList),
        ["a key's list is empty"] = (Map(("k0", new AttributeValue { L = [] })), NotAList),
        ["an entry without ':'"] = (Map(("k0", List("3020"))), NotEntries),
        ["an entry without 'after'"] = (Map(("k0", List(":20"))), NotEntries),
        ["'after' not digits"] = (Map(("k0", List("3a:20"))), NotEntries),
        ["'before' not digits"] = (Map(("k0", List("30:2-0"))), NotEntries),
        ["a third ':'"] = (Map(("k0", List("30:20:10:5"))), NotEntries),
        ["'from' empty"] = (Map(("k0", List("30:20:"))), NotEntries),
        ["'from' not digits"] = (Map(("k0", List("30:20:1x"))), NotEntries),
        ["'after' longer than a sequence number"] = (Map(("k0", List(new string('1', SequenceNumber.MaxDigits + 1) + ":20"))), NotEntries),
        ["'after' with a leading zero"] = (Map(("k0", List("030:20"))), NotEntries),
        ["'before' with a leading zero"] = (Map(("k0", List("30:020"))), NotEntries),
        ["an entry that is not a string"] = (Map(("k0", new AttributeValue { L = [new AttributeValue { N = "30" }] })), NotEntries),
        ["one bad entry after a good one"] = (Map(("k0", List("30:20", "x:y"))), NotEntries),
    };

    public static TheoryData<string> Malformed => [.. s_malformed.Keys];

    /// <summary>
    /// A stored shape the sink never writes is refused with <see cref="InvalidDataException"/>: a redrive must not
    /// decide a lost put from a value it cannot read. The message names the shard and what is wrong.
    /// </summary>
    [Theory]
    [MemberData(nameof(Malformed))]
    public void GetPreWriteMarks_OfAMalformedStoredValue_IsRefused(string malformed)
    {
        (AttributeValue value, string reason) = s_malformed[malformed];
        Dictionary<string, AttributeValue> item = new(StringComparer.Ordinal) { ["pw"] = Map((Shard, value)) };

        InvalidDataException e = Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetPreWriteMarks(item, Shard));
        Assert.Contains("pre-write watermark", e.Message, StringComparison.Ordinal);
        Assert.Contains($"of shard {Shard} {reason}.", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A write with this shard's entries replaces only them: other shards' entries stay as stored, and the previous item is not changed.</summary>
    [Fact]
    public void Build_WithThisShardsEntries_ReplacesThem_AndKeepsOtherShards()
    {
        Dictionary<string, AttributeValue> previous = Previous();

        Dictionary<string, AttributeValue> next = Build(previous, DynamoDbItem.ToPreWriteMarks(new(StringComparer.Ordinal) { ["k2"] = [("60", "40", null)], ["k3"] = [] }));

        Assert.Equal([Shard + "/k2=60:40", Other + "/k0=99:98"], Flatten(next));
        Assert.Equal([Shard + "/k0=30:20", Other + "/k0=99:98"], Flatten(previous));
    }

    /// <summary>A write that does not touch the entries (null) keeps every shard's as stored.</summary>
    [Fact]
    public void Build_WithoutEntries_KeepsThemAsStored() =>
        Assert.Equal([Shard + "/k0=30:20", Other + "/k0=99:98"], Flatten(Build(Previous(), null)));

    /// <summary>An empty map removes this shard's entries (the redrive's mark passed them); with no shard left, the item has no <c>pw</c> at all.</summary>
    [Fact]
    public void Build_WithAnEmptyMap_RemovesThisShardsEntries()
    {
        Dictionary<string, AttributeValue> previous = Previous();

        Dictionary<string, AttributeValue> without = Build(previous, DynamoDbItem.ToPreWriteMarks(new(StringComparer.Ordinal) { ["k0"] = [] }));
        previous["pw"].M.Remove(Other);
        Dictionary<string, AttributeValue> none = Build(previous, []);

        Assert.Equal([Other + "/k0=99:98"], Flatten(without));
        Assert.False(none.ContainsKey("pw"));
    }

    /// <summary>
    /// A live write changes only this shard's key watermarks: the item keeps the stored <c>wm</c>, <c>rk</c> and <c>pw</c>
    /// values themselves (a copy of each per write was most of what building an item allocated), and gets a new
    /// <c>wk</c> that leaves the stored one as it was.
    /// </summary>
    [Fact]
    public void Build_KeepsTheStoredMapsItLeavesAlone_AndCopiesTheOneItChanges()
    {
        Dictionary<string, AttributeValue> previous = Previous();
        previous["wm"] = Map((Other, S("5")));
        previous["wk"] = Map((Other, Map(("k9", S("9")))));
        previous["rk"] = Map((Other, Map(("k9", S("8")))));

        Dictionary<string, AttributeValue> next = Build(previous, null);

        Assert.Same(previous["wm"], next["wm"]);
        Assert.Same(previous["rk"], next["rk"]);
        Assert.Same(previous["pw"], next["pw"]);
        Assert.NotSame(previous["wk"], next["wk"]);
        Assert.Equal([Other], previous["wk"].M.Keys);
        Assert.Equal([Shard, Other], next["wk"].M.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("70", next["wk"].M[Shard].M["k0"].S);

        // Nothing stored and nothing to add: no empty map is written.
        Dictionary<string, AttributeValue> first = Build(new(StringComparer.Ordinal), null);
        Assert.Equal(["wk"], first.Keys.Where(k => k is "wm" or "wk" or "rk" or "pw"));
    }

    private static Dictionary<string, AttributeValue> Previous() => new(StringComparer.Ordinal)
    {
        ["pw"] = Map((Shard, Map(("k0", List("30:20")))), (Other, Map(("k0", List("99:98"))))),
    };

    private static Dictionary<string, AttributeValue> Build(Dictionary<string, AttributeValue> previous, Dictionary<string, AttributeValue>? preWrite)
    {
        var aggregate = new MetricAggregate(AggregatorOptions.Default);
        aggregate.Add(1);
        var key = new PairKey("m", DynamoDbKeys.Timestamp(60_000), DynamoDbKeys.Timestamp(120_000), "m", []);
        return DynamoDbItem.Build(key, aggregate, new ArrayBufferWriter<byte>(), previous, Shard, null, new(StringComparer.Ordinal) { ["k0"] = S("70") }, 2, null, preWrite);
    }

    private static string[] Flatten(Dictionary<string, AttributeValue> item) =>
        [.. item["pw"].M.SelectMany(shard => shard.Value.M.Select(key => shard.Key + "/" + key.Key + "=" + string.Join(",", key.Value.L.Select(e => e.S)))).Order(StringComparer.Ordinal)];

}
