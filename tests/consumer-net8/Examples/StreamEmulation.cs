namespace ConsumerNet8.Testing;

// README:start
using System.Text;
using System.Text.Json;
using Analytics.Core.Testing;

// Reports each record whose data is "poison" (ReportBatchItemFailures): Lambda retries the batch from the first one.
public sealed class MyHandler(TimeProvider clock) : ILambdaHandler
{
    public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        await Task.Delay(TimeSpan.FromMilliseconds(5), clock, cancellationToken); // a downstream call, in virtual time
        using JsonDocument lambdaEvent = JsonDocument.Parse(utf8Event);
        foreach (JsonElement record in lambdaEvent.RootElement.GetProperty("Records").EnumerateArray())
        {
            JsonElement kinesis = record.GetProperty("kinesis");
            if (Encoding.UTF8.GetString(kinesis.GetProperty("data").GetBytesFromBase64()) == "poison")
            {
                return Encoding.UTF8.GetBytes($"{{\"batchItemFailures\":[{{\"itemIdentifier\":\"{kinesis.GetProperty("sequenceNumber").GetString()}\"}}]}}");
            }
        }

        return "{\"batchItemFailures\":[]}"u8.ToArray();
    }
}
// README:end

public static class StreamEmulation
{
    public static (EmulatorScenario Scenario, EmulationSummary Summary, EmulationRecording Recording) Run()
    {
        // README:start
        var scenario = new EmulatorScenario
        {
            Seed = 1,
            DurationSeconds = 300,
            Stream = new StreamOptions { ShardCount = 2 },
            Producers = [new ProducerOptions { RatePerSecond = 200, PartitionKeys = 50 }],
            Records = [ExplicitRecord.Text("sensor-1", "poison", atMs: 60_000)],
            Mapping = new MappingOptions { ReportBatchItemFailures = true, BisectBatchOnFunctionError = true, MaximumRetryAttempts = 3, OnFailure = OnFailureDestination.S3 },
            Function = new FunctionOptions { TimeoutSeconds = 30, InitMs = 350, MemoryMb = 512, ComputeMsPerRecord = 0.5 },
        };

        StreamEmulator emulator = null!;
        // One handler per execution environment, as Lambda has one function instance per environment; it gets the
        // emulator's clock as its TimeProvider. (new StreamEmulator(scenario, handler) shares one instance among all
        // environments, which then runs invocations of several shards and lanes at once: only for a handler safe for that.)
        emulator = new StreamEmulator(scenario, environment => new MyHandler(emulator.Clock));
        var recording = new EmulationRecording();           // or: using var files = new EmulationFiles("out");
        EmulationSummary summary = emulator.Run(recording);

        // recording.Invocations, recording.Destination, recording.Records, recording.Seconds: assert on them.
        // README:end
        return (scenario, summary, recording);
    }
}
