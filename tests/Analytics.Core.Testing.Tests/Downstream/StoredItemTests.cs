using System.Globalization;
using System.Text;
using Amazon.DynamoDBv2.Model;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Testing.Tests;

/// <summary>The DynamoDB model's stored form of an item: what it gives back is what was put.</summary>
public sealed class StoredItemTests
{
    // Names whose ordinal order differs from a culture's ("B" before "a", "_" between them, "é" after "z").
    private static readonly string[] s_names = ["a", "B", "_x", "z", "é", "Z1", "ver", "pk", "sk", "a.b", "#n", "k" + new string('x', 40)];

    /// <summary>
    /// Property: any item (every attribute type, maps and lists nested three deep, sets in any order) reads back from
    /// its stored form equal to the item put: each attribute by name, all of them in ordinal name order, the count and
    /// the size measured when it was put, and in the SDK's types the same values as a direct conversion of the item, with
    /// names in ordinal order at every level and set members in the order put.
    /// </summary>
    [FsCheck.Xunit.Property(MaxTest = 300)]
    public Property AnyItem_ReadsBackAsPut(int seed)
    {
        var random = new Random(seed);
        Dictionary<string, DynamoValue> item = Map(random, depth: 0);
        StoredItem stored = StoredItem.From(item, DynamoValue.ItemSize(item));

        var failures = new List<string>();
        string[] ordinal = [.. item.Keys.Order(StringComparer.Ordinal)];
        if (!stored.Select(kv => kv.Key).SequenceEqual(ordinal))
        {
            failures.Add("names " + string.Join(",", stored.Select(kv => kv.Key)));
        }

        foreach ((string name, DynamoValue value) in stored)
        {
            if (!value.Equals(item[name]) || !SameSetOrder(value, item[name]))
            {
                failures.Add("enumerated " + name);
            }
        }

        foreach (string name in s_names)
        {
            bool found = stored.TryGetValue(name, out DynamoValue? value);
            if (found != item.ContainsKey(name) || (found && !value!.Equals(item[name])) || stored.ContainsKey(name) != found)
            {
                failures.Add("looked up " + name);
            }
        }

        if (stored.Count != item.Count || stored.Size != DynamoValue.ItemSize(item) || DynamoValue.ItemSize(stored) != stored.Size)
        {
            failures.Add($"count {stored.Count}/{item.Count}, size {stored.Size}/{DynamoValue.ItemSize(item)}");
        }

        if (!stored.Keys.SequenceEqual(ordinal) || stored.NestingLevels != item.Values.Select(Depth).Max())
        {
            failures.Add($"keys {string.Join(",", stored.Keys)}, levels {stored.NestingLevels}");
        }

        Dictionary<string, AttributeValue> sdk = stored.ToSdkOrdered();
        if (Describe(sdk, requireOrdinal: true) != Describe(DynamoDbModel.ToSdk(item), requireOrdinal: false))
        {
            failures.Add("sdk " + Describe(sdk, requireOrdinal: true) + " vs " + Describe(DynamoDbModel.ToSdk(item), requireOrdinal: false));
        }

        return (failures.Count == 0).Label(string.Join("; ", failures));
    }

    /// <summary>
    /// Property: the attributes of a put are encoded in ordinal name order whatever their number (the insertion sort of
    /// an item's few and the library's sort of a large map) and whatever order they come in.
    /// </summary>
    [FsCheck.Xunit.Property(MaxTest = 300)]
    public Property SortByName_IsOrdinalOrder(int seed, int salt)
    {
        var random = new Random((seed * 7919) + salt);
        int count = random.Next(0, 80);
        KeyValuePair<string, AttributeValue>[] entries = [.. Enumerable.Range(0, count)
            .Select(_ => s_names[random.Next(s_names.Length)] + random.Next(0, 50).ToString(CultureInfo.InvariantCulture))
            .Distinct(StringComparer.Ordinal)
            .Select(name => new KeyValuePair<string, AttributeValue>(name, new AttributeValue { S = name }))];
        string[] expected = [.. entries.Select(e => e.Key).Order(StringComparer.Ordinal)];
        StoredItem.SortByName(entries);
        return (entries.Select(e => e.Key).SequenceEqual(expected) && entries.All(e => e.Value.S == e.Key))
            .Label(string.Join(",", entries.Select(e => e.Key)));
    }

    /// <summary>
    /// Property: an item given in the SDK's types (a put's item on the direct path) is stored as the same item read
    /// into values would be: equal attributes, the same size, the same answer in the SDK's types, and the same bytes
    /// for the request's identity (so the fault plan draws the same).
    /// </summary>
    [FsCheck.Xunit.Property(MaxTest = 300)]
    public Property AnSdkItem_IsStoredAsTheSameItemReadIntoValues(int seed)
    {
        var random = new Random(seed);
        Dictionary<string, DynamoValue> item = Map(random, depth: 0);
        Assert.True(StoredItem.TryFromSdk(DynamoDbModel.ToSdk(item), out StoredItem? fromSdk));
        StoredItem fromValues = StoredItem.From(item, DynamoValue.ItemSize(item));

        var failures = new List<string>();
        if (fromSdk.Size != fromValues.Size || fromSdk.Count != fromValues.Count)
        {
            failures.Add($"size {fromSdk.Size}/{fromValues.Size}, count {fromSdk.Count}/{fromValues.Count}");
        }

        if (!fromSdk.Select(kv => kv.Key).SequenceEqual(fromValues.Select(kv => kv.Key)) ||
            fromSdk.Zip(fromValues).Any(p => !p.First.Value.Equals(p.Second.Value) || !SameSetOrder(p.First.Value, p.Second.Value)))
        {
            failures.Add("values");
        }

        if (Describe(fromSdk.ToSdkOrdered(), requireOrdinal: true) != Describe(fromValues.ToSdkOrdered(), requireOrdinal: true))
        {
            failures.Add("sdk answer");
        }

        if (fromSdk.NestingLevels != item.Values.Select(Depth).Max())
        {
            failures.Add("levels " + fromSdk.NestingLevels);
        }

        var tree = default(IdentityHash);
        tree.Add(item);
        var encoded = default(IdentityHash);
        encoded.Add(fromSdk);
        if (tree.Value != encoded.Value)
        {
            failures.Add("identity");
        }

        return (failures.Count == 0).Label(string.Join("; ", failures));
    }

    /// <summary>Shapes the direct path does not read (the JSON path answers them as DynamoDB does): each is refused.</summary>
    [Fact]
    public void OddSdkShapes_AreNotStoredFromTheObject()
    {
        AttributeValue[] odd =
        [
            new() { S = "a", N = "1" },
            new(),
            new() { NULL = false },
            new() { SS = [] },
            new() { SS = ["a", "a"] },
            new() { NS = ["1", "1.0"] },
            new() { BS = [new MemoryStream([1]), new MemoryStream([1])] },
            new() { L = [new AttributeValue { S = "a" }, null!] },
            new() { M = new Dictionary<string, AttributeValue> { ["x"] = new() { S = "a", BOOL = true } } },
        ];
        foreach (AttributeValue value in odd)
        {
            Assert.False(StoredItem.TryFromSdk(new Dictionary<string, AttributeValue> { ["pk"] = new() { S = "k" }, ["v"] = value }, out _));
        }

        Assert.Throws<DynamoError>(() => StoredItem.TryFromSdk(new Dictionary<string, AttributeValue> { ["n"] = new() { N = "1e500" } }, out _));
        Assert.True(StoredItem.TryFromSdk(new Dictionary<string, AttributeValue> { ["pk"] = new() { S = "k" }, ["v"] = new() { NS = ["1", "2"] } }, out StoredItem? fine));
        Assert.Equal(["1", "2"], fine.ToSdkOrdered()["v"].NS);
    }

    [Fact]
    public void ReadBinaries_CannotChangeTheStoredItem()
    {
        byte[] put = [1, 2, 3];
        var item = new Dictionary<string, DynamoValue>(StringComparer.Ordinal) { ["b"] = DynamoValue.Binary(put) };
        StoredItem stored = StoredItem.From(item, DynamoValue.ItemSize(item));

        stored["b"].Bytes![0] = 9;
        MemoryStream stream = stored.ToSdkOrdered()["b"].B;
        Assert.Throws<NotSupportedException>(() => stream.WriteByte(7));
        Assert.False(stream.TryGetBuffer(out _));

        Assert.Equal([1, 2, 3], stored["b"].Bytes);
        Assert.Equal([1, 2, 3], stored.ToSdkOrdered()["b"].B.ToArray());
        Assert.False(stored.TryGetValue("c", out _));
        Assert.Throws<KeyNotFoundException>(() => stored["c"]);
    }

    private static Dictionary<string, DynamoValue> Map(Random random, int depth)
    {
        var map = new Dictionary<string, DynamoValue>(StringComparer.Ordinal);
        int count = random.Next(depth == 0 ? 1 : 0, 7);
        for (int i = 0; i < count; i++)
        {
            map[s_names[random.Next(s_names.Length)]] = Value(random, depth);
        }

        return map;
    }

    private static DynamoValue Value(Random random, int depth)
    {
        int kind = random.Next(depth < 3 ? 10 : 8);
        return kind switch
        {
            0 => DynamoValue.String(Text(random)),
            1 => DynamoValue.FromNumber(DynamoNumber.Parse(Number(random))),
            2 => DynamoValue.Binary([.. Enumerable.Range(0, random.Next(0, 40)).Select(_ => (byte)random.Next(256))]),
            3 => DynamoValue.Boolean(random.Next(2) == 0),
            4 => DynamoValue.Null(),
            5 => DynamoValue.FromSet(DynamoType.SS, [.. Distinct(random, () => Text(random)).Select(DynamoValue.String)]),
            6 => DynamoValue.FromSet(DynamoType.NS, [.. Distinct(random, () => Number(random)).Select(n => DynamoValue.FromNumber(DynamoNumber.Parse(n)))]),
            7 => DynamoValue.FromSet(DynamoType.BS, [.. Distinct(random, () => Convert.ToBase64String([(byte)random.Next(256), (byte)random.Next(256)])).Select(b => DynamoValue.Binary(Convert.FromBase64String(b)))]),
            8 => DynamoValue.FromMap(Map(random, depth + 1)),
            _ => DynamoValue.FromList([.. Enumerable.Range(0, random.Next(0, 4)).Select(_ => Value(random, depth + 1))]),
        };
    }

    private static IEnumerable<string> Distinct(Random random, Func<string> make) =>
        Enumerable.Range(0, random.Next(1, 5)).Select(_ => make()).Distinct(StringComparer.Ordinal).ToList();

    private static readonly string[] s_textParts = ["a", "Z", "0", " ", "é", "\u00ff", "\ud83d\ude00"];

    private static string Text(Random random) =>
        random.Next(4) == 0 ? string.Empty : string.Concat(Enumerable.Range(0, random.Next(1, 12)).Select(_ => s_textParts[random.Next(s_textParts.Length)]));

    private static string Number(Random random) =>
        (random.Next(-1_000_000, 1_000_000) / Math.Pow(10, random.Next(0, 5))).ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Levels counted from the generated tree: a map or list is one more than its deepest member.</summary>
    private static int Depth(DynamoValue v) =>
        v.Map is { } map ? 1 + map.Values.Select(Depth).DefaultIfEmpty(0).Max()
        : v.List is { } list ? 1 + list.Select(Depth).DefaultIfEmpty(0).Max()
        : 1;

    private static bool SameSetOrder(DynamoValue a, DynamoValue b) =>
        a.Set is null || a.Set.Select(m => m.Text ?? Convert.ToBase64String(m.Bytes!)).SequenceEqual(b.Set!.Select(m => m.Text ?? Convert.ToBase64String(m.Bytes!)));

    /// <summary>A value in the SDK's types as text: map entries in ordinal order, lists and sets in their own order.</summary>
    private static string Describe(Dictionary<string, AttributeValue> map, bool requireOrdinal)
    {
        if (requireOrdinal && !map.Keys.SequenceEqual(map.Keys.Order(StringComparer.Ordinal)))
        {
            return "(not in ordinal order: " + string.Join(",", map.Keys) + ")";
        }

        var text = new StringBuilder("{");
        foreach (string key in map.Keys.Order(StringComparer.Ordinal))
        {
            text.Append(key).Append('=').Append(Describe(map[key], requireOrdinal)).Append(';');
        }

        return text.Append('}').ToString();
    }

    private static string Describe(AttributeValue v, bool requireOrdinal) =>
        v.S is not null ? "S:" + v.S
        : v.N is not null ? "N:" + v.N
        : v.B is not null ? "B:" + Convert.ToBase64String(v.B.ToArray())
        : v.BOOL is not null ? "BOOL:" + v.BOOL
        : v.NULL is not null ? "NULL"
        : v.M is not null ? "M:" + Describe(v.M, requireOrdinal)
        : v.L is not null ? "L:[" + string.Join(",", v.L.Select(e => Describe(e, requireOrdinal))) + "]"
        : v.SS is not null ? "SS:[" + string.Join(",", v.SS) + "]"
        : v.NS is not null ? "NS:[" + string.Join(",", v.NS) + "]"
        : v.BS is not null ? "BS:[" + string.Join(",", v.BS.Select(b => Convert.ToBase64String(b.ToArray()))) + "]"
        : "?";
}
