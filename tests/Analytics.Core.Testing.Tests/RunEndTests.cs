using System.Text;

namespace Analytics.Core.Testing.Tests;

/// <summary>What a run's observer is told when the run ends, and the files it leaves complete.</summary>
public class RunEndTests
{
    private static EmulatorScenario Small(int shards, int seconds) => new()
    {
        Seed = 3,
        StartTime = Emulate.Start,
        DurationSeconds = seconds,
        Stream = new() { ShardCount = shards },
        Producers = [new() { RatePerSecond = 400, PartitionKeys = 40, Generator = RecordGenerators.Text("a record of some length, number {n}") }],
        Mapping = new() { BatchSize = 10 },
        Function = new() { ComputeMsPerRecord = 1 },
    };

    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    [Fact]
    public void EmulationFiles_NotDisposed_AreCompleteWhenRunReturns()
    {
        // The package README once showed emulator.Run(new EmulationFiles("out")) without using: the files stopped
        // mid-line (what the file streams still buffered was lost).
        string directory = Path.Combine(Path.GetTempPath(), "run-end-" + Guid.NewGuid().ToString("N"));
        EmulatorScenario scenario = Small(shards: 3, seconds: 20);
        StreamEmulator emulator = null!;
        emulator = new StreamEmulator(scenario, _ => new ScriptedHandler(emulator.Clock, []));
        var files = new EmulationFiles(directory);
        try
        {
            EmulationSummary summary = emulator.Run(files);
            foreach (string name in (string[])["invocations.jsonl", "records.jsonl", "metrics.csv"])
            {
                string text = ReadShared(Path.Combine(directory, name));
                Assert.True(text.Length > 0, name);
                Assert.True(text.EndsWith('\n'), $"{name} ends mid-line: ...{text[^Math.Min(40, text.Length)..]}");
            }

            Assert.Equal(summary.RecordsIn, ReadShared(Path.Combine(directory, "records.jsonl")).Count(c => c == '\n'));
            string[] rows = ReadShared(Path.Combine(directory, "metrics.csv")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(EmulationFiles.MetricsHeader, rows[0]);
            Assert.Equal(scenario.DurationSeconds * scenario.Stream.ShardCount, rows.Length - 1);
            Assert.All(rows.Skip(1), r => Assert.Equal(14, r.Split(',').Length));
        }
        finally
        {
            GC.KeepAlive(files);
            files.Dispose();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void TheObserver_IsToldTheRunEnded_OnceAndLast_WithTheSummary()
    {
        var observer = new EndWatcher();
        StreamEmulator emulator = null!;
        emulator = new StreamEmulator(Small(shards: 2, seconds: 5), _ => new ScriptedHandler(emulator.Clock, []));
        EmulationSummary summary = emulator.Run(observer);
        Assert.Equal([summary], observer.Ends);
        Assert.Equal(0, observer.CallsAfterEnd);
        Assert.Equal(10, observer.Seconds);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 4)]
    public void TheSummarysInvocationFigures_AreThoseReported_AndTheRestAreInFlight(int shards, int factor)
    {
        // Invocations of 700 ms, the first of each environment after a 900 ms init: some are running when the run ends.
        EmulatorScenario scenario = Small(shards, seconds: 7) with
        {
            Mapping = new() { BatchSize = 10, ParallelizationFactor = factor },
            Function = new() { InitMs = 900, ComputeMsPerInvocation = 700, TimeoutSeconds = 3 },
        };
        EmulationRecording run = Emulate.Run(scenario, clock => new ScriptedHandler(clock, [new ScriptRule(ScriptAction.Raise, WhenData: "a record of some length, number 7")]), out EmulationSummary summary);
        Assert.Equal(run.Invocations.Count, summary.Invocations);
        Assert.Equal(run.Invocations.Count(i => i.ColdStart), summary.ColdStarts);
        Assert.Equal(run.Invocations.Count(i => i.Outcome != InvocationOutcome.Success), summary.Errors);
        Assert.Equal(run.Seconds.Sum(s => s.Invocations), summary.Invocations);
        Assert.InRange(summary.InvocationsInFlight, 1, shards * factor);

        // Invocations are numbered from 1 in order of start: the reported ones and those in flight are all of them.
        Assert.Equal(run.Invocations.Count, run.Invocations.Select(i => i.Invocation).Distinct().Count());
        Assert.All(run.Invocations, i => Assert.InRange(i.Invocation, 1, summary.Invocations + summary.InvocationsInFlight));
    }

    private sealed class EndWatcher : IEmulationObserver
    {
        public List<EmulationSummary> Ends { get; } = [];

        public int CallsAfterEnd { get; private set; }

        public int Seconds { get; private set; }

        public void OnRecord(StreamRecord record) => Called();

        public void OnInvocation(InvocationReport invocation) => Called();

        public void OnDestination(DestinationRecord record) => Called();

        public void OnSecond(ShardSecond metrics)
        {
            Called();
            Seconds++;
        }

        public void OnEnd(EmulationSummary summary) => Ends.Add(summary);

        private void Called()
        {
            if (Ends.Count > 0)
            {
                CallsAfterEnd++;
            }
        }
    }
}
