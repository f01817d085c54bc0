using System.Text.Json;
using Analytics.Core.Tests.Pipeline;

namespace Analytics.Core.Tests.Hosting;

/// <summary>Tests that replace the process's standard error: run alone, after the others, so no other test's lines reach it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class StandardErrorCollection
{
    public const string Name = "process standard error";
}

/// <summary>
/// When <see cref="KinesisFunctionOptions.Output"/> cannot be written, the invocations go on (UnwritableOutputTests), and
/// the first failure is said once on standard error, the last place left to say it; the invocation's own cancellation
/// is not such a failure: it reaches the caller.
/// </summary>
[Collection(StandardErrorCollection.Name)]
public sealed class OutputFailureReportTests
{
    private static byte[] Event(int n) =>
        TestEvents.Build([new TestRecord(TestEvents.Seq(n), TestEvents.Utf8(TestEvents.Sample("m", n, TestEvents.Arrival - 1000)), TestEvents.Arrival)]);

    /// <summary>Runs <paramref name="action"/> with standard error captured; returns its lines.</summary>
    private static async Task<List<string>> CapturingStandardErrorAsync(Func<Task> action)
    {
        TextWriter original = Console.Error;
        var captured = new StringWriter();
        Console.SetError(captured);
        try
        {
            await action();
        }
        finally
        {
            Console.SetError(original);
        }

        return [.. captured.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
    }

    [Fact]
    public async Task TheOutputsFirstFailure_IsSaidOnceOnStandardError_AsAJsonErrorLineNamingTheOptionAndTheError()
    {
        using var function = new KinesisFunction(new RecordingAggregateSink(), new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = new UnwritableOutputTests.BrokenPipe() });

        List<string> first = await CapturingStandardErrorAsync(() => function.HandleAsync(new MemoryStream(Event(1)), TimeSpan.FromSeconds(30)));
        List<string> later = await CapturingStandardErrorAsync(async () =>
        {
            await function.HandleAsync(new MemoryStream(Event(2)), TimeSpan.FromSeconds(30));
            await function.HandleAsync(new MemoryStream(Event(3)), TimeSpan.FromSeconds(30));
        });

        using JsonDocument line = JsonDocument.Parse(Assert.Single(first));
        Assert.Equal("Error", line.RootElement.GetProperty("level").GetString());
        Assert.Equal(
            "KinesisFunctionOptions.Output could not be written (IOException); the lines of each invocation whose write fails are lost (said here once), and its invocations go on",
            line.RootElement.GetProperty("message").GetString());
        Assert.Empty(later);
    }

    /// <summary>
    /// The caller cancels the invocation after its sink has written (here the sink itself cancels it): the output's write,
    /// cancelled by that token, is not a failure of the output. The cancellation reaches the caller, and nothing is said
    /// on standard error.
    /// </summary>
    [Fact]
    public async Task TheInvocationsOwnCancellation_OfTheOutputsWrite_ReachesTheCaller_AndIsNoOutputFailure()
    {
        using var caller = new CancellationTokenSource();
        var aggregates = new CancellingSink(caller);
        using var function = new KinesisFunction(aggregates, new RecordingQuarantineSink(), KinesisFunctionOptions.Default with { Output = new TokenHonouringOutput() });

        Exception? thrown = null;
        List<string> said = await CapturingStandardErrorAsync(async () =>
            thrown = await Record.ExceptionAsync(() => function.HandleAsync(new MemoryStream(Event(1)), TimeSpan.FromSeconds(30), caller.Token)));

        Assert.Equal(1, aggregates.Calls);
        OperationCanceledException cancelled = Assert.IsAssignableFrom<OperationCanceledException>(thrown);
        Assert.Equal(caller.Token, cancelled.CancellationToken);
        Assert.Empty(said);
    }

    /// <summary>An output whose writes throw the cancellation of the token they are given once it is cancelled.</summary>
    private sealed class TokenHonouringOutput : MemoryStream
    {
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return base.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return base.WriteAsync(buffer, offset, count, cancellationToken);
        }
    }

    /// <summary>Marks every pair durable, then cancels the caller's token.</summary>
    private sealed class CancellingSink(CancellationTokenSource caller) : IAggregateSink
    {
        public int Calls { get; private set; }

        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            Calls++;
            batch.MarkAllDurable();
            caller.Cancel();
            return Task.CompletedTask;
        }
    }
}
