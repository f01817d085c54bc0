using System.Text;

namespace Analytics.Core.Tests;

/// <summary>
/// What a sink gets when it calls the batch wrongly: the documented exception, naming the parameter (and the value, for
/// an index out of range), never a NullReferenceException or IndexOutOfRangeException from inside.
/// </summary>
public class AggregateBatchArgumentTests
{
    private const long WindowStart = 1_714_564_800_000;

    /// <summary>Three pairs: m in its first window (keys a and b), n (b), m in its second window (a).</summary>
    private static AggregateBatch Batch() => ShardStream.Build("shardId-000000000000",
    [
        new(BatchModel.Seq(0), [new TestSample("m", [], WindowStart, 1)], "a"),
        new(BatchModel.Seq(1), [new TestSample("m", [], WindowStart + 1, 2), new TestSample("n", [], WindowStart, 3)], "b"),
        new(BatchModel.Seq(2), [new TestSample("m", [], WindowStart + 60_000, 4)], "a"),
    ]);

    [Fact]
    public void SplitByWatermark_NullDestination_ThrowsArgumentNull()
    {
        ArgumentNullException e = Assert.Throws<ArgumentNullException>(() => Batch().TryGetAggregateAfter(0, Encoding.ASCII.GetBytes(BatchModel.Seq(0)), null!));
        Assert.Equal("destination", e.ParamName);
    }

    [Theory]
    [InlineData("\U0001F600")]
    [InlineData("1\U0001F600")]
    [InlineData("é")]
    [InlineData("49")]
    public void SplitByKey_AWatermarkThatIsNotDigits_IsJudgedAsItsAsciiBytes(string tail)
    {
        // A watermark is compared as Encoding.ASCII gives it (a surrogate pair is one '?'); read into a buffer of one
        // byte per char, it kept a stale byte past the encoded ones (diff review). Pair 1 (n) has one key, b.
        string mark = BatchModel.Seq(0) + tail;
        var byKey = new MetricAggregate(AggregatorOptions.Default);
        var bySpan = new MetricAggregate(AggregatorOptions.Default);
        AggregateBatch batch = Batch();
        _ = batch.TryGetAggregateAfter(1, ["x" + new string('9', 40)], byKey); // fills the stack buffer with other bytes first
        bool keyed = batch.TryGetAggregateAfter(1, [mark], byKey);
        bool spanned = batch.TryGetAggregateAfter(1, Encoding.ASCII.GetBytes(mark), bySpan);
        Assert.Equal((spanned, bySpan.Count), (keyed, byKey.Count));
    }

    [Fact]
    public void SplitByKey_NullWatermarksOrDestination_ThrowsArgumentNull()
    {
        AggregateBatch batch = Batch();
        ArgumentNullException e = Assert.Throws<ArgumentNullException>(() => batch.TryGetAggregateAfter(0, (IReadOnlyList<string?>)null!, new MetricAggregate(AggregatorOptions.Default)));
        Assert.Equal("watermarks", e.ParamName);

        // Two watermarks for pair 0's two keys: only the destination is wrong.
        e = Assert.Throws<ArgumentNullException>(() => batch.TryGetAggregateAfter(0, new string?[2], null!));
        Assert.Equal("destination", e.ParamName);
    }

    [Fact]
    public void SplitByKey_WrongNumberOfWatermarks_SaysHowManyItNeeds()
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() => Batch().TryGetAggregateAfter(0, new string?[3], new MetricAggregate(AggregatorOptions.Default)));
        Assert.Equal("watermarks", e.ParamName);
        Assert.Contains("one watermark per partition key", e.Message, StringComparison.Ordinal);
        Assert.Contains("(2); got 3", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(3)]
    [InlineData(128)]
    public void GetPair_OutOfRange_NamesTheIndex(int pair)
    {
        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(() => Batch().GetPair(pair));
        Assert.Equal("pair", e.ParamName);
        Assert.Equal(pair, e.ActualValue);
    }

    // IsDurable read the pooled marks array unchecked: an index past Count answered with a mark of an earlier batch (or
    // false), one below 0 threw IndexOutOfRangeException; MarkDurable and GetPair refuse both.
    [Theory]
    [InlineData(-1)]
    [InlineData(3)]
    [InlineData(128)]
    public void IsDurable_OutOfRange_NamesTheIndex(int pair)
    {
        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(() => Batch().IsDurable(pair));
        Assert.Equal("pair", e.ParamName);
        Assert.Equal(pair, e.ActualValue);
    }

    [Fact]
    public void PartitionKeyOfANegativeIndex_ThrowsOutOfRange()
    {
        // Pair 1's keys come after pair 0's in the key view: its key -1 must not read pair 0's last key.
        AggregateBatch batch = Batch();
        foreach (int pair in new[] { 0, 1 })
        {
            ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(() => batch.GetPartitionKey(pair, -1).Length);
            Assert.Equal("key", e.ParamName);
            e = Assert.Throws<ArgumentOutOfRangeException>(() => batch.GetLastSequenceNumber(pair, -1).Length);
            Assert.Equal("key", e.ParamName);
            e = Assert.Throws<ArgumentOutOfRangeException>(() => batch.GetFirstSequenceNumber(pair, -1).Length);
            Assert.Equal("key", e.ParamName);
        }
    }
}
