namespace Analytics.Core;

/// <summary>
/// Keeps, outside the aggregate store, the aggregates of a batch that the aggregate sink could not make durable, so
/// the pipeline can move the checkpoint on during a long outage (see <see cref="ProcessorOptions.SpillSink"/>).
/// </summary>
/// <remarks>
/// A spill is applied later, exactly once, by a redrive (the sample's <c>redrive</c> command for the S3 spill sink).
/// Writes must be idempotent: the same <see cref="SpillBatch.SpillId"/> of the same shard always names the same object.
/// </remarks>
public interface ISpillSink
{
    /// <summary>Writes the spilled pairs with their samples, durably.</summary>
    /// <param name="spill">What to keep; valid only during the call.</param>
    /// <param name="cancellationToken">Cancelled when the invocation must stop.</param>
    /// <returns>
    /// <see langword="true"/> only when the spill is durably stored: the pipeline then reports the batch as done.
    /// <see langword="false"/> or a throw: the pipeline reports the checkpoint as without a spill sink.
    /// </returns>
    Task<bool> WriteAsync(SpillBatch spill, CancellationToken cancellationToken);

    /// <summary>
    /// Removes the spill an earlier attempt may have stored under <paramref name="spillId"/> without learning that it
    /// had (its answer was lost, or came after the deadline), before the same records are applied again.
    /// </summary>
    /// <param name="shardId">The shard.</param>
    /// <param name="eventSourceArn">The stream ARN, when the event carried it.</param>
    /// <param name="spillId">The first sequence number of the batch now being processed.</param>
    /// <param name="cancellationToken">Cancelled when the invocation must stop.</param>
    /// <returns><see langword="true"/> when no spill of that id is stored any more (or none ever was).</returns>
    /// <remarks>
    /// A spill that was confirmed is never re-delivered: the checkpoint moved past its records. A batch that begins at
    /// a spill's id is therefore the retry of a spill that was not confirmed, and its records must not be in both the
    /// table and a spill.
    /// </remarks>
    Task<bool> RemoveUnconfirmedAsync(string shardId, string? eventSourceArn, string spillId, CancellationToken cancellationToken);
}
