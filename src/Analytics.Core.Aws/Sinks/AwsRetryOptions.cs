namespace Analytics.Core;

/// <summary>
/// How the AWS sinks retry a request that failed transiently (throttling, server errors, timeouts, broken
/// connections), and the clock and randomness behind the waits.
/// </summary>
/// <remarks>
/// <para>The wait before attempt <c>n + 1</c> is full-jitter exponential backoff: uniformly random between zero and
/// <c>min(MaxDelay, BaseDelay · 2^n)</c>, so writers that failed together do not retry together. Every wait is bounded
/// by the sink's cancellation token (the invocation's deadline less its margin).</para>
/// <para>For runs in virtual time (tests, emulators) set <see cref="TimeProvider"/> to a controllable clock and
/// <see cref="JitterSeed"/> to a fixed value: every delay is then a pure function of the seed, the request (the item's
/// key, the object's key) and the attempt, whatever order concurrent requests run in.</para>
/// </remarks>
public readonly record struct AwsRetryOptions
{
    private readonly TimeProvider? _timeProvider;

    /// <summary>Creates the default options.</summary>
    public AwsRetryOptions()
    {
    }

    /// <summary>The default options: 8 attempts, 25 ms base delay, 2 s cap, the system clock, random jitter.</summary>
    public static AwsRetryOptions Default => new();

    /// <summary>
    /// Most attempts per request, the first included (for the DynamoDB sink: per pair's read-merge-put; version
    /// conflicts count too). At least 1. Default 8.
    /// </summary>
    public int MaxAttempts { get; init; } = 8;

    /// <summary>Base of the exponential backoff. Not negative. Default 25 ms.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(25);

    /// <summary>Cap of one backoff delay. Not negative. Default 2 s.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The clock every backoff wait and every timestamp of the sink goes through. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider
    {
        get => _timeProvider ?? TimeProvider.System;
        init => _timeProvider = value;
    }

    /// <summary>
    /// When set, the jitter is deterministic: a hash of this seed, the request and the attempt instead of
    /// <see cref="Random.Shared"/>. Default <see langword="null"/> (random). Leave it unset in production, where
    /// writers in different sandboxes must not retry in step.
    /// </summary>
    public int? JitterSeed { get; init; }

    /// <summary>The checks both sinks' constructors make.</summary>
    /// <param name="paramName">The constructor's options parameter.</param>
    internal void Validate(string paramName)
    {
        if (MaxAttempts < 1)
        {
            AwsThrowHelper.ThrowArgumentOutOfRange(paramName, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"Retry.MaxAttempts (AwsRetryOptions) must be at least 1; it is {MaxAttempts}."));
        }

        if (BaseDelay < TimeSpan.Zero || MaxDelay < TimeSpan.Zero)
        {
            AwsThrowHelper.ThrowArgumentOutOfRange(paramName, $"Retry.BaseDelay and Retry.MaxDelay (AwsRetryOptions) must not be negative; they are {BaseDelay} and {MaxDelay}.");
        }
    }
}
