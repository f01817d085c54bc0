using System.Buffers;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// The sinks' cost the processor learns from one invocation and reads by in the next: per pair and per poison record,
/// a rise taken at once and a fall halfway (but a time-out's lesson replaced at once by the first call that finishes),
/// and reading stops before the record at which the learnt cost of what was
/// read, plus a quarter of headroom, reaches the end of the working time.
/// </summary>
/// <remarks>
/// The clock moves only when a sink (or the test) moves it, so reading takes no time and the stop comes from the learnt
/// cost alone. With a budget of 100 s the working time is 90 s (the default margin: a tenth, at least 1 s) and the
/// reading share ends at 67.5 s (a quarter of the working time is the sinks'), which reading never reaches here.
/// </remarks>
public class SinkCostLearningTests
{
    private static readonly DateTimeOffset s_now = DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival) + TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_budget = TimeSpan.FromSeconds(100);
    private static readonly TimeSpan s_working = TimeSpan.FromSeconds(90);

    /// <summary>Sinks that take a set time per pair and per poison record, moving the clock inside their call.</summary>
    private sealed class CostSinks(ManualTimeProvider clock) : IAggregateSink, IQuarantineSink
    {
        public TimeSpan PerPair { get; set; }

        public TimeSpan PerPoison { get; set; }

        /// <summary>How many poison records the quarantine sink makes durable; all when null.</summary>
        public int? PoisonDurable { get; set; }

        /// <summary>The aggregate sink's call fails after its time, with no pair durable (a store that is down).</summary>
        public bool PairsFail { get; set; }

        /// <summary>Both sinks wait until their token fires and return with nothing durable (a store that does not answer).</summary>
        public bool StopAtDeadline { get; set; }

        /// <summary>
        /// With <see cref="StopAtDeadline"/>, the aggregate sink marks every pair durable, then waits and ends cancelled
        /// when its token fires (a sink that hangs after its writes and honours cancellation by throwing).
        /// </summary>
        public bool DurableBeforeStopping { get; set; }

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            if (StopAtDeadline)
            {
                if (DurableBeforeStopping)
                {
                    batch.MarkAllDurable();
                    return Task.Delay(Timeout.Infinite, cancellationToken);
                }

                return SinkWaits.UntilCancelledAsync(cancellationToken);
            }

            clock.Advance(PerPair * batch.Count);
            if (PairsFail)
            {
                return Task.FromException(new IOException("the store is down"));
            }

            batch.MarkAllDurable();
            return Task.CompletedTask;
        }

        public async Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
        {
            if (StopAtDeadline)
            {
                await SinkWaits.UntilCancelledAsync(cancellationToken);
                return 0;
            }

            clock.Advance(PerPoison * records.Count);
            return Math.Min(PoisonDurable ?? records.Count, records.Count);
        }
    }

    /// <summary>A quarantine sink that never returns and ignores cancellation.</summary>
    private sealed class HangingQuarantineSink : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => new TaskCompletionSource<int>().Task;
    }

    private static int s_sequence;

    /// <summary>A valid record of its own series (so each makes one pair).</summary>
    private static TestRecord Valid() =>
        NextRecord(n => TestEvents.Sample("series" + n, n, TestEvents.Arrival - 1000));

    private static TestRecord Poison() => NextRecord(n => "{not json " + n);

    private static TestRecord NextRecord(Func<int, string> data)
    {
        int n = Interlocked.Increment(ref s_sequence);
        return new TestRecord(TestEvents.Seq(n), TestEvents.Utf8(data(n)), TestEvents.Arrival);
    }

    private static Task<BatchSummary> Run(KinesisBatchProcessor processor, ManualTimeProvider clock, IEnumerable<TestRecord> records) =>
        processor.ProcessAsync(TestEvents.Build(records), clock.GetUtcNow() + s_budget, new ArrayBufferWriter<byte>());

    /// <summary>
    /// The number of records read when each record read costs <paramref name="costPerRecord"/> in the sinks: the first
    /// always, then record k+1 only while k × cost × 1.25 is below the working time.
    /// </summary>
    private static int ExpectedRead(TimeSpan costPerRecord, int available)
    {
        int read = 1;
        while (read < available && (costPerRecord * read * 1.25) < s_working)
        {
            read++;
        }

        return read;
    }

    [Fact]
    public async Task PairCost_LearntPerPair_StopsReadingWhereTheCostWithHeadroomReachesTheWorkingTime()
    {
        var clock = new ManualTimeProvider(s_now);
        var sinks = new CostSinks(clock) { PerPair = TimeSpan.FromSeconds(8) };
        using var processor = new KinesisBatchProcessor(sinks, sinks, ProcessorOptions.Default with { TimeProvider = clock });

        // Learns 32 s for 4 pairs: 8 s a pair.
        BatchSummary learn = await Run(processor, clock, [Valid(), Valid(), Valid(), Valid()]);
        Assert.Equal(4, learn.RecordsProcessed);
        Assert.Equal(TimeSpan.FromSeconds(32), learn.AggregateSinkDuration);

        TestRecord[] records = [.. Enumerable.Range(0, 12).Select(_ => Valid())];
        BatchSummary summary = await Run(processor, clock, records);

        // 9 pairs cost 72 s, with a quarter more exactly the 90 s of working time: the 10th record is not started.
        int expected = ExpectedRead(TimeSpan.FromSeconds(8), records.Length);
        Assert.Equal(9, expected);
        Assert.Equal(expected, summary.RecordsProcessed);
        Assert.Equal(BatchStopReason.TimeBudget, summary.StopReason);
        Assert.Equal(records[expected].SequenceNumber, summary.ReportedFailure);
    }

    [Fact]
    public async Task PairCost_AFallIsTakenHalfway()
    {
        var clock = new ManualTimeProvider(s_now);
        var sinks = new CostSinks(clock) { PerPair = TimeSpan.FromSeconds(16) };
        using var processor = new KinesisBatchProcessor(sinks, sinks, ProcessorOptions.Default with { TimeProvider = clock });

        await Run(processor, clock, [Valid(), Valid()]);
        sinks.PerPair = TimeSpan.FromSeconds(8);
        // 4 pairs at the learnt 16 s stay below the working time (4 × 16 × 1.25 = 80 s): all are read, at 8 s each.
        BatchSummary fall = await Run(processor, clock, [Valid(), Valid(), Valid(), Valid()]);
        Assert.Equal(4, fall.RecordsProcessed);

        // Halfway from 16 s to 8 s: 12 s a pair, so 6 pairs (6 × 12 × 1.25 = 90 s) end the reading.
        await AssertTwelveRecordsStopAfter(processor, clock, TimeSpan.FromSeconds(12), 6, Valid);
    }

    /// <summary>
    /// Runs twelve records and asserts that the reading stops where <paramref name="cost"/> per record, with the
    /// headroom, reaches the working time (<see cref="ExpectedRead"/>): after <paramref name="reads"/>, reported there.
    /// </summary>
    private static async Task AssertTwelveRecordsStopAfter(KinesisBatchProcessor processor, ManualTimeProvider clock, TimeSpan cost, int reads, Func<TestRecord> record)
    {
        TestRecord[] records = [.. Enumerable.Range(0, 12).Select(_ => record())];
        BatchSummary summary = await Run(processor, clock, records);

        int expected = ExpectedRead(cost, records.Length);
        Assert.Equal(reads, expected);
        Assert.Equal(expected, summary.RecordsProcessed);
        Assert.Equal(records[expected].SequenceNumber, summary.ReportedFailure);
    }

    /// <summary>
    /// A call that timed out with nothing durable teaches its whole time (the 90 s of working time) as the cost of one
    /// pair or poison record, so the next invocation reads one record. That call finishes in 8 s: its cost replaces the
    /// time-out's lesson at once, and the invocation after it reads 9 records (9 × 8 s × 1.25 = 90 s). Halfway from 90 s
    /// (49 s) it read 2, and a healthy store took an invocation per doubling to get its batches whole again (review).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ATimeOutsLesson_IsReplacedAtOnce_ByTheFirstCallThatFinishes(bool poison)
    {
        var clock = new ManualTimeProvider(s_now);
        var sinks = new CostSinks(clock) { PerPair = TimeSpan.FromSeconds(8), PerPoison = TimeSpan.FromSeconds(8), StopAtDeadline = true };
        using var processor = new KinesisBatchProcessor(sinks, sinks, ProcessorOptions.Default with { TimeProvider = clock });
        Func<TestRecord> record = poison ? Poison : Valid;

        Task<BatchSummary> run = Run(processor, clock, [record(), record(), record(), record()]);
        clock.Advance(s_working);
        BatchSummary timedOut = await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(SinkOutcome.TimedOut, poison ? timedOut.QuarantineSinkOutcome : timedOut.AggregateSinkOutcome);
        Assert.Equal(0, poison ? timedOut.Quarantined : timedOut.AggregatesWritten);

        sinks.StopAtDeadline = false;
        BatchSummary one = await Run(processor, clock, [.. Enumerable.Range(0, 12).Select(_ => record())]);
        Assert.Equal(ExpectedRead(s_working, 12), one.RecordsProcessed);
        Assert.Equal(1, one.RecordsProcessed);
        Assert.Equal(SinkOutcome.Completed, poison ? one.QuarantineSinkOutcome : one.AggregateSinkOutcome);

        await AssertTwelveRecordsStopAfter(processor, clock, TimeSpan.FromSeconds(8), 9, record);
    }

    /// <summary>
    /// The replacement is once per time-out: after the first call that finishes has replaced the time-out's lesson, a
    /// fall is taken halfway again. A call times out; the next reads one record and finishes at 16 s a pair, which
    /// replaces the lesson; the one after reads five (5 × 16 s × 1.25 = 100 s) and finishes at 8 s a pair: halfway,
    /// 12 s, so six of twelve records are read next (6 × 12 s × 1.25 = 90 s), where 8 s, replaced again, would read nine.
    /// </summary>
    [Fact]
    public async Task AfterATimeOutsLessonIsReplaced_AFallIsTakenHalfwayAgain()
    {
        var clock = new ManualTimeProvider(s_now);
        var sinks = new CostSinks(clock) { PerPair = TimeSpan.FromSeconds(16), StopAtDeadline = true };
        using var processor = new KinesisBatchProcessor(sinks, sinks, ProcessorOptions.Default with { TimeProvider = clock });

        Task<BatchSummary> run = Run(processor, clock, [Valid(), Valid(), Valid(), Valid()]);
        clock.Advance(s_working);
        Assert.Equal(SinkOutcome.TimedOut, (await run.WaitAsync(TimeSpan.FromSeconds(10))).AggregateSinkOutcome);

        sinks.StopAtDeadline = false;
        Assert.Equal(1, (await Run(processor, clock, [.. Enumerable.Range(0, 12).Select(_ => Valid())])).RecordsProcessed);
        sinks.PerPair = TimeSpan.FromSeconds(8);
        BatchSummary fall = await Run(processor, clock, [.. Enumerable.Range(0, 12).Select(_ => Valid())]);
        Assert.Equal(5, ExpectedRead(TimeSpan.FromSeconds(16), 12));
        Assert.Equal((5, SinkOutcome.Completed), (fall.RecordsProcessed, fall.AggregateSinkOutcome));

        await AssertTwelveRecordsStopAfter(processor, clock, TimeSpan.FromSeconds(12), 6, Valid);
    }

    /// <summary>
    /// A time-out that teaches exactly the cost already learnt is a time-out's lesson all the same, so the first call that
    /// finishes replaces it. A call of one pair finishes in 30 s; the next reads three records (3 × 30 s × 1.25 = 112.5 s
    /// stops it), makes all three durable and hangs until the working time ends, then throws its cancellation (a
    /// time-out): 90 s over three pairs, 30 s again. The call after it finishes at 10 s a pair, which replaces the 30 s:
    /// eight of twelve records are read next (8 × 10 s × 1.25 = 100 s), where halfway (20 s) four would be.
    /// </summary>
    [Fact]
    public async Task ATimeOutTeachingTheCostAlreadyLearnt_IsATimeOutsLesson_ReplacedByTheNextCallThatFinishes()
    {
        var clock = new ManualTimeProvider(s_now);
        var sinks = new CostSinks(clock) { PerPair = TimeSpan.FromSeconds(30) };
        using var processor = new KinesisBatchProcessor(sinks, sinks, ProcessorOptions.Default with { TimeProvider = clock });
        Assert.Equal(TimeSpan.FromSeconds(30), (await Run(processor, clock, [Valid()])).AggregateSinkDuration);

        sinks.StopAtDeadline = true;
        sinks.DurableBeforeStopping = true;
        Task<BatchSummary> run = Run(processor, clock, [.. Enumerable.Range(0, 12).Select(_ => Valid())]);
        clock.Advance(s_working);
        BatchSummary timedOut = await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((3, SinkOutcome.TimedOut, 3, s_working), (timedOut.RecordsProcessed, timedOut.AggregateSinkOutcome, timedOut.AggregatesWritten, timedOut.AggregateSinkDuration));

        sinks.StopAtDeadline = false;
        sinks.PerPair = TimeSpan.FromSeconds(10);
        BatchSummary finished = await Run(processor, clock, [.. Enumerable.Range(0, 12).Select(_ => Valid())]);
        Assert.Equal((3, SinkOutcome.Completed), (finished.RecordsProcessed, finished.AggregateSinkOutcome));

        await AssertTwelveRecordsStopAfter(processor, clock, TimeSpan.FromSeconds(10), 8, Valid);
    }

    /// <summary>
    /// A call that failed is counted over all its pairs, as one that returned: over the durable ones alone (none), an
    /// outage's give-up taught its whole time as the cost of one pair, and every invocation after it read one record.
    /// </summary>
    [Fact]
    public async Task PairCost_OfACallThatFailed_IsItsTimeOverAllItsPairs()
    {
        var clock = new ManualTimeProvider(s_now);
        var sinks = new CostSinks(clock) { PerPair = TimeSpan.FromSeconds(2), PairsFail = true };
        using var processor = new KinesisBatchProcessor(sinks, sinks, ProcessorOptions.Default with { TimeProvider = clock });

        // Fails after 8 s for 4 pairs, none durable: 2 s a pair.
        BatchSummary learn = await Run(processor, clock, [Valid(), Valid(), Valid(), Valid()]);
        Assert.Equal((SinkOutcome.Failed, 0), (learn.AggregateSinkOutcome, learn.AggregatesWritten));
        Assert.Equal(TimeSpan.FromSeconds(8), learn.AggregateSinkDuration);

        sinks.PairsFail = false;
        TestRecord[] records = [.. Enumerable.Range(0, 40).Select(_ => Valid())];
        BatchSummary summary = await Run(processor, clock, records);

        // 36 pairs at 2 s with the headroom are 90 s: the 37th is not started (at 8 s a pair it would stop after 9).
        int expected = ExpectedRead(TimeSpan.FromSeconds(2), records.Length);
        Assert.Equal(36, expected);
        Assert.Equal(expected, summary.RecordsProcessed);
    }

    /// <summary>
    /// An invocation whose aggregate sink was not called (here: an earlier attempt's unconfirmed spill could not be ruled
    /// out, so nothing may go to the table) teaches nothing: its time is no write's, and read as a cost of 0 it halved
    /// what was learnt, so the next invocation read more than its sink could write in time.
    /// </summary>
    [Fact]
    public async Task PairCost_AnInvocationThatDidNotCallTheSink_TeachesNothing()
    {
        var clock = new ManualTimeProvider(s_now);
        var sinks = new CostSinks(clock) { PerPair = TimeSpan.FromSeconds(8) };
        var spill = new TestSpillSink();
        using var processor = new KinesisBatchProcessor(sinks, sinks, ProcessorOptions.Default with { TimeProvider = clock, SpillSink = spill, SpillAfterFailedInvocations = 3 });
        await Run(processor, clock, [Valid(), Valid(), Valid(), Valid()]);

        spill.RemoveResult = false;
        BatchSummary skipped = await Run(processor, clock, [Valid(), Valid(), Valid(), Valid()]);
        Assert.Equal(SinkOutcome.NotCalled, skipped.AggregateSinkOutcome);
        Assert.Contains("unconfirmed spill", skipped.AggregateSinkIssue, StringComparison.Ordinal);

        spill.RemoveResult = true;
        TestRecord[] records = [.. Enumerable.Range(0, 12).Select(_ => Valid())];
        BatchSummary summary = await Run(processor, clock, records);

        // Still 8 s a pair: the 10th record is not started (at 4 s, the learnt cost halved, all 12 were read).
        Assert.Equal(ExpectedRead(TimeSpan.FromSeconds(8), records.Length), summary.RecordsProcessed);
        Assert.Equal(BatchStopReason.TimeBudget, summary.StopReason);
    }

    [Fact]
    public async Task PoisonCost_IsPerPoisonRecordWritten_EvenWhenTheSinkMadeFewerDurable()
    {
        var clock = new ManualTimeProvider(s_now);
        var sinks = new CostSinks(clock) { PerPoison = TimeSpan.FromSeconds(10), PoisonDurable = 1 };
        using var processor = new KinesisBatchProcessor(sinks, sinks, ProcessorOptions.Default with { TimeProvider = clock });

        // The sink returned after 40 s for 4 records, one of them durable (a failure: short with time left): the cost is
        // 10 s a record written.
        BatchSummary learn = await Run(processor, clock, [Poison(), Poison(), Poison(), Poison()]);
        Assert.Equal(SinkOutcome.Failed, learn.QuarantineSinkOutcome);
        Assert.Equal(1, learn.Quarantined);
        Assert.Equal(TimeSpan.FromSeconds(40), learn.QuarantineSinkDuration);

        sinks.PoisonDurable = null;
        TestRecord[] records = [.. Enumerable.Range(0, 12).Select(_ => Poison())];
        BatchSummary summary = await Run(processor, clock, records);

        // 8 poison records cost 80 s, 100 s with the headroom: the 9th is not started (7 would be 87.5 s).
        int expected = ExpectedRead(TimeSpan.FromSeconds(10), records.Length);
        Assert.Equal(8, expected);
        Assert.Equal(expected, summary.RecordsProcessed);
        Assert.Equal(records[expected].SequenceNumber, summary.ReportedFailure);
    }

    [Fact]
    public async Task PairAndPoisonCosts_AddUp()
    {
        var clock = new ManualTimeProvider(s_now);
        var sinks = new CostSinks(clock) { PerPair = TimeSpan.FromSeconds(10), PerPoison = TimeSpan.FromSeconds(10) };
        using var processor = new KinesisBatchProcessor(sinks, sinks, ProcessorOptions.Default with { TimeProvider = clock });

        // Learnt one at a time, so that neither sink's time is inside the other's.
        await Run(processor, clock, [Valid()]);
        await Run(processor, clock, [Poison()]);

        TestRecord[] records = [.. Enumerable.Range(0, 12).Select(i => i % 2 == 0 ? Valid() : Poison())];
        BatchSummary summary = await Run(processor, clock, records);

        // Every record read costs 10 s, pair or poison: 8 records with the headroom are 100 s, 7 are 87.5 s.
        int expected = ExpectedRead(TimeSpan.FromSeconds(10), records.Length);
        Assert.Equal(8, expected);
        Assert.Equal(expected, summary.RecordsProcessed);
        Assert.Equal(records[expected].SequenceNumber, summary.ReportedFailure);
    }

    [Fact]
    public async Task PoisonCost_OfAQuarantineThatTimedOut_IsItsWholeTimeForOneRecord()
    {
        var clock = new ManualTimeProvider(s_now);
        var sinks = new CostSinks(clock);
        var hanging = new HangingQuarantineSink();
        using (var timingOut = new KinesisBatchProcessor(sinks, hanging, ProcessorOptions.Default with { TimeProvider = clock }))
        {
            Task<BatchSummary> run = Run(timingOut, clock, [Poison(), Poison(), Poison(), Poison()]);
            Assert.False(run.IsCompleted);

            // The working time ends at 90 s; the sink is then waited for 200 ms more and given up. The clock stops there,
            // so that the sink's time is read as 90.2 s wherever the give-up continues.
            clock.Advance(s_working);
            Assert.False(run.IsCompleted);
            clock.Advance(TimeSpan.FromMilliseconds(200));
            BatchSummary learn = await run.WaitAsync(TimeSpan.FromSeconds(10));

            Assert.Equal(SinkOutcome.TimedOut, learn.QuarantineSinkOutcome);
            Assert.Equal(0, learn.Quarantined);
            Assert.Equal(s_working + TimeSpan.FromMilliseconds(200), learn.QuarantineSinkDuration);

            // Nothing was durable, so the whole 90.2 s counts as the cost of one record: a batch with poison stops
            // after its first record (counted as 4 records, 22.55 s each, it would read 4).
            TestRecord[] records = [Poison(), Poison(), Poison(), Poison(), Poison(), Poison()];
            Task<BatchSummary> next = Run(timingOut, clock, records);
            clock.Advance(s_working + TimeSpan.FromSeconds(1));
            BatchSummary summary = await next.WaitAsync(TimeSpan.FromSeconds(10));

            int expected = ExpectedRead(s_working + TimeSpan.FromMilliseconds(200), records.Length);
            Assert.Equal(1, expected);
            Assert.Equal(expected, summary.RecordsProcessed);
            Assert.Equal(BatchStopReason.TimeBudget, summary.StopReason);
        }
    }

    /// <summary>Takes a set time per pair; when given a caller to cancel, stops after the first pair and cancels it.</summary>
    private sealed class CallerCancellingSink(ManualTimeProvider clock) : IAggregateSink
    {
        public TimeSpan PerPair { get; set; }

        public CancellationTokenSource? Caller { get; set; }

        public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            if (Caller is null)
            {
                clock.Advance(PerPair * batch.Count);
                batch.MarkAllDurable();
                return;
            }

            clock.Advance(PerPair);
            batch.MarkDurable(0);
            await Caller.CancelAsync();
        }
    }

    /// <summary>
    /// A call the caller's cancellation cut short teaches nothing (review): counted as a call that finished, its time
    /// over all its pairs taught a cost per pair far too low (1 pair's 8 s over 9 pairs), and the next invocation read
    /// more than its sinks could write in time.
    /// </summary>
    [Fact]
    public async Task PairCost_ACallCutShortByTheCaller_TeachesNothing()
    {
        var clock = new ManualTimeProvider(s_now);
        var sink = new CallerCancellingSink(clock) { PerPair = TimeSpan.FromSeconds(8) };
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock });
        await Run(processor, clock, [Valid(), Valid(), Valid(), Valid()]);

        using (var caller = new CancellationTokenSource())
        {
            sink.Caller = caller;
            BatchSummary cut = await processor.ProcessAsync(TestEvents.Build([.. Enumerable.Range(0, 9).Select(_ => Valid())]), clock.GetUtcNow() + s_budget, new ArrayBufferWriter<byte>(), caller.Token);
            Assert.Equal((SinkOutcome.Completed, 1), (cut.AggregateSinkOutcome, cut.AggregatesWritten));
            sink.Caller = null;
        }

        TestRecord[] records = [.. Enumerable.Range(0, 12).Select(_ => Valid())];
        BatchSummary summary = await Run(processor, clock, records);

        // Still 8 s a pair: the 10th record is not started.
        Assert.Equal(ExpectedRead(TimeSpan.FromSeconds(8), records.Length), summary.RecordsProcessed);
        Assert.Equal(BatchStopReason.TimeBudget, summary.StopReason);
    }
}
