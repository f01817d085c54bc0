namespace Analytics.Core.Testing.Tests;

/// <summary>A run keeps the records it has not processed, not every record it produced.</summary>
public class RecordRetentionTests
{
    /// <summary>
    /// Two minutes at 1,000 records/s with a handler that always succeeds, run with and without an observer: at the end
    /// the emulator holds about the last second's records either way (a run without an observer once held all 120,000).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ProcessedRecords_AreLetGo_WithOrWithoutAnObserver(bool observed)
    {
        EmulatorScenario scenario = TwoMinutesAtAThousand(seed: 5, shards: 2);
        StreamEmulator emulator = null!;
        emulator = new StreamEmulator(scenario, _ => new ScriptedHandler(emulator.Clock, []));

        EmulationSummary summary = emulator.Run(observed ? new EmulationRecording() : null);

        Assert.Equal(120_000, summary.RecordsIn);
        Assert.True(summary.RecordsOut > 115_000, $"{summary.RecordsOut} records processed");
        Assert.InRange(emulator.RecordsHeld, summary.RecordsPending, 3_000);
    }

    /// <summary>
    /// A function that always times out, with Lambda's endless retries: every record stays unprocessed, and a long run
    /// went to many GB and out of memory (review: a week at 1,000 records/s). The run stops with the reason once the
    /// stream holds more than the bound (lowered here), and a function that keeps up never meets it.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AFunctionThatFallsBehindForGood_StopsTheRunAtTheBound_OneThatKeepsUpDoesNot(bool timesOut)
    {
        EmulatorScenario scenario = TwoMinutesAtAThousand(seed: 6, shards: 1);
        StreamEmulator emulator = null!;
        ScriptRule[] rules = timesOut ? [new ScriptRule(ScriptAction.SleepMs, Ms: 10_000)] : [];
        emulator = new StreamEmulator(scenario, _ => new ScriptedHandler(emulator.Clock, rules)) { MaxRecordsHeld = 20_000 };

        if (!timesOut)
        {
            Assert.Equal(120_000, emulator.Run().RecordsIn);
            return;
        }

        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => emulator.Run());
        Assert.Contains("falls behind its producers for good", e.Message, StringComparison.Ordinal);
        // Checked each second before its records: it stops in the second after the bound is passed.
        Assert.InRange(emulator.RecordsHeld, 20_001, 21_000);
    }

    /// <summary>
    /// Large records (100 KB, ten a second: within a shard's 1 MiB/s) that a function never processes: the bound on their
    /// data stops the run with the reason long before the count's (found by review: at 1 MB a record, such a run held
    /// gigabytes at a few thousand records and ended in an OutOfMemoryException with a stack trace). What the run holds
    /// is the data of the records not yet processed: with a function that keeps up, it stays small and the run ends.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void LargeRecordsAFunctionNeverProcesses_StopTheRunAtTheDataBound_OnesItKeepsUpWithDoNot(bool timesOut)
    {
        const int RecordBytes = 100_000;
        EmulatorScenario scenario = new()
        {
            Seed = 8,
            StartTime = Emulate.Start,
            DurationSeconds = 120,
            Producers = [new ProducerOptions { RatePerSecond = 10, PartitionKeys = 5, Generator = (_, _, _, _) => new byte[RecordBytes] }],
            Mapping = new MappingOptions { BatchSize = 10 },
            Function = new FunctionOptions { TimeoutSeconds = 3 },
        };
        StreamEmulator emulator = null!;
        ScriptRule[] rules = timesOut ? [new ScriptRule(ScriptAction.SleepMs, Ms: 10_000)] : [];
        emulator = new StreamEmulator(scenario, _ => new ScriptedHandler(emulator.Clock, rules)) { MaxDataBytesHeld = 30 * RecordBytes };

        if (!timesOut)
        {
            EmulationSummary summary = emulator.Run();
            Assert.Equal(1_200, summary.RecordsIn);
            Assert.InRange(emulator.DataBytesHeld, 0, 30L * RecordBytes);
            Assert.Equal(emulator.RecordsHeld * RecordBytes, emulator.DataBytesHeld);
            return;
        }

        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => emulator.Run());
        Assert.Contains("bytes of records not yet processed", e.Message, StringComparison.Ordinal);
        Assert.Contains("falls behind its producers for good", e.Message, StringComparison.Ordinal);
        // Checked each second before its records: it stops in the second after the bound is passed (ten records a second).
        Assert.InRange(emulator.DataBytesHeld, (30L * RecordBytes) + 1, 40L * RecordBytes);
        Assert.Equal(emulator.RecordsHeld * RecordBytes, emulator.DataBytesHeld);
    }

    /// <summary>Two minutes at 1,000 records/s over 50 partition keys, batches of 500 within a second.</summary>
    private static EmulatorScenario TwoMinutesAtAThousand(int seed, int shards) => new()
    {
        Seed = seed,
        StartTime = Emulate.Start,
        DurationSeconds = 120,
        Stream = new StreamOptions { ShardCount = shards },
        Producers = [new ProducerOptions { RatePerSecond = 1000, PartitionKeys = 50 }],
        Mapping = new MappingOptions { BatchSize = 500, MaximumBatchingWindowInSeconds = 1 },
    };
}
