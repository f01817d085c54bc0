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

        // Counted before any wait: a quarantine sink that outlives its time gets the list, and the field a new one.
        int poisonCount = _quarantine.Count;
        string? stateFirst, stateLast;
        try
        {
            (stateFirst, stateLast) = window.Restore(envelope.State);
        }
        catch (WindowStateFormatException)
        {
            // Refused, but not before the quarantine sink is done with the poison list the next invocation reuses.
            await quarantine.ConfigureAwait(false);
            throw;
        }

        if (window.Previous is not null && stateFirst is not null && summary.FirstSequenceNumber is { } early && SequenceNumber.Compare(early, stateFirst) < 0)
        {
            // As for a state of this version (below), before the old state is flushed: its records after the batch's
            // first would be taken for the records before the state's range, which no aggregate holds (lost).
            await quarantine.ConfigureAwait(false);
            ThrowHelper.ThrowState("The window state's sequence range starts after the batch's first record: it is not the state of the records before this batch.");
        }

        int previousWritten = 0;
        if (window.Previous is { PairCount: > 0 } previous)
        {
            (summary.WindowFirstSequenceNumber, summary.WindowLastSequenceNumber) = (stateFirst, stateLast);
            previousWritten = await FlushPreviousAsync(previous, stateFirst!, stateLast!, summary, quarantine, deadline, cancellationToken).ConfigureAwait(false);
        }

        string? previousLast = null;
        if (window.Previous is not null)
        {
            // The window goes on from this batch alone, under the options of this version.
            previousLast = stateLast;
            (stateFirst, stateLast) = (null, null);
        }

        MetricAggregator batchAggregates = _batch.Aggregator;
        string? firstAfterPrevious = null;
        if (previousLast is not null && summary.FirstSequenceNumber is { } redelivered && SequenceNumber.Compare(redelivered, previousLast) <= 0)
        {
            // The old state just flushed holds the batch's records up to its last: only the rest goes on, under a range
            // that starts after the old one (a range reaching into it would straddle the flushed watermark).
            batchAggregates = BatchAfterState(previousLast);
            firstAfterPrevious = SequenceNumber.Successor(previousLast);
        }
        else if (stateLast is not null && summary.FirstSequenceNumber is { } batchFirst && SequenceNumber.Compare(batchFirst, stateLast) <= 0)
        {
            if (SequenceNumber.Compare(batchFirst, stateFirst!) < 0)
            {
                await quarantine.ConfigureAwait(false);
                ThrowHelper.ThrowState("The window state's sequence range starts after the batch's first record: it is not the state of the records before this batch.");
            }

            batchAggregates = BatchAfterState(stateLast);
        }

        aggregator.Merge(batchAggregates);
        string? first = stateFirst ?? firstAfterPrevious ?? summary.FirstSequenceNumber;
        string? last = stateLast is null || (summary.LastSequenceNumber is { } batchLast && SequenceNumber.Compare(batchLast, stateLast) > 0)
            ? summary.LastSequenceNumber
            : stateLast;
        if (aggregator.PairCount > 0)
        {
            window.Encode(first!, last!);
            (summary.WindowFirstSequenceNumber, summary.WindowLastSequenceNumber) = (first, last);
        }

        // A batch the time budget cut short is never flushed: the flush would claim the batch's whole range (its
        // last record raises the shard's watermark) while the records after the stop are in no aggregate, and the
        // retry Lambda makes with the previous state would then be taken as applied, its tail lost.
        bool flush = aggregator.PairCount > 0 && summary.StopReason == BatchStopReason.None &&
            (envelope.IsFinalInvokeForWindow || envelope.IsWindowTerminatedEarly || window.EncodedBase64Length + window.ForeignBytes + window.FixedBytes > _options.MaxStateBytes);
        // The poison records are durable before the flush starts, not beside it: a flush that landed in an invocation
        // that then failed is repeated by a retry that may gather other records (a bisected half), and a flush whose
        // range then straddles the landed one's watermark is refused on every retry (the shard is blocked).
        int durable = await quarantine.ConfigureAwait(false);
        summary.Quarantined = durable;
        if (durable < poisonCount)
        {
            ThrowHelper.ThrowBatchFailed($"The quarantine sink made {durable} of {poisonCount} poison records durable ({Describe(summary.QuarantineSinkOutcome, summary.QuarantineSinkError)}); the window state cannot express a partial batch.", summary);
        }

        if (summary.StopReason != BatchStopReason.None)
        {
            ThrowHelper.ThrowBatchFailed("The deadline came before every record was processed; the window state cannot express a partial batch.", summary);
        }

        summary.AggregatesWritten = previousWritten;
        AggregateBatch flushBatch = _flushBatch;
        if (flush)
        {
            flushBatch.UseWindow(aggregator, summary.ShardId, summary.EventSourceArn, Encoding.ASCII.GetBytes(first!), Encoding.ASCII.GetBytes(last!));
            long flushStart = _time.GetTimestamp();
            await TimedAsync(WriteAggregatesAsync(flushBatch, summary, deadline, cancellationToken), flushStart, d => summary.AggregateSinkDuration = d).ConfigureAwait(false);
            int written = flushBatch.DurableCount;
            summary.AggregatesWritten += written;
            EndSinkIssue(summary, written < flushBatch.Count ? ", the window invocation fails whole and Lambda retries it with the previous state." : ".");
            if (written < flushBatch.Count)
            {
                ThrowHelper.ThrowBatchFailed($"The aggregate sink made {written} of {flushBatch.Count} window aggregates durable ({Describe(summary.AggregateSinkOutcome, summary.AggregateSinkError)}); Lambda retries the batch with the previous state.", summary);
            }
        }

        summary.Flushed = flush;
        byte[] incoming = envelope.State;
        ReadOnlyMemory<byte> ours = flush ? ReadOnlyMemory<byte>.Empty : window.Encoded;
        _response.WriteWindowResponse(response, writer => window.WriteEntries(incoming, ours, writer));
    }

    /// <summary>
    /// The part of this batch's aggregates from records above the state's range, when the batch starts inside it: the
    /// state already holds the records up to its last (a re-delivery of them would be counted twice).
    /// </summary>
    private MetricAggregator BatchAfterState(string stateLast)
    {
        AggregateBatch batch = _batch;
        var after = new MetricAggregator(_options.Aggregator with { MaxPairs = AggregatorOptions.MaxPairsLimit });
        var part = new MetricAggregate(_options.Aggregator);
        byte[] watermark = Encoding.ASCII.GetBytes(stateLast);
        for (int pair = 0; pair < batch.Count; pair++)
        {
            if (batch.TryGetAggregateAfter(pair, watermark, part) && after.TryAdd(batch.GetSeriesKey(pair), batch.GetWindowStartMs(pair), 0))
            {
                // The pair is new (a batch's pairs are distinct), so it is the last one; its placeholder sample goes.
                MetricAggregate target = after.GetAggregate(after.PairCount - 1);
                target.Clear();
                target.Merge(part);
            }
        }

        return after;
    }

    /// <summary>
    /// Flushes a window state written under other aggregator options (a redeployment changed them while the window was
    /// open) under those options and with its own sequence range, before anything of this batch: its records all lie
    /// below this batch's, so a retry finds them applied. Throws when not all of it is durable.
    /// </summary>
    /// <returns>How many aggregates were written.</returns>
    private async Task<int> FlushPreviousAsync(MetricAggregator previous, string first, string last, BatchSummary summary, Task<int> quarantine, CancellationToken deadline, CancellationToken cancellationToken)
    {
        var batch = new AggregateBatch(previous.Options);
        batch.UseWindow(previous, summary.ShardId, summary.EventSourceArn, Encoding.ASCII.GetBytes(first), Encoding.ASCII.GetBytes(last));
        long start = _time.GetTimestamp();
        await TimedAsync(WriteAggregatesAsync(batch, summary, deadline, cancellationToken), start, d => summary.AggregateSinkDuration = d).ConfigureAwait(false);
        if (batch.DurableCount < batch.Count)
        {
            // The quarantine is not left running unobserved behind the failure.
            await quarantine.ConfigureAwait(false);
            ThrowHelper.ThrowBatchFailed($"The aggregate sink made {batch.DurableCount} of {batch.Count} aggregates of the window state written under other aggregator options durable ({Describe(summary.AggregateSinkOutcome, summary.AggregateSinkError)}); Lambda retries the batch with the previous state.", summary);
        }

        return batch.DurableCount;
    }

    private static string Describe(SinkOutcome outcome, string? error) => error is null ? outcome.ToString() : $"{outcome}: {error}";
}
