using System.Buffers;

namespace Analytics.Core;

/// <summary>
/// CONTRACT STUB (the pipeline issue fills it): reads a Lambda Kinesis event, validates and quarantines poison
/// records, aggregates the valid ones, flushes to the aggregate sink and writes the partial-batch response, always
/// before the deadline.
/// </summary>
public sealed class KinesisBatchProcessor
{
    /// <summary>Creates a processor; reuse it across invocations.</summary>
    /// <param name="aggregateSink">Where aggregates go.</param>
    /// <param name="quarantineSink">Where poison records go.</param>
    /// <param name="options">Options.</param>
    public KinesisBatchProcessor(IAggregateSink aggregateSink, IQuarantineSink quarantineSink, ProcessorOptions options) =>
        throw new NotImplementedException();

    /// <summary>Processes one event and writes the response JSON.</summary>
    /// <param name="utf8Event">The raw event.</param>
    /// <param name="deadline">When Lambda ends the invocation.</param>
    /// <param name="response">Receives the response JSON.</param>
    /// <param name="cancellationToken">Cancels the invocation.</param>
    /// <returns>What the invocation did.</returns>
    /// <exception cref="KinesisEventFormatException">The payload is not a Kinesis event.</exception>
    public Task<BatchSummary> ProcessAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, IBufferWriter<byte> response, CancellationToken cancellationToken = default) =>
        throw new NotImplementedException();

    /// <summary>Processes one event read from a stream and writes the response JSON.</summary>
    /// <param name="utf8Event">The raw event.</param>
    /// <param name="deadline">When Lambda ends the invocation.</param>
    /// <param name="response">Receives the response JSON.</param>
    /// <param name="cancellationToken">Cancels the invocation.</param>
    /// <returns>What the invocation did.</returns>
    /// <exception cref="KinesisEventFormatException">The payload is not a Kinesis event.</exception>
    public Task<BatchSummary> ProcessAsync(Stream utf8Event, DateTimeOffset deadline, IBufferWriter<byte> response, CancellationToken cancellationToken = default) =>
        throw new NotImplementedException();
}
