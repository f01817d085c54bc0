namespace Analytics.Core;

/// <summary>Options of an <see cref="S3QuarantineSink"/>.</summary>
/// <remarks>Set only what differs: <c>S3QuarantineSinkOptions.Default with { BucketName = "poison" }</c>.</remarks>
public readonly record struct S3QuarantineSinkOptions
{
    /// <summary>Creates the default options.</summary>
    public S3QuarantineSinkOptions()
    {
    }

    /// <summary>The default options (the bucket name still has to be set).</summary>
    public static S3QuarantineSinkOptions Default => new();

    /// <summary>The bucket: its name alone (not an <c>s3://</c> URL, no key prefix) or an access point ARN. Required.</summary>
    public string BucketName { get; init; } = string.Empty;

    /// <summary>First segment of every object key; empty for none. Default <c>quarantine</c>.</summary>
    public string KeyPrefix { get; init; } = "quarantine";

    /// <summary>
    /// Most uploads in flight at once. Default 64: each poison record is one object, so when every record is poison the
    /// shard moves only as fast as these uploads (with 8, the default before, one shard quarantined about 200 records/s).
    /// The uploads of one call together hold at most the event's bytes (6 MB), whatever this bound.
    /// </summary>
    public int MaxConcurrency { get; init; } = 64;

    /// <summary>
    /// Retries of throttling, server errors and timeouts per object, and the clock of their waits. Default 4
    /// attempts, 50 ms base delay, 2 s cap (<c>AwsRetryOptions.Default with { MaxAttempts = 4, BaseDelay = 50 ms }</c>).
    /// </summary>
    public AwsRetryOptions Retry { get; init; } = AwsRetryOptions.Default with { MaxAttempts = 4, BaseDelay = TimeSpan.FromMilliseconds(50) };
}
