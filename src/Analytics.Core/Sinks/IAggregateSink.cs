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
    /// </remarks>
    Task WriteAsync(AggregateBatch batch, CancellationToken cancellationToken);
}
