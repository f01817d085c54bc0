namespace Analytics.Core;

/// <summary>Options of an <see cref="S3SpillSink"/>.</summary>
/// <remarks>Set only what differs: <c>S3SpillSinkOptions.Default with { BucketName = "spill" }</c>.</remarks>
public readonly record struct S3SpillSinkOptions
{
    /// <summary>Creates the default options.</summary>
    public S3SpillSinkOptions()
    {
    }

    /// <summary>The default options (the bucket name still has to be set).</summary>
    public static S3SpillSinkOptions Default => new();

    /// <summary>The bucket: its name alone (not an <c>s3://</c> URL, no key prefix) or an access point ARN. Required. It may be the quarantine bucket: the prefixes differ.</summary>
    public string BucketName { get; init; } = string.Empty;

    /// <summary>First segment of every object key; empty for none. Default <c>spill</c>.</summary>
    public string KeyPrefix { get; init; } = "spill";

    /// <summary>
    /// Retries of throttling, server errors and timeouts per request, and the clock of their waits. Default 4 attempts,
    /// 50 ms base delay, 2 s cap, as the quarantine sink.
    /// </summary>
    public AwsRetryOptions Retry { get; init; } = AwsRetryOptions.Default with { MaxAttempts = 4, BaseDelay = TimeSpan.FromMilliseconds(50) };
}
