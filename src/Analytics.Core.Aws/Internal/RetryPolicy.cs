using System.Net.Sockets;
using Amazon.Runtime;

namespace Analytics.Core;

/// <summary>Which failures are worth another attempt, and how long to wait before it.</summary>
internal static class RetryPolicy
{
    /// <summary>
    /// Full-jitter exponential backoff: a uniformly random delay between zero and
    /// <c>min(maxDelay, baseDelay · 2^attempt)</c>, so writers that failed together do not retry together.
    /// </summary>
    public static TimeSpan FullJitter(int attempt, TimeSpan baseDelay, TimeSpan maxDelay)
    {
        double cap = Math.Min(maxDelay.TotalMilliseconds, baseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30)));
        return TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * cap);
    }

    /// <summary>Waits for the backoff delay; <see langword="false"/> when the token was cancelled first.</summary>
    public static async Task<bool> TryDelayAsync(int attempt, TimeSpan baseDelay, TimeSpan maxDelay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(FullJitter(attempt, baseDelay, maxDelay), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

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

    private static bool IsTransientService(AmazonServiceException e) =>
        (int)e.StatusCode >= 500 ||
        e.ErrorCode is "ProvisionedThroughputExceededException" or "ThrottlingException" or "Throttling"
            or "RequestLimitExceeded" or "RequestThrottled" or "RequestThrottledException" or "SlowDown"
            or "InternalServerError" or "InternalError" or "ServiceUnavailable" or "RequestTimeout"
            or "RequestTimeoutException" or "TransactionInProgressException";
}
