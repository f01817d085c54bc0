using System.Net.Sockets;
using Amazon.Runtime;

namespace Analytics.Core;

/// <summary>Which failures are worth another attempt, and how long to wait before it.</summary>
internal static class RetryPolicy
{
    /// <summary>The longest due time a <see cref="TimeProvider.System"/> timer accepts, in milliseconds.</summary>
    private const double MaxTimerMilliseconds = uint.MaxValue - 1;

    /// <summary>
    /// Full-jitter exponential backoff: a delay between zero and <c>min(MaxDelay, BaseDelay · 2^attempt)</c>, uniformly
    /// random, or with <see cref="AwsRetryOptions.JitterSeed"/> set a fixed function of the seed, the request and the attempt.
    /// </summary>
    /// <param name="options">The retry options.</param>
    /// <param name="attempt">The attempt that failed, from 1.</param>
    /// <param name="requestKey">Names the request (an item key, an object key), so deterministic jitter does not
    /// depend on the order concurrent requests run in.</param>
    public static TimeSpan FullJitter(in AwsRetryOptions options, int attempt, string requestKey)
    {
        // Never past the longest timer (about 49.7 days): a MaxDelay of TimeSpan.MaxValue means "no cap", not a crash at the wait.
        double cap = Math.Min(Math.Min(options.MaxDelay.TotalMilliseconds, options.BaseDelay.TotalMilliseconds * Math.Pow(2, Math.Clamp(attempt, 0, 30))), MaxTimerMilliseconds);
        double unit = options.JitterSeed is int seed ? DeterministicUnit(seed, requestKey, attempt) : Random.Shared.NextDouble();
        return TimeSpan.FromMilliseconds(unit * cap);
    }

    /// <summary>
    /// Waits for the backoff delay on the options' clock; <see langword="false"/> when the token was cancelled first. The
    /// caller resumes on the thread that ended the wait (<see cref="ClockDelay"/>: never a thread-pool hop of its own).
    /// </summary>
    public static Task<bool> TryDelayAsync(AwsRetryOptions options, int attempt, string requestKey, CancellationToken cancellationToken) =>
        ClockDelay.WaitAsync(options.TimeProvider, FullJitter(options, attempt, requestKey), cancellationToken);

    /// <summary>
    /// Throttling, server errors, timeouts and broken connections: the request may or may not have been applied,
    /// and trying again is safe for conditional or idempotent writes.
    /// </summary>
    /// <param name="exception">The failure.</param>
    /// <param name="cancellationToken">The caller's token; a cancellation caused by it is not transient.</param>
    public static bool IsTransient(Exception exception, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return false;
        }

        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case AmazonServiceException service when IsTransientService(service):
                    return true;
                case OperationCanceledException:
                    // Not our token: the SDK's or HttpClient's own timeout.
                    return true;
                case HttpRequestException or IOException or SocketException or TimeoutException:
                    return true;
            }
        }

        return false;
    }

    /// <summary>A value in [0, 1) from FNV-1a over the key, mixed with seed and attempt by SplitMix64's finalizer.</summary>
    internal static double DeterministicUnit(int seed, string requestKey, int attempt)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in requestKey)
        {
            h = (h ^ c) * 1099511628211UL;
        }

        h ^= ((ulong)(uint)seed << 32) | (uint)attempt;
        h += 0x9E3779B97F4A7C15UL;
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
        h ^= h >> 31;
        return (h >> 11) * (1.0 / (1UL << 53));
    }

    private static bool IsTransientService(AmazonServiceException e) =>
        (int)e.StatusCode >= 500 ||
        e.ErrorCode is "ProvisionedThroughputExceededException" or "ThrottlingException" or "Throttling"
            or "RequestLimitExceeded" or "RequestThrottled" or "RequestThrottledException" or "SlowDown"
            or "InternalServerError" or "InternalError" or "ServiceUnavailable" or "RequestTimeout"
            or "RequestTimeoutException" or "TransactionInProgressException";
}
