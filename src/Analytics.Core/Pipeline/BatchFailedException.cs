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
}
