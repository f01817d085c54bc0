using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using Analytics.Core.Testing;

namespace Analytics.Replay;

/// <summary>Runs a loaded scenario and writes every output into a directory.</summary>
internal static class ReplayRun
{
    public const string ChartFileName = "iterator-age.png";

    public static EmulationSummary Run(LoadedScenario loaded, string outDirectory, TextWriter stdout, bool writeRecords = true, bool chart = true)
    {
        Directory.CreateDirectory(outDirectory);
        var watch = Stopwatch.StartNew();
        SampleDownstream? downstream = null;
        var processes = new List<ProcessHandler>();
        StreamEmulator emulator = null!;
        Func<int, ILambdaHandler> create = loaded.Handler.Kind switch
        {
            "sample" => _ => new SampleHandler(downstream!, emulator.Clock),
            "process" => _ => Started(new ProcessHandler(loaded.Handler.Command!, emulator.Clock, loaded.Scenario.Function.MemoryMb, ScenarioLoader.ProcessInitTimeout)),
            _ => _ => new ScriptedHandler(emulator.Clock, ScenarioLoader.Rules(loaded.Handler)),
        };
        emulator = new StreamEmulator(loaded.Scenario, create);
        ProcessHandler Started(ProcessHandler process)
        {
            processes.Add(process);
            return process;
        }

        if (loaded.Handler.Kind == "sample")
        {
            downstream = new SampleDownstream(emulator.Clock, loaded.Scenario.Seed, loaded.Scenario.StartTime, loaded.Downstream);
        }

        using SampleDownstream? owned = downstream;
        var perSecond = new PerSecond(loaded.Scenario.DurationSeconds);
        EmulationSummary summary;
        try
        {
            using var files = new EmulationFiles(outDirectory, writeRecords);
            summary = emulator.Run(new Tee(files, perSecond));
        }
        finally
        {
            foreach (ProcessHandler process in processes)
            {
                process.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }

        SinkState? sinks = null;
        if (downstream is not null)
        {
            var aggregates = new ArrayBufferWriter<byte>(64 * 1024);
            var quarantine = new ArrayBufferWriter<byte>(4 * 1024);
            sinks = new SinkState(downstream.WriteAggregates(aggregates), downstream.WriteQuarantine(quarantine), downstream.DynamoDb.Counters, downstream.S3.Counters);
            File.WriteAllBytes(Path.Combine(outDirectory, "aggregates.jsonl"), aggregates.WrittenSpan.ToArray());
            File.WriteAllBytes(Path.Combine(outDirectory, "quarantine.jsonl"), quarantine.WrittenSpan.ToArray());
        }

        if (chart)
        {
            Chart.Draw(perSecond, loaded.Scenario, Path.Combine(outDirectory, ChartFileName));
        }

        watch.Stop();
        WriteSummary(stdout, loaded, summary, sinks, watch.Elapsed, outDirectory, chart);
        return summary;
    }

    private static void WriteSummary(TextWriter output, LoadedScenario loaded, EmulationSummary s, SinkState? sinks, TimeSpan wall, string directory, bool chart)
    {
        EmulatorScenario scenario = loaded.Scenario;
        var rows = new List<(string, string)>
        {
            ("scenario", $"{scenario.DurationSeconds} s virtual, {scenario.Stream.ShardCount} shard(s), seed {scenario.Seed}, handler {loaded.Handler.Kind}"),
            ("records in", N(s.RecordsIn)),
            ("puts throttled (shard write limits)", N(s.ThrottledPuts)),
            ("records processed", N(s.RecordsOut)),
            ("records to on-failure destination", N(s.RecordsToDestination)),
            ("records expired (retention)", N(s.RecordsExpired)),
            ("records not processed at the end", N(s.RecordsPending)),
            ("invocations", N(s.Invocations)),
            ("  failed (error, timeout, partial)", N(s.Errors)),
            ("  timeouts", N(s.Timeouts)),
            ("  throttled", N(s.Throttles)),
            ("  cold starts", N(s.ColdStarts)),
            ("max IteratorAge", $"{s.MaxIteratorAgeMs / 1000.0:F1} s"),
            ("max concurrency", N(s.MaxConcurrency)),
        };
        if (sinks is not null)
        {
            rows.Add(("aggregates in the table (aggregates.jsonl)", N(sinks.Aggregates)));
            rows.Add(("objects in quarantine (quarantine.jsonl)", N(sinks.Quarantined)));
            rows.Add(("DynamoDB model requests", $"{N(sinks.DynamoDb.Requests)} ({N(sinks.DynamoDb.Throttles)} throttled, {N(sinks.DynamoDb.OutageErrors)} in outages, {N(sinks.DynamoDb.ConditionalCheckFailures)} conditional check failures)"));
            rows.Add(("S3 model requests", $"{N(sinks.S3.Requests)} ({N(sinks.S3.Throttles)} throttled, {N(sinks.S3.OutageErrors)} in outages)"));
        }

        if (loaded.Handler.Kind == "process")
        {
            rows.Add(("time", "REAL for the process: each invocation runs in real time through the Runtime API host while virtual time waits; its remaining virtual budget is its real deadline"));
            rows.Add(("reproducible", "NO: the process runs in real time"));
        }
        else
        {
            rows.Add(("reproducible", s.Reproducible ? "yes: same seed and scenario give the same bytes" : "NO: compute time was measured, not modeled"));
        }

        rows.Add(("wall time", $"{wall.TotalSeconds:F2} s"));
        rows.Add(("output", directory + (chart ? " (chart: " + ChartFileName + ")" : string.Empty)));
        int width = rows.Max(r => r.Item1.Length);
        foreach ((string name, string value) in rows)
        {
            output.WriteLine($"{name.PadRight(width)}  {value}");
        }
    }

    private sealed record SinkState(int Aggregates, int Quarantined, DynamoDbModelCounters DynamoDb, S3ModelCounters S3);

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Per virtual second, over all shards: the highest ages and the total concurrency.</summary>
    internal sealed class PerSecond(int seconds) : IEmulationObserver
    {
        public double[] IteratorAgeSeconds { get; } = new double[seconds];

        public double[] OldestUnprocessedSeconds { get; } = new double[seconds];

        public double[] Concurrency { get; } = new double[seconds];

        public void OnSecond(ShardSecond metrics)
        {
            int s = metrics.Second;
            IteratorAgeSeconds[s] = Math.Max(IteratorAgeSeconds[s], Math.Max(0, metrics.IteratorAgeMs) / 1000.0);
            OldestUnprocessedSeconds[s] = Math.Max(OldestUnprocessedSeconds[s], metrics.OldestUnprocessedAgeMs / 1000.0);
            Concurrency[s] += metrics.Concurrency;
        }

        public void OnRecord(StreamRecord record)
        {
        }

        public void OnInvocation(InvocationReport invocation)
        {
        }

        public void OnDestination(DestinationRecord record)
        {
        }
    }

    private sealed class Tee(IEmulationObserver first, IEmulationObserver second) : IEmulationObserver
    {
        public void OnRecord(StreamRecord record)
        {
            first.OnRecord(record);
            second.OnRecord(record);
        }

        public void OnInvocation(InvocationReport invocation)
        {
            first.OnInvocation(invocation);
            second.OnInvocation(invocation);
        }

        public void OnDestination(DestinationRecord record)
        {
            first.OnDestination(record);
            second.OnDestination(record);
        }

        public void OnSecond(ShardSecond metrics)
        {
            first.OnSecond(metrics);
            second.OnSecond(metrics);
        }
    }
}
