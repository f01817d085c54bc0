using System.Text;

namespace Analytics.Core.Tests;

/// <summary>
/// The per-shard spill marker (<see cref="SpillMarker"/>): where it lives, how two spills' markers merge, its JSON form,
/// what a body that is not a marker reads as, and which live writes it asks to keep their pre-write watermark.
/// </summary>
public sealed class SpillMarkerTests
{
    private const string Arn = "arn:aws:kinesis:us-east-1:123456789012:stream/metrics";
    private const string Shard = "shardId-000000000003";

    /// <summary>The spill sink writes the marker at <c>Key</c>, the redrive finds it with <c>KeyBeside</c> from a spill object's key: both must name the same object, with or without a prefix.</summary>
    [Theory]
    [InlineData("spill")]
    [InlineData("/spill/deep/")]
    [InlineData("")]
    public void KeyBesideASpillObject_IsTheShardsMarkerKey(string prefix)
    {
        string spillObject = SpillObject.Key(prefix, Arn, Shard, TestEvents.Seq(5));

        Assert.Equal(SpillMarker.Key(prefix, Arn, Shard), SpillMarker.KeyBeside(spillObject));
        Assert.Equal(prefix.Trim('/') is { Length: > 0 } p ? p + "/metrics/" + Shard + "/unresolved.marker" : "metrics/" + Shard + "/unresolved.marker", SpillMarker.Key(prefix, Arn, Shard));
    }

    /// <summary>Sequence numbers differ in length: the merge keeps the numerically highest, not the lexically highest.</summary>
    [Theory]
    [InlineData("999", "1000", "1000")]
    [InlineData("1000", "999", "1000")]
    [InlineData("49590338271490256608559692538361571095921575989136588898", "9", "49590338271490256608559692538361571095921575989136588898")]
    public void Merge_KeepsTheNumericallyHighestLast(string existing, string added, string expected)
    {
        SpillMarker merged = SpillMarker.Merge(new SpillMarker(existing, new HashSet<string> { "w1" }), added, ["w2"]);

        Assert.Equal(expected, merged.Last);
        Assert.Equal(["w1", "w2"], merged.Windows!.Order(StringComparer.Ordinal));
    }

    /// <summary>No marker yet: the spill's own last and windows, deduplicated.</summary>
    [Fact]
    public void Merge_WithNoExistingMarker_IsTheSpillsOwn()
    {
        SpillMarker merged = SpillMarker.Merge(null, "42", ["w2", "w1", "w2"]);

        Assert.Equal("42", merged.Last);
        Assert.Equal(["w1", "w2"], merged.Windows!.Order(StringComparer.Ordinal));
    }

    /// <summary>A marker for every window never narrows to the windows of a later spill.</summary>
    [Fact]
    public void Merge_OfAnAllWindowsMarker_StaysAllWindows()
    {
        SpillMarker merged = SpillMarker.Merge(new SpillMarker("10", null), "20", ["w1"]);

        Assert.Equal(new SpillMarker("20", null), merged);
    }

    /// <summary>Past <see cref="SpillMarker.MaxWindows"/> windows the marker covers every window (it stays small); exactly at it, it lists them.</summary>
    [Fact]
    public void Merge_PastMaxWindows_BecomesAllWindows()
    {
        var existing = new SpillMarker("10", new HashSet<string>(Enumerable.Range(0, SpillMarker.MaxWindows - 1).Select(i => "w" + i)));

        SpillMarker atBound = SpillMarker.Merge(existing, "11", ["x"]);
        SpillMarker over = SpillMarker.Merge(atBound, "12", ["y"]);

        Assert.Equal(SpillMarker.MaxWindows, atBound.Windows!.Count);
        Assert.Null(over.Windows);
        Assert.Equal("12", over.Last);
    }

    /// <summary>What the spill sink writes reads back as the same marker, windows and "all windows" alike.</summary>
    [Fact]
    public void ToJson_ThenRead_RoundTrips()
    {
        var listed = new SpillMarker(TestEvents.Seq(77), new HashSet<string> { "2024-05-01T12:01:00.000Z", "2024-05-01T12:00:00.000Z" });
        var all = new SpillMarker(TestEvents.Seq(78), null);

        SpillMarker listedBack = SpillMarker.Read(listed.ToJson());
        SpillMarker allBack = SpillMarker.Read(all.ToJson());

        Assert.Equal(listed.Last, listedBack.Last);
        Assert.Equal(listed.Windows!.Order(StringComparer.Ordinal), listedBack.Windows!.Order(StringComparer.Ordinal));
        Assert.Equal(all, allBack);
        Assert.Equal(
            "{\"format\":\"analytics.core.spill-marker/1\",\"last\":\"" + TestEvents.Seq(77) + "\",\"windows\":[\"2024-05-01T12:00:00.000Z\",\"2024-05-01T12:01:00.000Z\"]}",
            Encoding.UTF8.GetString(listed.ToJson()));
    }

    /// <summary>A body that is not a marker reads as the safe one (every window, above any sequence number), never as a narrower marker or an exception.</summary>
    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{\"format\":\"analytics.core.spill-marker/2\",\"last\":\"5\",\"windows\":[\"w\"]}")]
    [InlineData("{\"last\":\"5\",\"windows\":[\"w\"]}")]
    [InlineData("{\"format\":\"analytics.core.spill-marker/1\",\"last\":\"5x\",\"windows\":[\"w\"]}")]
    [InlineData("{\"format\":\"analytics.core.spill-marker/1\",\"last\":\"\",\"windows\":[\"w\"]}")]
    [InlineData("{\"format\":\"analytics.core.spill-marker/1\",\"last\":5,\"windows\":[\"w\"]}")]
    [InlineData("{\"format\":\"analytics.core.spill-marker/1\",\"last\":\"-5\",\"windows\":[\"w\"]}")]
    [InlineData("{\"format\":\"analytics.core.spill-marker/1\",\"last\":\"05\",\"windows\":[\"w\"]}")]
    [InlineData("{\"format\":\"analytics.core.spill-marker/1\",\"last\":\"5\",\"windows\":[\"w\"]} {}")]
    [InlineData("{\"format\":\"analytics.core.spill-marker/1\",\"last\":\"5\",\"windows\":[\"w\"]}x")]
    [InlineData("{\"format\":\"analytics.core.spill-marker/1\",\"last\":\"5\",\"windows\":[\"w\"]")]
    public void Read_OfABodyThatIsNotAMarker_IsUnreadable(string body)
    {
        SpillMarker read = SpillMarker.Read(Encoding.UTF8.GetBytes(body));

        Assert.Same(SpillMarker.Unreadable, read);
        Assert.Null(read.Windows);
        Assert.True(read.Applies("any-window", TestEvents.Seq(9_999_999)));
    }

    /// <summary>A marker applies to a write of a listed window (any window when it lists none) whose key had no watermark or one at or below last, compared as numbers.</summary>
    [Theory]
    [InlineData("w1", null, true, true)]
    [InlineData("w1", "1000", true, true)]
    [InlineData("w1", "999", true, true)]
    [InlineData("w1", "1001", false, false)]
    [InlineData("w1", "10000", false, false)]
    [InlineData("w2", null, false, true)]
    [InlineData("w2", "5", false, true)]
    [InlineData("w2", "1001", false, false)]
    public void Applies_ToListedWindows_UpToLast(string window, string? before, bool listed, bool allWindows)
    {
        Assert.Equal(listed, new SpillMarker("1000", new HashSet<string> { "w1" }).Applies(window, before));
        Assert.Equal(allWindows, new SpillMarker("1000", null).Applies(window, before));
    }
}
