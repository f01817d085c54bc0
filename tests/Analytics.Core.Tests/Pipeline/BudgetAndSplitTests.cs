using System.Buffers;
using System.Globalization;
using System.Text.Json;
using FsCheck.Xunit;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// The time budget and the cap on pairs: an invocation that can process one record makes durable progress, and
/// re-delivery from the checkpoint it reports drains any batch, each record applied once.
/// </summary>
public class BudgetAndSplitTests
{
    private static readonly DateTimeOffset s_start = DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival + 5_000);

    /// <summary>A generated record and what it holds when valid.</summary>
    private sealed record Generated(TestRecord Record, bool Poison, (string Series, double Value)[] Samples);

    private static Generated Valid(int n, params (string Metric, string Host, double Value)[] samples)
    {
        string data = string.Join("\n", samples.Select(s => TestEvents.Sample(s.Metric, s.Value, TestEvents.Arrival - 1000, ("host", s.Host))));
        return new Generated(new TestRecord(TestEvents.Seq(n), TestEvents.Utf8(data), TestEvents.Arrival), false, [.. samples.Select(s => ($"{s.Metric}|host={s.Host}", s.Value))]);
    }

    private static Generated Poison(int n) => new(new TestRecord(TestEvents.Seq(n), TestEvents.Utf8("{\"metric\":"), TestEvents.Arrival), true, []);

    private static Generated[] Generate(Random random, int count, int seriesPerMetric)
    {
        var records = new Generated[count];
        for (int i = 0; i < count; i++)
        {
            if (random.Next(5) == 0)
            {
                records[i] = Poison(i + 1);
                continue;
            }

            var samples = new (string, string, double)[1 + random.Next(3)];
            for (int s = 0; s < samples.Length; s++)
            {
                samples[s] = ("m" + random.Next(4), "h" + random.Next(seriesPerMetric), random.Next(1, 1000));
            }

            records[i] = Valid(i + 1, samples);
        }

        return records;
    }

    private static string[] Failures(ArrayBufferWriter<byte> response)
    {
        using JsonDocument doc = JsonDocument.Parse(response.WrittenMemory);
        return [.. doc.RootElement.GetProperty("batchItemFailures").EnumerateArray().Select(f => f.GetProperty("itemIdentifier").GetString()!)];
    }

    /// <summary>
    /// Invokes the processor with the batch from <c>records[from..]</c> until it reports no failure, as Lambda
    /// re-delivers from the checkpoint; asserts every attempt moves the checkpoint past its first record.
    /// </summary>
    private static async Task<List<BatchSummary>> DrainAsync(KinesisBatchProcessor processor, ManualClock clock, Generated[] records, TimeSpan budget)
    {
        var summaries = new List<BatchSummary>();
        int from = 0;
        while (from < records.Length)
        {
            Assert.True(summaries.Count < records.Length, "more attempts than records: no progress");
            var response = new ArrayBufferWriter<byte>();
            byte[] evt = TestEvents.Build(records.Skip(from).Select(r => r.Record));
            BatchSummary summary = await processor.ProcessAsync(evt, clock.GetUtcNow() + budget, response);
            summaries.Add(summary);
            string[] failures = Failures(response);
            if (failures.Length == 0)
            {
                break;
            }

            string checkpoint = Assert.Single(failures);
            int next = Array.FindIndex(records, r => r.Record.SequenceNumber == checkpoint);
            Assert.True(next > from, $"attempt {summaries.Count} reported its own first record {checkpoint}: no progress ({summary.StopReason}, aggregate sink {summary.AggregateSinkOutcome}, quarantine {summary.QuarantineSinkOutcome})");
            from = next;
            clock.Advance(TimeSpan.FromSeconds(1)); // Lambda's turn-around
        }

        return summaries;
    }

    /// <summary>Asserts the sinks hold exactly the valid samples (each once) and exactly the poison records.</summary>
    /// <summary>Per series, the count and sum of the samples of the records that are not poison alone.</summary>
    private static Dictionary<string, (long Count, double Sum)> Truth(Generated[] records, Func<Generated, bool> poisonAlone)
    {
        var expected = new Dictionary<string, (long Count, double Sum)>();
        foreach ((string series, double value) in records.Where(r => !poisonAlone(r)).SelectMany(r => r.Samples))
        {
            expected.TryGetValue(series, out var e);
            expected[series] = (e.Count + 1, e.Sum + value);
        }

        return expected;
    }

    private static void AssertDrainedExactlyOnce(Generated[] records, SlowWatermarkSink aggregates, SlowQuarantineSink quarantine, Func<Generated, bool>? poisonAlone = null)
    {
        poisonAlone ??= r => r.Poison;
        Dictionary<string, (long Count, double Sum)> expected = Truth(records, poisonAlone);
        var actual = aggregates.Store.ToDictionary(kv => kv.Key.Series, kv => (kv.Value.Count, kv.Value.Sum));
        Assert.Equal(expected.OrderBy(kv => kv.Key), actual.OrderBy(kv => kv.Key));
        Assert.Equal(
            records.Where(poisonAlone).Select(r => r.Record.SequenceNumber).Order(),
            quarantine.Records.Keys.Select(k => k.Sequence).Order());
    }

    [Fact]
    public async Task Process_BatchTooBigForItsBudget_MakesDurableProgress()
    {
        // 1 ms of fake time per clock read while reading: 3,000 records take about 3 s, and the budget is 2.2 s.
        var clock = new ManualClock(s_start, TimeSpan.FromMilliseconds(1));
        var aggregates = new SlowWatermarkSink(clock, TimeSpan.FromMilliseconds(1));
        var quarantine = new SlowQuarantineSink(clock, TimeSpan.FromMilliseconds(1));
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default with { TimeProvider = clock });
        Generated[] records = Generate(new Random(11), 3000, seriesPerMetric: 5);

        var response = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build(records.Select(r => r.Record)), clock.GetUtcNow() + TimeSpan.FromMilliseconds(2200), response);

        string checkpoint = Assert.Single(Failures(response));
        Assert.Equal(BatchStopReason.TimeBudget, summary.StopReason);
        Assert.Equal(SinkOutcome.Completed, summary.AggregateSinkOutcome);
        Assert.True(summary.AggregatesWritten > 0, "aggregates written");
        int next = Array.FindIndex(records, r => r.Record.SequenceNumber == checkpoint);
        Assert.Equal(summary.RecordsProcessed, next);
        Assert.True(next > 0, "the checkpoint moved past the first record");
        Assert.True(clock.GetUtcNow() < s_start + TimeSpan.FromMilliseconds(2200), "answered before the deadline");
    }

    /// <summary>
    /// Any batch size, budget, parse cost and sink cost, as long as the sinks can write one record's aggregates and
    /// one poison record in the sinks' share of the working time: every attempt moves the checkpoint, and
    /// re-delivery from it drains the batch with every sample applied once.
    /// </summary>
    [Property(MaxTest = 60)]
    public async Task Process_AnyBatchAndBudget_ProgressOnEveryAttemptAndDrains(int seed)
    {
        var random = new Random(seed);
        TimeSpan budget = TimeSpan.FromMilliseconds(random.Next(1_000, 60_000));
        TimeSpan working = KinesisBatchProcessor.GetWorkingTime(budget, ProcessorOptions.Default);
        TimeSpan share = working * ProcessorOptions.Default.SinkTimeFraction;
        TimeSpan Part(int divisor) => TimeSpan.FromTicks((long)(random.NextDouble() * share.Ticks / divisor));
        var clock = new ManualClock(s_start, Part(40));
        var aggregates = new SlowWatermarkSink(clock, Part(6));
        var quarantine = new SlowQuarantineSink(clock, Part(2));
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default with { TimeProvider = clock });
        Generated[] records = Generate(random, random.Next(1, 400), seriesPerMetric: 1 + random.Next(60));

        List<BatchSummary> attempts = await DrainAsync(processor, clock, records, budget);

        AssertDrainedExactlyOnce(records, aggregates, quarantine);
        Assert.All(attempts, s => Assert.True(s.RemainingTime > TimeSpan.Zero, $"remaining {s.RemainingTime}"));
    }

    [Fact]
    public async Task Process_SinkSlowerThanItsShare_LearnsItsCostAndReadsLessNextTime()
    {
        var clock = new ManualClock(s_start, TimeSpan.FromMilliseconds(0.1));
        var aggregates = new SlowWatermarkSink(clock, TimeSpan.FromMilliseconds(5));
        using var processor = new KinesisBatchProcessor(aggregates, new SlowQuarantineSink(clock, TimeSpan.Zero), ProcessorOptions.Default with { TimeProvider = clock });
        // Every record its own series: 5,000 pairs would take 25 s to write, the working time of a 10 s budget is 9 s.
        Generated[] records = [.. Enumerable.Range(1, 5000).Select(i => Valid(i, ("m", "h" + i, i)))];

        List<BatchSummary> attempts = await DrainAsync(processor, clock, records, TimeSpan.FromSeconds(10));

        Assert.Equal(SinkOutcome.TimedOut, attempts[0].AggregateSinkOutcome);
        Assert.Equal(SinkOutcome.Completed, attempts[1].AggregateSinkOutcome);
        Assert.Equal(BatchStopReason.TimeBudget, attempts[1].StopReason);
        Assert.InRange(attempts[1].RecordsProcessed, 1000, (int)(TimeSpan.FromSeconds(9) / TimeSpan.FromMilliseconds(5)));
        AssertDrainedExactlyOnce(records, aggregates, new SlowQuarantineSink(clock, TimeSpan.Zero));
    }

    [Theory]
    [InlineData(1_000, 500)]
    [InlineData(2_000, 1_000)]
    [InlineData(3_000, 2_000)]
    [InlineData(60_000, 54_000)]
    public void GetWorkingTime_MarginIsAtLeastOneSecondButAtMostHalfTheBudget(int budgetMs, int workingMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(workingMs), KinesisBatchProcessor.GetWorkingTime(TimeSpan.FromMilliseconds(budgetMs), ProcessorOptions.Default));

    [Fact]
    public async Task Process_CapReached_SplitsBeforeTheRecordThatDoesNotFit()
    {
        var clock = new ManualClock(s_start, TimeSpan.Zero);
        var aggregates = new SlowWatermarkSink(clock, TimeSpan.Zero);
        var quarantine = new SlowQuarantineSink(clock, TimeSpan.Zero);
        var options = ProcessorOptions.Default with { TimeProvider = clock, Aggregator = AggregatorOptions.Default with { MaxPairs = 2 } };
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, options);
        Generated[] records = [Valid(1, ("a", "x", 1)), Valid(2, ("b", "x", 1)), Valid(3, ("a", "x", 5), ("c", "x", 1)), Valid(4, ("a", "x", 2))];

        var response = new ArrayBufferWriter<byte>();
        BatchSummary first = await processor.ProcessAsync(TestEvents.Build(records.Select(r => r.Record)), clock.GetUtcNow() + TimeSpan.FromSeconds(30), response);

        Assert.Equal([TestEvents.Seq(3)], Failures(response));
        Assert.Equal(BatchStopReason.PairCap, first.StopReason);
        Assert.Equal(0, first.PoisonRecords);
        Assert.Equal(2, first.AggregatesWritten);

        await DrainAsync(processor, clock, records[2..], TimeSpan.FromSeconds(30));
        AssertDrainedExactlyOnce(records, aggregates, quarantine);
        Assert.Empty(quarantine.Records);
    }

    [Fact]
    public async Task Process_RecordAloneOverTheCap_IsPoisonWhereverItComes()
    {
        var clock = new ManualClock(s_start, TimeSpan.Zero);
        var options = ProcessorOptions.Default with { TimeProvider = clock, Aggregator = AggregatorOptions.Default with { MaxPairs = 2 } };
        var aggregates = new SlowWatermarkSink(clock, TimeSpan.Zero);
        var quarantine = new SlowQuarantineSink(clock, TimeSpan.Zero);
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, options);
        Generated tooWide = Valid(2, ("a", "x", 1), ("b", "x", 1), ("c", "x", 1));
        Generated[] records = [Valid(1, ("a", "x", 1)), tooWide, Valid(3, ("a", "x", 1))];

        await DrainAsync(processor, clock, records, TimeSpan.FromSeconds(30));

        QuarantinedRecord q = Assert.Single(quarantine.Records.Values);
        Assert.Equal((TestEvents.Seq(2), PoisonReason.CardinalityLimit), (q.SequenceNumber, q.Reason));
        AssertDrainedExactlyOnce(records, aggregates, quarantine, r => r == tooWide);
    }

    /// <summary>The records quarantined when each is the whole of a plain batch of its own: the verdicts of the records alone.</summary>
    private static async Task<HashSet<Generated>> PoisonAloneAsync(Generated[] records, ProcessorOptions options)
    {
        var alone = new HashSet<Generated>();
        foreach (Generated r in records)
        {
            var clock = new ManualClock(s_start, TimeSpan.Zero);
            var quarantine = new SlowQuarantineSink(clock, TimeSpan.Zero);
            using var single = new KinesisBatchProcessor(new SlowWatermarkSink(clock, TimeSpan.Zero), quarantine, options with { TimeProvider = clock });
            var response = new ArrayBufferWriter<byte>();
            await single.ProcessAsync(TestEvents.Build([r.Record]), clock.GetUtcNow() + TimeSpan.FromSeconds(30), response);
            Assert.Empty(Failures(response));
            if (quarantine.Records.Count > 0)
            {
                alone.Add(r);
            }
        }

        return alone;
    }

    /// <summary>Whatever the cap and the neighbours, a record is quarantined exactly when it is poison alone.</summary>
    [Property(MaxTest = 60)]
    public async Task Process_AnyCap_VerdictsDependOnTheRecordAlone(int seed)
    {
        var random = new Random(seed);
        int maxPairs = 1 + random.Next(12);
        var options = ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { MaxPairs = maxPairs } };
        Generated[] records = Generate(random, random.Next(1, 120), seriesPerMetric: 1 + random.Next(8));

        HashSet<Generated> alone = await PoisonAloneAsync(records, options);

        var clock = new ManualClock(s_start, TimeSpan.Zero);
        var aggregates = new SlowWatermarkSink(clock, TimeSpan.Zero);
        var quarantine = new SlowQuarantineSink(clock, TimeSpan.Zero);
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, options with { TimeProvider = clock });
        await DrainAsync(processor, clock, records, TimeSpan.FromSeconds(30));

        AssertDrainedExactlyOnce(records, aggregates, quarantine, alone.Contains);
    }

    /// <summary>
    /// In a tumbling-window invocation, which is never split, the same holds: whatever the cap and the neighbours, a
    /// record is quarantined exactly when it is poison first in a plain batch of its own, and every other record's
    /// samples are aggregated, past the cap too. (Review: a record alone past the cap was quarantined first in a window
    /// batch and aggregated after any other record.)
    /// </summary>
    [Property(MaxTest = 60)]
    public async Task Process_AnyCapInATumblingWindowInvocation_VerdictsDependOnTheRecordAlone(int seed)
    {
        var random = new Random(seed);
        int maxPairs = 1 + random.Next(12);
        var options = ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { MaxPairs = maxPairs } };
        Generated[] records = Generate(random, random.Next(1, 120), seriesPerMetric: 1 + random.Next(8));

        HashSet<Generated> alone = await PoisonAloneAsync(records, options);

        var aggregates = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, options);
        var response = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.BuildWindow(records.Select(r => r.Record).ToArray(), "{}", final: true), DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30), response);

        Assert.Empty(Failures(response));
        Assert.Equal(BatchStopReason.None, summary.StopReason);
        string[] wantQ = [.. records.Where(alone.Contains).Select(r => r.Record.SequenceNumber).Order()];
        string[] gotQ = [.. quarantine.Records.Select(q => q.SequenceNumber).Order()];
        Assert.True(wantQ.SequenceEqual(gotQ), $"cap {maxPairs}; only expected: {string.Join(",", wantQ.Except(gotQ).Select(x => x[^4..]))}; only got: {string.Join(",", gotQ.Except(wantQ).Select(x => x[^4..]))}; got {string.Join(",", quarantine.Records.Select(q => q.SequenceNumber[^4..] + ":" + q.Reason))}");
        Dictionary<string, (long Count, double Sum)> expected = Truth(records, alone.Contains);
        var actual = aggregates.Seen.GroupBy(a => $"{a.Metric}|{a.Dimensions}").ToDictionary(g => g.Key, g => (g.Sum(a => a.Count), g.Sum(a => a.Sum)));
        Assert.Equal(expected.OrderBy(kv => kv.Key), actual.OrderBy(kv => kv.Key));
    }

    [Fact]
    public async Task Process_CapInATumblingWindowInvocation_KeepsTheWholeBatch()
    {
        var aggregates = new RecordingAggregateSink();
        var options = ProcessorOptions.Default with { Aggregator = AggregatorOptions.Default with { MaxPairs = 1 } };
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), options);
        Generated[] records = [Valid(1, ("a", "x", 1)), Valid(2, ("b", "x", 2)), Valid(3, ("c", "x", 3))];
        byte[] evt = TestEvents.Build(records.Select(r => r.Record), w =>
        {
            w.WriteStartObject("window");
            w.WriteString("start", "2025-01-20T10:00:00Z");
            w.WriteString("end", "2025-01-20T10:05:00Z");
            w.WriteEndObject();
            w.WriteStartObject("state");
            w.WriteEndObject();
            w.WriteString("shardId", TestEvents.ShardId);
            w.WriteBoolean("isFinalInvokeForWindow", true);
            w.WriteBoolean("isWindowTerminatedEarly", false);
        });

        var response = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(evt, DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30), response);

        Assert.Empty(Failures(response));
        Assert.Equal(BatchStopReason.None, summary.StopReason);
        Assert.Equal(["a", "b", "c"], aggregates.Seen.Select(s => s.Metric).Order());
    }

    [Fact]
    public async Task Process_SampleWhoseWindowWouldEndInYear10000_IsPoisonNotASinkFailure()
    {
        // 9999-12-31T23:59:30Z: its 60 s window would end at 10000-01-01T00:00:00Z, which no date type holds. (Valid
        // only with a future skew of millennia: an arrival time past 6969 cannot be written in the event's seconds.)
        long late = DateTimeOffset.Parse("9999-12-31T23:59:30Z", CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
        long fits = DateTimeOffset.Parse("9999-12-31T23:58:30Z", CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
        var aggregates = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        var options = ProcessorOptions.Default with { Parser = MetricParserOptions.Default with { MaxFutureSkew = TimeSpan.FromDays(3_000_000) } };
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, options);
        byte[] evt = TestEvents.Build(
        [
            new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("m", 1, late)), TestEvents.Arrival),
            new TestRecord(TestEvents.Seq(2), TestEvents.Utf8(TestEvents.Sample("m", 1, fits)), TestEvents.Arrival),
        ]);

        var response = new ArrayBufferWriter<byte>();
        await processor.ProcessAsync(evt, DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30), response);

        Assert.Empty(Failures(response));
        QuarantinedRecord q = Assert.Single(quarantine.Records);
        Assert.Equal((TestEvents.Seq(1), PoisonReason.InvalidTimestamp), (q.SequenceNumber, q.Reason));
        SeenAggregate a = Assert.Single(aggregates.Seen);
        Assert.Equal(fits / 60_000 * 60_000, a.WindowStartMs);
    }

    [Fact]
    public async Task Process_SumOverflowingToInfinity_DoesNotFailTheJsonLinesSinkNorOtherSeries()
    {
        string directory = Path.Combine(Path.GetTempPath(), "analytics-overflow-" + Guid.NewGuid().ToString("N"));
        try
        {
            string path = Path.Combine(directory, "aggregates.jsonl");
            using var processor = new KinesisBatchProcessor(new JsonLinesAggregateSink(path), new RecordingQuarantineSink(), ProcessorOptions.Default);
            Generated[] records = [Valid(1, ("big", "x", 1.7e308), ("big", "x", 1.7e308)), Valid(2, ("other", "x", 2))];

            var response = new ArrayBufferWriter<byte>();
            BatchSummary summary = await processor.ProcessAsync(TestEvents.Build(records.Select(r => r.Record)), DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30), response);

            Assert.Empty(Failures(response));
            Assert.Equal(SinkOutcome.Completed, summary.AggregateSinkOutcome);
            Assert.Equal(2, summary.AggregatesWritten);
            JsonElement[] lines = [.. File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement)];
            JsonElement big = lines.Single(l => l.GetProperty("metric").GetString() == "big");
            Assert.Equal(double.MaxValue, big.GetProperty("sum").GetDouble());
            Assert.True(big.GetProperty("sumOverflowed").GetBoolean());
            Assert.Equal(2, lines.Single(l => l.GetProperty("metric").GetString() == "other").GetProperty("sum").GetDouble());
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }
}
