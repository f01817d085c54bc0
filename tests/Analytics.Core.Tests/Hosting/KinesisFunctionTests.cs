using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests.Hosting;

/// <summary>The managed-runtime path: a <c>(Stream, ILambdaContext)</c> handler over <see cref="KinesisFunction"/>.</summary>
public class KinesisFunctionTests
{
    private const string Secret = "SECRET-PAYLOAD-7f3a";

    /// <summary>A function class as a consumer writes it for the managed runtime.</summary>
    private sealed class Function(KinesisFunction function)
    {
        public Task<Stream> Handler(Stream input, ILambdaContext context) => function.HandleAsync(input, context.RemainingTime);
    }

    private static byte[] MixedEvent() => TestEvents.Build(
    [
        new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("latency", 12, TestEvents.Arrival - 1000)), TestEvents.Arrival),
        new TestRecord(TestEvents.Seq(2), TestEvents.Utf8("{\"metric\":\"" + Secret), TestEvents.Arrival),
        new TestRecord(TestEvents.Seq(3), TestEvents.Utf8(TestEvents.Sample("latency", 30, TestEvents.Arrival - 900)), TestEvents.Arrival),
    ]);

    private static List<JsonElement> Lines(MemoryStream output) =>
        [.. Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone())];

    [Fact]
    public async Task Handler_ReturnsTheResponse_AndWritesLogAndMetricLinesWithoutPayload()
    {
        var output = new MemoryStream();
        var aggregates = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        using var kinesis = new KinesisFunction(aggregates, quarantine, KinesisFunctionOptions.Default with { Output = output });
        var function = new Function(kinesis);

        Stream response = await function.Handler(new MemoryStream(MixedEvent()), new StandInContext(TimeSpan.FromSeconds(30)));

        Assert.Equal(0, response.Position);
        Assert.Equal("{\"batchItemFailures\":[]}", new StreamReader(response).ReadToEnd());
        Assert.Single(quarantine.Records);
        string text = Encoding.UTF8.GetString(output.ToArray());
        Assert.DoesNotContain(Secret, text, StringComparison.Ordinal);
        List<JsonElement> lines = Lines(output);
        // Poison line first (found while reading), then the invocation line and four stage lines, then EMF.
        Assert.Equal(["poison", "invocation", "stage", "stage", "stage", "stage"], lines.Take(6).Select(l => l.GetProperty("message").GetString()));
        Assert.Equal(TestEvents.Seq(2), lines[0].GetProperty("sequenceNumber").GetString());
        Assert.Equal(3, lines[1].GetProperty("recordsIn").GetInt32());
        Assert.True(lines[6].TryGetProperty("_aws", out _));
        Assert.Equal(7, lines.Count);
        Assert.Equal(1, kinesis.LastSummary!.PoisonRecords);
    }

    /// <summary>
    /// A deadline further out than .NET's longest timer (about 49.7 days), or none at all (<see cref="TimeSpan.MaxValue"/>):
    /// found by review, the Runtime API's header allows epoch milliseconds up to year 9999, and such a deadline failed
    /// the invocation with ArgumentOutOfRangeException ('delay'); TimeSpan.MaxValue overflowed the deadline's date.
    /// The batch is processed as with any deadline.
    /// </summary>
    [Theory]
    [InlineData(60.0)]
    [InlineData(3_000_000.0)]
    [InlineData(double.PositiveInfinity)]
    public async Task Handler_ADeadlineFurtherThanAnyTimer_ProcessesTheBatch(double days)
    {
        var aggregates = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        using var kinesis = new KinesisFunction(aggregates, quarantine, KinesisFunctionOptions.Default with { Output = new MemoryStream() });

        Stream response = await kinesis.HandleAsync(new MemoryStream(MixedEvent()), double.IsInfinity(days) ? TimeSpan.MaxValue : TimeSpan.FromDays(days));

        Assert.Equal("{\"batchItemFailures\":[]}", new StreamReader(response).ReadToEnd());
        Assert.Single(quarantine.Records);
        Assert.Equal(2, kinesis.LastSummary!.ValidRecords);
    }

    /// <summary>
    /// The bound itself: a remaining time of exactly 15 minutes below zero is not "further below zero than Lambda's
    /// longest timeout", which is all HandleAsync refuses, so it is taken (no time left: the batch is answered at once).
    /// On a clock that moves between HandleAsync's reading and the processor's, the processor's own check refused it,
    /// naming a deadline and the Runtime API's header, as HandleAsync's check was made to stop.
    /// </summary>
    [Fact]
    public async Task Handler_ARemainingTimeOfExactlyTheLongestTimeoutBelowZero_IsTaken_OnAClockThatMoves()
    {
        var clock = new SteppingClock(TimeSpan.FromMilliseconds(1));
        var aggregates = new RecordingAggregateSink();
        using var kinesis = new KinesisFunction(aggregates, new RecordingQuarantineSink(), KinesisFunctionOptions.Default with
        {
            Output = new MemoryStream(),
            Processor = KinesisFunctionOptions.Default.Processor with { TimeProvider = clock },
        });

        Stream response = await kinesis.HandleAsync(new MemoryStream(MixedEvent()), TimeSpan.FromMinutes(-15));

        Assert.StartsWith("{\"batchItemFailures\":[", new StreamReader(response).ReadToEnd(), StringComparison.Ordinal);
    }

    /// <summary>A clock that moves on by a step at every reading, as a real one moves between two readings.</summary>
    private sealed class SteppingClock(TimeSpan step) : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now += step;
    }

    /// <summary>
    /// The other end of the calendar: a remaining time so negative that the clock plus it is before the first date
    /// (<see cref="TimeSpan.MinValue"/>), or more than Lambda's longest timeout below zero, is refused in the caller's
    /// terms (the remaining time named, the stream not read; it named a deadline and the Runtime API's header, which
    /// this caller never saw), not an overflow of the date's arithmetic; and the function is free for the next
    /// invocation.
    /// </summary>
    [Theory]
    [InlineData(long.MinValue)]
    [InlineData(-15 * TimeSpan.TicksPerMinute - 1)]
    public async Task Handler_ARemainingTimeLongPast_IsRefusedNamingIt_AndTheFunctionGoesOn(long ticks)
    {
        var aggregates = new RecordingAggregateSink();
        using var kinesis = new KinesisFunction(aggregates, new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = new MemoryStream() });
        using var input = new MemoryStream(MixedEvent());

        ArgumentOutOfRangeException e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => kinesis.HandleAsync(input, TimeSpan.FromTicks(ticks)));

        Assert.Equal("remainingTime", e.ParamName);
        Assert.Contains("The remaining time " + TimeSpan.FromTicks(ticks).ToString(null, CultureInfo.InvariantCulture) + " is further below zero", e.Message, StringComparison.Ordinal);
        Assert.Contains("ILambdaContext.RemainingTime", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Lambda-Runtime-Deadline-Ms", e.Message, StringComparison.Ordinal);
        Assert.Equal((0, 0), (input.Position, aggregates.Calls));
        Stream response = await kinesis.HandleAsync(new MemoryStream(MixedEvent()), TimeSpan.FromSeconds(30));
        Assert.Equal("{\"batchItemFailures\":[]}", new StreamReader(response).ReadToEnd());
    }

    [Fact]
    public async Task Handler_AfterDispose_ThrowsObjectDisposed_BeforeAnySinkIsCalled()
    {
        // A disposed function used to process the batch, write its aggregates, and only then fail on its closed
        // output: Lambda's retry would write them twice.
        var aggregates = new RecordingAggregateSink();
        var quarantine = new RecordingQuarantineSink();
        var kinesis = new KinesisFunction(aggregates, quarantine, KinesisFunctionOptions.Default with { Output = new MemoryStream() });
        kinesis.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => kinesis.HandleAsync(new MemoryStream(MixedEvent()), TimeSpan.FromSeconds(30)));

        Assert.Equal(0, aggregates.Calls);
        Assert.Empty(quarantine.Records);
    }

    [Fact]
    public async Task Handler_TakesTheDeadlineFromTheRemainingTime()
    {
        // 8 s left: the safety margin (4 s here, not the default's 1 s: on the real clock, on 2 cores shared with the other
        // test assembly, CI once answered 1.8 s past the give-up time) leaves about 4 s, so a sink that would take a minute
        // is cancelled and the first record of its pair is reported, well before the minute.
        var aggregates = new RecordingAggregateSink { DelayHonouringToken = TimeSpan.FromMinutes(1), Durable = _ => false };
        using var kinesis = new KinesisFunction(
            aggregates,
            new RecordingQuarantineSink(),
            KinesisFunctionOptions.Default with { Output = new MemoryStream(), Processor = ProcessorOptions.Default with { MinSafetyMargin = TimeSpan.FromSeconds(4) } });
        var function = new Function(kinesis);
        var watch = Stopwatch.StartNew();

        Stream response = await function.Handler(new MemoryStream(MixedEvent()), new StandInContext(TimeSpan.FromSeconds(8)));

        Assert.InRange(watch.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(20));
        Assert.Equal("{\"batchItemFailures\":[{\"itemIdentifier\":\"" + TestEvents.Seq(1) + "\"}]}", new StreamReader(response).ReadToEnd());
        // Answered before the deadline, from the 8 s the context gave (about 4 s are left on an idle machine; this runs
        // on the real clock, so a loaded machine may eat into that margin, not past the deadline).
        Assert.InRange(kinesis.LastSummary!.RemainingTime, TimeSpan.FromTicks(1), TimeSpan.FromSeconds(8));
        Assert.NotNull(kinesis.LastSummary.AggregateSinkIssue);
    }

    [Fact]
    public async Task LogWriter_GetsEachLogLineWithItsLevel_MetricsStayOnTheOutput()
    {
        var output = new MemoryStream();
        var context = new StandInContext(TimeSpan.FromSeconds(30));
        var writer = new LambdaLoggerJsonLogWriter(context.Logger);
        using var kinesis = new KinesisFunction(
            new RecordingAggregateSink { Durable = p => false },
            new RecordingQuarantineSink(),
            KinesisFunctionOptions.Default with { Output = output, LogWriter = writer });

        await new Function(kinesis).Handler(new MemoryStream(MixedEvent()), context);

        // poison: Warn; invocation: Warn (a failure was reported); stages: Info.
        Assert.Equal([JsonLogLevel.Warn, JsonLogLevel.Warn, JsonLogLevel.Info, JsonLogLevel.Info, JsonLogLevel.Info, JsonLogLevel.Info], writer.Levels);
        Assert.Equal(writer.Levels.Select(l => l.ToString()), context.Log.Lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("level").GetString()));
        JsonElement metrics = Assert.Single(Lines(output));
        Assert.True(metrics.TryGetProperty("_aws", out _));
    }

    /// <summary>
    /// A log writer that throws (a logging provider's file on a full disk) failed the invocation whose records were done
    /// (found by review): Lambda retried the batch, and a writer that always throws blocked the shard. Now the invocation
    /// answers as it would with a working writer, and the lines the writer threw on reach the output after one line
    /// naming the failure, none lost, none twice.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task ALogWriterThatThrows_DoesNotFailTheInvocation_ItsLinesGoToTheOutput(int failFromLine)
    {
        var working = new LinesWriter(int.MaxValue);
        var workingOutput = new MemoryStream();
        using (var kinesis = new KinesisFunction(new RecordingAggregateSink(), new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = workingOutput, LogWriter = working }))
        {
            await kinesis.HandleAsync(new MemoryStream(MixedEvent()), TimeSpan.FromSeconds(30));
        }

        var throwing = new LinesWriter(failFromLine);
        var output = new MemoryStream();
        using var function = new KinesisFunction(new RecordingAggregateSink(), new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = output, LogWriter = throwing });

        Stream response = await function.HandleAsync(new MemoryStream(MixedEvent()), TimeSpan.FromSeconds(30));

        Assert.Equal("{\"batchItemFailures\":[]}", new StreamReader(response).ReadToEnd());
        List<JsonElement> written = Lines(output);
        // One notice per write that failed: the poison lines are written before the invocation's.
        List<JsonElement> notices = [.. written.Where(l => l.TryGetProperty("message", out JsonElement m) && m.GetString() == "logWriterFailed")];
        Assert.Equal(failFromLine == 1 ? 2 : 1, notices.Count);
        Assert.All(notices, n => Assert.Equal(("Error", nameof(IOException), nameof(LinesWriter)), (n.GetProperty("level").GetString(), n.GetProperty("error").GetString(), n.GetProperty("logWriter").GetString())));
        Assert.Equal(failFromLine - 1, throwing.Count);
        // Every line once, in its order, through the writer or on the output: the working writer's lines, timings aside.
        IEnumerable<string> Messages(IEnumerable<JsonElement> lines) => lines.Select(l => l.GetProperty("message").GetString() + (l.TryGetProperty("stage", out JsonElement st) ? "/" + st.GetString() : string.Empty));
        List<JsonElement> onOutput = [.. written.Where(l => !l.TryGetProperty("_aws", out _) && l.GetProperty("message").GetString() != "logWriterFailed")];
        Assert.Equal(Messages(working.Lines), Messages([.. throwing.Lines, .. onOutput]));
        Assert.Single(written, l => l.TryGetProperty("_aws", out _));
    }

    /// <summary>A log writer keeping the lines it takes, throwing as a full disk does from its <c>failFromLine</c>th call.</summary>
    private sealed class LinesWriter(int failFromLine) : IJsonLogWriter
    {
        private int _calls;

        public List<JsonElement> Lines { get; } = [];

        public int Count => Lines.Count;
        public void WriteLine(JsonLogLevel level, ReadOnlySpan<byte> utf8Json)
        {
            if (++_calls >= failFromLine)
            {
                throw new IOException("No space left on device");
            }

            Lines.Add(JsonDocument.Parse(utf8Json.ToArray()).RootElement.Clone());
        }
    }

    [Fact]
    public async Task MinimumLevelWarn_AndNoMetrics_WritesOnlyWarnings()
    {
        var output = new MemoryStream();
        using var kinesis = new KinesisFunction(new RecordingAggregateSink(), new RecordingQuarantineSink(), KinesisFunctionOptions.Default with
        {
            Output = output,
            WriteMetrics = false,
            Log = JsonLogOptions.Default with { MinimumLevel = JsonLogLevel.Warn },
        });

        await kinesis.HandleAsync(new MemoryStream(MixedEvent()), TimeSpan.FromSeconds(30));

        Assert.Equal(["poison"], Lines(output).Select(l => l.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task NotAKinesisEvent_Throws_SoLambdaRetriesAndBisects()
    {
        using var kinesis = new KinesisFunction(new RecordingAggregateSink(), new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = new MemoryStream() });
        await Assert.ThrowsAsync<KinesisEventFormatException>(() => kinesis.HandleAsync(new MemoryStream("{\"Records\":5}"u8.ToArray()), TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task ProcessAsync_AppendsToTheWriter_AsDocumented()
    {
        using var processor = new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        var response = new System.Buffers.ArrayBufferWriter<byte>();
        await processor.ProcessAsync(MixedEvent(), DateTimeOffset.UtcNow.AddSeconds(30), response);
        await processor.ProcessAsync(MixedEvent(), DateTimeOffset.UtcNow.AddSeconds(30), response);
        Assert.Equal("{\"batchItemFailures\":[]}{\"batchItemFailures\":[]}", Encoding.UTF8.GetString(response.WrittenSpan));

        response.ResetWrittenCount();
        await processor.ProcessAsync(MixedEvent(), DateTimeOffset.UtcNow.AddSeconds(30), response);
        Assert.Equal("{\"batchItemFailures\":[]}", Encoding.UTF8.GetString(response.WrittenSpan));
    }

    [Theory]
    [InlineData("", "value")]
    [InlineData("value", "value")]
    public void Constructor_BadFieldNames_ThrowArgumentException(string metricField, string valueField)
    {
        var options = ProcessorOptions.Default with { Parser = MetricParserOptions.Default with { MetricField = metricField, ValueField = valueField } };
        Assert.Throws<ArgumentException>(() => new KinesisBatchProcessor(new RecordingAggregateSink(), new RecordingQuarantineSink(), options));
    }

    [Fact]
    public async Task UserOnPoison_IsStillCalled()
    {
        var seen = new List<string>();
        using var kinesis = new KinesisFunction(new RecordingAggregateSink(), new RecordingQuarantineSink(), KinesisFunctionOptions.Default with
        {
            Output = new MemoryStream(),
            Processor = ProcessorOptions.Default with { OnPoison = r => seen.Add(r.SequenceNumber) },
        });

        await kinesis.HandleAsync(new MemoryStream(MixedEvent()), TimeSpan.FromSeconds(30));

        Assert.Equal([TestEvents.Seq(2)], seen);
    }
}
