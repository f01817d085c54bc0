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
