namespace Analytics.Core;

/// <summary>
/// A tumbling-window invocation could not make its effects durable. The function should let it fail the
/// invocation: Lambda then retries the batch with the previous state, which a partial response could not express.
/// </summary>
public sealed class BatchFailedException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed.</param>
    public BatchFailedException(string message)
        : base(message)
    {
    }

    internal BatchFailedException(string message, BatchSummary summary)
        : base(message)
    {
        Summary = summary;
    }

    /// <summary>
    /// What the invocation did before it failed, for its log line and metrics (<see cref="JsonLog.WriteInvocation"/>,
    /// <see cref="EmfMetrics.Write"/>): its <see cref="BatchSummary.ReportedFailure"/> is the batch's first record,
    /// from which Lambda retries it. Null when created by other code.
    /// </summary>
    public BatchSummary? Summary { get; }
}
