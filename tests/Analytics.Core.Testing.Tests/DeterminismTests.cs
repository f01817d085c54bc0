using System.Text;

namespace Analytics.Core.Testing.Tests;

/// <summary>Same seed and scenario, same bytes: a concurrent scenario run twice writes identical files.</summary>
public class DeterminismTests
{
    private static EmulatorScenario Concurrent(int seed) => new()
    {
        Seed = seed,
        StartTime = Emulate.Start,
        DurationSeconds = 90,
        Stream = new() { ShardCount = 3 },
        Producers =
        [
            new() { RatePerSecond = 120, Schedule = [new RateStep(20, 400), new RateStep(40, 50)], PartitionKeys = 40, Generator = RecordGenerators.WithPoison(RecordGenerators.Text("ok {n}"), 0.01, "boom") },
        ],
        Records = [ExplicitRecord.Text("k", "slow", 10_000)],
        Mapping = new()
        {
            ParallelizationFactor = 4,
            BatchSize = 25,
            BisectBatchOnFunctionError = true,
            ReportBatchItemFailures = true,
            MaximumRetryAttempts = 2,
            OnFailure = OnFailureDestination.S3,
        },
        Function = new() { TimeoutSeconds = 2, InitMs = 300, ComputeMsPerRecord = 3, ReservedConcurrency = 9 },
        KeyAssignment = KeyAssignment.Adversarial,
    };

    private static Dictionary<string, byte[]> RunToFiles(EmulatorScenario scenario)
    {
        string directory = Path.Combine(Path.GetTempPath(), "emu-det-" + Guid.NewGuid().ToString("N"));
        try
        {
            StreamEmulator emulator = null!;
            emulator = new StreamEmulator(scenario, _ => new ScriptedHandler(
                emulator.Clock,
                [
                    new ScriptRule(ScriptAction.SleepMs, WhenData: "slow", Ms: 5000),
                    new ScriptRule(ScriptAction.Raise, WhenData: "boom"),
                    new ScriptRule(ScriptAction.SleepMs, Ms: 40),
                ]));
            using (var files = new EmulationFiles(directory))
            {
                emulator.Run(files);
            }

            return Directory.GetFiles(directory).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void SameSeedAndScenario_GiveByteIdenticalOutputs()
    {
        Dictionary<string, byte[]> first = RunToFiles(Concurrent(42));
        Dictionary<string, byte[]> second = RunToFiles(Concurrent(42));

        Assert.Equal(["destination.jsonl", "invocations.jsonl", "metrics.csv", "records.jsonl"], first.Keys.Order());
        foreach ((string name, byte[] bytes) in first)
        {
            Assert.True(bytes.AsSpan().SequenceEqual(second[name]), $"{name} differs between runs");
        }

        // The scenario exercised what can break determinism: concurrency, timeouts, bisection, throttles, destinations.
        string invocations = Encoding.UTF8.GetString(first["invocations.jsonl"]);
        Assert.Contains("\"outcome\":\"timeout\"", invocations);
        Assert.Contains("\"outcome\":\"error\"", invocations);
        Assert.Contains("\"lane\":3", invocations);
        Assert.NotEmpty(first["destination.jsonl"]);
    }

    /// <summary>
    /// Redelivery after success (<see cref="EmulatorScenario.RedeliveryFraction"/>) draws from a sequence of its own: a
    /// run with it is byte-reproducible, produces the same records as the run without it, and its invocations are the
    /// same up to the first lost checkpoint.
    /// </summary>
    [Fact]
    public void Redelivery_IsReproducible_AndChangesNothingBeforeTheFirstLostCheckpoint()
    {
        EmulatorScenario redelivering = Concurrent(42) with { RedeliveryFraction = 0.2 };
        Dictionary<string, byte[]> first = RunToFiles(redelivering);
        Dictionary<string, byte[]> second = RunToFiles(redelivering);
        Dictionary<string, byte[]> without = RunToFiles(Concurrent(42));
        foreach ((string name, byte[] bytes) in first)
        {
            Assert.True(bytes.AsSpan().SequenceEqual(second[name]), $"{name} differs between runs");
        }

        Assert.True(first["records.jsonl"].AsSpan().SequenceEqual(without["records.jsonl"]));
        string[] lines = Encoding.UTF8.GetString(first["invocations.jsonl"]).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] linesWithout = Encoding.UTF8.GetString(without["invocations.jsonl"]).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int lost = Array.FindIndex(lines, l => l.Contains("\"checkpointLost\":true", StringComparison.Ordinal));
        Assert.True(lost > 0, "no checkpoint was lost");
        Assert.DoesNotContain(linesWithout, l => l.Contains("checkpointLost", StringComparison.Ordinal));
        Assert.Equal(linesWithout[..lost], lines[..lost]);
        static string Head(string line) => line[..line.IndexOf("\"checkpoint\":", StringComparison.Ordinal)];
        Assert.Equal(Head(linesWithout[lost]), Head(lines[lost])); // the same invocation, a success in both
        Assert.Contains("\"outcome\":\"success\",\"checkpoint\":null,\"checkpointLost\":true,", lines[lost], StringComparison.Ordinal);
    }

    [Fact]
    public void AnotherSeed_GivesOtherOutputs()
    {
        Assert.False(RunToFiles(Concurrent(1))["records.jsonl"].AsSpan().SequenceEqual(RunToFiles(Concurrent(2))["records.jsonl"]));
    }
}
