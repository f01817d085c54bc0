using System.Buffers;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// How much of the sinks' time the aggregate sink gets when the batch may be spilled (docs/failure-modes.md, "The
/// decision"): two thirds of the time left, or, when this processor's last invocation of the shard spilled, one
/// second (within the two thirds) at most every five seconds, and nothing in between; and how many spilling shards the
/// processor remembers (1024).
/// Expectations are computed by hand from the documented defaults: a 30 s budget keeps a 3 s safety margin (10 %, at
/// least 1 s), so the working time, all of it left for the sinks when reading takes no time, is 27 s.
/// </summary>
public class SpillShareTests
{
    private static readonly DateTimeOffset s_start = DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival + 600_000);

    /// <summary>While a shard spills, the processor probes the store at most this often (documented).</summary>
    private static readonly TimeSpan s_probeInterval = TimeSpan.FromSeconds(5);

    /// <summary>The spill age of the tests that set one: a minute.</summary>
    private static readonly TimeSpan s_spillAge = TimeSpan.FromSeconds(60);

    private static (KinesisBatchProcessor Processor, ManualTimeProvider Time, ShareSink Sink, TestSpillSink Spill) Create(TimeSpan? spillAfterAge = null, int spillAfterFailedInvocations = 0)
    {
        var time = new ManualTimeProvider(s_start);
        var sink = new ShareSink(time);
        var spill = new TestSpillSink();
        var processor = new KinesisBatchProcessor(
            sink,
            new RecordingQuarantineSink(),
            ProcessorOptions.Default with
            {
                TimeProvider = time,
                SpillSink = spill,
                SpillAfterAge = spillAfterAge ?? ProcessorOptions.Default.SpillAfterAge,
                SpillAfterFailedInvocations = spillAfterFailedInvocations,
            });
        return (processor, time, sink, spill);
    }

    /// <summary>Three records of one series, each <paramref name="age"/> old on the clock now.</summary>
    private static List<TestRecord> AgedRecords(ManualTimeProvider time, TimeSpan age)
    {
        long arrival = time.GetUtcNow().ToUnixTimeMilliseconds() - (long)age.TotalMilliseconds;
        return [.. Enumerable.Range(10, 3).Select(i => new TestRecord(TestEvents.Seq(i), TestEvents.Utf8(TestEvents.Sample("m", i, arrival)), arrival))];
    }

    /// <summary>
    /// Runs an invocation of a batch <paramref name="age"/> old with <paramref name="budget"/>, moves the clock
    /// <paramref name="advance"/> and returns its summary (it must have ended), its start and its records.
    /// </summary>
    private static async Task<(BatchSummary Summary, DateTimeOffset Start, List<TestRecord> Records)> RunAgedAsync(
        KinesisBatchProcessor processor, ManualTimeProvider time, TimeSpan age, TimeSpan budget, TimeSpan advance)
    {
        List<TestRecord> records = AgedRecords(time, age);
        DateTimeOffset start = time.GetUtcNow();
        Task<BatchSummary> run = processor.ProcessAsync(TestEvents.Build(records), start + budget, new ArrayBufferWriter<byte>());
        time.Advance(advance);
        Assert.True(run.IsCompleted, $"the invocation did not end {advance} after its start");
        return (await run, start, records);
    }

    /// <summary>Runs an invocation of an old batch of <paramref name="shardId"/> whose sink waits for its token; returns when, after the start, the token fired.</summary>
    private static async Task<TimeSpan> ShareOfAsync(KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, string shardId, TimeSpan budget)
    {
        sink.WaitForToken = true;
        DateTimeOffset start = time.GetUtcNow();
        Task<BatchSummary> run = processor.ProcessAsync(SpillEvents.Build(SpillEvents.Records(1, 3), shardId), start + budget, new ArrayBufferWriter<byte>());
        time.Advance(budget);
        Assert.True(run.IsCompleted, "the invocation did not end within its budget");
        BatchSummary summary = await run;
        Assert.Equal(SinkOutcome.Completed, summary.SpillOutcome); // the sink gave up, so the batch was spilled
        return sink.CancelledAt[^1] - start;
    }

    /// <summary>Spills an old batch of <paramref name="shardId"/> whose sink fails at once, without the clock moving.</summary>
    private static void SpillAtOnce(KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, string shardId)
    {
        sink.WaitForToken = false;
        BatchSummary summary = SpillEvents.RunAtOnce(processor, time, SpillEvents.Build(SpillEvents.Records(1, 3), shardId));
        Assert.Equal(SinkOutcome.Completed, summary.SpillOutcome);
    }

    private static void AssertClose(TimeSpan expected, TimeSpan actual) =>
        Assert.True(Math.Abs((expected - actual).TotalMilliseconds) <= 1, $"expected {expected}, the sink's token fired at {actual}");

    [Fact]
    public async Task FirstSpill_GetsTwoThirds_TheNextOfTheShard_OneSecond()
    {
        using var noContext = new NoSynchronizationContext();
        (KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, _) = Create();
        using (processor)
        {
            // Two thirds of 27 s; then one second.
            AssertClose(TimeSpan.FromSeconds(18), await ShareOfAsync(processor, time, sink, TestEvents.ShardId, TimeSpan.FromSeconds(30)));
            AssertClose(TimeSpan.FromSeconds(1), await ShareOfAsync(processor, time, sink, TestEvents.ShardId, TimeSpan.FromSeconds(30)));
            AssertClose(TimeSpan.FromSeconds(1), await ShareOfAsync(processor, time, sink, TestEvents.ShardId, TimeSpan.FromSeconds(30)));
        }
    }

    /// <summary>The probe: one second, whatever the budget, but never more than the usual two thirds.</summary>
    /// <param name="budgetMs">The invocation's budget.</param>
    /// <param name="usualMs">Two thirds of the working time (budget less max(1 s, 10 %), and at most half the budget).</param>
    /// <param name="probeMs">min(two thirds of the working time, 1 s).</param>
    [Theory]
    [InlineData(120_000, 72_000, 1_000)] // the template's timeout: a tenth would have been 10.8 s
    [InlineData(30_000, 18_000, 1_000)]
    [InlineData(10_000, 6_000, 1_000)]
    [InlineData(2_500, 1_000, 1_000)]
    [InlineData(1_500, 500, 500)] // working 0.75 s: the probe is capped by the usual share
    public async Task Probe_IsOneSecond_WithinTheUsualShare(int budgetMs, int usualMs, int probeMs)
    {
        using var noContext = new NoSynchronizationContext();
        (KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, _) = Create();
        using (processor)
        {
            TimeSpan budget = TimeSpan.FromMilliseconds(budgetMs);
            AssertClose(TimeSpan.FromMilliseconds(usualMs), await ShareOfAsync(processor, time, sink, TestEvents.ShardId, budget));
            time.Advance(s_probeInterval);
            AssertClose(TimeSpan.FromMilliseconds(probeMs), await ShareOfAsync(processor, time, sink, TestEvents.ShardId, budget));
        }
    }

    [Fact]
    public async Task ProbeIsPerShard_AnotherShardsSpill_DoesNotEndIt()
    {
        using var noContext = new NoSynchronizationContext();
        (KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, _) = Create();
        using (processor)
        {
            SpillAtOnce(processor, time, sink, SpillEvents.Shard(1));
            SpillAtOnce(processor, time, sink, SpillEvents.Shard(2));
            time.Advance(s_probeInterval);

            AssertClose(TimeSpan.FromSeconds(1), await ShareOfAsync(processor, time, sink, SpillEvents.Shard(1), TimeSpan.FromSeconds(30)));
            AssertClose(TimeSpan.FromSeconds(1), await ShareOfAsync(processor, time, sink, SpillEvents.Shard(2), TimeSpan.FromSeconds(30)));
            AssertClose(TimeSpan.FromSeconds(18), await ShareOfAsync(processor, time, sink, SpillEvents.Shard(3), TimeSpan.FromSeconds(30)));
        }
    }

    [Fact]
    public async Task ProbeEnds_WhenTheShardsNextInvocationDoesNotSpill()
    {
        using var noContext = new NoSynchronizationContext();
        (KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, _) = Create();
        using (processor)
        {
            SpillAtOnce(processor, time, sink, TestEvents.ShardId);
            time.Advance(s_probeInterval);
            sink.WaitForToken = false;
            sink.Durable = true;
            BatchSummary written = SpillEvents.RunAtOnce(processor, time, SpillEvents.Build(SpillEvents.Records(1, 3), TestEvents.ShardId));
            Assert.Equal(SinkOutcome.NotCalled, written.SpillOutcome);
            sink.Durable = false;

            AssertClose(TimeSpan.FromSeconds(18), await ShareOfAsync(processor, time, sink, TestEvents.ShardId, TimeSpan.FromSeconds(30)));
        }
    }

    /// <summary>
    /// The processor remembers at most 1024 spilling shards: the 1025th forgets the others (the hint is lost, never
    /// the memory unbounded), while the newest still probes.
    /// </summary>
    [Fact]
    public async Task SpillingShards_AreForgotten_WhenThe1025thSpills()
    {
        using var noContext = new NoSynchronizationContext();
        (KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, _) = Create();
        using (processor)
        {
            for (int shard = 1; shard <= 1025; shard++)
            {
                SpillAtOnce(processor, time, sink, SpillEvents.Shard(shard));
            }

            time.Advance(s_probeInterval);

            // Shard 1 first: its own spill then changes the set again.
            AssertClose(TimeSpan.FromSeconds(18), await ShareOfAsync(processor, time, sink, SpillEvents.Shard(1), TimeSpan.FromSeconds(30)));
            AssertClose(TimeSpan.FromSeconds(1), await ShareOfAsync(processor, time, sink, SpillEvents.Shard(1025), TimeSpan.FromSeconds(30)));
        }
    }

    /// <summary>
    /// Between probes a spilling shard's invocations do not call the aggregate sink at all: the batch is spilled at
    /// once, and the log says why the sink was not called. Five seconds after the last probe the next one probes again.
    /// </summary>
    [Fact]
    public async Task WhileSpilling_BetweenProbes_TheSinkIsNotCalled_AndTheBatchIsSpilled()
    {
        using var noContext = new NoSynchronizationContext();
        (KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, TestSpillSink spill) = Create();
        using (processor)
        {
            SpillAtOnce(processor, time, sink, TestEvents.ShardId);
            int calls = sink.Calls;
            int spills = spill.Writes.Count;
            foreach (TimeSpan step in (TimeSpan[])[TimeSpan.Zero, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2.9)])
            {
                time.Advance(step);
                BatchSummary skipped = SpillEvents.RunAtOnce(processor, time, SpillEvents.Build(SpillEvents.Records(1, 3), TestEvents.ShardId));
                Assert.Equal(SinkOutcome.NotCalled, skipped.AggregateSinkOutcome);
                Assert.Equal(SinkOutcome.Completed, skipped.SpillOutcome);
                Assert.Contains("was not called: the shard is spilling", skipped.AggregateSinkIssue, StringComparison.Ordinal);
                Assert.Null(skipped.ReportedFailure);
            }

            Assert.Equal(calls, sink.Calls);
            Assert.Equal(spills + 3, spill.Writes.Count);

            // 4.9 s after the spill: still no probe. At 5 s: a probe of one second.
            time.Advance(TimeSpan.FromMilliseconds(100));
            AssertClose(TimeSpan.FromSeconds(1), await ShareOfAsync(processor, time, sink, TestEvents.ShardId, TimeSpan.FromSeconds(30)));
            Assert.Equal(calls + 1, sink.Calls);
        }
    }

    /// <summary>
    /// A batch with no pairs (every record poison) does not call the aggregate sink, so it says nothing of the store, and
    /// what the processor knew of the spilling shard stays (docs/failure-modes.md): the next batch between probes still
    /// does not call the sink and is spilled at once. Taken as a sign that the store was back, it gave the next old batch
    /// the usual two thirds of its time against a store that had taken nothing.
    /// </summary>
    [Fact]
    public void WhileSpilling_ABatchWithNoPairs_LeavesTheShardSpilling()
    {
        using var noContext = new NoSynchronizationContext();
        (KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, TestSpillSink spill) = Create();
        using (processor)
        {
            SpillAtOnce(processor, time, sink, TestEvents.ShardId);
            int calls = sink.Calls;
            time.Advance(TimeSpan.FromSeconds(1));

            BatchSummary poisonOnly = SpillEvents.RunAtOnce(processor, time, TestEvents.Build([new TestRecord(TestEvents.Seq(20), TestEvents.Utf8("{not json"), TestEvents.Arrival)]));
            Assert.Equal((1, SinkOutcome.NotCalled, (string?)null), (poisonOnly.PoisonRecords, poisonOnly.AggregateSinkOutcome, poisonOnly.ReportedFailure));

            time.Advance(TimeSpan.FromSeconds(1));
            BatchSummary next = SpillEvents.RunAtOnce(processor, time, SpillEvents.Build(SpillEvents.Records(21, 3), TestEvents.ShardId));
            Assert.Equal(calls, sink.Calls);
            Assert.Equal(SinkOutcome.Completed, next.SpillOutcome);
            Assert.Contains("was not called: the shard is spilling", next.AggregateSinkIssue, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// The interval runs from the last probe, not from the first spill: each probe that ends in a spill starts a new
    /// five seconds, and another shard's probe does not count.
    /// </summary>
    [Fact]
    public void WhileSpilling_TheIntervalRunsFromTheLastProbe_PerShard()
    {
        using var noContext = new NoSynchronizationContext();
        (KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, _) = Create();
        using (processor)
        {
            SpillAtOnce(processor, time, sink, SpillEvents.Shard(1));
            time.Advance(s_probeInterval);
            SpillAtOnce(processor, time, sink, SpillEvents.Shard(2));
            int calls = sink.Calls;

            // Shard 1 probes (5 s since its spill), shard 2 does not (0 s since its own).
            SpillAtOnce(processor, time, sink, SpillEvents.Shard(1));
            Assert.Equal(calls + 1, sink.Calls);
            SpillAtOnce(processor, time, sink, SpillEvents.Shard(2));
            Assert.Equal(calls + 1, sink.Calls);

            // 4 s later neither probes: shard 1 probed 4 s ago, shard 2 spilled 4 s ago.
            time.Advance(TimeSpan.FromSeconds(4));
            SpillAtOnce(processor, time, sink, SpillEvents.Shard(1));
            SpillAtOnce(processor, time, sink, SpillEvents.Shard(2));
            Assert.Equal(calls + 1, sink.Calls);

            // 1 s more: shard 2 probes (5 s after its spill); shard 1 not, its probe found the store failing, so its
            // next waits 10 s. 5 s more: shard 1.
            time.Advance(TimeSpan.FromSeconds(1));
            SpillAtOnce(processor, time, sink, SpillEvents.Shard(1));
            SpillAtOnce(processor, time, sink, SpillEvents.Shard(2));
            Assert.Equal(calls + 2, sink.Calls);
            time.Advance(TimeSpan.FromSeconds(5));
            SpillAtOnce(processor, time, sink, SpillEvents.Shard(1));
            Assert.Equal(calls + 3, sink.Calls);
        }
    }

    /// <summary>
    /// Each probe that finds the store still failing doubles the wait for the next: 5 s after the first spill, then 10,
    /// 20 and at most 30 s (a second's probe every 5 s was half the invocations of a ten-minute outage in the emulator).
    /// A probe in which the store took part of the batch (throttled, not down) starts again at 5 s.
    /// </summary>
    [Fact]
    public void WhileSpilling_ProbesThatFindTheStoreFailing_ComeAtDoublingIntervals_UpTo30Seconds()
    {
        using var noContext = new NoSynchronizationContext();
        (KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, _) = Create();
        using (processor)
        {
            SpillAtOnce(processor, time, sink, TestEvents.ShardId);
            foreach (int interval in (int[])[5, 10, 20, 30, 30])
            {
                int calls = sink.Calls;
                time.Advance(TimeSpan.FromSeconds(interval) - TimeSpan.FromMilliseconds(100));
                SpillAtOnce(processor, time, sink, TestEvents.ShardId);
                Assert.True(calls == sink.Calls, $"probed {interval - 0.1} s after the last probe");
                time.Advance(TimeSpan.FromMilliseconds(100));
                SpillAtOnce(processor, time, sink, TestEvents.ShardId);
                Assert.True(calls + 1 == sink.Calls, $"no probe {interval} s after the last one");
            }

            // A probe that makes one of three pairs durable, then spills the rest: the next probe 5 s later.
            int before = sink.Calls;
            time.Advance(TimeSpan.FromSeconds(30));
            sink.DurableFirstOnly = true;
            BatchSummary partial = SpillEvents.RunAtOnce(processor, time, SpillEvents.Build(SpillEvents.Records(1, 3, metrics: 3), TestEvents.ShardId));
            sink.DurableFirstOnly = false;
            Assert.Equal((1, SinkOutcome.Completed, before + 1), (partial.AggregatesWritten, partial.SpillOutcome, sink.Calls));
            time.Advance(TimeSpan.FromSeconds(5));
            SpillAtOnce(processor, time, sink, TestEvents.ShardId);
            Assert.Equal(before + 2, sink.Calls);
        }
    }

    /// <summary>
    /// The usual share's edge, in whole seconds so that no rounding decides it (the property below leaves the last
    /// millisecond out): a batch that becomes <c>SpillAfterAge</c> old exactly when the usual share ends (18 s of a 30 s
    /// budget) reaches the spill age within the share, so it gets the share and is spilled at its end, not given the
    /// whole working time and reported.
    /// </summary>
    [Fact]
    public async Task ABatchReachingTheSpillAgeExactlyAtTheUsualSharesEnd_IsSpilledThere()
    {
        using var noContext = new NoSynchronizationContext();
        (KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, _) = Create(s_spillAge);
        using (processor)
        {
            sink.WaitForToken = true;
            (BatchSummary summary, DateTimeOffset start, _) = await RunAgedAsync(processor, time, s_spillAge - TimeSpan.FromSeconds(18), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30));
            AssertClose(TimeSpan.FromSeconds(18), Assert.Single(sink.CancelledAt) - start);
            Assert.Equal((SinkOutcome.Completed, (string?)null), (summary.SpillOutcome, summary.ReportedFailure));
        }
    }

    /// <summary>
    /// A sink that returns with pairs left before its share ends (so its token was never cancelled) leaves a batch that
    /// is spilled when it is by then <c>SpillAfterAge</c> old, its age at the start and the sink's time together, and
    /// reported for re-delivery when it is a millisecond younger. The batch is 55 s old at a 60 s spill age, so its
    /// share is the usual 18 s, and the sink takes 5 s, or a millisecond less.
    /// </summary>
    [Theory]
    [InlineData(5_000, true)]
    [InlineData(4_999, false)]
    public async Task ASinkReturningWithPairsLeft_LeavesABatchSpilled_OnlyWhenItHasReachedTheSpillAgeByThen(int sinkMs, bool spilled)
    {
        using var noContext = new NoSynchronizationContext();
        (KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, TestSpillSink spill) = Create(s_spillAge);
        using (processor)
        {
            sink.OnCall = () => time.Advance(TimeSpan.FromMilliseconds(sinkMs));
            (BatchSummary summary, _, List<TestRecord> records) = await RunAgedAsync(processor, time, s_spillAge - TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), TimeSpan.Zero);
            Assert.Equal(1, sink.Calls);
            Assert.Equal(
                spilled ? (SinkOutcome.Completed, null, 1) : (SinkOutcome.NotCalled, records[0].SequenceNumber, 0),
                (summary.SpillOutcome, summary.ReportedFailure, spill.Writes.Count));
        }
    }

    /// <summary>
    /// A batch that is a spill candidate by its shard's failed invocations, though young enough to reach the spill age
    /// only within the share, is a candidate first: while its shard spills, it gets the probe's second when a probe is
    /// due, as any candidate does. Two young batches that the store takes nothing of (each given the whole working time)
    /// make the shard spilling and count two failures; the third batch is 50 s old, 10 s from the spill age, and the
    /// probe is due. Had the share until the spill age been started for it as well, that share would have counted as
    /// the probe, and the candidate, finding none due, would not have called the sink at all.
    /// </summary>
    [Fact]
    public async Task ACandidateByFailedInvocations_ThatAlsoReachesTheSpillAgeWithinTheShare_GetsTheDueProbe()
    {
        using var noContext = new NoSynchronizationContext();
        (KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, _) = Create(s_spillAge, spillAfterFailedInvocations: 2);
        using (processor)
        {
            sink.WaitForToken = true;
            for (int failure = 1; failure <= 2; failure++)
            {
                (BatchSummary failed, _, List<TestRecord> records) = await RunAgedAsync(processor, time, TimeSpan.Zero, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30));
                Assert.Equal((SinkOutcome.NotCalled, records[0].SequenceNumber), (failed.SpillOutcome, failed.ReportedFailure));
            }

            (BatchSummary summary, DateTimeOffset start, _) = await RunAgedAsync(processor, time, s_spillAge - TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1));
            Assert.Equal(3, sink.Calls);
            AssertClose(TimeSpan.FromSeconds(1), sink.CancelledAt[^1] - start);
            Assert.Equal((SinkOutcome.Completed, (string?)null), (summary.SpillOutcome, summary.ReportedFailure));
        }
    }

    /// <summary>
    /// While a shard spills, a batch that reaches the spill age within the usual share gets the time until then, raised
    /// to the probe's second when a probe is due. Such a share of at least the probe's second counts as a probe, due or
    /// not: the next comes 10 s after it (the second interval), so a batch 7 s after the first spill does not call the
    /// sink, and one 10 s after this share does. A shorter share is no probe: the next is due 5 s after the first spill.
    /// The batch reaches the spill age <paramref name="untilMs"/> after its start, <paramref name="atSeconds"/> after the
    /// first spill.
    /// </summary>
    [Theory]
    [InlineData(5, 2_000, 2_000, true)] // due: the time until the spill age, a probe
    [InlineData(5, 500, 1_000, true)] // due: raised to the probe's second, a probe
    [InlineData(3, 2_000, 2_000, true)] // not due: 2 s until the spill age, at least a probe's second
    [InlineData(3, 500, 500, false)] // not due: half a second, no probe
    public async Task WhileSpilling_AShareUntilTheSpillAge_CountsAsAProbe_WhenItLastsAtLeastTheProbesSecond(int atSeconds, int untilMs, int shareMs, bool probe)
    {
        using var noContext = new NoSynchronizationContext();
        (KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink, _) = Create(s_spillAge);
        using (processor)
        {
            DateTimeOffset firstSpill = time.GetUtcNow();
            SpillAtOnce(processor, time, sink, TestEvents.ShardId);
            time.Advance(TimeSpan.FromSeconds(atSeconds));
            sink.WaitForToken = true;
            (BatchSummary summary, DateTimeOffset start, _) = await RunAgedAsync(
                processor, time, s_spillAge - TimeSpan.FromMilliseconds(untilMs), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(shareMs));
            AssertClose(TimeSpan.FromMilliseconds(shareMs), Assert.Single(sink.CancelledAt) - start);
            Assert.Equal((SinkOutcome.Completed, (string?)null), (summary.SpillOutcome, summary.ReportedFailure));

            int calls = sink.Calls;
            time.Advance(firstSpill + TimeSpan.FromSeconds(7) - time.GetUtcNow());
            SpillAtOnce(processor, time, sink, TestEvents.ShardId);
            Assert.True(calls + (probe ? 0 : 1) == sink.Calls, $"7 s after the first spill the sink was called {sink.Calls - calls} time(s)");
            if (probe)
            {
                time.Advance(start + TimeSpan.FromSeconds(10) - time.GetUtcNow());
                SpillAtOnce(processor, time, sink, TestEvents.ShardId);
                Assert.Equal(calls + 1, sink.Calls);
            }
        }
    }

    /// <summary>
    /// The share of a batch with a hanging aggregate sink, for any batch age, spill age and budget, against the rule
    /// written in docs/failure-modes.md and computed here from the documented defaults: with W the working time (the
    /// budget less max(1 s, 10 %)) and U two thirds of it, a batch that is, or becomes within U, <c>SpillAfterAge</c> old
    /// gets U and is spilled at its end; any other batch gets W and is reported for re-delivery. After a spill of the
    /// shard <paramref name="spilledSecondsBefore"/> seconds before (the processor knows the store to take nothing; a
    /// probe is due 5 s after it), a batch already old enough gets the probe, min(1 s, U), when it is due and no call
    /// at all before; one that becomes old enough within U gets the time until then, and at least the probe when it is
    /// due. Ages within a millisecond of U's edge are left out (the clock's rounding decides there).
    /// </summary>
    [Theory]
    [InlineData(-1)]
    [InlineData(10)]
    [InlineData(2)]
    public void TheSinksShare_OfAnyBatchAgeSpillAgeAndBudget_FollowsTheRule(int spilledSecondsBefore)
    {
        using var noContext = new NoSynchronizationContext();
        Gen<(int AgeMs, int SpillAgeMs, int BudgetMs)> cases =
            from budget in Gen.Choose(2_000, 150_000)
            from spillAge in Gen.Choose(1, 400_000)
            let usual = (budget - Math.Max(1_000, budget / 10)) * 2 / 3
            from age in Gen.OneOf(
                Gen.Choose(0, 500_000),
                Gen.Choose(-3, 3).Select(d => spillAge - usual + d),
                Gen.Choose(-3, 3).Select(d => spillAge + d))
            where age >= 0
            select (age, spillAge, budget);
        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            double working = c.BudgetMs - Math.Max(1_000, c.BudgetMs / 10.0);
            double usual = working * 2 / 3;
            double until = c.SpillAgeMs - c.AgeMs;
            if (Math.Abs(until - usual) < 1)
            {
                return true.Label("at the edge: not decided here");
            }

            bool shardSpilled = spilledSecondsBefore >= 0;
            bool probeDue = spilledSecondsBefore >= 5;
            bool spills = until <= usual;
            double probe = Math.Min(1_000, usual);
            double? expected = !spills ? working : !shardSpilled ? usual : probeDue ? Math.Max(until, probe) : until > 0 ? until : null;

            var time = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival) + TimeSpan.FromMinutes(20));
            var sink = new ShareSink(time);
            using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = time, SpillSink = new TestSpillSink(), SpillAfterAge = TimeSpan.FromMilliseconds(c.SpillAgeMs) });
            if (shardSpilled)
            {
                SpillAtOnce(processor, time, sink, TestEvents.ShardId);
                time.Advance(TimeSpan.FromSeconds(spilledSecondsBefore));
            }

            List<TestRecord> records = AgedRecords(time, TimeSpan.FromMilliseconds(c.AgeMs));
            sink.WaitForToken = true;
            DateTimeOffset start = time.GetUtcNow();
            Task<BatchSummary> run = processor.ProcessAsync(TestEvents.Build(records), start + TimeSpan.FromMilliseconds(c.BudgetMs), new ArrayBufferWriter<byte>());
            time.Advance(TimeSpan.FromMilliseconds(c.BudgetMs));
            if (!run.IsCompleted)
            {
                return false.Label("the invocation did not end within its budget");
            }

            BatchSummary summary = run.GetAwaiter().GetResult();
            double? fired = sink.CancelledAt.Count == 0 ? null : (sink.CancelledAt[^1] - start).TotalMilliseconds;
            bool spilled = summary.SpillOutcome == SinkOutcome.Completed && summary.ReportedFailure is null;
            bool reported = summary.SpillOutcome == SinkOutcome.NotCalled && summary.ReportedFailure == records[0].SequenceNumber;
            bool asExpected = expected is null ? fired is null : fired is not null && Math.Abs(fired.Value - expected.Value) <= 1;
            return (asExpected && (spills ? spilled : reported))
                .Label($"expected the share {expected?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"} ms and {(spills ? "a spill" : "a report")}; the token fired at {fired} ms, spill {summary.SpillOutcome}, reported {summary.ReportedFailure}");
        }).QuickCheckThrowOnFailure();
    }
}
