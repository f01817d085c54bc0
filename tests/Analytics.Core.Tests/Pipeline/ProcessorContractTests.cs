using System.Buffers;
using System.Text;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Analytics.Core.Tests.Pipeline;

/// <summary>
/// What a processor promises at its edges: which options it refuses, when it stops its sinks, what a clean batch
/// answers, and that a sink is only called with something to write.
/// </summary>
public class ProcessorContractTests
{
    private static TestRecord Good(int n, string metric, double value) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample(metric, value, TestEvents.Arrival - 1000)), TestEvents.Arrival);

    private static TestRecord Poison(int n) => new(TestEvents.Seq(n), TestEvents.Utf8("{not json " + n), TestEvents.Arrival);

    private static string[] Failures(ReadOnlySpan<byte> response)
    {
        using JsonDocument doc = JsonDocument.Parse(response.ToArray());
        return [.. doc.RootElement.GetProperty("batchItemFailures").EnumerateArray().Select(f => f.GetProperty("itemIdentifier").GetString()!)];
    }

    public static TheoryData<string, ProcessorOptions, string> InvalidOptions => new()
    {
        { "negative fraction", ProcessorOptions.Default with { SafetyMarginFraction = -0.01 }, "SafetyMarginFraction" },
        { "fraction of one", ProcessorOptions.Default with { SafetyMarginFraction = 1.0 }, "SafetyMarginFraction" },
        { "fraction above one", ProcessorOptions.Default with { SafetyMarginFraction = 1.5 }, "SafetyMarginFraction" },
        { "fraction not a number", ProcessorOptions.Default with { SafetyMarginFraction = double.NaN }, "SafetyMarginFraction" },
        { "negative minimum margin", ProcessorOptions.Default with { MinSafetyMargin = TimeSpan.FromTicks(-1) }, "MinSafetyMargin" },
        { "zero sink fraction", ProcessorOptions.Default with { SinkTimeFraction = 0 }, "SinkTimeFraction" },
        { "sink fraction of one", ProcessorOptions.Default with { SinkTimeFraction = 1 }, "SinkTimeFraction" },
        { "zero state bytes", ProcessorOptions.Default with { MaxStateBytes = 0 }, "MaxStateBytes" },
        { "negative state bytes", ProcessorOptions.Default with { MaxStateBytes = -1 }, "MaxStateBytes" },
        { "state bytes over Lambda's 1 MB cap", ProcessorOptions.Default with { MaxStateBytes = 1_000_001 }, "MaxStateBytes" },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Constructor_InvalidOptions_Throws(string because, ProcessorOptions options, string option)
    {
        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(
            () => new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), options));
        Assert.Equal("options", e.ParamName);
        Assert.False(string.IsNullOrEmpty(because));
        // The message begins with the option that is wrong.
        Assert.StartsWith("ProcessorOptions." + option + " must ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_AnOptionOutOfRange_IsNamedWithItsRangeAndValue()
    {
        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(
            () => new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { SinkTimeFraction = 1.5 }));
        Assert.StartsWith("ProcessorOptions.SinkTimeFraction must be in (0, 1); it is 1.5.", e.Message, StringComparison.Ordinal);

        ArgumentException nullKey = Assert.Throws<ArgumentException>(
            () => new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { StateKey = null! }));
        Assert.StartsWith("ProcessorOptions.StateKey is null", nullKey.Message, StringComparison.Ordinal);

        ArgumentException depth = Assert.Throws<ArgumentOutOfRangeException>(
            () => new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { Parser = MetricParserOptions.Default with { MaxDepth = 1 } }));
        Assert.StartsWith("MetricParserOptions.MaxDepth must be at least 2", depth.Message, StringComparison.Ordinal);

        ArgumentException same = Assert.Throws<ArgumentException>(
            () => new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { Parser = MetricParserOptions.Default with { ValueField = "metric" } }));
        Assert.StartsWith("MetricParserOptions.ValueField is \"metric\", as MetricField is", same.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Options that are the struct's <c>default</c> (every field zero: an options field never set, a <c>default</c>
    /// argument) are refused with the way out, not only the ranges: the consumer learns of
    /// <see cref="ProcessorOptions.Default"/> from the error.
    /// </summary>
    [Fact]
    public void Constructor_OptionsNotStartedFromTheDefault_TheErrorSaysWhereToStart()
    {
        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(
            () => new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), default(ProcessorOptions)));
        Assert.StartsWith("ProcessorOptions.SinkTimeFraction must be in (0, 1); it is 0.", e.Message, StringComparison.Ordinal);
        Assert.Contains("Start from ProcessorOptions.Default", e.Message, StringComparison.Ordinal);

        // Options that did start from Default get the range and the value only: the hint sent such a caller looking for a
        // default(...) they never wrote (found by a consumer's review).
        ArgumentOutOfRangeException started = Assert.Throws<ArgumentOutOfRangeException>(
            () => new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { SafetyMarginFraction = 1 }));
        Assert.StartsWith("ProcessorOptions.SafetyMarginFraction must be in [0, 1); it is 1.", started.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("default(ProcessorOptions)", started.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, ProcessorOptions> EdgeOptions => new()
    {
        { "no fractional margin", ProcessorOptions.Default with { SafetyMarginFraction = 0 } },
        { "fraction just below one", ProcessorOptions.Default with { SafetyMarginFraction = 0.999 } },
        { "no minimum margin", ProcessorOptions.Default with { MinSafetyMargin = TimeSpan.Zero } },
        { "one state byte", ProcessorOptions.Default with { MaxStateBytes = 1 } },
        { "state bytes at Lambda's 1 MB cap", ProcessorOptions.Default with { MaxStateBytes = 1_000_000 } },
    };

    [Theory]
    [MemberData(nameof(EdgeOptions))]
    public async Task Constructor_EdgeOfTheRanges_IsAcceptedAndWorks(string because, ProcessorOptions options)
    {
        var aggregates = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), options);
        var output = new ArrayBufferWriter<byte>();
        // An hour's budget: even a margin of 99.9 % leaves the sinks 3.6 s, plenty on a busy machine.
        await processor.ProcessAsync(TestEvents.Build([Good(1, "a", 2)]), DateTimeOffset.UtcNow.AddHours(1), output);
        Assert.True(Failures(output.WrittenSpan).Length == 0, because);
        Assert.Equal(1, Assert.Single(aggregates.Seen).Count);
    }

    [Fact]
    public void Constructor_NullSinks_Throw()
    {
        Assert.Equal("aggregateSink", Assert.Throws<ArgumentNullException>(() => new KinesisBatchProcessor(null!, new RecordingQuarantineSink(), ProcessorOptions.Default)).ParamName);
        Assert.Equal("quarantineSink", Assert.Throws<ArgumentNullException>(() => new KinesisBatchProcessor(new RecordingAggregateSink(), null!, ProcessorOptions.Default)).ParamName);
    }

    /// <summary>No response writer: an argument error naming it, before the event is read or a sink called.</summary>
    [Fact]
    public async Task ProcessAsync_NullResponse_ThrowsNamingIt_AndCallsNoSink()
    {
        var aggregates = new RecordingAggregateSink();
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default);

        ArgumentNullException e = await Assert.ThrowsAsync<ArgumentNullException>(
            () => processor.ProcessAsync(TestEvents.Build([Good(1, "a", 2)]), DateTimeOffset.UtcNow.AddHours(1), null!));

        Assert.Equal("response", e.ParamName);
        Assert.Empty(aggregates.Seen);

        // The same for the overload that reads the event from a stream, and for a missing stream.
        e = await Assert.ThrowsAsync<ArgumentNullException>(
            () => processor.ProcessAsync(new MemoryStream(TestEvents.Build([Good(1, "a", 2)])), DateTimeOffset.UtcNow.AddHours(1), null!));
        Assert.Equal("response", e.ParamName);
        e = await Assert.ThrowsAsync<ArgumentNullException>(
            () => processor.ProcessAsync((Stream)null!, DateTimeOffset.UtcNow.AddHours(1), new ArrayBufferWriter<byte>()));
        Assert.Equal("utf8Event", e.ParamName);
        Assert.Empty(aggregates.Seen);
    }

    /// <summary>Waits for cancellation inside the sink call and remembers the token it got.</summary>
    private sealed class WaitingAggregateSink : IAggregateSink
    {
        private readonly TaskCompletionSource _called = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationToken Token { get; private set; }

        public Task Called => _called.Task;

        public async Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            Token = cancellationToken;
            _called.SetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
        }
    }

    [Theory]
    [InlineData(0.10, 1, 90)]   // 10 % of 100 s is more than the 1 s minimum: the margin is 10 s
    [InlineData(0.10, 30, 70)]  // the 30 s minimum is more than 10 %: the margin is 30 s
    [InlineData(0.0, 5, 95)]    // no fraction: the minimum alone
    [InlineData(0.25, 0, 75)]   // no minimum: the fraction alone
    public async Task Sinks_AreCancelledAtTheBudgetLessTheLargerMargin(double fraction, int minMarginSeconds, int cancelAtSeconds)
    {
        var clock = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        var sink = new WaitingAggregateSink();
        var options = ProcessorOptions.Default with
        {
            TimeProvider = clock,
            SafetyMarginFraction = fraction,
            MinSafetyMargin = TimeSpan.FromSeconds(minMarginSeconds),
        };
        using var processor = new KinesisBatchProcessor(sink, new RecordingQuarantineSink(), options);
        var output = new ArrayBufferWriter<byte>();

        Task<BatchSummary> run = processor.ProcessAsync(TestEvents.Build([Good(1, "a", 1)]), clock.GetUtcNow() + TimeSpan.FromSeconds(100), output);
        await sink.Called.WaitAsync(TimeSpan.FromSeconds(10));

        clock.Advance(TimeSpan.FromSeconds(cancelAtSeconds) - TimeSpan.FromTicks(1));
        Assert.False(sink.Token.IsCancellationRequested, $"cancelled before {cancelAtSeconds} s");
        clock.Advance(TimeSpan.FromTicks(1));
        Assert.True(sink.Token.IsCancellationRequested, $"not cancelled at {cancelAtSeconds} s");

        BatchSummary summary = await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal([TestEvents.Seq(1)], Failures(output.WrittenSpan));
        Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
    }

    [Fact]
    public async Task DeadlineAlreadyPassed_ProcessesOnlyTheFirstRecord_AndReportsTheNext()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(TestEvents.Arrival));
        var aggregates = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default with { TimeProvider = clock });
        var output = new ArrayBufferWriter<byte>();

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Good(3, "a", 1), Poison(4), Good(5, "b", 1)]), clock.GetUtcNow(), output);

        // The first record is always read (so a batch makes progress when its sinks are fast), nothing after it: this
        // sink finishes at once, so the checkpoint is the first record not read.
        Assert.True(summary.DeadlineReached);
        Assert.Equal(1, summary.RecordsProcessed);
        Assert.Equal(3, summary.Records);
        Assert.Equal([TestEvents.Seq(4)], Failures(output.WrittenSpan));
        Assert.Empty(quarantine.Records);
    }

    /// <summary>Counts calls and what each carried.</summary>
    private sealed class CountingQuarantineSink : IQuarantineSink
    {
        public List<string[]> Calls { get; } = [];

        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
        {
            Calls.Add([.. records.Select(r => r.SequenceNumber)]);
            return Task.FromResult(records.Count);
        }
    }

    [Fact]
    public async Task CleanBatch_ReportsNoFailureAtAll_AndCallsNoQuarantineSink()
    {
        var aggregates = new RecordingAggregateSink();
        var quarantine = new CountingQuarantineSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default);
        var output = new ArrayBufferWriter<byte>();

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Good(1, "a", 1), Good(2, "a", 2)]), DateTimeOffset.UtcNow.AddSeconds(30), output);

        Assert.Null(summary.ReportedFailure);
        Assert.Equal("""{"batchItemFailures":[]}""", Encoding.UTF8.GetString(output.WrittenSpan));
        Assert.Empty(quarantine.Calls);
        Assert.Equal(1, aggregates.Calls);
        Assert.True(summary.Flushed);
        Assert.Equal(1, summary.AggregatesWritten);
    }

    [Fact]
    public async Task OnlyPoison_CallsNoAggregateSink()
    {
        var aggregates = new RecordingAggregateSink();
        var quarantine = new CountingQuarantineSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default);
        var output = new ArrayBufferWriter<byte>();

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Poison(1), Poison(2)]), DateTimeOffset.UtcNow.AddSeconds(30), output);

        Assert.Equal(0, aggregates.Calls);
        Assert.False(summary.Flushed);
        Assert.Equal(0, summary.AggregatesWritten);
        Assert.Equal([[TestEvents.Seq(1), TestEvents.Seq(2)]], quarantine.Calls);
        Assert.Equal(2, summary.Quarantined);
        Assert.Null(summary.ReportedFailure);
        Assert.Empty(Failures(output.WrittenSpan));
    }

    [Fact]
    public async Task EmptyEvent_CallsNoSink()
    {
        var aggregates = new RecordingAggregateSink();
        var quarantine = new CountingQuarantineSink();
        using var processor = new KinesisBatchProcessor(aggregates, quarantine, ProcessorOptions.Default);
        var output = new ArrayBufferWriter<byte>();

        BatchSummary summary = await processor.ProcessAsync(TestEvents.Utf8("""{"Records":[]}"""), DateTimeOffset.UtcNow.AddSeconds(30), output);

        Assert.Equal(0, aggregates.Calls);
        Assert.Empty(quarantine.Calls);
        Assert.Null(summary.ReportedFailure);
        Assert.Equal(0, summary.Records);
        Assert.Equal("""{"batchItemFailures":[]}""", Encoding.UTF8.GetString(output.WrittenSpan));
    }

    /// <summary>
    /// Under any clock the processor is given (before 1970 too: a <see cref="TimeProvider"/> is the caller's), an event of
    /// zero to three records with any arrival the reader takes as seconds (0 to the year 6968; a larger number is read as
    /// milliseconds) is processed, and the summary's ages
    /// are the clock less the oldest and the newest arrival, never negative, and zero with no record (an empty event has
    /// no arrival to read: read anyway, the newest of none overflowed an age and the invocation threw).
    /// </summary>
    [Property(MaxTest = 200)]
    public Property RecordAges_UnderAnyClock_AreTheClockLessTheArrivals_AndZeroWithoutARecord()
    {
        const long MaxArrivalMs = 157_753_180_799_999; // the largest arrival the reader takes as seconds
        long minClockMs = DateTimeOffset.MinValue.ToUnixTimeMilliseconds(), maxClockMs = DateTimeOffset.MaxValue.ToUnixTimeMilliseconds() - 86_400_000;
        Gen<long> instants = Gen.OneOf(
            Gen.Choose(-100_000, 100_000).Select(s => s * 1_000L),
            Gen.Elements(minClockMs, maxClockMs, 0L, TestEvents.Arrival),
            Gen.Choose(0, int.MaxValue).Select(n => minClockMs + (long)(n / (double)int.MaxValue * (maxClockMs - minClockMs))));
        Gen<long> arrivals = Gen.OneOf(Gen.Elements(0L, MaxArrivalMs, TestEvents.Arrival), Gen.Choose(0, int.MaxValue).Select(n => (long)(n / (double)int.MaxValue * MaxArrivalMs)));
        return Prop.ForAll(
            instants.ToArbitrary(),
            arrivals.ArrayOf().Select(a => a.Take(3).ToArray()).ToArbitrary(),
            (nowMs, arrived) =>
            {
                DateTimeOffset now = DateTimeOffset.FromUnixTimeMilliseconds(nowMs);
                using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default with { TimeProvider = new FrozenClock(now) });
                byte[] evt = TestEvents.Build(arrived.Select((a, i) => Good(i + 1, "m", 1) with { ArrivalMs = a }));

                BatchSummary summary = processor.ProcessAsync(evt, now.AddSeconds(30), new ArrayBufferWriter<byte>()).GetAwaiter().GetResult();

                static TimeSpan Age(long nowMs, long arrivalMs) => TimeSpan.FromMilliseconds(Math.Max(0, nowMs - arrivalMs));
                Assert.Equal(arrived.Length, summary.Records);
                Assert.Equal(arrived.Length == 0 ? TimeSpan.Zero : Age(nowMs, arrived.Min()), summary.OldestRecordAge);
                Assert.Equal(arrived.Length == 0 ? TimeSpan.Zero : Age(nowMs, arrived.Max()), summary.NewestRecordAge);
            });
    }

    [Fact]
    public async Task Reuse_PreviousPoisonIsNeverQuarantinedAgain()
    {
        var quarantine = new CountingQuarantineSink();
        var poisonSeen = new List<string>();
        var options = ProcessorOptions.Default with { OnPoison = r => poisonSeen.Add(r.SequenceNumber) };
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), quarantine, options);

        await processor.ProcessAsync(TestEvents.Build([Good(1, "a", 1), Poison(2)]), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        BatchSummary second = await processor.ProcessAsync(TestEvents.Build([Poison(5), Good(6, "a", 1)]), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());
        BatchSummary third = await processor.ProcessAsync(TestEvents.Build([Good(7, "a", 1)]), DateTimeOffset.UtcNow.AddSeconds(30), new ArrayBufferWriter<byte>());

        Assert.Equal([[TestEvents.Seq(2)], [TestEvents.Seq(5)]], quarantine.Calls);
        Assert.Equal([TestEvents.Seq(2), TestEvents.Seq(5)], poisonSeen);
        Assert.Equal((1, 1), (second.PoisonRecords, second.Quarantined));
        Assert.Equal((0, 0), (third.PoisonRecords, third.Quarantined));
    }

    [Fact]
    public async Task Reuse_PreviousFailureIsNotReportedAgain()
    {
        var aggregates = new RecordingAggregateSink { Durable = _ => false };
        using var processor = new KinesisBatchProcessor(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default);
        var first = new ArrayBufferWriter<byte>();
        await processor.ProcessAsync(TestEvents.Build([Good(1, "a", 1)]), DateTimeOffset.UtcNow.AddSeconds(30), first);
        Assert.Equal([TestEvents.Seq(1)], Failures(first.WrittenSpan));

        aggregates.Durable = null;
        var second = new ArrayBufferWriter<byte>();
        BatchSummary summary = await processor.ProcessAsync(TestEvents.Build([Good(2, "a", 1)]), DateTimeOffset.UtcNow.AddSeconds(30), second);
        Assert.Empty(Failures(second.WrittenSpan));
        Assert.Null(summary.ReportedFailure);
    }
}
