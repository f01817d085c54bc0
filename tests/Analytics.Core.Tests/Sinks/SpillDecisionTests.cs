using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Analytics.Core.Tests.Pipeline;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Core.Tests;

/// <summary>
/// The pipeline's spill decision with in-memory sinks: when a batch is spilled, what goes into the spill, what the
/// response then says, and what is counted.
/// </summary>
public class SpillDecisionTests
{
    private const long Now = TestEvents.Arrival + 600_000; // ten minutes after the records arrived

    private sealed class RecordingSpillSink : ISpillSink
    {
        public List<(string SpillId, string ShardId, List<(string Series, long Window, SpilledSample Sample)> Samples)> Spills { get; } = [];

        public List<string> Removed { get; } = [];

        public bool Result { get; set; } = true;

        public bool RemoveResult { get; set; } = true;

        public Task<bool> WriteAsync(SpillBatch spill, CancellationToken cancellationToken)
        {
            var samples = new List<(string, long, SpilledSample)>();
            foreach (SpilledPair pair in spill.Pairs)
            {
                string series = spill.Batch.GetSeriesKey(pair.Index).GetMetricString();
                samples.AddRange(pair.Samples.Select(s => (series, spill.Batch.GetWindowStartMs(pair.Index), s)));
            }

            Spills.Add((spill.SpillId, spill.ShardId, samples));
            return Task.FromResult(Result);
        }

        public Task<bool> RemoveUnconfirmedAsync(string shardId, string? eventSourceArn, string spillId, CancellationToken cancellationToken)
        {
            Removed.Add(spillId);
            return Task.FromResult(RemoveResult);
        }
    }

    private static (List<TestRecord> Records, List<(string Sequence, string Key, string Metric, double Value)> Samples) Records(int count, int seed, bool poisonFirst = false)
    {
        var random = new Random(seed);
        var records = new List<TestRecord>();
        var samples = new List<(string, string, string, double)>();
        for (int i = 0; i < count; i++)
        {
            string sequence = TestEvents.Seq(100 + (i * 7));
            string key = "device-" + random.Next(4);
            if (poisonFirst && i == 0)
            {
                records.Add(new TestRecord(sequence, "{broken"u8.ToArray(), TestEvents.Arrival + i, key));
                continue;
            }

            string metric = "m" + random.Next(3);
            double value = random.Next(1, 1000);
            samples.Add((sequence, key, metric, value));
            records.Add(new TestRecord(sequence, Encoding.UTF8.GetBytes(TestEvents.Sample(metric, value, TestEvents.Arrival + (i * 1000))), TestEvents.Arrival + i, key));
        }

        return (records, samples);
    }

    private static async Task<(BatchSummary Summary, string? Failure, string Emf)> RunAsync(
        IAggregateSink aggregates, IQuarantineSink quarantine, ISpillSink? spill, List<TestRecord> records, long nowMs = Now, int failedInvocations = 0, KinesisBatchProcessor? reuse = null)
    {
        var clock = new ManualClock(DateTimeOffset.FromUnixTimeMilliseconds(nowMs), TimeSpan.Zero);
        KinesisBatchProcessor processor = reuse ?? new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default with
        {
            TimeProvider = clock,
            SpillSink = spill,
            SpillAfterFailedInvocations = failedInvocations,
        });
        var response = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build(records), clock.GetUtcNow().AddSeconds(30), response);
        using var json = JsonDocument.Parse(response.WrittenMemory);
        JsonElement failures = json.RootElement.GetProperty("batchItemFailures");
        var emf = new ArrayBufferWriter<byte>();
        EmfMetrics.Write(summary, EmfOptions.Default with { FunctionName = "f" }, emf);
        return (summary, failures.GetArrayLength() == 0 ? null : failures[0].GetProperty("itemIdentifier").GetString(), Encoding.UTF8.GetString(emf.WrittenSpan));
    }

    [Fact]
    public async Task OldBatch_AggregateSinkFails_SpillsEverySampleOfTheFailedPairs_AndReportsSuccess()
    {
        (List<TestRecord> records, var samples) = Records(40, seed: 1);
        var aggregates = new RecordingAggregateSink { Durable = pair => pair % 2 == 0 };
        var spill = new RecordingSpillSink();

        (BatchSummary summary, string? failure, string emf) = await RunAsync(aggregates, new RecordingQuarantineSink(), spill, records);

        Assert.Null(failure);
        var spilled = Assert.Single(spill.Spills);
        Assert.Equal(TestEvents.ShardId, spilled.ShardId);

        // Independently: the failed pairs are the odd ones in the sink's order; their samples come from the records.
        var failedPairs = aggregates.Seen.Where((_, i) => i % 2 == 1).Select(s => (s.Metric, s.WindowStartMs)).ToHashSet();
        var expected = samples.Where(s => failedPairs.Contains((s.Metric, WindowOf(TestEvents.Arrival + (1000 * (IndexOf(records, s.Sequence))))))).ToList();
        Assert.Equal(
            expected.Select(s => (s.Sequence, s.Key, s.Value)).Order(),
            spilled.Samples.Select(s => (s.Sample.SequenceNumber, s.Sample.PartitionKey, s.Sample.Value)).Order());

        // The spill id is the batch's first record, where every retry of an unconfirmed spill begins.
        Assert.Equal(records[0].SequenceNumber, spilled.SpillId);
        Assert.Equal(SinkOutcome.Completed, summary.SpillOutcome);
        Assert.Equal(failedPairs.Count, summary.SpilledAggregates);
        // The log line says where the pairs left went: spilled, not "reported as the checkpoint" (none is).
        Assert.EndsWith($"; {aggregates.Seen.Count - failedPairs.Count} of {aggregates.Seen.Count} pairs durable, the other {failedPairs.Count} spilled.", summary.AggregateSinkIssue, StringComparison.Ordinal);
        Assert.Equal(expected.Select(s => s.Sequence).Distinct().Count(), summary.SpilledRecords);
        Assert.Contains($"\"SpilledRecords\":{summary.SpilledRecords}", emf, StringComparison.Ordinal);
        Assert.Contains("\"FailuresReported\":0", emf, StringComparison.Ordinal);
        Assert.Equal([records[0].SequenceNumber], spill.Removed);
    }

    [Fact]
    public async Task YoungBatch_AggregateSinkFails_ReportsTheCheckpoint_AndDoesNotSpill()
    {
        (List<TestRecord> records, _) = Records(20, seed: 2);
        var spill = new RecordingSpillSink();

        (BatchSummary summary, string? failure, _) = await RunAsync(new RecordingAggregateSink { Durable = _ => false }, new RecordingQuarantineSink(), spill, records, nowMs: TestEvents.Arrival + 60_000);

        Assert.Equal(records[0].SequenceNumber, failure);
        Assert.Empty(spill.Spills);
        Assert.Empty(spill.Removed);
        Assert.Equal(SinkOutcome.NotCalled, summary.SpillOutcome);
    }

    [Fact]
    public async Task OldBatch_SpillFailsToo_ReportsTheCheckpointAsWithoutASpillSink()
    {
        (List<TestRecord> records, _) = Records(20, seed: 3);
        var spill = new RecordingSpillSink { Result = false };

        (BatchSummary summary, string? failure, string emf) = await RunAsync(new RecordingAggregateSink { Durable = _ => false }, new RecordingQuarantineSink(), spill, records);

        Assert.Equal(records[0].SequenceNumber, failure);
        Assert.Single(spill.Spills);
        Assert.Equal(SinkOutcome.Failed, summary.SpillOutcome);
        Assert.Equal(0, summary.SpilledRecords);
        Assert.Contains("\"SpilledRecords\":0", emf, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PoisonRecordNotQuarantined_NothingIsSpilled_TheRecordsAfterItAreRedelivered()
    {
        (List<TestRecord> records, _) = Records(20, seed: 4, poisonFirst: true);
        var spill = new RecordingSpillSink();

        (_, string? failure, _) = await RunAsync(new RecordingAggregateSink { Durable = _ => false }, new RecordingQuarantineSink { DurableCount = 0 }, spill, records);

        Assert.Equal(records[0].SequenceNumber, failure);
        Assert.Empty(spill.Spills);
    }

    [Fact]
    public async Task UnconfirmedSpillCannotBeRemoved_TheTableIsNotWritten()
    {
        (List<TestRecord> records, _) = Records(20, seed: 5);
        var aggregates = new RecordingAggregateSink();
        var spill = new RecordingSpillSink { RemoveResult = false, Result = false };

        (BatchSummary summary, string? failure, _) = await RunAsync(aggregates, new RecordingQuarantineSink(), spill, records);

        Assert.Equal(0, aggregates.Calls);
        Assert.Equal(records[0].SequenceNumber, failure);
        Assert.Contains("unconfirmed spill", summary.AggregateSinkIssue, StringComparison.Ordinal);
    }

    [Fact]
    public async Task YoungBatch_AfterNFailedInvocationsOfTheShard_IsSpilled()
    {
        (List<TestRecord> records, _) = Records(10, seed: 6);
        var aggregates = new RecordingAggregateSink { Durable = _ => false };
        var spill = new RecordingSpillSink();
        var clock = new ManualClock(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival + 1_000), TimeSpan.Zero);
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = clock, SpillSink = spill, SpillAfterFailedInvocations = 2 });
        var failures = new List<string?>();
        for (int i = 0; i < 3; i++)
        {
            var response = new ArrayBufferWriter<byte>();
            BatchSummary s = await processor.ProcessAsync(TestEvents.Build(records), clock.GetUtcNow().AddSeconds(30), response);
            failures.Add(s.ReportedFailure);
        }

        Assert.Equal([records[0].SequenceNumber, records[0].SequenceNumber, null], failures);
        Assert.Single(spill.Spills);
    }

    /// <summary>
    /// Whatever pairs the sink makes durable and whether the spill succeeds: a spill holds exactly the samples of the
    /// pairs not durable; the response is a success exactly when they were all durable or spilled, and otherwise names
    /// the batch's first record (the spill's id, where the retry removes an unconfirmed spill), so no sample is both
    /// spilled and re-delivered, and none is dropped.
    /// </summary>
    [Fact]
    public void TheSpill_HoldsExactlyTheSamplesOfThePairsNotDurable() =>
        Prop.ForAll(
            Arb.From(Gen.Choose(1, 60).SelectMany(n => Gen.Choose(0, 1_000_000).SelectMany(seed => Gen.Elements(true, false).Select(ok => (n, seed, ok))))),
            x =>
            {
                (int n, int seed, bool spillOk) = x;
                (List<TestRecord> records, var samples) = Records(n, seed);
                var random = new Random(seed);
                var marked = new List<bool>();
                var aggregates = new RecordingAggregateSink
                {
                    Durable = _ =>
                    {
                        bool durable = random.Next(3) != 0;
                        marked.Add(durable);
                        return durable;
                    },
                };
                var spill = new RecordingSpillSink { Result = spillOk };
                (BatchSummary summary, string? failure, _) = RunAsync(aggregates, new RecordingQuarantineSink(), spill, records).GetAwaiter().GetResult();

                var notDurable = aggregates.Seen.Where((_, i) => !marked[i]).Select(a => (a.Metric, a.WindowStartMs)).ToHashSet();
                var expected = samples.Where(s => notDurable.Contains((s.Metric, WindowOf(TestEvents.Arrival + (1000 * IndexOf(records, s.Sequence)))))).ToList();
                var spilled = spill.Spills.SelectMany(p => p.Samples).Select(s => (s.Sample.SequenceNumber, s.Sample.Value)).Order().ToList();
                bool holds = expected.Count == 0
                    ? failure is null && spill.Spills.Count == 0
                    : spilled.SequenceEqual(expected.Select(s => (s.Sequence, s.Value)).Order()) &&
                      (spillOk
                          ? failure is null && summary.SpilledRecords == expected.Select(s => s.Sequence).Distinct().Count()
                          : failure == records[0].SequenceNumber && summary.SpilledRecords == 0);
                return holds.Label($"n={n} seed={seed} spillOk={spillOk} failure={failure} expected={expected.Count} spilled={spilled.Count}");
            }).QuickCheckThrowOnFailure();

    private static long WindowOf(long ms) => ms - (ms % 60_000);

    private static int IndexOf(List<TestRecord> records, string sequence) => records.FindIndex(r => r.SequenceNumber == sequence);
}
