namespace Analytics.Core;

/// <summary>Keeps poison records durably, with their payload.</summary>
public interface IQuarantineSink
{
    /// <summary>Writes poison records, in sequence order.</summary>
    /// <param name="records">The records; the list is only valid during the call.</param>
    /// <param name="cancellationToken">Cancelled when the invocation must stop (its deadline less the safety margin).</param>
    /// <returns>
    /// How many records, counted from the first, are durable. <c>records.Count</c> means all. A throw means none
    /// that were not already durable; the pipeline then reports the first of them as the checkpoint.
    /// </returns>
    /// <remarks>
    /// Writes must be idempotent: Lambda re-delivers a batch after a failure, so a record may arrive again. Do not block
    /// the calling thread (the deadline is watched once the task is returned), and never put a record's data or partition
    /// key in an exception's message: its type and message go into the invocation's log line
    /// (<see cref="BatchSummary.QuarantineSinkError"/>) as they are.
    /// </remarks>
    Task<int> WriteAsync(IReadOnlyList<QuarantinedRecord> records, CancellationToken cancellationToken);
}
