namespace Analytics.Core;

/// <summary>Stores the aggregates of a batch.</summary>
public interface IAggregateSink
{
    /// <summary>Writes the aggregates of a batch and marks each durable one with <see cref="AggregateBatch.MarkDurable(int)"/>.</summary>
    /// <param name="batch">The batch's (series, window) aggregates; valid only during the call.</param>
    /// <param name="cancellationToken">Cancelled when the invocation must stop (its deadline less the safety margin).</param>
    /// <returns>A task that completes when the sink is done; a throw leaves unmarked pairs not durable.</returns>
    /// <remarks>
    /// The pipeline reports as checkpoint the first record that contributed to a pair left unmarked, so Lambda
    /// re-delivers it. A sink that must not double-count on re-delivery keeps a watermark per (shard, partition key)
    /// and applies only <see cref="AggregateBatch.TryGetAggregateAfter(int, IReadOnlyList{string}, MetricAggregate)"/>
    /// (per shard is enough only with ParallelizationFactor 1).
    /// <para>Finish every write before the returned task completes or faults: await them all, also when one fails. The
    /// pipeline reuses the batch for its next invocation; it gives up a batch whose call threw or left pairs unmarked,
    /// so a write left running there marks nothing of the next one, but a mark made after a call that marked every pair
    /// and returned lands on the next invocation's pair of that index, whose records are then reported done.</para>
    /// <para>Do not block the calling thread (a synchronous SDK call, <c>.Result</c>): the deadline is watched only once
    /// the task is returned. An exception's type and message go into the invocation's log line
    /// (<see cref="BatchSummary.AggregateSinkError"/>) as they are: never put record data, a partition key or a
    /// dimension value in the message.</para>
    /// </remarks>
    Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken);
}
