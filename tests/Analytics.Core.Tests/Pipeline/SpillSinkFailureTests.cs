using System.Buffers;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// The spill path when the spill sink misbehaves (throws, faults, runs out of time, ignores cancellation), when the
/// removal of an unconfirmed spill fails, at the age boundary, and when the pipeline stopped reading before a record:
/// no record is both spilled and re-delivered, none is dropped, and the summary says what happened.
/// </summary>
public class SpillSinkFailureTests
{
    private static readonly DateTimeOffset s_old = DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival + 600_000);

    private static (KinesisBatchProcessor Processor, ManualTimeProvider Time, ShareSink Sink) Create(TestSpillSink spill, DateTimeOffset? start = null, AggregatorOptions? aggregator = null)
    {
        var time = new ManualTimeProvider(start ?? s_old);
        var sink = new ShareSink(time);
        var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), ProcessorOptions.Default with
        {
            TimeProvider = time,
            SpillSink = spill,
            Aggregator = aggregator ?? AggregatorOptions.Default,
        });
        return (processor, time, sink);
    }

    private static byte[] OldBatch(int count = 3) => SpillEvents.Build(SpillEvents.Records(1, count), TestEvents.ShardId);

    [Theory]
    [InlineData(SpillCall.ThrowAtOnce)]
    [InlineData(SpillCall.Fault)]
    public void SpillThrows_IsAFailure_TheBatchIsReportedFromItsFirstRecord(SpillCall how)
    {
        using var noContext = new NoSynchronizationContext();
        var spill = new TestSpillSink { Write = how };
        (KinesisBatchProcessor processor, ManualTimeProvider time, _) = Create(spill);
        using (processor)
        {
            BatchSummary summary = SpillEvents.RunAtOnce(processor, time, OldBatch());

            Assert.Single(spill.Writes);
            Assert.Equal(SinkOutcome.Failed, summary.SpillOutcome);
            Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
            Assert.Equal(0, summary.SpilledRecords);
            Assert.Equal(0, summary.SpilledAggregates);

            // The operator reads why: the sink's exception on the summary and on the invocation's log line, at Error.
            string expected = spill.Throw.GetType().FullName + ": " + spill.Throw.Message;
            Assert.Equal(expected, summary.SpillError);
            var log = new ArrayBufferWriter<byte>();
            JsonLog.WriteInvocation(summary, JsonLogOptions.Default, log);
            using var line = System.Text.Json.JsonDocument.Parse(System.Text.Encoding.UTF8.GetString(log.WrittenSpan).Split('\n')[0]);
            Assert.NotEqual(SinkOutcome.Failed, summary.AggregateSinkOutcome); // the level is the spill's doing
            Assert.Equal(expected, line.RootElement.GetProperty("spillError").GetString());
            Assert.Equal("Error", line.RootElement.GetProperty("level").GetString());
        }
    }

    /// <summary>A cancellation the sink raised on its own (its client's time-out), not ours: a failure, not a time-out.</summary>
    [Fact]
    public void SpillThrowsItsOwnCancellation_IsAFailure()
    {
        using var noContext = new NoSynchronizationContext();
        var spill = new TestSpillSink { Write = SpillCall.ThrowAtOnce, Throw = new TaskCanceledException("client time-out") };
        (KinesisBatchProcessor processor, ManualTimeProvider time, _) = Create(spill);
        using (processor)
        {
            BatchSummary summary = SpillEvents.RunAtOnce(processor, time, OldBatch());

            Assert.Equal(SinkOutcome.Failed, summary.SpillOutcome);
            Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
        }
    }

    /// <summary>
    /// A spill cancelled by the end of the working time (27 s of a 30 s budget): a time-out. One cancelled by the
    /// caller's token 5 s in: not a time-out (none passed), but a failure, as when the sink throws (before, it was
    /// counted <c>TimedOut</c>: judged by the token the caller's cancellation fires too). Either way the batch is
    /// reported from its first record. The same whether the sink's task is cancelled or answers "not spilled".
    /// </summary>
    [Theory]
    [InlineData(false, SpillCall.HonourToken)]
    [InlineData(true, SpillCall.HonourToken)]
    [InlineData(false, SpillCall.FalseWhenCancelled)]
    [InlineData(true, SpillCall.FalseWhenCancelled)]
    public async Task SpillCancelled_AtTheEndOfTheWorkingTime_IsATimeOut_ByTheCaller_AFailure(bool byCaller, SpillCall call)
    {
        using var noContext = new NoSynchronizationContext();
        var spill = new TestSpillSink { Write = call };
        (KinesisBatchProcessor processor, ManualTimeProvider time, _) = Create(spill);
        using (processor)
        using (var caller = new CancellationTokenSource())
        {
            Task<BatchSummary> run = processor.ProcessAsync(OldBatch(), time.GetUtcNow().AddSeconds(30), new ArrayBufferWriter<byte>(), caller.Token);
            time.Advance(TimeSpan.FromSeconds(byCaller ? 5 : 26.9));
            Assert.False(run.IsCompleted);
            if (byCaller)
            {
                await caller.CancelAsync();
            }
            else
            {
                time.Advance(TimeSpan.FromSeconds(0.1));
                Assert.True(run.IsCompleted);
            }

            BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(10));

            Assert.Single(spill.Writes);
            Assert.Equal(byCaller ? SinkOutcome.Failed : SinkOutcome.TimedOut, summary.SpillOutcome);
            Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
            Assert.Equal(0, summary.SpilledRecords);
            // A failure always says why: the cancellation thrown, or that the sink answered "not stored" after the
            // caller's cancellation (before, that case left spillError empty). A time-out needs no words.
            Assert.Equal(
                (byCaller, call) switch
                {
                    (false, _) => null,
                    (true, SpillCall.HonourToken) => "System.Threading.Tasks.TaskCanceledException: A task was canceled.",
                    _ => "The spill sink returned false (not stored) after the caller cancelled the invocation.",
                },
                summary.SpillError);
        }
    }

    /// <summary>
    /// A spill sink that answers "not stored" with time left and no error (a custom sink's own give-up) is a failure
    /// the invocation's log line explains at Error, like a throw: before, <c>spillError</c> was empty and the line
    /// only Warn (found by review: the S3 spill sink did this after its retries ran out, a throttled bucket invisible).
    /// </summary>
    [Fact]
    public void SpillReturnsFalse_WithTimeLeft_IsAFailureTheLogLineExplains()
    {
        using var noContext = new NoSynchronizationContext();
        var spill = new TestSpillSink { WriteResult = false };
        (KinesisBatchProcessor processor, ManualTimeProvider time, _) = Create(spill);
        using (processor)
        {
            BatchSummary summary = SpillEvents.RunAtOnce(processor, time, OldBatch());

            Assert.Equal((SinkOutcome.Failed, TestEvents.Seq(1)), (summary.SpillOutcome, summary.ReportedFailure));
            const string Expected = "The spill sink returned false (not stored) with time left, and gave no error.";
            Assert.Equal(Expected, summary.SpillError);
            var log = new ArrayBufferWriter<byte>();
            JsonLog.WriteInvocation(summary, JsonLogOptions.Default, log);
            using var line = System.Text.Json.JsonDocument.Parse(System.Text.Encoding.UTF8.GetString(log.WrittenSpan).Split('\n')[0]);
            Assert.Equal(Expected, line.RootElement.GetProperty("spillError").GetString());
            Assert.Equal("Error", line.RootElement.GetProperty("level").GetString());
        }
    }

    /// <summary>
    /// A spill sink that ignores cancellation is given up 200 ms after the working time: a time-out, and the sink keeps
    /// its batch, which the next invocation does not touch.
    /// </summary>
    [Fact]
    public async Task SpillThatIgnoresCancellation_IsGivenUp_AndKeepsItsBatch()
    {
        using var noContext = new NoSynchronizationContext();
        var spill = new TestSpillSink { Write = SpillCall.Hang };
        (KinesisBatchProcessor processor, ManualTimeProvider time, _) = Create(spill);
        using (processor)
        {
            Task<BatchSummary> run = processor.ProcessAsync(OldBatch(), time.GetUtcNow().AddSeconds(30), new ArrayBufferWriter<byte>());
            time.Advance(TimeSpan.FromSeconds(27.1));
            Assert.False(run.IsCompleted, "given up before the grace time after the working time");
            time.Advance(TimeSpan.FromSeconds(0.1));
            Assert.True(run.IsCompleted);
            BatchSummary summary = await run;

            Assert.Equal(SinkOutcome.TimedOut, summary.SpillOutcome);
            Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);

            // The hung sink still holds the first batch (one pair, of records 1 to 3); a next invocation of other
            // records (ten metrics) must not change it under the sink.
            AggregateBatch held = spill.Writes[0].Batch;
            Assert.Equal(1, held.Count);
            spill.Write = SpillCall.Result;
            BatchSummary next = SpillEvents.RunAtOnce(processor, time, SpillEvents.Build(SpillEvents.Records(10, 10, metrics: 10), TestEvents.ShardId));
            Assert.Equal(SinkOutcome.Completed, next.SpillOutcome);
            Assert.Equal(1, held.Count);
            Assert.Equal("m0", held.GetSeriesKey(0).GetMetricString());
            Assert.Equal(3, held.GetAggregate(0).Count);
        }
    }

    /// <summary>
    /// When the removal of an unconfirmed spill fails, the table is not written (those records may be in that spill):
    /// the batch is spilled instead (the new spill replaces the old one, same id).
    /// </summary>
    [Theory]
    [InlineData(SpillCall.ThrowAtOnce)]
    [InlineData(SpillCall.Fault)]
    public void RemovalThrows_TheTableIsNotWritten(SpillCall how)
    {
        using var noContext = new NoSynchronizationContext();
        var spill = new TestSpillSink { Remove = how };
        (KinesisBatchProcessor processor, ManualTimeProvider time, ShareSink sink) = Create(spill);
        using (processor)
        {
            BatchSummary summary = SpillEvents.RunAtOnce(processor, time, OldBatch());

            Assert.Equal(0, sink.Calls);
            Assert.Contains("unconfirmed spill", summary.AggregateSinkIssue, StringComparison.Ordinal);
            // The removal's error is the operator's lead (before, the line said only that it failed).
            Assert.EndsWith("The spill sink's removal failed: System.IO.IOException: spill store unreachable", summary.AggregateSinkIssue, StringComparison.Ordinal);
            Assert.Equal([TestEvents.Seq(1)], spill.Removals);
            Assert.Equal(SinkOutcome.Completed, summary.SpillOutcome);
            Assert.Null(summary.ReportedFailure);
        }
    }

    /// <summary>The age rule is "at least <see cref="ProcessorOptions.SpillAfterAge"/>": exactly 5 minutes spills, a millisecond less does not.</summary>
    [Theory]
    [InlineData(300_000, true)]
    [InlineData(299_999, false)]
    public void Age_AtLeastSpillAfterAge_Spills(long ageMs, bool spills)
    {
        using var noContext = new NoSynchronizationContext();
        var spill = new TestSpillSink();
        (KinesisBatchProcessor processor, ManualTimeProvider time, _) = Create(spill, DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival + ageMs));
        using (processor)
        {
            BatchSummary summary = SpillEvents.RunAtOnce(processor, time, OldBatch());

            Assert.Equal(TimeSpan.FromMilliseconds(ageMs), summary.OldestRecordAge);
            Assert.Equal(spills ? SinkOutcome.Completed : SinkOutcome.NotCalled, summary.SpillOutcome);
            Assert.Equal(spills ? null : TestEvents.Seq(1), summary.ReportedFailure);
        }
    }

    /// <summary>
    /// The pipeline stopped before a record (the pair cap): after a confirmed spill the response still names that
    /// record, which was not aggregated and must come again; the records before it are done.
    /// </summary>
    [Fact]
    public void SpillAfterAStop_StillReportsTheRecordItStoppedBefore()
    {
        using var noContext = new NoSynchronizationContext();
        var spill = new TestSpillSink();
        (KinesisBatchProcessor processor, ManualTimeProvider time, _) = Create(spill, aggregator: AggregatorOptions.Default with { MaxPairs = 2 });
        using (processor)
        {
            // Records 1..5 of metrics m0, m1, m2, m3, m4: the third record would be a third pair.
            BatchSummary summary = SpillEvents.RunAtOnce(processor, time, SpillEvents.Build(SpillEvents.Records(1, 5, metrics: 5), TestEvents.ShardId));

            Assert.Equal(BatchStopReason.PairCap, summary.StopReason);
            Assert.Equal(SinkOutcome.Completed, summary.SpillOutcome);
            Assert.Equal(2, summary.SpilledRecords);
            Assert.Equal(TestEvents.Seq(3), summary.ReportedFailure);
        }
    }
}
