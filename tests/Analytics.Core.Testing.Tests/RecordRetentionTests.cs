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
        var scenario = new EmulatorScenario
        {
            Seed = 5,
            StartTime = Emulate.Start,
            DurationSeconds = 120,
            Stream = new StreamOptions { ShardCount = 2 },
            Producers = [new ProducerOptions { RatePerSecond = 1000, PartitionKeys = 50 }],
            Mapping = new MappingOptions { BatchSize = 500, MaximumBatchingWindowInSeconds = 1 },
        };
        StreamEmulator emulator = null!;
        emulator = new StreamEmulator(scenario, _ => new ScriptedHandler(emulator.Clock, []));

        EmulationSummary summary = emulator.Run(observed ? new EmulationRecording() : null);

        Assert.Equal(120_000, summary.RecordsIn);
        Assert.True(summary.RecordsOut > 115_000, $"{summary.RecordsOut} records processed");
        Assert.InRange(emulator.RecordsHeld, summary.RecordsPending, 3_000);
    }
}
