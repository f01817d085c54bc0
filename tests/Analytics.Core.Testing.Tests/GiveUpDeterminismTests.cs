using System.Buffers;

namespace Analytics.Core.Testing.Tests;

/// <summary>
/// The processor gives up on a sink that ignores cancellation: its give-up signal continues off the cancelling thread
/// (RunContinuationsAsynchronously), and only then starts its 200 ms grace wait on its clock. Under the emulator's
/// virtual clock the emulator thread does not wait for that continuation: it fires the next timer (here the function's
/// 5 s timeout) before the grace timer exists, so every invocation times out instead of returning its partial response
/// at about 4.2 s (1 s safety margin, 200 ms grace), and which of the two happens depends on thread scheduling.
/// </summary>
public class GiveUpDeterminismTests
{
    [Fact(Skip = "Needs the processor's give-up path to stay on the clock's thread under a TimeProvider other than System (see docs/emulator.md, virtual-time contract); today every invocation times out.")]
    public void SinkIgnoringCancellation_UnderTheVirtualClock_GivesTheSameInvocationsEveryRun()
    {
        string? first = null;
        for (int run = 0; run < 8; run++)
        {
            string invocations = Run();
            first ??= invocations;
            Assert.Equal(first, invocations);
        }

        Assert.True(first!.Contains("Partial", StringComparison.Ordinal), first[..Math.Min(400, first.Length)]);
    }

    private static string Run()
    {
        var scenario = new EmulatorScenario
        {
            Seed = 5,
            DurationSeconds = 40,
            Producers = [new ProducerOptions { RatePerSecond = 40, PartitionKeys = 4 }],
            Mapping = new MappingOptions { BatchSize = 50, ReportBatchItemFailures = true },
            Function = new FunctionOptions { TimeoutSeconds = 5, ComputeMsPerInvocation = 3 },
        };
        StreamEmulator emulator = null!;
        emulator = new StreamEmulator(scenario, _ => new Handler(emulator.Clock));
        var lines = new Lines();
        emulator.Run(lines);
        return string.Join("\n", lines.All);
    }

    private sealed class Handler(VirtualClock clock) : ILambdaHandler
    {
        private readonly KinesisBatchProcessor _processor = new(new StuckSink(clock), new NoQuarantine(), ProcessorOptions.Default with { TimeProvider = clock });

        public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
        {
            var response = new ArrayBufferWriter<byte>();
            await _processor.ProcessAsync(utf8Event, deadline, response, cancellationToken).ConfigureAwait(false);
            return response.WrittenMemory;
        }
    }

    /// <summary>Takes a minute of virtual time per write and ignores cancellation.</summary>
    private sealed class StuckSink(VirtualClock clock) : IAggregateSink
    {
        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken) =>
            Task.Delay(TimeSpan.FromMinutes(1), clock, CancellationToken.None);
    }

    private sealed class NoQuarantine : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken) => Task.FromResult(records.Count);
    }

    private sealed class Lines : IEmulationObserver
    {
        public List<string> All { get; } = [];

        public void OnRecord(StreamRecord record)
        {
        }

        public void OnInvocation(InvocationReport invocation) =>
            All.Add($"{invocation.Invocation} {invocation.StartMs}-{invocation.EndMs} {invocation.Outcome} {invocation.Checkpoint} {invocation.Records.Count}");

        public void OnDestination(DestinationRecord record)
        {
        }

        public void OnSecond(ShardSecond metrics)
        {
        }
    }
}
