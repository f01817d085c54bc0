namespace Analytics.Core;

/// <summary>Options of a <see cref="DynamoDbAggregateSink"/>.</summary>
/// <remarks>
/// Set only what differs: <c>DynamoDbAggregateSinkOptions.Default with { TableName = "metrics" }</c>. Configure the
/// <c>IAmazonDynamoDB</c> client with few retries of its own (<c>MaxErrorRetry</c> 0 or 1) and a short
/// <c>Timeout</c>, so that this sink's loop, bounded by the invocation's deadline, owns the retry budget.
/// </remarks>
public readonly record struct DynamoDbAggregateSinkOptions
{
    /// <summary>Creates the default options.</summary>
    public DynamoDbAggregateSinkOptions()
    {
    }

    /// <summary>The default options (the table name still has to be set).</summary>
    public static DynamoDbAggregateSinkOptions Default => new();

    /// <summary>The table (layout: see <see cref="DynamoDbAggregateSink"/>). Required.</summary>
    public string TableName { get; init; } = string.Empty;

    /// <summary>
    /// Retries of throttling, server errors and timeouts, and the clock of their waits: a pair's read-merge-put is
    /// tried at most <see cref="AwsRetryOptions.MaxAttempts"/> times (version conflicts count too). Default
    /// <see cref="AwsRetryOptions.Default"/> (8 attempts, 25 ms base delay, 2 s cap).
    /// </summary>
    public AwsRetryOptions Retry { get; init; } = AwsRetryOptions.Default;

    /// <summary>Most requests in flight at once. Default 8.</summary>
    public int MaxConcurrency { get; init; } = 8;
}
