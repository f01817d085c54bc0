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

    /// <summary>The bucket. Required.</summary>
    public string BucketName { get; init; } = string.Empty;

    /// <summary>First segment of every object key; empty for none. Default <c>quarantine</c>.</summary>
    public string KeyPrefix { get; init; } = "quarantine";

    /// <summary>Most uploads in flight at once. Default 8.</summary>
    public int MaxConcurrency { get; init; } = 8;

    /// <summary>Most attempts per object (throttling, server errors, timeouts). Default 4.</summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>Base of the full-jitter exponential backoff. Default 50 ms.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Cap of one backoff delay. Default 2 s.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(2);
}
