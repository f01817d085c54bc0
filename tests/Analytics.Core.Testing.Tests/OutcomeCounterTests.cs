using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// What the end of an invocation counts: failed invocations and timeouts (Lambda's Errors metric plus the emulator's
/// partial responses, docs/emulator.md "Invocations, errors (error, timeout or partial response), timeouts"), records
/// checkpointed as processed, and which records are still unprocessed; per shard and second and in the totals.
/// </summary>
public class OutcomeCounterTests
{
    // Source: docs/emulator.md (metrics.csv and the summary): errors count every failed invocation (error, timeout or
    // partial response), timeouts the ones that ran past their timeout; and the ESM rule "MaximumRetryAttempts N gives
    // N + 1 invocations" (EsmRuleTests). Four batches, one of each outcome, each retried once when it fails.
    [Fact]
    public void ErrorsAndTimeouts_CountEachFailedInvocation_PerSecondAndInTotal()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 60,
            Records =
            [
                ExplicitRecord.Text("k", "ok", 0),
                ExplicitRecord.Text("k", "boom", 10_000),
                ExplicitRecord.Text("k", "slow", 20_000),
                ExplicitRecord.Text("k", "part", 30_000),
            ],
            Mapping = new() { MaximumRetryAttempts = 1, ReportBatchItemFailures = true },
            Function = new() { TimeoutSeconds = 2 },
        };
        EmulationRecording run = Emulate.Run(
            scenario,
            clock => new ScriptedHandler(clock, [
                new ScriptRule(ScriptAction.Raise, WhenData: "boom"),
                new ScriptRule(ScriptAction.SleepMs, WhenData: "slow", Ms: 5_000),
                new ScriptRule(ScriptAction.Report, WhenData: "part"),
            ]),
            out EmulationSummary summary);

        // ok: 1 success; boom: 2 errors; slow: 2 timeouts; part: 2 partial responses.
        Assert.Equal(
            [InvocationOutcome.Success, InvocationOutcome.Error, InvocationOutcome.Error, InvocationOutcome.Timeout, InvocationOutcome.Timeout, InvocationOutcome.Partial, InvocationOutcome.Partial],
            run.Invocations.Select(i => i.Outcome));
        Assert.Equal(7, summary.Invocations);
        Assert.Equal(6, summary.Errors);
        Assert.Equal(2, summary.Timeouts);
        Assert.Equal(6, run.Seconds.Sum(s => s.Errors));
        Assert.Equal(2, run.Seconds.Sum(s => s.Timeouts));

        // Each second counts the failed invocations that ended in it: the two timeouts end 2 s apart, at 22 s and 24 s.
        Assert.Equal([22, 24], run.Seconds.Where(s => s.Timeouts > 0).Select(s => s.Second));
        Assert.All(run.Seconds.Where(s => s.Timeouts > 0), s => Assert.Equal((1, 1), (s.Timeouts, s.Errors)));
        Assert.Equal(2, run.Seconds.Single(s => s.Second == 10).Errors);
        Assert.Equal(2, run.Seconds.Single(s => s.Second == 30).Errors);
        Assert.Equal(0, run.Seconds.Single(s => s.Second == 0).Errors);

        // The summary's maximum iterator age is the largest any invocation ended with: at least the second timeout's,
        // which ends 4 s after "slow" arrived.
        Assert.Equal(run.Invocations.Max(i => i.IteratorAgeMs), summary.MaxIteratorAgeMs);
        Assert.True(summary.MaxIteratorAgeMs >= 4_000, $"max iterator age {summary.MaxIteratorAgeMs} ms");
    }

    // Source: "Lambda checkpoints to the highest sequence number of a batch only when the batch is a complete success"
    // and, for a partial response, "Lambda uses the record with the lowest sequence number as the checkpoint": the
    // records before the lowest failure are processed, the rest is retried (here MaximumRetryAttempts 0 gives it up).
    [Fact]
    public void RecordsOut_CountsTheRecordsBeforeTheCheckpoint_PerSecondAndInTotal()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 10,
            Records =
            [
                ExplicitRecord.Text("k", "a", 0),
                ExplicitRecord.Text("k", "b", 0),
                ExplicitRecord.Text("k", "c", 0),
                ExplicitRecord.Text("k", "d", 0),
                ExplicitRecord.Text("k", "e", 5_000),
                ExplicitRecord.Text("k", "f", 5_000),
            ],
            Mapping = new() { MaximumRetryAttempts = 0, ReportBatchItemFailures = true, OnFailure = OnFailureDestination.Sqs },
        };
        EmulationRecording run = Emulate.Run(
            scenario,
            clock => new ScriptedHandler(clock, [new ScriptRule(ScriptAction.Report, WhenData: "c")]),
            out EmulationSummary summary);

        // Second 0: a, b processed, c (and d after it) retried from c and given up; second 5: e, f processed.
        Assert.Equal([(0, 2, 2), (5, 2, 0)], run.Seconds.Where(s => s.RecordsOut > 0 || s.DestinationRecords > 0).Select(s => (s.Second, s.RecordsOut, s.DestinationRecords)));
        Assert.Equal(4, summary.RecordsOut);
        Assert.Equal(2, summary.RecordsToDestination);
        Assert.Equal(0, summary.RecordsPending);
    }

    // Source: docs/emulator.md, metrics.csv: oldestUnprocessedAgeMs is "the age of the oldest record not yet processed
    // or discarded, at the end of the second". With a partial response the records before the checkpoint are processed
    // ("Lambda uses the record with the lowest sequence number as the checkpoint. Lambda then retries all records
    // starting from that checkpoint."), so the oldest unprocessed record is the reported one, retried forever.
    [Fact]
    public void OldestUnprocessedAge_IsTheAgeOfTheFirstRecordNotYetCheckpointed()
    {
        EmulatorScenario scenario = new()
        {
            StartTime = Emulate.Start,
            DurationSeconds = 5,
            Records = [ExplicitRecord.Text("k", "a", -2_000), ExplicitRecord.Text("k", "b", -1_000)],
            Mapping = new() { ReportBatchItemFailures = true },
        };
        EmulationRecording run = Emulate.Run(
            scenario,
            clock => new ScriptedHandler(clock, [new ScriptRule(ScriptAction.SleepMs, Ms: 700), new ScriptRule(ScriptAction.Report, WhenData: "b")]));

        Assert.Equal(["a", "b"], Emulate.DeliveredTexts(run, run.Invocations[0]));
        Assert.Equal(InvocationOutcome.Partial, run.Invocations[0].Outcome);
        // Invocations end at 700 ms, 1,400 ms, ...: none at the end of a second, when the second's metrics are taken.
        DateTimeOffset bArrival = run.Records[1].Arrival;
        Assert.Equal(
            Enumerable.Range(0, 5).Select(s => (long)(Emulate.Start.AddSeconds(s + 1) - bArrival).TotalMilliseconds),
            run.Seconds.Select(s => s.OldestUnprocessedAgeMs));

        // Once everything is processed nothing is unprocessed.
        EmulationRecording done = Emulate.Run(scenario with { Mapping = new() }, _ => Emulate.Succeed());
        Assert.All(done.Seconds, s => Assert.Equal(0, s.OldestUnprocessedAgeMs));
    }

    // Invariant: every counter of a shard-second agrees with the invocations that ended in it (failed, timed out,
    // records processed), and the totals are the sums, for any seed, ParallelizationFactor and mix of failures.
    [Property(MaxTest = 10)]
    public Property Counters_AgreeWithTheInvocationsThatEndedInEachSecond(int seed, byte factor, bool report)
    {
        EmulatorScenario scenario = new()
        {
            Seed = seed,
            StartTime = Emulate.Start,
            DurationSeconds = 40,
            Stream = new() { ShardCount = 2 },
            Producers = [new() { RatePerSecond = 40, Schedule = [new RateStep(5, 0)], PartitionKeys = 8, Generator = RecordGenerators.Text("r{n}") }],
            Mapping = new() { ParallelizationFactor = 1 + (factor % 4), BatchSize = 6, ReportBatchItemFailures = report, MaximumRetryAttempts = 1 },
            Function = new() { TimeoutSeconds = 1, ComputeMsPerRecord = 20, MemoryMb = 1769 },
        };
        EmulationRecording run = Emulate.Run(scenario, clock => new DelegateHandler(async (e, _, _) =>
        {
            using JsonDocument document = JsonDocument.Parse(e);
            var failures = new List<string>();
            bool slow = false;
            foreach (JsonElement record in document.RootElement.GetProperty("Records").EnumerateArray())
            {
                int n = int.Parse(Encoding.UTF8.GetString(record.GetProperty("kinesis").GetProperty("data").GetBytesFromBase64()).AsSpan(1));
                slow |= n % 17 == 0;
                if (n % 11 == 0)
                {
                    if (!report)
                    {
                        throw new InvalidOperationException("scripted");
                    }

                    failures.Add(record.GetProperty("kinesis").GetProperty("sequenceNumber").GetString()!);
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(slow ? 1_500 : 10), clock);
            return Encoding.UTF8.GetBytes("{\"batchItemFailures\":[" + string.Join(",", failures.Select(f => $"{{\"itemIdentifier\":\"{f}\"}}")) + "]}");
        }), out EmulationSummary summary);

        var problems = new List<string>();
        foreach (ShardSecond second in run.Seconds)
        {
            InvocationReport[] ended = run.Invocations.Where(i => i.ShardId == second.ShardId && i.EndMs / 1000 == second.Second).ToArray();
            var expected = (
                Invocations: ended.Length,
                Errors: ended.Count(i => i.Outcome != InvocationOutcome.Success),
                Timeouts: ended.Count(i => i.Outcome == InvocationOutcome.Timeout),
                RecordsOut: ended.Sum(Processed));
            var actual = (second.Invocations, second.Errors, second.Timeouts, second.RecordsOut);
            if (actual != expected)
            {
                problems.Add($"{second.ShardId} s{second.Second}: {actual} != {expected}");
            }
        }

        var totals = (summary.Errors, summary.Timeouts, summary.RecordsOut);
        var sums = ((long)run.Seconds.Sum(s => s.Errors), (long)run.Seconds.Sum(s => s.Timeouts), (long)run.Seconds.Sum(s => s.RecordsOut));
        if (totals != sums)
        {
            problems.Add($"totals {totals} != sums {sums}");
        }

        bool exercised = summary.Timeouts > 0 && summary.Errors > summary.Timeouts && summary.RecordsOut > 0;
        return (problems.Count == 0 && exercised).Label($"exercised={exercised} ({summary.Invocations} invocations, {summary.Errors} errors, {summary.Timeouts} timeouts, {summary.RecordsOut} out) {string.Join("; ", problems.Take(5))}");
    }

    // The records an invocation checkpointed: all on success, those before the checkpoint on a partial response.
    private static int Processed(InvocationReport invocation) => invocation.Outcome switch
    {
        InvocationOutcome.Success => invocation.Records.Count,
        InvocationOutcome.Partial => invocation.Records.TakeWhile(r => r.SequenceNumber != invocation.Checkpoint).Count(),
        _ => 0,
    };
}
