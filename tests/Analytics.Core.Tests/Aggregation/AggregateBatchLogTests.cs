using System.Buffers;
using System.Text;
using Analytics.Core.Tests.Pipeline;
using FsCheck.Xunit;

namespace Analytics.Core.Tests.Sinks;

/// <summary>
/// The per-record log behind exactly-once: for every pair, what a sink would apply past any watermark, checked
/// against a computation from the records themselves; batches past the first array sizes (128 pairs, 1,024 samples);
/// zero and negative values; and a tumbling-window flush, which has no per-record log.
/// </summary>
public class AggregateBatchLogTests
{
    private sealed record Contribution(int Record, string Metric, double Value);

    /// <summary>For every pair and watermark: what TryGetAggregateAfter said, plus the pair's sequence range.</summary>
    private sealed class Probe(IReadOnlyList<string> watermarks, Func<string, bool> durable) : IAggregateSink
    {
        public Dictionary<(string Metric, string Watermark), (bool Any, long Count, double Sum, double Min, double Max)> After { get; } = [];

        public Dictionary<string, (string First, string Last, long Count)> Pairs { get; } = [];

        public Exception? Error { get; private set; }

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            try
            {
                var scratch = new MetricAggregate(AggregatorOptions.Default);
                scratch.Add(12345); // TryGetAggregateAfter must clear it
                for (int pair = 0; pair < batch.Count; pair++)
                {
                    string metric = batch.GetSeriesKey(pair).GetMetricString();
                    Pairs.Add(metric, (Encoding.ASCII.GetString(batch.GetFirstSequenceNumber(pair)), Encoding.ASCII.GetString(batch.GetLastSequenceNumber(pair)), batch.GetAggregate(pair).Count));
                    foreach (string w in watermarks)
                    {
                        bool any = batch.TryGetAggregateAfter(pair, Encoding.ASCII.GetBytes(w), scratch);
                        After[(metric, w)] = (any, scratch.Count, scratch.Sum, scratch.Min, scratch.Max);
                    }

                    if (durable(metric))
                    {
                        batch.MarkDurable(pair);
                    }
                }
            }
            catch (Exception e)
            {
                Error = e;
                throw;
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>Runs one batch of records with the given samples and checks everything the probe saw.</summary>
    private static async Task RunAndCheck(int records, IReadOnlyList<Contribution> contributions, IReadOnlyList<int> poison, IReadOnlyList<int> watermarkRecords, Func<string, bool> durable)
    {
        string[] watermarks = [.. watermarkRecords.Select(r => TestEvents.Seq(r))];
        var probe = new Probe(watermarks, durable);
        var events = new List<TestRecord>();
        for (int r = 1; r <= records; r++)
        {
            string data = poison.Contains(r)
                ? "{broken"
                : string.Join("\n", contributions.Where(c => c.Record == r).Select(c => TestEvents.Sample(c.Metric, c.Value, TestEvents.Arrival - 1000)));
            events.Add(new TestRecord(TestEvents.Seq(r), TestEvents.Utf8(data.Length == 0 ? "{broken" : data), TestEvents.Arrival));
        }

        List<Contribution> valid = [.. contributions.Where(c => !poison.Contains(c.Record))];
        using var processor = new KinesisBatchProcessor(probe, new RecordingQuarantineSink(), ProcessorOptions.Default);
        var output = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build(events), DateTimeOffset.UtcNow.AddSeconds(60), output);
        Assert.Null(probe.Error);

        string[] metrics = [.. valid.Select(c => c.Metric).Distinct()];
        Assert.Equal(metrics.Length, probe.Pairs.Count);
        foreach (string metric in metrics)
        {
            List<Contribution> mine = [.. valid.Where(c => c.Metric == metric)];
            (string first, string last, long count) = probe.Pairs[metric];
            Assert.Equal(TestEvents.Seq(mine.Min(c => c.Record)), first);
            Assert.Equal(TestEvents.Seq(mine.Max(c => c.Record)), last);
            Assert.Equal(mine.Count, count);
            for (int i = 0; i < watermarks.Length; i++)
            {
                List<Contribution> past = [.. mine.Where(c => c.Record > watermarkRecords[i])];
                (bool any, long n, double sum, double min, double max) = probe.After[(metric, watermarks[i])];
                string where = $"{metric} past record {watermarkRecords[i]}";
                Assert.True(past.Count > 0 == any, where + ": answer");
                Assert.True(past.Count == n, $"{where}: count {n}, expected {past.Count}");
                Assert.True(past.Sum(c => c.Value) == sum, $"{where}: sum {sum}, expected {past.Sum(c => c.Value)}");
                if (past.Count > 0)
                {
                    Assert.True((past.Min(c => c.Value), past.Max(c => c.Value)) == (min, max), $"{where}: extremes");
                }
            }
        }

        // The checkpoint: the first record of the earliest pair that was not made durable.
        int[] failedFirsts = [.. metrics.Where(m => !durable(m)).Select(m => valid.Where(c => c.Metric == m).Min(c => c.Record))];
        string? expectedFailure = failedFirsts.Length == 0 ? null : TestEvents.Seq(failedFirsts.Min());
        Assert.Equal(expectedFailure, summary.ReportedFailure);
        Assert.Equal(metrics.Count(durable), summary.AggregatesWritten);
    }

    [Fact]
    public async Task ManyPairsAndSamples_GrowTheLog_AndEveryPairRecomputesExactly()
    {
        // 400 records of 8 samples over 300 metrics: 300 pairs (past 128) and 3,200 samples (past 1,024).
        var random = new Random(20);
        var contributions = new List<Contribution>();
        for (int r = 1; r <= 400; r++)
        {
            for (int s = 0; s < 8; s++)
            {
                int metric = r <= 300 && s == 0 ? r - 1 : random.Next(300); // every metric appears; new ones keep coming
                contributions.Add(new Contribution(r, "m" + metric, random.Next(-3, 4)));
            }
        }

        int[] watermarks = [0, 1, 2, 64, 127, 128, 129, 200, 299, 300, 301, 399, 400, 401];
        await RunAndCheck(400, contributions, poison: [5, 150, 333], watermarks, durable: m => int.Parse(m[1..], System.Globalization.CultureInfo.InvariantCulture) % 7 != 3);
    }

    [Property(MaxTest = 40)]
    public async Task RandomBatches_RecomputeEveryPairExactly(int seed)
    {
        var random = new Random(seed);
        int records = random.Next(1, 250);
        int metrics = random.Next(1, 220);
        var contributions = new List<Contribution>();
        for (int r = 1; r <= records; r++)
        {
            for (int s = random.Next(1, 9); s > 0; s--)
            {
                contributions.Add(new Contribution(r, "m" + random.Next(metrics), random.Next(-5, 6)));
            }
        }

        int[] poison = [.. Enumerable.Range(1, records).Where(_ => random.Next(10) == 0)];
        int[] watermarks = [0, .. Enumerable.Range(0, 6).Select(_ => random.Next(0, records + 2)), records];
        int failing = random.Next(4);
        await RunAndCheck(records, contributions, poison, watermarks, durable: m => failing == 0 || m.Length % 4 != failing);
    }

    [Fact]
    public async Task ValuesPastTheWatermark_SummingToZeroOrLess_AreStillApplied()
    {
        Contribution[] contributions =
        [
            new(1, "m", 5), new(2, "m", -3), new(2, "m", 3), new(3, "m", 0), new(4, "m", -1), new(4, "n", 0),
        ];
        // Past record 1: -3 + 3 + 0 - 1 = -1; past 2: -1; past 3: -1 alone. n: one zero.
        await RunAndCheck(4, contributions, poison: [], [1, 2, 3, 4], durable: _ => true);
    }

    /// <summary>A sink that asks a window flush for what lies past several watermarks.</summary>
    private sealed class WindowProbe(string[] watermarks) : IAggregateSink
    {
        public List<(string Watermark, string Outcome)> Answers { get; } = [];

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            var scratch = new MetricAggregate(AggregatorOptions.Default);
            foreach (string w in watermarks)
            {
                try
                {
                    bool any = batch.TryGetAggregateAfter(0, Encoding.ASCII.GetBytes(w), scratch);
                    Answers.Add((w, $"{any} {scratch.Count} {scratch.Sum}"));
                }
                catch (InvalidOperationException)
                {
                    Answers.Add((w, "throws"));
                }
            }

            batch.MarkDurable(0);
            return Task.CompletedTask;
        }
    }

    private static byte[] WindowEvent(IEnumerable<TestRecord> records, string stateJson, bool final) =>
        TestEvents.BuildWindow(records, stateJson, final);

    [Fact]
    public async Task WindowFlush_AnswersAlreadyAppliedOrAll_AndRefusesToSplitTheWindow()
    {
        // The window spans records 10..40 over two invocations; its pair holds 3 samples summing to 6.
        var probe = new WindowProbe([TestEvents.Seq(9), "", TestEvents.Seq(10), TestEvents.Seq(25), TestEvents.Seq(39), TestEvents.Seq(40), TestEvents.Seq(41)]);
        using var processor = new KinesisBatchProcessor(probe, new RecordingQuarantineSink(), ProcessorOptions.Default);
        static TestRecord Good(int n, double v) => new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", v, TestEvents.Arrival - 1000)), TestEvents.Arrival);

        var first = new ArrayBufferWriter<byte>();
        await processor.ProcessAsync(WindowEvent([Good(10, 1), Good(20, 2)], "{}", final: false), DateTimeOffset.UtcNow.AddSeconds(30), first);
        string state = System.Text.Json.JsonDocument.Parse(first.WrittenMemory).RootElement.GetProperty("state").GetRawText();
        await processor.ProcessAsync(WindowEvent([Good(40, 3)], state, final: true), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());

        Assert.Equal(
            [
                (TestEvents.Seq(9), "True 3 6"),   // before the window: all of it
                ("", "True 3 6"),                   // no watermark: all of it
                (TestEvents.Seq(10), "throws"),     // the first record applied, the rest not: cannot split
                (TestEvents.Seq(25), "throws"),
                (TestEvents.Seq(39), "throws"),
                (TestEvents.Seq(40), "False 0 0"),  // the window's last record applied: nothing left
                (TestEvents.Seq(41), "False 0 0"),
            ],
            probe.Answers);
    }
}
