using FsCheck.Xunit;
using System.Text;
using System.Text.Json;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests.Hosting;

/// <summary>
/// Found by review of the logs and metrics: a tumbling-window invocation whose sink failed wrote no invocation line
/// and no metrics (so the documented query and alarms never saw it); a namespace or function name CloudWatch refuses
/// was taken, and set in code, was checked only after the sinks wrote; <c>ANALYTICS_LOG_LEVEL</c> took a list of levels
/// as their flags' sum; a refused second call cleared the running invocation's poison lines.
/// </summary>
public class ObservabilityHardeningTests
{
    private static readonly string[] s_badNamespaces = ["", "   ", "Analyticsé", "AWS/Lambda", ":colon", "tab\there", new string('n', 256)];

    public static TheoryData<string> BadNamespaces => [.. s_badNamespaces];

    private static List<JsonElement> Lines(MemoryStream output) =>
        [.. Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone())];

    private static byte[] FinalWindowEvent() => TestEvents.BuildWindow(
        [new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("latency", 12, TestEvents.Arrival - 1000)), TestEvents.Arrival)],
        "{}",
        final: true);

    [Fact]
    public async Task AWindowInvocationWhoseSinkFailed_WritesItsInvocationLineAndMetrics_ThenFails()
    {
        var output = new MemoryStream();
        var aggregates = new RecordingAggregateSink { Durable = _ => false, Throw = new IOException("No space left on device") };
        using var kinesis = new KinesisFunction(aggregates, new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = output });

        BatchFailedException e = await Assert.ThrowsAsync<BatchFailedException>(() => kinesis.HandleAsync(new MemoryStream(FinalWindowEvent()), TimeSpan.FromSeconds(30)));

        List<JsonElement> lines = Lines(output);
        JsonElement invocation = Assert.Single(lines, l => l.TryGetProperty("message", out JsonElement m) && m.GetString() == "invocation");
        Assert.Equal(("Error", "Failed", 1, TestEvents.Seq(1)), (invocation.GetProperty("level").GetString(), invocation.GetProperty("aggregateSink").GetString(), invocation.GetProperty("failuresReported").GetInt32(), invocation.GetProperty("reportedFailure").GetString()));
        JsonElement emf = Assert.Single(lines, l => l.TryGetProperty("_aws", out _));
        Assert.Equal((1, 1), (emf.GetProperty("FailuresReported").GetInt32(), emf.GetProperty("RecordsIn").GetInt32()));
        Assert.Same(e.Summary, kinesis.LastSummary);
    }

    [Fact]
    public async Task TheSampleHandler_WritesTheLinesOfAFailedWindowInvocation_Too()
    {
        var log = new StringWriter();
        var aggregates = new RecordingAggregateSink { Durable = _ => false, Throw = new IOException("No space left on device") };
        await using var handler = new Analytics.SampleLambda.FunctionHandler(aggregates, new RecordingQuarantineSink(), ProcessorOptions.Default, log);

        await Assert.ThrowsAsync<BatchFailedException>(() => handler.HandleAsync(FinalWindowEvent(), DateTimeOffset.UtcNow.AddSeconds(30), new System.Buffers.ArrayBufferWriter<byte>(), CancellationToken.None));

        List<JsonElement> lines = [.. log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone())];
        Assert.Contains(lines, l => l.TryGetProperty("message", out JsonElement m) && m.GetString() == "invocation" && l.GetProperty("aggregateSink").GetString() == "Failed");
        Assert.Contains(lines, l => l.TryGetProperty("_aws", out _) && l.GetProperty("FailuresReported").GetInt32() == 1);
    }

    [Theory]
    [MemberData(nameof(BadNamespaces))]
    public void ANamespaceCloudWatchRefuses_IsRefusedWhenTheFunctionIsMade_BeforeAnySinkRuns(string ns)
    {
        var aggregates = new RecordingAggregateSink();

        ArgumentException e = Assert.Throws<ArgumentException>(() => new KinesisFunction(aggregates, new RecordingQuarantineSink(), KinesisFunctionOptions.Default with
        {
            Output = new MemoryStream(),
            Metrics = EmfOptions.Default with { Namespace = ns },
        }));

        Assert.StartsWith("The EMF namespace ", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, aggregates.Calls);
        Assert.Throws<InvalidOperationException>(() => KinesisFunctionSettings.FromEnvironment(n => n == KinesisFunctionSettings.MetricsNamespaceVariable ? ns : null));
    }

    [Theory]
    [InlineData("Orders/Analytics")]
    [InlineData("Team #1: metrics_v2.x-y")]
    [InlineData("Analytics.Core")]
    public void ANamespaceCloudWatchTakes_IsTaken(string ns)
    {
        using var kinesis = new KinesisFunction(new RecordingAggregateSink(), new RecordingQuarantineSink(), KinesisFunctionOptions.Default with
        {
            Output = new MemoryStream(),
            Metrics = EmfOptions.Default with { Namespace = ns },
        });

        Assert.Equal(ns, KinesisFunctionSettings.FromEnvironment(n => n == KinesisFunctionSettings.MetricsNamespaceVariable ? ns : null).MetricsNamespace);
    }

    [Theory]
    [InlineData("   ")]
    [InlineData("función")]
    [InlineData("tab\tname")]
    public void AFunctionNameCloudWatchRefuses_IsRefused(string name) =>
        Assert.Throws<ArgumentException>(() => new KinesisFunction(new RecordingAggregateSink(), new RecordingQuarantineSink(), KinesisFunctionOptions.Default with
        {
            Output = new MemoryStream(),
            Metrics = EmfOptions.Default with { FunctionName = name },
        }));

    [Theory]
    [InlineData("shardId-00000000000é")]
    [InlineData("shard\u007fid")]
    [InlineData("shard\nid")]
    public void AShardIdOfOtherCharacters_IsWrittenAsADimensionValueCloudWatchTakes(string shardId)
    {
        string value = EmfMetrics.DimensionValue(shardId);

        Assert.Equal(shardId.Length, value.Length);
        Assert.All(value, c => Assert.InRange(c, ' ', '~'));
        Assert.Equal(new string('?', 2), EmfMetrics.DimensionValue("\u00e9\u00e8"));
        Assert.Equal(1024, EmfMetrics.DimensionValue(new string('s', 1023) + "\U0001F600").Length);
        Assert.All(EmfMetrics.DimensionValue(new string('s', 1023) + "\U0001F600"), c => Assert.InRange(c, ' ', '~'));
    }

    /// <summary>
    /// Any shard id becomes a value CloudWatch takes: 1 to 1,024 printable ASCII characters, at least one of them not
    /// white space (found by review: 1,100 spaces and an 'x' were cut to 1,024 spaces, which CloudWatch refuses with the
    /// whole line, and every metric of the invocation with it).
    /// </summary>
    [Property(MaxTest = 500)]
    public void AnyShardId_IsADimensionValueCloudWatchTakes(string? shardId, byte spaces)
    {
        string id = shardId is null ? "" : new string(' ', spaces * 8) + shardId; // up to 2,040 leading spaces

        string value = EmfMetrics.DimensionValue(id);

        Assert.InRange(value.Length, 1, 1024);
        Assert.All(value, c => Assert.InRange(c, ' ', '~'));
        Assert.False(string.IsNullOrWhiteSpace(value), $"'{value}'");
    }

    [Fact]
    public void AShardIdBlankInItsFirst1024Characters_IsNone() =>
        Assert.Equal("none", EmfMetrics.DimensionValue(new string(' ', 1_100) + "x"));

    [Fact]
    public async Task AHugeShardId_KeepsEveryLineBounded()
    {
        // From a hand-made event: Lambda's shard ids are 20 characters. Each line of the invocation held it whole.
        string huge = "shardId-" + new string('7', 300_000);
        byte[] evt = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(TestEvents.Build(
        [
            new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("latency", 12, TestEvents.Arrival - 1000)), TestEvents.Arrival),
            new TestRecord(TestEvents.Seq(2), TestEvents.Utf8("not json"), TestEvents.Arrival),
        ])).Replace(TestEvents.ShardId, huge, StringComparison.Ordinal));
        var output = new MemoryStream();
        using var kinesis = new KinesisFunction(new RecordingAggregateSink(), new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = output });

        await kinesis.HandleAsync(new MemoryStream(evt), TimeSpan.FromSeconds(30));

        string[] raw = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(raw, l => l.Contains("\"message\":\"poison\"", StringComparison.Ordinal));
        Assert.All(raw, l => Assert.True(l.Length < 8 * 1024, $"a line of {l.Length} characters"));
        Assert.All(Lines(output).Where(l => l.TryGetProperty("shardId", out _)), l => Assert.Equal(huge[..1024], l.GetProperty("shardId").GetString()));
    }

    [Theory]
    [InlineData("Info,Warn")]
    [InlineData("Warn,Info")]
    [InlineData("Debug, Error")]
    public void ALogLevelList_IsABadValue(string level)
    {
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => KinesisFunctionSettings.FromEnvironment(n => n == KinesisFunctionSettings.LogLevelVariable ? level : null));

        Assert.StartsWith(KinesisFunctionSettings.LogLevelVariable, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARefusedSecondCall_LeavesTheRunningInvocationsPoisonLines()
    {
        var output = new MemoryStream();
        var aggregates = new PendingAggregateSink();
        using var kinesis = new KinesisFunction(aggregates, new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = output });
        byte[] evt = TestEvents.Build(
        [
            new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("latency", 12, TestEvents.Arrival - 1000)), TestEvents.Arrival),
            new TestRecord(TestEvents.Seq(2), TestEvents.Utf8("not json"), TestEvents.Arrival),
        ]);

        Task<Stream> first = kinesis.HandleAsync(new MemoryStream(evt), TimeSpan.FromSeconds(30));
        for (int i = 0; i < 500 && aggregates.Pending is null; i++)
        {
            await Task.Delay(10);
        }

        await Assert.ThrowsAsync<InvalidOperationException>(() => kinesis.HandleAsync(new MemoryStream(evt), TimeSpan.FromSeconds(30)));
        aggregates.Batch!.MarkAllDurable();
        aggregates.Pending!.SetResult();
        await first.WaitAsync(TimeSpan.FromSeconds(30));

        List<JsonElement> lines = Lines(output);
        Assert.Single(lines, l => l.TryGetProperty("message", out JsonElement m) && m.GetString() == "poison");
        Assert.Equal(1, Assert.Single(lines, l => l.TryGetProperty("message", out JsonElement m) && m.GetString() == "invocation").GetProperty("poisonRecords").GetInt32());
    }

    // Found by reviewing the change itself: the empty final invocation of a window, the time left, a broken output.
    private static TestRecord Good(int n, double value) =>
        new(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", value, TestEvents.Arrival - 1000)), TestEvents.Arrival);

    /// <summary>
    /// Lambda's empty final invocation of a window (no new records, the state only) whose flush fails: the invocation
    /// fails (BatchFailedException), and docs/observability.md says FailuresReported is then 1.
    /// </summary>
    [Fact]
    public async Task EmptyFinalWindowInvocation_WhoseFlushFailed_ReportsAFailure()
    {
        var output = new MemoryStream();
        var aggregates = new RecordingAggregateSink { Durable = _ => false, Throw = new IOException("No space left on device") };
        using var kinesis = new KinesisFunction(aggregates, new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = output });

        // First invocation: not final, so no flush (the sink is not called); it answers with the state.
        Stream first = await kinesis.HandleAsync(new MemoryStream(TestEvents.BuildWindow([Good(1, 1), Good(2, 2)], "{}")), TimeSpan.FromSeconds(30));
        string state = JsonDocument.Parse(first).RootElement.GetProperty("state").GetRawText();
        Assert.Equal(0, aggregates.Calls);
        output.SetLength(0);

        // The final invocation: no records, the state; the flush fails.
        BatchFailedException e = await Assert.ThrowsAsync<BatchFailedException>(() => kinesis.HandleAsync(new MemoryStream(TestEvents.BuildWindow([], state, final: true)), TimeSpan.FromSeconds(30)));
        Assert.Equal(1, aggregates.Calls);

        List<JsonElement> lines = Lines(output);
        JsonElement invocation = Assert.Single(lines, l => l.TryGetProperty("message", out JsonElement m) && m.GetString() == "invocation");
        JsonElement emf = Assert.Single(lines, l => l.TryGetProperty("_aws", out _));
        Assert.Equal("Failed", invocation.GetProperty("aggregateSink").GetString());
        Assert.Equal(
            (1, 1),
            (invocation.GetProperty("failuresReported").GetInt32(), emf.GetProperty("FailuresReported").GetInt32()));
    }

    /// <summary>
    /// A window invocation whose flush failed with 30 s left: its EMF line's RemainingTimeMs should be the time left,
    /// not 0 (the "Running out of time" alarm of docs/observability.md takes its Minimum).
    /// </summary>
    [Fact]
    public async Task FailedWindowInvocation_MetricsSayHowMuchTimeWasLeft()
    {
        var output = new MemoryStream();
        var aggregates = new RecordingAggregateSink { Durable = _ => false, Throw = new IOException("No space left on device") };
        using var kinesis = new KinesisFunction(aggregates, new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = output });

        await Assert.ThrowsAsync<BatchFailedException>(() => kinesis.HandleAsync(new MemoryStream(TestEvents.BuildWindow([Good(1, 1)], "{}", final: true)), TimeSpan.FromSeconds(30)));

        JsonElement emf = Assert.Single(Lines(output), l => l.TryGetProperty("_aws", out _));
        Assert.True(emf.GetProperty("RemainingTimeMs").GetDouble() > 20_000, $"RemainingTimeMs {emf.GetProperty("RemainingTimeMs").GetDouble()}");
    }

    private sealed class BrokenStdout : MemoryStream
    {
        public override void Write(byte[] buffer, int offset, int count) => throw new IOException("stdout closed");

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromException(new IOException("stdout closed"));

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromException(new IOException("stdout closed"));
    }

    /// <summary>
    /// A window invocation whose flush failed (no poison records), with an output that cannot be written: the
    /// invocation still fails with the BatchFailedException naming the failed sink, not with the output's error.
    /// </summary>
    [Fact]
    public async Task FailedWindowInvocation_WithAFailingOutput_StillThrowsTheBatchFailure()
    {
        var aggregates = new RecordingAggregateSink { Durable = _ => false, Throw = new IOException("No space left on device") };
        using var kinesis = new KinesisFunction(aggregates, new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = new BrokenStdout() });

        Exception e = await Record.ExceptionAsync(() => kinesis.HandleAsync(new MemoryStream(TestEvents.BuildWindow([Good(1, 1)], "{}", final: true)), TimeSpan.FromSeconds(30)));

        Assert.IsType<BatchFailedException>(e);
    }
}
