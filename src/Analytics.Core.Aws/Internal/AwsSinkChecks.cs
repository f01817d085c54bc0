namespace Analytics.Core;

/// <summary>The constructor checks both AWS sinks make.</summary>
internal static class AwsSinkChecks
{
    /// <summary>Throws unless the client is set, the target is named, concurrency is positive and the retry options are valid.</summary>
    /// <param name="client">The AWS client.</param>
    /// <param name="target">The table or bucket name.</param>
    /// <param name="targetOption">The option that names it, for the message.</param>
    /// <param name="maxConcurrency">Most requests in flight.</param>
    /// <param name="retry">The retry options.</param>
    public static void Validate(object client, string? target, string targetOption, int maxConcurrency, in AwsRetryOptions retry)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (string.IsNullOrEmpty(target))
        {
            AwsThrowHelper.ThrowArgument("options", targetOption + " is required.");
        }

        if (maxConcurrency < 1)
        {
            AwsThrowHelper.ThrowArgumentOutOfRange("options", "MaxConcurrency must be at least 1.");
        }

        retry.Validate("options");
    }
}
