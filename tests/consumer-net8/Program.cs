// Runs every README example as a net8.0 consumer would, and checks what each one does. Exit code 0 when all pass.
using System.Runtime.InteropServices;
using System.Text;
using Analytics.Core;
using ConsumerNet8;
using Microsoft.Extensions.Logging;

// The AWS example builds SDK clients: give them a region and dummy credentials (it never calls AWS: empty event).
Environment.SetEnvironmentVariable("AWS_REGION", "us-east-1");
Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "test");
Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "test");
Environment.SetEnvironmentVariable("ANALYTICS_WINDOW_SECONDS", "300");

byte[] poisonEvent = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "kinesis-poison.json"));
const string NoFailures = "{\"batchItemFailures\":[]}";
int failures = 0;
int ran = 0;

async Task Check(string name, Func<Task<string?>> example)
{
    ran++;
    try
    {
        string? problem = await example();
        Console.Error.WriteLine(problem is null ? $"ok    {name}" : $"FAIL  {name}: {problem}");
        failures += problem is null ? 0 : 1;
    }
    catch (Exception e)
    {
        Console.Error.WriteLine($"FAIL  {name}: {e}");
        failures++;
    }
}

static string Text(Stream stream) => new StreamReader(stream).ReadToEnd();

await Check("Analytics.Core README: managed-runtime handler", async () =>
{
    var function = new ConsumerNet8.Core.Function();
    string response = Text(await function.Handler(new MemoryStream(poisonEvent), new StandInContext(TimeSpan.FromSeconds(30))));
    return response == NoFailures && File.Exists("/tmp/quarantine.jsonl") ? null : response;
});

await Check("Analytics.Core README: custom runtime, one processor for several invocations", async () =>
{
    var function = new ConsumerNet8.Core.CustomRuntimeFunction();
    long deadlineMs = DateTimeOffset.UtcNow.AddSeconds(30).ToUnixTimeMilliseconds();
    await function.InvokeAsync(poisonEvent, deadlineMs);
    string second = Encoding.UTF8.GetString((await function.InvokeAsync(poisonEvent, deadlineMs)).Span);
    return second == NoFailures ? null : second;
});

await Check("Analytics.Core README: custom async sink", async () =>
{
    var output = new StringWriter();
    using var processor = new KinesisBatchProcessor(new ConsumerNet8.Core.TextAggregateSink(output), new JsonLinesQuarantineSink("/tmp/quarantine.jsonl"), ProcessorOptions.Default);
    var response = new System.Buffers.ArrayBufferWriter<byte>();
    BatchSummary summary = await processor.ProcessAsync(poisonEvent, DateTimeOffset.UtcNow.AddSeconds(30), response);
    string[] lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    return Encoding.UTF8.GetString(response.WrittenSpan) == NoFailures && lines.Length == summary.AggregatesWritten && lines.Length > 0 && lines[0].Contains(" count=", StringComparison.Ordinal)
        ? null
        : $"{lines.Length} lines for {summary.AggregatesWritten} aggregates: {output}";
});

await Check("Analytics.Core README: lower layers, called from async code", async () =>
{
    await Task.Yield();
    var log = new StringWriter();
    int poison = Poison.Count(poisonEvent, log);
    return poison > 0 && log.ToString().Contains("MissingField", StringComparison.Ordinal) ? null : $"{poison} poison: {log}";
});

await Check("Analytics.Core.Aws README: handler with the DynamoDB and S3 sinks (empty event: no AWS call)", async () =>
{
    var function = new ConsumerNet8.Aws.Function();
    string response = Text(await function.Handler(new MemoryStream("{\"Records\":[]}"u8.ToArray()), new StandInContext(TimeSpan.FromSeconds(30))));
    return response == NoFailures ? null : response;
});

await Check("Analytics.Core.Aws README: a processor that spills (empty event: no AWS call)", async () =>
{
    using var processor = ConsumerNet8.Spill.Spilling.Create(new Amazon.DynamoDBv2.AmazonDynamoDBClient(), new Amazon.S3.AmazonS3Client(), new JsonLinesQuarantineSink("/tmp/quarantine.jsonl"));
    var response = new System.Buffers.ArrayBufferWriter<byte>();
    BatchSummary summary = await processor.ProcessAsync("{\"Records\":[]}"u8.ToArray(), DateTimeOffset.UtcNow.AddSeconds(30), response);
    return Encoding.UTF8.GetString(response.WrittenSpan) == NoFailures && summary.Records == 0 ? null : Encoding.UTF8.GetString(response.WrittenSpan);
});

await Check("Analytics.Core README: a misspelled ANALYTICS_ variable is refused by name (the process's environment)", () =>
{
    // Removed again in the finally below, before the next example reads the environment.
    Environment.SetEnvironmentVariable("analytics_window_size", "60");
    try
    {
        KinesisFunctionSettings.FromEnvironment();
        return Task.FromResult<string?>("no exception");
    }
    catch (InvalidOperationException e)
    {
        return Task.FromResult(e.Message.StartsWith("analytics_window_size is not a setting of Analytics.Core", StringComparison.Ordinal) ? null : e.Message);
    }
    finally
    {
        Environment.SetEnvironmentVariable("analytics_window_size", null);
    }
});

await Check("Analytics.Core.Logging README: log lines through ILogger", async () =>
{
    var factory = new CapturingLoggerFactory();
    using KinesisFunction function = ConsumerNet8.Logging.Functions.Create(factory);
    string response = Text(await function.HandleAsync(new MemoryStream(poisonEvent), TimeSpan.FromSeconds(30)));
    bool poisonWarned = factory.Entries.Any(e => e.Level == LogLevel.Warning && e.EventId.Name == "poison");
    bool invocation = factory.Entries.Any(e => e.EventId.Name == "invocation");
    return response == NoFailures && poisonWarned && invocation ? null : $"{response}; {factory.Entries.Count} entries";
});

await Check("Analytics.Core.Testing README: the emulator, a handler reporting a poison record, an S3 on-failure destination", async () =>
{
    await Task.Yield();
    (Analytics.Core.Testing.EmulatorScenario scenario, Analytics.Core.Testing.EmulationSummary summary, Analytics.Core.Testing.EmulationRecording recording) = ConsumerNet8.Testing.StreamEmulation.Run();
    return ConsumerNet8.Testing.StreamChecks.Problem(scenario, summary, recording);
});

await Check("Analytics.Core.Testing on net8.0: the library's sinks on the DynamoDB and S3 models, direct clients", async () =>
{
    await Task.Yield();
    return ConsumerNet8.Testing.SinksOnModels.Problem(httpClients: false);
});

await Check("Analytics.Core.Testing on net8.0: the same through the SDK's HTTP pipeline", async () =>
{
    await Task.Yield();
    return ConsumerNet8.Testing.SinksOnModels.Problem(httpClients: true);
});

Console.Error.WriteLine($"{ran - failures} of {ran} checks (the README examples, and the Testing package on net8.0) passed on {RuntimeInformation.FrameworkDescription}");
return failures == 0 ? 0 : 1;

internal sealed class CapturingLoggerFactory : ILoggerFactory, ILogger
{
    public List<(LogLevel Level, EventId EventId, string Message)> Entries { get; } = [];

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public ILogger CreateLogger(string categoryName) => this;

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Add((logLevel, eventId, formatter(state, exception)));
}
