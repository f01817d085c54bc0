using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Analytics.Core;
using Analytics.Core.Testing;
using Analytics.SampleLambda;

namespace Analytics.Replay;

/// <summary>
/// The sample function's handler, in process, one per execution environment, writing to sinks shared by all
/// environments. The sinks keep the lines of the <c>invoke</c> command's files in memory and complete at once, so
/// the handler never waits on anything but the virtual clock.
/// </summary>
internal sealed class SampleHandler : ILambdaHandler
{
    private readonly FunctionHandler _handler;
    private readonly ArrayBufferWriter<byte> _response = new(1024);

    public SampleHandler(BufferedSinks sinks, TimeProvider clock)
    {
        _handler = new FunctionHandler(sinks.Aggregates, sinks.Quarantine, ProcessorOptions.Default with { TimeProvider = clock }, TextWriter.Null);
    }

    public async Task<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlyMemory<byte> utf8Event, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        _response.ResetWrittenCount();
        await _handler.HandleAsync(utf8Event, deadline, _response, cancellationToken).ConfigureAwait(false);
        return _response.WrittenMemory.ToArray();
    }
}

/// <summary>Aggregate and quarantine sinks that append JSON lines (the <c>invoke</c> command's formats) to memory.</summary>
internal sealed class BufferedSinks
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public BufferedSinks()
    {
        Aggregates = new AggregateSink(this);
        Quarantine = new QuarantineSink(this);
    }

    public IAggregateSink Aggregates { get; }

    public IQuarantineSink Quarantine { get; }

    public ArrayBufferWriter<byte> AggregateLines { get; } = new(64 * 1024);

    public ArrayBufferWriter<byte> QuarantineLines { get; } = new(4 * 1024);

    public long AggregateCount { get; private set; }

    public long QuarantineCount { get; private set; }

    private sealed class AggregateSink(BufferedSinks owner) : IAggregateSink
    {
        public Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken)
        {
            using var writer = new Utf8JsonWriter(owner.AggregateLines, Options);
            for (int pair = 0; pair < batch.Count; pair++)
            {
                AggregateJsonLine.Write(writer, batch.GetSeriesKey(pair), batch.GetWindowStartMs(pair), batch.GetWindowEndMs(pair), batch.GetAggregate(pair));
                writer.Flush();
                writer.Reset();
                owner.AggregateLines.Write("\n"u8);
                batch.MarkDurable(pair);
                owner.AggregateCount++;
            }

            return Task.CompletedTask;
        }
    }

    private sealed class QuarantineSink(BufferedSinks owner) : IQuarantineSink
    {
        public Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken)
        {
            using var writer = new Utf8JsonWriter(owner.QuarantineLines, Options);
            foreach (QuarantinedRecord r in records)
            {
                // The line format of JsonLinesQuarantineSink.
                writer.WriteStartObject();
                writer.WriteString("shardId"u8, r.ShardId);
                writer.WriteString("sequenceNumber"u8, r.SequenceNumber);
                if (r.SubSequenceNumber is int sub)
                {
                    writer.WriteNumber("subSequenceNumber"u8, sub);
                }

                writer.WriteString("partitionKey"u8, r.PartitionKey);
                writer.WriteString("reason"u8, r.Reason.ToString());
                writer.WriteString("detail"u8, r.Detail);
                writer.WriteString("data"u8, r.Data);
                writer.WriteEndObject();
                writer.Flush();
                writer.Reset();
                owner.QuarantineLines.Write("\n"u8);
                owner.QuarantineCount++;
            }

            return Task.FromResult(records.Count);
        }
    }
}
