using System.Text;
using FsCheck;
using FsCheck.Fluent;

using Analytics.Core.Tests.Records;

namespace Analytics.Core.Tests.Sinks;

/// <summary>
/// The series texts the DynamoDB sink reuses across batches are the ones it would compute afresh, for any series and in
/// any order of lookups: slots shared by colliding series, long keys that are never kept, and repeated lookups.
/// </summary>
public class SeriesTextsTests
{
    private static (string Pk, string Metric, string Dimensions) Fresh(SeriesKey key)
    {
        var dimensions = new List<(string, string)>();
        foreach ((ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) in key.Dimensions)
        {
            dimensions.Add((Encoding.UTF8.GetString(name), Encoding.UTF8.GetString(value)));
        }

        return (DynamoDbKeys.PartitionKey(key), Encoding.UTF8.GetString(key.Metric), string.Join("\0", dimensions));
    }

    private static (string Pk, string Metric, string Dimensions) Cached(SeriesKey key)
    {
        SeriesTexts texts = SeriesTexts.Of(key);
        return (texts.Pk, texts.Metric, string.Join("\0", texts.Dimensions.Select(d => (d.Key, d.Value))));
    }

    [Fact]
    public void EveryLookup_GivesTheFreshTexts_WhateverTheCacheHolds() =>
        Prop.ForAll(SampleGenerators.Sample.ArrayOf().ToArbitrary(), samples =>
        {
            // Each series looked up twice, interleaved with the others (which may take its slot in between).
            byte[][] keys = [.. samples.Select(s => SeriesKey.Encode(s.Metric, s.Dimensions))];
            foreach (byte[] encoded in keys.Concat(keys.Reverse()))
            {
                Assert.True(SeriesKey.TryCreate(encoded, out SeriesKey key));
                Assert.Equal(Fresh(key), Cached(key));
            }
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void MoreSeriesThanSlots_AndLongKeys_StillGiveEachItsOwnTexts()
    {
        // Twice the slots: every slot is taken by at least two series in turn.
        byte[][] keys = [.. Enumerable.Range(0, 2 * SeriesTexts.Slots).Select(i => SeriesKey.Encode("m" + (i % 7), [new("host", "h-" + i)]))];
        byte[] longKey = SeriesKey.Encode("m", [new("payload", new string('x', 600))]);
        for (int round = 0; round < 2; round++)
        {
            foreach (byte[] encoded in keys.Append(longKey))
            {
                Assert.True(SeriesKey.TryCreate(encoded, out SeriesKey key));
                Assert.Equal(Fresh(key), Cached(key));
            }
        }

        Assert.True(SeriesKey.TryCreate(keys[0], out SeriesKey first));
        Assert.Same(SeriesTexts.Of(first).Pk, SeriesTexts.Of(first).Pk); // kept: the second lookup reuses the first's texts
    }
}
