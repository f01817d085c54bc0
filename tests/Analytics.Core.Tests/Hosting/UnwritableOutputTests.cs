using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests.Hosting;

/// <summary>
/// <see cref="KinesisFunctionOptions.Output"/> that cannot be written (a read-only stream, an input stream handed over by
/// mistake) is a configuration error: refused when the function is made, naming the option, as the other options are.
/// Accepted, every invocation runs its sinks and then fails with "Stream does not support writing" (a function error,
/// so Lambda retries the whole batch, and the JSON-lines sinks append it again).
/// </summary>
public sealed class UnwritableOutputTests
{
    [Fact]
    public void ReadOnlyOutput_IsRefusedWhenTheFunctionIsMade()
    {
        var readOnly = new MemoryStream(new byte[16], writable: false);

        ArgumentException e = Assert.ThrowsAny<ArgumentException>(() => new KinesisFunction(
            new RecordingAggregateSink(), new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = readOnly }));

        Assert.Contains("Output", e.Message, StringComparison.Ordinal);
    }

    /// <summary>What happens today: the sinks have run (the aggregate is written), then the invocation throws.</summary>
    [Fact]
    public async Task ReadOnlyOutput_DoesNotFailAnInvocationWhoseSinksSucceeded()
    {
        var aggregates = new RecordingAggregateSink();
        KinesisFunction function;
        try
        {
            function = new KinesisFunction(aggregates, new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = new MemoryStream(new byte[16], writable: false) });
        }
        catch (ArgumentException)
        {
            return; // refused at construction: the other test's expectation
        }

        using (function)
        {
            byte[] evt = TestEvents.Build([new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival)]);
            Exception? thrown = await Record.ExceptionAsync(() => function.HandleAsync(new MemoryStream(evt), TimeSpan.FromSeconds(30)));

            Assert.Single(aggregates.Seen);
            Assert.Null(thrown);
        }
    }

    /// <summary>An output that breaks while the function runs (a closed pipe): the invocation still succeeds, once its sinks have.</summary>
    [Fact]
    public async Task OutputThatFailsOnWrite_DoesNotFailTheInvocation()
    {
        var aggregates = new RecordingAggregateSink();
        using var function = new KinesisFunction(aggregates, new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = new BrokenPipe() });
        byte[] evt = TestEvents.Build([new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival)]);

        Stream response = await function.HandleAsync(new MemoryStream(evt), TimeSpan.FromSeconds(30));

        Assert.Single(aggregates.Seen);
        Assert.Equal("""{"batchItemFailures":[]}""", new StreamReader(response).ReadToEnd());
    }

    /// <summary>An output whose every write fails as a closed pipe does.</summary>
    internal sealed class BrokenPipe : MemoryStream
    {
        public override void Write(byte[] buffer, int offset, int count) => throw new IOException("Broken pipe");

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => throw new IOException("Broken pipe");

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => throw new IOException("Broken pipe");
    }
}

/// <summary>Smaller configuration mistakes a new-consumer review met: each gets a clear error, not silence or a bare NullReferenceException.</summary>
public sealed class CarelessConfigurationTests
{
    [Fact]
    public void AnUndefinedMinimumLogLevel_IsRefusedWhenTheFunctionIsMade()
    {
        ArgumentException e = Assert.ThrowsAny<ArgumentException>(() => new KinesisFunction(
            new RecordingAggregateSink(), new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Log = JsonLogOptions.Default with { MinimumLevel = (JsonLogLevel)42 } }));

        Assert.Contains("MinimumLevel is 42", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASinkWhoseWriteAsyncReturnsNull_IsAFailureOfThatSink_NamedInTheSummary()
    {
        using var processor = new KinesisBatchProcessor(new NullTaskSink(), new RecordingQuarantineSink(), ProcessorOptions.Default);
        byte[] evt = TestEvents.Build([new TestRecord(TestEvents.Seq(1), TestEvents.Utf8(TestEvents.Sample("m", 1, TestEvents.Arrival - 1000)), TestEvents.Arrival)]);
        var response = new System.Buffers.ArrayBufferWriter<byte>();

        BatchSummary summary = await processor.ProcessAsync(evt, DateTimeOffset.UtcNow.AddSeconds(30), response);

        Assert.Equal(SinkOutcome.Failed, summary.AggregateSinkOutcome);
        Assert.Contains("IAggregateSink's WriteAsync returned null", summary.AggregateSinkError, StringComparison.Ordinal);
        Assert.Equal(TestEvents.Seq(1), summary.ReportedFailure);
    }

    private sealed class NullTaskSink : IAggregateSink
    {
        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken) => null!;
    }
}
