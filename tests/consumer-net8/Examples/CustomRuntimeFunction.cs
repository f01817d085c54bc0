namespace ConsumerNet8.Core;

// README:start
using System.Buffers;
using Analytics.Core;

public sealed class CustomRuntimeFunction
{
    private static readonly KinesisFunctionOptions s_options = KinesisFunctionSettings.FromEnvironment().ToFunctionOptions();
    private static readonly Stream s_stdout = Console.OpenStandardOutput(); // Lambda sends it to CloudWatch Logs

    // Once per sandbox: the processor keeps its buffers across invocations.
    private readonly KinesisBatchProcessor _processor = new(
        new JsonLinesAggregateSink("/tmp/aggregates.jsonl"),
        new JsonLinesQuarantineSink("/tmp/quarantine.jsonl"),
        s_options.Processor);
    private readonly ArrayBufferWriter<byte> _response = new();
    private readonly ArrayBufferWriter<byte> _lines = new();

    // Per invocation: the body of GET /runtime/invocation/next and its Lambda-Runtime-Deadline-Ms header.
    // Returns what to POST to /runtime/invocation/{requestId}/response.
    public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> eventBody, long deadlineMs)
    {
        _response.ResetWrittenCount(); // ProcessAsync appends to the writer
        BatchSummary summary;
        try
        {
            summary = await _processor.ProcessAsync(eventBody, DateTimeOffset.FromUnixTimeMilliseconds(deadlineMs), _response);
        }
        catch (BatchFailedException failed) when (failed.Summary is { } failedSummary)
        {
            await WriteLinesAsync(failedSummary); // a tumbling-window invocation that failed: its lines, then the error
            throw;
        }

        await WriteLinesAsync(summary);
        return _response.WrittenMemory;
    }

    // The invocation's log line (each sink's outcome and error; never a payload) and its EMF metrics line: a sink that
    // failed is seen here, not only in the checkpoint the response reports.
    private async Task WriteLinesAsync(BatchSummary summary)
    {
        _lines.ResetWrittenCount();
        JsonLog.WriteInvocation(summary, s_options.Log, _lines);
        EmfMetrics.Write(summary, s_options.Metrics, _lines);
        await s_stdout.WriteAsync(_lines.WrittenMemory);
        await s_stdout.FlushAsync();
    }
}
// README:end
