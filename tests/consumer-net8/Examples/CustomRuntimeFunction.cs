namespace ConsumerNet8.Core;

// README:start
using System.Buffers;
using Analytics.Core;

public sealed class CustomRuntimeFunction
{
    // Once per sandbox: the processor keeps its buffers across invocations.
    private readonly KinesisBatchProcessor _processor = new(
        new JsonLinesAggregateSink("/tmp/aggregates.jsonl"),
        new JsonLinesQuarantineSink("/tmp/quarantine.jsonl"),
        KinesisFunctionSettings.FromEnvironment().ToProcessorOptions());
    private readonly ArrayBufferWriter<byte> _response = new();

    // Per invocation: the body of GET /runtime/invocation/next and its Lambda-Runtime-Deadline-Ms header.
    // Returns what to POST to /runtime/invocation/{requestId}/response.
    public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> eventBody, long deadlineMs)
    {
        _response.ResetWrittenCount(); // ProcessAsync appends to the writer
        BatchSummary summary = await _processor.ProcessAsync(eventBody, DateTimeOffset.FromUnixTimeMilliseconds(deadlineMs), _response);
        Console.Error.WriteLine($"{summary.Records} records, {summary.PoisonRecords} poison, checkpoint: {summary.ReportedFailure ?? "none"}");
        return _response.WrittenMemory;
    }
}
// README:end
