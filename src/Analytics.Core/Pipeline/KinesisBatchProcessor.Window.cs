using System.Buffers;
using System.Text;

namespace Analytics.Core;

public sealed partial class KinesisBatchProcessor
{
    /// <summary>
    /// Tumbling-window invocation: merges this batch into the window's state, flushes it when the window ends (or the
    /// state would grow too large), and answers with the new state.
    /// </summary>
    private async Task ProcessWindowAsync(WindowEnvelope envelope, BatchSummary summary, IBufferWriter<byte> response, Task<int> quarantine, CancellationToken deadline, CancellationToken cancellationToken)
    {
        WindowState window = _window;
        MetricAggregator aggregator = window.Aggregator;
        (string? stateFirst, string? stateLast) = window.Restore(envelope.State);
        aggregator.Merge(_batch.Aggregator);
        string? first = stateFirst ?? summary.FirstSequenceNumber;
        string? last = summary.LastSequenceNumber ?? stateLast;
        if (aggregator.PairCount > 0)
        {
            window.Encode(first!, last!);
        }

        // A batch the time budget cut short is never flushed: the flush would claim the batch's whole range (its
        // last record raises the shard's watermark) while the records after the stop are in no aggregate, and the
        // retry Lambda makes with the previous state would then be taken as applied, its tail lost.
        bool flush = aggregator.PairCount > 0 && summary.StopReason == BatchStopReason.None &&
            (envelope.IsFinalInvokeForWindow || envelope.IsWindowTerminatedEarly || window.EncodedBase64Length > _options.MaxStateBytes);
        Task aggregates = Task.CompletedTask;
        AggregateBatch flushBatch = _flushBatch;
        if (flush)
        {
            flushBatch.UseWindow(aggregator, summary.ShardId, summary.EventSourceArn, Encoding.ASCII.GetBytes(first!), Encoding.ASCII.GetBytes(last!));
            long flushStart = _time.GetTimestamp();
            aggregates = TimedAsync(WriteAggregatesAsync(flushBatch, summary, deadline, cancellationToken), flushStart, d => summary.AggregateSinkDuration = d);
        }

        int poisonCount = _quarantine.Count;
        int durable = await quarantine.ConfigureAwait(false);
        await aggregates.ConfigureAwait(false);
        summary.Quarantined = durable;
        if (durable < poisonCount)
        {
            ThrowHelper.ThrowBatchFailed($"The quarantine sink made {durable} of {poisonCount} poison records durable ({Describe(summary.QuarantineSinkOutcome, summary.QuarantineSinkError)}); the window state cannot express a partial batch.");
        }

        if (summary.StopReason != BatchStopReason.None)
        {
            ThrowHelper.ThrowBatchFailed("The deadline came before every record was processed; the window state cannot express a partial batch.");
        }

        if (flush)
        {
            int written = flushBatch.DurableCount;
            summary.AggregatesWritten = written;
            if (written < flushBatch.Count)
            {
                ThrowHelper.ThrowBatchFailed($"The aggregate sink made {written} of {flushBatch.Count} window aggregates durable ({Describe(summary.AggregateSinkOutcome, summary.AggregateSinkError)}); Lambda retries the batch with the previous state.");
            }
        }

        summary.Flushed = flush;
        byte[] incoming = envelope.State;
        ReadOnlyMemory<byte> ours = flush ? ReadOnlyMemory<byte>.Empty : window.Encoded;
        _response.WriteWindowResponse(response, writer => window.WriteEntries(incoming, ours, writer));
    }

    private static string Describe(SinkOutcome outcome, string? error) => error is null ? outcome.ToString() : $"{outcome}: {error}";
}
