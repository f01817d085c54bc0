using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Amazon.S3;
using Analytics.Replay;
using Analytics.Tools;
using Analytics.Tools.Redrive;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// Long DynamoDB outages in the emulator, with spilling on: the shard keeps moving (iterator age bounded by the spill
/// age), and after the outage a redrive of the spill objects (and, where Lambda gave batches up, of the on-failure
/// destination's objects) brings the table to the aggregates computed here, directly from the records produced;
/// whatever the redrive cannot decide or must hold back it reports and leaves, and nothing is ever doubled.
/// </summary>
/// <remarks>
/// Three kinds of outage: <see cref="OutageKind.WriteThrottling"/> (every PutItem throttled, reads answered: the table's
/// write capacity exhausted), <see cref="OutageKind.Down"/> (every request answered HTTP 500 without being applied) and
/// <see cref="OutageKind.Hung"/> (no request answered: each waits until its caller cancels it).
/// The 10,000 records/s scale of the issue runs with <c>TESTS_SPILL_FULL_SCALE=1</c> (about an hour of machine time
/// here); CI runs the same 30-minute outage at a smaller rate (docs/failure-modes.md).
/// </remarks>
public class SpillOutageTests
{
    private const long WindowMs = 60_000;
    private const string SpillPrefix = "spill";
    private const string FailureBucket = "failures";

    public enum OutageKind
    {
        WriteThrottling,
        Down,
        Hung,

        /// <summary>Every read (GetItem, BatchGetItem, Query) throttled, writes answered: the table's read capacity exhausted.</summary>
        ReadThrottling,
    }

    /// <summary>What goes wrong during one redrive run, so that spills are left while destination objects wait.</summary>
    public enum RunFault
    {
        /// <summary>S3 answers every read of a spill object with HTTP 500.</summary>
        SpillReadsFail,

        /// <summary>The table throttles every write.</summary>
        TableThrottled,
    }

    public sealed record Outage(int FromSecond, int ToSecond, OutageKind Kind);

    /// <summary>
    /// An attempt killed after DynamoDB took its put and before it could spill (docs/failure-modes.md, "What neither
    /// covers"): the first PutItem any invocation sends at or after <paramref name="AtSecond"/> is held by DynamoDB and
    /// applied <paramref name="HoldSeconds"/> later (owned by no invocation, so it lands after the attempt's timeout);
    /// every later request of that invocation, to DynamoDB or S3, is never answered and ignores cancellation, and the
    /// invocation never answers either, so it times out after <paramref name="TimeoutSeconds"/> (the function's timeout
    /// in this case) with nothing spilled. The put is sent before any outage of the case is looked at.
    /// </summary>
    public sealed record KilledAttempt(int AtSecond, int HoldSeconds, int TimeoutSeconds);

    /// <param name="GiveUps">
    /// Lambda gives a batch up after one retry and writes it to an S3 on-failure destination, which the redrive applies
    /// too; and the function crashes after a spill on a seeded half of the invocations that spilled, so that a batch whose
    /// last attempt spilled is both in a spill object and in the destination.
    /// </param>
    /// <param name="Faults">Redrive runs that meet a fault, before the interrupted and the complete ones, in an order drawn from the seed.</param>
    public sealed record SpillCase(int Seed, int Shards, double RatePerSecond, int ProduceSeconds, int DurationSeconds, int SpillAfterSeconds, bool Crashes, IReadOnlyList<Outage> Outages, IReadOnlyList<int> InterruptAfterRequests, bool GiveUps = false, IReadOnlyList<RunFault>? Faults = null, int Factor = 1, bool Bisect = false, bool Adversarial = false, int LostAnswerPercent = 0, bool LandLate = false, KilledAttempt? Kill = null, bool Ndjson = false, bool PerShardWatermarkOnly = false)
    {
        public override string ToString() =>
            $"seed={Seed} shards={Shards} rate={RatePerSecond} spillAfter={SpillAfterSeconds}s crashes={Crashes} giveUps={GiveUps} pf={Factor} bisect={Bisect} adversarial={Adversarial} lostAnswers={LostAnswerPercent}% landLate={LandLate} outages=[{string.Join(", ", Outages.Select(o => $"{o.Kind} {o.FromSecond}-{o.ToSecond}s"))}] interrupts=[{string.Join(",", InterruptAfterRequests)}] faults=[{string.Join(",", Faults ?? [])}]" +
            (Kill is { } k ? $" kill=at {k.AtSecond}s, held {k.HoldSeconds}s, timeout {k.TimeoutSeconds}s" : string.Empty) +
            (Ndjson ? " ndjson" : string.Empty) + (PerShardWatermarkOnly ? " perShardWatermarkOnly" : string.Empty);
    }

    private static bool FullScale => Environment.GetEnvironmentVariable("TESTS_SPILL_FULL_SCALE") == "1";

    /// <summary>
    /// How long one redrive may take in real time before the test calls it hung. At the CI scale it takes seconds (28 s for
    /// the whole write-outage case at load average 6-12), but a CI run beside a 10,000 records/s run and a mutation-testing
    /// run (load average 15-20) passed 3 minutes; at 10,000 records/s its spills hold millions of samples (a run at load
    /// average 20-40 passed 3 minutes there too), so an hour.
    /// </summary>
    private static TimeSpan RedriveBound => FullScale ? TimeSpan.FromMinutes(60) : TimeSpan.FromMinutes(10);

    [Fact]
    public void ThirtyMinuteWriteOutage_AfterARedriveTheTableEqualsTheTruth()
    {
        Result r = s_writeOutage.Value;

        Assert.True(r.Problems.Count == 0, r.Describe());
        Assert.True(r.SpilledRecords > 0, r.Describe());
        Assert.Equal(0, r.Final.Spill.Undecided);
        Assert.True(r.Exact, r.Describe());
    }

    /// <summary>
    /// Iterator age stays under a minute whatever the machine's load: every step of the spill path runs on the emulator's
    /// clock thread (<see cref="SpillClockThreadTests"/>; it did not while a cancelled backoff resumed on the thread pool,
    /// and two loaded CI runs reached 107 s and 441 s).
    /// </summary>
    [Fact]
    public void ThirtyMinuteWriteOutage_IteratorAgeStaysUnderAMinute()
    {
        Result r = s_writeOutage.Value;

        Assert.True(r.MaxIteratorAgeMs < 60_000, r.Describe());
    }

    // One run for both facts: the exactness and the iterator age of the same outage.
    private static readonly Lazy<Result> s_writeOutage = new(() => Run(WriteOutage));

    private static SpillCase WriteOutage => new(
        Seed: 17,
        Shards: FullScale ? 12 : 2,
        RatePerSecond: FullScale ? 10_000 : 300,
        ProduceSeconds: 40 * 60,
        DurationSeconds: 45 * 60,
        SpillAfterSeconds: 30,
        Crashes: false,
        Outages: [new Outage(5 * 60, 35 * 60, OutageKind.WriteThrottling)],
        InterruptAfterRequests: [40]);

    /// <summary>
    /// Two full outages with a few seconds of live writes between them (found by the property at its 12th case with 24
    /// cases): the live batches set the key watermarks of the items the first outage spilled past its spilled samples,
    /// and the redrive, which read the watermark against the range of every spill of the key together, counted those
    /// samples as already applied: 170 samples in neither the table nor the report. Each spill is now decided on its
    /// own range, from the watermark the first live write after it kept (pw): every sample is decided, and the table
    /// equals the truth.
    /// </summary>
    [Fact]
    public void TwoFullOutages_LiveWritesBetween_TheRedriveLosesNothing()
    {
        Result r = Run(new SpillCase(
            Seed: 855312,
            Shards: 1,
            RatePerSecond: 40,
            ProduceSeconds: 600,
            DurationSeconds: 900,
            SpillAfterSeconds: 51,
            Crashes: false,
            Outages: [new Outage(179, 312, OutageKind.Down), new Outage(323, 499, OutageKind.Down)],
            InterruptAfterRequests: [],
            GiveUps: false,
            Faults: []));

        Assert.True(r.Problems.Count == 0, r.Describe());
        Assert.True(r.SpilledRecords > 0 && r.Final.Spill.Undecided == 0 && r.Final.Spill.Left == 0 && r.Exact, r.Describe());
    }

    /// <summary>
    /// The same seed gives the same run, invocation by invocation, however busy the machine is: nothing in the spill
    /// path (backoffs cut short, the read before the spill, the upload, the redrive) may wait on real time.
    /// </summary>
    [Fact]
    public void SameSeed_SameRun_InBothKindsOfOutage()
    {
        var c = new SpillCase(
            Seed: 23,
            Shards: 1,
            RatePerSecond: 100,
            ProduceSeconds: 5 * 60,
            DurationSeconds: 6 * 60,
            SpillAfterSeconds: 20,
            Crashes: false,
            Outages: [new Outage(60, 150, OutageKind.WriteThrottling), new Outage(180, 270, OutageKind.Down)],
            InterruptAfterRequests: [7]);
        string first = Run(c).Describe();
        for (int run = 0; run < 2; run++)
        {
            Assert.Equal(first, Run(c).Describe());
        }
    }

    [Fact]
    public void ThirtyMinuteFullOutage_IteratorAgeStaysBounded_AndTheRedriveRestoresTheExactAggregates()
    {
        var c = new SpillCase(
            Seed: 18,
            Shards: FullScale ? 12 : 2,
            RatePerSecond: FullScale ? 10_000 : 300,
            ProduceSeconds: 40 * 60,
            DurationSeconds: 45 * 60,
            SpillAfterSeconds: 30,
            Crashes: false,
            Outages: [new Outage(5 * 60, 35 * 60, OutageKind.Down)],
            InterruptAfterRequests: []);
        Result r = Run(c);

        // No double, and table plus undecided equal to the truth, are in Problems; the timeline is in the message. The
        // spills' lost puts are decided from what the first live writes after the outage kept: nothing is undecided.
        Assert.True(r.MaxIteratorAgeMs < 60_000, r.Describe());
        Assert.True(r.Problems.Count == 0, r.Describe());
        Assert.True(r.SpilledRecords > 0, r.Describe());
        Assert.True(r.Final.Spill.Undecided == 0 && r.Final.Spill.Left == 0 && r.Exact, r.Describe());
    }

    /// <summary>
    /// A full outage in which DynamoDB answers nothing, to clients with no timeout of their own: every request waits until
    /// the sink gives up at the end of its share, where HTTP 500 costs seconds. A lane whose batch is still young gives
    /// the table two thirds of the invocation, or, in an execution environment that saw the shard's table take nothing,
    /// only the time until the batch is old enough, and spills it in the same invocation; a batch old enough gets the
    /// probe (one second, every 5 s per shard). So iterator age stays under the spill age plus one function timeout
    /// (measured: 29 s, against 33 s for the same outage answered with HTTP 500; 55 s and 37 s when a young batch failed
    /// after the whole working time and spilled on its retry, which the bound of the spill age plus two timeouts
    /// allowed), and the redrive restores the exact aggregates.
    /// </summary>
    [Fact]
    public void FullOutageThatAnswersNothing_IteratorAgeStaysBounded_AndTheRedriveRestoresTheExactAggregates()
    {
        var c = new SpillCase(
            Seed: 19,
            Shards: 2,
            RatePerSecond: 300,
            ProduceSeconds: 20 * 60,
            DurationSeconds: 25 * 60,
            SpillAfterSeconds: 30,
            Crashes: false,
            Outages: [new Outage(5 * 60, 15 * 60, OutageKind.Hung)],
            InterruptAfterRequests: []);
        Result r = Run(c);

        Assert.True(r.MaxIteratorAgeMs < (30 + 30) * 1_000, r.Describe());
        Assert.True(r.Problems.Count == 0, r.Describe());
        Assert.True(r.SpilledRecords > 0, r.Describe());
        Assert.True(r.Final.Spill.Undecided == 0 && r.Final.Spill.Left == 0 && r.Exact, r.Describe());
    }

    /// <summary>
    /// Write throttling while the function crashes after its spill on half the invocations, with one retry: batches are
    /// spilled, given up, and some are both (the last attempt's spill stays). A first redrive run cannot read
    /// the spills: it holds every destination object of the shard back. The next run applies the spills, then the
    /// destination objects: nothing held back, nothing doubled, and the table short of the truth by no more than what
    /// the destination phase reports undecided.
    /// </summary>
    [Fact]
    public void SpilledAndGivenUp_TheDestinationObjectsWaitForTheSpills_ThenNothingIsDoubled()
    {
        var c = new SpillCase(
            Seed: 31,
            Shards: 1,
            RatePerSecond: 40,
            ProduceSeconds: 600,
            DurationSeconds: 900,
            SpillAfterSeconds: 3,
            Crashes: false,
            Outages: [new Outage(60, 300, OutageKind.WriteThrottling)],
            InterruptAfterRequests: [],
            GiveUps: true,
            Faults: [RunFault.SpillReadsFail]);
        Result r = Run(c);

        Assert.True(r.Problems.Count == 0, r.Describe());
        Assert.True(r.SpilledRecords > 0 && r.Final.Destination.Count > 0, r.Describe());
        Assert.True(r.HeldBackRuns == 1, r.Describe());
        Assert.True(r.Final.HeldBack == 0 && r.Final.Spill.Undecided == 0 && r.Final.Spill.Left == 0, r.Describe());
    }

    /// <summary>
    /// Random outage schedules (write throttling and full outages), function crashes after a flush, spill ages, batches
    /// given up to the S3 on-failure destination (so that some are both spilled and given up), redrive runs that cannot
    /// read the spills or write the table, and redrives interrupted after a random number of requests, in a random
    /// order, then repeated: after every redrive run no item holds more than the truth; at the end the table plus what
    /// the redrive reported undecided is exactly the truth (with give-ups: the table is short of the truth by no more than
    /// what it reported undecided or held back); with write throttling only, nothing is undecided and the table equals
    /// the truth (with give-ups: no spill is undecided, and no destination object is still held back).
    /// </summary>
    [Fact]
    public void RandomOutagesCrashesAndRedrives_NeverDouble_AndLeaveOnlyWhatIsReported()
    {
        Gen<Outage> outage =
            from start in Gen.Choose(10, 400)
            from length in Gen.Choose(20, 300)
            from kind in Gen.Elements(OutageKind.WriteThrottling, OutageKind.Down, OutageKind.Hung)
            select new Outage(start, start + length, kind);
        // With one retry a batch is given up within seconds: it is spilled before that only with a short spill age.
        Gen<SpillCase> gen =
            from seed in Gen.Choose(1, 1_000_000)
            from shards in Gen.Choose(1, 2)
            from outages in Gen.Choose(1, 3).SelectMany(n => Gen.ListOf(outage, n))
            from giveUps in ArbMap.Default.GeneratorFor<bool>()
            from spillAfter in giveUps ? Gen.Choose(2, 8) : Gen.Choose(15, 90)
            from crashes in ArbMap.Default.GeneratorFor<bool>()
            from interrupts in Gen.Choose(0, 2).SelectMany(n => Gen.ListOf(Gen.Choose(1, 60), n))
            from faults in Gen.Choose(0, 2).SelectMany(n => Gen.ListOf(Gen.Elements(RunFault.SpillReadsFail, RunFault.TableThrottled), n))
            select new SpillCase(seed, shards, 40, 600, 900, spillAfter, crashes, [.. outages], [.. interrupts], giveUps, [.. faults]);
        CheckCases(gen, 6, Holds);
    }

    /// <summary>
    /// The property above at ParallelizationFactor 2 to 10, with bisection on or off and the adversarial key-to-batch
    /// assignment or the hashed one, with read throttling as a fourth kind of outage (reads refused, writes answered), and
    /// with a seeded share of puts that the table applies but whose answer is lost (HTTP 500 after the write landed, the
    /// hard case of docs/failure-modes.md that the models never produce on their own): the spills of a shard's concurrent
    /// batches, the per-shard spill marker and the first live write after a spill must still bring the table, after the
    /// redrive, to the truth; or puts left unanswered and applied 1.5 s later (<see cref="SpillCase.LandLate"/>), after
    /// the invocation that sent them may have timed out and spilled (the cases this found run below). An attempt killed
    /// after DynamoDB took its put and before it could spill (<see cref="KilledAttempt"/>) is the documented known limit,
    /// pinned below, and not drawn here.
    /// </summary>
    [Fact]
    public void RandomOutages_AtEveryParallelizationFactor_WithBisection_NeverDouble_AndLeaveOnlyWhatIsReported()
    {
        Gen<SpillCase> gen =
            from seed in Gen.Choose(1, 1_000_000)
            from shards in Gen.Choose(1, 2)
            from outages in Gen.Choose(1, 3).SelectMany(n => Gen.ListOf(s_outage, n))
            from giveUps in ArbMap.Default.GeneratorFor<bool>()
            from spillAfter in giveUps ? Gen.Choose(2, 8) : Gen.Choose(15, 90)
            from crashes in ArbMap.Default.GeneratorFor<bool>()
            from factor in Gen.Choose(2, 10)
            from bisect in ArbMap.Default.GeneratorFor<bool>()
            from adversarial in ArbMap.Default.GeneratorFor<bool>()
            from lost in Gen.Elements(0, 0, 5, 20)
            from late in ArbMap.Default.GeneratorFor<bool>()
            select new SpillCase(seed, shards, 40, 600, 900, spillAfter, crashes, [.. outages], [], giveUps, [], factor, bisect, adversarial, lost, late && lost > 0);
        CheckCases(gen, 6, Holds, keep: c => c.Factor >= 2);
    }

    /// <summary>
    /// The properties above with records of several samples (NDJSON, one to four lines): a record often puts two samples
    /// into one item under one sequence number and partition key, and a spill then holds samples that only their sequence
    /// number and key tell apart, which the other spill properties (one sample per record) never produce. The watermark
    /// comparisons of the live write, of the spill's read and of the redrive's rk must take or leave such samples together.
    /// </summary>
    [Fact]
    public void RandomOutages_RecordsOfSeveralSamplesInOneItem_NeverDouble_AndLeaveOnlyWhatIsReported()
    {
        Gen<SpillCase> gen =
            from seed in Gen.Choose(1, 1_000_000)
            from shards in Gen.Choose(1, 2)
            from outages in Gen.Choose(1, 3).SelectMany(n => Gen.ListOf(s_outage, n))
            from giveUps in ArbMap.Default.GeneratorFor<bool>()
            from spillAfter in giveUps ? Gen.Choose(2, 8) : Gen.Choose(15, 90)
            from crashes in ArbMap.Default.GeneratorFor<bool>()
            from factor in Gen.Choose(1, 10)
            from bisect in ArbMap.Default.GeneratorFor<bool>()
            from adversarial in ArbMap.Default.GeneratorFor<bool>()
            from lost in Gen.Elements(0, 0, 5, 20)
            from interrupts in Gen.Choose(0, 2).SelectMany(n => Gen.ListOf(Gen.Choose(1, 60), n))
            select new SpillCase(seed, shards, 40, 600, 900, spillAfter, crashes, [.. outages], [.. interrupts], giveUps, [], factor, bisect, adversarial, lost, Ndjson: true);
        CheckCases(gen, 5, Holds, keep: c => c.Ndjson);
    }

    /// <summary>
    /// The spill properties with the sink's one watermark per shard (<c>PerShardWatermarkOnly</c>, which the README
    /// advises with ParallelizationFactor 1 for many partition keys per item, and the template can set): no spill property
    /// ran it. Outages of every kind, crashes, give-ups, lost and late answers; the spill's read, the marker's entries and
    /// the redrive's decisions then rest on the shard's floor <c>wm</c> and its own pre-write entries, not on per-key
    /// watermarks. The same as the default layout is required (<see cref="Holds"/>): nothing doubled, and exact with
    /// nothing undecided but where give-ups or a bisected late put may leave some. Until the writes kept entries for the
    /// floor, only "nothing doubled, nothing lost unreported" held: a full outage left samples undecided
    /// (<see cref="AFullOutageThatAnswersNothing_LeavesNothingUndecided"/>).
    /// </summary>
    [Fact]
    public void RandomOutages_WithOneWatermarkPerShard_HoldLikeTheDefaultLayout()
    {
        Gen<SpillCase> gen =
            from seed in Gen.Choose(1, 1_000_000)
            from shards in Gen.Choose(1, 2)
            from outages in Gen.Choose(1, 3).SelectMany(n => Gen.ListOf(s_outage, n))
            from giveUps in ArbMap.Default.GeneratorFor<bool>()
            from spillAfter in giveUps ? Gen.Choose(2, 8) : Gen.Choose(15, 90)
            from crashes in ArbMap.Default.GeneratorFor<bool>()
            from bisect in ArbMap.Default.GeneratorFor<bool>()
            from lost in Gen.Elements(0, 0, 5, 20)
            from late in ArbMap.Default.GeneratorFor<bool>()
            from ndjson in ArbMap.Default.GeneratorFor<bool>()
            from interrupts in Gen.Choose(0, 2).SelectMany(n => Gen.ListOf(Gen.Choose(1, 60), n))
            select new SpillCase(seed, shards, 40, 600, 900, spillAfter, crashes, [.. outages], [.. interrupts], giveUps, [], 1, bisect, false, lost, late && lost > 0, Ndjson: ndjson, PerShardWatermarkOnly: true);
        CheckCases(gen, 5, Holds);
    }

    /// <summary>
    /// Flapping outages at ParallelizationFactor 1 with one watermark per shard: 6 to 14 spells of 2 to 6 s (hung, down or
    /// write throttling) 2 to 8 s apart, within a window or two, so that many spills of the same items have live writes
    /// between them and each such write of a marked window uses one of the floor's four pre-write entries. Held to the
    /// default layout's standard (<see cref="Holds"/>).
    /// </summary>
    [Fact]
    public void FlappingOutages_WithOneWatermarkPerShard_HoldLikeTheDefaultLayout()
    {
        Gen<SpillCase> gen =
            from seed in Gen.Choose(1, 1_000_000)
            from spells in Gen.Choose(6, 14).SelectMany(n => Gen.ListOf(
                from length in Gen.Choose(2, 6)
                from gap in Gen.Choose(2, 8)
                from kind in Gen.Elements(OutageKind.WriteThrottling, OutageKind.Down, OutageKind.Hung)
                select (On: length, Off: gap, Kind: kind), n))
            from spillAfter in Gen.Choose(2, 10)
            from lost in Gen.Elements(0, 0, 5, 20)
            select new SpillCase(seed, 1, 40, 300, 600, spillAfter, false, [.. Spells(61, spells)], [], LostAnswerPercent: lost, PerShardWatermarkOnly: true);
        CheckCases(gen, 4, Holds, keep: c => c.Outages.Count >= 6);
    }

    /// <summary>Outages of the given lengths and kinds from second <paramref name="start"/>, each the given gap after the one before.</summary>
    internal static IEnumerable<Outage> Spells(int start, IEnumerable<(int On, int Off, OutageKind Kind)> spells)
    {
        int t = start;
        foreach ((int length, int gap, OutageKind kind) in spells)
        {
            yield return new Outage(t, t + length, kind);
            t += length + gap;
        }
    }

    /// <summary>
    /// A full DynamoDB outage that answers nothing (60 to 150 s), S3 healthy, one shard at ParallelizationFactor 1, no
    /// crash: the redrive brings the table to the truth, nothing undecided, with either layout. With one watermark per
    /// shard this was a known limit until the live writes kept pre-write entries for the shard's floor: the first writes
    /// after the spills moved only the floor and kept none, and the redrive reported 1,293 samples in 3 spill objects
    /// undecided (found by review, 2026-12-06).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AFullOutageThatAnswersNothing_LeavesNothingUndecided(bool perShardWatermarkOnly)
    {
        Result r = Run(FullOutageCase(perShardWatermarkOnly));

        Assert.True(r.SpilledRecords > 0, r.Describe());
        Assert.True(r.Problems.Count == 0 && r.Exact && r.Final.Spill.Undecided == 0 && r.Final.Spill.Left == 0, r.Describe());
    }

    private static SpillCase FullOutageCase(bool perShardWatermarkOnly) =>
        new(508971, 1, 40, 240, 480, 30, false, [new Outage(60, 150, OutageKind.Hung)], [], PerShardWatermarkOnly: perShardWatermarkOnly);

    /// <summary>
    /// Found by the property above: puts left unanswered and applied 1.5 s after they were sent. In the first case
    /// (ParallelizationFactor 2, bisection, give-ups, a hung DynamoDB from 151 to 201 s, reads throttled from 310 to 404
    /// s, a fifth of the puts late) the redrive's first run brought 12 items above the truth (one to 1,282 samples where
    /// the records hold 1,212): an earlier attempt's put of a larger batch landed after a bisected half of it was
    /// spilled, and its pre-write entry read as "the spilled put did not land". The write now keeps where its records
    /// of the key begin. The next three, at ParallelizationFactor 4 to 9 with adversarial key assignment, lost samples
    /// while that start was the pair's first record (another lane had held the key's earlier records). The last two
    /// doubled: a retry removed its earlier attempt's spill, whose pairs were unknown, and spilled them as decided from
    /// its own read of the item, before the earlier attempt's held put landed; the retry now keeps them unknown.
    /// The seventh (no killed attempt in it) was drawn while <see cref="KilledAttempt"/> was added to the property: exact
    /// here, it left 27 spill objects with 53 samples undecided (table 23,990 + undecided 53 against 24,000) while decided
    /// pairs were covered by the shard's marker, a change taken back: each key's four pre-write entries were used up
    /// before its own unknown spill.
    /// </summary>
    [Theory]
    [InlineData(672450, 2, 4, true, 2, true, false, 20, "ReadThrottling 310-404, Hung 151-201")]
    [InlineData(73015, 1, 59, false, 4, false, true, 5, "Down 206-459, ReadThrottling 253-351")]
    [InlineData(161548, 1, 79, false, 7, true, true, 5, "Down 201-239, WriteThrottling 248-271, Hung 284-418")]
    [InlineData(620865, 2, 57, false, 9, true, true, 5, "Hung 207-284")]
    [InlineData(852028, 2, 2, true, 5, false, false, 5, "Hung 53-328, Hung 294-412, WriteThrottling 67-328")]
    [InlineData(429005, 2, 79, false, 10, false, true, 20, "Hung 399-472, ReadThrottling 278-329, ReadThrottling 92-113")]
    [InlineData(192903, 1, 16, false, 6, false, true, 20, "Hung 339-639")]
    public void Regression_PutsAppliedSecondsAfterTheyWereSent_NeverDoubleNorLose(int seed, int shards, int spillAfter, bool giveUps, int factor, bool bisect, bool adversarial, int lostPercent, string outages)
    {
        Outage[] parsed = ParseOutages(outages);

        Result r = Run(new SpillCase(seed, shards, 40, 600, 900, spillAfter, false, parsed, [], giveUps, [], factor, bisect, adversarial, lostPercent, LandLate: true));

        Assert.True(r.Problems.All(p => !p.StartsWith("doubled", StringComparison.Ordinal) && !p.StartsWith("table ", StringComparison.Ordinal)), r.Describe());
    }

    /// <summary>
    /// The known limit docs/failure-modes.md names ("What neither covers"), pinned: an attempt's put is held by DynamoDB
    /// and the attempt is killed (its function timeout) before it could spill, so no spill object carries the pair's
    /// ambiguity. The retry reads the item before the held put lands, its own puts are throttled (definite failures), and
    /// it spills the pair as decided, its samples past the item's watermark. The held put then lands (nothing wrote the
    /// item since it was sent, so its condition holds), the outage ends, live batches of the same window move the keys'
    /// watermarks on, and the redrive applies the decided samples a second time. The run is checked to have gone that way
    /// (<see cref="KillSeen.Happened"/>), and the table must be above the truth by exactly the samples the decided spill
    /// and the landed put both hold, and by nothing else: a change that makes it worse, or mends it, fails here.
    /// </summary>
    /// <remarks>
    /// The put is the first one sent a second or two into a window, so live writes of that window follow the outage. With
    /// a 10 s timeout the retry starts about 10 s after the put, is a spill candidate at once (5 s spill age), gives the
    /// throttled table two thirds of its time and spills; the put lands 22 s after it was sent, after that spill and
    /// before the outage ends. With the 30 s timeout the same at 15 s spill age, the put held 50 to 52 s. Each case runs in
    /// a second or two and doubles 11 to 25 samples. A fix that covered decided pairs with the shard's marker closed these
    /// and was taken back: it left samples undecided in flapping write-throttling outages that are exact without it
    /// (<see cref="SpillFlappingOutageTests"/>, docs/failure-modes.md).
    /// </remarks>
    [Theory]
    [InlineData(1, 1, 62, 22, 10, 5, "WriteThrottling 62-95")]
    [InlineData(4, 1, 62, 22, 10, 5, "WriteThrottling 62-95")]
    [InlineData(6, 2, 62, 22, 10, 5, "WriteThrottling 62-95")]
    [InlineData(8, 1, 61, 52, 30, 15, "WriteThrottling 61-116")]
    [InlineData(9, 2, 61, 50, 30, 15, "WriteThrottling 61-116")]
    public void KnownLimit_AttemptKilledAfterItsPutWasHeld_RetrySpillsDecided_DoublesExactlyWhatBothHold(int seed, int shards, int killAt, int holdSeconds, int timeoutSeconds, int spillAfter, string outages)
    {
        Outage[] parsed = ParseOutages(outages);

        Result r = Run(new SpillCase(seed, shards, 40, 240, 360, spillAfter, false, parsed, [], Kill: new KilledAttempt(killAt, holdSeconds, timeoutSeconds)));

        Assert.True(r.Kill is { Happened: true, KeysMovedOnAfter: > 0 }, "the case did not happen: " + r.Describe());
        Assert.True(r.Final.Spill.Undecided == 0 && r.Final.Spill.Left == 0, r.Describe());
        // One item is wrong (named by "doubled" and by the comparison of every item), and the totals say by how much.
        Match totals = Assert.Single(r.Problems.Select(p => Regex.Match(p, @"^table (\d+) above truth (\d+)$")), m => m.Success);
        string item = Regex.Match(r.Problems[0], @"^doubled: (\(.*?\)) holds ").Groups[1].Value;
        Assert.True(item.Length > 0 && r.Problems.All(p => p == totals.Value || p.StartsWith("doubled: " + item + " holds ", StringComparison.Ordinal) || p.StartsWith(item + " expected ", StringComparison.Ordinal)), r.Describe());
        Assert.Equal(r.Kill!.SamplesSpilledAndLanded, Above(r));
    }

    /// <summary>
    /// The known limit above with one watermark per shard: the killed attempt's held put lands after the retry spilled
    /// the pair as decided. The floor's pre-write entries decide only unknown pairs, so the table must be above the truth
    /// by exactly what the decided spill and the landed put both hold (the put's floor covers every key of the item, so
    /// that is a sample or two more than with the default layout in three of the five seeds: 18/17, 23/21, 13/12), and by
    /// nothing more. The case is seen with this layout too (<see cref="HeldKill.Floors"/>); the test above runs the same seeds
    /// with the default layout.
    /// </summary>
    [Theory]
    [InlineData(1, 1, 62, 22, 10, 5, "WriteThrottling 62-95")]
    [InlineData(4, 1, 62, 22, 10, 5, "WriteThrottling 62-95")]
    [InlineData(6, 2, 62, 22, 10, 5, "WriteThrottling 62-95")]
    [InlineData(8, 1, 61, 52, 30, 15, "WriteThrottling 61-116")]
    [InlineData(9, 2, 61, 50, 30, 15, "WriteThrottling 61-116")]
    public void KnownLimit_AttemptKilledAfterItsPutWasHeld_WithOneWatermarkPerShard_DoublesExactlyWhatBothHold(int seed, int shards, int killAt, int holdSeconds, int timeoutSeconds, int spillAfter, string outages)
    {
        Outage[] parsed = ParseOutages(outages);

        Result perShard = Run(new SpillCase(seed, shards, 40, 240, 360, spillAfter, false, parsed, [], Kill: new KilledAttempt(killAt, holdSeconds, timeoutSeconds), PerShardWatermarkOnly: true));

        Assert.True(perShard.Kill is { Happened: true }, "the case did not happen: " + perShard.Describe());
        Assert.True(perShard.Final.Spill.Undecided == 0 && perShard.Final.Spill.Left == 0, perShard.Describe());
        Assert.True(Above(perShard) == perShard.Kill!.SamplesSpilledAndLanded, $"{Above(perShard)} above the truth, {perShard.Kill.SamplesSpilledAndLanded} in both the decided spill and the landed put: " + perShard.Describe());
    }

    /// <summary>How far the run's table is above the truth, from the comparison's totals (0 when it is not above).</summary>
    private static long Above(Result r)
    {
        Match totals = r.Problems.Select(p => Regex.Match(p, @"^table (\d+) above truth (\d+)$")).FirstOrDefault(m => m.Success) ?? Match.Empty;
        return totals.Success ? long.Parse(totals.Groups[1].Value, CultureInfo.InvariantCulture) - long.Parse(totals.Groups[2].Value, CultureInfo.InvariantCulture) : 0;
    }

    /// <summary>
    /// Drawn by the property above (seed 120002: ParallelizationFactor 3, bisection, reads throttled from 172 to 336 s, a
    /// fifth of the puts applied 1.5 s late): 15 samples undecided in 12 objects, 3 of them in the table already, 12 not.
    /// They were spills whose first later write found the key's watermark inside the spill's range, set there by a
    /// shorter attempt's late put, which the redrive decides since 2026-12-07 (the samples up to it in, the rest not):
    /// exactly the truth now, nothing undecided.
    /// </summary>
    [Fact]
    public void Regression_BisectedBatchesWithLatePuts_AreDecided_TheTableExact()
    {
        var c = new SpillCase(120002, 2, 40, 600, 900, 24, false, [new Outage(172, 336, OutageKind.ReadThrottling)], [], Factor: 3, Bisect: true, LostAnswerPercent: 20, LandLate: true);

        Result r = Run(c);

        Assert.True(Holds(c, r), r.Describe());
        Assert.Empty(r.Problems);
        Assert.True(r.Exact, r.Describe());
        Assert.Equal(0, r.Final.Spill.Undecided);
    }

    /// <summary>
    /// A case of the random property (ParallelizationFactor 10, no bisection, a fifth of the answers lost and their puts
    /// landing late, one outage) that left 4 samples of pk-6 undecided: a shorter attempt of the spilled batch, whose put
    /// landed late, raised the key's watermark to the spill's first sample, and the first later write then found it
    /// there, inside the spill's range. The redrive decides that now from that entry (the samples up to it in, the rest
    /// not): the table is exactly the truth, nothing undecided.
    /// </summary>
    [Fact]
    public void Regression_LatePutsAtParallelizationFactor10_AreDecided_TheTableExact()
    {
        var c = new SpillCase(517760, 2, 40, 600, 900, 49, false, [new Outage(102, 148, OutageKind.Down)], [], Factor: 10, LostAnswerPercent: 20, LandLate: true);

        Result r = Run(c);

        Assert.True(Holds(c, r), r.Describe());
        Assert.Empty(r.Problems);
        Assert.True(r.Exact, r.Describe());
        Assert.Equal(0, r.Final.Spill.Undecided);
        Assert.Equal(0, r.Final.Spill.Left);
    }

    /// <summary>
    /// Found by a review's soak of 2026-12-07 (about 2,000 random cases): with give-ups, bisection and puts that land
    /// 1.5 s late, and no attempt killed, the redrive doubled samples (seed 796220: one). An attempt's put was held, a
    /// later attempt read the item before it landed and spilled the pair as decided, then the put landed, with a
    /// pre-write entry saying it applied the sample; the redrive applied the decided sample again. The entry now shows
    /// the sample in. The first case is within the random property's draws; the second loses 40 % of the answers, the
    /// last has one watermark per shard. A fourth (seed 794888, ParallelizationFactor 4, adversarial, 40 % lost, Down
    /// 49-141) went from 99 samples above the truth to 13, which no entry shows: not drawn by the property (it loses at
    /// most 20 %), and not pinned.
    /// </summary>
    [Theory]
    [InlineData(796220, 7, 5, false, 20, "ReadThrottling 63-95", false)]
    [InlineData(901549, 4, 10, true, 40, "Hung 167-218", false)]
    [InlineData(393162, 8, 1, false, 20, "ReadThrottling 233-308, WriteThrottling 365-603", true)]
    public void Regression_GiveUpsBisectionAndLatePuts_NeverDouble(int seed, int spillAfter, int factor, bool adversarial, int lostPercent, string outages, bool perShard)
    {
        var c = new SpillCase(seed, 2, 40, 600, 900, spillAfter, false, ParseOutages(outages), [], GiveUps: true, [], factor, Bisect: true, adversarial, lostPercent, LandLate: true, PerShardWatermarkOnly: perShard);

        Result r = Run(c);

        Assert.True(Holds(c, r), r.Describe());
    }

    /// <summary>
    /// A case of the random property whose held puts all failed their condition, so none landed (seed 541336, 5 % of the
    /// answers lost, found 2026-12-07 by a review's soak): the harness took it for a case that tests no lost answer and
    /// failed it. It left puts unanswered, which is what the case tests; it holds.
    /// </summary>
    [Fact]
    public void Regression_LatePutsThatNeverLand_StillTestUnansweredPuts()
    {
        var c = new SpillCase(541336, 2, 40, 600, 900, 5, false, ParseOutages("ReadThrottling 303-601, Down 109-219"), [], GiveUps: true, [], 7, Bisect: false, Adversarial: false, LostAnswerPercent: 5, LandLate: true);

        Result r = Run(c);

        Assert.True(Holds(c, r), r.Describe());
    }

    /// <summary>An outage of any kind, starting 10 to 400 s into the run, 20 to 300 s long.</summary>
    private static readonly Gen<Outage> s_outage =
        from start in Gen.Choose(10, 400)
        from length in Gen.Choose(20, 300)
        from kind in Gen.Elements(OutageKind.WriteThrottling, OutageKind.ReadThrottling, OutageKind.Down, OutageKind.Hung)
        select new Outage(start, start + length, kind);

    /// <summary>
    /// Shrinks a case towards fewer shards, outages and faults: each shrink takes one thing away (an outage, the
    /// interruptions, the run faults, crashes, lost answers, bisection, the adversarial assignment, a factor down to 2, then 1).
    /// Give-ups and the spill age are drawn together, and a killed attempt is a case of its own: both stay as drawn, and so
    /// does the last outage (every generator draws one). A property whose generator bounds more (a factor of 2 or more,
    /// NDJSON records, six outages) says so to <see cref="CheckCases"/>. Without it a failure printed the case as drawn.
    /// </summary>
    private static IEnumerable<SpillCase> Shrink(SpillCase c)
    {
        if (c.Shards > 1)
        {
            yield return c with { Shards = 1 };
        }

        if (c.Factor > 2)
        {
            yield return c with { Factor = 2 };
        }

        if (c.Factor > 1)
        {
            yield return c with { Factor = 1 };
        }

        for (int i = 0; c.Outages.Count > 1 && i < c.Outages.Count; i++)
        {
            yield return c with { Outages = [.. c.Outages.Where((_, j) => j != i)] };
        }

        if (c.InterruptAfterRequests.Count > 0)
        {
            yield return c with { InterruptAfterRequests = [] };
        }

        if (c.Faults is { Count: > 0 })
        {
            yield return c with { Faults = [] };
        }

        if (c.Crashes)
        {
            yield return c with { Crashes = false };
        }

        if (c.LostAnswerPercent > 0)
        {
            yield return c with { LostAnswerPercent = 0, LandLate = false };
        }

        if (c.Bisect)
        {
            yield return c with { Bisect = false };
        }

        if (c.Adversarial)
        {
            yield return c with { Adversarial = false };
        }

        if (c.Ndjson)
        {
            yield return c with { Ndjson = false };
        }
    }

    /// <summary>
    /// Runs <paramref name="cases"/> cases of <paramref name="gen"/> (<c>TESTS_SOAK_CASES</c> for more), each required to
    /// satisfy <paramref name="holds"/>; a failing case throws with its description, shrunk by <see cref="Shrink"/> to cases
    /// that <paramref name="keep"/> (when given) says the generator could draw.
    /// </summary>
    private static void CheckCases(Gen<SpillCase> gen, int cases, Func<SpillCase, Result, bool> holds, Func<SpillCase, bool>? keep = null)
    {
        int count = int.TryParse(Environment.GetEnvironmentVariable("TESTS_SOAK_CASES"), out int n) && n > 0 ? n : cases;
        Prop.ForAll(Arb.From(gen, c => Shrink(c).Where(keep ?? (static _ => true))), c =>
        {
            Result r = Run(c);
            bool ok = holds(c, r);
            if (CaseStats.On)
            {
                CaseStats.Write("SpillOutageTests", [
                    new("seed", c.Seed), new("shards", c.Shards), new("pf", c.Factor), new("bisect", c.Bisect), new("giveUps", c.GiveUps),
                    new("crashes", c.Crashes), new("lostPercent", c.LostAnswerPercent), new("landLate", c.LandLate), new("ndjson", c.Ndjson),
                    new("perShard", c.PerShardWatermarkOnly), new("outageKinds", string.Join(",", c.Outages.Select(o => o.Kind))),
                    new("records", r.Records), new("windows", (c.ProduceSeconds + 59) / 60), new("invocations", r.Invocations),
                    new("spilledRecords", r.SpilledRecords), new("maxIteratorAgeMs", r.MaxIteratorAgeMs), new("undecided", r.Final.Spill.Undecided),
                    new("exact", r.Exact), new("problems", r.Problems.Count), new("holds", ok),
                ]);
            }

            return ok.Label(r.Describe());
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(count).WithQuietOnSuccess(true));
    }

    /// <summary>Outages as a case's label writes them: "WriteThrottling 62-95, Hung 151-201".</summary>
    private static Outage[] ParseOutages(string outages) =>
        [.. outages.Split(", ").Select(o => o.Split(' ', '-')).Select(p => new Outage(int.Parse(p[1], CultureInfo.InvariantCulture), int.Parse(p[2], CultureInfo.InvariantCulture), Enum.Parse<OutageKind>(p[0])))];

    /// <summary>
    /// What both random properties require of a case: no problem, and then exact with nothing undecided or left; with
    /// give-ups, what nothing decides may be reported undecided, except in an outage that only throttles writes and loses
    /// no answer (a lost answer is an ambiguous put, docs/failure-modes.md: its pair is spilled whole); with late puts,
    /// likewise: a lost put that lands after its pair was spilled is decided only by a later write's entry, and "with no
    /// entry that decides", the samples are undecided (docs/failure-modes.md, the rules of the redrive mark). This was
    /// excused with bisection alone (a bisected batch after a larger attempt's put landed); at ParallelizationFactor 2 to
    /// 10 without bisection it happened too (found 2026-12-07 when a local run of the random cases met seed 517760; then
    /// 4 of 24 such cases with 20 % of answers lost). Most were a shorter attempt's late put that left the key's
    /// watermark inside the spill's range, which the redrive decides now (the regression below); what is left there is
    /// a key whose 4 pre-write entries were used up by earlier spills before its own (seed 310391: one sample), a limit
    /// docs/failure-modes.md names. Still required in every case: no problem (nothing doubled, nothing short that is
    /// not reported undecided).
    /// </summary>
    private static bool Holds(SpillCase c, Result r)
    {
        bool writeOnly = c.Outages.All(o => o.Kind == OutageKind.WriteThrottling) && c.LostAnswerPercent == 0;
        return r.Problems.Count == 0 && (c.GiveUps
            ? !writeOnly || (r.Final.Spill.Undecided == 0 && r.Final.HeldBack == 0)
            : c.LandLate || (r.Exact && r.Final.Spill.Undecided == 0 && r.Final.Spill.Left == 0));
    }

    internal sealed record Result(SpillCase Case, List<string> Problems, long MaxIteratorAgeMs, long SpilledRecords, RedriveRunReport Final, bool Exact, int Records, long Invocations, int HeldBackRuns, string Timeline)
    {
        /// <summary>What the killed attempt of <see cref="SpillCase.Kill"/> led to, read at the end of the stream's run; null without one.</summary>
        public KillSeen? Kill { get; init; }

        public string Describe() =>
            $"{Case}: {Records} records, {Invocations} invocations, max iterator age {MaxIteratorAgeMs} ms, {SpilledRecords} records spilled; redrive: {Final.Spill}; " +
            (Kill is null ? string.Empty : $"killed attempt: {Kill}; ") +
            $"destination: {Final.Destination.Count} objects, {Final.Destination.Sum(d => d.Records)} records, {Final.Destination.Sum(d => d.Applied)} applied, {Final.Destination.Sum(d => d.AlreadyApplied)} already, {Final.Destination.Sum(d => d.Undecided)} undecided, {Final.HeldBack} held back (runs with a hold: {HeldBackRuns}); " +
            $"exact={Exact}; {string.Join("; ", Problems.Take(6))}; {Timeline}";
    }

    internal static Result Run(SpillCase c)
    {
        EmulatorScenario scenario = new()
        {
            Seed = c.Seed,
            StartTime = Emulate.Start,
            DurationSeconds = c.DurationSeconds,
            Stream = new() { ShardCount = c.Shards },
            Producers =
            [
                new()
                {
                    RatePerSecond = c.RatePerSecond,
                    Schedule = [new RateStep(c.ProduceSeconds, 0)],
                    PartitionKeys = 50,
                    Generator = c.Ndjson ? SeveralSamples : TwoSeries,
                },
            ],
            Mapping = new()
            {
                BatchSize = 10_000,
                MaximumBatchingWindowInSeconds = 1,
                ReportBatchItemFailures = true,
                MaximumRetryAttempts = c.GiveUps ? 1 : -1,
                OnFailure = c.GiveUps ? OnFailureDestination.S3 : OnFailureDestination.None,
                ParallelizationFactor = c.Factor,
                BisectBatchOnFunctionError = c.Bisect,
            },
            KeyAssignment = c.Adversarial ? KeyAssignment.Adversarial : KeyAssignment.Hash,
            // Crashes: the function answers 2.5 s after its work, past the 3 s timeout when its writes were slow (modeled
            // compute, which this was, now runs before the handler, which sees it and plans by what is left).
            Function = new() { TimeoutSeconds = c.Kill?.TimeoutSeconds ?? (c.Crashes ? 3 : 30), MemoryMb = 1769, ComputeMsPerInvocation = c.Crashes ? 0 : 5 },
        };

        var recording = new EmulationRecording();
        StreamEmulator emulator = null!;
        SampleDownstream downstream = null!;
        OutageHandler outages = null!;
        KillingS3Handler? s3Handler = null;
        long spilled = 0;
        emulator = new StreamEmulator(scenario, _ =>
        {
            ILambdaHandler function = new SpillingHandler(downstream, outages, s3Handler, emulator.Clock, c, n => Interlocked.Add(ref spilled, n));
            return c.Crashes ? new AnswersLateHandler(function, emulator.Clock, TimeSpan.FromMilliseconds(2_500)) : function;
        });
        downstream = new SampleDownstream(emulator.Clock, c.Seed, scenario.StartTime, new DownstreamFile { Dynamodb = new() { LatencyMs = new() { P50 = 5, P99 = 30 } } });
        using (downstream)
        {
            downstream.S3.CreateBucket(FailureBucket);
            if (c.GiveUps)
            {
                emulator.SendOnFailureTo(downstream.S3, FailureBucket);
            }

            outages = new OutageHandler(downstream.DynamoDb.HttpHandler, emulator.Clock, [.. c.Outages.Select(o => (scenario.StartTime.AddSeconds(o.FromSecond), scenario.StartTime.AddSeconds(o.ToSecond), o.Kind))]);
            using (outages)
            {
                outages.LostAnswerPercent = c.LostAnswerPercent;
                outages.LostAnswerSeed = c.Seed;
                outages.LandLate = c.LandLate;
                outages.Kill = c.Kill;
                outages.KillFrom = scenario.StartTime.AddSeconds(c.Kill?.AtSecond ?? 0);
                // Not disposed: it would dispose the S3 model's handler, which the downstream owns.
                s3Handler = c.Kill is null ? null : new KillingS3Handler(downstream.S3.HttpHandler, outages);
                EmulationSummary summary = emulator.Run(recording);
                outages.LostAnswerPercent = 0;
                KillSeen? killSeen = c.Kill is null ? null : SeeKill(outages.Held, downstream);

                var problems = new List<string>();
                // With late puts, a case whose held puts all failed their condition (none landed) still tested
                // unanswered puts: it failed the property before (seed 541336, 5 % lost, found 2026-12-07 by a review's soak).
                if (c.LostAnswerPercent > 0 && outages.LostAnswers == 0 && outages.Unanswered == 0)
                {
                    problems.Add("no put landed unanswered: the case does not test lost answers");
                }

                if (summary.RecordsPending != 0 || (summary.RecordsToDestination != 0 && !c.GiveUps) || summary.RecordsExpired != 0)
                {
                    problems.Add($"not drained: pending={summary.RecordsPending} destination={summary.RecordsToDestination} expired={summary.RecordsExpired}");
                }

                Dictionary<(string, long), Truth> truth = c.Ndjson ? LinesTruth(recording.Records, out HashSet<string> poison) : TrueAggregates.Of(recording.Records, WindowMs, out poison);
                if (poison.Count != 0)
                {
                    problems.Add($"{poison.Count} records are not JSON: the generator writes none");
                }

                using var faults = new ModelFaults(outages, downstream.S3.HttpHandler);
                using AmazonDynamoDBClient dynamoDb = faults.CreateDynamoDbClient();
                using IAmazonS3 s3 = faults.CreateS3Client();

                // The operator waits the redrive's minimum age after the outage. Runs that meet a fault and interrupted
                // runs, in an order drawn from the seed, then complete runs; the table is checked after every run.
                emulator.Clock.Advance(SpillRedrive.DefaultMinAge);
                RedriveRunReport final = new(new RedriveReport(0, 0, 0, 0, 0, 0, 0), []);
                var order = new Random(c.Seed);
                var runs = c.InterruptAfterRequests.Select(i => ((int?)i, (RunFault?)null))
                    .Concat((c.Faults ?? []).Select(f => ((int?)null, (RunFault?)f)))
                    .OrderBy(_ => order.Next())
                    .Append((null, null)).Append((null, null)).ToList();
                int heldBackRuns = 0;
                foreach ((int? interruptAfter, RunFault? fault) in runs)
                {
                    faults.FailSpillReads = fault == RunFault.SpillReadsFail;
                    faults.ThrottleWrites = fault == RunFault.TableThrottled;
                    RedriveRunReport? report = Redrive(emulator.Clock, dynamoDb, s3, outages, interruptAfter);
                    final = report ?? final;
                    heldBackRuns += report is { HeldBack: > 0 } ? 1 : 0;
                    problems.AddRange(Doubled(truth, TrueAggregates.Stored(downstream.DynamoDb, SampleDownstream.TableName)));
                }

                faults.FailSpillReads = false;
                faults.ThrottleWrites = false;
                Dictionary<(string, long), Truth> table = TrueAggregates.Stored(downstream.DynamoDb, SampleDownstream.TableName);
                long truthCount = truth.Values.Sum(t => t.Count);
                long storedCount = table.Values.Sum(t => t.Count);
                // The destination phase reports (record, aggregate) pairs; an NDJSON record may put up to four samples into
                // one item, so there each undecided pair counts its record's samples in that item, and a record or pair
                // left or held back counts four.
                Dictionary<(string Seq, string Pk, string Sk), int>? samplesOf = c.Ndjson ? SamplesPerRecordAndItem(recording.Records) : null;
                int destinationUndecided = samplesOf is null
                    ? final.Destination.Sum(d => d.Undecided)
                    : final.Destination.SelectMany(d => d.Cases).Where(k => k.Status == RedriveStatus.Undecided).Sum(k => samplesOf.GetValueOrDefault((k.SequenceNumber, k.ItemPk, k.ItemSk), 1));
                int perRecord = c.Ndjson ? 4 : 1;
                int heldBackRecords = final.Destination.Where(d => d.HeldBack).Sum(d => d.Records) * perRecord;
                int destinationOpen = destinationUndecided + heldBackRecords + (final.Destination.Sum(d => d.Left) * perRecord) + final.Destination.Count(d => d.Error is not null && !d.HeldBack);
                // An undecided sample may be in the table (whether its put landed is what is not visible): the table may
                // lack at most what is reported, and never hold more than the truth.
                if (!c.GiveUps && storedCount > truthCount)
                {
                    problems.Add($"table {storedCount} above truth {truthCount}");
                }

                if (!c.GiveUps && truthCount - storedCount > final.Spill.Undecided)
                {
                    problems.Add($"table {storedCount} short of truth {truthCount} by more than the undecided {final.Spill.Undecided}");
                }

                // With give-ups a destination pair reported undecided may be in the table (the failed attempt applied it):
                // the table may then lack at most what is reported.
                if (c.GiveUps && truthCount - storedCount > final.Spill.Undecided + destinationOpen)
                {
                    problems.Add($"table {storedCount} short of truth {truthCount} by more than the spills' undecided {final.Spill.Undecided} and the destination's undecided, held back or left {destinationOpen}");
                }

                if (final.Spill.Undecided == 0 && final.Spill.Left != 0)
                {
                    problems.Add($"{final.Spill.Left} objects left with nothing undecided");
                }

                // Once every spill is applied, the run that applied them goes on to the destination objects: none waits.
                if (final.Spill.Left == 0 && final.HeldBack != 0)
                {
                    problems.Add($"{final.HeldBack} destination objects held back with no spill left");
                }

                if (final.Destination.Any(d => d.Error is not null && !d.HeldBack))
                {
                    problems.Add("destination errors: " + string.Join(", ", final.Destination.Where(d => d.Error is not null && !d.HeldBack).Take(2).Select(d => d.Error)));
                }

                bool exact = truth.Count == table.Count && truth.All(t => table.TryGetValue(t.Key, out Truth? s) && s.EqualsWithinRounding(t.Value));
                if (final.Spill.Undecided == 0 && destinationOpen == 0 && !exact)
                {
                    problems.AddRange(truth.Where(t => !(table.TryGetValue(t.Key, out Truth? s) && s.EqualsWithinRounding(t.Value))).Take(3).Select(t => $"{t.Key} expected {t.Value}, stored {table.GetValueOrDefault(t.Key)}"));
                }

                // Per minute: the largest iterator age and the invocations' outcomes, to show where the shard stood.
                string timeline = string.Join(" ", recording.Invocations
                    .GroupBy(i => i.EndMs / 60_000)
                    .OrderBy(g => g.Key)
                    .Select(g => $"m{g.Key}:{g.Max(i => i.IteratorAgeMs) / 1000}s/{string.Join(",", g.GroupBy(i => i.Outcome).Select(o => $"{o.Key.ToString()[0]}{o.Count()}"))}"));
                return new Result(c, problems, summary.MaxIteratorAgeMs, spilled, final, exact, recording.Records.Count, summary.Invocations, heldBackRuns, timeline) { Kill = killSeen };
            }
        }
    }

    /// <summary>
    /// The sequence of docs/failure-modes.md's "What neither covers", as it happened in a run: the killed attempt's held
    /// put of an item; the spills, written (by S3's clock) before that put landed, that hold a pair of the same item as
    /// decided with samples the landed put applied too (at or below the watermark it set for their key); how many such
    /// samples; and how many of their keys later live writes moved past them.
    /// </summary>
    internal sealed record KillSeen(HeldKill? Held, int DecidedSpills, int SamplesSpilledAndLanded, int KeysMovedOnAfter, DateTimeOffset? FirstSpillAt = null)
    {
        /// <summary>Whether the hole's sequence happened: the held put landed after a decided spill of its pair that holds samples it applied.</summary>
        public bool Happened => Held?.LandedAt is not null && DecidedSpills > 0 && SamplesSpilledAndLanded > 0;

        public override string ToString() => Held is not { } h
            ? "no put held"
            : $"put of ({h.Pk}, {h.Sk}) v{h.Version} sent at {h.SentAt:HH:mm:ss.fff}, " + (h.LandedAt is { } at ? $"landed at {at:HH:mm:ss.fff}" : "never landed") +
              $"; {DecidedSpills} decided spills of the pair written before it landed" + (FirstSpillAt is { } spilledAt ? $" (the first at {spilledAt:HH:mm:ss.fff})" : string.Empty) +
              $" hold {SamplesSpilledAndLanded} samples it applied, of {KeysMovedOnAfter} keys later writes moved on";
    }

    private static KillSeen SeeKill(HeldKill? held, SampleDownstream downstream)
    {
        if (held?.LandedAt is not { } landed)
        {
            return new KillSeen(held, 0, 0, 0);
        }

        // The item at the end of the stream's run, before the redrive: its watermarks are where the live writes left them.
        Dictionary<string, Amazon.DynamoDBv2.Model.AttributeValue>? item = downstream.DynamoDb.GetItems(SampleDownstream.TableName)
            .FirstOrDefault(i => i[DynamoDbItem.PartitionKey].S == held.Pk && i[DynamoDbItem.SortKey].S == held.Sk);
        int spills = 0, samples = 0, movedOn = 0;
        DateTimeOffset? first = null;
        foreach (S3ModelObject o in downstream.S3.GetObjects(SampleDownstream.BucketName))
        {
            if (!o.Key.StartsWith(SpillPrefix + "/", StringComparison.Ordinal) || !o.Key.EndsWith(".json", StringComparison.Ordinal) || o.LastModified >= landed ||
                !SpillObject.TryRead(o.Body, out SpillObjectContent? content, out _))
            {
                continue;
            }

            Dictionary<string, Amazon.DynamoDBv2.Model.AttributeValue>? now = DynamoDbItem.GetKeyWatermarks(item, content!.ShardId);
            foreach (SpillObjectPair pair in content.Pairs.Where(p => p.Key.Pk == held.Pk && p.Key.Sk == held.Sk && !p.OutcomeUnknown))
            {
                var both = pair.Samples.Where(s => (held.Watermarks.TryGetValue((content.ShardId, s.PartitionKey), out string? w) || held.Floors.TryGetValue(content.ShardId, out w)) && SequenceNumber.Compare(s.SequenceNumber, w) <= 0).ToList();
                if (both.Count == 0)
                {
                    continue;
                }

                spills++;
                samples += both.Count;
                first = first is { } f && f <= o.LastModified ? f : o.LastModified;
                movedOn += both.GroupBy(s => s.PartitionKey).Count(g => now is not null && now.TryGetValue(g.Key, out var w) && w.S is { } mark && SequenceNumber.Compare(mark, held.Watermarks[(content.ShardId, g.Key)]) > 0);
            }
        }

        return new KillSeen(held, spills, samples, movedOn, first);
    }

    /// <summary>One <c>redrive</c> run against the models, the virtual clock driven until it ends; null when it was interrupted.</summary>
    private static RedriveRunReport? Redrive(VirtualClock clock, IAmazonDynamoDB dynamoDb, IAmazonS3 s3, OutageHandler handler, int? interruptAfterRequests)
    {
        using var cancel = new CancellationTokenSource();
        handler.CancelAfter(interruptAfterRequests, cancel);
        var options = new RedriveRunOptions(
            SampleDownstream.TableName,
            SampleDownstream.BucketName,
            SpillPrefix,
            SpillRedrive.DefaultMinAge,
            FailureBucket,
            "aws/lambda/",
            SampleDownstream.BucketName,
            ProcessorOptions.Default)
        {
            // Spill ages, the lease and the backoff on the virtual clock; the pipeline's deadlines on the system clock, which
            // the loop below does not drive. On the virtual clock the loop jumps to the deadline whenever it is the only timer
            // due while the sink's work runs on another thread, and the sink times out (seen: seed=422924 shards=2 with
            // SpillReadsFail, "aggregate sink TimedOut"). The emulator's run must not fire anything while the loop drives the
            // clock (FunctionRuleTests.AfterTheRun_NothingOfItFires_...): its idle polls raced the clock by days.
            Clock = clock,
            DynamoDbRetry = DynamoDbAggregateSinkOptions.Default.Retry with { TimeProvider = clock, JitterSeed = 1 },
            S3Retry = S3QuarantineSinkOptions.Default.Retry with { TimeProvider = clock, JitterSeed = 1 },
        };
        Task<RedriveRunReport> run = Task.Run(() => RedriveRun.RunAsync(options, s3, dynamoDb, TextWriter.Null, cancel.Token));
        // Bounded in real time, not in spins: a spin is nanoseconds on an idle core, and the redrive's thread may wait
        // its turn for a while when the other test assembly has the CPU.
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        while (!run.IsCompleted)
        {
            Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(started) < RedriveBound, $"the redrive did not finish within {RedriveBound.TotalMinutes} minutes");
            if (clock.NextDue is { } due)
            {
                // A timer left from the run may be due already: advancing by nothing fires it.
                clock.Advance(due > clock.GetUtcNow() ? due - clock.GetUtcNow() : TimeSpan.Zero);
            }
            else
            {
                Thread.Yield();
            }
        }

        handler.CancelAfter(null, null);
        try
        {
            return run.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return null;
        }
    }

    // Two series (two metrics), timestamps from arrival: few pairs per batch, so runs stay quick.
    private static byte[] TwoSeries(long index, string partitionKey, DateTimeOffset time, Random random) =>
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"metric\":\"m{random.Next(2)}\",\"value\":{random.Next(-500, 1000)},\"timestamp\":{time.ToUnixTimeMilliseconds()}}}"));

    // One to four NDJSON lines of the same two series, most in the window of the arrival and some in the one before: a
    // record often holds two samples of one pair (one sequence number, one partition key, two samples in one item).
    private static byte[] SeveralSamples(long index, string partitionKey, DateTimeOffset time, Random random) =>
        Encoding.UTF8.GetBytes(string.Join('\n', Enumerable.Range(0, random.Next(1, 5)).Select(_ => string.Create(
            CultureInfo.InvariantCulture,
            $"{{\"metric\":\"m{random.Next(2)}\",\"value\":{random.Next(-500, 1000)},\"timestamp\":{time.ToUnixTimeMilliseconds() - (random.Next(4) == 0 ? WindowMs : 0)}}}"))));

    /// <summary>Per NDJSON record and item (<c>pk</c>, <c>sk</c> as the redrive names them), how many of the record's samples the item holds.</summary>
    private static Dictionary<(string Seq, string Pk, string Sk), int> SamplesPerRecordAndItem(IEnumerable<StreamRecord> records)
    {
        var counts = new Dictionary<(string, string, string), int>();
        foreach (StreamRecord record in records)
        {
            foreach (string line in Encoding.UTF8.GetString(record.Data.Span).Split('\n'))
            {
                using JsonDocument document = JsonDocument.Parse(line);
                long timestamp = document.RootElement.GetProperty("timestamp").GetInt64();
                string sk = DateTimeOffset.FromUnixTimeMilliseconds(timestamp - (timestamp % WindowMs)).UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fff'Z'", CultureInfo.InvariantCulture);
                (string, string, string) key = (record.SequenceNumber, document.RootElement.GetProperty("metric").GetString()!, sk);
                counts[key] = counts.GetValueOrDefault(key) + 1;
            }
        }

        return counts;
    }

    /// <summary>The true aggregates of NDJSON records, line by line with <see cref="JsonDocument"/> (the generator writes no poison).</summary>
    private static Dictionary<(string, long), Truth> LinesTruth(IEnumerable<StreamRecord> records, out HashSet<string> poison)
    {
        var truth = new Dictionary<(string, long), Truth>();
        poison = [];
        foreach (StreamRecord record in records)
        {
            foreach (string line in Encoding.UTF8.GetString(record.Data.Span).Split('\n'))
            {
                using JsonDocument document = JsonDocument.Parse(line);
                JsonElement root = document.RootElement;
                long timestamp = root.GetProperty("timestamp").GetInt64();
                (string, long) item = (root.GetProperty("metric").GetString()!, timestamp - (timestamp % WindowMs));
                double value = root.GetProperty("value").GetDouble();
                truth[item] = truth.TryGetValue(item, out Truth? t) ? t.Add(value) : Truth.Of(value);
            }
        }

        return truth;
    }

    /// <summary>The property that catches a double: no item may hold more samples than the truth, or a value outside it.</summary>
    private static IEnumerable<string> Doubled(Dictionary<(string, long), Truth> truth, Dictionary<(string, long), Truth> table)
    {
        foreach (((string, long) key, Truth stored) in table)
        {
            if (!truth.TryGetValue(key, out Truth? t))
            {
                yield return $"doubled: unexpected item {key}";
            }
            else if (stored.Exceeds(t))
            {
                yield return $"doubled: {key} holds {stored}, truth {t}";
            }
        }
    }

    /// <summary>The sample function's pipeline with spilling to the S3 model, counting what it spilled.</summary>
    private sealed class SpillingHandler : ILambdaHandler
    {
        private readonly KinesisBatchProcessor _processor;
        private readonly ArrayBufferWriter<byte> _response = new(1024);
        private readonly Action<long> _spilled;
        private readonly int _seed;
        private readonly bool _crashAfterSpill;
        private readonly OutageHandler _outages;
        private int _invocations;

        public SpillingHandler(SampleDownstream downstream, OutageHandler outages, HttpMessageHandler? s3Handler, TimeProvider clock, SpillCase c, Action<long> spilled)
        {
            _outages = outages;
            var table = new DynamoDbAggregateSink(outages.CreateClient(), DynamoDbAggregateSinkOptions.Default with
            {
                TableName = SampleDownstream.TableName,
                Retry = DynamoDbAggregateSinkOptions.Default.Retry with { TimeProvider = clock, JitterSeed = c.Seed },
                PerShardWatermarkOnly = c.PerShardWatermarkOnly,
            });
            IAmazonS3 s3 = c.Kill is null ? downstream.S3.CreateClient() : new ModelS3Client(new AnonymousAWSCredentials(), ModelSdkClients.S3Config(s3Handler!));
            var spill = new S3SpillSink(s3, S3SpillSinkOptions.Default with
            {
                BucketName = SampleDownstream.BucketName,
                KeyPrefix = SpillPrefix,
                Retry = S3SpillSinkOptions.Default.Retry with { TimeProvider = clock, JitterSeed = c.Seed },
            }, table);
            _processor = new KinesisBatchProcessor(table, downstream.CreateQuarantineSink(), ProcessorOptions.Default with
            {
                TimeProvider = clock,
                SpillSink = spill,
                SpillAfterAge = TimeSpan.FromSeconds(c.SpillAfterSeconds),
            });
            _spilled = spilled;
            _seed = c.Seed;
            _crashAfterSpill = c.GiveUps;
        }

        public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
        {
            _response.ResetWrittenCount();
            object? invocation = VirtualClock.CurrentOwner.Value;
            BatchSummary summary = await _processor.ProcessAsync(utf8Event, deadline, _response, cancellationToken).ConfigureAwait(false);
            if (_outages.IsKilled(invocation))
            {
                // The pipeline gave up on its hung sinks and would answer before its deadline: a killed process never does.
                await _outages.NeverAnswerAsync().ConfigureAwait(false);
            }

            _spilled(summary.SpilledRecords);

            // A crash after the spill is confirmed, before the response: Lambda retries the batch, and once it gives up, the
            // last attempt's spill stays while the batch goes to the destination too. Consecutive seeds of Random start
            // alike: mix the invocation number in first.
            ulong mixed = SeededMix.Of(_seed, _invocations++);
            if (_crashAfterSpill && summary.SpilledRecords > 0 && (mixed >> 40) % 2 == 0)
            {
                throw new InvalidOperationException("crash after the spill");
            }

            return _response.WrittenMemory.ToArray();
        }
    }

    /// <summary>The killed attempt's put: the item, the version it writes, when it was sent and when it landed (null: it did not).</summary>
    internal sealed record HeldKill(string Pk, string Sk, long Version, DateTimeOffset SentAt, DateTimeOffset? LandedAt)
    {
        /// <summary>The partition-key watermarks the put sets (<c>wk</c>), by shard and key: what it applied of each key reaches up to them.</summary>
        public IReadOnlyDictionary<(string Shard, string Key), string> Watermarks { get; init; } = new Dictionary<(string Shard, string Key), string>();

        /// <summary>The shard floors the put sets (<c>wm</c>, with one watermark per shard), by shard: what it applied of every key reaches up to them.</summary>
        public IReadOnlyDictionary<string, string> Floors { get; init; } = new Dictionary<string, string>();
    }

    /// <summary>In front of the S3 model for the spill sink: the killed attempt's requests are never answered, so it cannot spill.</summary>
    private sealed class KillingS3Handler(HttpMessageHandler model, OutageHandler outages) : DelegatingHandler(model)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            outages.IsKilled(VirtualClock.CurrentOwner.Value) ? outages.NeverAnswerAsync() : base.SendAsync(request, cancellationToken);
    }

    /// <summary>
    /// Outages in front of the DynamoDB model: write throttling (PutItem answered with ProvisionedThroughputExceeded,
    /// reads served), down (every request answered HTTP 500, nothing applied) or hung (no request answered, nothing
    /// applied: each waits until its caller's token fires, also past the outage's end); and a request count after which
    /// a redrive is interrupted.
    /// </summary>
    private sealed class OutageHandler(HttpMessageHandler model, TimeProvider clock, List<(DateTimeOffset From, DateTimeOffset Until, OutageKind Kind)> outages) : DelegatingHandler(model)
    {
        private static readonly byte[] s_throttled = Encoding.UTF8.GetBytes("{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\",\"message\":\"The level of configured provisioned throughput for the table was exceeded.\"}");
        private static readonly byte[] s_serverError = Encoding.UTF8.GetBytes("{\"__type\":\"com.amazonaws.dynamodb.v20120810#InternalServerError\",\"message\":\"Internal server error\"}");
        private int _countdown = -1;
        private CancellationTokenSource? _cancel;

        public void CancelAfter(int? requests, CancellationTokenSource? cancel)
        {
            _cancel = cancel;
            Volatile.Write(ref _countdown, requests ?? -1);
        }

        public AmazonDynamoDBClient CreateClient() =>
            new ModelDynamoDbClient(new AnonymousAWSCredentials(), ModelSdkClients.DynamoDbConfig(this));

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Volatile.Read(ref _countdown) >= 0 && Interlocked.Decrement(ref _countdown) < 0)
            {
                _cancel?.Cancel();
            }

            DateTimeOffset now = clock.GetUtcNow();
            string target = request.Headers.TryGetValues("X-Amz-Target", out IEnumerable<string>? values) ? values.FirstOrDefault() ?? string.Empty : string.Empty;
            object? owner = VirtualClock.CurrentOwner.Value;
            if (IsKilled(owner))
            {
                return NeverAnswerAsync();
            }

            // Only an invocation's put (a redrive's flow has no owner), and before the outages: DynamoDB took it.
            if (Kill is { } kill && owner is not null && now >= KillFrom && target.EndsWith(".PutItem", StringComparison.Ordinal) && Interlocked.CompareExchange(ref _killed, owner, null) is null)
            {
                return HoldAndDieAsync(request, kill, now);
            }

            foreach ((DateTimeOffset from, DateTimeOffset until, OutageKind kind) in outages)
            {
                if (now >= from && now < until && kind == OutageKind.Hung)
                {
                    return NoAnswerAsync(cancellationToken);
                }

                bool read = target.EndsWith(".GetItem", StringComparison.Ordinal) || target.EndsWith(".BatchGetItem", StringComparison.Ordinal) || target.EndsWith(".Query", StringComparison.Ordinal);
                if (now >= from && now < until && (kind == OutageKind.Down || (kind == OutageKind.WriteThrottling && target.EndsWith(".PutItem", StringComparison.Ordinal)) || (kind == OutageKind.ReadThrottling && read)))
                {
                    var response = new HttpResponseMessage(kind == OutageKind.Down ? HttpStatusCode.InternalServerError : HttpStatusCode.BadRequest)
                    {
                        RequestMessage = request,
                        Content = new ByteArrayContent(kind == OutageKind.Down ? s_serverError : s_throttled),
                    };
                    response.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-amz-json-1.0");
                    return Task.FromResult(response);
                }
            }

            return target.EndsWith(".PutItem", StringComparison.Ordinal) && LostAnswerPercent > 0 ? LoseAnswerAsync(request, cancellationToken) : base.SendAsync(request, cancellationToken);
        }

        /// <summary>The share (percent, seeded) of PutItem requests that the model applies and that are then answered HTTP 500 (the answer lost).</summary>
        public int LostAnswerPercent { get; set; }

        public int LostAnswerSeed { get; set; }

        public long LostAnswers => Interlocked.Read(ref _lostAnswers);

        /// <summary>Puts left unanswered to land late (<see cref="LandLate"/>), whether or not they then landed (a held put whose condition fails never does).</summary>
        public long Unanswered => Interlocked.Read(ref _unanswered);

        private long _puts;
        private long _lostAnswers;
        private long _unanswered;

        /// <summary>Lost answers are not answered at all, and the model applies the put 1.5 s later, owned by no invocation (it lands after a timeout too).</summary>
        public bool LandLate { get; set; }

        private async Task<HttpResponseMessage> LoseAnswerAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (LandLate)
            {
                if (!DrawsLostAnswer())
                {
                    return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
                }

                Interlocked.Increment(ref _unanswered);
                await HeldPuts.HoldAsync(request, LandLateAsync, cancellationToken).ConfigureAwait(false);
                return await NoAnswerAsync(cancellationToken).ConfigureAwait(false);
            }

            HttpResponseMessage answer = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            bool lost = DrawsLostAnswer(); // drawn for every put, answered or not, so a seed draws the same sequence
            if (answer.StatusCode != HttpStatusCode.OK || !lost)
            {
                return answer;
            }

            answer.Dispose();
            Interlocked.Increment(ref _lostAnswers);
            var response = new HttpResponseMessage(HttpStatusCode.InternalServerError) { RequestMessage = request, Content = new ByteArrayContent(s_serverError) };
            response.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-amz-json-1.0");
            return response;
        }

        /// <summary>Whether this put's answer is lost: <see cref="LostAnswerPercent"/> of the puts, drawn from the seed and the put's count.</summary>
        private bool DrawsLostAnswer()
        {
            return SeededMix.Below(LostAnswerSeed, Interlocked.Increment(ref _puts), LostAnswerPercent);
        }

        private async Task LandLateAsync(HttpRequestMessage copy)
        {
            if (await HeldPuts.ApplyAfterAsync(InnerHandler!, copy, TimeSpan.FromMilliseconds(1_500), clock).ConfigureAwait(false))
            {
                Interlocked.Increment(ref _lostAnswers);
            }
        }

        /// <summary>The attempt to kill (<see cref="KilledAttempt"/>); null: none.</summary>
        public KilledAttempt? Kill { get; set; }

        /// <summary>When <see cref="Kill"/> begins: its first put at or after this time is held and its invocation killed.</summary>
        public DateTimeOffset KillFrom { get; set; }

        /// <summary>The killed attempt's held put: its item and version, when it was sent, and when it landed (null: not yet, or its condition refused it).</summary>
        public HeldKill? Held { get; private set; }

        private object? _killed;

        /// <summary>Whether <paramref name="owner"/> (an invocation, <see cref="VirtualClock.CurrentOwner"/>) is the killed attempt.</summary>
        public bool IsKilled(object? owner) => owner is not null && ReferenceEquals(Volatile.Read(ref _killed), owner);

        /// <summary>
        /// What the killed attempt waits on: a timer of its own past the function's timeout, which the emulator drops unfired
        /// once the invocation timed out. Not a task nothing completes: the emulator would take the invocation for one
        /// waiting on something real. Cancellation is ignored, as by a frozen process.
        /// </summary>
        public async Task<HttpResponseMessage> NeverAnswerAsync()
        {
            await ClockDelay.WaitAsync(clock, TimeSpan.FromSeconds(Kill!.TimeoutSeconds + 1), CancellationToken.None).ConfigureAwait(false);
            throw new InvalidOperationException("unreachable: a timed-out invocation's timers never fire");
        }

        private async Task<HttpResponseMessage> HoldAndDieAsync(HttpRequestMessage request, KilledAttempt kill, DateTimeOffset sent)
        {
            await HeldPuts.HoldAsync(request, copy => LandKilledAsync(copy, kill, sent), CancellationToken.None).ConfigureAwait(false);
            return await NeverAnswerAsync().ConfigureAwait(false);
        }

        private async Task LandKilledAsync(HttpRequestMessage copy, KilledAttempt kill, DateTimeOffset sent)
        {
            HeldKill held;
            using (var body = System.Text.Json.JsonDocument.Parse(await copy.Content!.ReadAsByteArrayAsync().ConfigureAwait(false)))
            {
                System.Text.Json.JsonElement item = body.RootElement.GetProperty("Item");
                var watermarks = new Dictionary<(string Shard, string Key), string>();
                if (item.TryGetProperty("wk", out System.Text.Json.JsonElement wk))
                {
                    foreach (System.Text.Json.JsonProperty shard in wk.GetProperty("M").EnumerateObject())
                    {
                        foreach (System.Text.Json.JsonProperty key in shard.Value.GetProperty("M").EnumerateObject())
                        {
                            watermarks[(shard.Name, key.Name)] = key.Value.GetProperty("S").GetString()!;
                        }
                    }
                }

                var floors = new Dictionary<string, string>();
                if (item.TryGetProperty("wm", out System.Text.Json.JsonElement wm))
                {
                    foreach (System.Text.Json.JsonProperty shard in wm.GetProperty("M").EnumerateObject())
                    {
                        floors[shard.Name] = shard.Value.GetProperty("S").GetString()!;
                    }
                }

                held = new HeldKill(
                    item.GetProperty("pk").GetProperty("S").GetString()!,
                    item.GetProperty("sk").GetProperty("S").GetString()!,
                    long.Parse(item.GetProperty("ver").GetProperty("N").GetString()!, CultureInfo.InvariantCulture),
                    sent,
                    null)
                { Watermarks = watermarks, Floors = floors };
            }

            Held = held;
            if (await HeldPuts.ApplyAfterAsync(InnerHandler!, copy, TimeSpan.FromSeconds(kill.HoldSeconds), clock).ConfigureAwait(false))
            {
                Held = held with { LandedAt = clock.GetUtcNow() };
            }
        }

        // Ends only by the caller's cancellation, and goes on on the thread that cancelled (a Task.Delay would resume on
        // the thread pool, off the virtual clock's thread).
        private async Task<HttpResponseMessage> NoAnswerAsync(CancellationToken cancellationToken)
        {
            await ClockDelay.WaitAsync(clock, Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            throw new InvalidOperationException("unreachable: the wait ends only by cancellation");
        }

    }
}
