using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Testing.Tests;

/// <summary>Invariants of the event source mapping, for any seed, ParallelizationFactor, key assignment and failures.</summary>
public class PropertyTests
{
    private static EmulatorScenario Scenario(int seed, int factor, bool adversarial, MappingOptions? mapping = null, bool redeliver = false) => new()
    {
        Seed = seed,
        StartTime = Emulate.Start,
        DurationSeconds = 120,
        Stream = new() { ShardCount = 2 },
        Producers = [new() { RatePerSecond = 60, Schedule = [new RateStep(5, 0)], PartitionKeys = 12, Generator = RecordGenerators.Text("r{n}") }],
        Mapping = (mapping ?? new MappingOptions()) with { ParallelizationFactor = factor, BatchSize = 7 },
        Function = new() { ComputeMsPerRecord = 30, MemoryMb = 1769, TimeoutSeconds = 5 },
        KeyAssignment = adversarial ? KeyAssignment.Adversarial : KeyAssignment.Hash,
        RedeliveryFraction = redeliver ? 0.3 : 0,
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

    // EmulatorScenario.RetryDelay: none in a third of the cases, else up to 2.55 s.
    private static TimeSpan Delay(byte raw) => raw % 3 == 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(raw * 10);

    // The records an invocation made durable: all on success, those before the lowest failure on a partial response.
    private static IEnumerable<DeliveredRecord> Processed(InvocationReport invocation) => invocation.Outcome switch
    {
        InvocationOutcome.Success when !invocation.CheckpointLost => invocation.Records, // a lost checkpoint processed nothing
        InvocationOutcome.Partial => invocation.Records.TakeWhile(r => r.SequenceNumber != invocation.Checkpoint),
        _ => [],
    };

    [Property(MaxTest = 20)]
    public Property PerPartitionKeyOrder_IsNeverBroken(int seed, byte factor, bool adversarial, bool report, bool redeliver, byte delay)
    {
        EmulatorScenario scenario = Scenario(seed, Factor(factor), adversarial, new() { ReportBatchItemFailures = report, MaximumRetryAttempts = 2, BisectBatchOnFunctionError = !report }, redeliver) with { RetryDelay = Delay(delay) };
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
    public Property ARecord_IsNeverDeliveredAfterItsCheckpointPassedIt(int seed, byte factor, bool adversarial, bool report, bool redeliver, byte delay)
    {
        EmulatorScenario scenario = Scenario(seed, Factor(factor), adversarial, new() { ReportBatchItemFailures = report, MaximumRetryAttempts = 3 }, redeliver) with { RetryDelay = Delay(delay) };
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

    /// <summary>
    /// With a lost checkpoint now and then (<see cref="EmulatorScenario.RedeliveryFraction"/> 0.3), a handler that always
    /// succeeds still has every record processed exactly once, and each record is delivered once more for each lost
    /// checkpoint of an invocation that held it, right after it, in the same order, on the same lane: never otherwise.
    /// </summary>
    [Property(MaxTest = 20)]
    public Property AlwaysSucceeding_WithLostCheckpoints_ProcessesEveryRecordOnce_AndDeliversItAgainOnlyAfterALostOne(int seed, byte factor, bool adversarial)
    {
        EmulationRecording run = Emulate.Run(Scenario(seed, Factor(factor), adversarial, redeliver: true), _ => Emulate.Succeed(), out EmulationSummary summary);
        string[] processed = run.Invocations.SelectMany(Processed).Select(r => r.SequenceNumber).ToArray();
        var deliveries = run.Invocations.SelectMany(i => i.Records).GroupBy(r => r.SequenceNumber).ToDictionary(g => g.Key, g => g.Count());
        var lostIn = run.Invocations.Where(i => i.CheckpointLost).SelectMany(i => i.Records).GroupBy(r => r.SequenceNumber).ToDictionary(g => g.Key, g => g.Count());
        bool once = processed.Length == run.Records.Count && processed.ToHashSet().SetEquals(run.Records.Select(r => r.SequenceNumber));
        bool explained = deliveries.All(d => d.Value == 1 + lostIn.GetValueOrDefault(d.Key));

        // A lost checkpoint's records come next on its lane, as they were.
        InvocationReport[] all = [.. run.Invocations];
        bool next = all.Where(i => i.CheckpointLost).All(lost =>
            all.Where(i => i.ShardId == lost.ShardId && i.Lane == lost.Lane && i.StartMs >= lost.EndMs).MinBy(i => (i.StartMs, i.Invocation)) is { } after
            && after.Records.SequenceEqual(lost.Records));
        return (once && explained && next && summary.RecordsPending == 0 && summary.Redeliveries == all.Count(i => i.CheckpointLost))
            .Label($"once={once} explained={explained} next={next} redeliveries={summary.Redeliveries}");
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

    /// <summary>
    /// The batching window, for any arrivals, window, batch size and handler time (one shard, factor 1, every invocation
    /// a success): a batch short of its size is invoked exactly when its window ends, a full one no later, and each takes
    /// every waiting record up to the batch size. The window's end is worked out here from the invocations' own times:
    /// the previous invocation's end plus the window when the batch's first record came before that (AWS: for Kinesis
    /// "the next batching window begins as soon as the previous function invocation completes"), else that record's
    /// arrival plus the window (the emulator's choice after an idle gap, and at the start).
    /// </summary>
    [Property(MaxTest = 300)]
    public Property BatchingWindow_InvokesWhenItsWindowEnds_OrWhenTheBatchIsFull(int seed, byte window, byte size, byte compute)
    {
        var random = new Random(seed);
        int windowMs = (1 + (window % 5)) * 1000;
        int batchSize = 1 + (size % 8);
        long[] arrivals = [.. Enumerable.Range(0, 1 + random.Next(30)).Select(_ => (long)random.Next(30_000)).Order()];
        EmulatorScenario scenario = new()
        {
            Seed = seed,
            StartTime = Emulate.Start,
            // Long enough for the slowest case to drain: 30 records one at a time, each 5.1 s of compute after a 5 s
            // window, is 303 s after the last arrival (a CI run found 120 s too short: a record still waiting at the end).
            DurationSeconds = 400,
            Records = [.. arrivals.Select((at, i) => ExplicitRecord.Text("k", "r" + i, at))],
            Mapping = new() { MaximumBatchingWindowInSeconds = windowMs / 1000, BatchSize = batchSize },
            Function = new() { MemoryMb = 1769, ComputeMsPerInvocation = compute * 20, TimeoutSeconds = 60 },
        };
        EmulationRecording run = Emulate.Run(scenario, _ => Emulate.Succeed());

        Dictionary<string, long> arrival = run.Records.ToDictionary(r => r.SequenceNumber, r => (r.Arrival - Emulate.Start).Ticks / TimeSpan.TicksPerMillisecond);
        var problems = new List<string>();
        int delivered = 0;
        long? previousEnd = null;
        foreach (InvocationReport invocation in run.Invocations)
        {
            long first = arrival[invocation.Records[0].SequenceNumber];
            long due = previousEnd is long end && first <= end + windowMs ? end + windowMs : first + windowMs;
            int waiting = run.Records.Skip(delivered).Count(r => arrival[r.SequenceNumber] <= invocation.StartMs);
            bool full = invocation.Records.Count == batchSize;
            if ((full && invocation.StartMs > due) || (!full && invocation.StartMs != due) || invocation.Records.Count != Math.Min(batchSize, waiting))
            {
                problems.Add($"invocation {invocation.Invocation}: {invocation.Records.Count} records at {invocation.StartMs} ms, window ends {due} ms, {waiting} waiting");
            }

            delivered += invocation.Records.Count;
            previousEnd = invocation.EndMs;
        }

        return (problems.Count == 0 && delivered == arrivals.Length).Label($"{string.Join("; ", problems)}; delivered {delivered} of {arrivals.Length}");
    }

    /// <summary>
    /// Also with the given-up records of a bisection sent together (<see cref="EmulatorScenario.ConsolidateBisectedFailures"/>):
    /// each destination record's <c>KinesisBatchInfo</c> names its first and last record and their count.
    /// </summary>
    [Property(MaxTest = 20)]
    public Property UnprocessedRecords_AppearInExactlyOneDestinationRecord(int seed, byte factor, bool adversarial, bool bisect, bool report, bool byAge, bool consolidate, byte delay)
    {
        MappingOptions mapping = new()
        {
            ReportBatchItemFailures = report,
            BisectBatchOnFunctionError = bisect,
            MaximumRetryAttempts = byAge ? -1 : 1,
            MaximumRecordAgeInSeconds = byAge ? 60 : -1,
            OnFailure = OnFailureDestination.Sqs,
        };
        EmulatorScenario scenario = Scenario(seed, Factor(factor), adversarial, mapping) with
        {
            // With a retry delay, each of a bisection's failures waits it out: up to 21 failing records per shard, each
            // failed up to about 8 times, at up to 2.55 s each, before the stream drains.
            DurationSeconds = (byAge ? 400 : 120) + (Delay(delay) > TimeSpan.Zero ? 600 : 0),
            ConsolidateBisectedFailures = consolidate,
            RetryDelay = Delay(delay),
        };
        EmulationRecording run = Emulate.Run(scenario, Flaky(7, report), out EmulationSummary summary);

        var processed = run.Invocations.SelectMany(Processed).Select(r => r.SequenceNumber).ToHashSet();
        var sent = run.Destination.SelectMany(d => d.SequenceNumbers).ToList();
        bool exactlyOnce = sent.Count == sent.Distinct().Count();
        bool disjoint = !sent.Any(processed.Contains);
        bool complete = run.Records.All(r => processed.Contains(r.SequenceNumber) || sent.Contains(r.SequenceNumber));
        bool counted = summary.RecordsToDestination == sent.Count && summary.RecordsPending == 0;
        bool described = run.Destination.All(d =>
        {
            using var json = System.Text.Json.JsonDocument.Parse(d.Json);
            System.Text.Json.JsonElement info = json.RootElement.GetProperty("KinesisBatchInfo");
            return info.GetProperty("batchSize").GetInt32() == d.SequenceNumbers.Count
                && info.GetProperty("startSequenceNumber").GetString() == d.SequenceNumbers[0]
                && info.GetProperty("endSequenceNumber").GetString() == d.SequenceNumbers[^1];
        });
        return (exactlyOnce && disjoint && complete && counted && described).Label($"once={exactlyOnce} disjoint={disjoint} complete={complete} counted={counted} described={described}");
    }

    // Source: "the payload limit of 6 MB", for every event of a tumbling window: records of up to about 1 MB, a state
    // the function grows to up to about 1 MB, and partial responses whose retried rest carries that state (found by
    // review: the rest was not cut again and a 6.3 MB event was sent); or, in two thirds of the runs, a state of 1.1 to
    // 5.7 MB, which ends the window early, before the rest is retried (found by review: carried into the retry, it made an
    // event of 6.5 MB). Every record is still processed, once and in order, with a handler that fails each record once.
    [Property(MaxTest = 25)]
    public Property WindowEvents_NeverPass6MiB_AndEveryRecordIsProcessedInOrder(int seed)
    {
        // Sizes from the seed, not from FsCheck's small early values: batches near the limit are the point.
        var random = new Random(seed);
        // Up to about 1 MB (the window never ends early), or past 1 MB (it ends after every invocation), in a third of
        // the runs past 5 MB, where one record and the state no longer fit one event.
        int stateBytes = random.Next(3) switch
        {
            0 => random.Next(1_020_000),
            1 => 1_100_000 + random.Next(3_900_000),
            _ => 5_000_000 + random.Next(700_000),
        };
        int recordBytes = 100_000 + random.Next(900_000); // up to about 1 MB (base64 in the event: about 1.3 MB)
        ExplicitRecord[] records = [.. Enumerable.Range(0, 3 + random.Next(7)).Select(i =>
        {
            byte[] data = new byte[(recordBytes / 2) + random.Next((recordBytes / 2) + 1)];
            Array.Fill(data, (byte)('a' + i));
            return new ExplicitRecord("k" + (i % 2), data, i * 100);
        })];
        EmulatorScenario scenario = new()
        {
            Seed = seed,
            StartTime = Emulate.Start,
            DurationSeconds = 300,
            Stream = new() { WriteBytesPerSecond = int.MaxValue },
            Records = records,
            Mapping = new() { TumblingWindowInSeconds = 900, ReportBatchItemFailures = true, MaximumBatchingWindowInSeconds = 5, BatchSize = 100 },
            Function = new() { TimeoutSeconds = 60 },
        };
        string state = "{\"s\":\"" + new string('x', stateBytes) + "\"}";
        var sizes = new List<int>();
        var failedOnce = new HashSet<string>();
        var processed = new List<string>();
        EmulationRecording run = Emulate.Run(scenario, _ => new DelegateHandler((e, _, _) =>
        {
            sizes.Add(e.Length);
            using var document = System.Text.Json.JsonDocument.Parse(e);
            string[] sequences = [.. document.RootElement.GetProperty("Records").EnumerateArray().Select(r => r.GetProperty("kinesis").GetProperty("sequenceNumber").GetString()!)];
            // The first invocation fails its first record (its whole batch is retried with the grown state); later ones
            // fail a record not failed before, at a random place, or none.
            int fail = sizes.Count == 1 ? 0 : random.Next(2) == 0 ? -1 : Array.FindIndex(sequences, random.Next(sequences.Length), q => !failedOnce.Contains(q));
            if (fail >= 0)
            {
                failedOnce.Add(sequences[fail]);
            }

            processed.AddRange(fail >= 0 ? sequences[..fail] : sequences);
            string failures = fail >= 0 ? $"{{\"itemIdentifier\":\"{sequences[fail]}\"}}" : string.Empty;
            return Task.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes($"{{\"state\":{state},\"batchItemFailures\":[{failures}]}}"));
        }));

        bool small = sizes.All(size => size <= LambdaJsonLimit);
        bool exact = processed.SequenceEqual(run.Records.Select(r => r.SequenceNumber));
        return (small && exact).Label($"largest event {sizes.DefaultIfEmpty().Max():N0} bytes; processed {processed.Count} of {run.Records.Count}, in order: {exact}");
    }

    private const int LambdaJsonLimit = 6 * 1024 * 1024;
}
