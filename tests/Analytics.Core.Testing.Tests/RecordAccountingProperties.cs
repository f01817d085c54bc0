using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Every record put is in exactly one of the summary's record figures (processed, destination, expired, skipped,
/// pending), and each figure agrees with what the run reported, for random small scenarios.
/// </summary>
public class RecordAccountingProperties
{
    /// <summary>A small scenario: records put before the start (some past retention), a producer, failures and sleeps.</summary>
    internal sealed record AccountingCase(int Seed, int Shards, int Factor, StartingPosition Position, int TimestampBeforeStartSeconds, int Early, int Ancient, int Rate, int Retries, bool MaxAge, int Seconds)
    {
        public EmulatorScenario Scenario()
        {
            var records = new List<ExplicitRecord>();
            for (int i = 0; i < Early; i++)
            {
                records.Add(ExplicitRecord.Text("early-" + (i % 5), i % 7 == 3 ? "poison" : "early " + i, -(i + 1) * 700L));
            }

            for (int i = 0; i < Ancient; i++)
            {
                records.Add(ExplicitRecord.Text("ancient-" + i, "ancient " + i, -25L * 3_600_000));
            }

            records.Add(ExplicitRecord.Text("sleeper", "sleep", (Seconds - 2) * 1000L));
            return new EmulatorScenario
            {
                Seed = Seed,
                StartTime = Emulate.Start,
                DurationSeconds = Seconds,
                Stream = new() { ShardCount = Shards },
                Records = records,
                Producers = [new() { RatePerSecond = Rate, PartitionKeys = 9, Generator = RecordGenerators.WithPoison(RecordGenerators.Text("r{n}"), 0.05, "poison") }],
                Mapping = new()
                {
                    BatchSize = 4,
                    ParallelizationFactor = Factor,
                    StartingPosition = Position,
                    StartingPositionTimestamp = Position == StartingPosition.AtTimestamp ? Emulate.Start.AddSeconds(-TimestampBeforeStartSeconds) : null,
                    MaximumRetryAttempts = Retries,
                    MaximumRecordAgeInSeconds = MaxAge ? 60 : -1,
                    OnFailure = OnFailureDestination.Sqs,
                },
                Function = new() { TimeoutSeconds = 5, ComputeMsPerRecord = 40 },
            };
        }

        // Before the start only (each lane polls at the start, so all of them are looked at then).
        public int ExpectedSkipped(EmulationRecording run) => Position switch
        {
            StartingPosition.Latest => run.Records.Count(r => r.Arrival < Emulate.Start),
            StartingPosition.AtTimestamp => run.Records.Count(r => r.Arrival < Emulate.Start.AddSeconds(-TimestampBeforeStartSeconds)),
            _ => 0,
        };
    }

    private static readonly Gen<AccountingCase> s_case =
        from seed in Gen.Choose(1, 1_000_000)
        from shards in Gen.Choose(1, 3)
        from factor in Gen.Choose(1, 3)
        from position in Gen.Elements(StartingPosition.TrimHorizon, StartingPosition.Latest, StartingPosition.AtTimestamp)
        from before in Gen.Choose(0, 10)
        from early in Gen.Choose(0, 20)
        from ancient in Gen.Choose(0, 3)
        from rate in Gen.Elements(0, 5, 30)
        from retries in Gen.Choose(0, 2)
        from maxAge in ArbMap.Default.GeneratorFor<bool>()
        from seconds in Gen.Choose(5, 90)
        select new AccountingCase(seed, shards, factor, position, before, early, ancient, rate, retries, maxAge, seconds);

    private static IEnumerable<DeliveredRecord> Processed(InvocationReport invocation) => invocation.Outcome switch
    {
        InvocationOutcome.Success => invocation.Records,
        InvocationOutcome.Partial => invocation.Records.TakeWhile(r => r.SequenceNumber != invocation.Checkpoint),
        _ => [],
    };

    private static string Check(AccountingCase c)
    {
        // A poison record fails its batch; the sleeper is still running when the run ends (its records are pending).
        EmulationRecording run = Emulate.Run(c.Scenario(), clock => new ScriptedHandler(clock, [new ScriptRule(ScriptAction.Raise, WhenData: "poison"), new ScriptRule(ScriptAction.SleepMs, WhenData: "sleep", Ms: 4000)]), out EmulationSummary s);
        var problems = new List<string>();
        if (s.RecordsIn != s.RecordsOut + s.RecordsToDestination + s.RecordsExpired + s.RecordsSkipped + s.RecordsPending)
        {
            problems.Add($"in {s.RecordsIn} != out {s.RecordsOut} + destination {s.RecordsToDestination} + expired {s.RecordsExpired} + skipped {s.RecordsSkipped} + pending {s.RecordsPending}");
        }

        if (new[] { s.RecordsOut, s.RecordsToDestination, s.RecordsExpired, s.RecordsSkipped, s.RecordsPending }.Any(n => n < 0))
        {
            problems.Add("a negative figure");
        }

        string[] processed = [.. run.Invocations.SelectMany(Processed).Select(r => r.SequenceNumber)];
        string[] sent = [.. run.Destination.SelectMany(d => d.SequenceNumbers)];
        if (s.RecordsIn != run.Records.Count)
        {
            problems.Add($"records in {s.RecordsIn}, reported {run.Records.Count}");
        }

        if (s.RecordsOut != processed.Length || processed.Distinct().Count() != processed.Length)
        {
            problems.Add($"processed {s.RecordsOut}, reported {processed.Length} ({processed.Distinct().Count()} distinct)");
        }

        if (s.RecordsToDestination != sent.Length || sent.Distinct().Count() != sent.Length || sent.Intersect(processed).Any())
        {
            problems.Add($"destination {s.RecordsToDestination}, reported {sent.Length} ({sent.Distinct().Count()} distinct, {sent.Intersect(processed).Count()} also processed)");
        }

        if (s.RecordsSkipped != c.ExpectedSkipped(run))
        {
            problems.Add($"skipped {s.RecordsSkipped}, expected {c.ExpectedSkipped(run)}");
        }

        if (s.RecordsExpired != run.Seconds.Sum(x => x.RecordsExpired) || s.RecordsOut != run.Seconds.Sum(x => x.RecordsOut) || s.RecordsToDestination != run.Seconds.Sum(x => x.DestinationRecords))
        {
            problems.Add("the per-second figures do not add up to the summary's");
        }

        return problems.Count == 0 ? string.Empty : $"{c}: {string.Join("; ", problems)}";
    }

    [Fact]
    public void EveryRecord_IsInExactlyOneFigure_AndTheFiguresAgreeWithTheReports()
    {
        Prop.ForAll(Arb.From(s_case), c => Check(c) is var problem && problem.Length == 0 ? true.ToProperty() : false.Label(problem))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(40).WithQuietOnSuccess(true));
    }

    [Fact]
    public void TheCasesExerciseEveryFigure()
    {
        // The property above means something only if its scenarios skip, expire, give up on and leave records pending.
        var totals = new long[5];
        foreach (AccountingCase c in Gen.Sample(s_case, 40))
        {
            EmulationRecording run = Emulate.Run(c.Scenario(), clock => new ScriptedHandler(clock, [new ScriptRule(ScriptAction.Raise, WhenData: "poison"), new ScriptRule(ScriptAction.SleepMs, WhenData: "sleep", Ms: 4000)]), out EmulationSummary s);
            totals[0] += s.RecordsSkipped;
            totals[1] += s.RecordsExpired;
            totals[2] += s.RecordsToDestination;
            totals[3] += s.RecordsPending;
            totals[4] += s.RecordsOut;
        }

        Assert.All(totals, t => Assert.True(t > 0, string.Join(",", totals)));
    }
}
