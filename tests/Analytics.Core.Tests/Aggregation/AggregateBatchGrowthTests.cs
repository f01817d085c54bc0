using System.Text;

namespace Analytics.Core.Tests;

/// <summary>
/// A fresh batch grows its storage by doubling, so filling it allocates in proportion to what it holds: a batch of
/// thousands of records or pairs (a cold start, or the first large batch) must not copy its storage once per record.
/// Allocation is deterministic, so it is asserted; the bound is what doubling guarantees, not a measured figure.
/// </summary>
/// <remarks>
/// Growing by doubling allocates less than twice the final capacity, and the final capacity is less than twice what
/// is held: under four times the bytes held. Growing by what one more item needs copies the whole storage each
/// time, n²/2 items for n, hundreds of times the bound here.
/// </remarks>
public class AggregateBatchGrowthTests
{
    private const long WindowStart = 1_714_564_800_000;

    [Fact]
    public void RegisteringManyRecordsWithDistinctKeys_AllocatesUnderFourTimesWhatTheBatchHolds()
    {
        const int Records = 1500;
        byte[][] sequences = [.. Enumerable.Range(0, Records).Select(i => Encoding.ASCII.GetBytes(BatchModel.Seq(i)))];
        byte[][] keys = [.. Enumerable.Range(0, Records).Select(i => Encoding.ASCII.GetBytes(("key-" + i).PadRight(40, '.')))];
        Assert.All(sequences, s => Assert.Equal(56, s.Length));

        int[] indexes = new int[Records];
        void Register(AggregateBatch batch)
        {
            for (int i = 0; i < Records; i++)
            {
                indexes[i] = batch.AddRecord(sequences[i], keys[i]);
            }
        }

        var warm = new AggregateBatch(AggregatorOptions.Default);
        warm.Reset(hasSampleLog: true);
        Register(warm); // compiles the path

        var batch = new AggregateBatch(AggregatorOptions.Default);
        batch.Reset(hasSampleLog: true);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Register(batch);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Held per record: its sequence number (56) and key (40); the record's (offset, length) (8) and key id (4);
        // the key's (offset, length, next) (12) and its hash table entry (hash, next, key, value: 16, and a bucket: 4).
        const long Held = Records * (56 + 40 + 8 + 4 + 12 + 20);
        Assert.True(allocated < 4 * Held, $"{allocated} bytes allocated for {Held} held");
        Assert.Equal(Enumerable.Range(0, Records), indexes);
        Assert.Equal(Records, batch.RecordCount);
        Assert.All(Enumerable.Range(0, Records), i => Assert.True(batch.RecordSequence(i).SequenceEqual(sequences[i])));
    }

    [Fact]
    public void NotingContributionsToManyNewPairs_AllocatesUnderFourTimesWhatTheBatchHolds()
    {
        const int Pairs = 2000;
        var warm = new AggregateBatch(AggregatorOptions.Default);
        Prepare(warm);
        Note(warm); // compiles the path

        var batch = new AggregateBatch(AggregatorOptions.Default);
        Prepare(batch);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Note(batch);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Held per pair: first and last record (8), the durable flag (1), first and last sample (8); per sample (two
        // per pair) the record, value and next sample (at most 24).
        const long Held = (Pairs * (8 + 1 + 8)) + (2 * Pairs * 24);
        Assert.True(allocated < 4 * Held, $"{allocated} bytes allocated for {Held} held");

        // And the log is right: pair i has the value i from record 0 and 1 from record 1; past record 0 only the 1.
        var destination = new MetricAggregate(AggregatorOptions.Default);
        byte[] afterFirst = Encoding.ASCII.GetBytes(BatchModel.Seq(0));
        for (int pair = 0; pair < Pairs; pair++)
        {
            Assert.Equal(BatchModel.Seq(0), Encoding.ASCII.GetString(batch.GetFirstSequenceNumber(pair)));
            Assert.Equal(BatchModel.Seq(1), Encoding.ASCII.GetString(batch.GetLastSequenceNumber(pair)));
            Assert.True(batch.TryGetAggregateAfter(pair, afterFirst, destination));
            Assert.Equal((1, 1.0), (destination.Count, destination.Sum));
        }

        // Two records of 2,000 pairs each: pair i (metric m{i}) gets i from record 0 and 1 from record 1.
        static void Prepare(AggregateBatch batch)
        {
            batch.Reset(hasSampleLog: true);
            batch.AddRecord(Encoding.ASCII.GetBytes(BatchModel.Seq(0)), "a"u8);
            batch.AddRecord(Encoding.ASCII.GetBytes(BatchModel.Seq(1)), "a"u8);
            for (int i = 0; i < Pairs; i++)
            {
                Assert.True(batch.Aggregator.TryGetOrAddPair(SeriesKey.Encode("m" + i, []), WindowStart, out int pair));
                Assert.Equal(i, pair);
                batch.Aggregator.AddToPair(pair, i);
                batch.Aggregator.AddToPair(pair, 1);
            }
        }

        static void Note(AggregateBatch batch)
        {
            for (int record = 0; record < 2; record++)
            {
                for (int pair = 0; pair < Pairs; pair++)
                {
                    batch.NoteContribution(pair, record, record == 0 ? pair : 1);
                }
            }
        }
    }
}
