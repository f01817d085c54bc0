using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Records;

public class SeriesKeyTests
{
    private static List<(string Key, string Value)> ReadDimensions(SeriesKey key)
    {
        var read = new List<(string, string)>();
        foreach ((ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) in key.Dimensions)
        {
            read.Add((Encoding.UTF8.GetString(name), Encoding.UTF8.GetString(value)));
        }

        return read;
    }

    [Fact]
    public void Dimensions_Foreach_YieldsEveryDimensionOnceSortedByKeyBytes() =>
        Prop.ForAll(SampleGenerators.Sample.ToArbitrary(), sample =>
        {
            byte[] encoded = SeriesKey.Encode(sample.Metric, sample.Dimensions);
            Assert.True(SeriesKey.TryCreate(encoded, out SeriesKey key));

            // The canonical order is the ordinal order of the keys' UTF-8 bytes, whatever order they were given in.
            var expected = sample.Dimensions
                .OrderBy(d => Encoding.UTF8.GetBytes(d.Key), Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b)))
                .Select(d => (d.Key, d.Value))
                .ToList();
            List<(string, string)> read = ReadDimensions(key);
            Assert.Equal(expected, read);
            Assert.Equal(key.DimensionCount, read.Count);
            Assert.Equal(read, ReadDimensions(key)); // a fresh walk each time: the property is not a spent enumerator
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void Dimensions_CurrentAndDeconstruction_AgreeWithMoveNext()
    {
        byte[] encoded = SeriesKey.Encode("cpu", [new("region", "eu"), new("az", "b"), new("host", "h-1")]);
        Assert.True(SeriesKey.TryCreate(encoded, out SeriesKey key));

        var byCurrent = new List<string>();
        SeriesKey.DimensionEnumerator e = key.Dimensions;
        while (e.MoveNext())
        {
            byCurrent.Add(Encoding.UTF8.GetString(e.Current.Key) + "=" + Encoding.UTF8.GetString(e.Current.Value));
        }

        Assert.Equal(["az=b", "host=h-1", "region=eu"], byCurrent);
        Assert.False(e.MoveNext());
        Assert.Equal(byCurrent, ReadDimensions(key).Select(d => d.Key + "=" + d.Value));
    }

    [Fact]
    public void Dimensions_DefaultKeyAndKeyWithoutDimensions_YieldNothing()
    {
        Assert.Empty(ReadDimensions(default));
        Assert.True(SeriesKey.TryCreate(SeriesKey.Encode("m"), out SeriesKey key));
        Assert.Empty(ReadDimensions(key));
    }

    [Fact]
    public void Dimensions_ThirtyDimensions_WalkWithoutAllocating()
    {
        byte[] encoded = SeriesKey.Encode("m", Enumerable.Range(0, 30).Select(i => new KeyValuePair<string, string>($"k{i:00}", new string('v', i))));
        int Walk()
        {
            Assert.True(SeriesKey.TryCreate(encoded, out SeriesKey key));
            int bytes = 0;
            foreach ((ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) in key.Dimensions)
            {
                bytes += name.Length + value.Length;
            }

            return bytes;
        }

        int expected = Enumerable.Range(0, 30).Sum(i => 3 + i);
        Assert.Equal(expected, Walk()); // warm up
        int bytes = 0;
        long allocated = AllocationMeasure.Least(() => bytes = Walk());
        Assert.Equal(expected, bytes);
        Assert.Equal(0, allocated);
    }
}
