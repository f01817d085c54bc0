using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Testing.Tests;

/// <summary>Invariants of the event source mapping, for any seed, ParallelizationFactor, key assignment and failures.</summary>
public class PropertyTests
{
    private static EmulatorScenario Scenario(int seed, int factor, bool adversarial, MappingOptions? mapping = null) => new()
    {
        Seed = seed,
        StartTime = Emulate.Start,
        DurationSeconds = 120,
        Stream = new() { ShardCount = 2 },
        Producers = [new() { RatePerSecond = 60, Schedule = [new RateStep(5, 0)], PartitionKeys = 12, Generator = RecordGenerators.Text("r{n}") }],
        Mapping = (mapping ?? new MappingOptions()) with { ParallelizationFactor = factor, BatchSize = 7 },
        Function = new() { ComputeMsPerRecord = 30, MemoryMb = 1769, TimeoutSeconds = 5 },
        KeyAssignment = adversarial ? KeyAssignment.Adversarial : KeyAssignment.Hash,
    };

    // A handler that fails in a seeded way: a record whose number is a multiple of `every` raises or is reported.
    private static Func<VirtualClock, ILambdaHandler> Flaky(int every, bool report) => clock => new DelegateHandler(async (e, _, _) =>
    {
        using var document = System.Text.Json.JsonDocument.Parse(e);
        var failures = new List<string>();
        int records = 0;
        foreach (System.Text.Json.JsonElement record in document.RootElement.GetProperty("Records").EnumerateArray())
        {
            records++;
            string text = Encoding.UTF8.GetString(record.GetProperty("kinesis").GetProperty("data").GetBytesFromBase64());
            if (int.Parse(text.AsSpan(1)) % every == 0)
            {
                if (!report)
                {
                    throw new InvalidOperationException("flaky");
                }

                failures.Add(record.GetProperty("kinesis").GetProperty("sequenceNumber").GetString()!);
            }
        }

        await Task.Delay(TimeSpan.FromMilliseconds(10 * records), clock);
        string body = "{\"batchItemFailures\":[" + string.Join(",", failures.Select(f => $"{{\"itemIdentifier\":\"{f}\"}}")) + "]}";
        return Encoding.UTF8.GetBytes(body);
    });

    private static int Factor(byte raw) => 1 + (raw % 10);

    // The records an invocation made durable: all on success, those before the lowest failure on a partial response.
    private static IEnumerable<DeliveredRecord> Processed(InvocationReport invocation) => invocation.Outcome switch
    {
        InvocationOutcome.Success => invocation.Records,
        InvocationOutcome.Partial => invocation.Records.TakeWhile(r => r.SequenceNumber != invocation.Checkpoint),
        _ => [],
    };

    [Property(MaxTest = 20)]
    public Property PerPartitionKeyOrder_IsNeverBroken(int seed, byte factor, bool adversarial, bool report)
    {
        EmulatorScenario scenario = Scenario(seed, Factor(factor), adversarial, new() { ReportBatchItemFailures = report, MaximumRetryAttempts = 2, BisectBatchOnFunctionError = !report });
        EmulationRecording run = Emulate.Run(scenario, Flaky(13, report));

        // Processed records of a key, in order of processing, have increasing sequence numbers.
        bool ordered = run.Invocations
            .SelectMany(i => Processed(i).Select(r => (i.ShardId, r.PartitionKey, Seq: System.Numerics.BigInteger.Parse(r.SequenceNumber))))
            .GroupBy(x => (x.ShardId, x.PartitionKey))
            .All(g => g.Select(x => x.Seq).Zip(g.Select(x => x.Seq).Skip(1)).All(p => p.First < p.Second));

        // No key is in two invocations of a shard that run at the same time.
        InvocationReport[] all = [.. run.Invocations];
        bool exclusive = all.All(a => all.Where(b => b.Invocation != a.Invocation && b.ShardId == a.ShardId && b.StartMs < a.EndMs && a.StartMs < b.EndMs)
            .All(b => !b.Records.Select(r => r.PartitionKey).Intersect(a.Records.Select(r => r.PartitionKey)).Any()));
        return (ordered && exclusive).Label($"ordered={ordered} exclusive={exclusive}");
    }

    [Property(MaxTest = 20)]
    public Property ARecord_IsNeverDeliveredAfterItsCheckpointPassedIt(int seed, byte factor, bool adversarial, bool report)
    {
        EmulatorScenario scenario = Scenario(seed, Factor(factor), adversarial, new() { ReportBatchItemFailures = report, MaximumRetryAttempts = 3 });
        EmulationRecording run = Emulate.Run(scenario, Flaky(11, report));
        var done = new Dictionary<string, long>();
        foreach (InvocationReport invocation in run.Invocations)
        {
            foreach (DeliveredRecord record in Processed(invocation))
            {
                done.TryAdd(record.SequenceNumber, invocation.EndMs);
            }
        }

        bool never = run.Invocations.All(i => i.Records.All(r => !done.TryGetValue(r.SequenceNumber, out long at) || i.StartMs < at));
        return never.ToProperty();
    }

    [Property(MaxTest = 20)]
    public Property AlwaysSucceeding_DeliversEveryRecordExactlyOnce(int seed, byte factor, bool adversarial)
    {
        EmulationRecording run = Emulate.Run(Scenario(seed, Factor(factor), adversarial), _ => Emulate.Succeed(), out EmulationSummary summary);
        string[] delivered = run.Invocations.SelectMany(i => i.Records).Select(r => r.SequenceNumber).ToArray();
        return (delivered.Length == run.Records.Count
                && delivered.ToHashSet().SetEquals(run.Records.Select(r => r.SequenceNumber))
                && summary.RecordsPending == 0)
            .Label($"delivered {delivered.Length} of {run.Records.Count}");
    }

    [Property(MaxTest = 20)]
    public Property UnprocessedRecords_AppearInExactlyOneDestinationRecord(int seed, byte factor, bool adversarial, bool bisect, bool report, bool byAge)
    {
        MappingOptions mapping = new()
        {
            ReportBatchItemFailures = report,
            BisectBatchOnFunctionError = bisect,
            MaximumRetryAttempts = byAge ? -1 : 1,
            MaximumRecordAgeInSeconds = byAge ? 60 : -1,
            OnFailure = OnFailureDestination.Sqs,
        };
        EmulatorScenario scenario = Scenario(seed, Factor(factor), adversarial, mapping) with { DurationSeconds = byAge ? 400 : 120 };
        EmulationRecording run = Emulate.Run(scenario, Flaky(7, report), out EmulationSummary summary);

        var processed = run.Invocations.SelectMany(Processed).Select(r => r.SequenceNumber).ToHashSet();
        var sent = run.Destination.SelectMany(d => d.SequenceNumbers).ToList();
        bool exactlyOnce = sent.Count == sent.Distinct().Count();
        bool disjoint = !sent.Any(processed.Contains);
        bool complete = run.Records.All(r => processed.Contains(r.SequenceNumber) || sent.Contains(r.SequenceNumber));
        bool counted = summary.RecordsToDestination == sent.Count && summary.RecordsPending == 0;
        return (exactlyOnce && disjoint && complete && counted).Label($"once={exactlyOnce} disjoint={disjoint} complete={complete} counted={counted}");
    }
}
