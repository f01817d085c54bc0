using Amazon.DynamoDBv2.Model;
using static Analytics.Core.Tests.StoredItems;

namespace Analytics.Core.Tests;

/// <summary>
/// The item's destination redrive ranges <c>dr</c> (shard → partition key → list of <c>"first:last"</c>): what the
/// destination redrive wrote is read back as written, and a stored value of another shape is refused, never guessed
/// at (a range read wrongly would apply a record twice, or skip one). Until now only reached through whole redrive runs,
/// which never store a malformed value.
/// </summary>
public sealed class DestinationMarkStorageTests
{
    private const string Shard = "shardId-000000000001";
    private const string Other = "shardId-000000000002";

    /// <summary>Ranges read back in the order written; other shards' ranges are not this shard's; none is null.</summary>
    [Fact]
    public void GetDestinationMarks_ReadsThisShardsRangesInOrder()
    {
        Dictionary<string, AttributeValue> item = new(StringComparer.Ordinal)
        {
            ["dr"] = Map(
                (Shard, Map(("k0", List("20:30", "50:50")), ("k1", List("6:7")))),
                (Other, Map(("k0", List("98:99"))))),
        };

        Dictionary<string, List<(string First, string Last)>> marks = DynamoDbItem.GetDestinationMarks(item, Shard)!;

        Assert.Equal(["k0", "k1"], marks.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([("20", "30"), ("50", "50")], marks["k0"]);
        Assert.Equal([("6", "7")], marks["k1"]);
        Assert.Null(DynamoDbItem.GetDestinationMarks(item, "shardId-000000000009"));
        Assert.Null(DynamoDbItem.GetDestinationMarks(new Dictionary<string, AttributeValue>(StringComparer.Ordinal), Shard));
    }

    /// <summary>What <see cref="DynamoDbItem.ToDestinationMarks"/> stores reads back the same; a key left without ranges is not stored (an empty list would be refused when read).</summary>
    [Fact]
    public void ToDestinationMarks_ReadsBackAsWritten_AndLeavesOutAKeyWithoutRanges()
    {
        var written = new Dictionary<string, List<(string First, string Last)>>(StringComparer.Ordinal)
        {
            ["k0"] = [("20", "30"), ("41", "45")],
            ["done"] = [],
            ["k1"] = [("7", "7")],
        };

        Dictionary<string, AttributeValue> stored = DynamoDbItem.ToDestinationMarks(written);
        Dictionary<string, AttributeValue> item = new(StringComparer.Ordinal) { ["dr"] = Map((Shard, new AttributeValue { M = stored })) };
        Dictionary<string, List<(string First, string Last)>> read = DynamoDbItem.GetDestinationMarks(item, Shard)!;

        Assert.Equal(["k0", "k1"], read.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(written["k0"], read["k0"]);
        Assert.Equal(written["k1"], read["k1"]);
    }

    private const string NotAMap = "are not a map";
    private const string NotARange = "is not 'first:last' sequence numbers in order";
    private const string NotAList = "are not a non-empty list";

    private static readonly Dictionary<string, (AttributeValue Value, string Reason)> s_malformed = new(StringComparer.Ordinal)
    {
        ["the shard's value is not a map"] = (S("20:30"), NotAMap),
        ["a key's value is not a list"] = (Map(("k0", S("20:30"))), NotAList),
        ["a key's list is empty"] = (Map(("k0", new AttributeValue { L = [] })), NotAList),
        ["an entry without ':'"] = (Map(("k0", List("2030"))), NotARange),
        ["an entry without 'first'"] = (Map(("k0", List(":30"))), NotARange),
        ["an entry without 'last'"] = (Map(("k0", List("20:"))), NotARange),
        ["'first' not digits"] = (Map(("k0", List("2a:30"))), NotARange),
        ["'last' not digits"] = (Map(("k0", List("20:3-0"))), NotARange),
        ["a second ':'"] = (Map(("k0", List("20:30:40"))), NotARange),
        ["'first' after 'last'"] = (Map(("k0", List("31:30"))), NotARange),
        ["'last' longer than a sequence number"] = (Map(("k0", List("20:" + new string('1', SequenceNumber.MaxDigits + 1)))), NotARange),
        ["'first' with a leading zero"] = (Map(("k0", List("020:30"))), NotARange),
        ["an entry that is not a string"] = (Map(("k0", new AttributeValue { L = [new AttributeValue { N = "30" }] })), NotARange),
        ["one bad entry after a good one"] = (Map(("k0", List("20:30", "x:y"))), NotARange),
        ["a bad key after a good one"] = (Map(("k0", List("20:30")), ("k1", new AttributeValue { L = [] })), NotAList),
    };

    public static TheoryData<string> Malformed => [.. s_malformed.Keys];

    /// <summary>A stored shape the redrive never writes is refused with <see cref="InvalidDataException"/>, naming the shard and what is wrong.</summary>
    [Theory]
    [MemberData(nameof(Malformed))]
    public void GetDestinationMarks_OfAMalformedStoredValue_IsRefused(string malformed)
    {
        (AttributeValue value, string reason) = s_malformed[malformed];
        Dictionary<string, AttributeValue> item = new(StringComparer.Ordinal) { ["dr"] = Map((Shard, value)) };

        InvalidDataException e = Assert.Throws<InvalidDataException>(() => DynamoDbItem.GetDestinationMarks(item, Shard));
        Assert.Contains("destination redrive range", e.Message, StringComparison.Ordinal);
        Assert.Contains($"of shard {Shard} {reason}.", e.Message, StringComparison.Ordinal);
    }
}
