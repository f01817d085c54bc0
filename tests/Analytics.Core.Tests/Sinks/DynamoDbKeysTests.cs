using System.Globalization;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests;

public class DynamoDbKeysTests
{
    private static readonly Gen<string> s_text =
        Gen.Elements('a', 'b', '|', '=', '\\', 'é', ' ').ArrayOf().Select(c => new string(c));

    private static readonly Gen<(string Metric, Dictionary<string, string> Dimensions)> s_series =
        from metric in s_text.Where(s => s.Length > 0)
        from dims in Gen.Zip(s_text, s_text).ListOf().Select(l => l.Take(5).ToList())
        select (metric, dims.GroupBy(d => d.Item1, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Item2, StringComparer.Ordinal));

    [Fact]
    public void PartitionKey_ReadableSeries_UnescapesBackToMetricAndSortedDimensions() =>
        Prop.ForAll(s_series.ToArbitrary(), series =>
        {
            string pk = PartitionKeyOf(series.Metric, series.Dimensions);
            (string metric, List<KeyValuePair<string, string>> dims) = Unescape(pk);
            return metric == series.Metric &&
                   dims.SequenceEqual(series.Dimensions.OrderBy(d => Encoding.UTF8.GetBytes(d.Key), ByteOrder.Instance));
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void PartitionKey_TwoSeries_EqualOnlyWhenSeriesKeysAreEqual() =>
        Prop.ForAll(Gen.Two(s_series).ToArbitrary(), pair =>
        {
            byte[] a = SeriesKey.Encode(pair.Item1.Metric, pair.Item1.Dimensions);
            byte[] b = SeriesKey.Encode(pair.Item2.Metric, pair.Item2.Dimensions);
            return (PartitionKeyOf(a) == PartitionKeyOf(b)) == a.AsSpan().SequenceEqual(b);
        }).QuickCheckThrowOnFailure();

    [Theory]
    [InlineData("a|k=v", "", "", "a", "k", "v")]
    [InlineData("a", "k=x", "v", "a", "k", "x=v")]
    [InlineData("a\\", "k", "v", "a", "\\k", "v")]
    public void PartitionKey_SeparatorsInsideNames_DoNotCollide(string metricA, string keyA, string valueA, string metricB, string keyB, string valueB)
    {
        Dictionary<string, string> dimsA = keyA.Length == 0 && valueA.Length == 0 ? [] : new() { [keyA] = valueA };
        string a = PartitionKeyOf(metricA, dimsA);
        string b = PartitionKeyOf(metricB, new() { [keyB] = valueB });

        Assert.NotEqual(a, b);
    }

    [Fact]
    public void PartitionKey_SeriesTooLongForReadableForm_IsHashedUnderTheLimitAndStillDistinct()
    {
        var dims = Enumerable.Range(0, SeriesKey.MaxDimensions).ToDictionary(i => "dimension" + i, i => new string('v', SeriesKey.MaxDimensionValueBytes));
        var other = new Dictionary<string, string>(dims) { ["dimension29"] = new string('v', SeriesKey.MaxDimensionValueBytes - 1) + "w" };

        string a = PartitionKeyOf("latency|ms", dims);
        string b = PartitionKeyOf("latency|ms", other);

        Assert.InRange(Encoding.UTF8.GetByteCount(a), 1, DynamoDbKeys.MaxPartitionKeyBytes);
        Assert.StartsWith("latency\\|ms|\\#sha256:", a);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void PartitionKey_LongestReadableForm_StaysReadable()
    {
        // "m|k=" + 1024 + "|l=" + 1017 = 2048 bytes: the longest form that is kept readable.
        var dims = new Dictionary<string, string> { ["k"] = new string('v', 1024), ["l"] = new string('w', 1024 - 7) };
        string pk = PartitionKeyOf("m", dims);

        Assert.Equal(DynamoDbKeys.MaxPartitionKeyBytes, Encoding.UTF8.GetByteCount(pk));
        Assert.DoesNotContain("sha256", pk);
    }

    [Fact]
    public void Timestamp_StringOrder_IsTimeOrder() =>
        Prop.ForAll(Gen.Two(Gen.Choose(0, int.MaxValue).Select(x => (long)x * 977)).ToArbitrary(), t =>
        {
            string a = DynamoDbKeys.Timestamp(t.Item1);
            string b = DynamoDbKeys.Timestamp(t.Item2);
            return Math.Sign(string.CompareOrdinal(a, b)) == Math.Sign(t.Item1.CompareTo(t.Item2)) &&
                   DateTimeOffset.Parse(a, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds() == t.Item1;
        }).QuickCheckThrowOnFailure();

    /// <summary>
    /// Property: in any order of calls, repeats and values that share a slot of the thread's recent timestamps included,
    /// each timestamp is the text of its own instant (parsed back independently), never another's.
    /// </summary>
    [Fact]
    public void Timestamp_InAnyOrderOfCalls_IsItsOwnInstant() =>
        Prop.ForAll(Gen.ListOf(Gen.Choose(0, 40).Select(x => 1_700_000_000_000L + (x * 60_000L))).ToArbitrary(), instants =>
            instants.All(ms => DateTimeOffset.ParseExact(DynamoDbKeys.Timestamp(ms), "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).ToUnixTimeMilliseconds() == ms))
        .QuickCheckThrowOnFailure();

    private static string PartitionKeyOf(string metric, Dictionary<string, string> dimensions) =>
        PartitionKeyOf(SeriesKey.Encode(metric, dimensions));

    private static string PartitionKeyOf(byte[] encoded)
    {
        Assert.True(SeriesKey.TryCreate(encoded, out SeriesKey key));
        return DynamoDbKeys.PartitionKey(key);
    }

    /// <summary>An independent reader of the readable form: split on unescaped separators, drop the escapes.</summary>
    private static (string Metric, List<KeyValuePair<string, string>> Dimensions) Unescape(string pk)
    {
        var parts = new List<StringBuilder> { new() };
        var separators = new List<char>();
        for (int i = 0; i < pk.Length; i++)
        {
            char c = pk[i];
            if (c == '\\')
            {
                parts[^1].Append(pk[++i]);
            }
            else if (c is '|' or '=')
            {
                separators.Add(c);
                parts.Add(new StringBuilder());
            }
            else
            {
                parts[^1].Append(c);
            }
        }

        var dims = new List<KeyValuePair<string, string>>();
        for (int i = 1; i < parts.Count; i += 2)
        {
            Assert.Equal('|', separators[i - 1]);
            Assert.Equal('=', separators[i]);
            dims.Add(new(parts[i].ToString(), parts[i + 1].ToString()));
        }

        return (parts[0].ToString(), dims);
    }

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
