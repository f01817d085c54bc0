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

    /// <summary>The table (layout: see <see cref="DynamoDbAggregateSink"/>): its name or ARN. Required.</summary>
    public string TableName { get; init; } = string.Empty;

    /// <summary>
    /// Retries of throttling, server errors and timeouts, and the clock of their waits: each chunk's
    /// <c>BatchGetItem</c> (100 pairs) is tried at most <see cref="AwsRetryOptions.MaxAttempts"/> times, then each pair's
    /// read-merge-put at most <see cref="AwsRetryOptions.MaxAttempts"/> times (version conflicts count too). Default
    /// <see cref="AwsRetryOptions.Default"/> (8 attempts, 25 ms base delay, 2 s cap).
    /// </summary>
    public AwsRetryOptions Retry { get; init; } = AwsRetryOptions.Default;

    /// <summary>Most requests in flight at once (a chunk's read counts as one). Default 8.</summary>
    public int MaxConcurrency { get; init; } = 8;

    /// <summary>
    /// Most partition keys whose watermarks one item holds (over all shards), 1 to 10,000. Default 1,000. An item
    /// keeps the highest applied sequence number per (shard, partition key) of the records that reached it; a write
    /// that would pass this bound, or DynamoDB's 400 KB item size less a 50 KB margin, is not made: the pair stays
    /// unmarked (re-delivered from its first record) and <see cref="DynamoDbAggregateSink.WriteAsync"/> throws once
    /// the other pairs are done. Sizes and costs per bound are in docs/dynamodb.md.
    /// </summary>
    public int MaxPartitionKeysPerItem { get; init; } = 1_000;

    /// <summary>
    /// One watermark per shard instead of per (shard, partition key): items stay small whatever the number of keys
    /// (random keys per record included), but the guarantee then holds only with the mapping's ParallelizationFactor
    /// 1; above 1, records of concurrent batches are lost. Default <see langword="false"/>.
    /// </summary>
    public bool PerShardWatermarkOnly { get; init; }
}
