using System.Buffers;
using Analytics.Core;
using Analytics.Core.Testing;
using Analytics.SampleLambda;

namespace Analytics.Replay;

/// <summary>
/// The sample function's handler, in process, one per execution environment, with that environment's own real
/// <see cref="DynamoDbAggregateSink"/> and <see cref="S3QuarantineSink"/> (and <see cref="S3SpillSink"/> when the template spills) writing to the downstream models on the
/// virtual clock, so the handler waits on nothing but that clock.
/// </summary>
internal sealed class SampleHandler : ILambdaHandler
{
    private readonly FunctionHandler _handler;
    private readonly ArrayBufferWriter<byte> _response = new(1024);

    /// <param name="spillAfterSeconds">Spill to the S3 model after this age (the template's setting); null: no spilling.</param>
    /// <param name="maxPairs">The pair cap (the template's setting); null: the library's default.</param>
    /// <param name="perShardWatermarkOnly">The DynamoDB sink's one watermark per shard (the template's setting).</param>
    public SampleHandler(SampleDownstream downstream, TimeProvider clock, int windowSeconds = 60, int? spillAfterSeconds = null, int? maxPairs = null, bool perShardWatermarkOnly = false)
    {
        DynamoDbAggregateSink table = downstream.CreateAggregateSink(perShardWatermarkOnly);
        ProcessorOptions options = ProcessorOptions.Default with
        {
            TimeProvider = clock,
            Aggregator = AggregatorOptions.Default with { WindowSize = TimeSpan.FromSeconds(windowSeconds), MaxPairs = maxPairs ?? AggregatorOptions.Default.MaxPairs },
        };
        if (spillAfterSeconds is { } after)
        {
            options = options with { SpillSink = downstream.CreateSpillSink(table), SpillAfterAge = TimeSpan.FromSeconds(after) };
        }

        Sink = table;
        _handler = new FunctionHandler(table, downstream.CreateQuarantineSink(), options, TextWriter.Null);
    }

    /// <summary>The DynamoDB sink the handler writes through.</summary>
    internal DynamoDbAggregateSink Sink { get; }

    public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        _response.ResetWrittenCount();
        await _handler.HandleAsync(utf8Event, deadline, _response, cancellationToken).ConfigureAwait(false);
        return _response.WrittenMemory.ToArray();
    }
}
